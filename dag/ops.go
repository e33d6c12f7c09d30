package dag

import (
	"context"

	"github.com/dagflow/dagflow/dag/engine"
)

func outStream[T any](g *Graph, v *vertex, port int) Stream[T] {
	return Stream[T]{g: g, srcs: []streamSrc{{v: v, port: port}}}
}

// connectAll connects every producer of s to input of v.
func connectAll[T any](s Stream[T], v *vertex, input int, keyHash any) {
	for _, src := range s.srcs {
		s.g.connect(src, s.props, v, input, keyHash)
	}
}

// connectKeyed connects k's producers to v through a Hash edge.
func connectKeyed[K comparable, T any](k Keyed[K, T], v *vertex, input int) {
	s := k.s
	if s.props.part != DefaultPartitioner && s.props.part != Hash {
		s.g.errorf("%w: %s: a keyed input cannot use the %s partitioner", ErrInvalid, vertexLabel(v), s.props.part)
	}
	s.props.part = Hash
	connectAll(s, v, input, k.recordHash())
	v.keyed = true
}

// FromSource adds a source vertex reading src. A watermark strategy
// assigns event time; without one records keep the timestamps the source
// set and the watermark stays at MinTime until the final watermark.
func FromSource[T any](g *Graph, name string, src Source[T], wm *WatermarkStrategy[T], options ...Option) Stream[T] {
	o := collect(options)
	if o.name == "" {
		o.name = name
	}
	v := g.addVertex("source", name, o)
	if src == nil {
		g.errorf("%w: %s: nil source", ErrInvalid, vertexLabel(v))
		return Stream[T]{}
	}
	var strategy WatermarkStrategy[T]
	if wm != nil {
		strategy = *wm
	}
	v.bounded = src.Bounded()
	v.source = &sourceVertex[T]{src: src, wm: strategy}
	addPort[T](g, v, "out", o.coder)
	return outStream[T](g, v, 0)
}

// Map applies fn to every record.
func Map[I, O any](s Stream[I], fn func(I) O, options ...Option) Stream[O] {
	if !s.valid("Map") {
		return Stream[O]{}
	}
	o := collect(options)
	v := s.g.addVertex("map", "", o)
	if fn == nil {
		s.g.errorf("%w: %s: nil function", ErrInvalid, vertexLabel(v))
	}
	v.newOperator = func() engine.Operator { return &mapOp[I, O]{fn: fn} }
	addPort[O](s.g, v, "out", o.coder)
	connectAll(s, v, 0, nil)
	return outStream[O](s.g, v, 0)
}

// FlatMap calls fn for every record; fn emits any number of outputs.
func FlatMap[I, O any](s Stream[I], fn func(v I, emit func(O)), options ...Option) Stream[O] {
	if !s.valid("FlatMap") {
		return Stream[O]{}
	}
	o := collect(options)
	v := s.g.addVertex("flatmap", "", o)
	if fn == nil {
		s.g.errorf("%w: %s: nil function", ErrInvalid, vertexLabel(v))
	}
	v.newOperator = func() engine.Operator { return &flatMapOp[I, O]{fn: fn} }
	addPort[O](s.g, v, "out", o.coder)
	connectAll(s, v, 0, nil)
	return outStream[O](s.g, v, 0)
}

// Filter keeps the records for which keep returns true.
func Filter[T any](s Stream[T], keep func(T) bool, options ...Option) Stream[T] {
	if !s.valid("Filter") {
		return Stream[T]{}
	}
	o := collect(options)
	v := s.g.addVertex("filter", "", o)
	if keep == nil {
		s.g.errorf("%w: %s: nil function", ErrInvalid, vertexLabel(v))
	}
	v.newOperator = func() engine.Operator { return &filterOp[T]{keep: keep} }
	addPort[T](s.g, v, "out", o.coder)
	connectAll(s, v, 0, nil)
	return outStream[T](s.g, v, 0)
}

// WithTimestamps assigns event timestamps to records and generates
// watermarks from them (bounded out-of-orderness) after the source, for
// sources that cannot do it themselves. Prefer a strategy on FromSource,
// which tracks watermarks per split.
func WithTimestamps[T any](s Stream[T], strategy WatermarkStrategy[T], options ...Option) Stream[T] {
	if !s.valid("WithTimestamps") {
		return Stream[T]{}
	}
	o := collect(options)
	v := s.g.addVertex("timestamps", "", o)
	if strategy.Timestamp == nil {
		s.g.errorf("%w: %s: watermark strategy without a Timestamp function", ErrInvalid, vertexLabel(v))
	}
	v.newOperator = func() engine.Operator { return &timestampOp[T]{st: strategy} }
	addPort[T](s.g, v, "out", o.coder)
	connectAll(s, v, 0, nil)
	return outStream[T](s.g, v, 0)
}

