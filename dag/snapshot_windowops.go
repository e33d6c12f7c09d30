package dag

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"github.com/dagflow/dagflow/dag/engine"
)

// Checkpoints of the window operators (tumbling/sliding, session, window
// join). On the heap their state is written here; with the Pebble backend
// they keep it in the keyed store, which the engine snapshots. The watermark
// is operator state; on restore it is the minimum over the previous
// subtasks (see restoredWatermark), and whether a restored window has
// fired already follows from it, so the fire and cleanup timers are not
// written.

// writeKeyed runs fn into a keyed snapshot and writes it, then the
// watermark as operator state.
func writeKeyed(w engine.StateWriter, opName string, maxPar int, wm int64, fn func(*keyedSnapshot) error) error {
	if fn != nil {
		ks := newKeyedSnapshot(maxPar)
		if err := fn(ks); err != nil {
			return err
		}
		if err := ks.writeTo(w); err != nil {
			return fmt.Errorf("dag: %s: %w", opName, err)
		}
	}
	return w.Operator(watermarkBlob(wm))
}

// SnapshotState implements engine.Snapshotter: a shallow clone of the windows
// (copy-on-write per window afterwards, see winCell).
func (op *slidingWindowOp[K, T, A, O]) SnapshotState(context.Context, engine.Barrier) (engine.SnapshotFunc, error) {
	sc := newSnapCtx(op.oc.Name, op.hash, op.oc.MaxParallelism)
	wm := op.wm
	if len(op.wins) == 0 || op.kv != nil { // the engine snapshots the keyed store
		return func(w engine.StateWriter) error { return writeKeyed(w, sc.opName, sc.maxPar, wm, nil) }, nil
	}
	if err := sc.check(secWindows); err != nil {
		return nil, err
	}
	ac := CoderFor[A]()
	if ac == nil {
		return nil, errNoCoder(sc.opName, secWindows, "the window accumulators", typeOf[A]())
	}
	encode := func(wins map[int64]*winCell[K, A]) *kgPayloads {
		p := newKGPayloads(sc.maxPar)
		for s, c := range wins {
			for k, a := range c.m {
				kg := sc.kg(k)
				b := binary.AppendVarint(p.data[kg], s)
				p.data[kg] = ac.Append(sc.kc.Append(b, k), a)
				p.counts[kg]++
			}
		}
		return p
	}
	var fn func(*keyedSnapshot) error
	if hasMutableRefs(typeOf[A]()) {
		p := encode(op.wins)
		fn = func(ks *keyedSnapshot) error { ks.add(secWindows, kindWindowAccs, p); return nil }
	} else {
		wins := maps.Clone(op.wins)
		op.epoch++
		fn = func(ks *keyedSnapshot) error { ks.add(secWindows, kindWindowAccs, encode(wins)); return nil }
	}
	return func(w engine.StateWriter) error { return writeKeyed(w, sc.opName, sc.maxPar, wm, fn) }, nil
}

// RestoreState implements engine.Snapshotter. Windows whose MaxTimestamp is past
// the restored watermark count as fired (kept for the allowed lateness).
func (op *slidingWindowOp[K, T, A, O]) RestoreState(_ context.Context, st *engine.RestoredState) error {
	sc := newSnapCtx(op.oc.Name, op.hash, op.oc.MaxParallelism)
	allow := st != nil && st.AllowNonRestored
	wm, err := restoredWatermark(sc.opName, st, nil, allow)
	if err != nil {
		return err
	}
	op.wm = wm
	if op.kv != nil { // windows restored into the keyed store
		op.kv.load(func(start int64) { op.restoredWindow(start, wm) })
		if err := op.kv.err(sc.opName); err != nil {
			return err
		}
	}
	ac := CoderFor[A]()
	h := map[string]sectionHandler{secWindows: {kind: kindWindowAccs, restore: func(s section) error {
		if err := sc.check(s.name); err != nil {
			return err
		}
		if ac == nil {
			return errNoCoder(sc.opName, s.name, "the window accumulators", typeOf[A]())
		}
		r := snapReader{b: s.payload}
		for range s.count {
			start := r.varint()
			k := snapDecode(&r, sc.kc)
			a := snapDecode(&r, ac)
			if r.err != nil {
				break
			}
			c := op.wins[start]
			if c == nil {
				c = &winCell[K, A]{m: make(map[K]A), epoch: op.epoch}
				op.wins[start] = c
				if op.kv == nil || op.kv.known[start] == nil {
					op.restoredWindow(start, wm)
				}
			}
			c.m[k] = a
		}
		return r.done()
	}}}
	if err := restoreSections(sc.opName, keyGroupBlobs(st), h, allow); err != nil {
		return err
	}
	if op.kv != nil { // entries of a heap checkpoint move to the store
		if err := op.flushCache(); err != nil {
			return err
		}
	}
	// Drop windows whose lateness passed (only when old subtasks had
	// different watermarks).
	for op.retained.len() > 0 && addSat(addSat(op.retained.peek(), op.a.size)-1, op.lateness) <= wm {
		op.purge(op.retained.pop())
	}
	return nil
}

