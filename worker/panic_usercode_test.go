package worker_test

import (
	"context"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/testkit"
)

// openPanicSource is a source whose OpenSplit panics.
type openPanicSource struct{ testkit.SliceSource[int64] }

func (s *openPanicSource) OpenSplit(context.Context, dag.ReaderContext, dag.Split) (dag.SplitReader[int64], error) {
	panic("open split bug")
}

// writePanicSink is a sink whose writers panic on a record.
type writePanicSink struct{ *testkit.Collector[int64] }

func (s writePanicSink) NewWriter(ctx context.Context, sc dag.SinkContext) (dag.SinkWriter[int64], error) {
	w, err := s.Collector.NewWriter(ctx, sc)
	return writePanicWriter{w}, err
}

type writePanicWriter struct{ dag.SinkWriter[int64] }

func (w writePanicWriter) Write(ctx context.Context, b *dag.Batch[int64]) error {
	for _, v := range b.Vals {
		if v == 5 {
			panic("sink write bug at 5")
		}
	}
	return w.SinkWriter.Write(ctx, b)
}

func panickingTimestamp(v int64) int64 {
	if v == 7 {
		panic("timestamp bug at 7")
	}
	return v
}

// TestSourceAndSinkPanicsAreTaskFailures covers the remaining places a
// source or sink runs user code in a task: opening a split, the
// watermark strategy's timestamp function, and a sink writer's Write.
func TestSourceAndSinkPanicsAreTaskFailures(t *testing.T) {
	tests := []struct {
		name  string
		graph func() *dag.Graph
		value string
		stack string
	}{
		{"open split", func() *dag.Graph {
			return graphFrom(&openPanicSource{testkit.SliceSource[int64]{Items: seq(10)}}, testkit.NewCollector[int64]())
		}, "open split bug", "worker_test.(*openPanicSource).OpenSplit"},
		{"timestamp", func() *dag.Graph {
			g := dag.New("j", dag.Config{Parallelism: 1, BatchSize: 100})
			s := dag.FromSource(g, "src", &testkit.SliceSource[int64]{Items: seq(10)},
				&dag.WatermarkStrategy[int64]{Timestamp: panickingTimestamp})
			dag.ToSink(s.Rebalance(), "sink", testkit.NewCollector[int64](), dag.DisableChaining())
			return g
		}, "timestamp bug at 7", "worker_test.panickingTimestamp"},
		{"sink write", func() *dag.Graph {
			return graphFrom(&testkit.SliceSource[int64]{Items: seq(10)}, writePanicSink{testkit.NewCollector[int64]()})
		}, "sink write bug at 5", "worker_test.writePanicWriter.Write"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pe := panicOf(t, tt.graph())
			if pe.Value != tt.value || !strings.Contains(pe.Stack, tt.stack) || pe.Task == "" {
				t.Fatalf("panic %v in task %q, want %q with %s in the stack:\n%s", pe.Value, pe.Task, tt.value, tt.stack, pe.Stack)
			}
		})
	}
}
