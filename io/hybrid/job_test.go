package hybrid_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/internal/embedded"
	"github.com/dagflow/dagflow/internal/testkit"
	"github.com/dagflow/dagflow/io/fileio"
	"github.com/dagflow/dagflow/io/hybrid"
	"github.com/dagflow/dagflow/io/kafka"
	"github.com/dagflow/dagflow/master"
	"github.com/dagflow/dagflow/scheduler"
)

type winSum = dag.WindowResult[string, int64]

var evCoder = dag.JSONCoder[ev]()

// windowJob builds hybrid source → throttle and failure injection →
// keyed 1 s tumbling window sums → collector. The map panics once on the
// event whose time is in failAt.
func windowJob(src dag.Source[ev], failAt []int64, fails *atomic.Int32, sink dag.Sink[winSum], ck dag.CheckpointConfig) *dag.Graph {
	g := dag.New("hybrid-window", dag.Config{Parallelism: 2, Mode: dag.StreamingMode, BatchSize: 32, Checkpoint: ck})
	s := dag.FromSource(g, "events", src, &dag.WatermarkStrategy[ev]{Timestamp: evTime}, dag.WithCoder(evCoder))
	failed := make([]atomic.Bool, len(failAt))
	var n atomic.Int64
	m := dag.Map(s, func(e ev) ev {
		if n.Add(1)%32 == 0 {
			time.Sleep(time.Millisecond) // keep each phase running for several checkpoints
		}
		if i := slices.Index(failAt, e.TS); i >= 0 && failed[i].CompareAndSwap(false, true) {
			fails.Add(1)
			panic(fmt.Sprintf("injected failure at event time %d", e.TS))
		}
		return e
	}, dag.Name("inject"), dag.WithCoder(evCoder))
	w := dag.Window(dag.KeyBy(m, func(e ev) string { return e.Key }), dag.Tumbling(time.Second))
	sums := dag.WindowAggregate(w, dag.Agg[ev, int64, int64]{
		Zero: func() int64 { return 0 }, Add: func(a int64, e ev) int64 { return a + e.V },
		Merge: func(a, b int64) int64 { return a + b }, Result: func(a int64) int64 { return a },
	}, dag.Name("sum"))
	dag.ToSink(sums, "out", sink)
	return g
}

// windowSums is the expected output: key@windowStart=sum → 1.
func windowSums(evs []ev) map[string]int {
	sums := map[string]int64{}
	for _, e := range evs {
		sums[fmt.Sprintf("%s@%d", e.Key, e.TS/1000*1000)] += e.V
	}
	out := map[string]int{}
	for k, v := range sums {
		out[fmt.Sprintf("%s=%d", k, v)]++
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
		if got[k] != want[k] && bad < 20 {
			t.Errorf("%s: committed %d times, want %d", k, got[k], want[k])
			bad++
		}
	}
	for k, n := range got {
		if want[k] == 0 && bad < 30 {
			t.Errorf("%s: committed %d times, want none", k, n)
			bad++
		}
	}
}

