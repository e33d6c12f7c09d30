package dag

import (
	"context"
	"maps"

	"github.com/dagflow/dagflow/dag/engine"
)

// WindowJoin joins two keyed streams per event-time window: for every
// tumbling or sliding window of a and every key, it calls fn for each pair
// of a left and a right record of that key in that window (an inner join)
// and emits the results when the window fires, with the timestamp
// MaxTimestamp of the window. Records arriving after their windows fired
// are dropped and counted as late. Session windows are not supported.
func WindowJoin[K comparable, L, R, O any](left Keyed[K, L], right Keyed[K, R], a WindowAssigner, fn func(key K, l L, r R) O, options ...Option) Stream[O] {
	if !left.s.valid("WindowJoin") || !right.s.valid("WindowJoin") {
		return Stream[O]{}
	}
	g := left.s.g
	o := collect(options)
	v := g.addVertex("window-join", "", o)
	if right.s.g != g {
		g.errorf("%w: %s: the joined streams belong to different graphs", ErrInvalid, vertexLabel(v))
		return Stream[O]{}
	}
	if err := a.validate(); err != nil {
		g.errorf("%w: %s: %v", ErrInvalid, vertexLabel(v), err)
	} else if a.kind == sessionWindows {
		g.errorf("%w: %s: WindowJoin supports tumbling and sliding windows, not %v", ErrInvalid, vertexLabel(v), a)
	}
	if fn == nil {
		g.errorf("%w: %s: nil join function", ErrInvalid, vertexLabel(v))
	}
	addPort[O](g, v, "out", o.coder)
	connectKeyed(left, v, 0)
	connectKeyed(right, v, 1)
	keyL, keyR, hash := left.keyFn, right.keyFn, left.hash
	v.newOperator = func() engine.Operator {
		return &windowJoinOp[K, L, R, O]{keyL: keyL, keyR: keyR, hash: hash, fn: fn, a: a}
	}
	return outStream[O](g, v, 0)
}

// joinCell buffers the records of one key in one window. Cells and
// windows whose epoch is older than the operator's belong to a checkpoint
// in progress: writers replace them with copies (copy-on-write; appending
// to a copy never writes the part of a slice the checkpoint reads).
type joinCell[L, R any] struct {
	l     []L
	r     []R
	epoch uint64
}

// joinWindow holds the cells of one window by key.
type joinWindow[K comparable, L, R any] struct {
	m     map[K]*joinCell[L, R]
	epoch uint64
}

// windowJoinOp buffers both inputs per window start and key and joins
// them when the window fires. On the heap it is checkpointed per key group
// as (window start, key, left records, right records) entries, with the
// watermark as operator state. With the Pebble backend the records live
// in the keyed store (see join_kv.go; wins is then the cache of the
// entries one batch touches) and the checkpoint holds the watermark.
type windowJoinOp[K comparable, L, R, O any] struct {
	keyL func(L) K
	keyR func(R) K
	hash func(K) uint64
	fn   func(K, L, R) O
	a    WindowAssigner

	oc      *engine.OperatorContext
	wm      int64
	wins    map[int64]*joinWindow[K, L, R]
	epoch   uint64 // checkpoints taken; see joinCell
	pending minHeap[int64]
	out     bufferedOut[O]
	starts  []int64 // scratch
	ended   int
	kv      *windowKV[K, joinBuf[L, R]] // Pebble backend; nil on the heap
}

func (op *windowJoinOp[K, L, R, O]) Open(_ context.Context, oc *engine.OperatorContext) error {
	op.oc, op.wm = oc, MinTime
	op.wins = make(map[int64]*joinWindow[K, L, R])
	op.pending.less = lessInt64
	op.out.init(oc.Outputs[0], oc.BatchSize)
	shared, kc, err := openKeyedStore[K](oc)
	if err != nil || shared == nil {
		return err
	}
	op.kv, err = newWindowKV[K, joinBuf[L, R]](oc, shared, kc, op.hash)
	return err
}

// writeBack writes the cells a batch touched to the keyed store and
// empties the cache (Pebble backend).
func (op *windowJoinOp[K, L, R, O]) writeBack() error {
	if op.kv == nil {
		return nil
	}
	for s, w := range op.wins {
		for k, c := range w.m {
			op.kv.set(s, k, joinBuf[L, R]{l: c.l, r: c.r})
		}
	}
	clear(op.wins)
	return op.kv.err(op.oc.Name)
}

