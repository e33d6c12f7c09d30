package dag

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dagflow/dagflow/dag/engine"
)

// ProcessFunc is a keyed function with state and timers, run by Process.
// Each subtask of the operator gets its own instance (from the factory
// given to Process), so an instance is used by one goroutine only.
type ProcessFunc[K comparable, T, O any] interface {
	// Open is called once before any record; declare state here with
	// NewValueState, NewListState, NewMapState and NewReducingState.
	Open(oc *ProcessOpenContext[K]) error
	// ProcessElement handles one record; ctx is scoped to the record's key.
	ProcessElement(ctx *ProcessContext[K, O], v T) error
	// OnTimer handles a timer of ctx.Key() that fired.
	OnTimer(ctx *ProcessContext[K, O], t Timer) error
}

// Process runs a ProcessFunc on every record of k. newFn is called once
// per subtask. The function may keep state per key, emit any number of
// records, and register event-time timers (they fire in timestamp order
// when the watermark reaches them, before the watermark is forwarded) and
// processing-time timers (when the wall clock reaches them). A bounded
// input ends with the watermark MaxTime, so every event-time timer fires.
//
// If the function also has a method Close() error, it is called when the
// operator closes.
func Process[K comparable, T, O any](k Keyed[K, T], newFn func() ProcessFunc[K, T, O], options ...Option) Stream[O] {
	s := k.s
	if !s.valid("Process") {
		return Stream[O]{}
	}
	o := collect(options)
	v := s.g.addVertex("process", "", o)
	if newFn == nil {
		s.g.errorf("%w: %s: nil function", ErrInvalid, vertexLabel(v))
	}
	keyFn, hash := k.keyFn, k.hash
	v.newOperator = func() engine.Operator {
		return &processOp[K, T, O]{keyFn: keyFn, hash: hash, newFn: newFn}
	}
	addPort[O](s.g, v, "out", o.coder)
	connectKeyed(k, v, 0)
	return outStream[O](s.g, v, 0)
}

// ProcessFuncOf returns a ProcessFunc factory for a function that needs
// neither state nor timers.
func ProcessFuncOf[K comparable, T, O any](fn func(ctx *ProcessContext[K, O], v T) error) func() ProcessFunc[K, T, O] {
	if fn == nil {
		return nil
	}
	return func() ProcessFunc[K, T, O] { return processFuncOf[K, T, O]{fn: fn} }
}

type processFuncOf[K comparable, T, O any] struct {
	fn func(*ProcessContext[K, O], T) error
}

func (f processFuncOf[K, T, O]) Open(*ProcessOpenContext[K]) error { return nil }
func (f processFuncOf[K, T, O]) ProcessElement(ctx *ProcessContext[K, O], v T) error {
	return f.fn(ctx, v)
}
func (f processFuncOf[K, T, O]) OnTimer(*ProcessContext[K, O], Timer) error {
	return errors.New("dag: a function from ProcessFuncOf registered a timer; implement ProcessFunc to handle timers")
}

// ProcessOpenContext is passed to ProcessFunc.Open.
type ProcessOpenContext[K comparable] struct {
	oc  *engine.OperatorContext
	reg *stateRegistry[K]
}

// Name returns the operator's name.
func (c *ProcessOpenContext[K]) Name() string { return c.oc.Name }

// Subtask returns the index of this subtask.
func (c *ProcessOpenContext[K]) Subtask() int { return c.oc.Subtask }

// Parallelism returns the operator's parallelism.
func (c *ProcessOpenContext[K]) Parallelism() int { return c.oc.Parallelism }

// MaxParallelism returns the job's number of key groups.
func (c *ProcessOpenContext[K]) MaxParallelism() int { return c.oc.MaxParallelism }

// ProcessContext is passed to ProcessFunc for each record and timer. It is
// scoped to the current key and only valid during the call.
type ProcessContext[K comparable, O any] struct {
	key     K
	ts      int64
	wm      int64
	procNow int64 // the time of the processing-time timers firing
	inProc  bool  // a processing-time timer is firing
	nowFn   func() int64
	goctx   context.Context
	out     *bufferedOut[O]
	err     error // first output error
	event   *timerQueue[K]
	proc    *timerQueue[K]
}

// Key returns the current key.
func (c *ProcessContext[K, O]) Key() K { return c.key }

// Timestamp returns the timestamp of the current record, or the time of
// the firing timer.
func (c *ProcessContext[K, O]) Timestamp() int64 { return c.ts }

// Watermark returns the current watermark (MinTime before the first one).
// While event-time timers fire it is the watermark that made them due.
func (c *ProcessContext[K, O]) Watermark() int64 { return c.wm }

// ProcessingTime returns the current processing time in Unix ms.
func (c *ProcessContext[K, O]) ProcessingTime() int64 {
	if c.inProc {
		return c.procNow
	}
	return c.nowFn()
}

