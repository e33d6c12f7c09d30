package scheduler

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// TaskState is the state of a task's current attempt. The order is
// meaningful: states before Finished are live, Finished and later are
// terminal, except Canceling, which still holds a slot.
type TaskState int

const (
	// Created: not deployed (yet, or again after a restart).
	Created TaskState = iota
	// Deploying: a Deploy was emitted; the task holds its slot.
	Deploying
	// Running: the runtime reported TaskRunning.
	Running
	// Finished: the attempt completed; its blocking results exist.
	Finished
	// Canceling: a Cancel was emitted and not yet acknowledged.
	Canceling
	// Canceled: the attempt stopped after a Cancel.
	Canceled
	// Failed: the attempt failed.
	Failed
	// Lost: the attempt's worker was lost.
	Lost
)

var taskStateNames = [...]string{"created", "deploying", "running", "finished", "canceling", "canceled", "failed", "lost"}

// String returns the lower-case state name.
func (s TaskState) String() string {
	if s >= 0 && int(s) < len(taskStateNames) {
		return taskStateNames[s]
	}
	return fmt.Sprintf("TaskState(%d)", int(s))
}

// Active reports whether a task in this state holds a slot (Deploying,
// Running or Canceling).
func (s TaskState) Active() bool { return s == Deploying || s == Running || s == Canceling }

// RegionState is the scheduling state of a region.
type RegionState int

const (
	// RegionCreated: waiting for its blocking inputs or for slots.
	RegionCreated RegionState = iota
	// RegionRunning: its tasks were deployed and not all finished.
	RegionRunning
	// RegionFinished: all its tasks finished.
	RegionFinished
	// RegionRestarting: failed over; waiting for canceled tasks to stop and
	// for the restart delay, then it becomes RegionCreated again.
	RegionRestarting
)

var regionStateNames = [...]string{"created", "running", "finished", "restarting"}

// String returns the lower-case state name.
func (s RegionState) String() string {
	if s >= 0 && int(s) < len(regionStateNames) {
		return regionStateNames[s]
	}
	return fmt.Sprintf("RegionState(%d)", int(s))
}

// JobState is the state of the whole job.
type JobState int

const (
	// JobStateCreated: New was called, Start was not.
	JobStateCreated JobState = iota
	// JobStateRunning: started and not ended.
	JobStateRunning
	// JobStateCanceling: CancelJob received; waiting for tasks to stop.
	JobStateCanceling
	// JobStateFinished: every region finished.
	JobStateFinished
	// JobStateFailed: a failure could not be restarted.
	JobStateFailed
	// JobStateCanceled: the cancellation completed.
	JobStateCanceled
)

var jobStateNames = [...]string{"created", "running", "canceling", "finished", "failed", "canceled"}

// String returns the lower-case state name.
func (s JobState) String() string {
	if s >= 0 && int(s) < len(jobStateNames) {
		return jobStateNames[s]
	}
	return fmt.Sprintf("JobState(%d)", int(s))
}

// Ended reports whether the job reached a terminal state.
func (s JobState) Ended() bool {
	return s == JobStateFinished || s == JobStateFailed || s == JobStateCanceled
}

// TaskStatus is a snapshot of one task.
type TaskStatus struct {
	Task   TaskID
	Region int
	State  TaskState
	// Attempt is the attempt last deployed, -1 if the task never was.
	Attempt int
	// Worker and Slot locate the last deployed attempt ("" if none).
	Worker string
	Slot   int
	// ResultAvailable is true when the task finished, has blocking outputs
	// and its result has not been lost or discarded.
	ResultAvailable bool
}

// RegionStatus is a snapshot of one region.
type RegionStatus struct {
	ID    int
	State RegionState
	// Restarts counts the failovers that restarted this region.
	Restarts int
}

// WorkerStatus is a snapshot of one live worker.
type WorkerStatus struct {
	Name string
	// Slots lists, per slot, the tasks it hosts.
	Slots [][]TaskID
}

