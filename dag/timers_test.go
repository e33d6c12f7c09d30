package dag

import (
	"strings"
	"testing"
)

func TestTimerQueue(t *testing.T) {
	var q timerQueue[string]
	q.init()
	if q.next() != MaxTime {
		t.Error("next of an empty queue")
	}
	q.register("a", 10)
	q.register("b", 10)
	q.register("a", 10) // duplicate
	q.register("a", 5)
	q.remove("a", 5)
	q.register("c", 7)
	if q.count() != 3 || q.next() != 7 {
		t.Fatalf("count %d next %d", q.count(), q.next())
	}
	var got []string
	for {
		e, ok := q.popDue(10, ^uint64(0))
		if !ok {
			break
		}
		got = append(got, e.key)
	}
	if strings.Join(got, "") != "cab" {
		t.Errorf("fired %v, want c a b (time, then registration order)", got)
	}
	// A timer registered after maxSeq waits even when due.
	q.register("x", 1)
	limit := q.seq
	q.register("y", 0)
	if _, ok := q.popDue(100, limit); ok {
		t.Error("popDue returned a timer registered after maxSeq ahead of time order")
	}
	if e, ok := q.popDue(100, q.seq); !ok || e.key != "y" {
		t.Errorf("popDue = %v %v", e, ok)
	}
	// Re-registering a deleted timer keeps one live entry.
	q.register("z", 50)
	q.remove("z", 50)
	q.register("z", 50)
	n := 0
	for {
		if _, ok := q.popDue(MaxTime, ^uint64(0)); !ok {
			break
		}
		n++
	}
	if n != 2 { // x and z
		t.Errorf("%d timers fired, want 2", n)
	}
	// Register/delete cycles (a timeout reset per record) stay bounded.
	for i := range int64(100_000) {
		q.register("k", 1_000_000+i)
		q.remove("k", 1_000_000+i)
		q.register("k", 1_000_000+i+1)
		q.remove("k", 1_000_000+i+1)
	}
	if q.heap.len() > 200 || q.count() != 0 {
		t.Errorf("heap holds %d entries for %d live timers", q.heap.len(), q.count())
	}
}

func TestTimeDomainString(t *testing.T) {
	if EventTime.String() != "event-time" || ProcessingTime.String() != "processing-time" || TimeDomain(9).String() != "time-domain(9)" {
		t.Error(EventTime, ProcessingTime, TimeDomain(9))
	}
}
