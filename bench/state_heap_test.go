package bench_test

import (
	"context"
	"errors"
	"testing"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/dag/engine"
)

// Run with: go test ./bench -run '^$' -bench 'ProcessState' -benchtime 2s
//
// BenchmarkProcessState measures the heap path of keyed process state: a
// ProcessFunc keeps a per-key counter in a ValueState and per-key last
// values in a MapState, over 100k keys. BenchmarkProcessStateBaseline does
// the same map work in plain Go maps, so the ratio is the state handles'
// overhead (it must not grow when the state backends change).

const stateBenchKeys = 100_000

type benchRec struct {
	Key int64
	Val int64
}

// benchSource is a source stub: benchmarks drive operators directly.
type benchSource[T any] struct{}

func (benchSource[T]) Bounded() bool { return false }
func (benchSource[T]) Splits(context.Context, dag.SplitContext) ([]dag.Split, error) {
	return nil, nil
}
func (benchSource[T]) OpenSplit(context.Context, dag.ReaderContext, dag.Split) (dag.SplitReader[T], error) {
	return nil, errors.New("bench source is not readable")
}

// benchSink is a sink stub.
type benchSink[T any] struct{}

func (benchSink[T]) NewWriter(context.Context, dag.SinkContext) (dag.SinkWriter[T], error) {
	return nil, errors.New("bench sink is not writable")
}
func (benchSink[T]) Committer() dag.Committer { return nil }

// discardOutput counts records and drops them.
type discardOutput[T any] struct{ n int }

func (o *discardOutput[T]) Emit(_ context.Context, batch any) error {
	o.n += len(batch.(*dag.Batch[T]).Vals)
	return nil
}
func (o *discardOutput[T]) EmitWatermark(context.Context, int64) error { return nil }

// benchOperator builds a one-operator graph and returns an opened
// instance of the vertex named "under-test".
func benchOperator[T, O any](b testing.TB, keyed func(dag.Stream[T]) dag.Stream[O], oc *engine.OperatorContext) engine.Operator {
	b.Helper()
	g := dag.New("bench", dag.Config{Parallelism: 1, MaxParallelism: 128})
	in := dag.FromSource[T](g, "in", benchSource[T]{}, nil, dag.WithCoder(dag.JSONCoder[T]()))
	dag.ToSink(keyed(in), "out", benchSink[O]{})
	p, err := g.Build()
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range p.Vertices {
		if v.Name != "under-test" {
			continue
		}
		op, err := p.Engine().NewOperator(v.ID)
		if err != nil {
			b.Fatal(err)
		}
		if oc.Outputs == nil {
			oc.Outputs = []engine.Output{&discardOutput[O]{}, &discardOutput[T]{}}
		}
		oc.Job, oc.Name, oc.Parallelism, oc.MaxParallelism = "bench", "under-test", 1, 128
		if oc.BatchSize == 0 {
			oc.BatchSize = 1024
		}
		if oc.Metrics == nil {
			oc.Metrics = new(engine.Metrics)
		}
		if err := op.Open(context.Background(), oc); err != nil {
			b.Fatal(err)
		}
		return op
	}
	b.Fatal("no vertex named under-test")
	return nil
}

// counterFn counts records per key in a ValueState and keeps the last
// value per (key, value mod 4) in a MapState.
type counterFn struct {
	count *dag.ValueState[int64, int64]
	last  *dag.MapState[int64, int64, int64]
}

func (f *counterFn) Open(oc *dag.ProcessOpenContext[int64]) error {
	f.count = dag.NewValueState[int64](oc, "count")
	f.last = dag.NewMapState[int64, int64](oc, "last")
	return nil
}

func (f *counterFn) ProcessElement(ctx *dag.ProcessContext[int64, int64], r benchRec) error {
	c, _ := f.count.Get(ctx)
	f.count.Set(ctx, c+1)
	f.last.Put(ctx, r.Val&3, r.Val)
	return nil
}

func (f *counterFn) OnTimer(*dag.ProcessContext[int64, int64], dag.Timer) error { return nil }

func counterGraph(s dag.Stream[benchRec]) dag.Stream[int64] {
	return dag.Process(dag.KeyBy(s, func(r benchRec) int64 { return r.Key }),
		func() dag.ProcessFunc[int64, benchRec, int64] { return &counterFn{} }, dag.Name("under-test"))
}

// benchBatches returns n batches of size records over keys keys.
func benchBatches(n, size int, keys int64) []*dag.Batch[benchRec] {
	out := make([]*dag.Batch[benchRec], n)
	x := uint64(12345)
	for i := range out {
		b := &dag.Batch[benchRec]{}
		for range size {
			x = x*6364136223846793005 + 1442695040888963407
			b.Append(benchRec{Key: int64(x>>33) % keys, Val: int64(x >> 20)}, int64(i))
		}
		out[i] = b
	}
	return out
}

func BenchmarkProcessState(b *testing.B) {
	op := benchOperator(b, counterGraph, &engine.OperatorContext{})
	batches := benchBatches(256, 1024, stateBenchKeys)
	ctx := context.Background()
	for _, batch := range batches { // warm up: every key exists
		if err := op.ProcessBatch(ctx, 0, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := op.ProcessBatch(ctx, 0, batches[i%len(batches)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1024), "ns/record")
}

func BenchmarkProcessStateBaseline(b *testing.B) {
	batches := benchBatches(256, 1024, stateBenchKeys)
	count := make(map[int64]int64)
	last := make(map[int64]map[int64]int64)
	b.ReportAllocs()
	for i := -len(batches); i < b.N; i++ { // the first round warms up
		if i == 0 {
			b.ResetTimer()
		}
		for _, r := range batches[(i+len(batches))%len(batches)].Vals {
			count[r.Key]++
			m := last[r.Key]
			if m == nil {
				m = make(map[int64]int64)
				last[r.Key] = m
			}
			m[r.Val&3] = r.Val
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1024), "ns/record")
}
