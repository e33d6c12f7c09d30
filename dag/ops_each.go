package dag

import "github.com/dagflow/dagflow/dag/engine"

// FlatMapEach is FlatMap with one function per subtask: newFn is called
// when a subtask opens, and the function it returns is only ever called
// by that subtask, so it may keep scratch state (reused buffers, a row
// builder) across records without locking.
func FlatMapEach[I, O any](s Stream[I], newFn func() func(v I, emit func(O)), options ...Option) Stream[O] {
	if !s.valid("FlatMapEach") {
		return Stream[O]{}
	}
	o := collect(options)
	v := s.g.addVertex("flatmap", "", o)
	if newFn == nil {
		s.g.errorf("%w: %s: nil function", ErrInvalid, vertexLabel(v))
	}
	v.newOperator = func() engine.Operator { return &flatMapOp[I, O]{fn: newFn()} }
	addPort[O](s.g, v, "out", o.coder)
	connectAll(s, v, 0, nil)
	return outStream[O](s.g, v, 0)
}
