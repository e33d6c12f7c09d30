package dag

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/dagflow/dagflow/dag/engine"
)

// Agg describes an aggregation of records of type T into an accumulator A
// with result O.
//
// Zero returns a fresh accumulator; Add folds a record into it; Merge
// combines two accumulators (enables pre-aggregation before the shuffle
// and is required by session windows); Result extracts the output. Add and
// Merge may modify and return their first argument.
type Agg[T, A, O any] struct {
	Zero   func() A
	Add    func(acc A, v T) A
	Merge  func(a, b A) A
	Result func(acc A) O
}

func (a Agg[T, A, O]) valid() bool { return a.Zero != nil && a.Add != nil && a.Result != nil }

// combineFlushKeys bounds the keys a combiner holds before it flushes.
const combineFlushKeys = 1 << 16

// Aggregate continuously aggregates the records of each key.
//
// On a bounded input it emits the final result of every key when the input
// ends. On an unbounded input it emits, after every input batch, the
// updated result of each key that batch changed (mini-batch upserts).
// When agg.Merge is set and an accumulator coder exists, records are
// pre-aggregated in the producer subtask before the shuffle (a combiner),
// so only one accumulator per key and flush crosses the network.
func Aggregate[K comparable, T, A, O any](k Keyed[K, T], agg Agg[T, A, O], options ...Option) Stream[KV[K, O]] {
	s := k.s
	if !s.valid("Aggregate") {
		return Stream[KV[K, O]]{}
	}
	o := collect(options)
	if !agg.valid() {
		v := s.g.addVertex("aggregate", "", o)
		s.g.errorf("%w: %s: Agg needs Zero, Add and Result", ErrInvalid, vertexLabel(v))
		return Stream[KV[K, O]]{}
	}
	useCombiner := agg.Merge != nil && CoderFor[KV[K, A]]() != nil && len(s.srcs) == 1
	if !useCombiner {
		v := s.g.addVertex("aggregate", "", o)
		v.newOperator = func() engine.Operator {
			return &aggregateOp[K, T, A, O]{key: k.keyFn, hash: k.hash, add: agg.Add, agg: agg}
		}
		addPort[KV[K, O]](s.g, v, "out", o.coder)
		connectKeyed(k, v, 0)
		return outStream[KV[K, O]](s.g, v, 0)
	}
	// Local pre-aggregation chained to the producer.
	co := opts{name: o.name + "-combine"}
	if o.name == "" {
		co.name = "combine"
	}
	src := s.srcs[0].v
	if src.parSet {
		co.parallelism, co.parSet = src.parallelism, true
	}
	cv := s.g.addVertex("combine", "", co)
	cv.newOperator = func() engine.Operator {
		return &combineOp[K, T, A]{key: k.keyFn, agg: Agg[T, A, A]{Zero: agg.Zero, Add: agg.Add, Merge: agg.Merge}}
	}
	addPort[KV[K, A]](s.g, cv, "out", nil)
	fwd := s
	fwd.props = edgeProps{mode: Pipelined, part: Forward}
	connectAll(fwd, cv, 0, nil)
	pre := Keyed[K, KV[K, A]]{
		s:     outStream[KV[K, A]](s.g, cv, 0),
		keyFn: func(kv KV[K, A]) K { return kv.Key },
		hash:  k.hash,
	}
	pre.s.props = s.props // the user's exchange mode applies to the shuffle
	pre.s.props.part = DefaultPartitioner
	v := s.g.addVertex("aggregate", "", o)
	v.newOperator = func() engine.Operator {
		return &aggregateOp[K, KV[K, A], A, O]{
			key:  func(kv KV[K, A]) K { return kv.Key },
			hash: k.hash,
			add:  func(acc A, kv KV[K, A]) A { return agg.Merge(acc, kv.Value) },
			agg:  Agg[KV[K, A], A, O]{Zero: agg.Zero, Result: agg.Result},
		}
	}
	addPort[KV[K, O]](s.g, v, "out", o.coder)
	connectKeyed(pre, v, 0)
	return outStream[KV[K, O]](s.g, v, 0)
}

