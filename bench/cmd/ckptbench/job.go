package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/io/datagen"
)

// event is one generated record: a user key, a value and (in the record's
// timestamp) its event time.
type event struct {
	Key string
	V   int64
}

var eventCoder = dag.CoderFunc(
	func(dst []byte, e event) []byte {
		dst = binary.AppendUvarint(dst, uint64(len(e.Key)))
		dst = append(dst, e.Key...)
		return binary.AppendVarint(dst, e.V)
	},
	func(src []byte) (event, int, error) {
		n, k := binary.Uvarint(src)
		if k <= 0 || uint64(len(src)-k) < n {
			return event{}, 0, fmt.Errorf("%w: event key of %d bytes", dag.ErrCorruptRecord, len(src))
		}
		key := string(src[k : k+int(n)])
		off := k + int(n)
		v, m := binary.Varint(src[off:])
		if m <= 0 {
			return event{}, 0, fmt.Errorf("%w: event value", dag.ErrCorruptRecord)
		}
		return event{Key: key, V: v}, off + m, nil
	})

// keyNames returns n distinct user keys ("user-0000042").
func keyNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("user-%07d", i)
	}
	return out
}

// stateJobConfig describes the job of the file-merging and NameNode
// figures.
type stateJobConfig struct {
	parallelism, maxParallelism int
	keys                        int
	rate                        float64 // records per second, whole job
	ckpt                        dag.CheckpointConfig
}

// enrich is the first stateful operator: per key a count (ValueState) and
// sums by value bucket (MapState with up to 4 entries).
type enrich struct {
	count   *dag.ValueState[string, int64]
	buckets *dag.MapState[string, int64, int64]
}

func (e *enrich) Open(oc *dag.ProcessOpenContext[string]) error {
	e.count = dag.NewValueState[int64](oc, "count")
	e.buckets = dag.NewMapState[int64, int64](oc, "buckets")
	return nil
}

func (e *enrich) ProcessElement(ctx *dag.ProcessContext[string, event], v event) error {
	n, _ := e.count.Get(ctx)
	e.count.Set(ctx, n+1)
	b := v.V & 3
	s, _ := e.buckets.Get(ctx, b)
	e.buckets.Put(ctx, b, s+v.V)
	ctx.Emit(v)
	return nil
}

func (e *enrich) OnTimer(*dag.ProcessContext[string, event], dag.Timer) error { return nil }

var sumAgg = dag.Agg[event, int64, int64]{
	Zero:   func() int64 { return 0 },
	Add:    func(a int64, e event) int64 { return a + e.V },
	Result: func(a int64) int64 { return a },
}

type stats struct{ N, Sum int64 }