// Context returns the context of the current call, for I/O the function
// does.
func (c *ProcessContext[K, O]) Context() context.Context { return c.goctx }

// Emit emits o with the current timestamp (see Timestamp).
func (c *ProcessContext[K, O]) Emit(o O) { c.EmitAt(o, c.ts) }

// EmitAt emits o with timestamp ts. Output is batched; an output error
// fails the operator when the current call returns.
func (c *ProcessContext[K, O]) EmitAt(o O, ts int64) {
	if c.err != nil {
		return
	}
	c.err = c.out.add(c.goctx, o, ts)
}

// RegisterEventTimer makes OnTimer fire for the current key when the
// watermark reaches ts. Registering an existing timer does nothing.
func (c *ProcessContext[K, O]) RegisterEventTimer(ts int64) { c.event.register(c.key, ts) }

// DeleteEventTimer deletes the current key's event-time timer at ts.
func (c *ProcessContext[K, O]) DeleteEventTimer(ts int64) { c.event.remove(c.key, ts) }

// RegisterProcessingTimer makes OnTimer fire for the current key when the
// processing time reaches ts. Registering an existing timer does nothing.
func (c *ProcessContext[K, O]) RegisterProcessingTimer(ts int64) { c.proc.register(c.key, ts) }

// DeleteProcessingTimer deletes the current key's processing-time timer
// at ts.
func (c *ProcessContext[K, O]) DeleteProcessingTimer(ts int64) { c.proc.remove(c.key, ts) }

// processOp runs a ProcessFunc with its keyed state and timers.
type processOp[K comparable, T, O any] struct {
	keyFn func(T) K
	hash  func(K) uint64
	newFn func() ProcessFunc[K, T, O]

	oc    *engine.OperatorContext
	fn    ProcessFunc[K, T, O]
	reg   *stateRegistry[K]
	event timerQueue[K]
	proc  timerQueue[K]
	out   bufferedOut[O]
	pc    ProcessContext[K, O]
	kv    *kvShared // the Pebble backend's store; nil on the heap
}

func (op *processOp[K, T, O]) Open(ctx context.Context, oc *engine.OperatorContext) error {
	op.oc = oc
	op.fn = op.newFn()
	if op.fn == nil {
		return fmt.Errorf("dag: %s: the process function factory returned nil", oc.Name)
	}
	op.reg = newStateRegistry(op.hash, oc.MaxParallelism)
	if oc.KeyedStore != nil {
		if op.reg.kc = CoderFor[K](); op.reg.kc == nil {
			return fmt.Errorf("%w: %s: the key type %v has no coder, which the Pebble state backend needs", ErrInvalid, oc.Name, typeOf[K]())
		}
		store, err := oc.KeyedStore()
		if err != nil {
			return fmt.Errorf("dag: %s: opening the keyed state store: %w", oc.Name, err)
		}
		if store == nil {
			return fmt.Errorf("dag: %s: the keyed state store is nil", oc.Name)
		}
		op.kv = &kvShared{store: store}
		op.reg.store = op.kv
	}
	op.event.init()
	op.proc.init()
	op.out.init(oc.Outputs[0], oc.BatchSize)
	now := oc.Now
	if now == nil {
		now = func() int64 { return time.Now().UnixMilli() }
	}
	op.pc = ProcessContext[K, O]{wm: MinTime, nowFn: now, goctx: ctx, out: &op.out, event: &op.event, proc: &op.proc}
	if err := op.fn.Open(&ProcessOpenContext[K]{oc: oc, reg: op.reg}); err != nil {
		return err
	}
	if len(op.reg.errs) > 0 {
		return fmt.Errorf("%w: %s: %w", ErrInvalid, oc.Name, errors.Join(op.reg.errs...))
	}
	return nil
}

func (op *processOp[K, T, O]) ProcessBatch(ctx context.Context, _ int, batch any) error {
	in := batch.(*Batch[T])
	pc := &op.pc
	pc.goctx = ctx
	for i, v := range in.Vals {
		pc.key, pc.ts = op.keyFn(v), in.TS[i]
		if err := op.fn.ProcessElement(pc, v); err != nil {
			return err
		}
		if pc.err != nil {
			return pc.err
		}
	}
	return op.flush(ctx)
}

func (op *processOp[K, T, O]) flush(ctx context.Context) error {
	if op.pc.err != nil {
		return op.pc.err
	}
	if op.kv != nil && op.kv.err != nil {
		return fmt.Errorf("dag: %s: %w", op.oc.Name, op.kv.err)
	}
	return op.out.flush(ctx)
}

