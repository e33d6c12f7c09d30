package bench_test

import (
	"context"
	"testing"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/dag/engine"
)

// Run with: go test ./bench -run '^$' -bench StateSnapshot -benchtime 3x
//
// BenchmarkStateSnapshot measures a checkpoint of operator state holding
// 1M keys: sync-ms is the pause of the task (SnapshotState: shallow clones
// and copy-on-write marks), async-ms the serialization of the captured
// state into key group blobs (the SnapshotFunc, which the engine runs on
// another goroutine while the task goes on), MB the bytes written.

const snapshotKeys = 1_000_000

// countingWriter is a StateWriter that only counts bytes.
type countingWriter struct{ n int }

func (w *countingWriter) KeyGroup(_ int, data []byte) error { w.n += len(data); return nil }
func (w *countingWriter) Operator(data []byte) error        { w.n += len(data); return nil }

// valueFn keeps one counter per key.
type valueFn struct{ count *dag.ValueState[int64, int64] }

func (f *valueFn) Open(oc *dag.ProcessOpenContext[int64]) error {
	f.count = dag.NewValueState[int64](oc, "count")
	return nil
}

func (f *valueFn) ProcessElement(ctx *dag.ProcessContext[int64, int64], r benchRec) error {
	c, _ := f.count.Get(ctx)
	f.count.Set(ctx, c+r.Val)
	return nil
}

func (f *valueFn) OnTimer(*dag.ProcessContext[int64, int64], dag.Timer) error { return nil }

func benchmarkSnapshot(b *testing.B, op engine.Operator) {
	ctx := context.Background()
	batch := &dag.Batch[benchRec]{}
	for k := int64(0); k < snapshotKeys; k++ {
		batch.Append(benchRec{Key: k, Val: k}, k/1000)
		if batch.Len() == 1024 || k == snapshotKeys-1 {
			if err := op.ProcessBatch(ctx, 0, batch); err != nil {
				b.Fatal(err)
			}
			batch.Reset()
		}
	}
	var sync, async time.Duration
	var bytes int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		fn, err := op.(engine.Snapshotter).SnapshotState(ctx, engine.Barrier{ID: int64(i)})
		if err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		var w countingWriter
		if err := fn(&w); err != nil {
			b.Fatal(err)
		}
		sync += mid.Sub(start)
		async += time.Since(mid)
		bytes = w.n
	}
	b.ReportMetric(float64(sync.Microseconds())/1000/float64(b.N), "sync-ms")
	b.ReportMetric(float64(async.Microseconds())/1000/float64(b.N), "async-ms")
	b.ReportMetric(float64(bytes)/1e6, "MB")
}

func BenchmarkStateSnapshot(b *testing.B) {
	b.Run("process-value-1M", func(b *testing.B) {
		benchmarkSnapshot(b, benchOperator(b, func(s dag.Stream[benchRec]) dag.Stream[int64] {
			return dag.Process(dag.KeyBy(s, func(r benchRec) int64 { return r.Key }),
				func() dag.ProcessFunc[int64, benchRec, int64] { return &valueFn{} }, dag.Name("under-test"))
		}, &engine.OperatorContext{}))
	})
	b.Run("aggregate-1M", func(b *testing.B) {
		benchmarkSnapshot(b, benchOperator(b, func(s dag.Stream[benchRec]) dag.Stream[dag.KV[int64, int64]] {
			return dag.Aggregate(dag.KeyBy(s, func(r benchRec) int64 { return r.Key }), dag.Agg[benchRec, int64, int64]{
				Zero:   func() int64 { return 0 },
				Add:    func(a int64, r benchRec) int64 { return a + r.Val },
				Result: func(a int64) int64 { return a },
			}, dag.Name("under-test"))
		}, &engine.OperatorContext{}))
	})
	b.Run("tumbling-window-1M", func(b *testing.B) {
		benchmarkSnapshot(b, benchOperator(b, func(s dag.Stream[benchRec]) dag.Stream[dag.WindowResult[int64, int64]] {
			w := dag.Window(dag.KeyBy(s, func(r benchRec) int64 { return r.Key }), dag.Tumbling(time.Hour))
			return dag.WindowAggregate(w, dag.Agg[benchRec, int64, int64]{
				Zero:   func() int64 { return 0 },
				Add:    func(a int64, r benchRec) int64 { return a + r.Val },
				Merge:  func(a, c int64) int64 { return a + c },
				Result: func(a int64) int64 { return a },
			}, dag.Name("under-test"))
		}, &engine.OperatorContext{}))
	})
}
