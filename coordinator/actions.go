package coordinator

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/scheduler"
)

// Action is an output of Coordinator.Step: a decision the runtime carries
// out, in order. The set of actions is closed: only the types in this file
// implement it.
type Action interface {
	fmt.Stringer
	isAction()
}

// TriggerTask is a task a Trigger action starts the checkpoint at.
type TriggerTask struct {
	Task    scheduler.TaskID
	Attempt int
	Worker  string
}

// Trigger starts checkpoint Barrier.ID: the runtime sends the barrier to
// Tasks (the others receive it in-band) and feeds TriggerFailed if it
// cannot. Expected is how many tasks must acknowledge.
type Trigger struct {
	Barrier  engine.Barrier
	At       time.Time
	Expected int
	Tasks    []TriggerTask
}

// Stats describes a finished (completed or aborted) checkpoint.
type Stats struct {
	ID        int64
	Kind      engine.BarrierKind
	Completed bool
	Reason    string
	Triggered time.Time
	Duration  time.Duration
	// Size and Incremental are the state bytes acknowledged (all, new).
	Size, Incremental int64
	Files             int
	Alignment         time.Duration
	Tasks             int
}

// Abort gives up checkpoint Stats.ID: the runtime discards its files and
// records Stats. Savepoint, when positive, is the savepoint request that
// failed with it.
type Abort struct {
	Stats     Stats
	Savepoint int64
}

// Persist asks the runtime to make checkpoint ID durable: it completes the
// metadata (job, plan, finished tasks, source split state) around Tasks and
// Committables (the sink output committed after it), writes it and feeds
// StorageCompleted or StorageFailed.
type Persist struct {
	ID           int64
	Kind         engine.BarrierKind
	Timestamp    int64
	CompletedAt  time.Time
	Tasks        []checkpoint.TaskState
	Committables map[int][][]byte
}

// WriteSavepoint asks the runtime to write a self-contained copy of
// Metadata under Dir and answer savepoint request Req with its location
// (or the error).
type WriteSavepoint struct {
	Req      int64
	Dir      string
	Metadata *checkpoint.Metadata
}

// SavepointFailed answers savepoint request Req with an error.
type SavepointFailed struct {
	Req int64
	Err string
}

// Completed says checkpoint Stats.ID completed.
type Completed struct {
	Stats Stats
}

// Commit asks the runtime to commit Committables (by sink vertex, in
// vertex order) and feed CommitDone or CommitFailed for Seq. Checkpoint is
// the checkpoint they belong to (0: the restored one's); Final is the
// job's last commit. Commits are idempotent and run one at a time, in
// order.
type Commit struct {
	Seq          int64
	Checkpoint   int64
	Final        bool
	Committables map[int][][]byte
}

// Notify tells the tasks that checkpoint ID completed.
type Notify struct {
	ID int64
}

// Discard asks the runtime to abort sink output that will never be
// committed (by sink vertex).
type Discard struct {
	Committables map[int][][]byte
}

// ScheduleRetry asks the runtime to feed RetryDue at At.
type ScheduleRetry struct {
	At time.Time
}

// CommitAbandoned says the committables of Commit Seq were not (all)
// committed and will not be retried (Reason says why). Unless Final, they
// are recorded in checkpoint Checkpoint: a restore from it commits them.
type CommitAbandoned struct {
	Seq          int64
	Checkpoint   int64
	Final        bool
	Committables map[int][][]byte
	Reason       string
}

// FallBack says checkpoint From cannot be restored: tasks deployed from
// now on restore To, the previous retained checkpoint.
type FallBack struct {
	From, To int64
	Cause    string
}

// FailJob says the job must fail for Reason. After a task could not
// restore and no older checkpoint is retained, the runtime fails the job
// through its scheduler (and feeds JobAborted when it ended); otherwise
// FailJob is the last action the coordinator emits.
type FailJob struct {
	Reason string
}

// Finished says the finished job's output is committed: it succeeded. It
// is the last action the coordinator emits.
type Finished struct{}