// Reduce continuously combines the records of each key with fn; like
// Aggregate with the record type as accumulator. fn is never called with
// a zero value that did not come from the input.
func Reduce[K comparable, T any](k Keyed[K, T], fn func(a, b T) T, options ...Option) Stream[KV[K, T]] {
	merge := func(a, b Optional[T]) Optional[T] {
		switch {
		case !a.Set:
			return b
		case !b.Set:
			return a
		}
		return Optional[T]{V: fn(a.V, b.V), Set: true}
	}
	return Aggregate(k, Agg[T, Optional[T], T]{
		Zero: func() Optional[T] { return Optional[T]{} },
		Add: func(a Optional[T], v T) Optional[T] {
			if !a.Set {
				return Optional[T]{V: v, Set: true}
			}
			a.V = fn(a.V, v)
			return a
		},
		Merge:  merge,
		Result: func(a Optional[T]) T { return a.V },
	}, options...)
}

// Optional is a value that may be absent; the accumulator of Reduce.
type Optional[T any] struct {
	V   T
	Set bool
}

func (Optional[T]) coder() any {
	c := CoderFor[T]()
	if c == nil {
		return (*optionalCoder[T])(nil)
	}
	return &optionalCoder[T]{c: c}
}

type optionalCoder[T any] struct{ c Coder[T] }

func (c *optionalCoder[T]) Append(dst []byte, v Optional[T]) []byte {
	if !v.Set {
		return append(dst, 0)
	}
	return c.c.Append(append(dst, 1), v.V)
}

func (c *optionalCoder[T]) Decode(src []byte) (Optional[T], int, error) {
	if len(src) == 0 || src[0] > 1 {
		return Optional[T]{}, 0, ErrCorruptRecord
	}
	if src[0] == 0 {
		return Optional[T]{}, 1, nil
	}
	v, n, err := c.c.Decode(src[1:])
	if err != nil {
		return Optional[T]{}, 0, err
	}
	return Optional[T]{V: v, Set: true}, n + 1, nil
}

// aggregateOp keeps one accumulator per key. On the heap its checkpoint
// holds the accumulators per key group and the watermark. With the Pebble
// backend the accumulators live in the keyed store and the checkpoint
// holds only the watermark; acc is then a write-back cache of decoded
// accumulators of up to kvCacheKeys keys (every cached accumulator has
// been updated), written to the store in part when it is full, and whole
// (then emptied) at a snapshot (SnapshotState, before the engine
// snapshots the store) and before a scan of the store.
type aggregateOp[K comparable, T, A, O any] struct {
	key   func(T) K
	hash  func(K) uint64
	clone func(K) K
	add   func(A, T) A
	agg   Agg[T, A, O]
	oc    *engine.OperatorContext
	acc   map[K]A
	dirty map[K]struct{}
	wm    int64
	out   Batch[KV[K, O]]
	kv    *kvValueStore[K, A] // Pebble backend; nil on the heap
}

// aggStateName is the store state of aggregateOp's accumulators.
const aggStateName = "\x00aggregate"

func (op *aggregateOp[K, T, A, O]) Open(_ context.Context, oc *engine.OperatorContext) error {
	op.oc = oc
	op.acc = make(map[K]A)
	op.dirty = make(map[K]struct{})
	op.wm = MinTime
	op.clone = keyCloner[K]()
	shared, kc, err := openKeyedStore[K](oc)
	if err != nil || shared == nil {
		return err
	}
	op.kv, err = newKVValueStore[K, A](oc, shared, kc, op.hash, aggStateName)
	return err
}

func (op *aggregateOp[K, T, A, O]) ProcessBatch(ctx context.Context, _ int, batch any) error {
	in := batch.(*Batch[T])
	for _, v := range in.Vals {
		k := op.key(v)
		a, ok := op.acc[k]
		if !ok {
			if op.kv != nil {
				a, ok = op.kv.get(k)
			}
			if !ok {
				a = op.agg.Zero()
			}
			if op.clone != nil {
				k = op.clone(k)
			}
		}
		op.acc[k] = op.add(a, v)
		if !op.oc.Bounded {
			op.dirty[k] = struct{}{}
		}
	}
	if op.oc.Bounded {
		return op.maybeWriteBack()
	}
	if err := op.flushDirty(ctx, op.wm); err != nil {
		return err
	}
	return op.maybeWriteBack()
}

// kvCacheKeys bounds the keys whose decoded state an operator caches in
// front of its keyed store (Pebble backend). A full cache writes back and
// drops a quarter of its keys, taken in map order (random), so that most
// hot keys stay.
const kvCacheKeys = 1 << 15

