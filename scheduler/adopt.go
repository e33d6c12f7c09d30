package scheduler

import (
	"errors"
	"fmt"
	"time"
)

// ErrNotReconciled is wrapped by every error Adopt returns: the reports do
// not describe a state the scheduler can continue from, and the runtime
// should restart the job instead (Start on a fresh scheduler, from the
// latest checkpoint).
var ErrNotReconciled = errors.New("scheduler: cannot reconcile")

// AdoptedTask is one task attempt a worker reported to a new master after a
// master failover: still running, or finished with its blocking result still
// where it was written.
type AdoptedTask struct {
	Task    TaskID
	Attempt int
	// Worker and Slot are where the attempt runs or ran.
	Worker string
	Slot   int
	// State is Running or Finished (Deploying counts as Running).
	State TaskState
	// External is true when a finished attempt's blocking result lives on
	// an external shuffle service: it survives its worker.
	External bool
}

// Reconcile is what a new master knows about a job that kept running while
// the master changed: the attempts the workers reported, and the restarts
// the job already used (the restart budget continues from there).
type Reconcile struct {
	Now      time.Time
	Tasks    []AdoptedTask
	Restarts int
}

// Adopt starts a job in JobStateCreated from the attempts its workers
// report instead of deploying it: every reported attempt keeps its number,
// worker and slot, running ones hold their slots, finished ones offer their
// results. Workers must have joined before. A region must be reported whole
// (each of its tasks running or finished) or not at all; a region not
// reported is waiting, and is deployed as usual once its inputs are
// available. Adopt returns the actions that follows from the adopted state
// (deploys of regions whose inputs are all available, JobFinished when
// everything finished).
//
// When the reports are inconsistent (an unknown task, worker or slot, a
// task reported twice, a region reported in part, a running or finished
// region whose blocking inputs are not available, a finished result on a
// worker that is gone) Adopt changes nothing and returns an error wrapping
// ErrNotReconciled that names the first problem.
func (s *Scheduler) Adopt(r Reconcile) ([]Action, error) {
	if s.job != JobStateCreated {
		return nil, fmt.Errorf("%w: job already %s", ErrNotReconciled, s.job)
	}
	if r.Restarts < 0 {
		return nil, fmt.Errorf("%w: negative restart count %d", ErrNotReconciled, r.Restarts)
	}
	byTask, err := s.checkAdopted(r.Tasks)
	if err != nil {
		return nil, err
	}
	// Region states, and that every running or finished region has its
	// inputs: reported finished producers with results.
	regionState := make([]RegionState, len(s.regions))
	for reg := range s.plan.regions {
		st, err := s.adoptedRegionState(reg, byTask)
		if err != nil {
			return nil, err
		}
		regionState[reg] = st
	}
	for reg, st := range regionState {
		if st == RegionCreated {
			continue
		}
		for _, g := range s.plan.regions[reg].in {
			var missing error
			s.plan.groups[g].each(func(p int) {
				a, ok := byTask[p]
				if missing == nil && (!ok || a.State != Finished) {
					missing = fmt.Errorf("%w: region %d is %s but its input from task %s has no finished attempt",
						ErrNotReconciled, reg, st, s.name(p))
				}
			})
			if missing != nil {
				return nil, missing
			}
		}
	}
	s.advance(r.Now)
	for i := range s.tasks { // in task order: slots list their tasks in a stable order
		a, ok := byTask[i]
		if !ok {
			continue
		}
		t := &s.tasks[i]
		t.attempt = a.Attempt
		if a.State == Finished {
			t.worker, t.slot = a.Worker, a.Slot
			s.setTaskState(i, Finished)
			s.setResult(i, result{available: s.hasResult(i), external: a.External, worker: a.Worker, attempt: a.Attempt})
			continue
		}
		s.occupy(i, s.workers[a.Worker], a.Slot)
		s.setTaskState(i, Running)
	}
	for reg, st := range regionState {
		s.setRegionState(reg, st)
	}
	s.restarts = r.Restarts
	s.job = JobStateRunning
	return s.react(nil), nil
}

// checkAdopted validates the reported attempts one by one and returns them
// by task index.
func (s *Scheduler) checkAdopted(tasks []AdoptedTask) (map[int]AdoptedTask, error) {
	byTask := make(map[int]AdoptedTask, len(tasks))
	// hosted counts, per worker and slot, the reported running tasks of
	// each vertex: a slot hosts at most one subtask per vertex.
	type slotVertex struct {
		worker       string
		slot, vertex int
	}
	hosted := map[slotVertex]bool{}
	for _, a := range tasks {
		i, ok := s.index(a.Task)
		if !ok {
			return nil, fmt.Errorf("%w: unknown task %s", ErrNotReconciled, a.Task)
		}
		if _, dup := byTask[i]; dup {
			return nil, fmt.Errorf("%w: task %s reported twice", ErrNotReconciled, s.name(i))
		}
		if a.Attempt < 0 {
			return nil, fmt.Errorf("%w: task %s reported with attempt %d", ErrNotReconciled, s.name(i), a.Attempt)
		}
		if a.State == Deploying {
			a.State = Running
		}
		if a.State != Running && a.State != Finished {
			return nil, fmt.Errorf("%w: task %s attempt %d reported %s (want running or finished)",
				ErrNotReconciled, s.name(i), a.Attempt, a.State)
		}
		w, joined := s.workers[a.Worker]
		switch {
		case a.State == Finished && (joined || a.External || !s.hasResult(i)):
			// Its result, if any, is where it was written.
		case !joined:
			return nil, fmt.Errorf("%w: task %s attempt %d is %s on worker %q, which has not joined",
				ErrNotReconciled, s.name(i), a.Attempt, a.State, a.Worker)
		case a.State == Running && (a.Slot < 0 || a.Slot >= len(w.slots)):
			return nil, fmt.Errorf("%w: task %s attempt %d runs in slot %d of worker %s, which has %d slots",
				ErrNotReconciled, s.name(i), a.Attempt, a.Slot, a.Worker, len(w.slots))
		}
		if a.State == Running {
			k := slotVertex{a.Worker, a.Slot, a.Task.Vertex}
			if hosted[k] {
				return nil, fmt.Errorf("%w: slot %s/%d hosts two subtasks of vertex %s",
					ErrNotReconciled, a.Worker, a.Slot, s.plan.topo.VertexName(a.Task.Vertex))
			}
			hosted[k] = true
		}
		byTask[i] = a
	}
	return byTask, nil
}

// adoptedRegionState returns the state region reg takes from the reports:
// created when none of its tasks was reported, finished when all finished,
// running otherwise. A region reported in part is an error.
func (s *Scheduler) adoptedRegionState(reg int, byTask map[int]AdoptedTask) (RegionState, error) {
	tasks := s.plan.regions[reg].tasks
	reported, finished := 0, 0
	missing := -1
	for _, i := range tasks {
		a, ok := byTask[i]
		if !ok {
			if missing < 0 {
				missing = i
			}
			continue
		}
		reported++
		if a.State == Finished {
			finished++
		}
	}
	switch {
	case reported == 0:
		return RegionCreated, nil
	case missing >= 0:
		return 0, fmt.Errorf("%w: region %d reported in part: task %s has no running or finished attempt",
			ErrNotReconciled, reg, s.name(missing))
	case finished == len(tasks):
		return RegionFinished, nil
	}
	return RegionRunning, nil
}
