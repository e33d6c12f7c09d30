package dag

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"time"

	"github.com/dagflow/dagflow/dag/engine"
)

// Windowed is a keyed stream cut into event-time windows, waiting for an
// aggregation (WindowAggregate or WindowReduce).
type Windowed[K comparable, T any] struct {
	k        Keyed[K, T]
	a        WindowAssigner
	lateness int64
	optErr   error
	v        *vertex // the window vertex of the most recent aggregation
}

// WindowOption configures Window.
type WindowOption func(*windowOpts)

type windowOpts struct {
	lateness int64
	err      error
}

// AllowedLateness keeps the state of each window for d after it fired
// (after the watermark passed its end): records arriving that late are
// still added and the window fires again with the updated result. Records
// later than that go to the late side output (Windowed.Late) or are
// counted as dropped. The default is 0.
func AllowedLateness(d time.Duration) WindowOption {
	return func(o *windowOpts) {
		if d < 0 || d%time.Millisecond != 0 {
			o.err = fmt.Errorf("allowed lateness %v: must be a non-negative whole number of milliseconds", d)
			return
		}
		o.lateness = d.Milliseconds()
	}
}

// Window groups the records of each key into the event-time windows of a.
// Aggregate the result with WindowAggregate or WindowReduce.
//
// Windows follow event time (the semantics of Flink's event-time trigger):
// the result of a key's window is emitted when the watermark reaches the
// window's MaxTimestamp, with that timestamp, in window-end order, before
// the watermark is forwarded. A window stays open for the allowed
// lateness after that: a record for it is added and the window fires again
// at once with the updated result. A record whose windows have all been
// purged is late: it goes to the side output Late, or is counted in
// Metrics.LateDropped. A bounded input ends with the watermark MaxTime, so
// every window fires.
func Window[K comparable, T any](k Keyed[K, T], a WindowAssigner, opts ...WindowOption) *Windowed[K, T] {
	var o windowOpts
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return &Windowed[K, T]{k: k, a: a, lateness: o.lateness, optErr: o.err}
}

// Late returns the side output of records that arrived too late for all
// their windows (after window end plus the allowed lateness). Call it
// after aggregating the windowed stream; it refers to the most recent
// aggregation. Late records are counted as dropped when Late is unused.
func (w *Windowed[K, T]) Late() Stream[T] {
	if w == nil || !w.k.s.valid("Late") {
		return Stream[T]{}
	}
	if w.v == nil {
		w.k.s.g.errorf("%w: Late on a window of %s: aggregate the window (WindowAggregate, WindowReduce) before asking for its late records",
			ErrInvalid, vertexLabel(w.k.s.srcs[0].v))
		return Stream[T]{}
	}
	return outStream[T](w.k.s.g, w.v, windowLatePort)
}

// windowLatePort is the output port of late records of a window vertex.
const windowLatePort = 1

// WindowResult is the result of one window of one key.
type WindowResult[K, O any] struct {
	Key   K
	Start int64 // window start (Unix ms, inclusive)
	End   int64 // window end (Unix ms, exclusive)
	Value O
}

// Window returns the result's window.
func (r WindowResult[K, O]) Window() TimeWindow { return TimeWindow{Start: r.Start, End: r.End} }

func (WindowResult[K, O]) coder() any {
	kc, vc := CoderFor[K](), CoderFor[O]()
	if kc == nil || vc == nil {
		return (*windowResultCoder[K, O])(nil)
	}
	return &windowResultCoder[K, O]{k: kc, v: vc}
}

// WindowResultCoder returns a coder for WindowResult[K, O] from coders of
// its key and value.
func WindowResultCoder[K, O any](k Coder[K], v Coder[O]) Coder[WindowResult[K, O]] {
	return &windowResultCoder[K, O]{k: k, v: v}
}

type windowResultCoder[K, O any] struct {
	k Coder[K]
	v Coder[O]
}