// maybeWriteBack writes back and drops a quarter of the accumulator cache
// when it is full.
func (op *aggregateOp[K, T, A, O]) maybeWriteBack() error {
	if op.kv == nil || len(op.acc) < kvCacheKeys {
		return nil
	}
	n := len(op.acc) / 4
	for k, a := range op.acc {
		if n--; n < 0 {
			break
		}
		op.kv.set(k, a)
		delete(op.acc, k)
	}
	if err := op.kv.kv.shared.err; err != nil {
		return fmt.Errorf("dag: %s: %w", op.oc.Name, err)
	}
	return nil
}

// writeBack writes the cached accumulators to the keyed store and empties
// the cache.
func (op *aggregateOp[K, T, A, O]) writeBack() error {
	for k, a := range op.acc {
		op.kv.set(k, a)
	}
	clear(op.acc)
	if err := op.kv.kv.shared.err; err != nil {
		return fmt.Errorf("dag: %s: %w", op.oc.Name, err)
	}
	return nil
}

// flushDirty emits the results of changed keys (unbounded inputs).
func (op *aggregateOp[K, T, A, O]) flushDirty(ctx context.Context, ts int64) error {
	op.out.Reset()
	for k := range op.dirty {
		op.out.Append(KV[K, O]{Key: k, Value: op.agg.Result(op.acc[k])}, ts)
		if op.out.Len() >= op.oc.BatchSize {
			if err := op.oc.Outputs[0].Emit(ctx, &op.out); err != nil {
				return err
			}
			op.out.Reset()
		}
	}
	clear(op.dirty)
	if op.out.Len() > 0 {
		return op.oc.Outputs[0].Emit(ctx, &op.out)
	}
	return nil
}

func (op *aggregateOp[K, T, A, O]) ProcessWatermark(ctx context.Context, wm int64) error {
	op.wm = wm
	return op.oc.Outputs[0].EmitWatermark(ctx, wm)
}

func (op *aggregateOp[K, T, A, O]) EndInput(ctx context.Context, _ int) error {
	if !op.oc.Bounded {
		return nil
	}
	op.out.Reset()
	var err error
	emit := func(k K, a A) bool {
		op.out.Append(KV[K, O]{Key: k, Value: op.agg.Result(a)}, MinTime)
		if op.out.Len() >= op.oc.BatchSize {
			if err = op.oc.Outputs[0].Emit(ctx, &op.out); err != nil {
				return false
			}
			op.out.Reset()
		}
		return true
	}
	if op.kv != nil {
		if err := op.writeBack(); err != nil {
			return err
		}
		op.kv.rangeAll(emit)
		if err == nil && op.kv.kv.shared.err != nil {
			err = fmt.Errorf("dag: %s: %w", op.oc.Name, op.kv.kv.shared.err)
		}
	} else {
		for k, a := range op.acc {
			if !emit(k, a) {
				break
			}
		}
	}
	if err != nil {
		return err
	}
	if op.out.Len() > 0 {
		return op.oc.Outputs[0].Emit(ctx, &op.out)
	}
	return nil
}

func (op *aggregateOp[K, T, A, O]) Close() error { return nil }

// combineOp pre-aggregates per key in the producer subtask. It is not
// keyed: its checkpoint holds the partial accumulators (only a bounded
// input leaves any between batches) as operator state, which a restored
// subtask i takes from the previous subtasks j with j mod parallelism = i
// (partial accumulators may be merged downstream in any grouping; partials
// of one key from several old subtasks are merged with Agg.Merge).
type combineOp[K comparable, T, A any] struct {
	key   func(T) K
	clone func(K) K
	agg   Agg[T, A, A]
	oc    *engine.OperatorContext
	// The partial accumulators: idx maps a key to its position in keys and
	// accs, so that a record of a key already held costs one map lookup (a
	// map[K]A costs a lookup and an assignment), and a flush emits them in
	// first-seen order.
	idx  map[K]int32
	keys []K
	accs []A
	out  Batch[KV[K, A]]
	wm   int64
}

func (op *combineOp[K, T, A]) Open(_ context.Context, oc *engine.OperatorContext) error {
	op.oc = oc
	op.idx = make(map[K]int32)
	op.wm = MinTime
	op.clone = keyCloner[K]()
	return nil
}

