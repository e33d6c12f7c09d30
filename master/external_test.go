package master_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/protocol"
	"github.com/dagflow/dagflow/internal/testkit"
	"github.com/dagflow/dagflow/master"
	"github.com/dagflow/dagflow/scheduler"
)

// scriptedWorker is a WorkerGateway that runs nothing: it records
// deployments and hands them to the test, which reports their outcome.
type scriptedWorker struct {
	name    string
	deps    chan<- protocol.TaskDeployment
	cancels chan<- protocol.TaskID
}

func (w *scriptedWorker) Name() string { return w.name }
func (w *scriptedWorker) Slots() int   { return 4 }
func (w *scriptedWorker) Prepare(context.Context, string) (string, error) {
	return "executor-" + w.name, nil
}
func (w *scriptedWorker) Deploy(_ context.Context, dep protocol.TaskDeployment) error {
	w.deps <- dep
	return nil
}
func (w *scriptedWorker) Cancel(_ string, id protocol.TaskID, _ int) { w.cancels <- id }
func (w *scriptedWorker) Metrics(string) []protocol.VertexMetrics    { return nil }

// TestExternalResultsLocationsAndServiceLoss checks the job master's side
// of external shuffle: consumers read producers' results from the location
// the producers reported, and a lost shuffle service reruns every producer
// whose result it held, in one failover. (That a lost worker does not rerun
// producers with external results is the scheduler's rule, tested there and
// end to end in cmd/dagctl.)
func TestExternalResultsLocationsAndServiceLoss(t *testing.T) {
	g := dag.New("ext", dag.Config{Parallelism: 2, Mode: dag.BatchMode})
	src := dag.FromSource(g, "src", &testkit.SliceSource[string]{Items: words(100, 1)}, nil)
	counts := dag.Aggregate(dag.KeyBy(src, func(w string) string { return w }), countAgg(), dag.Name("count"))
	dag.ToSink(counts, "sink", testkit.NewCollector[dag.KV[string, int64]]())
	plan, err := g.Build()
	if err != nil {
		t.Fatal(err)
	}
	deps := make(chan protocol.TaskDeployment, 64)
	cancels := make(chan protocol.TaskID, 64)
	var ws []master.WorkerGateway
	for _, n := range []string{"w1", "w2"} {
		ws = append(ws, &scriptedWorker{name: n, deps: deps, cancels: cancels})
	}
	restart := scheduler.FixedDelay(5, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	jm, err := master.NewJobMaster(ctx, plan, master.PlanCode{Plan: plan}, ws,
		master.JobConfig{ID: "job", Restart: &restart, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var runErr error
	var res *master.JobResult
	wg.Add(1)
	go func() {
		defer wg.Done()
		res, runErr = jm.Run(ctx)
	}()
	const daemon = "10.0.0.9:7072"
	next := func() protocol.TaskDeployment {
		t.Helper()
		select {
		case d := <-deps:
			return d
		case <-ctx.Done():
			t.Fatal("no deployment")
		}
		return protocol.TaskDeployment{}
	}
	finishProducer := func(d protocol.TaskDeployment) {
		locs := map[int]string{}
		for _, o := range d.Outputs {
			locs[o.Edge] = daemon
		}
		jm.Report(protocol.TaskStatus{Job: d.Job, ID: d.ID, Attempt: d.Attempt, External: true, Locations: locs})
	}
	// Producers (task 0) run first; consumers (task 1) once they finished.
	for i := 0; i < 2; i++ {
		d := next()
		if d.ID.Vertex != 0 || d.Attempt != 0 {
			t.Fatalf("first deployments should be producers: %+v", d)
		}
		finishProducer(d)
	}
	consumers := []protocol.TaskDeployment{next(), next()}
	for _, d := range consumers {
		for _, g := range d.Inputs {
			for _, ch := range g.Channels {
				if ch.Location != daemon || ch.Partition.Attempt != 0 {
					t.Fatalf("consumer %v reads %+v, want the daemon's location", d.ID, ch)
				}
			}
		}
	}
	// The shuffle service dies: both producers rerun, consumers restart.
	jm.ShuffleServiceLost(daemon)
	for range consumers {
		select {
		case <-cancels:
		case <-ctx.Done():
			t.Fatal("consumers not canceled")
		}
	}
	for _, d := range consumers {
		jm.Report(protocol.TaskStatus{Job: d.Job, ID: d.ID, Attempt: d.Attempt, Err: context.Canceled})
	}
	seen := 0
	for seen < 2 {
		d := next()
		if d.ID.Vertex != 0 || d.Attempt != 1 {
			t.Fatalf("after the service loss, want producer attempt 1, got %+v", d)
		}
		finishProducer(d)
		seen++
	}
	for i := 0; i < 2; i++ {
		d := next()
		if d.ID.Vertex != 1 {
			t.Fatalf("want a consumer, got %+v", d)
		}
		for _, g := range d.Inputs {
			for _, ch := range g.Channels {
				if ch.Location != daemon || ch.Partition.Attempt != 1 {
					t.Fatalf("rerun consumer reads %+v", ch)
				}
			}
		}
		jm.Report(protocol.TaskStatus{Job: d.Job, ID: d.ID, Attempt: d.Attempt})
	}
	wg.Wait()
	if runErr != nil {
		t.Fatal(runErr)
	}
	if len(res.Failovers) != 1 {
		t.Fatalf("failovers %v, want exactly one for the service loss", res.Failovers)
	}
}
