package coordinator

import (
	"time"

	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/scheduler"
)

// Event is an input to Coordinator.Step. The set of events is closed: only
// the types in this file implement it. Every event carries Now, the time the
// runtime observed it; the coordinator has no other clock.
type Event interface {
	at() time.Time
}

// Task is one checkpointed task as the runtime sees it when a checkpoint may
// start (from the scheduler's task list).
type Task struct {
	ID      scheduler.TaskID
	Attempt int
	// Worker runs the attempt; Trigger actions name it.
	Worker string
	State  scheduler.TaskState
	// Trigger is true when no barrier can reach the task in-band (it has no
	// pipelined producer still running): the runtime triggers it directly.
	Trigger bool
}

// Tick lets time pass: a checkpoint that is due starts, one that ran longer
// than the timeout is aborted, due commit retries run and a finishing job
// that waited too long for acknowledgements fails. Tasks lists the tasks that
// take part in checkpoints; Settling says a failover is in progress (no
// checkpoint starts); Backfilling selects the backfill interval.
type Tick struct {
	Now         time.Time
	Tasks       []Task
	Settling    bool
	Backfilling bool
}

// TriggerRequested asks for a checkpoint at the next Tick, whatever the
// interval and minimum pause (still one at a time).
type TriggerRequested struct {
	Now time.Time
}

// SavepointRequested asks for a savepoint of Kind (KindSavepoint or
// KindDrainSavepoint) written to Dir. Req identifies the request in the
// WriteSavepoint or SavepointFailed action that answers it; it must be
// positive and unique. Savepoints start at the next Tick, before periodic
// checkpoints, one at a time.
type SavepointRequested struct {
	Now  time.Time
	Req  int64
	Dir  string
	Kind engine.BarrierKind
}

// Ack is one task's acknowledgement of checkpoint Report.ID: its state
// handles and, in State.Operators, the committables its sinks prepared.
type Ack struct {
	Task    scheduler.TaskID
	Attempt int
	State   checkpoint.TaskState
}

// Decline is one task's refusal to take checkpoint Report.ID. Committables
// are what its sinks prepared anyway: real output to commit later.
type Decline struct {
	Task         scheduler.TaskID
	Attempt      int
	Reason       string
	Committables map[int][][]byte
}

// Report carries the acknowledgements and declines of checkpoint ID from
// one worker, and the number of files it wrote for it.
type Report struct {
	Now      time.Time
	ID       int64
	Files    int
	Acks     []Ack
	Declines []Decline
}

// TaskDeployed says that attempt Attempt of Task is being deployed,
// restored from checkpoint RestoredFrom (0: from scratch). Vertices are the
// plan vertices chained in the task: what their sinks prepared after
// RestoredFrom is discarded.
type TaskDeployed struct {
	Now          time.Time
	Task         scheduler.TaskID
	Attempt      int
	RestoredFrom int64
	Vertices     []int
}

// TaskFinished says that an attempt ended successfully after taking
// checkpoint LastCheckpoint (0: none). Committables (by sink vertex) are
// its sinks' final prepared output.
type TaskFinished struct {
	Now            time.Time
	Task           scheduler.TaskID
	Attempt        int
	LastCheckpoint int64
	Committables   map[int][][]byte
}

// TaskFailed says that an attempt failed: the checkpoint in progress is
// aborted. RestoreFailed says it could not restore checkpoint Checkpoint
// (corrupt or missing state); Cause describes the failure.
type TaskFailed struct {
	Now           time.Time
	Task          scheduler.TaskID
	Attempt       int
	RestoreFailed bool
	Checkpoint    int64
	Cause         string
}

// WorkerLost says that a worker (or an external shuffle service) died: the
// checkpoint in progress is aborted.
type WorkerLost struct {
	Now time.Time
}

// TriggerFailed says that the runtime could not trigger checkpoint ID at a
// task (Reason says why): the checkpoint is aborted.
type TriggerFailed struct {
	Now    time.Time
	ID     int64
	Reason string
}

// StorageCompleted says that the metadata of checkpoint ID (from the
// Persist action) is durable.
type StorageCompleted struct {
	Now      time.Time
	ID       int64
	Metadata *checkpoint.Metadata
}

// StorageFailed says that checkpoint ID could not be stored.
type StorageFailed struct {
	Now time.Time
	ID  int64
	Err string
}

// CommitDone says that every committable of Commit Seq was committed.
type CommitDone struct {
	Now time.Time
	Seq int64
}

// CommitFailed says that committing the committables of Vertex in Commit
// Seq failed with Err; vertices before it (in vertex order) were
// committed, the others were not tried.
type CommitFailed struct {
	Now    time.Time
	Seq    int64
	Vertex int
	Err    string
}

// RetryDue is fed at (or after) the time of a ScheduleRetry action.
type RetryDue struct {
	Now time.Time
}

// JobFinishing says that every task finished. The coordinator waits for
// the checkpoint in progress and for acknowledgements still in flight,
// commits everything and emits Finished (or FailJob).
type JobFinishing struct {
	Now time.Time
}

// JobAborted says that the job failed or was canceled: the checkpoint in
// progress is aborted and every pending committable discarded.
type JobAborted struct {
	Now time.Time
}

func (e Tick) at() time.Time               { return e.Now }
func (e TriggerRequested) at() time.Time   { return e.Now }
func (e SavepointRequested) at() time.Time { return e.Now }
func (e Report) at() time.Time             { return e.Now }
func (e TaskDeployed) at() time.Time       { return e.Now }
func (e TaskFinished) at() time.Time       { return e.Now }
func (e TaskFailed) at() time.Time         { return e.Now }
func (e WorkerLost) at() time.Time         { return e.Now }
func (e TriggerFailed) at() time.Time      { return e.Now }
func (e StorageCompleted) at() time.Time   { return e.Now }
func (e StorageFailed) at() time.Time      { return e.Now }
func (e CommitDone) at() time.Time         { return e.Now }
func (e CommitFailed) at() time.Time       { return e.Now }
func (e RetryDue) at() time.Time           { return e.Now }
func (e JobFinishing) at() time.Time       { return e.Now }
func (e JobAborted) at() time.Time         { return e.Now }
