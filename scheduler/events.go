package scheduler

import "time"

// Event is an input to Scheduler.Step. The set of events is closed: only the
// types in this file implement it.
//
// Every event carries Now, the time the runtime observed it. The scheduler's
// clock is the latest Now it has seen (a zero Now, or one earlier than the
// clock, leaves the clock unchanged), and timers (restart delays, the slot wait
// timeout) fire during the first Step whose clock reaches them. A runtime that
// stamps only Tick events gets exactly "timers fire on the first Tick at or
// after their due time".
type Event interface {
	// at returns the event's Now; it also seals the interface.
	at() time.Time
}

// WorkerJoined registers a worker offering Slots task slots. Joining with a
// name that is already registered, an empty name or fewer than one slot is
// ignored; a worker that was lost may join again under its old name and is
// treated as a new worker.
type WorkerJoined struct {
	Now    time.Time
	Worker string
	Slots  int
}

// WorkerLost reports that a worker died or left. Its tasks become Lost (and
// their regions fail over) and the blocking results it held, unless they were
// written to an external shuffle service, are lost.
type WorkerLost struct {
	Now    time.Time
	Worker string
}

// TaskRunning reports that a deployed attempt started running.
type TaskRunning struct {
	Now     time.Time
	Task    TaskID
	Attempt int
}

// TaskFinished reports that an attempt completed successfully. Its blocking
// results are now available: on the worker that ran it, or, when External is
// true, on an external shuffle service that outlives the worker.
type TaskFinished struct {
	Now      time.Time
	Task     TaskID
	Attempt  int
	External bool
}

// TaskFailed reports that an attempt failed with Err. Retriable false fails
// the job without a restart.
type TaskFailed struct {
	Now       time.Time
	Task      TaskID
	Attempt   int
	Err       string
	Retriable bool
}

// TaskCanceled reports that an attempt stopped after a Cancel. An attempt
// that reports TaskCanceled without having been canceled is treated as a
// retriable failure.
type TaskCanceled struct {
	Now     time.Time
	Task    TaskID
	Attempt int
}

// ResultLost reports that the blocking result of producer Task, attempt
// Attempt, cannot be read any more (a consumer found it missing or corrupt).
// If a task that has not finished still needs it, the producer's region is
// rerun.
type ResultLost struct {
	Now     time.Time
	Task    TaskID
	Attempt int
}

// ResultsLost reports at once that the blocking results of several producer
// attempts cannot be read any more, typically because the external shuffle
// service holding them died. It acts like one ResultLost per entry, but
// causes at most one failover (and counts as one restart), however many
// results it names. Entries about stale attempts or results already lost are
// ignored; the event is ignored when all are.
type ResultsLost struct {
	Now     time.Time
	Results []LostResult
}

// LostResult names the blocking result of one producer attempt.
type LostResult struct {
	Task    TaskID
	Attempt int
}

// CancelJob asks the scheduler to cancel the job: every running task is
// canceled and JobCanceled follows once all of them reported a terminal
// state.
type CancelJob struct {
	Now time.Time
}

// Tick advances the scheduler's clock to Now and fires due timers. The
// runtime should send one at NextWakeup.
type Tick struct {
	Now time.Time
}

func (e WorkerJoined) at() time.Time { return e.Now }
func (e WorkerLost) at() time.Time   { return e.Now }
func (e TaskRunning) at() time.Time  { return e.Now }
func (e TaskFinished) at() time.Time { return e.Now }
func (e TaskFailed) at() time.Time   { return e.Now }
func (e TaskCanceled) at() time.Time { return e.Now }
func (e ResultLost) at() time.Time   { return e.Now }
func (e ResultsLost) at() time.Time  { return e.Now }
func (e CancelJob) at() time.Time    { return e.Now }
func (e Tick) at() time.Time         { return e.Now }
