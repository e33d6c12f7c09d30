package master

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/internal/protocol"
)

// SplitCoordinator hands source splits to source subtasks. Splits of
// bounded sources are pulled on demand from a shared queue (so fast
// subtasks take more); splits of unbounded sources are assigned statically,
// split i to subtask i mod parallelism.
//
// Every assignment is logged with the last checkpoint barrier the subtask
// had processed when it asked (its tag), so the coordinator's state at any
// checkpoint C is exact: splits assigned with a tag below C are in the
// readers' checkpointed state (or finished), the others are pending. When
// a subtask attempt restarts from checkpoint K (K = 0: from scratch), the
// splits it took at or after K go back to the queue.
type SplitCoordinator struct {
	mu      sync.Mutex
	code    JobCode
	sources map[int]*sourceSplits
}

type assignment struct {
	split   dag.Split
	subtask int
	tag     int64
	round   int
	owner   int
	done    bool
	doneTag int64
}

type sourceSplits struct {
	vertex      int
	bounded     bool
	dynamic     bool
	parallelism int
	queue       []queued
	log         []*assignment
	attempt     map[int]int
	// Dynamic enumeration: rounds (with the tag at which each was
	// enumerated), finished-split reports, done.
	rounds   []int64
	reports  []taggedReport
	finished bool
	total    int
	weight   int64
}

type queued struct {
	split dag.Split
	round int
	owner int // unbounded sources: the subtask it is assigned to
}

type taggedReport struct {
	rep     dag.FinishedSplit
	subtask int
	tag     int64
}

// enqueue adds the splits of a round, assigning unbounded ones in turn.
func (s *sourceSplits) enqueue(splits []dag.Split, round int) {
	for i, sp := range splits {
		s.queue = append(s.queue, queued{split: sp, round: round, owner: i % s.parallelism})
		s.total++
		s.weight += sp.Weight
	}
}

// NewSplitCoordinator enumerates the splits of every source of the plan.
// An enumeration error (a missing input path) fails the job before any
// task starts.
func NewSplitCoordinator(ctx context.Context, p *dag.Plan, code JobCode) (*SplitCoordinator, error) {
	return newSplitCoordinator(ctx, p, code, nil)
}

func newSplitCoordinator(ctx context.Context, p *dag.Plan, code JobCode, md *checkpoint.Metadata) (*SplitCoordinator, error) {
	sc := &SplitCoordinator{code: code, sources: make(map[int]*sourceSplits)}
	for _, v := range p.Vertices {
		if v.Kind != "source" {
			continue
		}
		s := &sourceSplits{vertex: v.ID, bounded: v.Bounded, parallelism: v.Parallelism, attempt: make(map[int]int),
			dynamic: code.IsDynamic(v.ID)}
		if md != nil {
			// Restoring: the pending splits of the checkpoint; the others
			// are in the restored readers or finished.
			s.enqueue(md.PendingSplits[v.ID], md.Rounds[v.ID])
			for i := 0; i < md.Rounds[v.ID]; i++ {
				s.rounds = append(s.rounds, 0)
			}
			for _, r := range md.Reports[v.ID] {
				s.reports = append(s.reports, taggedReport{rep: r})
			}
			s.finished = md.Done[v.ID]
		} else {
			splits, err := enumerateSplits(ctx, code, v.ID)
			if err != nil {
				return nil, err
			}
			s.enqueue(splits, 0)
			s.rounds = []int64{0}
		}
		sc.sources[v.ID] = s
	}
	return sc, nil
}