// restoredWindow schedules a restored window: pending when its
// MaxTimestamp is past the watermark, else fired and kept for the
// allowed lateness (purged by the next watermark if that passed).
func (op *slidingWindowOp[K, T, A, O]) restoredWindow(start, wm int64) {
	if addSat(start, op.a.size)-1 > wm {
		op.pending.push(start)
	} else {
		op.retained.push(start)
	}
}

// SnapshotState implements engine.Snapshotter: a shallow clone of the keys'
// session lists (copy-on-write per key afterwards, see sessionList).
func (op *sessionWindowOp[K, T, A, O]) SnapshotState(context.Context, engine.Barrier) (engine.SnapshotFunc, error) {
	sc := newSnapCtx(op.oc.Name, op.hash, op.oc.MaxParallelism)
	wm := op.wm
	// Pebble backend: the sessions go to the store, which the engine
	// snapshots next.
	if err := op.writeBack(); err != nil {
		return nil, err
	}
	if len(op.keys) == 0 {
		return func(w engine.StateWriter) error { return writeKeyed(w, sc.opName, sc.maxPar, wm, nil) }, nil
	}
	if err := sc.check(secSessions); err != nil {
		return nil, err
	}
	ac := CoderFor[A]()
	if ac == nil {
		return nil, errNoCoder(sc.opName, secSessions, "the session accumulators", typeOf[A]())
	}
	appendList := func(dst []byte, l *sessionList[A]) []byte {
		dst = appendUvarint(dst, len(l.s))
		for i := range l.s {
			s := &l.s[i]
			dst = binary.AppendVarint(binary.AppendVarint(dst, s.start), s.end)
			dst = ac.Append(dst, s.acc)
		}
		return dst
	}
	fn, err := captureMap(sc, secSessions, kindSessions, op.keys, hasMutableRefs(typeOf[A]()), appendList)
	if err != nil {
		return nil, err
	}
	op.epoch++
	return func(w engine.StateWriter) error { return writeKeyed(w, sc.opName, sc.maxPar, wm, fn) }, nil
}

