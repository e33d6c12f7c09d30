package scheduler

import (
	"fmt"
	"time"
)

// Scheduler is the deterministic state machine that decides which tasks run
// where. It is not safe for concurrent use: the runtime owns the loop and
// calls Start, Step and NextWakeup from one goroutine.
type Scheduler struct {
	cfg     Config
	plan    *plan
	tasks   []task   // by task index
	regions []region // by region ID
	workers map[string]*worker

	// Counters and sets kept by the setters in counters.go and the slot
	// bookkeeping in slots.go.
	avail           []int // by input group: members whose result is available
	active          int   // tasks holding a slot
	finishedRegions int
	ready           regionSet // created regions whose inputs are all available
	restarting      regionSet // regions in RegionRestarting
	slots           int       // slots of all live workers
	hosting         []int     // by vertex: slots hosting one of its subtasks
	byLoad          []*worker // live workers, least loaded first, ties by name
	// Restart timers: nextDue is the earliest restartDue of a restarting
	// region whose delay has not elapsed (valid when pendingDue); recheck
	// holds the restarting regions that may be ready to restart.
	nextDue    time.Time
	pendingDue bool
	recheck    regionSet

	clock     time.Time
	job       JobState
	reason    string
	restarts  int
	failovers []Failover
}

// task is the mutable state of one execution vertex.
type task struct {
	state   TaskState
	attempt int // last deployed attempt, -1 before the first Deploy
	worker  string
	slot    int
	result  result
}

// result is where a finished task's blocking result lives.
type result struct {
	available bool
	external  bool
	worker    string
	attempt   int
}

// region is the mutable state of one region.
type region struct {
	state    RegionState
	restarts int
	// restartDue is when a restarting region may be redeployed; elapsed is
	// set once the clock reached it.
	restartDue time.Time
	elapsed    bool
	// slotWaitSince is when the region, ready to run, started waiting for a
	// cluster big enough for it (zero when not waiting).
	slotWaitSince time.Time
	// active and finished count its tasks holding a slot and its finished
	// tasks; missing counts its input groups with a result unavailable.
	active, finished, missing int
}

