package master_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/embedded"
	"github.com/dagflow/dagflow/internal/testkit"
	"github.com/dagflow/dagflow/master"
	"github.com/dagflow/dagflow/scheduler"
)

func words(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("w%d", r.IntN(500))
	}
	return out
}

func countAgg() dag.Agg[string, int64, int64] {
	return dag.Agg[string, int64, int64]{
		Zero:   func() int64 { return 0 },
		Add:    func(n int64, _ string) int64 { return n + 1 },
		Merge:  func(a, b int64) int64 { return a + b },
		Result: func(n int64) int64 { return n },
	}
}

func wordCountGraph(src dag.Source[string], sink dag.Sink[dag.KV[string, int64]], cfg dag.Config) *dag.Graph {
	g := dag.New("wc", cfg)
	s := dag.FromSource(g, "src", src, nil)
	s = dag.Map(s, strings.ToUpper, dag.Name("upper"))
	counts := dag.Aggregate(dag.KeyBy(s, func(w string) string { return w }), countAgg(), dag.Name("count"))
	dag.ToSink(counts, "sink", sink)
	return g
}

func expectedCounts(ws []string) []string {
	m := map[string]int64{}
	for _, w := range ws {
		m[strings.ToUpper(w)]++
	}
	var kvs []dag.KV[string, int64]
	for k, v := range m {
		kvs = append(kvs, dag.KV[string, int64]{Key: k, Value: v})
	}
	return testkit.SortedStrings(kvs)
}

func newCluster(t *testing.T, workers int) *embedded.Cluster {
	t.Helper()
	c, err := embedded.New(embedded.Config{Workers: workers, Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func run(t *testing.T, c *embedded.Cluster, g *dag.Graph, cfg master.JobConfig) (*master.JobResult, error) {
	t.Helper()
	plan, err := g.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return c.Run(ctx, plan, cfg)
}

func TestWordCountModesAndParallelism(t *testing.T) {
	ws := words(20000, 7)
	want := expectedCounts(ws)
	c := newCluster(t, 2)
	for _, mode := range []dag.ExecutionMode{dag.BatchMode, dag.StreamingMode} {
		for _, p := range []int{1, 2, 4} {
			t.Run(fmt.Sprintf("%s/p%d", mode, p), func(t *testing.T) {
				sink := testkit.NewCollector[dag.KV[string, int64]]()
				g := wordCountGraph(&testkit.SliceSource[string]{Items: ws, SplitSize: 1500}, sink, dag.Config{Parallelism: p, Mode: mode})
				res, err := run(t, c, g, master.JobConfig{})
				if err != nil {
					t.Fatal(err)
				}
				if got := testkit.SortedStrings(sink.Committed()); !slices.Equal(got, want) {
					t.Fatalf("got %d keys, want %d; first got %v", len(got), len(want), got[:min(3, len(got))])
				}
				src, _ := res.Vertex("src")
				if src.RecordsOut != int64(len(ws)) {
					t.Errorf("source emitted %d records, want %d", src.RecordsOut, len(ws))
				}
				if sink.Pending() != 0 {
					t.Errorf("%d prepared outputs left uncommitted", sink.Pending())
				}
			})
		}
	}
}

func TestUserPanicRestartsRegionExactlyOnce(t *testing.T) {
	ws := words(10000, 3)
	c := newCluster(t, 2)
	var fails atomic.Int32
	sink := testkit.NewCollector[dag.KV[string, int64]]()
	src := &testkit.SliceSource[string]{Items: ws, SplitSize: 1000, FailAt: 4321, Fails: &fails}
	g := wordCountGraph(src, sink, dag.Config{Parallelism: 2, Mode: dag.BatchMode})
	res, err := run(t, c, g, master.JobConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if fails.Load() != 1 {
		t.Fatalf("injected %d failures, want 1", fails.Load())
	}
	if res.Restarts < 1 {
		t.Errorf("restarts = %d, want >= 1", res.Restarts)
	}
	if got := testkit.SortedStrings(sink.Committed()); !slices.Equal(got, expectedCounts(ws)) {
		t.Fatalf("output after restart differs from expected (%d vs %d keys)", len(got), len(expectedCounts(ws)))
	}
}

func TestPanicBeyondRestartLimitFailsJobWithStack(t *testing.T) {
	ws := words(3000, 5)
	c := newCluster(t, 1)
	var fails atomic.Int32
	sink := testkit.NewCollector[dag.KV[string, int64]]()
	src := &testkit.SliceSource[string]{Items: ws, SplitSize: 500, FailAt: 10, Fails: &fails, MaxFails: 100}
	g := wordCountGraph(src, sink, dag.Config{Parallelism: 1, Mode: dag.BatchMode})
	restart := scheduler.FixedDelay(2, time.Millisecond)
	_, err := run(t, c, g, master.JobConfig{Restart: &restart})
	if err == nil {
		t.Fatal("job succeeded despite failures on every attempt")
	}
	if !errors.Is(err, master.ErrJobFailed) || !strings.Contains(err.Error(), "injected failure at item 10") || !strings.Contains(err.Error(), "testkit.(*sliceReader") {
		t.Fatalf("error does not carry the user's panic and stack: %v", err)
	}
	if got := fails.Load(); got != 3 {
		t.Errorf("attempts = %d, want 3 (1 + 2 restarts)", got)
	}
	if len(sink.Committed()) != 0 || sink.Pending() != 0 {
		t.Errorf("failed job left output: %d committed, %d pending", len(sink.Committed()), sink.Pending())
	}
}

func TestWorkerLossRerunsAndOutputIsExact(t *testing.T) {
	ws := words(40000, 11)
	c := newCluster(t, 3)
	sink := testkit.NewCollector[dag.KV[string, int64]]()
	src := &testkit.SliceSource[string]{Items: ws, SplitSize: 500, Delay: 5 * time.Millisecond}
	g := wordCountGraph(src, sink, dag.Config{Parallelism: 3, Mode: dag.BatchMode})
	go func() {
		time.Sleep(60 * time.Millisecond)
		c.KillWorker("worker-1")
	}()
	res, err := run(t, c, g, master.JobConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if got := testkit.SortedStrings(sink.Committed()); !slices.Equal(got, expectedCounts(ws)) {
		t.Fatalf("output after worker loss differs (%d vs %d keys)", len(got), len(expectedCounts(ws)))
	}
	if res.Restarts < 1 {
		t.Errorf("no restart recorded after a worker loss: %+v", res.Failovers)
	}
}

func TestCancelCommitsNothing(t *testing.T) {
	ws := words(50000, 13)
	c := newCluster(t, 2)
	sink := testkit.NewCollector[dag.KV[string, int64]]()
	src := &testkit.SliceSource[string]{Items: ws, SplitSize: 100, Delay: 5 * time.Millisecond}
	g := wordCountGraph(src, sink, dag.Config{Parallelism: 2, Mode: dag.StreamingMode})
	plan, err := g.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = c.Run(ctx, plan, master.JobConfig{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if len(sink.Committed()) != 0 || sink.Pending() != 0 {
		t.Errorf("cancelled job left output: %d committed, %d pending", len(sink.Committed()), sink.Pending())
	}
}