func (op *combineOp[K, T, A]) ProcessBatch(ctx context.Context, _ int, batch any) error {
	in := batch.(*Batch[T])
	key, add, idx, accs := op.key, op.agg.Add, op.idx, op.accs
	for _, v := range in.Vals {
		k := key(v)
		if i, ok := idx[k]; ok {
			accs[i] = add(accs[i], v)
			continue
		}
		if op.clone != nil {
			k = op.clone(k)
		}
		idx[k] = int32(len(op.keys))
		op.keys = append(op.keys, k)
		accs = append(accs, add(op.agg.Zero(), v))
	}
	op.accs = accs
	if !op.oc.Bounded || len(op.keys) >= combineFlushKeys {
		return op.flush(ctx)
	}
	return nil
}

// put adds a partial accumulator, merging it into the one of its key.
func (op *combineOp[K, T, A]) put(k K, a A) {
	if i, ok := op.idx[k]; ok {
		op.accs[i] = op.agg.Merge(op.accs[i], a)
		return
	}
	op.idx[k] = int32(len(op.keys))
	op.keys = append(op.keys, k)
	op.accs = append(op.accs, a)
}

// partials returns the partial accumulators as a map.
func (op *combineOp[K, T, A]) partials() map[K]A {
	m := make(map[K]A, len(op.keys))
	for i, k := range op.keys {
		m[k] = op.accs[i]
	}
	return m
}

func (op *combineOp[K, T, A]) flush(ctx context.Context) error {
	op.out.Reset()
	for i, k := range op.keys {
		op.out.Append(KV[K, A]{Key: k, Value: op.accs[i]}, op.wm)
		if op.out.Len() >= op.oc.BatchSize {
			if err := op.oc.Outputs[0].Emit(ctx, &op.out); err != nil {
				return err
			}
			op.out.Reset()
		}
	}
	clear(op.idx)
	clear(op.keys) // drop references so the GC can reclaim them
	clear(op.accs)
	op.keys, op.accs = op.keys[:0], op.accs[:0]
	if op.out.Len() > 0 {
		return op.oc.Outputs[0].Emit(ctx, &op.out)
	}
	return nil
}

func (op *combineOp[K, T, A]) ProcessWatermark(ctx context.Context, wm int64) error {
	op.wm = wm
	// A bounded aggregation emits only at the end of its input, so partial
	// accumulators may wait; an unbounded one flushed after every batch.
	if !op.oc.Bounded {
		if err := op.flush(ctx); err != nil {
			return err
		}
	}
	return op.oc.Outputs[0].EmitWatermark(ctx, wm)
}

func (op *combineOp[K, T, A]) EndInput(ctx context.Context, _ int) error { return op.flush(ctx) }
func (op *combineOp[K, T, A]) Close() error                              { return nil }

// SnapshotState implements engine.Snapshotter.
func (op *aggregateOp[K, T, A, O]) SnapshotState(context.Context, engine.Barrier) (engine.SnapshotFunc, error) {
	sc := newSnapCtx(op.oc.Name, op.hash, op.oc.MaxParallelism)
	if op.kv != nil { // the cache goes to the store, which the engine snapshots next
		if err := op.writeBack(); err != nil {
			return nil, err
		}
	}
	fn, err := captureAccs(sc, secAccs, kindAccumulators, op.acc)
	if err != nil {
		return nil, err
	}
	wm := op.wm
	return func(w engine.StateWriter) error {
		if fn != nil {
			ks := newKeyedSnapshot(sc.maxPar)
			if err := fn(ks); err != nil {
				return err
			}
			if err := ks.writeTo(w); err != nil {
				return fmt.Errorf("dag: %s: %w", sc.opName, err)
			}
		}
		return w.Operator(watermarkBlob(wm))
	}, nil
}

// RestoreState implements engine.Snapshotter.
func (op *aggregateOp[K, T, A, O]) RestoreState(_ context.Context, st *engine.RestoredState) error {
	sc := newSnapCtx(op.oc.Name, op.hash, op.oc.MaxParallelism)
	allow := st != nil && st.AllowNonRestored
	h := map[string]sectionHandler{secAccs: {kind: kindAccumulators, restore: func(s section) error {
		return restoreAccs(sc, s, op.acc, nil)
	}}}
	if err := restoreSections(sc.opName, keyGroupBlobs(st), h, allow); err != nil {
		return err
	}
	if op.kv != nil { // accumulators of a heap checkpoint move to the store
		if err := op.writeBack(); err != nil {
			return err
		}
	}
	wm, err := restoredWatermark(sc.opName, st, nil, allow)
	op.wm = wm
	return err
}

