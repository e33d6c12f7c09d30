package scheduler

import "fmt"

// This file holds the per-event handlers Step dispatches to, and the job's
// terminal transitions. Each handler receives an event accepts() let through.

func (s *Scheduler) onTaskFinished(e TaskFinished) []Action {
	i, _ := s.index(e.Task)
	t := &s.tasks[i]
	s.vacate(i)
	if t.state == Canceling {
		s.setTaskState(i, Canceled)
		if s.hasResult(i) {
			return []Action{DiscardResult{Task: e.Task, Attempt: e.Attempt, Worker: t.worker, External: e.External}}
		}
		return nil
	}
	s.setTaskState(i, Finished)
	s.setResult(i, result{available: s.hasResult(i), external: e.External, worker: t.worker, attempt: e.Attempt})
	r := s.plan.regionOf[i]
	if s.regions[r].finished == len(s.plan.regions[r].tasks) {
		s.setRegionState(r, RegionFinished)
	}
	return nil
}

// onTaskStopped handles an attempt that stopped on its own (failed or
// canceled). A Canceling task just completes its cancellation; otherwise the
// job fails (fatal) or its region fails over.
func (s *Scheduler) onTaskStopped(i int, state TaskState, cause string, fatal bool) []Action {
	t := &s.tasks[i]
	s.vacate(i)
	if t.state == Canceling {
		s.setTaskState(i, Canceled)
		return nil
	}
	s.setTaskState(i, state)
	if s.job != JobStateRunning {
		return nil
	}
	if fatal {
		return s.failJob(nil, fmt.Sprintf("%s (non-retriable)", cause))
	}
	return s.failover(nil, cause, []int{s.plan.regionOf[i]})
}

func (s *Scheduler) onWorkerLost(name string) []Action {
	s.removeWorker(name)
	var seeds []int
	var lost []string
	for i := range s.tasks {
		t := &s.tasks[i]
		if t.state.Active() && t.worker == name {
			if t.state != Canceling {
				seeds = append(seeds, s.plan.regionOf[i])
				lost = append(lost, fmt.Sprintf("%s attempt %d", s.name(i), t.attempt))
			}
			s.setTaskState(i, Lost)
		}
		if t.state == Finished && t.result.available && !t.result.external && t.result.worker == name {
			s.setAvailable(i, false)
		}
	}
	if s.job != JobStateRunning {
		return nil
	}
	seeds = append(seeds, s.lostNeededResults()...)
	if len(seeds) == 0 {
		return nil
	}
	cause := "worker " + name + " lost"
	if len(lost) > 0 {
		cause += fmt.Sprintf(" with task %s", lost[0])
		if len(lost) > 1 {
			cause += fmt.Sprintf(" and %d more", len(lost)-1)
		}
	}
	return s.failover(nil, cause, sortedUnique(seeds))
}

func (s *Scheduler) onResultLost(e ResultLost) []Action {
	i, _ := s.index(e.Task)
	s.setAvailable(i, false)
	if s.job != JobStateRunning {
		return nil
	}
	seeds := s.lostNeededResults()
	if len(seeds) == 0 {
		return nil
	}
	return s.failover(nil, fmt.Sprintf("result of task %s attempt %d lost", s.name(i), e.Attempt), seeds)
}

// onResultsLost marks every still-available result of e unavailable, then
// fails over once for all the lost results consumers still need.
func (s *Scheduler) onResultsLost(e ResultsLost) []Action {
	var lost []string
	for _, r := range e.Results {
		if !s.resultAvailable(r.Task, r.Attempt) {
			continue
		}
		i, _ := s.index(r.Task)
		s.setAvailable(i, false)
		lost = append(lost, fmt.Sprintf("%s attempt %d", s.name(i), r.Attempt))
	}
	if s.job != JobStateRunning {
		return nil
	}
	seeds := s.lostNeededResults()
	if len(seeds) == 0 {
		return nil
	}
	cause := fmt.Sprintf("result of task %s lost", lost[0])
	if len(lost) > 1 {
		cause = fmt.Sprintf("results of task %s and %d more lost", lost[0], len(lost)-1)
	}
	return s.failover(nil, cause, seeds)
}

func (s *Scheduler) onCancelJob() []Action {
	if s.job == JobStateCreated {
		return s.endJob(nil, JobStateCanceled, "")
	}
	s.job = JobStateCanceling
	out := s.cancelActive(nil)
	return s.maybeCanceled(out)
}

// cancelActive emits a Cancel for every Deploying or Running task.
func (s *Scheduler) cancelActive(out []Action) []Action {
	for i := range s.tasks {
		if st := s.tasks[i].state; st == Deploying || st == Running {
			out = s.cancel(out, i)
		}
	}
	return out
}

func (s *Scheduler) cancel(out []Action, i int) []Action {
	t := &s.tasks[i]
	s.setTaskState(i, Canceling)
	return append(out, Cancel{Task: s.plan.ids[i], Attempt: t.attempt, Worker: t.worker})
}

// maybeCanceled completes a cancellation once no task holds a slot.
func (s *Scheduler) maybeCanceled(out []Action) []Action {
	if s.job != JobStateCanceling {
		return out
	}
	if s.active > 0 {
		return out
	}
	return s.endJob(out, JobStateCanceled, "")
}

// failJob cancels every running task and fails the job.
func (s *Scheduler) failJob(out []Action, reason string) []Action {
	out = s.cancelActive(out)
	return s.endJob(out, JobStateFailed, reason)
}

func (s *Scheduler) endJob(out []Action, state JobState, reason string) []Action {
	s.job, s.reason = state, reason
	out = append(out, ReleaseResults{})
	switch state {
	case JobStateFinished:
		return append(out, JobFinished{})
	case JobStateFailed:
		return append(out, JobFailed{Reason: reason})
	default:
		return append(out, JobCanceled{})
	}
}