func (c *windowResultCoder[K, O]) Append(dst []byte, r WindowResult[K, O]) []byte {
	dst = c.k.Append(dst, r.Key)
	dst = binary.AppendVarint(dst, r.Start)
	dst = binary.AppendUvarint(dst, uint64(r.End-r.Start)) // wraps consistently
	return c.v.Append(dst, r.Value)
}

func (c *windowResultCoder[K, O]) Decode(src []byte) (WindowResult[K, O], int, error) {
	var r WindowResult[K, O]
	k, n, err := c.k.Decode(src)
	if err != nil {
		return r, 0, err
	}
	start, m := binary.Varint(src[n:])
	if m <= 0 {
		return r, 0, fmt.Errorf("%w: window start", ErrCorruptRecord)
	}
	n += m
	length, m := binary.Uvarint(src[n:])
	if m <= 0 {
		return r, 0, fmt.Errorf("%w: window length", ErrCorruptRecord)
	}
	n += m
	v, m, err := c.v.Decode(src[n:])
	if err != nil {
		return r, 0, err
	}
	r.Key, r.Start, r.End, r.Value = k, start, start+int64(length), v
	return r, n + m, nil
}

// WindowAggregate aggregates the records of each key and window with agg
// and emits one WindowResult per key and window when the window fires
// (again for every late-but-allowed record). Session windows need
// agg.Merge. The vertex's side output (port 1) holds late records; see
// Windowed.Late.
func WindowAggregate[K comparable, T, A, O any](w *Windowed[K, T], agg Agg[T, A, O], options ...Option) Stream[WindowResult[K, O]] {
	if w == nil || !w.k.s.valid("WindowAggregate") {
		return Stream[WindowResult[K, O]]{}
	}
	s := w.k.s
	o := collect(options)
	v := s.g.addVertex("window", "", o)
	if err := w.a.validate(); err != nil {
		s.g.errorf("%w: %s: %v", ErrInvalid, vertexLabel(v), err)
	}
	if w.optErr != nil {
		s.g.errorf("%w: %s: %v", ErrInvalid, vertexLabel(v), w.optErr)
	}
	if !agg.valid() {
		s.g.errorf("%w: %s: Agg needs Zero, Add and Result", ErrInvalid, vertexLabel(v))
	}
	if w.a.kind == sessionWindows && agg.Merge == nil {
		s.g.errorf("%w: %s: session windows need Agg.Merge to merge sessions", ErrInvalid, vertexLabel(v))
	}
	addPort[WindowResult[K, O]](s.g, v, "out", o.coder)
	addPort[T](s.g, v, "late", streamCoder(s))
	connectKeyed(w.k, v, 0)
	w.v = v
	a, lateness, keyFn, hash := w.a, w.lateness, w.k.keyFn, w.k.hash
	v.newOperator = func() engine.Operator {
		late := portConsumed(v, windowLatePort)
		if a.kind == sessionWindows {
			return &sessionWindowOp[K, T, A, O]{keyFn: keyFn, hash: hash, agg: agg, gap: a.size, lateness: lateness, lateOut: late}
		}
		return &slidingWindowOp[K, T, A, O]{keyFn: keyFn, hash: hash, agg: agg, a: a, lateness: lateness, lateOut: late}
	}
	return outStream[WindowResult[K, O]](s.g, v, 0)
}

// WindowReduce combines the records of each key and window with fn and
// emits one WindowResult per key and window when the window fires. fn is
// only called with values from the input.
func WindowReduce[K comparable, T any](w *Windowed[K, T], fn func(a, b T) T, options ...Option) Stream[WindowResult[K, T]] {
	if fn == nil {
		return WindowAggregate(w, Agg[T, Optional[T], T]{}, options...) // reports the missing function
	}
	return WindowAggregate(w, Agg[T, Optional[T], T]{
		Zero: func() Optional[T] { return Optional[T]{} },
		Add: func(a Optional[T], v T) Optional[T] {
			if !a.Set {
				return Optional[T]{V: v, Set: true}
			}
			a.V = fn(a.V, v)
			return a
		},
		Merge: func(a, b Optional[T]) Optional[T] {
			switch {
			case !a.Set:
				return b
			case !b.Set:
				return a
			}
			a.V = fn(a.V, b.V)
			return a
		},
		Result: func(a Optional[T]) T { return a.V },
	}, options...)
}