// TestJobExactlyOnceAcrossSwitch runs history files then a Kafka topic
// (holding the history's tail again) through a checkpointed keyed window
// job on the embedded cluster, with one injected failure in the backfill
// phase and one in the stream phase, and stops it with a drain savepoint
// once everything was read: every window is committed exactly once, as
// computed over history ∪ stream. With a BackfillInterval of an hour, no
// checkpoint but the job's first is taken while the history is read,
// and checkpoints resume at the short interval after the switch (the
// stream windows are only committed by them).
func TestJobExactlyOnceAcrossSwitch(t *testing.T) {
	if testing.Short() {
		t.Skip("runs jobs")
	}
	hist := mkEvents(0, 4000) // times 0 .. 39990
	dir := writeHistory(t, hist, 500)
	all := mkEvents(0, 8000) // the stream phase: 40000 .. 79990
	for _, tc := range []struct {
		name     string
		backfill time.Duration
	}{
		{"same interval", 0},
		{"backfill interval", time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			brokers := newKafka(t, "live", 3)
			produce(t, brokers, "live", 3, mkEvents(3500, 8000))
			src := hybrid.New[ev](fileio.JSONLines[ev](dir), hybrid.ThenAfter[ev](kafka.NewSource(brokers, kafka.JSON[ev](), kafka.Topics("live")))).WithEventTime(evTime)
			sink := testkit.NewCollector[winSum]()
			var fails atomic.Int32
			g := windowJob(src, []int64{20000, 60000}, &fails, sink, dag.CheckpointConfig{Interval: 30 * time.Millisecond, BackfillInterval: tc.backfill})
			plan, err := g.Build()
			if err != nil {
				t.Fatal(err)
			}
			c, err := embedded.New(embedded.Config{Workers: 2, Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			restart := scheduler.FixedDelay(10, 20*time.Millisecond)
			jmc := make(chan *master.JobMaster, 1)
			done := make(chan error, 1)
			go func() {
				_, err := c.Run(ctx, plan, master.JobConfig{Restart: &restart, Started: func(jm *master.JobMaster) { jmc <- jm }})
				done <- err
			}()
			jm := <-jmc
			want := windowSums(all)
			// Every window but the last per key fires without a drain.
			fireable := 0
			for k := range want {
				var key string
				var start, sum int64
				fmt.Sscanf(k, "k%1s@%d=%d", &key, &start, &sum)
				if start < 78000 {
					fireable++
				}
			}
			backfillCkpts, sawStream := 0, false
			deadline := time.Now().Add(60 * time.Second)
			for {
				st := jm.Status()
				if len(st.Phases) != 1 {
					t.Fatalf("status phases %+v, want one dynamic source", st.Phases)
				}
				if st.Phases[0].Round == 0 {
					backfillCkpts = max(backfillCkpts, len(st.Checkpoints))
				} else {
					sawStream = true
				}
				if len(sink.Committed()) >= fireable && sawStream {
					break
				}
				select {
				case err := <-done:
					t.Fatalf("job ended: %v", err)
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d windows committed; status %+v", len(sink.Committed()), fireable, st)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if _, err := jm.Savepoint(ctx, "file://"+t.TempDir(), engine.KindDrainSavepoint); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if fails.Load() != 2 {
				t.Errorf("%d injected failures, want 2", fails.Load())
			}
			if tc.backfill > 0 && backfillCkpts > 1 {
				t.Errorf("%d checkpoints triggered while backfilling with a BackfillInterval of an hour, want at most the first", backfillCkpts)
			}
			diffCounts(t, countSums(sink.Committed()), want)
		})
	}
}

// TestBoundedHybridEqualsUnbounded: a hybrid whose Kafka phase is bounded
// (read up to the end offsets at the switch) ends by itself and commits
// the same windows as the unbounded one stopped with a drain (above). The
// topic has one partition: a bounded source subtask reads its splits one
// after the other, so several partitions would make one partition's
// records late behind another's watermark (see docs/backfill.md).
func TestBoundedHybridEqualsUnbounded(t *testing.T) {
	if testing.Short() {
		t.Skip("runs jobs")
	}
	dir := writeHistory(t, mkEvents(0, 3000), 500)
	brokers := newKafka(t, "live", 1)
	produce(t, brokers, "live", 1, mkEvents(2500, 6000))
	src := hybrid.New[ev](fileio.JSONLines[ev](dir), hybrid.ThenAfter[ev](kafka.NewSource(brokers, kafka.JSON[ev](), kafka.Topics("live"), kafka.BoundedAtEnd()))).WithEventTime(evTime)
	if !src.Bounded() {
		t.Fatal("a hybrid ending in a bounded source is unbounded")
	}
	sink := testkit.NewCollector[winSum]()
	var fails atomic.Int32
	g := windowJob(src, []int64{10000, 50000}, &fails, sink, dag.CheckpointConfig{Interval: 30 * time.Millisecond})
	plan, err := g.Build()
	if err != nil {
		t.Fatal(err)
	}
	c, err := embedded.New(embedded.Config{Workers: 2, Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	restart := scheduler.FixedDelay(10, 20*time.Millisecond)
	if _, err := c.Run(ctx, plan, master.JobConfig{Restart: &restart}); err != nil {
		t.Fatal(err)
	}
	if fails.Load() != 2 {
		t.Errorf("%d injected failures, want 2", fails.Load())
	}
	diffCounts(t, countSums(sink.Committed()), windowSums(mkEvents(0, 6000)))
}