// advance fires the event-time timers due at wm, including those that
// timers register at or before wm.
func (op *processOp[K, T, O]) advance(ctx context.Context, wm int64) error {
	pc := &op.pc
	pc.goctx, pc.wm = ctx, wm
	for {
		e, ok := op.event.popDue(wm, ^uint64(0))
		if !ok {
			break
		}
		pc.key, pc.ts = e.key, e.ts
		if err := op.fn.OnTimer(pc, Timer{Timestamp: e.ts, Domain: EventTime}); err != nil {
			return err
		}
		if pc.err != nil {
			return pc.err
		}
	}
	return op.flush(ctx)
}

func (op *processOp[K, T, O]) ProcessWatermark(ctx context.Context, wm int64) error {
	if wm <= op.pc.wm {
		return nil
	}
	if err := op.advance(ctx, wm); err != nil {
		return err
	}
	return op.oc.Outputs[0].EmitWatermark(ctx, wm)
}

// NextProcessingTimer implements engine.ProcessingTimeOperator.
func (op *processOp[K, T, O]) NextProcessingTimer() int64 { return op.proc.next() }

// OnProcessingTime implements engine.ProcessingTimeOperator: it fires the
// processing-time timers due at now in time order. Timers registered
// while they fire wait for the next call, even when already due.
func (op *processOp[K, T, O]) OnProcessingTime(ctx context.Context, now int64) error {
	pc := &op.pc
	pc.goctx, pc.inProc, pc.procNow = ctx, true, now
	defer func() { pc.inProc = false }()
	maxSeq := op.proc.seq
	for {
		e, ok := op.proc.popDue(now, maxSeq)
		if !ok {
			break
		}
		pc.key, pc.ts = e.key, e.ts
		if err := op.fn.OnTimer(pc, Timer{Timestamp: e.ts, Domain: ProcessingTime}); err != nil {
			return err
		}
		if pc.err != nil {
			return pc.err
		}
	}
	return op.flush(ctx)
}

// EndInput fires the remaining event-time timers if the input ended
// without the final watermark.
func (op *processOp[K, T, O]) EndInput(ctx context.Context, _ int) error {
	if op.pc.wm == MaxTime {
		return nil
	}
	return op.advance(ctx, MaxTime)
}

func (op *processOp[K, T, O]) Close() error {
	if c, ok := op.fn.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}

// SnapshotState implements engine.Snapshotter. With the heap backend it captures
// every declared state (shallow clones, see the notes in state.go) and the
// timers; with the Pebble backend the engine snapshots the store and only
// the timers are captured. Keyed state goes to key groups, the watermark
// to operator state.
func (op *processOp[K, T, O]) SnapshotState(_ context.Context, _ engine.Barrier) (engine.SnapshotFunc, error) {
	sc := newSnapCtx(op.oc.Name, op.hash, op.oc.MaxParallelism)
	var fns []func(*keyedSnapshot) error
	add := func(fn func(*keyedSnapshot) error, err error) error {
		if fn != nil {
			fns = append(fns, fn)
		}
		return err
	}
	for _, s := range op.reg.states {
		if err := add(s.capture(sc)); err != nil {
			return nil, err
		}
	}
	if err := add(captureTimers(sc, secEventTimers, &op.event)); err != nil {
		return nil, err
	}
	if err := add(captureTimers(sc, secProcTimers, &op.proc)); err != nil {
		return nil, err
	}
	wm := op.pc.wm
	return func(w engine.StateWriter) error {
		ks := newKeyedSnapshot(sc.maxPar)
		for _, fn := range fns {
			if err := fn(ks); err != nil {
				return err
			}
		}
		if err := ks.writeTo(w); err != nil {
			return fmt.Errorf("dag: %s: %w", sc.opName, err)
		}
		return w.Operator(watermarkBlob(wm))
	}, nil
}

// RestoreState implements engine.Snapshotter: it loads the declared states (into
// the store with the Pebble backend, when the checkpoint was taken on the
// heap), the timers and the minimum watermark of the previous subtasks.
func (op *processOp[K, T, O]) RestoreState(_ context.Context, st *engine.RestoredState) error {
	sc := newSnapCtx(op.oc.Name, op.hash, op.oc.MaxParallelism)
	allow := st != nil && st.AllowNonRestored
	event, proc := &timerRestorer[K]{sc: sc}, &timerRestorer[K]{sc: sc}
	h := map[string]sectionHandler{secEventTimers: event.handler(), secProcTimers: proc.handler()}
	for _, s := range op.reg.states {
		s := s
		h[s.stateName()] = sectionHandler{kind: s.stateKind(), restore: func(sec section) error { return s.restore(sc, sec) }}
	}
	if err := restoreSections(sc.opName, keyGroupBlobs(st), h, allow); err != nil {
		return err
	}
	if op.kv != nil && op.kv.err != nil {
		return fmt.Errorf("dag: %s: restoring state: %w", sc.opName, op.kv.err)
	}
	event.apply(&op.event)
	proc.apply(&op.proc)
	wm, err := restoredWatermark(sc.opName, st, nil, allow)
	if err != nil {
		return err
	}
	op.pc.wm = wm
	return nil
}