// New validates topo and cfg and returns a scheduler for one job, in
// JobStateCreated. Workers may join before Start.
func New(topo Topology, cfg Config) (*Scheduler, error) {
	if err := topo.Validate(); err != nil {
		return nil, err
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p := buildPlan(topo)
	s := &Scheduler{
		cfg:     cfg,
		plan:    p,
		tasks:   make([]task, len(p.ids)),
		regions: make([]region, len(p.regions)),
		workers: map[string]*worker{},
		avail:   make([]int, len(p.groups)),
		ready:   newRegionSet(len(p.regions)),
		hosting: make([]int, len(topo.Vertices)),

		restarting: newRegionSet(len(p.regions)),
		recheck:    newRegionSet(len(p.regions)),
	}
	for i := range s.tasks {
		s.tasks[i].attempt = -1
	}
	for r := range s.regions {
		s.regions[r].missing = len(p.regions[r].in)
		s.updateReady(r)
	}
	return s, nil
}

// Start starts the job at now: every region without blocking inputs that
// fits in the free slots is deployed. Calling Start again does nothing.
func (s *Scheduler) Start(now time.Time) []Action {
	if s.job != JobStateCreated {
		return nil
	}
	s.advance(now)
	s.job = JobStateRunning
	return s.react(nil)
}

// Step applies one event and returns the actions to carry out, in order.
// Events about a stale attempt (not the task's current one, or for an attempt
// that already reported a terminal state), unknown tasks or workers, and
// duplicate registrations are ignored: they change nothing, not even the
// clock, and return no actions. Once the job ended Step returns no actions.
func (s *Scheduler) Step(ev Event) []Action {
	if ev == nil {
		return nil
	}
	if !s.accepts(ev) {
		return nil
	}
	ended := s.job.Ended()
	s.advance(ev.at())
	var out []Action
	switch e := ev.(type) {
	case WorkerJoined:
		s.addWorker(e.Worker, e.Slots)
	case WorkerLost:
		out = s.onWorkerLost(e.Worker)
	case TaskRunning:
		if i, _ := s.index(e.Task); s.tasks[i].state == Deploying {
			s.setTaskState(i, Running)
		}
	case TaskFinished:
		out = s.onTaskFinished(e)
	case TaskFailed:
		i, _ := s.index(e.Task)
		cause := fmt.Sprintf("task %s attempt %d failed: %s", s.name(i), e.Attempt, e.Err)
		out = s.onTaskStopped(i, Failed, cause, !e.Retriable)
	case TaskCanceled:
		i, _ := s.index(e.Task)
		cause := fmt.Sprintf("task %s attempt %d canceled unexpectedly", s.name(i), e.Attempt)
		out = s.onTaskStopped(i, Canceled, cause, false)
	case ResultLost:
		out = s.onResultLost(e)
	case ResultsLost:
		out = s.onResultsLost(e)
	case CancelJob:
		out = s.onCancelJob()
	case Tick:
	}
	out = s.react(out)
	if ended {
		return nil
	}
	return out
}

// NextWakeup returns the earliest pending timer (a restart delay or a slot
// wait timeout); the runtime should send a Tick then. ok is false when no
// timer is pending.
func (s *Scheduler) NextWakeup() (time.Time, bool) {
	if s.job != JobStateRunning {
		return time.Time{}, false
	}
	var next time.Time
	found := false
	consider := func(t time.Time) {
		if !found || t.Before(next) {
			next, found = t, true
		}
	}
	if s.pendingDue {
		consider(s.nextDue)
	}
	s.ready.each(func(r int) bool {
		if reg := &s.regions[r]; !reg.slotWaitSince.IsZero() {
			consider(reg.slotWaitSince.Add(s.cfg.SlotWaitTimeout))
		}
		return true
	})
	return next, found
}

// accepts reports whether ev refers to a known worker or to a task's current
// live attempt, per the rules in Step's doc.
func (s *Scheduler) accepts(ev Event) bool {
	live := func(id TaskID, attempt int) bool {
		i, ok := s.index(id)
		return ok && s.tasks[i].attempt == attempt && s.tasks[i].state.Active()
	}
	switch e := ev.(type) {
	case WorkerJoined:
		_, known := s.workers[e.Worker]
		return e.Worker != "" && e.Slots > 0 && !known
	case WorkerLost:
		_, known := s.workers[e.Worker]
		return known
	case TaskRunning:
		return live(e.Task, e.Attempt)
	case TaskFinished:
		return live(e.Task, e.Attempt)
	case TaskFailed:
		return live(e.Task, e.Attempt)
	case TaskCanceled:
		return live(e.Task, e.Attempt)
	case ResultLost:
		return s.resultAvailable(e.Task, e.Attempt)
	case ResultsLost:
		for _, r := range e.Results {
			if s.resultAvailable(r.Task, r.Attempt) {
				return true
			}
		}
		return false
	case CancelJob:
		return s.job == JobStateCreated || s.job == JobStateRunning
	case Tick:
		return true
	}
	return false
}

// resultAvailable reports whether attempt of task finished and its result
// is still available.
func (s *Scheduler) resultAvailable(task TaskID, attempt int) bool {
	i, ok := s.index(task)
	return ok && s.tasks[i].attempt == attempt && s.tasks[i].state == Finished && s.tasks[i].result.available
}

func (s *Scheduler) advance(now time.Time) {
	if now.After(s.clock) {
		s.clock = now
	}
}

func (s *Scheduler) index(t TaskID) (int, bool) {
	if t.Vertex < 0 || t.Vertex >= len(s.plan.topo.Vertices) ||
		t.Subtask < 0 || t.Subtask >= s.plan.topo.Vertices[t.Vertex].Parallelism {
		return 0, false
	}
	return s.plan.offset[t.Vertex] + t.Subtask, true
}

func (s *Scheduler) name(i int) string { return s.plan.topo.TaskName(s.plan.ids[i]) }

// hasResult reports whether task i produces a blocking result.
func (s *Scheduler) hasResult(i int) bool { return s.plan.producesResult[s.plan.ids[i].Vertex] }

// react runs after every accepted event: it fires due restarts, deploys what
// can be deployed, checks the slot wait timeout and detects the job's end.
func (s *Scheduler) react(out []Action) []Action {
	out = s.maybeCanceled(out)
	if s.job != JobStateRunning {
		return out
	}
	s.fireRestarts()
	out = s.schedule(out)
	if s.job != JobStateRunning {
		return out
	}
	if s.finishedRegions < len(s.regions) {
		return out
	}
	return s.endJob(out, JobStateFinished, "")
}

// schedule deploys, in region ID order, every created region whose blocking
// inputs are available and that fits in the free slots. A region that does
// not fit is skipped, so smaller regions behind it may still run.
func (s *Scheduler) schedule(out []Action) []Action {
	s.ready.each(func(r int) bool {
		reg := &s.regions[r]
		if s.fits(r) {
			reg.slotWaitSince = time.Time{}
			out = s.deploy(out, r)
			return true
		}
		d, short := s.shortfall(r)
		if !short {
			reg.slotWaitSince = time.Time{}
			return true
		}
		if reg.slotWaitSince.IsZero() {
			reg.slotWaitSince = s.clock
		}
		if waited := s.clock.Sub(reg.slotWaitSince); waited >= s.cfg.SlotWaitTimeout {
			out = s.failJob(out, fmt.Sprintf(
				"region %d cannot be deployed: vertex %s needs %d slots but the cluster has %d (waited %s)",
				r, s.plan.topo.VertexName(d.vertex), d.count, s.totalSlots(), waited))
			return false
		}
		return true
	})
	return out
}

func (s *Scheduler) deploy(out []Action, r int) []Action {
	s.setRegionState(r, RegionRunning)
	for _, pl := range s.place(r) {
		t := &s.tasks[pl.task]
		t.attempt++
		s.setTaskState(pl.task, Deploying)
		s.setResult(pl.task, result{})
		out = append(out, Deploy{Task: s.plan.ids[pl.task], Attempt: t.attempt, Worker: pl.worker, Slot: pl.slot})
	}
	return out
}
