package bench

import (
	"fmt"
	"testing"

	"github.com/dagflow/dagflow/scheduler"
)

// TestSchedScaleSmall checks the benchmark's driver and what it counts at a
// small size: the job finishes, and the failover restarts exactly the tasks
// the failover rule says (pipelined: the one region, all 2N tasks; blocking:
// producer 0 and the N consumers that had started).
func TestSchedScaleSmall(t *testing.T) {
	for _, tc := range []struct {
		mode          scheduler.ExchangeMode
		n, slots      int
		wantRestarted int
	}{
		{scheduler.Pipelined, 30, 7, 60},
		{scheduler.Blocking, 30, 7, 31},
		{scheduler.Pipelined, 1, 1, 2},
		{scheduler.Blocking, 1, 1, 2},
	} {
		r, err := SchedScale(SchedScaleConfig{N: tc.n, Mode: tc.mode, SlotsPerWorker: tc.slots})
		if err != nil {
			t.Fatalf("%s N=%d: %v", tc.mode, tc.n, err)
		}
		if r.Restarted != tc.wantRestarted {
			t.Errorf("%s N=%d: failover redeployed %d tasks, want %d", tc.mode, tc.n, r.Restarted, tc.wantRestarted)
		}
	}
	if _, err := SchedScale(SchedScaleConfig{N: 0}); err == nil {
		t.Errorf("N=0 accepted")
	}
}

// BenchmarkSchedScale runs the deploy and finish phases of the N×N
// all-to-all job once per iteration; bench/cmd/schedbench prints the whole
// curve with heap figures and the failover.
func BenchmarkSchedScale(b *testing.B) {
	for _, mode := range []scheduler.ExchangeMode{scheduler.Blocking, scheduler.Pipelined} {
		for _, n := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("%s/N=%d", mode, n), func(b *testing.B) {
				for b.Loop() {
					d, _, err := newSchedDriver(SchedScaleConfig{N: n, Mode: mode}.withDefaults(), func(scheduler.TaskID) bool { return true })
					if err != nil {
						b.Fatal(err)
					}
					if err := d.run(d.s.Start(d.now)); err != nil {
						b.Fatal(err)
					}
					if _, ok := d.ended.(scheduler.JobFinished); !ok {
						b.Fatalf("job did not finish: %v", d.ended)
					}
				}
			})
		}
	}
}

// TestJobMasterScaleSmall checks the job master benchmark at a small size:
// every task is deployed once and every consumer gets one channel per
// producer.
func TestJobMasterScaleSmall(t *testing.T) {
	for _, batch := range []bool{true, false} {
		r, err := JobMasterScale(t.Context(), 12, batch, 5)
		if err != nil {
			t.Fatalf("batch=%v: %v", batch, err)
		}
		if r.Deployments != 24 || r.Channels != 12*12 {
			t.Errorf("batch=%v: %d deployments with %d channels, want 24 with 144", batch, r.Deployments, r.Channels)
		}
	}
}