func (Trigger) isAction()         {}
func (Abort) isAction()           {}
func (Persist) isAction()         {}
func (WriteSavepoint) isAction()  {}
func (SavepointFailed) isAction() {}
func (Completed) isAction()       {}
func (Commit) isAction()          {}
func (Notify) isAction()          {}
func (Discard) isAction()         {}
func (ScheduleRetry) isAction()   {}
func (CommitAbandoned) isAction() {}
func (FallBack) isAction()        {}
func (FailJob) isAction()         {}
func (Finished) isAction()        {}

// String formats the action, e.g. "trigger 3 (checkpoint) at a[0] a[1] expect=4".
func (a Trigger) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "trigger %d (%s) at", a.Barrier.ID, a.Barrier.Kind)
	for _, t := range a.Tasks {
		fmt.Fprintf(&b, " %s", t.Task)
	}
	fmt.Fprintf(&b, " expect=%d", a.Expected)
	return b.String()
}

// String formats the action, e.g. "abort 3: timed out after 1m0s".
func (a Abort) String() string {
	s := fmt.Sprintf("abort %d: %s", a.Stats.ID, a.Stats.Reason)
	if a.Savepoint > 0 {
		s += fmt.Sprintf(" (savepoint request %d)", a.Savepoint)
	}
	return s
}

// String formats the action, e.g. "persist 3 tasks=2 commit v1=[x]".
func (a Persist) String() string {
	s := fmt.Sprintf("persist %d (%s) tasks=%d", a.ID, a.Kind, len(a.Tasks))
	if len(a.Committables) > 0 {
		s += " committables " + FormatCommittables(a.Committables)
	}
	return s
}

// String formats the action.
func (a WriteSavepoint) String() string {
	return fmt.Sprintf("write savepoint %d of checkpoint %d to %s", a.Req, a.Metadata.ID, a.Dir)
}

// String formats the action.
func (a SavepointFailed) String() string {
	return fmt.Sprintf("savepoint %d failed: %s", a.Req, a.Err)
}

// String formats the action, e.g. "completed 3 tasks=2".
func (a Completed) String() string {
	return fmt.Sprintf("completed %d (%s) tasks=%d files=%d bytes=%d", a.Stats.ID, a.Stats.Kind, a.Stats.Tasks, a.Stats.Files, a.Stats.Size)
}

// String formats the action, e.g. "commit #1 of 3: v1=[x y]".
func (a Commit) String() string {
	what := fmt.Sprintf("of %d", a.Checkpoint)
	if a.Final {
		what = "final"
	}
	return fmt.Sprintf("commit #%d %s: %s", a.Seq, what, FormatCommittables(a.Committables))
}

// String formats the action.
func (a Notify) String() string { return fmt.Sprintf("notify %d", a.ID) }

// String formats the action.
func (a Discard) String() string { return "discard " + FormatCommittables(a.Committables) }

// String formats the action.
func (a ScheduleRetry) String() string {
	return "retry at " + a.At.Format(time.RFC3339Nano)
}

// String formats the action.
func (a CommitAbandoned) String() string {
	what := fmt.Sprintf("of %d", a.Checkpoint)
	if a.Final {
		what = "final"
	}
	return fmt.Sprintf("commit #%d %s abandoned (%s): %s", a.Seq, what, a.Reason, FormatCommittables(a.Committables))
}

// String formats the action.
func (a FallBack) String() string {
	return fmt.Sprintf("fall back from %d to %d: %s", a.From, a.To, a.Cause)
}

// String formats the action.
func (a FailJob) String() string { return "fail job: " + a.Reason }

// String formats the action.
func (Finished) String() string { return "finished" }

// FormatCommittables formats committables by vertex, e.g. "v1=[a b] v2=[c]".
func FormatCommittables(m map[int][][]byte) string {
	vs := make([]int, 0, len(m))
	for v := range m {
		vs = append(vs, v)
	}
	sort.Ints(vs)
	parts := make([]string, 0, len(vs))
	for _, v := range vs {
		items := make([]string, len(m[v]))
		for i, c := range m[v] {
			items[i] = string(c)
		}
		parts = append(parts, fmt.Sprintf("v%d=[%s]", v, strings.Join(items, " ")))
	}
	if len(parts) == 0 {
		return "(none)"
	}
	return strings.Join(parts, " ")
}