// SinkHandle refers to a sink vertex.
type SinkHandle struct {
	g *Graph
	v *vertex
}

// ID returns the sink's vertex id (for metrics lookups).
func (h SinkHandle) ID() int {
	if h.v == nil {
		return -1
	}
	return h.v.id
}

type sinkInfo struct {
	committer Committer
}

// ToSink ends s in sink.
func ToSink[T any](s Stream[T], name string, sink Sink[T], options ...Option) SinkHandle {
	if !s.valid("Sink") {
		return SinkHandle{}
	}
	o := collect(options)
	if o.name == "" {
		o.name = name
	}
	v := s.g.addVertex("sink", name, o)
	if sink == nil {
		s.g.errorf("%w: %s: nil sink", ErrInvalid, vertexLabel(v))
		return SinkHandle{g: s.g, v: v}
	}
	v.sinkInfo = &sinkInfo{committer: sink.Committer()}
	v.newOperator = func() engine.Operator { return &sinkOp[T]{sink: sink} }
	connectAll(s, v, 0, nil)
	return SinkHandle{g: s.g, v: v}
}

// mapOp applies a function per record.
type mapOp[I, O any] struct {
	fn  func(I) O
	oc  *engine.OperatorContext
	out Batch[O]
}

func (op *mapOp[I, O]) Open(_ context.Context, oc *engine.OperatorContext) error {
	op.oc = oc
	return nil
}

func (op *mapOp[I, O]) ProcessBatch(ctx context.Context, _ int, batch any) error {
	in := batch.(*Batch[I])
	op.out.Reset()
	for _, v := range in.Vals {
		op.out.Vals = append(op.out.Vals, op.fn(v))
	}
	op.out.TS = append(op.out.TS, in.TS...)
	return op.oc.Outputs[0].Emit(ctx, &op.out)
}

func (op *mapOp[I, O]) ProcessWatermark(ctx context.Context, wm int64) error {
	return op.oc.Outputs[0].EmitWatermark(ctx, wm)
}
func (op *mapOp[I, O]) EndInput(context.Context, int) error { return nil }
func (op *mapOp[I, O]) Close() error                        { return nil }

// flatMapOp calls a function that emits any number of records.
type flatMapOp[I, O any] struct {
	fn   func(I, func(O))
	oc   *engine.OperatorContext
	out  Batch[O]
	ts   int64
	emit func(O)
}

func (op *flatMapOp[I, O]) Open(_ context.Context, oc *engine.OperatorContext) error {
	op.oc = oc
	op.emit = func(v O) {
		op.out.Vals = append(op.out.Vals, v)
		op.out.TS = append(op.out.TS, op.ts)
	}
	return nil
}

func (op *flatMapOp[I, O]) ProcessBatch(ctx context.Context, _ int, batch any) error {
	in := batch.(*Batch[I])
	op.out.Reset()
	limit := op.oc.BatchSize
	for i, v := range in.Vals {
		op.ts = in.TS[i]
		op.fn(v, op.emit)
		if len(op.out.Vals) >= limit {
			if err := op.oc.Outputs[0].Emit(ctx, &op.out); err != nil {
				return err
			}
			op.out.Reset()
		}
	}
	if len(op.out.Vals) == 0 {
		return nil
	}
	return op.oc.Outputs[0].Emit(ctx, &op.out)
}

func (op *flatMapOp[I, O]) ProcessWatermark(ctx context.Context, wm int64) error {
	return op.oc.Outputs[0].EmitWatermark(ctx, wm)
}
func (op *flatMapOp[I, O]) EndInput(context.Context, int) error { return nil }
func (op *flatMapOp[I, O]) Close() error                        { return nil }

// filterOp keeps matching records.
type filterOp[T any] struct {
	keep func(T) bool
	oc   *engine.OperatorContext
	out  Batch[T]
}

func (op *filterOp[T]) Open(_ context.Context, oc *engine.OperatorContext) error {
	op.oc = oc
	return nil
}

func (op *filterOp[T]) ProcessBatch(ctx context.Context, _ int, batch any) error {
	in := batch.(*Batch[T])
	op.out.Reset()
	for i, v := range in.Vals {
		if op.keep(v) {
			op.out.Vals = append(op.out.Vals, v)
			op.out.TS = append(op.out.TS, in.TS[i])
		}
	}
	if len(op.out.Vals) == 0 {
		return nil
	}
	return op.oc.Outputs[0].Emit(ctx, &op.out)
}

func (op *filterOp[T]) ProcessWatermark(ctx context.Context, wm int64) error {
	return op.oc.Outputs[0].EmitWatermark(ctx, wm)
}
func (op *filterOp[T]) EndInput(context.Context, int) error { return nil }
func (op *filterOp[T]) Close() error                        { return nil }