// RestoreState implements engine.Snapshotter: it rebuilds the sessions and their
// timers (a fire timer for every session not fired at the restored
// watermark, a cleanup timer for each).
func (op *sessionWindowOp[K, T, A, O]) RestoreState(_ context.Context, st *engine.RestoredState) error {
	sc := newSnapCtx(op.oc.Name, op.hash, op.oc.MaxParallelism)
	allow := st != nil && st.AllowNonRestored
	wm, err := restoredWatermark(sc.opName, st, nil, allow)
	if err != nil {
		return err
	}
	op.wm = wm
	if op.kv != nil {
		if err := op.restoreTimersFromStore(); err != nil {
			return fmt.Errorf("dag: %s: restoring session timers: %w", sc.opName, err)
		}
	}
	ac := CoderFor[A]()
	h := map[string]sectionHandler{secSessions: {kind: kindSessions, restore: func(s section) error {
		if err := sc.check(s.name); err != nil {
			return err
		}
		if ac == nil {
			return errNoCoder(sc.opName, s.name, "the session accumulators", typeOf[A]())
		}
		r := snapReader{b: s.payload}
		for range s.count {
			k := snapDecode(&r, sc.kc)
			n := r.count()
			var ss []session[A]
			for range n {
				start, end := r.varint(), r.varint()
				a := snapDecode(&r, ac)
				if r.err != nil {
					break
				}
				if end <= start || len(ss) > 0 && start <= ss[len(ss)-1].end {
					return fmt.Errorf("%w: session [%d, %d) of a key overlaps or is empty", ErrCorruptRecord, start, end)
				}
				ss = append(ss, session[A]{start: start, end: end, acc: a})
			}
			if r.err != nil {
				break
			}
			l := op.keys[k]
			if l == nil {
				l = &sessionList[A]{epoch: op.epoch}
				op.keys[k] = l
			}
			for _, x := range ss {
				x.cleanSeq = op.pushTimer(&op.clean, addSat(x.end-1, op.lateness), k, x.start)
				if x.end-1 > wm {
					x.fireSeq = op.pushTimer(&op.fire, x.end-1, k, x.start)
				}
				l.s = append(l.s, x)
			}
			slices.SortFunc(l.s, func(a, b session[A]) int { return compareInt64(a.start, b.start) })
		}
		return r.done()
	}}}
	return restoreSections(sc.opName, keyGroupBlobs(st), h, allow)
}

