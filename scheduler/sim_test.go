package scheduler

// The checks TestRandomEvents runs after every step: the actions of the step
// are validated against the driver's model (and update it), then the
// scheduler's status is compared with the model.

// checkActions validates the actions of one step against the model and
// updates the model.
func (sm *sim) checkActions(actions []Action) {
	deployed := map[int]int{} // region → tasks deployed in this step
	for k, a := range actions {
		if sm.ended {
			sm.fail("action %s after the job ended with %s", a, sm.endAction)
		}
		switch a := a.(type) {
		case Deploy:
			sm.checkDeploy(a)
			deployed[sm.regionOf[a.Task]]++
		case Cancel:
			lt := sm.active[a.Task]
			if lt == nil || lt.attempt != a.Attempt || lt.worker != a.Worker {
				sm.fail("cancel of %s attempt %d on %s, which is not running there", a.Task, a.Attempt, a.Worker)
			}
			if lt.canceling {
				sm.fail("second cancel of %s attempt %d", a.Task, a.Attempt)
			}
			lt.canceling = true
		case DiscardResult:
			if a.Attempt > sm.lastAttempt[a.Task] {
				sm.fail("discard of %s attempt %d, never deployed", a.Task, a.Attempt)
			}
			if r, ok := sm.results[a.Task]; ok && r.attempt == a.Attempt {
				delete(sm.results, a.Task)
			}
		case ReleaseResults:
			if k+2 != len(actions) {
				sm.fail("release-results not right before the terminal action")
			}
		case JobFinished, JobFailed, JobCanceled:
			if k != len(actions)-1 {
				sm.fail("terminal action %s is not the last one", a)
			}
			if k == 0 {
				sm.fail("terminal action %s without release-results", a)
			}
			sm.ended, sm.endAction = true, a
			sm.checkEnd(a)
		default:
			sm.fail("unknown action %T", a)
		}
	}
	// Regions are deployed whole, never partially.
	for r, n := range deployed {
		if want := len(sm.s.Regions()[r].Tasks); n != want {
			sm.fail("region %d deployed partially: %d of %d tasks", r, n, want)
		}
	}
}

func (sm *sim) checkDeploy(a Deploy) {
	slots, alive := sm.workers[a.Worker]
	if !alive {
		sm.fail("deploy of %s on lost or unknown worker %s", a.Task, a.Worker)
	}
	if a.Slot < 0 || a.Slot >= slots {
		sm.fail("deploy of %s on slot %d of %s, which has %d slots", a.Task, a.Slot, a.Worker, slots)
	}
	for id, lt := range sm.active {
		if lt.worker == a.Worker && lt.slot == a.Slot && id.Vertex == a.Task.Vertex {
			sm.fail("deploy of %s on %s/%d, which already hosts %s of the same vertex", a.Task, a.Worker, a.Slot, id)
		}
	}
	if lt := sm.active[a.Task]; lt != nil {
		sm.fail("deploy of %s attempt %d while attempt %d still holds a slot", a.Task, a.Attempt, lt.attempt)
	}
	last, seen := sm.lastAttempt[a.Task]
	if !seen {
		last = -1
	}
	if a.Attempt != last+1 {
		sm.fail("deploy of %s with attempt %d, previous was %d", a.Task, a.Attempt, last)
	}
	for _, p := range sm.producers[a.Task] {
		r, ok := sm.results[p]
		if !ok || r.attempt != sm.lastAttempt[p] || sm.active[p] != nil {
			sm.fail("deploy of %s while the result of its producer %s is unfinished or lost", a.Task, p)
		}
	}
	sm.lastAttempt[a.Task] = a.Attempt
	delete(sm.results, a.Task)
	sm.active[a.Task] = &liveTask{attempt: a.Attempt, worker: a.Worker, slot: a.Slot}
}

func (sm *sim) checkEnd(a Action) {
	job, reason := sm.s.Job()
	switch a := a.(type) {
	case JobFinished:
		if job != JobStateFinished {
			sm.fail("job-finished but state %s", job)
		}
		for _, ts := range sm.s.Tasks() {
			if ts.State != Finished {
				sm.fail("job-finished while %s is %s", ts.Task, ts.State)
			}
		}
		if len(sm.active) != 0 {
			sm.fail("job-finished while %d tasks still hold slots", len(sm.active))
		}
	case JobFailed:
		if job != JobStateFailed || reason != a.Reason || a.Reason == "" {
			sm.fail("job-failed %q but state %s %q", a.Reason, job, reason)
		}
		for _, lt := range sm.active {
			if !lt.canceling {
				sm.fail("job-failed without canceling every running task")
			}
		}
	case JobCanceled:
		if job != JobStateCanceled || len(sm.active) != 0 {
			sm.fail("job-canceled with state %s and %d tasks holding slots", job, len(sm.active))
		}
	}
}

// checkState compares the scheduler's status with the model.
func (sm *sim) checkState() {
	for _, ts := range sm.s.Tasks() {
		lt := sm.active[ts.Task]
		if ts.State.Active() != (lt != nil) {
			sm.fail("%s is %s in the scheduler, model active=%v", ts.Task, ts.State, lt != nil)
		}
		if lt != nil && (lt.attempt != ts.Attempt || lt.canceling != (ts.State == Canceling)) {
			sm.fail("%s is %s#%d in the scheduler, model %+v", ts.Task, ts.State, ts.Attempt, *lt)
		}
		if _, ok := sm.results[ts.Task]; ok != ts.ResultAvailable {
			sm.fail("%s result available=%v in the scheduler, model %v", ts.Task, ts.ResultAvailable, ok)
		}
	}
	hosted := 0
	for _, w := range sm.s.Workers() {
		if sm.workers[w.Name] != len(w.Slots) {
			sm.fail("worker %s has %d slots, model %d", w.Name, len(w.Slots), sm.workers[w.Name])
		}
		for i, slot := range w.Slots {
			seen := map[int]bool{}
			for _, id := range slot {
				if seen[id.Vertex] {
					sm.fail("slot %s/%d hosts two subtasks of vertex %d", w.Name, i, id.Vertex)
				}
				seen[id.Vertex] = true
				if lt := sm.active[id]; lt == nil || lt.worker != w.Name || lt.slot != i {
					sm.fail("slot %s/%d hosts %s, which the model does not place there", w.Name, i, id)
				}
				hosted++
			}
		}
	}
	if hosted != len(sm.active) {
		sm.fail("slots host %d tasks, model has %d holding slots", hosted, len(sm.active))
	}
	job, _ := sm.s.Job()
	if job.Ended() != sm.ended {
		sm.fail("job state %s but model ended=%v", job, sm.ended)
	}
	if job == JobStateCanceling || job == JobStateFailed || job == JobStateCanceled {
		for id, lt := range sm.active {
			if !lt.canceling {
				sm.fail("job %s but %s attempt %d was not canceled", job, id, lt.attempt)
			}
		}
	}
}