// cell returns the buffers of key k in the window starting at s, or nil
// when the window has fired already.
func (op *windowJoinOp[K, L, R, O]) cell(s int64, k K) *joinCell[L, R] {
	w := op.wins[s]
	switch {
	case w == nil:
		w = &joinWindow[K, L, R]{m: make(map[K]*joinCell[L, R]), epoch: op.epoch}
		op.wins[s] = w
		if op.kv == nil || op.kv.known[s] == nil { // else scheduled already, its cells in the store
			op.pending.push(s)
		}
	case w.epoch != op.epoch:
		w = &joinWindow[K, L, R]{m: maps.Clone(w.m), epoch: op.epoch}
		op.wins[s] = w
	}
	c := w.m[k]
	switch {
	case c == nil:
		c = &joinCell[L, R]{epoch: op.epoch}
		if op.kv != nil {
			if b, ok := op.kv.get(s, k); ok {
				c.l, c.r = b.l, b.r
			}
		}
		w.m[k] = c
	case c.epoch != op.epoch:
		c = &joinCell[L, R]{l: c.l, r: c.r, epoch: op.epoch}
		w.m[k] = c
	}
	return c
}

func (op *windowJoinOp[K, L, R, O]) ProcessBatch(_ context.Context, input int, batch any) error {
	if input == 0 {
		in := batch.(*Batch[L])
		for i, v := range in.Vals {
			starts, err := op.openWindows(in.TS[i])
			if err != nil {
				return err
			}
			if len(starts) > 0 {
				k := op.keyL(v)
				for _, s := range starts {
					c := op.cell(s, k)
					c.l = append(c.l, v)
				}
			}
		}
		return op.writeBack()
	}
	in := batch.(*Batch[R])
	for i, v := range in.Vals {
		starts, err := op.openWindows(in.TS[i])
		if err != nil {
			return err
		}
		if len(starts) > 0 {
			k := op.keyR(v)
			for _, s := range starts {
				c := op.cell(s, k)
				c.r = append(c.r, v)
			}
		}
	}
	return op.writeBack()
}

// openWindows returns the starts of the windows of ts that have not fired
// (valid until the next call), and counts the record as late when it fits
// no such window.
func (op *windowJoinOp[K, L, R, O]) openWindows(ts int64) ([]int64, error) {
	if ts < op.a.minTimestamp() {
		return nil, errTimestamp(op.oc, op.a, ts)
	}
	size, slide := op.a.size, op.a.slide
	op.starts = op.starts[:0]
	for s := ts - op.a.startDistance(ts); ts-s < size; s -= slide {
		if addSat(s, size)-1 <= op.wm {
			break // this and every earlier window fired
		}
		op.starts = append(op.starts, s)
	}
	if len(op.starts) == 0 && ts <= op.wm && op.oc.Metrics != nil {
		op.oc.Metrics.LateDropped.Add(1)
	}
	return op.starts, nil
}

// advance joins and purges every window whose MaxTimestamp <= wm.
func (op *windowJoinOp[K, L, R, O]) advance(ctx context.Context, wm int64) error {
	op.wm = wm
	for op.pending.len() > 0 {
		s := op.pending.peek()
		end := addSat(s, op.a.size)
		if end-1 > wm {
			break
		}
		op.pending.pop()
		if op.kv != nil {
			if err := op.fireStored(ctx, s, end); err != nil {
				return err
			}
			continue
		}
		var m map[K]*joinCell[L, R]
		if w := op.wins[s]; w != nil {
			m = w.m
		}
		for k, c := range m {
			for _, l := range c.l {
				for _, r := range c.r {
					if err := op.out.add(ctx, op.fn(k, l, r), end-1); err != nil {
						return err
					}
				}
			}
		}
		delete(op.wins, s)
	}
	return op.out.flush(ctx)
}

// fireStored joins and purges the window at s from the keyed store.
func (op *windowJoinOp[K, L, R, O]) fireStored(ctx context.Context, s, end int64) error {
	var err error
	op.kv.rangeWindow(s, func(k K, b joinBuf[L, R]) bool {
		for _, l := range b.l {
			for _, r := range b.r {
				if err = op.out.add(ctx, op.fn(k, l, r), end-1); err != nil {
					return false
				}
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	op.kv.purge(s)
	return op.kv.err(op.oc.Name)
}

func (op *windowJoinOp[K, L, R, O]) ProcessWatermark(ctx context.Context, wm int64) error {
	if wm <= op.wm {
		return nil
	}
	if err := op.advance(ctx, wm); err != nil {
		return err
	}
	return op.oc.Outputs[0].EmitWatermark(ctx, wm)
}

// EndInput joins what is left once both inputs ended, if they ended
// without the final watermark.
func (op *windowJoinOp[K, L, R, O]) EndInput(ctx context.Context, _ int) error {
	op.ended++
	if op.ended < 2 || op.wm == MaxTime {
		return nil
	}
	return op.advance(ctx, MaxTime)
}

func (op *windowJoinOp[K, L, R, O]) Close() error {
	op.wins = nil
	return nil
}