// captureAccs captures a map of accumulators (see captureMap).
func captureAccs[K comparable, A any](sc *snapCtx[K], name string, kind stateKind, m map[K]A) (func(*keyedSnapshot) error, error) {
	if len(m) == 0 {
		return nil, nil
	}
	ac := CoderFor[A]()
	if ac == nil {
		return nil, errNoCoder(sc.opName, name, "the accumulators", typeOf[A]())
	}
	return captureMap(sc, name, kind, m, hasMutableRefs(typeOf[A]()), ac.Append)
}

// restoreAccs adds the entries of a section of accumulators to m, merging
// with an existing accumulator of the key when merge is set.
func restoreAccs[K comparable, A any](sc *snapCtx[K], s section, m map[K]A, merge func(a, b A) A) error {
	if err := sc.check(s.name); err != nil {
		return err
	}
	ac := CoderFor[A]()
	if ac == nil {
		return errNoCoder(sc.opName, s.name, "the accumulators", typeOf[A]())
	}
	r := snapReader{b: s.payload}
	for range s.count {
		k := snapDecode(&r, sc.kc)
		a := snapDecode(&r, ac)
		if r.err != nil {
			break
		}
		if old, ok := m[k]; ok && merge != nil {
			a = merge(old, a)
		}
		m[k] = a
	}
	return r.done()
}

// SnapshotState implements engine.Snapshotter.
func (op *combineOp[K, T, A]) SnapshotState(context.Context, engine.Barrier) (engine.SnapshotFunc, error) {
	sc := newSnapCtx[K](op.oc.Name, nil, 1)
	fn, err := captureAccs(sc, secPartials, kindPartials, op.partials())
	if err != nil {
		return nil, err
	}
	wm := op.wm
	return func(w engine.StateWriter) error {
		var b operatorBlob
		b.add(secWatermark, kindWatermark, 1, binary.AppendVarint(nil, wm))
		if fn != nil {
			ks := newKeyedSnapshot(1)
			if err := fn(ks); err != nil {
				return err
			}
			// One key group: its sections go into the operator blob.
			secs, err := parseBlob(append([]byte{snapMagic0, snapMagic1, snapVersion, 1}, ks.blobs[0]...))
			if err != nil {
				return err
			}
			for _, s := range secs {
				b.add(s.name, s.kind, s.count, s.payload)
			}
		}
		return w.Operator(b.bytes())
	}, nil
}

// RestoreState implements engine.Snapshotter: subtask i keeps the partial
// accumulators of the previous subtasks j with j mod parallelism = i.
func (op *combineOp[K, T, A]) RestoreState(_ context.Context, st *engine.RestoredState) error {
	if st == nil {
		return nil
	}
	sc := newSnapCtx[K](op.oc.Name, nil, 1)
	par := max(op.oc.Parallelism, 1)
	var mine [][]byte
	wm := MaxTime
	for j, blob := range st.Operator {
		w, err := restoredWatermark(sc.opName, &engine.RestoredState{Operator: [][]byte{blob}}, map[string]sectionHandler{
			secPartials: {kind: kindPartials, restore: func(section) error { return nil }},
		}, st.AllowNonRestored)
		if err != nil {
			return err
		}
		wm = min(wm, w)
		if j%par == op.oc.Subtask {
			mine = append(mine, blob)
		}
	}
	if len(st.Operator) == 0 {
		wm = MinTime
	}
	op.wm = wm
	m := op.partials()
	h := map[string]sectionHandler{
		secWatermark: {kind: kindWatermark, restore: func(section) error { return nil }},
		secPartials: {kind: kindPartials, restore: func(s section) error {
			return restoreAccs(sc, s, m, op.agg.Merge)
		}},
	}
	if err := restoreSections(sc.opName, mine, h, st.AllowNonRestored); err != nil {
		return err
	}
	clear(op.idx)
	op.keys, op.accs = op.keys[:0], op.accs[:0]
	for k, a := range m {
		op.put(k, a)
	}
	return nil
}
