package coordinator

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/scheduler"
)

// TestRandomEventSequences feeds seeded random event sequences (reports of
// current, late and stale attempts, declines, failures with and without a
// failed restore, finishes, savepoints, storage and commit outcomes in any
// order, ticks, the job finishing or aborting) and checks invariants after
// every step:
//
//   - checkpoint ids increase, and a checkpoint is triggered only when none
//     is in flight;
//   - commits run one at a time, in sequence order;
//   - every committable of a current attempt is, at any time, exactly once
//     either held, committed, discarded or abandoned; a stale attempt's
//     never appears;
//   - when the job finished, nothing is held;
//   - the same seed yields the same actions.
func TestRandomEventSequences(t *testing.T) {
	seeds := 300
	if testing.Short() {
		seeds = 50
	}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		log1 := runRandom(t, seed)
		if log2 := runRandom(t, seed); log1 != log2 {
			t.Fatalf("seed %d: two runs emitted different actions", seed)
		}
	}
}

type rtask struct {
	attempt int
	state   scheduler.TaskState
	// acked is the last checkpoint the current attempt reported on.
	acked int64
}

type rsim struct {
	t    *testing.T
	seed uint64
	rng  *rand.Rand
	c    *Coordinator
	now  time.Time
	log  strings.Builder

	tasks    map[scheduler.TaskID]*rtask
	order    []scheduler.TaskID
	nextTok  int
	accepted map[string]bool
	stale    map[string]bool
	// outcome counts of every committable token.
	committed, discarded, abandoned map[string]int

	lastID     int64
	open       map[int64]bool
	persist    *Persist
	commit     *Commit
	lastSeq    int64
	nextReq    int64
	finishing  bool
	ended      bool
	finished   bool
	storeFails bool
}

func runRandom(t *testing.T, seed uint64) string {
	rng := rand.New(rand.NewPCG(seed, seed*7919))
	cfg := dag.CheckpointConfig{Timeout: time.Duration(2+rng.IntN(10)) * time.Second, Retain: rng.IntN(4)}
	if rng.IntN(4) > 0 {
		cfg.Interval = time.Duration(1+rng.IntN(3)) * time.Second
		cfg.MinPause = time.Duration(rng.IntN(2)) * time.Second
	}
	s := &rsim{t: t, seed: seed, rng: rng, now: epoch, tasks: make(map[scheduler.TaskID]*rtask),
		accepted: map[string]bool{}, stale: map[string]bool{}, committed: map[string]int{}, discarded: map[string]int{},
		abandoned: map[string]int{}, open: map[int64]bool{}}
	var restored *checkpoint.Metadata
	if rng.IntN(3) == 0 {
		restored = &checkpoint.Metadata{ID: int64(1 + rng.IntN(5))}
		s.lastID = restored.ID
	}
	s.c = New(cfg, restored)
	s.apply(s.c.Start(s.now))
	for v := 0; v < 2; v++ {
		for sub := 0; sub < 2; sub++ {
			id := scheduler.TaskID{Vertex: v, Subtask: sub}
			s.order = append(s.order, id)
			s.tasks[id] = &rtask{attempt: -1}
			s.deploy(id)
		}
	}
	for step := 0; step < 400 && !s.ended; step++ {
		s.randomEvent()
		s.check(step)
	}
	return s.log.String()
}

func (s *rsim) fatalf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("seed %d: %s\nactions so far:\n%s", s.seed, fmt.Sprintf(format, args...), s.log.String())
}

// token returns committables for a sink task (nil for sources), recording
// whether the coordinator must account for them.
func (s *rsim) token(id scheduler.TaskID, attempt int) map[int][][]byte {
	if id.Vertex != 1 || s.rng.IntN(3) == 0 {
		return nil
	}
	s.nextTok++
	tok := fmt.Sprintf("c%d", s.nextTok)
	if attempt == s.tasks[id].attempt {
		s.accepted[tok] = true
	} else {
		s.stale[tok] = true
	}
	return map[int][][]byte{1: {[]byte(tok)}}
}

func (s *rsim) attempt(id scheduler.TaskID) int {
	a := s.tasks[id].attempt
	if s.rng.IntN(8) == 0 && a > 0 {
		return a - 1 // a stale attempt
	}
	return a
}

