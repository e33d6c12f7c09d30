package scheduler

import "fmt"

// Action is an output of Scheduler.Start and Scheduler.Step: a decision the
// runtime must carry out, in order. The set of actions is closed: only the
// types in this file implement it. The slices Start and Step return are owned
// by the caller.
type Action interface {
	fmt.Stringer
	isAction()
}

// Deploy starts attempt Attempt of Task in slot Slot (0-based) of Worker.
// Attempts start at 0 and grow by one with every Deploy of the same task; the
// runtime must tag every event about the task with this attempt.
type Deploy struct {
	Task    TaskID
	Attempt int
	Worker  string
	Slot    int
}

// Cancel stops attempt Attempt of Task, which runs on Worker. The runtime
// reports TaskCanceled (or any other terminal event) for it when it stopped;
// until then the task keeps its slot.
type Cancel struct {
	Task    TaskID
	Attempt int
	Worker  string
}

// DiscardResult says that the blocking result of attempt Attempt of Task is
// obsolete (its region is being rerun, or the attempt finished after it was
// canceled) and may be deleted from Worker, or from the external shuffle
// service when External is true.
type DiscardResult struct {
	Task     TaskID
	Attempt  int
	Worker   string
	External bool
}

// ReleaseResults says that the job ended and every blocking result it
// produced may be deleted. It is emitted once, right before the job's
// terminal action.
type ReleaseResults struct{}

// JobFinished says that every region finished: the job succeeded. It is the
// last action the scheduler ever emits.
type JobFinished struct{}

// JobFailed says that the job failed for Reason, which names the failed task,
// its attempt and the root error (or the region that could not get slots).
// It follows the Cancel actions for every task still running and is the last
// action the scheduler ever emits.
type JobFailed struct {
	Reason string
}

// JobCanceled says that a CancelJob completed: no task runs any more. It is
// the last action the scheduler ever emits.
type JobCanceled struct{}

func (Deploy) isAction()         {}
func (Cancel) isAction()         {}
func (DiscardResult) isAction()  {}
func (ReleaseResults) isAction() {}
func (JobFinished) isAction()    {}
func (JobFailed) isAction()      {}
func (JobCanceled) isAction()    {}

// String formats the action for logs, e.g. "deploy v0[1] attempt=0 on w1/0".
func (a Deploy) String() string {
	return fmt.Sprintf("deploy %s attempt=%d on %s/%d", a.Task, a.Attempt, a.Worker, a.Slot)
}

// String formats the action for logs, e.g. "cancel v0[1] attempt=0 on w1".
func (a Cancel) String() string {
	return fmt.Sprintf("cancel %s attempt=%d on %s", a.Task, a.Attempt, a.Worker)
}

// String formats the action for logs.
func (a DiscardResult) String() string {
	where := a.Worker
	if a.External {
		where = "external"
	}
	return fmt.Sprintf("discard-result %s attempt=%d on %s", a.Task, a.Attempt, where)
}

// String returns "release-results".
func (ReleaseResults) String() string { return "release-results" }

// String returns "job-finished".
func (JobFinished) String() string { return "job-finished" }

// String returns "job-failed: <reason>".
func (a JobFailed) String() string { return "job-failed: " + a.Reason }

// String returns "job-canceled".
func (JobCanceled) String() string { return "job-canceled" }
