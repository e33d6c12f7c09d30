package worker_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/protocol"
	"github.com/dagflow/dagflow/internal/testkit"
	"github.com/dagflow/dagflow/shuffle"
)

// panicOf deploys the two tasks of g's plan over a pipelined edge and
// returns the PanicError one of them failed with.
func panicOf(t *testing.T, g *dag.Graph) *protocol.PanicError {
	t.Helper()
	e := newEnv(t, g)
	e.twoTasks(t, shuffle.Pipelined)
	var pe *protocol.PanicError
	for i := 0; i < 2; i++ {
		st := e.wait(t)
		var p *protocol.PanicError
		if errors.As(st.Err, &p) && pe == nil {
			pe = p
		}
	}
	if pe == nil {
		t.Fatal("no task failed with a PanicError")
	}
	return pe
}

func panickingKey(v int64) int64 {
	if v == 42 {
		panic("key function bug at 42")
	}
	return v % 7
}

func sumAgg() dag.Agg[int64, int64, int64] {
	return dag.Agg[int64, int64, int64]{
		Zero: func() int64 { return 0 }, Add: func(a, v int64) int64 { return a + v },
		Merge: func(a, b int64) int64 { return a + b }, Result: func(a int64) int64 { return a },
	}
}

// TestKeyFuncPanicIsTaskFailure: a KeyBy key function runs in the
// producer's output encoding (hash partitioning).
func TestKeyFuncPanicIsTaskFailure(t *testing.T) {
	g := dag.New("j", dag.Config{Parallelism: 1, BatchSize: 100, Mode: dag.BatchMode})
	s := dag.FromSource(g, "src", &testkit.SliceSource[int64]{Items: seq(100), SplitSize: 250}, nil)
	sums := dag.Aggregate(dag.KeyBy(s, panickingKey), sumAgg(), dag.Name("sum"))
	dag.ToSink(sums, "sink", testkit.NewCollector[dag.KV[int64, int64]]())
	pe := panicOf(t, g)
	if pe.Value != "key function bug at 42" || !strings.Contains(pe.Stack, "worker_test.panickingKey") {
		t.Fatalf("panic %v, stack lacks the key function:\n%s", pe.Value, pe.Stack)
	}
}

// boomKey is a key type whose coder (used to hash it) panics.
type boomKey struct{ n int64 }

func (k boomKey) MarshalBinary() ([]byte, error) {
	if k.n == 3 {
		panic("key coder bug at 3")
	}
	return []byte{byte(k.n)}, nil
}

func (k *boomKey) UnmarshalBinary(b []byte) error {
	if len(b) != 1 {
		return errors.New("boomKey: want one byte")
	}
	k.n = int64(b[0])
	return nil
}

// TestKeyHashPanicIsTaskFailure: a key type's coder hashes it in the
// producer's output encoding.
func TestKeyHashPanicIsTaskFailure(t *testing.T) {
	g := dag.New("j", dag.Config{Parallelism: 1, BatchSize: 100, Mode: dag.BatchMode})
	s := dag.FromSource(g, "src", &testkit.SliceSource[int64]{Items: seq(100), SplitSize: 250}, nil)
	sums := dag.Aggregate(dag.KeyBy(s, func(v int64) boomKey { return boomKey{v % 5} }), sumAgg(), dag.Name("sum"))
	dag.ToSink(sums, "sink", testkit.NewCollector[dag.KV[boomKey, int64]]())
	pe := panicOf(t, g)
	if pe.Value != "key coder bug at 3" || !strings.Contains(pe.Stack, "worker_test.boomKey.MarshalBinary") {
		t.Fatalf("panic %v, stack lacks the key coder:\n%s", pe.Value, pe.Stack)
	}
}

// TestSplitReaderPanicIsTaskFailure: a source's split reader runs on the
// task's goroutine.
func TestSplitReaderPanicIsTaskFailure(t *testing.T) {
	var fails atomic.Int32
	src := &testkit.SliceSource[int64]{Items: seq(100), SplitSize: 250, FailAt: 17, Fails: &fails}
	pe := panicOf(t, graphFrom(src, testkit.NewCollector[int64]()))
	if !strings.Contains(pe.Stack, "testkit.(*sliceReader[...]).ReadBatch") || pe.Task == "" {
		t.Fatalf("panic %v in task %q, stack lacks the split reader:\n%s", pe.Value, pe.Task, pe.Stack)
	}
}

func graphFrom(src dag.Source[int64], sink dag.Sink[int64]) *dag.Graph {
	g := dag.New("j", dag.Config{Parallelism: 1, BatchSize: 100})
	s := dag.FromSource(g, "src", src, nil)
	dag.ToSink(s.Rebalance(), "sink", sink, dag.DisableChaining())
	return g
}

// closePanicSink is a sink whose writers panic when closed.
type closePanicSink struct{ *testkit.Collector[int64] }

func (s closePanicSink) NewWriter(ctx context.Context, sc dag.SinkContext) (dag.SinkWriter[int64], error) {
	w, err := s.Collector.NewWriter(ctx, sc)
	return closePanicWriter{w}, err
}

type closePanicWriter struct{ dag.SinkWriter[int64] }

func (closePanicWriter) Close() error { panic("sink close bug") }

// TestClosePanicIsTaskFailure: operators are closed after the task's
// main recover ran; a panic there still fails the task.
func TestClosePanicIsTaskFailure(t *testing.T) {
	sink := closePanicSink{testkit.NewCollector[int64]()}
	pe := panicOf(t, graphFrom(&testkit.SliceSource[int64]{Items: seq(10)}, sink))
	if pe.Value != "sink close bug" || !strings.Contains(pe.Stack, "worker_test.closePanicWriter.Close") {
		t.Fatalf("panic %v, stack lacks the sink's Close:\n%s", pe.Value, pe.Stack)
	}
}
