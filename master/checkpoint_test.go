package master_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/testkit"
	"github.com/dagflow/dagflow/master"
	"github.com/dagflow/dagflow/scheduler"
)

type ev struct {
	Key string
	TS  int64
	V   int64
}

var evCoder = dag.JSONCoder[ev]()

type winSum = dag.WindowResult[string, int64]

// windowedJob builds source → map (failure injection) → keyed tumbling
// window sum → two-phase sink.
func windowedJob(name string, par int, src dag.Source[ev], failAt int64, fails *atomic.Int32, maxFails int32, sink dag.Sink[winSum], ck dag.CheckpointConfig) *dag.Graph {
	g := dag.New(name, dag.Config{Parallelism: par, Mode: dag.StreamingMode, BatchSize: 64, Checkpoint: ck})
	s := dag.FromSource(g, "events", src, &dag.WatermarkStrategy[ev]{Timestamp: func(e ev) int64 { return e.TS }}, dag.WithCoder(evCoder))
	var seen atomic.Int64
	m := dag.Map(s, func(e ev) ev {
		if seen.Add(1) == failAt && fails.Load() < maxFails {
			fails.Add(1)
			seen.Store(0)
			panic(fmt.Sprintf("injected failure in map after %d records", failAt))
		}
		return e
	}, dag.Name("inject"), dag.WithCoder(evCoder))
	w := dag.Window(dag.KeyBy(m, func(e ev) string { return e.Key }), dag.Tumbling(100*time.Millisecond))
	sums := dag.WindowAggregate(w, dag.Agg[ev, int64, int64]{
		Zero: func() int64 { return 0 }, Add: func(a int64, e ev) int64 { return a + e.V },
		Merge: func(a, b int64) int64 { return a + b }, Result: func(a int64) int64 { return a },
	}, dag.Name("sum"))
	dag.ToSink(sums, "out", sink)
	return g
}

func events(n int) []ev {
	out := make([]ev, n)
	for i := range out {
		out[i] = ev{Key: fmt.Sprintf("k%d", i%7), TS: int64(i), V: int64(i%13 + 1)}
	}
	return out
}

func expectedSums(evs []ev) map[string]int {
	sums := map[[2]any]int64{}
	for _, e := range evs {
		sums[[2]any{e.Key, e.TS / 100 * 100}] += e.V
	}
	out := map[string]int{}
	for k, v := range sums {
		out[fmt.Sprintf("%s@%d=%d", k[0], k[1], v)]++
	}
	return out
}

func countSums(rs []winSum) map[string]int {
	out := map[string]int{}
	for _, r := range rs {
		out[fmt.Sprintf("%s@%d=%d", r.Key, r.Start, r.Value)]++
	}
	return out
}

func diffCounts(t *testing.T, got, want map[string]int) {
	t.Helper()
	bad := 0
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got[k] != want[k] && bad < 200 {
			t.Errorf("%s: committed %d times, want %d", k, got[k], want[k])
			bad++
		}
	}
	for k, n := range got {
		if want[k] == 0 && bad < 10 {
			t.Errorf("%s: committed %d times, want none", k, n)
			bad++
		}
	}
}

// TestCheckpointExactlyOnceWithFailures runs a keyed windowed job with
// checkpoints while tasks fail in the source and in a downstream operator:
// every failure restores from the latest checkpoint, and the committed
// output equals the expected result exactly.
func TestCheckpointExactlyOnceWithFailures(t *testing.T) {
	for _, dir := range []string{"memory", "files"} {
		t.Run(dir, func(t *testing.T) {
			evs := events(6000)
			var srcFails, mapFails atomic.Int32
			src := &testkit.SliceSource[ev]{Items: evs, SplitSize: 1500, Delay: 2 * time.Millisecond, FailAt: 2500, Fails: &srcFails, MaxFails: 2}
			sink := testkit.NewCollector[winSum]()
			ck := dag.CheckpointConfig{Interval: 40 * time.Millisecond}
			if dir == "files" {
				ck.Dir = "file://" + t.TempDir()
			}
			g := windowedJob("exactly-once", 2, src, 1700, &mapFails, 2, sink, ck)
			c := newCluster(t, 2)
			restart := scheduler.FixedDelay(10, 20*time.Millisecond)
			res, err := run(t, c, g, master.JobConfig{Restart: &restart})
			if err != nil {
				t.Fatal(err)
			}
			completed := 0
			for _, cs := range res.Checkpoints {
				if cs.Status == "completed" {
					completed++
				}
			}
			if completed < 2 {
				t.Errorf("%d checkpoints completed, want several: %+v", completed, res.Checkpoints)
			}
			if res.Restarts < 3 {
				t.Errorf("%d restarts, want at least 3 (2 source and 2 map failures)", res.Restarts)
			}
			diffCounts(t, countSums(sink.Committed()), expectedSums(evs))
		})
	}
}

// TestSavepointRestoreWithOtherParallelism stops an unbounded job with a
// drain savepoint midway, restores it at another parallelism, and gets the
// same result as one uninterrupted run.
func TestSavepointRestoreWithOtherParallelism(t *testing.T) {
	evs := events(4000)
	// Run 1: a slow unbounded stream at parallelism 2; a savepoint once
	// about half of it was read, then cancel.
	sink1 := testkit.NewCollector[winSum]()
	src1 := &testkit.SliceSource[ev]{Items: evs, SplitSize: 500, Hold: true, Delay: time.Millisecond}
	var none atomic.Int32
	g1 := windowedJob("sp", 2, src1, 0, &none, 0, sink1, dag.CheckpointConfig{Interval: 50 * time.Millisecond})
	c := newCluster(t, 2)
	plan1, err := g1.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	jm, done := startJob(t, ctx, c, plan1)
	waitFor(t, func() bool {
		for _, v := range jm.Status().Vertices {
			if v.Name == "events" && v.RecordsOut >= int64(len(evs)/2) {
				return true
			}
		}
		return false
	})
	loc, err := jm.Savepoint(ctx, "file://"+t.TempDir(), dag.KindSavepoint)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	md, err := master.LoadSnapshot(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(sink1.Committed()); n == 0 || n >= len(expectedSums(evs)) {
		t.Fatalf("run 1 committed %d windows, want some but not all", n)
	}
	// Run 2: restored at parallelism 3, bounded: the sources resume where
	// the savepoint left them and end with the input.
	sink2 := testkit.NewCollector[winSum]()
	src2 := &testkit.SliceSource[ev]{Items: evs, SplitSize: 500}
	g2 := windowedJob("sp", 3, src2, 0, &none, 0, sink2, dag.CheckpointConfig{Interval: 50 * time.Millisecond})
	if _, err := run(t, c, g2, master.JobConfig{Restore: md}); err != nil {
		t.Fatal(err)
	}
	all := append(sink1.Committed(), sink2.Committed()...)
	diffCounts(t, countSums(all), expectedSums(evs))
}

// startJob runs a job in the background on the local cluster.
func startJob(t *testing.T, ctx context.Context, c *master.LocalCluster, plan *dag.Plan) (*master.JobMaster, <-chan struct{}) {
	t.Helper()
	jmc := make(chan *master.JobMaster, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, plan, master.JobConfig{Started: func(jm *master.JobMaster) { jmc <- jm }})
	}()
	select {
	case jm := <-jmc:
		return jm, done
	case <-done:
		t.Fatal("job ended before it started")
	}
	return nil, nil
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