// Failover records one failover: what caused it and which regions it
// restarted.
type Failover struct {
	// Time is the scheduler's clock when it happened.
	Time time.Time
	// Cause describes the failure, e.g. "task map[1] attempt 0 failed: boom".
	Cause string
	// Failed are the regions where the failure happened (the seeds).
	Failed []int
	// Restarted is the whole restart set, ascending.
	Restarted []int
	// Restart is the job-wide restart number (1 for the first failover).
	Restart int
	// Delay is the restart delay applied.
	Delay time.Duration
}

// String formats the record as
// "region 3 restarted (cause: ...), regions {3,5}".
func (f Failover) String() string {
	noun := "region"
	if len(f.Failed) != 1 {
		noun = "regions"
	}
	return fmt.Sprintf("%s %s restarted (cause: %s), regions {%s}",
		noun, joinInts(f.Failed, ","), f.Cause, joinInts(f.Restarted, ","))
}

func joinInts(xs []int, sep string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, sep)
}

// Job returns the job's state and, when it failed, the reason.
func (s *Scheduler) Job() (JobState, string) { return s.job, s.reason }

// Now returns the scheduler's clock: the latest Now it was given.
func (s *Scheduler) Now() time.Time { return s.clock }

// Topology returns the topology the scheduler was built from.
func (s *Scheduler) Topology() Topology { return s.plan.topo }

// Regions returns the job's pipelined regions; see ComputeRegions.
func (s *Scheduler) Regions() []Region { return s.plan.exportRegions() }

// RegionOf returns the ID of the region holding task t, or -1.
func (s *Scheduler) RegionOf(t TaskID) int {
	i, ok := s.index(t)
	if !ok {
		return -1
	}
	return s.plan.regionOf[i]
}

// Restarts returns how many failovers the job went through.
func (s *Scheduler) Restarts() int { return s.restarts }

// Failovers returns the failover log, oldest first.
func (s *Scheduler) Failovers() []Failover { return append([]Failover(nil), s.failovers...) }

// Task returns a snapshot of task t; ok is false for an unknown task.
func (s *Scheduler) Task(t TaskID) (TaskStatus, bool) {
	i, ok := s.index(t)
	if !ok {
		return TaskStatus{}, false
	}
	return s.taskStatus(i), true
}

// Tasks returns a snapshot of every task, ordered by (Vertex, Subtask).
func (s *Scheduler) Tasks() []TaskStatus {
	out := make([]TaskStatus, len(s.tasks))
	for i := range s.tasks {
		out[i] = s.taskStatus(i)
	}
	return out
}

func (s *Scheduler) taskStatus(i int) TaskStatus {
	t := s.tasks[i]
	return TaskStatus{
		Task:            s.plan.ids[i],
		Region:          s.plan.regionOf[i],
		State:           t.state,
		Attempt:         t.attempt,
		Worker:          t.worker,
		Slot:            t.slot,
		ResultAvailable: t.state == Finished && t.result.available,
	}
}

// RegionStatuses returns a snapshot of every region, ordered by ID.
func (s *Scheduler) RegionStatuses() []RegionStatus {
	out := make([]RegionStatus, len(s.regions))
	for r, reg := range s.regions {
		out[r] = RegionStatus{ID: r, State: reg.state, Restarts: reg.restarts}
	}
	return out
}

// Workers returns a snapshot of the live workers, ordered by name.
func (s *Scheduler) Workers() []WorkerStatus {
	names := make([]string, 0, len(s.workers))
	for n := range s.workers {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]WorkerStatus, len(names))
	for k, n := range names {
		w := s.workers[n]
		ws := WorkerStatus{Name: n, Slots: make([][]TaskID, len(w.slots))}
		for idx, slot := range w.slots {
			for _, i := range slot {
				ws.Slots[idx] = append(ws.Slots[idx], s.plan.ids[i])
			}
		}
		out[k] = ws
	}
	return out
}