// MarshalBinary implements encoding.BinaryMarshaler (the state and
// exchange coder of stats).
func (s stats) MarshalBinary() ([]byte, error) {
	return binary.AppendVarint(binary.AppendVarint(nil, s.N), s.Sum), nil
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler.
func (s *stats) UnmarshalBinary(b []byte) error {
	n, i := binary.Varint(b)
	if i <= 0 {
		return fmt.Errorf("%w: stats count", dag.ErrCorruptRecord)
	}
	sum, j := binary.Varint(b[i:])
	if j <= 0 || i+j != len(b) {
		return fmt.Errorf("%w: stats sum", dag.ErrCorruptRecord)
	}
	s.N, s.Sum = n, sum
	return nil
}

// stateJob builds
//
//	datagen → keyBy → process "enrich" (ValueState + MapState)
//	        → keyBy → 1 s tumbling window sum "window"
//	        → keyBy → aggregate "totals" (count and sum of window sums) → discard
//
// three keyed stateful operators, each with parallelism p. Keyed
// operators always start a task (their input is a hash exchange, and only
// forward edges chain), so each slot runs one subtask of each: 3 stateful
// operator instances per slot, 3p in the job. Event time advances with the
// record index at the configured rate.
func stateJob(cfg stateJobConfig) *dag.Graph {
	g := dag.New("ckptbench-state", dag.Config{Parallelism: cfg.parallelism, MaxParallelism: cfg.maxParallelism,
		Mode: dag.StreamingMode, Checkpoint: cfg.ckpt})
	keys := keyNames(cfg.keys)
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	rate := cfg.rate
	src := datagen.New(func(i int64, rnd *rand.Rand) event {
		return event{Key: keys[rnd.IntN(len(keys))], V: rnd.Int64N(1000)}
	}, datagen.Rate(rate), datagen.Timestamps(func(i int64, _ event) int64 { return base + int64(float64(i)*1000/rate) }))
	evs := dag.FromSource(g, "events", src, &dag.WatermarkStrategy[event]{}, dag.WithCoder(eventCoder))
	byKey := func(e event) string { return e.Key }
	enriched := dag.Process(dag.KeyBy(evs, byKey), func() dag.ProcessFunc[string, event, event] { return &enrich{} },
		dag.Name("enrich"), dag.WithCoder(eventCoder))
	sums := dag.WindowAggregate(dag.Window(dag.KeyBy(enriched, byKey), dag.Tumbling(time.Second)), sumAgg, dag.Name("window"))
	totals := dag.Aggregate(dag.KeyBy(sums, func(r dag.WindowResult[string, int64]) string { return r.Key }),
		dag.Agg[dag.WindowResult[string, int64], stats, stats]{
			Zero:   func() stats { return stats{} },
			Add:    func(a stats, r dag.WindowResult[string, int64]) stats { return stats{N: a.N + 1, Sum: a.Sum + r.Value} },
			Result: func(a stats) stats { return a },
		}, dag.Name("totals"))
	dag.ToSink(totals, "discard", discard[dag.KV[string, stats]]{})
	return g
}

// planShape describes where a plan's keyed (stateful) operators run.
type planShape struct {
	tasks          int
	keyedPerTask   []int // keyed vertices of each task
	keyedPerSlot   int   // keyed vertices over all tasks (a slot runs one subtask of each)
	keyedInstances int   // keyed operator instances in the job
}

func shapeOf(p *dag.Plan) planShape {
	s := planShape{tasks: len(p.Tasks), keyedPerTask: make([]int, len(p.Tasks))}
	for _, v := range p.Vertices {
		if v.Keyed {
			s.keyedPerTask[v.Task]++
			s.keyedPerSlot++
			s.keyedInstances += v.Parallelism
		}
	}
	return s
}

// aggJob builds the keyed aggregation of the overhead figure: an
// unbounded datagen source of (key, value) pairs → keyBy → sum per key
// (with local pre-aggregation) → discard, in streaming mode.
func aggJob(par, keys int, ckpt dag.CheckpointConfig) *dag.Graph {
	g := dag.New("ckptbench-agg", dag.Config{Parallelism: par, Mode: dag.StreamingMode, Checkpoint: ckpt})
	src := datagen.New(func(_ int64, rnd *rand.Rand) dag.KV[uint64, int64] {
		return dag.KV[uint64, int64]{Key: rnd.Uint64N(uint64(keys)), Value: rnd.Int64N(1000)}
	})
	kvs := dag.FromSource(g, "pairs", src, nil)
	sums := dag.Aggregate(dag.KeyBy(kvs, func(kv dag.KV[uint64, int64]) uint64 { return kv.Key }),
		dag.Agg[dag.KV[uint64, int64], int64, int64]{
			Zero:   func() int64 { return 0 },
			Add:    func(a int64, kv dag.KV[uint64, int64]) int64 { return a + kv.Value },
			Merge:  func(a, b int64) int64 { return a + b },
			Result: func(a int64) int64 { return a },
		}, dag.Name("sum"))
	dag.ToSink(sums, "discard", discard[dag.KV[uint64, int64]]{})
	return g
}

// discard is a sink that drops records; the engine counts them.
type discard[T any] struct{}

func (discard[T]) NewWriter(context.Context, dag.SinkContext) (dag.SinkWriter[T], error) {
	return discard[T]{}, nil
}
func (discard[T]) Committer() dag.Committer                   { return nil }
func (discard[T]) Write(context.Context, *dag.Batch[T]) error { return nil }
func (discard[T]) Prepare(context.Context) ([][]byte, error)  { return nil, nil }
func (discard[T]) Abort(context.Context) error                { return nil }
func (discard[T]) Close() error                               { return nil }