// streamCoder returns the coder of the first producer port of s that has
// one, for side outputs of the same type.
func streamCoder[T any](s Stream[T]) any {
	for _, src := range s.srcs {
		if c := src.v.ports[src.port].coder; c != nil {
			return c
		}
	}
	return nil
}

// portConsumed reports whether an edge leaves port of v.
func portConsumed(v *vertex, port int) bool {
	for _, e := range v.outputs {
		if e.fromPort == port {
			return true
		}
	}
	return false
}

// errTimestamp is returned by window operators for a record without a
// timestamp or one too close to MinTime to have windows.
func errTimestamp(oc *engine.OperatorContext, a WindowAssigner, ts int64) error {
	if ts == MinTime {
		return fmt.Errorf("dag: %s: record without an event timestamp (MinTime) reached an event-time window; assign timestamps with a WatermarkStrategy", oc.Name)
	}
	return fmt.Errorf("dag: %s: record timestamp %d is out of range for %v", oc.Name, ts, a)
}

// bufferedOut batches records for one output port.
type bufferedOut[T any] struct {
	out  engine.Output
	b    Batch[T]
	size int
}

func (o *bufferedOut[T]) init(out engine.Output, size int) {
	if size <= 0 {
		size = DefaultBatchSize
	}
	o.out, o.size = out, size
}

// add appends a record and emits the batch when it is full.
func (o *bufferedOut[T]) add(ctx context.Context, v T, ts int64) error {
	o.b.Vals = append(o.b.Vals, v)
	o.b.TS = append(o.b.TS, ts)
	if len(o.b.Vals) >= o.size {
		return o.flush(ctx)
	}
	return nil
}

// flush emits the pending records, if any.
func (o *bufferedOut[T]) flush(ctx context.Context) error {
	if len(o.b.Vals) == 0 {
		return nil
	}
	err := o.out.Emit(ctx, &o.b)
	o.b.Reset()
	return err
}

// lateRecords sends late records to the side output or counts them.
type lateRecords[T any] struct {
	bufferedOut[T]
	enabled bool
	metrics *engine.Metrics
}

func (l *lateRecords[T]) init(oc *engine.OperatorContext, enabled bool) {
	l.enabled = enabled && len(oc.Outputs) > windowLatePort && oc.Outputs[windowLatePort] != nil
	if l.enabled {
		l.bufferedOut.init(oc.Outputs[windowLatePort], oc.BatchSize)
	}
	l.metrics = oc.Metrics
}

func (l *lateRecords[T]) record(ctx context.Context, v T, ts int64) error {
	if l.enabled {
		return l.add(ctx, v, ts)
	}
	if l.metrics != nil {
		l.metrics.LateDropped.Add(1)
	}
	return nil
}

// minHeap is a binary min-heap ordered by less.
type minHeap[E any] struct {
	items []E
	less  func(a, b E) bool
}

func (h *minHeap[E]) len() int { return len(h.items) }
func (h *minHeap[E]) peek() E  { return h.items[0] }

