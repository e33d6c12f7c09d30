package master

import (
	"context"
	"fmt"
	"sync"

	"github.com/dagflow/dagflow/dag"
)

// SplitCoordinator hands source splits to source subtasks. Splits of
// bounded sources are pulled on demand from a shared queue (so fast
// subtasks take more); splits of unbounded sources are assigned statically,
// split i to subtask i mod parallelism. When a subtask starts a new attempt
// (its region restarted) the splits its previous attempt took go back to
// the queue, so no data is lost.
type SplitCoordinator struct {
	mu      sync.Mutex
	sources map[int]*sourceSplits
}

type sourceSplits struct {
	bounded     bool
	parallelism int
	queue       []dag.Split
	total       int
	weight      int64
	// per subtask: attempt and splits handed to it in that attempt
	attempt map[int]int
	taken   map[int][]dag.Split
	owner   map[string]int // unbounded: split id -> subtask
	reading map[int]bool   // subtask holds a split it has not finished
	done    int            // splits read to the end
	doneW   int64
}

// NewSplitCoordinator enumerates the splits of every source of the plan.
// An enumeration error (a missing input path) fails the job before any
// task starts.
func NewSplitCoordinator(ctx context.Context, p *dag.Plan, code JobCode) (*SplitCoordinator, error) {
	sc := &SplitCoordinator{sources: make(map[int]*sourceSplits)}
	for _, v := range p.Vertices {
		if v.Kind != "source" {
			continue
		}
		splits, err := code.Splits(ctx, v.ID)
		if err != nil {
			return nil, err
		}
		s := &sourceSplits{bounded: v.Bounded, parallelism: v.Parallelism, queue: splits, total: len(splits),
			attempt: make(map[int]int), taken: make(map[int][]dag.Split), owner: make(map[string]int),
			reading: make(map[int]bool)}
		for i, sp := range splits {
			s.weight += sp.Weight
			s.owner[sp.ID] = i % v.Parallelism
		}
		sc.sources[v.ID] = s
	}
	return sc, nil
}

// NextSplit hands the next split to a source subtask attempt.
func (sc *SplitCoordinator) NextSplit(_ context.Context, vertex, subtask, attempt int) (dag.Split, bool, error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	s, ok := sc.sources[vertex]
	if !ok {
		return dag.Split{}, false, fmt.Errorf("master: vertex %d is not a source", vertex)
	}
	if prev, seen := s.attempt[subtask]; !seen || attempt > prev {
		// A new attempt: what the old one took must be read again.
		old := s.taken[subtask]
		if len(old) > 0 {
			s.queue = append(append([]dag.Split(nil), old...), s.queue...)
			s.uncount(old, s.reading[subtask])
		}
		s.attempt[subtask] = attempt
		s.taken[subtask] = nil
		s.reading[subtask] = false
	} else if attempt < prev {
		return dag.Split{}, false, fmt.Errorf("master: stale attempt %d of source %d[%d]", attempt, vertex, subtask)
	}
	idx := -1
	if s.bounded {
		if len(s.queue) > 0 {
			idx = 0
		}
	} else {
		for i, sp := range s.queue {
			if s.owner[sp.ID] == subtask {
				idx = i
				break
			}
		}
	}
	// A bounded reader asks for its next split only after finishing the
	// previous one.
	s.finishCurrent(subtask)
	if idx < 0 {
		return dag.Split{}, false, nil
	}
	sp := s.queue[idx]
	s.queue = append(s.queue[:idx], s.queue[idx+1:]...)
	s.taken[subtask] = append(s.taken[subtask], sp)
	s.reading[subtask] = true
	return sp, true, nil
}

// finishCurrent counts the subtask's current split as done.
func (s *sourceSplits) finishCurrent(subtask int) {
	if !s.reading[subtask] {
		return
	}
	s.reading[subtask] = false
	if t := s.taken[subtask]; len(t) > 0 {
		s.done++
		s.doneW += t[len(t)-1].Weight
	}
}

// uncount takes back the done count of splits returned to the queue; the
// last one was still being read when reading is true.
func (s *sourceSplits) uncount(splits []dag.Split, reading bool) {
	if reading {
		splits = splits[:len(splits)-1]
	}
	for _, sp := range splits {
		s.done--
		s.doneW -= sp.Weight
	}
}

// SubtaskFinished records that a source subtask attempt ended
// successfully: its current split is done.
func (sc *SplitCoordinator) SubtaskFinished(vertex, subtask, attempt int) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if s, ok := sc.sources[vertex]; ok && s.attempt[subtask] == attempt {
		s.finishCurrent(subtask)
	}
}

// SplitProgress is how far the bounded sources got.
type SplitProgress struct {
	Done, Total int
	Weight      int64 // weight of finished splits
	TotalWeight int64
}

// Progress sums over all bounded sources.
func (sc *SplitCoordinator) Progress() SplitProgress {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	var p SplitProgress
	for _, s := range sc.sources {
		if !s.bounded {
			continue
		}
		p.Done += s.done
		p.Total += s.total
		p.Weight += s.doneW
		p.TotalWeight += s.weight
	}
	return p
}