// NextSplit hands the next split to a source subtask attempt.
func (sc *SplitCoordinator) NextSplit(ctx context.Context, req protocol.SplitRequest) (protocol.SplitResponse, error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	s, ok := sc.sources[req.Vertex]
	if !ok {
		return protocol.SplitResponse{}, fmt.Errorf("master: vertex %d is not a source", req.Vertex)
	}
	if prev, seen := s.attempt[req.Subtask]; !seen || req.Attempt > prev {
		// A new attempt, restored from checkpoint req.Checkpoint (0: from
		// scratch): what the old one took after it must be read again.
		s.rewind(req.Subtask, req.Checkpoint)
		s.attempt[req.Subtask] = req.Attempt
	} else if req.Attempt < prev {
		return protocol.SplitResponse{}, fmt.Errorf("master: stale attempt %d of source %d[%d]", req.Attempt, req.Vertex, req.Subtask)
	}
	for _, f := range req.Finished {
		s.markDone(req.Subtask, f, req.Checkpoint)
	}
	if resp, ok := s.take(req); ok {
		return resp, nil
	}
	if !s.dynamic || s.finished {
		return protocol.SplitResponse{}, nil
	}
	// A dynamic source enumerates its next round once every split handed
	// out so far finished.
	if len(s.queue) > 0 || s.open() > 0 {
		return protocol.SplitResponse{Wait: true}, nil
	}
	reports := make([]dag.FinishedSplit, len(s.reports))
	for i, r := range s.reports {
		reports[i] = r.rep
	}
	splits, done, err := enumerateMoreSplits(ctx, sc.code, req.Vertex, len(s.rounds), reports)
	if err != nil {
		return protocol.SplitResponse{}, fmt.Errorf("master: enumerate round %d of source %d: %w", len(s.rounds), req.Vertex, err)
	}
	s.enqueue(splits, len(s.rounds))
	s.rounds = append(s.rounds, req.Checkpoint)
	s.finished = done
	if resp, ok := s.take(req); ok {
		return resp, nil
	}
	return protocol.SplitResponse{Wait: !done || len(s.queue) > 0}, nil
}

// enumerateSplits runs a source's split enumerator: a panic in it fails
// the job with the user's stack instead of crashing the master.
func enumerateSplits(ctx context.Context, code JobCode, vertex int) (splits []dag.Split, err error) {
	defer protocol.CatchPanic(&err, fmt.Sprintf("split enumerator of source %d", vertex))
	return code.Splits(ctx, vertex)
}

// enumerateMoreSplits runs a dynamic source's enumerator for round: a
// panic in it is fatal (the asking task fails the job, no restart) and
// carries the user's stack.
func enumerateMoreSplits(ctx context.Context, code JobCode, vertex, round int, finished []dag.FinishedSplit) (splits []dag.Split, done bool, err error) {
	defer func() {
		var pe *protocol.PanicError
		if errors.As(err, &pe) {
			err = dag.Fatal(err)
		}
	}()
	defer protocol.CatchPanic(&err, fmt.Sprintf("split enumerator of dynamic source %d", vertex))
	return code.MoreSplits(ctx, vertex, round, finished)
}

// take hands the subtask its next queued split, if any.
func (s *sourceSplits) take(req protocol.SplitRequest) (protocol.SplitResponse, bool) {
	idx := s.pick(req.Subtask)
	if idx < 0 {
		return protocol.SplitResponse{}, false
	}
	q := s.queue[idx]
	s.queue = append(s.queue[:idx], s.queue[idx+1:]...)
	s.log = append(s.log, &assignment{split: q.split, subtask: req.Subtask, tag: req.Checkpoint, round: q.round, owner: q.owner})
	return protocol.SplitResponse{Split: q.split, OK: true}, true
}

// Restart prepares for a new attempt of a source subtask restored from
// checkpoint k (0: from scratch): the splits its previous attempts took at
// or after k go back to the queue now, before any subtask asks again.
func (sc *SplitCoordinator) Restart(vertex, subtask, attempt int, k int64) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	s, ok := sc.sources[vertex]
	if !ok {
		return
	}
	if prev, seen := s.attempt[subtask]; seen && attempt <= prev {
		return
	}
	s.rewind(subtask, k)
	s.attempt[subtask] = attempt
}

// pick chooses the queue index of the subtask's next split (-1: none).
func (s *sourceSplits) pick(subtask int) int {
	if s.bounded {
		if len(s.queue) > 0 {
			return 0
		}
		return -1
	}
	for i, q := range s.queue {
		if q.owner == subtask {
			return i
		}
	}
	return -1
}

func (s *sourceSplits) open() int {
	n := 0
	for _, a := range s.log {
		if !a.done {
			n++
		}
	}
	return n
}

