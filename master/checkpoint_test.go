package master_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/internal/embedded"
	"github.com/dagflow/dagflow/internal/hdfstest"
	"github.com/dagflow/dagflow/internal/testkit"
	"github.com/dagflow/dagflow/master"
	"github.com/dagflow/dagflow/scheduler"
)

type ev struct {
	Key string
	TS  int64
	V   int64
	Pad string `json:",omitempty"`
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
	for _, dir := range []string{"memory", "files", "hdfs"} {
		t.Run(dir, func(t *testing.T) {
			evs := events(6000)
			var srcFails, mapFails atomic.Int32
			src := &testkit.SliceSource[ev]{Items: evs, SplitSize: 1500, Delay: 2 * time.Millisecond, FailAt: 2500, Fails: &srcFails, MaxFails: 2}
			sink := testkit.NewCollector[winSum]()
			ck := dag.CheckpointConfig{Interval: 40 * time.Millisecond}
			switch dir {
			case "files":
				ck.Dir = "file://" + t.TempDir()
			case "hdfs":
				// Checkpoints on HDFS: the in-process NameNode and
				// DataNode through the real client.
				ck.Dir = hdfstest.StartTest(t, hdfstest.Options{BlockSize: 1 << 20}).URL("/checkpoints")
			}
			g := windowedJob("exactly-once", 2, src, 1700, &mapFails, 2, sink, ck)
			c := newCluster(t, 2)
			restart := scheduler.FixedDelay(10, 20*time.Millisecond)
			var logs syncBuffer
			res, err := run(t, c, g, master.JobConfig{Restart: &restart, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if t.Failed() {
					t.Logf("failovers %v\ncheckpoints %+v\nlogs:\n%s", res.Failovers, res.Checkpoints, logs.String())
				}
			}()
			completed := 0
			for _, cs := range res.Checkpoints {
				if cs.Status == "completed" {
					completed++
				}
			}
			if completed < 2 {
				t.Errorf("%d checkpoints completed, want several: %+v", completed, res.Checkpoints)
			}
			// Every injected failure happened (2 in the source, 2 in the
			// map), and each surfaced as a region restart unless it hit a
			// region that was already restarting: the whole job is one
			// pipelined region, so two failures reported before the
			// restart is decided are one failover (the later report is
			// of a stale attempt). Hence at least 2 restarts, at most 4.
			if got := srcFails.Load() + mapFails.Load(); got != 4 {
				t.Errorf("%d failures injected, want 4 (2 source and 2 map)", got)
			}
			if res.Restarts < 2 || res.Restarts > 4 {
				t.Errorf("%d restarts, want 2 to 4 for 4 injected failures", res.Restarts)
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
	loc, err := jm.Savepoint(ctx, "file://"+t.TempDir(), engine.KindSavepoint)
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
func startJob(t *testing.T, ctx context.Context, c *embedded.Cluster, plan *dag.Plan) (*master.JobMaster, <-chan struct{}) {
	t.Helper()
	return startJobWith(t, ctx, c, plan, master.JobConfig{})
}

func startJobWith(t *testing.T, ctx context.Context, c *embedded.Cluster, plan *dag.Plan, cfg master.JobConfig) (*master.JobMaster, <-chan struct{}) {
	t.Helper()
	jmc := make(chan *master.JobMaster, 1)
	done := make(chan struct{})
	cfg.Started = func(jm *master.JobMaster) { jmc <- jm }
	go func() {
		defer close(done)
		c.Run(ctx, plan, cfg)
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

// TestCorruptCheckpointFallsBack corrupts the state files of the latest
// checkpoint before a failure: the restore fails with a clear error, the
// job falls back to the previous retained checkpoint and finishes with no
// window missing.
func TestCorruptCheckpointFallsBack(t *testing.T) {
	evs := make([]ev, 8000)
	for i := range evs {
		// Long keys: heap window state is snapshotted per key group, and a
		// key group's state at most 512 bytes stays inline in the metadata.
		// With ~200-byte keys, a few keys per group already give chk-2
		// state files to corrupt.
		evs[i] = ev{Key: fmt.Sprintf("key-%04d-%s", i%3000, strings.Repeat("p", 200)), TS: int64(i), V: 1}
	}
	var failNow atomic.Bool
	var fails atomic.Int32
	sink := testkit.NewCollector[winSum]()
	dir := t.TempDir()
	g := dag.New("fallback", dag.Config{Parallelism: 2, Mode: dag.StreamingMode, BatchSize: 64,
		Checkpoint: dag.CheckpointConfig{Dir: "file://" + dir}})
	s := dag.FromSource(g, "events", &testkit.SliceSource[ev]{Items: evs, SplitSize: 2000, Delay: 3 * time.Millisecond},
		&dag.WatermarkStrategy[ev]{Timestamp: func(e ev) int64 { return e.TS }}, dag.WithCoder(evCoder))
	m := dag.Map(s, func(e ev) ev {
		if failNow.Load() && fails.Add(1) == 1 {
			panic("injected failure after corrupting the latest checkpoint")
		}
		return e
	}, dag.WithCoder(evCoder))
	w := dag.Window(dag.KeyBy(m, func(e ev) string { return e.Key }), dag.Tumbling(10*time.Second))
	sums := dag.WindowAggregate(w, dag.Agg[ev, int64, int64]{
		Zero: func() int64 { return 0 }, Add: func(a int64, e ev) int64 { return a + e.V },
		Merge: func(a, b int64) int64 { return a + b }, Result: func(a int64) int64 { return a },
	})
	dag.ToSink(sums, "out", sink)
	plan, err := g.Build()
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	c := newCluster(t, 2)
	ctx := context.Background()
	jmc := make(chan *master.JobMaster, 1)
	done := make(chan error, 1)
	restart := scheduler.FixedDelay(5, 20*time.Millisecond)
	go func() {
		_, err := c.Run(ctx, plan, master.JobConfig{Restart: &restart, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			Started: func(jm *master.JobMaster) { jmc <- jm }})
		done <- err
	}()
	jm := <-jmc
	waitFor(t, func() bool {
		for _, v := range jm.Status().Vertices {
			if v.Name == "events" && v.RecordsOut > 1000 {
				return true
			}
		}
		return false
	})
	spDir := t.TempDir()
	for i := 0; i < 2; i++ {
		if _, err := jm.Savepoint(ctx, "file://"+spDir, engine.KindSavepoint); err != nil {
			t.Fatal(err)
		}
	}
	// Corrupt every state file of the newest checkpoint (chk-2).
	files, _ := filepath.Glob(filepath.Join(dir, "*", "chk-2", "*"))
	corrupted := 0
	for _, f := range files {
		if filepath.Base(f) == "_metadata" {
			continue
		}
		if err := os.WriteFile(f, []byte("garbage"), 0o644); err != nil {
			t.Fatal(err)
		}
		corrupted++
	}
	if corrupted == 0 {
		t.Fatalf("checkpoint 2 wrote no state files: %v", files)
	}
	failNow.Store(true)
	if err := <-done; err != nil {
		t.Fatalf("job failed: %v\nlogs:\n%s", err, logs.String())
	}
	t.Log(grepLine(logs.String(), "falling back"))
	if !strings.Contains(logs.String(), "falling back to the previous retained checkpoint") {
		t.Fatalf("no fallback logged:\n%s", logs.String())
	}
	// Falling back may repeat output committed by the corrupt checkpoint;
	// nothing may be missing.
	want := map[string]int64{}
	for _, e := range evs {
		want[fmt.Sprintf("%s@%d", e.Key, e.TS/10000*10000)] += e.V
	}
	got := map[string]int64{}
	for _, r := range sink.Committed() {
		got[fmt.Sprintf("%s@%d", r.Key, r.Start)] = r.Value
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("window %s = %d, want %d", k, got[k], v)
		}
	}
}

// syncBuffer is a goroutine-safe log buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func grepLine(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// TestLoadSnapshotOfCheckpointDir restores from a job's checkpoint
// directory: the newest valid checkpoint is used, skipping a corrupt one.
func TestLoadSnapshotOfCheckpointDir(t *testing.T) {
	evs := events(8000)
	dir := t.TempDir()
	var none atomic.Int32
	sink := testkit.NewCollector[winSum]()
	g := windowedJob("ckdir", 2, &testkit.SliceSource[ev]{Items: evs, SplitSize: 500, Delay: 3 * time.Millisecond}, 0, &none, 0, sink,
		dag.CheckpointConfig{Interval: 20 * time.Millisecond, Dir: "file://" + dir, Retain: 3})
	c := newCluster(t, 2)
	res, err := run(t, c, g, master.JobConfig{})
	if err != nil {
		t.Fatal(err)
	}
	jobDir := filepath.Join(dir, res.Job)
	chks, _ := filepath.Glob(filepath.Join(jobDir, "chk-*"))
	if len(chks) < 2 {
		t.Fatalf("only %d checkpoints retained: %+v", len(chks), res.Checkpoints)
	}
	newest := chks[0]
	for _, ch := range chks {
		if len(ch) > len(newest) || (len(ch) == len(newest) && ch > newest) {
			newest = ch
		}
	}
	md, err := master.LoadSnapshot(context.Background(), "file://"+jobDir)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Base(newest); fmt.Sprintf("chk-%d", md.ID) != want {
		t.Fatalf("loaded checkpoint %d, want the newest %s", md.ID, want)
	}
	if err := os.WriteFile(filepath.Join(newest, "_metadata"), []byte("not metadata"), 0o644); err != nil {
		t.Fatal(err)
	}
	md2, err := master.LoadSnapshot(context.Background(), "file://"+jobDir)
	if err != nil {
		t.Fatal(err)
	}
	if md2.ID >= md.ID {
		t.Fatalf("loaded checkpoint %d after corrupting %d, want an older one", md2.ID, md.ID)
	}
}

// sumFn keeps a per-key sum in a ValueState (in Pebble with the pebble
// backend) and emits it once, when its event-time timer fires at the end.
type sumFn struct {
	sum *dag.ValueState[string, int64]
}

func (f *sumFn) Open(oc *dag.ProcessOpenContext[string]) error {
	f.sum = dag.NewValueState[int64](oc, "sum")
	return nil
}

func (f *sumFn) ProcessElement(ctx *dag.ProcessContext[string, dag.KV[string, int64]], e ev) error {
	s, _ := f.sum.Get(ctx)
	f.sum.Set(ctx, s+e.V)
	ctx.RegisterEventTimer(1 << 40)
	return nil
}

func (f *sumFn) OnTimer(ctx *dag.ProcessContext[string, dag.KV[string, int64]], _ dag.Timer) error {
	s, _ := f.sum.Get(ctx)
	ctx.Emit(dag.KV[string, int64]{Key: ctx.Key(), Value: s})
	return nil
}

// TestPebbleBackendExactlyOnce runs keyed process state in the Pebble
// backend with incremental checkpoints while tasks fail, then restores a
// savepoint of it at another parallelism: the per-key sums are exact.
func TestPebbleBackendExactlyOnce(t *testing.T) {
	evs := make([]ev, 6000)
	want := map[string]int64{}
	for i := range evs {
		evs[i] = ev{Key: fmt.Sprintf("k%03d", i%300), TS: int64(i), V: int64(i%11 + 1)}
		want[evs[i].Key] += evs[i].V
	}
	build := func(par int, src dag.Source[ev], failAt int64, fails *atomic.Int32, sink dag.Sink[dag.KV[string, int64]], dir string) *dag.Graph {
		g := dag.New("pebble", dag.Config{Parallelism: par, Mode: dag.StreamingMode, BatchSize: 64, StateBackend: dag.BackendPebble,
			Checkpoint: dag.CheckpointConfig{Interval: 40 * time.Millisecond, Dir: "file://" + dir}})
		s := dag.FromSource(g, "events", src, &dag.WatermarkStrategy[ev]{Timestamp: func(e ev) int64 { return e.TS }}, dag.WithCoder(evCoder))
		var seen atomic.Int64
		m := dag.Map(s, func(e ev) ev {
			if failAt > 0 && seen.Add(1) == failAt && fails.Load() < 2 {
				fails.Add(1)
				seen.Store(0)
				panic("injected failure")
			}
			return e
		}, dag.WithCoder(evCoder))
		sums := dag.Process(dag.KeyBy(m, func(e ev) string { return e.Key }), func() dag.ProcessFunc[string, ev, dag.KV[string, int64]] { return &sumFn{} })
		dag.ToSink(sums, "out", sink)
		return g
	}
	check := func(t *testing.T, got []dag.KV[string, int64]) {
		t.Helper()
		seen := map[string]bool{}
		for _, kv := range got {
			if seen[kv.Key] {
				t.Fatalf("key %s emitted twice", kv.Key)
			}
			seen[kv.Key] = true
			if kv.Value != want[kv.Key] {
				t.Fatalf("key %s: sum %d, want %d", kv.Key, kv.Value, want[kv.Key])
			}
		}
		if len(seen) != len(want) {
			t.Fatalf("%d keys emitted, want %d", len(seen), len(want))
		}
	}
	c := newCluster(t, 2)
	t.Run("failures", func(t *testing.T) {
		var fails, srcFails atomic.Int32
		sink := testkit.NewCollector[dag.KV[string, int64]]()
		src := &testkit.SliceSource[ev]{Items: evs, SplitSize: 1500, Delay: 2 * time.Millisecond, FailAt: 2500, Fails: &srcFails, MaxFails: 1}
		restart := scheduler.FixedDelay(10, 20*time.Millisecond)
		res, err := run(t, c, build(2, src, 1700, &fails, sink, t.TempDir()), master.JobConfig{Restart: &restart})
		if err != nil {
			t.Fatal(err)
		}
		if res.Restarts < 2 {
			t.Errorf("%d restarts, want at least 2", res.Restarts)
		}
		var incremental bool
		for _, cs := range res.Checkpoints {
			if cs.Status == "completed" && cs.Incremental < cs.Size {
				incremental = true
			}
		}
		if !incremental {
			t.Errorf("no incremental checkpoint (uploading less than the state size): %+v", res.Checkpoints)
		}
		check(t, sink.Committed())
	})
	t.Run("rescale", func(t *testing.T) {
		var none atomic.Int32
		sink1 := testkit.NewCollector[dag.KV[string, int64]]()
		g1 := build(2, &testkit.SliceSource[ev]{Items: evs, SplitSize: 500, Hold: true, Delay: time.Millisecond}, 0, &none, sink1, t.TempDir())
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
		loc, err := jm.Savepoint(ctx, "file://"+t.TempDir(), engine.KindSavepoint)
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		<-done
		md, err := master.LoadSnapshot(context.Background(), loc)
		if err != nil {
			t.Fatal(err)
		}
		sink2 := testkit.NewCollector[dag.KV[string, int64]]()
		g2 := build(3, &testkit.SliceSource[ev]{Items: evs, SplitSize: 500}, 0, &none, sink2, t.TempDir())
		var logs syncBuffer
		res2, err := run(t, c, g2, master.JobConfig{Restore: md, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if t.Failed() {
				t.Logf("run 2: %+v\n%s", res2.Vertices, logs.String())
				for _, ts := range md.Tasks {
					for _, os := range ts.Operators {
						t.Logf("savepoint task %d/%d vertex %d: %d kgs, %d op, %d splits, %d shared", ts.Task, ts.Subtask, os.Vertex, len(os.KeyGroups), len(os.Operator), len(os.Splits), len(os.Shared))
					}
				}
			}
		}()
		if n := len(sink1.Committed()); n != 0 {
			t.Fatalf("run 1 emitted %d sums before its input ended", n)
		}
		check(t, sink2.Committed())
	})
}

// TestCheckpointsUnderBackPressureAndFinishedRegions runs checkpoints
// while a slow sink back-pressures a keyed exchange fed by two sources (one
// bounded, which finishes early; one unbounded) and next to an independent
// bounded pipeline that finishes at once: alignment completes despite
// full queues, checkpoints keep completing after tasks finished, and a
// drain savepoint ends the job with exact output.
func TestCheckpointsUnderBackPressureAndFinishedRegions(t *testing.T) {
	evs := events(4000)
	for i := range evs {
		evs[i].Pad = strings.Repeat("x", 4000) // fill the exchange queues
	}
	early := make([]ev, 500)
	for i := range early {
		early[i] = ev{Key: "early", TS: int64(i), V: 1}
	}
	g := dag.New("bp-ckpt", dag.Config{Parallelism: 2, Mode: dag.StreamingMode, BatchSize: 64,
		Checkpoint: dag.CheckpointConfig{Interval: 30 * time.Millisecond}})
	ws := &dag.WatermarkStrategy[ev]{Timestamp: func(e ev) int64 { return e.TS }}
	live := dag.FromSource(g, "live", &testkit.SliceSource[ev]{Items: evs, SplitSize: 500, Hold: true}, ws, dag.WithCoder(evCoder))
	bounded := dag.FromSource(g, "bounded", &testkit.SliceSource[ev]{Items: early, SplitSize: 250}, ws, dag.WithCoder(evCoder))
	w := dag.Window(dag.KeyBy(dag.Union(live, bounded), func(e ev) string { return e.Key }), dag.Tumbling(100*time.Millisecond))
	sums := dag.WindowAggregate(w, dag.Agg[ev, int64, int64]{
		Zero: func() int64 { return 0 }, Add: func(a int64, e ev) int64 { return a + e.V },
		Merge: func(a, b int64) int64 { return a + b }, Result: func(a int64) int64 { return a },
	}, dag.WithCoder(dag.JSONCoder[winSum]()))
	sink := slowSink[winSum]{testkit.NewCollector[winSum](), 3 * time.Millisecond}
	dag.ToSink(sums.Rebalance(), "slow-out", sink)
	// A slow consumer of the raw stream back-pressures the live source.
	raw := slowSink[ev]{testkit.NewCollector[ev](), 8 * time.Millisecond}
	dag.ToSink(live.Rebalance(), "slow-raw", raw)
	other := testkit.NewCollector[ev]()
	dag.ToSink(dag.FromSource(g, "other", &testkit.SliceSource[ev]{Items: early, SplitSize: 100}, nil, dag.WithCoder(evCoder)), "other-out", other)
	plan, err := g.Build()
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, 2)
	ctx := context.Background()
	var logs syncBuffer
	jm, done := startJobWith(t, ctx, c, plan, master.JobConfig{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	defer func() {
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	}()
	var bp int64
	// Wait for checkpoints completed after the bounded tasks finished.
	waitFor(t, func() bool {
		st := jm.Status()
		finished := 0
		for _, task := range st.Tasks {
			if task.State == "finished" {
				finished++
			}
		}
		if finished == 0 {
			return false
		}
		n := 0
		for _, cs := range st.Checkpoints {
			if cs.Status == "completed" && cs.Tasks < len(st.Tasks) {
				n++ // some tasks were finished when it was taken
			}
		}
		bp = 0
		for _, v := range st.Vertices {
			bp += v.BackPressureNanos
			if v.Name == "live" && v.RecordsOut < int64(len(evs)) {
				return false
			}
		}
		return n >= 2
	})
	var aligned bool
	for _, cs := range jm.Checkpoints() {
		if cs.Status == "completed" && cs.Alignment > 0 {
			aligned = true
		}
	}
	if !aligned {
		t.Errorf("no checkpoint reports an alignment: %+v", jm.Checkpoints())
	}
	if _, err := jm.Savepoint(ctx, "file://"+t.TempDir(), engine.KindDrainSavepoint); err != nil {
		t.Fatal(err)
	}
	<-done
	want := expectedSums(append(append([]ev(nil), evs...), early...))
	diffCounts(t, countSums(sink.Committed()), want)
	if n := len(raw.Committed()); n != len(evs) {
		t.Errorf("raw sink committed %d records, want %d", n, len(evs))
	}
	if bp == 0 {
		t.Errorf("no back-pressure measured")
	}
	if n := len(other.Committed()); n != len(early) {
		t.Errorf("independent pipeline committed %d records, want %d", n, len(early))
	}
}