func (s *rsim) deploy(id scheduler.TaskID) {
	var from int64
	if md := s.c.Latest(); md != nil {
		from = md.ID
	}
	s.tasks[id].attempt++
	s.tasks[id].state = scheduler.Running
	s.tasks[id].acked = 0
	s.step(TaskDeployed{Now: s.now, Task: id, Attempt: s.tasks[id].attempt, RestoredFrom: from, Vertices: []int{id.Vertex}})
}

func (s *rsim) randomEvent() {
	id := s.order[s.rng.IntN(len(s.order))]
	switch r := s.rng.IntN(100); {
	case r < 25:
		s.now = s.now.Add(time.Duration(s.rng.IntN(1500)) * time.Millisecond)
		ev := Tick{Now: s.now, Settling: s.rng.IntN(10) == 0, Backfilling: s.rng.IntN(2) == 0}
		for _, tid := range s.order {
			ev.Tasks = append(ev.Tasks, Task{ID: tid, Attempt: s.tasks[tid].attempt, Worker: "w", State: s.tasks[tid].state, Trigger: tid.Vertex == 0})
		}
		s.step(ev)
	case r < 50:
		ckpt := s.lastID
		if s.rng.IntN(4) == 0 && ckpt > 1 {
			ckpt -= int64(1 + s.rng.IntN(int(ckpt-1))) // a late report
		}
		ev := Report{Now: s.now, ID: ckpt, Files: s.rng.IntN(3)}
		for _, tid := range s.order {
			if s.rng.IntN(2) == 0 {
				continue
			}
			att := s.attempt(tid)
			if att == s.tasks[tid].attempt {
				if s.tasks[tid].state == scheduler.Finished {
					continue // a finished attempt reported all it took
				}
				s.tasks[tid].acked = max(s.tasks[tid].acked, ckpt)
			}
			cs := s.token(tid, att)
			if s.rng.IntN(12) == 0 {
				ev.Declines = append(ev.Declines, Decline{Task: tid, Attempt: att, Reason: "random", Committables: cs})
				continue
			}
			ts := checkpoint.TaskState{Task: tid.Vertex, Subtask: tid.Subtask}
			for v, c := range cs {
				ts.Operators = append(ts.Operators, checkpoint.OperatorState{Vertex: v, Committables: c})
			}
			ev.Acks = append(ev.Acks, Ack{Task: tid, Attempt: att, State: ts})
		}
		s.step(ev)
	case r < 58:
		if s.persist != nil {
			p := s.persist
			s.persist = nil
			if s.rng.IntN(5) == 0 {
				s.step(StorageFailed{Now: s.now, ID: p.ID, Err: "random"})
			} else {
				s.step(StorageCompleted{Now: s.now, ID: p.ID, Metadata: &checkpoint.Metadata{ID: p.ID, Committables: p.Committables}})
			}
		}
	case r < 68:
		if s.commit != nil {
			cm := s.commit
			s.commit = nil
			vs := sortedInts(cm.Committables)
			if len(vs) > 0 && s.rng.IntN(3) == 0 {
				failed := vs[s.rng.IntN(len(vs))]
				for _, v := range vs {
					if v < failed {
						s.count(s.committed, cm.Committables[v])
					}
				}
				s.step(CommitFailed{Now: s.now, Seq: cm.Seq, Vertex: failed, Err: "random"})
			} else {
				for _, v := range vs {
					s.count(s.committed, cm.Committables[v])
				}
				s.step(CommitDone{Now: s.now, Seq: cm.Seq})
			}
		}
	case r < 72:
		s.step(RetryDue{Now: s.now})
	case r < 78:
		if s.tasks[id].state == scheduler.Running && !s.finishing {
			ev := TaskFailed{Now: s.now, Task: id, Attempt: s.tasks[id].attempt, Cause: "random"}
			if md := s.c.Latest(); md != nil && s.rng.IntN(3) == 0 {
				ev.RestoreFailed, ev.Checkpoint = true, md.ID
			}
			s.tasks[id].state = scheduler.Failed
			if s.step(ev) {
				s.step(JobAborted{Now: s.now}) // the scheduler fails the job
				return
			}
			s.deploy(id)
		}
	case r < 84:
		if s.tasks[id].state == scheduler.Running {
			att := s.attempt(id)
			// It took at least the barriers it reported on.
			last := s.tasks[id].acked
			if s.lastID > last {
				last += int64(s.rng.IntN(int(s.lastID-last) + 1))
			}
			ev := TaskFinished{Now: s.now, Task: id, Attempt: att, LastCheckpoint: last, Committables: s.token(id, att)}
			if att == s.tasks[id].attempt {
				s.tasks[id].state = scheduler.Finished
			}
			s.step(ev)
			if !s.finishing && s.allFinished() {
				s.finishing = true
				s.step(JobFinishing{Now: s.now})
			}
		}
	case r < 88:
		s.nextReq++
		kind := engine.KindSavepoint
		if s.rng.IntN(2) == 0 {
			kind = engine.KindDrainSavepoint
		}
		s.step(SavepointRequested{Now: s.now, Req: s.nextReq, Dir: "sp", Kind: kind})
	case r < 91:
		s.step(WorkerLost{Now: s.now})
	case r < 94:
		s.step(TriggerFailed{Now: s.now, ID: s.lastID, Reason: "random"})
	case r < 96:
		s.step(TriggerRequested{Now: s.now})
	case r < 97:
		s.step(JobAborted{Now: s.now})
	}
}