func (s *sourceSplits) markDone(subtask int, f dag.FinishedSplit, tag int64) {
	for _, a := range s.log {
		if a.subtask == subtask && a.split.ID == f.ID && !a.done {
			a.done, a.doneTag = true, tag
			break
		}
	}
	s.reports = append(s.reports, taggedReport{rep: f, subtask: subtask, tag: tag})
}

// rewind returns the splits a subtask took at or after checkpoint k (all
// of them when k is 0) to the queue; splits it finished after k are open
// again in its restored reader.
func (s *sourceSplits) rewind(subtask int, k int64) {
	var keep []*assignment
	var back []queued
	for _, a := range s.log {
		if a.subtask != subtask {
			keep = append(keep, a)
			continue
		}
		if k == 0 || a.tag >= k {
			back = append(back, queued{split: a.split, round: a.round, owner: a.owner})
			continue
		}
		if a.done && a.doneTag >= k {
			a.done = false
		}
		keep = append(keep, a)
	}
	s.log = keep
	s.queue = append(back, s.queue...)
	var reps []taggedReport
	for _, r := range s.reports {
		if r.subtask == subtask && (k == 0 || r.tag >= k) {
			continue
		}
		reps = append(reps, r)
	}
	s.reports = reps
}

// SubtaskFinished records that a source subtask attempt ended
// successfully.
func (sc *SplitCoordinator) SubtaskFinished(vertex, subtask, attempt int) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if s, ok := sc.sources[vertex]; ok && s.attempt[subtask] == attempt {
		for _, a := range s.log {
			if a.subtask == subtask && !a.done {
				a.done, a.doneTag = true, 1<<62
			}
		}
	}
}

// snapshot returns the coordinator's state at checkpoint id (see the type
// comment) into md.
func (sc *SplitCoordinator) snapshot(id int64, md *checkpoint.Metadata) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	md.PendingSplits = make(map[int][]dag.Split)
	for _, v := range sortedKeys(sc.sources) {
		s := sc.sources[v]
		known := 0
		for r, tag := range s.rounds {
			if tag < id || r == 0 {
				known = r + 1
			}
		}
		for _, a := range s.log {
			if a.tag < id && a.round+1 > known {
				known = a.round + 1
			}
		}
		var pending []dag.Split
		for _, a := range s.log {
			if a.tag >= id && a.round < known {
				pending = append(pending, a.split)
			}
		}
		for _, q := range s.queue {
			if q.round < known {
				pending = append(pending, q.split)
			}
		}
		sort.SliceStable(pending, func(i, j int) bool { return pending[i].ID < pending[j].ID })
		md.PendingSplits[v] = pending
		if s.dynamic {
			if md.Rounds == nil {
				md.Rounds, md.Reports, md.Done = make(map[int]int), make(map[int][]dag.FinishedSplit), make(map[int]bool)
			}
			md.Rounds[v] = known
			for _, r := range s.reports {
				if r.tag < id {
					md.Reports[v] = append(md.Reports[v], r.rep)
				}
			}
			md.Done[v] = s.finished && known == len(s.rounds)
		}
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
		p.Total += s.total
		p.TotalWeight += s.weight
		for _, a := range s.log {
			if a.done {
				p.Done++
				p.Weight += a.split.Weight
			}
		}
	}
	return p
}

// backfilling reports whether a dynamic source is still in a bounded
// phase: it has rounds to come.
func (sc *SplitCoordinator) backfilling() bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for _, s := range sc.sources {
		if s.dynamic && !s.finished {
			return true
		}
	}
	return false
}

// Phase describes the split enumeration of a source for status pages.
type Phase struct {
	Vertex int  `json:"vertex"`
	Round  int  `json:"round"`
	Done   bool `json:"done"`
	// Pending splits not yet read; Open splits being read.
	Pending int `json:"pending"`
	Open    int `json:"open"`
}

// Phases returns the enumeration state of every dynamic source.
func (sc *SplitCoordinator) Phases() []Phase {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	var out []Phase
	for _, v := range sortedKeys(sc.sources) {
		s := sc.sources[v]
		if !s.dynamic {
			continue
		}
		out = append(out, Phase{Vertex: v, Round: len(s.rounds) - 1, Done: s.finished, Pending: len(s.queue), Open: s.open()})
	}
	return out
}
