package nexmark

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
)

// failingSource wraps a Source: once a checkpoint has completed, the
// first reader to read after it fails once, so the job restarts from that
// checkpoint. Until a checkpoint completes, readers hold back the end of
// their splits, so the input cannot end before one does.
type failingSource struct {
	*Source
	completed atomic.Int64 // checkpoints seen complete
	failed    atomic.Bool
	once      sync.Once
	ckDone    chan struct{} // closed at the first completed checkpoint
}

func (s *failingSource) OpenSplit(ctx context.Context, rc dag.ReaderContext, sp dag.Split) (dag.SplitReader[Event], error) {
	r, err := s.Source.OpenSplit(ctx, rc, sp)
	if err != nil {
		return nil, err
	}
	return &failingReader{reader: r.(*reader), s: s}, nil
}

type failingReader struct {
	*reader
	s *failingSource
}

func (r *failingReader) ReadBatch(ctx context.Context, b *dag.Batch[Event], max int) (int, error) {
	if r.s.completed.Load() > 0 && r.s.failed.CompareAndSwap(false, true) {
		return 0, errors.New("injected failure after a completed checkpoint")
	}
	if r.s.completed.Load() == 0 && r.d.end >= 0 && r.d.end-r.next <= int64(max) {
		// The end of the split waits for a checkpoint; return now and
		// then so that the task can take the barrier meanwhile.
		t := time.NewTimer(10 * time.Millisecond)
		defer t.Stop()
		select {
		case <-r.s.ckDone:
		case <-t.C:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		return 0, nil
	}
	return r.reader.ReadBatch(ctx, b, max)
}

func (r *failingReader) CheckpointComplete(_ context.Context, id int64) error {
	r.s.completed.Add(1)
	r.s.once.Do(func() { close(r.s.ckDone) })
	return nil
}

// TestQueryCheckpointFailover runs queries with exactly-once checkpoints
// on the heap and the Pebble backend, fails a source once after a
// checkpoint completed, and compares the committed checksum with the
// reference: the restored run neither loses nor repeats output.
func TestQueryCheckpointFailover(t *testing.T) {
	cfg := engineConfig(testConfig())
	gen := testGenerator(t, cfg)
	events := gen.Events(0, cfg.Events)
	for _, backend := range []string{dag.BackendHeap, dag.BackendPebble} {
		for _, name := range checkpointQueries() {
			t.Run(fmt.Sprintf("%s/%s", backend, name), func(t *testing.T) {
				q, want := lookupWithReference(t, name, events)
				g := dag.New(name, dag.Config{Parallelism: 2, Mode: dag.StreamingMode, StateBackend: backend,
					Checkpoint: dag.CheckpointConfig{Interval: 100 * time.Millisecond, Dir: "file://" + t.TempDir()}})
				src := &failingSource{Source: gen.Source(), ckDone: make(chan struct{})}
				in := dag.FromSource(g, "events", dag.Source[Event](src), gen.WatermarkStrategy(), dag.WithCoder[Event](EventCoder{}))
				sum := q.AddTo(in, "out")
				res, err := dagflow.Run(context.Background(), g, dagflow.Options{Logger: slog.New(slog.DiscardHandler), Progress: nil})
				if err != nil {
					t.Fatal(err)
				}
				if !src.failed.Load() || res.Restarts == 0 {
					t.Fatalf("no failure after a completed checkpoint (%d checkpoints, %d restarts): raise the events", src.completed.Load(), res.Restarts)
				}
				if got := sum.Summary(); got != want || got.Records == 0 {
					t.Errorf("summary %v, reference %v", got, want)
				}
			})
		}
	}
}

// checkpointQueries returns the deterministic queries.
func checkpointQueries() []string {
	var names []string
	for _, q := range Queries() {
		if q.Deterministic {
			names = append(names, q.Name)
		}
	}
	return names
}

// TestSQLCheckpointFailover runs SQL queries with a regular join (q3,
// q20), a window join (q8), a continuous GROUP BY (q17) and a
// deduplication (q18) with
// exactly-once checkpoints on the heap and the Pebble backend, fails the
// source once after a checkpoint completed, and compares the committed
// checksum with the reference: the planner's state survives a restore on
// both backends.
func TestSQLCheckpointFailover(t *testing.T) {
	cfg := engineConfig(testConfig())
	gen := testGenerator(t, cfg)
	events := gen.Events(0, cfg.Events)
	for _, backend := range []string{dag.BackendHeap, dag.BackendPebble} {
		for _, name := range []string{"q3", "q8", "q17", "q18", "q20"} {
			t.Run(fmt.Sprintf("%s/%s", backend, name), func(t *testing.T) {
				_, want := lookupWithReference(t, name, events)
				script, err := SQLQuery(name)
				if err != nil {
					t.Fatal(err)
				}
				g := dag.New(name, dag.Config{Parallelism: 2, Mode: dag.StreamingMode, StateBackend: backend,
					Checkpoint: dag.CheckpointConfig{Interval: 100 * time.Millisecond, Dir: "file://" + t.TempDir()}})
				src := &failingSource{Source: gen.Source(), ckDone: make(chan struct{})}
				env, conn, err := gen.SQLEnv(g.Config())
				if err != nil {
					t.Fatal(err)
				}
				conn.events[g] = dag.FromSource(g, "events", dag.Source[Event](src), gen.WatermarkStrategy(), dag.WithCoder[Event](EventCoder{}))
				if _, err := env.Compile(g, script); err != nil {
					t.Fatal(err)
				}
				res, err := dagflow.Run(context.Background(), g, dagflow.Options{Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					t.Fatal(err)
				}
				if !src.failed.Load() || res.Restarts == 0 {
					t.Fatalf("no failure after a completed checkpoint (%d checkpoints, %d restarts): raise the events", src.completed.Load(), res.Restarts)
				}
				sum, _ := conn.Checksum("nexmark_" + name)
				if got := sum.Summary(); got != want || got.Records == 0 {
					t.Errorf("summary %v, reference %v", got, want)
				}
			})
		}
	}
}
