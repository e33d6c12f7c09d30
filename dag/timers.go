package dag

import "fmt"

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
// the set of live timers by key (which a checkpoint can split by key
// group) and a heap ordering them by time, then registration.
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