func (s *rsim) allFinished() bool {
	for _, tk := range s.tasks {
		if tk.state != scheduler.Finished {
			return false
		}
	}
	return true
}

func (s *rsim) count(m map[string]int, cs [][]byte) {
	for _, c := range cs {
		m[string(c)]++
	}
}

// step feeds ev and applies the actions; it reports whether a FailJob came.
func (s *rsim) step(ev Event) bool {
	fmt.Fprintf(&s.log, "> %T\n", ev)
	return s.apply(s.c.Step(ev))
}

func (s *rsim) apply(actions []Action) bool {
	failed := false
	for _, a := range actions {
		fmt.Fprintf(&s.log, "%s\n", a)
		switch a := a.(type) {
		case Trigger:
			if a.Barrier.ID <= s.lastID {
				s.fatalf("checkpoint %d triggered after %d", a.Barrier.ID, s.lastID)
			}
			if len(s.open) > 0 {
				s.fatalf("checkpoint %d triggered while %v in flight", a.Barrier.ID, s.open)
			}
			s.lastID = a.Barrier.ID
			s.open[a.Barrier.ID] = true
		case Abort:
			delete(s.open, a.Stats.ID)
			if s.persist != nil && s.persist.ID == a.Stats.ID {
				s.persist = nil
			}
		case Completed:
			delete(s.open, a.Stats.ID)
		case Persist:
			if !s.open[a.ID] {
				s.fatalf("persist of %d, which is not in flight", a.ID)
			}
			p := a
			s.persist = &p
		case Commit:
			if s.commit != nil && s.commit.Seq != a.Seq {
				s.fatalf("commit %d emitted while %d runs", a.Seq, s.commit.Seq)
			}
			if a.Seq < s.lastSeq {
				s.fatalf("commit %d after %d", a.Seq, s.lastSeq)
			}
			s.lastSeq = a.Seq
			cm := a
			s.commit = &cm
		case Discard:
			for _, cs := range a.Committables {
				s.count(s.discarded, cs)
			}
		case CommitAbandoned:
			for _, cs := range a.Committables {
				s.count(s.abandoned, cs)
			}
			if s.commit != nil && s.commit.Seq == a.Seq {
				s.commit = nil
			}
		case FailJob:
			failed = true
			if s.c.ended {
				s.ended = true
			}
		case Finished:
			s.ended, s.finished = true, true
		}
	}
	if s.c.ended {
		s.ended = true
	}
	return failed
}

func (s *rsim) check(step int) {
	held := map[string]int{}
	for _, cs := range s.c.Held() {
		s.count(held, cs)
	}
	for tok := range s.stale {
		if n := held[tok] + s.committed[tok] + s.discarded[tok] + s.abandoned[tok]; n != 0 {
			s.fatalf("step %d: committable %s of a stale attempt was kept (%d times)", step, tok, n)
		}
	}
	for tok := range s.accepted {
		n := held[tok] + s.committed[tok] + s.discarded[tok] + s.abandoned[tok]
		if s.ended && !s.finished && n == held[tok] {
			// The job failed: what is held is never committed (the
			// runtime stops); nothing may have been lost before.
			n = 1
		}
		if n != 1 {
			s.fatalf("step %d: committable %s: held %d, committed %d, discarded %d, abandoned %d",
				step, tok, held[tok], s.committed[tok], s.discarded[tok], s.abandoned[tok])
		}
	}
	if s.finished && len(held) > 0 {
		s.fatalf("finished with committables held: %v", held)
	}
}
