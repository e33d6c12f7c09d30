package master

import (
	"fmt"

	"github.com/dagflow/dagflow/dag"
)

// AdoptedSplit is a split a running (or finished) source subtask attempt
// reports to a new leader after a master failover.
type AdoptedSplit struct {
	ID string
	// Tag is the last checkpoint barrier the subtask had processed when it
	// took the split (what it sent with its split request).
	Tag int64
	// Done is true when the subtask finished reading it, DoneTag the last
	// barrier it had processed then.
	Done    bool
	DoneTag int64
}

// adopt records the splits a source subtask attempt that kept running
// through a master failover took, so that none is handed out again.
// restored is the id of the checkpoint the coordinator was built from (0:
// none): a split taken before it is in that checkpoint's reader state and
// no longer in the queue. It fails, changing nothing, when a split is not
// known or the source enumerates splits in rounds (their log is not
// reconciled).
func (sc *SplitCoordinator) adopt(vertex, subtask, attempt int, splits []AdoptedSplit, restored int64) error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	s, ok := sc.sources[vertex]
	if !ok {
		return fmt.Errorf("master: vertex %d is not a source", vertex)
	}
	if s.dynamic {
		return fmt.Errorf("master: source %d enumerates splits in rounds: its split log is not reconciled", vertex)
	}
	if prev, seen := s.attempt[subtask]; seen {
		return fmt.Errorf("master: source %d[%d] already has attempt %d", vertex, subtask, prev)
	}
	taken := make(map[int]bool) // queue indexes
	var log []*assignment
	for _, sp := range splits {
		idx := -1
		for i, q := range s.queue {
			if q.split.ID == sp.ID && !taken[i] {
				idx = i
				break
			}
		}
		a := &assignment{subtask: subtask, tag: sp.Tag, owner: subtask, done: sp.Done, doneTag: sp.DoneTag}
		switch {
		case idx >= 0:
			q := s.queue[idx]
			taken[idx] = true
			a.split, a.round, a.owner = q.split, q.round, q.owner
		case restored > 0 && sp.Tag < restored:
			// In the restored checkpoint's reader state: a restart of
			// this subtask restores it from there, never rewinds it.
			a.split = dag.Split{ID: sp.ID}
		default:
			return fmt.Errorf("master: source %d[%d] reports split %q, which the split coordinator does not hold", vertex, subtask, sp.ID)
		}
		log = append(log, a)
	}
	queue := s.queue[:0:0]
	for i, q := range s.queue {
		if !taken[i] {
			queue = append(queue, q)
		}
	}
	s.queue = queue
	s.log = append(s.log, log...)
	s.attempt[subtask] = attempt
	return nil
}