// timestampOp assigns timestamps and generates watermarks.
type timestampOp[T any] struct {
	st    WatermarkStrategy[T]
	oc    *engine.OperatorContext
	out   Batch[T]
	maxTS int64
	wm    int64
}

func (op *timestampOp[T]) Open(_ context.Context, oc *engine.OperatorContext) error {
	op.oc, op.maxTS, op.wm = oc, MinTime, MinTime
	return nil
}

func (op *timestampOp[T]) ProcessBatch(ctx context.Context, _ int, batch any) error {
	in := batch.(*Batch[T])
	op.out.Reset()
	op.out.Vals = append(op.out.Vals, in.Vals...)
	for _, v := range in.Vals {
		ts := op.st.Timestamp(v)
		op.out.TS = append(op.out.TS, ts)
		if ts > op.maxTS {
			op.maxTS = ts
		}
	}
	if err := op.oc.Outputs[0].Emit(ctx, &op.out); err != nil {
		return err
	}
	if wm := boundedWatermark(op.maxTS, op.st.OutOfOrderness.Milliseconds()); wm > op.wm {
		op.wm = wm
		return op.oc.Outputs[0].EmitWatermark(ctx, wm)
	}
	return nil
}

func (op *timestampOp[T]) ProcessWatermark(ctx context.Context, wm int64) error {
	if wm == MaxTime && op.wm < MaxTime { // the end of a bounded input
		op.wm = MaxTime
		return op.oc.Outputs[0].EmitWatermark(ctx, wm)
	}
	return nil
}
func (op *timestampOp[T]) EndInput(context.Context, int) error { return nil }
func (op *timestampOp[T]) Close() error                        { return nil }

// boundedWatermark is maxTS - outOfOrderness - 1 without overflow.
func boundedWatermark(maxTS, ooo int64) int64 {
	if maxTS == MinTime || maxTS < MinTime+ooo+1 {
		return MinTime
	}
	return maxTS - ooo - 1
}

// sinkOp runs a SinkWriter.
type sinkOp[T any] struct {
	sink Sink[T]
	w    SinkWriter[T]
	oc   *engine.OperatorContext
}

func (op *sinkOp[T]) Open(ctx context.Context, oc *engine.OperatorContext) error {
	op.oc = oc
	w, err := op.sink.NewWriter(ctx, SinkContext{Job: oc.Job, Subtask: oc.Subtask, Parallelism: oc.Parallelism, Attempt: oc.Attempt})
	if err != nil {
		return err
	}
	op.w = w
	return nil
}

func (op *sinkOp[T]) ProcessBatch(ctx context.Context, _ int, batch any) error {
	return op.w.Write(ctx, batch.(*Batch[T]))
}

func (op *sinkOp[T]) ProcessWatermark(ctx context.Context, wm int64) error {
	if w, ok := op.w.(WatermarkSinkWriter); ok {
		return w.WriteWatermark(ctx, wm)
	}
	return nil
}

func (op *sinkOp[T]) EndInput(context.Context, int) error { return nil }

// SnapshotState implements engine.Snapshotter: the writer's state (if it keeps
// any) is operator state, handed to every writer on restore.
func (op *sinkOp[T]) SnapshotState(ctx context.Context, _ engine.Barrier) (engine.SnapshotFunc, error) {
	sw, ok := op.w.(StatefulSinkWriter)
	if !ok {
		return nil, nil
	}
	data, err := sw.SnapshotState(ctx)
	if err != nil {
		return nil, err
	}
	return func(w engine.StateWriter) error { return w.Operator(data) }, nil
}

// RestoreState implements engine.Snapshotter.
func (op *sinkOp[T]) RestoreState(ctx context.Context, st *engine.RestoredState) error {
	sw, ok := op.w.(StatefulSinkWriter)
	if !ok {
		return nil
	}
	return sw.RestoreState(ctx, st.Operator)
}

// CheckpointComplete implements CheckpointListener.
func (op *sinkOp[T]) CheckpointComplete(ctx context.Context, id int64) error {
	if l, ok := op.w.(CheckpointListener); ok {
		return l.CheckpointComplete(ctx, id)
	}
	return nil
}

func (op *sinkOp[T]) Prepare(ctx context.Context) ([][]byte, error) { return op.w.Prepare(ctx) }

func (op *sinkOp[T]) Abort(ctx context.Context) error {
	if op.w == nil {
		return nil
	}
	return op.w.Abort(ctx)
}

func (op *sinkOp[T]) Close() error {
	if op.w == nil {
		return nil
	}
	return op.w.Close()
}
