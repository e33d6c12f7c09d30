package dag

import (
	"context"

	"github.com/dagflow/dagflow/dag/engine"
)

// CoProcessFunc is a keyed function of two inputs with state and timers,
// run by CoProcess. Both inputs are keyed by the same key type; records of
// either side with equal keys reach the same instance and share its keyed
// state. Each subtask gets its own instance (from the factory given to
// CoProcess), used by one goroutine only.
type CoProcessFunc[K comparable, L, R, O any] interface {
	// Open is called once before any record; declare state here with
	// NewValueState, NewListState, NewMapState and NewReducingState.
	Open(oc *ProcessOpenContext[K]) error
	// ProcessLeft handles one record of the left (first) input; ctx is
	// scoped to the record's key.
	ProcessLeft(ctx *ProcessContext[K, O], v L) error
	// ProcessRight handles one record of the right (second) input.
	ProcessRight(ctx *ProcessContext[K, O], v R) error
	// OnTimer handles a timer of ctx.Key() that fired.
	OnTimer(ctx *ProcessContext[K, O], t Timer) error
}

// CoProcess runs a CoProcessFunc on two keyed streams: the keyed
// two-input counterpart of Process, with the same state handles, the same
// event-time timers (they fire when the combined watermark of both inputs
// reaches them) and processing-time timers. newFn is called once per
// subtask. A bounded job ends with the watermark MaxTime, so every
// event-time timer fires.
//
// If the function also has a method Close() error, it is called when the
// operator closes.
func CoProcess[K comparable, L, R, O any](left Keyed[K, L], right Keyed[K, R], newFn func() CoProcessFunc[K, L, R, O], options ...Option) Stream[O] {
	return coProcess(left, right, "coprocess", newFn, options)
}

// Join is a regular (unwindowed) inner join of two keyed streams: for
// every left record l and right record r with the same key k it emits
// fn(k, l, r) exactly once, when the second of the two arrives, with that
// record's timestamp. Both sides are kept in keyed state for the life of
// the job, so state grows with the input; prefer WindowJoin, or a
// CoProcess that drops what can no longer match, when the data allows.
func Join[K comparable, L, R, O any](left Keyed[K, L], right Keyed[K, R], fn func(key K, l L, r R) O, options ...Option) Stream[O] {
	var newFn func() CoProcessFunc[K, L, R, O]
	if fn != nil {
		newFn = func() CoProcessFunc[K, L, R, O] { return &joinFunc[K, L, R, O]{fn: fn} }
	}
	return coProcess(left, right, "join", newFn, options)
}

func coProcess[K comparable, L, R, O any](left Keyed[K, L], right Keyed[K, R], kind vertexKind, newFn func() CoProcessFunc[K, L, R, O], options []Option) Stream[O] {
	if !left.s.valid(string(kind)) || !right.s.valid(string(kind)) {
		return Stream[O]{}
	}
	g := left.s.g
	o := collect(options)
	v := g.addVertex(kind, "", o)
	if right.s.g != g {
		g.errorf("%w: %s: the two inputs belong to different graphs", ErrInvalid, vertexLabel(v))
		return Stream[O]{}
	}
	if newFn == nil {
		g.errorf("%w: %s: nil function", ErrInvalid, vertexLabel(v))
	}
	addPort[O](g, v, "out", o.coder)
	connectKeyed(left, v, 0)
	connectKeyed(right, v, 1)
	keyL, keyR, hash := left.keyFn, right.keyFn, left.hash
	v.newOperator = func() engine.Operator {
		op := &coProcessOp[K, L, R, O]{keyR: keyR}
		op.processOp = processOp[K, L, O]{keyFn: keyL, hash: hash, newFn: func() ProcessFunc[K, L, O] {
			f := newFn()
			if f == nil {
				return nil // Open reports it
			}
			op.co = f
			return coLeft[K, L, R, O]{f: f}
		}}
		return op
	}
	return outStream[O](g, v, 0)
}

// coProcessOp is a processOp whose function is the left side of a
// CoProcessFunc; right records go to the same function, state and timers.
type coProcessOp[K comparable, L, R, O any] struct {
	processOp[K, L, O]
	keyR  func(R) K
	co    CoProcessFunc[K, L, R, O]
	ended [2]bool
}

func (op *coProcessOp[K, L, R, O]) ProcessBatch(ctx context.Context, input int, batch any) error {
	if input == 0 {
		return op.processOp.ProcessBatch(ctx, 0, batch)
	}
	in := batch.(*Batch[R])
	pc := &op.pc
	pc.goctx = ctx
	for i, v := range in.Vals {
		pc.key, pc.ts = op.keyR(v), in.TS[i]
		if err := op.co.ProcessRight(pc, v); err != nil {
			return err
		}
		if pc.err != nil {
			return pc.err
		}
	}
	return op.flush(ctx)
}

// EndInput fires the remaining event-time timers once both inputs ended,
// if they ended without the final watermark.
func (op *coProcessOp[K, L, R, O]) EndInput(ctx context.Context, input int) error {
	if input >= 0 && input < len(op.ended) {
		op.ended[input] = true
	}
	if !op.ended[0] || !op.ended[1] {
		return nil
	}
	return op.processOp.EndInput(ctx, input)
}

// coLeft adapts the left side of a CoProcessFunc to a ProcessFunc.
type coLeft[K comparable, L, R, O any] struct {
	f CoProcessFunc[K, L, R, O]
}

func (a coLeft[K, L, R, O]) Open(oc *ProcessOpenContext[K]) error { return a.f.Open(oc) }
func (a coLeft[K, L, R, O]) ProcessElement(ctx *ProcessContext[K, O], v L) error {
	return a.f.ProcessLeft(ctx, v)
}
func (a coLeft[K, L, R, O]) OnTimer(ctx *ProcessContext[K, O], t Timer) error {
	return a.f.OnTimer(ctx, t)
}

// Close forwards to the function's Close method, if it has one.
func (a coLeft[K, L, R, O]) Close() error {
	if c, ok := a.f.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}

// joinFunc keeps both sides in list state and emits every pair once.
type joinFunc[K comparable, L, R, O any] struct {
	fn     func(K, L, R) O
	lefts  *ListState[K, L]
	rights *ListState[K, R]
}

func (j *joinFunc[K, L, R, O]) Open(oc *ProcessOpenContext[K]) error {
	j.lefts = NewListState[L](oc, "left")
	j.rights = NewListState[R](oc, "right")
	return nil
}

func (j *joinFunc[K, L, R, O]) ProcessLeft(ctx *ProcessContext[K, O], l L) error {
	k := ctx.Key()
	for _, r := range j.rights.Get(ctx) {
		ctx.Emit(j.fn(k, l, r))
	}
	j.lefts.Add(ctx, l)
	return nil
}

func (j *joinFunc[K, L, R, O]) ProcessRight(ctx *ProcessContext[K, O], r R) error {
	k := ctx.Key()
	for _, l := range j.lefts.Get(ctx) {
		ctx.Emit(j.fn(k, l, r))
	}
	j.rights.Add(ctx, r)
	return nil
}

func (j *joinFunc[K, L, R, O]) OnTimer(*ProcessContext[K, O], Timer) error { return nil }