func (h *minHeap[E]) push(e E) {
	h.items = append(h.items, e)
	i := len(h.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(h.items[i], h.items[p]) {
			break
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

func (h *minHeap[E]) pop() E {
	top := h.items[0]
	n := len(h.items) - 1
	h.items[0] = h.items[n]
	var zero E
	h.items[n] = zero
	h.items = h.items[:n]
	h.down(0)
	return top
}

func (h *minHeap[E]) down(i int) {
	n := len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(h.items[r], h.items[l]) {
			m = r
		}
		if !h.less(h.items[m], h.items[i]) {
			return
		}
		h.items[i], h.items[m] = h.items[m], h.items[i]
		i = m
	}
}

// rebuild restores the heap property after items were replaced.
func (h *minHeap[E]) rebuild() {
	for i := len(h.items)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func lessInt64(a, b int64) bool { return a < b }

// winCell holds the accumulators of one window. A cell whose epoch is
// older than the operator's belongs to a checkpoint in progress: writers
// replace it with a copy (copy-on-write) instead of modifying it.
type winCell[K comparable, A any] struct {
	m     map[K]A
	epoch uint64
}

// slidingWindowOp runs tumbling and sliding windows. State is grouped by
// window start: a watermark fires whole windows, and a record costs a few
// map operations per window it belongs to. On the heap it is checkpointed
// per key group as (window start, key, accumulator) entries, with the
// watermark as operator state. With the Pebble backend the accumulators
// live in the keyed store (see windowKV; wins is then the cache of the
// entries one batch touches) and the checkpoint holds the watermark.
type slidingWindowOp[K comparable, T, A, O any] struct {
	keyFn    func(T) K
	hash     func(K) uint64
	agg      Agg[T, A, O]
	a        WindowAssigner
	lateness int64
	lateOut  bool

	oc       *engine.OperatorContext
	wm       int64
	wins     map[int64]*winCell[K, A] // window start -> key -> accumulator
	epoch    uint64                   // checkpoints taken; see winCell
	pending  minHeap[int64]           // starts of windows not fired yet (MaxTimestamp > wm)
	retained minHeap[int64]           // starts of fired windows kept for allowed lateness
	free     []map[K]A                // cleared maps for reuse
	out      bufferedOut[WindowResult[K, O]]
	late     lateRecords[T]
	kv       *windowKV[K, A] // Pebble backend; nil on the heap
}

func (op *slidingWindowOp[K, T, A, O]) Open(_ context.Context, oc *engine.OperatorContext) error {
	op.oc, op.wm = oc, MinTime
	op.wins = make(map[int64]*winCell[K, A])
	op.pending.less, op.retained.less = lessInt64, lessInt64
	op.out.init(oc.Outputs[0], oc.BatchSize)
	op.late.init(oc, op.lateOut)
	shared, kc, err := openKeyedStore[K](oc)
	if err != nil || shared == nil {
		return err
	}
	op.kv, err = newWindowKV[K, A](oc, shared, kc, op.hash)
	return err
}

// flushCache writes the accumulators a batch touched to the keyed store
// and empties the cache (Pebble backend).
func (op *slidingWindowOp[K, T, A, O]) flushCache() error {
	for s, c := range op.wins {
		for k, a := range c.m {
			op.kv.set(s, k, a)
		}
		delete(op.wins, s)
		if len(op.free) < 4 {
			clear(c.m)
			op.free = append(op.free, c.m)
		}
	}
	return op.kv.err(op.oc.Name)
}

func (op *slidingWindowOp[K, T, A, O]) ProcessBatch(ctx context.Context, _ int, batch any) error {
	in := batch.(*Batch[T])
	size, slide, lateness, wm, minTS := op.a.size, op.a.slide, op.lateness, op.wm, op.a.minTimestamp()
	var lastStart int64 // cache of the map of the last record's first window
	var lastMap map[K]A
	for i, v := range in.Vals {
		ts := in.TS[i]
		if ts < minTS {
			return errTimestamp(op.oc, op.a, ts)
		}
		k := op.keyFn(v)
		accepted := false
		for s := ts - op.a.startDistance(ts); ts-s < size; s -= slide {
			end := addSat(s, size)
			if addSat(end-1, lateness) <= wm {
				break // this and every earlier window are late
			}
			accepted = true
			var m map[K]A
			if lastMap != nil && s == lastStart {
				m = lastMap
			} else {
				c := op.wins[s]
				if c != nil && c.epoch != op.epoch {
					c = &winCell[K, A]{m: maps.Clone(c.m), epoch: op.epoch}
					op.wins[s] = c
				}
				if c != nil {
					m = c.m
				} else {
					m = op.newMap()
					op.wins[s] = &winCell[K, A]{m: m, epoch: op.epoch}
					switch {
					case op.kv != nil && op.kv.known[s] != nil:
						// scheduled already: its entries are in the store
					case end-1 <= wm:
						op.retained.push(s) // late but allowed: fires below
					default:
						op.pending.push(s)
					}
				}
				lastStart, lastMap = s, m
			}
			acc, ok := m[k]
			if !ok && op.kv != nil {
				acc, ok = op.kv.get(s, k)
			}
			if !ok {
				acc = op.agg.Zero()
			}
			acc = op.agg.Add(acc, v)
			m[k] = acc
			if end-1 <= wm { // late but allowed: fire the updated result now
				r := WindowResult[K, O]{Key: k, Start: s, End: end, Value: op.agg.Result(acc)}
				if err := op.out.add(ctx, r, end-1); err != nil {
					return err
				}
			}
		}
		if !accepted && addSat(ts, lateness) <= wm {
			if err := op.late.record(ctx, v, ts); err != nil {
				return err
			}
		}
	}
	if op.kv != nil {
		if err := op.flushCache(); err != nil {
			return err
		}
	}
	if err := op.out.flush(ctx); err != nil {
		return err
	}
	return op.late.flush(ctx)
}

func (op *slidingWindowOp[K, T, A, O]) newMap() map[K]A {
	if n := len(op.free); n > 0 {
		m := op.free[n-1]
		op.free = op.free[:n-1]
		return m
	}
	return make(map[K]A)
}

func (op *slidingWindowOp[K, T, A, O]) purge(s int64) {
	if op.kv != nil {
		op.kv.purge(s)
	}
	c := op.wins[s]
	delete(op.wins, s)
	if c != nil && c.epoch == op.epoch && len(op.free) < 2 { // not shared with a checkpoint
		clear(c.m)
		op.free = append(op.free, c.m)
	}
}

// advance fires every window whose MaxTimestamp <= wm in window order and
// purges windows whose allowed lateness has passed.
func (op *slidingWindowOp[K, T, A, O]) advance(ctx context.Context, wm int64) error {
	op.wm = wm
	size, lateness := op.a.size, op.lateness
	for op.pending.len() > 0 {
		s := op.pending.peek()
		end := addSat(s, size)
		if end-1 > wm {
			break
		}
		op.pending.pop()
		var err error
		fire := func(k K, acc A) bool {
			r := WindowResult[K, O]{Key: k, Start: s, End: end, Value: op.agg.Result(acc)}
			err = op.out.add(ctx, r, end-1)
			return err == nil
		}
		if op.kv != nil {
			op.kv.rangeWindow(s, fire)
			if err == nil {
				err = op.kv.err(op.oc.Name)
			}
		} else if c := op.wins[s]; c != nil {
			for k, acc := range c.m {
				if !fire(k, acc) {
					break
				}
			}
		}
		if err != nil {
			return err
		}
		if addSat(end-1, lateness) <= wm {
			op.purge(s)
		} else {
			op.retained.push(s)
		}
	}
	for op.retained.len() > 0 {
		s := op.retained.peek()
		if addSat(addSat(s, size)-1, lateness) > wm {
			break
		}
		op.retained.pop()
		op.purge(s)
	}
	if op.kv != nil {
		if err := op.kv.err(op.oc.Name); err != nil {
			return err
		}
	}
	return op.out.flush(ctx)
}

func (op *slidingWindowOp[K, T, A, O]) ProcessWatermark(ctx context.Context, wm int64) error {
	if wm <= op.wm {
		return nil
	}
	if err := op.advance(ctx, wm); err != nil {
		return err
	}
	return op.oc.Outputs[0].EmitWatermark(ctx, wm)
}

// EndInput fires what is left if the input ended without the final
// watermark.
func (op *slidingWindowOp[K, T, A, O]) EndInput(ctx context.Context, _ int) error {
	if op.wm == MaxTime {
		return nil
	}
	return op.advance(ctx, MaxTime)
}

func (op *slidingWindowOp[K, T, A, O]) Close() error {
	op.wins, op.free = nil, nil
	return nil
}