// restoreTimersFromStore pushes the timers of the sessions in the keyed
// store (restored by the engine) with the sequence numbers the sessions
// hold: a fire timer for every session not fired at the restored
// watermark, a cleanup timer for each. A session whose numbers do not
// match that rule gets new ones, in the cache.
func (op *sessionWindowOp[K, T, A, O]) restoreTimersFromStore() error {
	type fix struct {
		k  K
		ss []session[A]
	}
	var fixes []fix
	err := op.kv.scan(func(k K, ss []session[A]) error {
		changed := false
		for i := range ss {
			x := &ss[i]
			op.seq = max(op.seq, x.fireSeq, x.cleanSeq)
			if x.end-1 > op.wm {
				if x.fireSeq == 0 {
					changed = true
				} else {
					op.fire.push(sessionTimer[K]{t: x.end - 1, seq: x.fireSeq, key: k, anchor: x.start})
				}
			} else if x.fireSeq != 0 {
				x.fireSeq, changed = 0, true
			}
			if x.cleanSeq == 0 {
				changed = true
			} else {
				op.clean.push(sessionTimer[K]{t: addSat(x.end-1, op.lateness), seq: x.cleanSeq, key: k, anchor: x.start})
			}
		}
		if changed {
			fixes = append(fixes, fix{k, ss})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, f := range fixes { // new numbers only now that op.seq is above every stored one
		for i := range f.ss {
			x := &f.ss[i]
			if x.end-1 > op.wm && x.fireSeq == 0 {
				x.fireSeq = op.pushTimer(&op.fire, x.end-1, f.k, x.start)
			}
			if x.cleanSeq == 0 {
				x.cleanSeq = op.pushTimer(&op.clean, addSat(x.end-1, op.lateness), f.k, x.start)
			}
		}
		op.keys[f.k] = &sessionList[A]{s: f.ss, epoch: op.epoch}
	}
	return nil
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// SnapshotState implements engine.Snapshotter: a shallow clone of the windows
// (copy-on-write per window and per cell afterwards, see joinCell).
func (op *windowJoinOp[K, L, R, O]) SnapshotState(context.Context, engine.Barrier) (engine.SnapshotFunc, error) {
	sc := newSnapCtx(op.oc.Name, op.hash, op.oc.MaxParallelism)
	wm := op.wm
	if len(op.wins) == 0 || op.kv != nil { // the engine snapshots the keyed store
		return func(w engine.StateWriter) error { return writeKeyed(w, sc.opName, sc.maxPar, wm, nil) }, nil
	}
	if err := sc.check(secJoin); err != nil {
		return nil, err
	}
	lc, rc := CoderFor[L](), CoderFor[R]()
	if lc == nil {
		return nil, errNoCoder(sc.opName, secJoin, "the left records", typeOf[L]())
	}
	if rc == nil {
		return nil, errNoCoder(sc.opName, secJoin, "the right records", typeOf[R]())
	}
	encode := func(wins map[int64]*joinWindow[K, L, R]) *kgPayloads {
		p := newKGPayloads(sc.maxPar)
		for s, w := range wins {
			for k, c := range w.m {
				kg := sc.kg(k)
				b := sc.kc.Append(binary.AppendVarint(p.data[kg], s), k)
				b = appendUvarint(b, len(c.l))
				for _, v := range c.l {
					b = lc.Append(b, v)
				}
				b = appendUvarint(b, len(c.r))
				for _, v := range c.r {
					b = rc.Append(b, v)
				}
				p.data[kg] = b
				p.counts[kg]++
			}
		}
		return p
	}
	var fn func(*keyedSnapshot) error
	if hasMutableRefs(typeOf[L]()) || hasMutableRefs(typeOf[R]()) {
		p := encode(op.wins)
		fn = func(ks *keyedSnapshot) error { ks.add(secJoin, kindJoinCells, p); return nil }
	} else {
		wins := maps.Clone(op.wins)
		op.epoch++
		fn = func(ks *keyedSnapshot) error { ks.add(secJoin, kindJoinCells, encode(wins)); return nil }
	}
	return func(w engine.StateWriter) error { return writeKeyed(w, sc.opName, sc.maxPar, wm, fn) }, nil
}

// RestoreState implements engine.Snapshotter.
func (op *windowJoinOp[K, L, R, O]) RestoreState(_ context.Context, st *engine.RestoredState) error {
	sc := newSnapCtx(op.oc.Name, op.hash, op.oc.MaxParallelism)
	allow := st != nil && st.AllowNonRestored
	wm, err := restoredWatermark(sc.opName, st, nil, allow)
	if err != nil {
		return err
	}
	op.wm = wm
	if op.kv != nil { // windows restored into the keyed store
		var fired []int64
		op.kv.load(func(start int64) {
			if addSat(start, op.a.size)-1 <= wm {
				fired = append(fired, start) // cannot happen unless an old subtask failed to purge it
			} else {
				op.pending.push(start)
			}
		})
		for _, s := range fired {
			op.kv.purge(s)
		}
		if err := op.kv.err(sc.opName); err != nil {
			return err
		}
	}
	lc, rc := CoderFor[L](), CoderFor[R]()
	h := map[string]sectionHandler{secJoin: {kind: kindJoinCells, restore: func(s section) error {
		if err := sc.check(s.name); err != nil {
			return err
		}
		if lc == nil || rc == nil {
			return errNoCoder(sc.opName, s.name, "the joined records", typeOf[KV[L, R]]())
		}
		r := snapReader{b: s.payload}
		for range s.count {
			start := r.varint()
			k := snapDecode(&r, sc.kc)
			var ls []L
			var rs []R
			for range r.count() {
				ls = append(ls, snapDecode(&r, lc))
			}
			for range r.count() {
				rs = append(rs, snapDecode(&r, rc))
			}
			if r.err != nil {
				break
			}
			if addSat(start, op.a.size)-1 <= wm {
				continue // fired before the checkpoint of an old subtask with a later watermark
			}
			c := op.cell(start, k)
			c.l = append(c.l, ls...)
			c.r = append(c.r, rs...)
		}
		return r.done()
	}}}
	if err := restoreSections(sc.opName, keyGroupBlobs(st), h, allow); err != nil {
		return err
	}
	return op.writeBack() // cells of a heap checkpoint move to the store
}

var (
	_ engine.Snapshotter = (*slidingWindowOp[int, int, int, int])(nil)
	_ engine.Snapshotter = (*sessionWindowOp[int, int, int, int])(nil)
	_ engine.Snapshotter = (*windowJoinOp[int, int, int, int])(nil)
	_ engine.Snapshotter = (*aggregateOp[int, int, int, int])(nil)
	_ engine.Snapshotter = (*combineOp[int, int, int])(nil)
	_ engine.Snapshotter = (*processOp[int, int, int])(nil)
	_ engine.Snapshotter = (*coProcessOp[int, int, int, int])(nil)
)
