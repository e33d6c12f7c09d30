package dag

import (
	"context"
	"slices"
	"time"

	"github.com/dagflow/dagflow/dag/engine"
)

// session is one session window of a key with its accumulator and the
// sequence numbers of its live fire and cleanup timers (0 = none).
type session[A any] struct {
	start, end int64
	acc        A
	fireSeq    uint64
	cleanSeq   uint64
}

// sessionList holds the sessions of one key, sorted by start. Sessions
// never overlap or touch: such sessions are merged.
type sessionList[A any] struct {
	s []session[A]
	// epoch is the operator's checkpoint count when the list was made; an
	// older list belongs to a checkpoint in progress and is copied before
	// it changes (copy-on-write).
	epoch uint64
}

// firstReaching returns the index of the first session with end >= t.
func (l *sessionList[A]) firstReaching(t int64) int {
	lo, hi := 0, len(l.s)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l.s[m].end < t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// containing returns the index of the session containing t, or -1.
func (l *sessionList[A]) containing(t int64) int {
	i := l.firstReaching(t + 1) // first with end > t
	if i < len(l.s) && l.s[i].start <= t {
		return i
	}
	return -1
}

// sessionTimer is a fire or cleanup timer of one session of one key. It
// names its session by an anchor timestamp inside it (sessions only grow
// or vanish, so the anchor stays inside the session or its merger) and is
// live while the session holds its seq. A session keeps one live timer of
// each kind: when a session grows its timers stay, and a timer that comes
// due before its session's new time is rescheduled. A record extending a
// session thus costs no heap operation.
type sessionTimer[K comparable] struct {
	t      int64
	seq    uint64 // unique; also breaks ties in registration order
	key    K
	anchor int64
}

func lessSessionTimer[K comparable](a, b sessionTimer[K]) bool {
	return a.t < b.t || a.t == b.t && a.seq < b.seq
}

// sessionWindowOp runs session windows: per key a short sorted list of
// sessions, merged with Agg.Merge when a record bridges them, and heaps of
// fire and cleanup timers. On the heap it is checkpointed per key group
// as the sessions of each key (the timers follow from the sessions and
// the watermark, which is operator state). With the Pebble backend the
// sessions live in the keyed store (see session_kv.go) and keys is a
// write-back cache of them.
type sessionWindowOp[K comparable, T, A, O any] struct {
	keyFn    func(T) K
	hash     func(K) uint64
	agg      Agg[T, A, O]
	gap      int64
	lateness int64
	lateOut  bool

	oc    *engine.OperatorContext
	wm    int64
	keys  map[K]*sessionList[A]
	epoch uint64                   // checkpoints taken; see sessionList
	fire  minHeap[sessionTimer[K]] // due at MaxTimestamp
	clean minHeap[sessionTimer[K]] // due at MaxTimestamp + lateness
	seq   uint64
	out   bufferedOut[WindowResult[K, O]]
	late  lateRecords[T]
	kv    *sessionKV[K, A] // Pebble backend; nil on the heap
}

func (op *sessionWindowOp[K, T, A, O]) Open(_ context.Context, oc *engine.OperatorContext) error {
	op.oc, op.wm = oc, MinTime
	op.keys = make(map[K]*sessionList[A])
	op.fire.less, op.clean.less = lessSessionTimer[K], lessSessionTimer[K]
	op.out.init(oc.Outputs[0], oc.BatchSize)
	op.late.init(oc, op.lateOut)
	var err error
	op.kv, err = newSessionKV[K, A](oc, op.hash)
	return err
}

// lookup returns the session list of k: cached, or loaded from the keyed
// store (Pebble backend), or nil.
func (op *sessionWindowOp[K, T, A, O]) lookup(k K) *sessionList[A] {
	l := op.keys[k]
	if l != nil || op.kv == nil {
		return l
	}
	ss := op.kv.load(k)
	if ss == nil {
		return nil
	}
	if op.kv.clone != nil {
		k = op.kv.clone(k)
	}
	l = &sessionList[A]{s: ss, epoch: op.epoch}
	op.keys[k] = l
	return l
}

// writeBack writes the cached session lists to the keyed store and
// empties the cache (Pebble backend).
func (op *sessionWindowOp[K, T, A, O]) writeBack() error {
	if op.kv == nil {
		return nil
	}
	for k, l := range op.keys {
		op.kv.store(k, l)
	}
	clear(op.keys)
	return op.kv.err(op.oc.Name)
}

// maybeWriteBack writes the cache back when it is full or the store
// failed.
func (op *sessionWindowOp[K, T, A, O]) maybeWriteBack() error {
	if op.kv == nil {
		return nil
	}
	if len(op.keys) >= kvCacheKeys {
		return op.writeBack()
	}
	return op.kv.err(op.oc.Name)
}

func (op *sessionWindowOp[K, T, A, O]) ProcessBatch(ctx context.Context, _ int, batch any) error {
	in := batch.(*Batch[T])
	for i, v := range in.Vals {
		ts := in.TS[i]
		if ts == MinTime {
			return errTimestamp(op.oc, Session(time.Duration(op.gap)*time.Millisecond), ts)
		}
		if err := op.add(ctx, op.keyFn(v), v, ts); err != nil {
			return err
		}
	}
	if err := op.out.flush(ctx); err != nil {
		return err
	}
	if err := op.late.flush(ctx); err != nil {
		return err
	}
	return op.maybeWriteBack()
}

// add puts a record into the sessions of its key: its window [ts, ts+gap)
// merges with every session it overlaps or touches.
func (op *sessionWindowOp[K, T, A, O]) add(ctx context.Context, k K, v T, ts int64) error {
	start, end := ts, addSat(ts, op.gap)
	l := op.lookup(k)
	lo, hi := 0, 0
	if l != nil {
		lo = l.firstReaching(start)
		hi = lo
		for hi < len(l.s) && l.s[hi].start <= end {
			hi++
		}
	}
	var s *session[A]
	if lo == hi {
		// A new session. Merging with live sessions never yields a late
		// window, so only an unmerged window can be late.
		if addSat(end-1, op.lateness) <= op.wm {
			if addSat(ts, op.lateness) <= op.wm {
				return op.late.record(ctx, v, ts)
			}
			return nil
		}
		if l == nil {
			l = &sessionList[A]{epoch: op.epoch}
			if op.kv != nil && op.kv.clone != nil {
				k = op.kv.clone(k)
			}
			op.keys[k] = l
		} else {
			l = op.own(k, l)
		}
		l.s = slices.Insert(l.s, lo, session[A]{start: start, end: end, acc: op.agg.Add(op.agg.Zero(), v)})
		s = &l.s[lo]
		s.cleanSeq = op.pushTimer(&op.clean, addSat(end-1, op.lateness), k, start)
	} else {
		l = op.own(k, l)
		s = &l.s[lo]
		s.start, s.end = min(start, s.start), max(end, l.s[hi-1].end)
		for j := lo + 1; j < hi; j++ {
			p := &l.s[j]
			s.acc = op.agg.Merge(s.acc, p.acc)
			if s.fireSeq == 0 { // any live timer of a part is early enough
				s.fireSeq = p.fireSeq
			}
		}
		s.acc = op.agg.Add(s.acc, v)
		l.s = slices.Delete(l.s, lo+1, hi)
		s = &l.s[lo]
	}
	if s.end-1 <= op.wm { // late but allowed: fire the updated session now
		s.fireSeq = 0
		return op.out.add(ctx, WindowResult[K, O]{Key: k, Start: s.start, End: s.end, Value: op.agg.Result(s.acc)}, s.end-1)
	}
	if s.fireSeq == 0 {
		s.fireSeq = op.pushTimer(&op.fire, s.end-1, k, s.start)
	}
	return nil
}

// own returns the session list of k for writing: l itself, or a copy when
// a checkpoint in progress shares l.
func (op *sessionWindowOp[K, T, A, O]) own(k K, l *sessionList[A]) *sessionList[A] {
	if l.epoch == op.epoch {
		return l
	}
	l = &sessionList[A]{s: slices.Clone(l.s), epoch: op.epoch}
	op.keys[k] = l
	return l
}

// pushTimer adds a session timer and returns its sequence number.
func (op *sessionWindowOp[K, T, A, O]) pushTimer(h *minHeap[sessionTimer[K]], t int64, k K, anchor int64) uint64 {
	op.seq++
	h.push(sessionTimer[K]{t: t, seq: op.seq, key: k, anchor: anchor})
	return op.seq
}

// advance fires the sessions whose MaxTimestamp <= wm in end order and
// purges those whose allowed lateness has passed.
func (op *sessionWindowOp[K, T, A, O]) advance(ctx context.Context, wm int64) error {
	op.wm = wm
	for op.fire.len() > 0 && op.fire.peek().t <= wm {
		t := op.fire.pop()
		l := op.lookup(t.key)
		if l == nil {
			continue
		}
		i := l.containing(t.anchor)
		if i < 0 || l.s[i].fireSeq != t.seq {
			continue // stale
		}
		l = op.own(t.key, l)
		s := &l.s[i]
		if s.end-1 != t.t { // the session grew: fire at its new end
			s.fireSeq = op.pushTimer(&op.fire, s.end-1, t.key, t.anchor)
			continue
		}
		s.fireSeq = 0
		r := WindowResult[K, O]{Key: t.key, Start: s.start, End: s.end, Value: op.agg.Result(s.acc)}
		if err := op.out.add(ctx, r, s.end-1); err != nil {
			return err
		}
	}
	for op.clean.len() > 0 && op.clean.peek().t <= wm {
		t := op.clean.pop()
		l := op.lookup(t.key)
		if l == nil {
			continue
		}
		i := l.containing(t.anchor)
		if i < 0 || l.s[i].cleanSeq != t.seq {
			continue // stale
		}
		l = op.own(t.key, l)
		if due := addSat(l.s[i].end-1, op.lateness); due != t.t {
			l.s[i].cleanSeq = op.pushTimer(&op.clean, due, t.key, t.anchor)
			continue
		}
		l.s = slices.Delete(l.s, i, i+1)
		if len(l.s) == 0 && op.kv == nil { // the store's entry goes at write-back
			delete(op.keys, t.key)
		}
	}
	if err := op.out.flush(ctx); err != nil {
		return err
	}
	return op.maybeWriteBack()
}

func (op *sessionWindowOp[K, T, A, O]) ProcessWatermark(ctx context.Context, wm int64) error {
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
func (op *sessionWindowOp[K, T, A, O]) EndInput(ctx context.Context, _ int) error {
	if op.wm == MaxTime {
		return nil
	}
	return op.advance(ctx, MaxTime)
}

func (op *sessionWindowOp[K, T, A, O]) Close() error {
	op.keys = nil
	return nil
}
