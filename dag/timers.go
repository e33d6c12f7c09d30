package dag

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
)

// TimeDomain is the clock a timer follows.
type TimeDomain uint8

const (
	// EventTime timers fire when the watermark reaches their timestamp.
	EventTime TimeDomain = iota
	// ProcessingTime timers fire when the wall clock reaches their
	// timestamp.
	ProcessingTime
)

// String returns "event-time" or "processing-time".
func (d TimeDomain) String() string {
	switch d {
	case EventTime:
		return "event-time"
	case ProcessingTime:
		return "processing-time"
	}
	return fmt.Sprintf("time-domain(%d)", uint8(d))
}

// Timer is a timer passed to ProcessFunc.OnTimer.
type Timer struct {
	// Timestamp is the time the timer was registered for (Unix ms).
	Timestamp int64
	// Domain is the clock of the timer.
	Domain TimeDomain
}

// timerKey identifies a timer within one domain: timers are unique per
// key and timestamp.
type timerKey[K comparable] struct {
	key K
	ts  int64
}

// timerEntry is a heap entry; it is live while the timer's registration
// sequence in the set equals seq (lazy deletion).
type timerEntry[K comparable] struct {
	ts  int64
	seq uint64
	key K
}

func lessTimerEntry[K comparable](a, b timerEntry[K]) bool {
	return a.ts < b.ts || a.ts == b.ts && a.seq < b.seq
}

// timerQueue holds the timers of one domain of one operator instance:
// the set of live timers by key (which a checkpoint splits by key group,
// see captureTimers) and a heap ordering them by time, then registration.
// Timers are always on the heap, also with the Pebble state backend, and
// are checkpointed with the operator's keyed state.
type timerQueue[K comparable] struct {
	live map[timerKey[K]]uint64 // timer -> registration sequence
	heap minHeap[timerEntry[K]]
	seq  uint64
}

func (q *timerQueue[K]) init() {
	q.live = make(map[timerKey[K]]uint64)
	q.heap.less = lessTimerEntry[K]
}

// register adds the timer unless it exists.
func (q *timerQueue[K]) register(k K, ts int64) {
	tk := timerKey[K]{key: k, ts: ts}
	if _, ok := q.live[tk]; ok {
		return
	}
	q.seq++
	q.live[tk] = q.seq
	q.heap.push(timerEntry[K]{ts: ts, seq: q.seq, key: k})
}

// remove deletes the timer if it exists. Its heap entry stays until it
// comes due or the heap is compacted.
func (q *timerQueue[K]) remove(k K, ts int64) {
	tk := timerKey[K]{key: k, ts: ts}
	if _, ok := q.live[tk]; !ok {
		return
	}
	delete(q.live, tk)
	if n := q.heap.len(); n > 64 && n > 2*len(q.live) {
		q.compact()
	}
}

// compact drops heap entries of deleted timers.
func (q *timerQueue[K]) compact() {
	items := q.heap.items[:0]
	for _, e := range q.heap.items {
		if q.isLive(e) {
			items = append(items, e)
		}
	}
	clear(q.heap.items[len(items):])
	q.heap.items = items
	q.heap.rebuild()
}

func (q *timerQueue[K]) isLive(e timerEntry[K]) bool {
	seq, ok := q.live[timerKey[K]{key: e.key, ts: e.ts}]
	return ok && seq == e.seq
}

// next returns the earliest live timer's time, or MaxTime.
func (q *timerQueue[K]) next() int64 {
	for q.heap.len() > 0 {
		e := q.heap.peek()
		if q.isLive(e) {
			return e.ts
		}
		q.heap.pop()
	}
	return MaxTime
}

// popDue removes and returns the earliest live timer with ts <= limit
// registered with a sequence <= maxSeq.
func (q *timerQueue[K]) popDue(limit int64, maxSeq uint64) (timerEntry[K], bool) {
	for q.heap.len() > 0 {
		e := q.heap.peek()
		if e.ts > limit {
			break
		}
		if !q.isLive(e) {
			q.heap.pop()
			continue
		}
		if e.seq > maxSeq {
			break
		}
		q.heap.pop()
		delete(q.live, timerKey[K]{key: e.key, ts: e.ts})
		return e, true
	}
	return timerEntry[K]{}, false
}

// count returns the number of live timers.
func (q *timerQueue[K]) count() int { return len(q.live) }

// captureTimers captures the live timers for a checkpoint (a shallow clone
// of the timer set) and returns the function that writes them, per key
// group in firing order, as section name.
func captureTimers[K comparable](sc *snapCtx[K], name string, q *timerQueue[K]) (func(*keyedSnapshot) error, error) {
	if len(q.live) == 0 {
		return nil, nil
	}
	if err := sc.check(name); err != nil {
		return nil, err
	}
	live := maps.Clone(q.live)
	return func(ks *keyedSnapshot) error {
		type entry struct {
			tk  timerKey[K]
			seq uint64
		}
		groups := make([][]entry, sc.maxPar)
		for tk, seq := range live {
			kg := sc.kg(tk.key)
			groups[kg] = append(groups[kg], entry{tk, seq})
		}
		p := newKGPayloads(sc.maxPar)
		for kg, es := range groups {
			slices.SortFunc(es, func(a, b entry) int {
				if c := cmp.Compare(a.tk.ts, b.tk.ts); c != 0 {
					return c
				}
				return cmp.Compare(a.seq, b.seq)
			})
			for _, e := range es {
				p.data[kg] = binary.AppendVarint(sc.kc.Append(p.data[kg], e.tk.key), e.tk.ts)
			}
			p.counts[kg] = len(es)
		}
		ks.add(name, kindTimers, p)
		return nil
	}, nil
}

// timerRestorer collects the timers of a domain from the restored key
// groups and registers them in timestamp order (registration order within
// a timestamp follows the checkpoint's order).
type timerRestorer[K comparable] struct {
	sc     *snapCtx[K]
	timers []timerKey[K]
}

func (t *timerRestorer[K]) handler() sectionHandler {
	return sectionHandler{kind: kindTimers, restore: func(s section) error {
		if err := t.sc.check(s.name); err != nil {
			return err
		}
		r := snapReader{b: s.payload}
		for range s.count {
			k := snapDecode(&r, t.sc.kc)
			ts := r.varint()
			if r.err != nil {
				break
			}
			t.timers = append(t.timers, timerKey[K]{key: k, ts: ts})
		}
		return r.done()
	}}
}

func (t *timerRestorer[K]) apply(q *timerQueue[K]) {
	slices.SortStableFunc(t.timers, func(a, b timerKey[K]) int { return cmp.Compare(a.ts, b.ts) })
	for _, tk := range t.timers {
		q.register(tk.key, tk.ts)
	}
	t.timers = nil
}
