package protocol

import (
	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/internal/checkpoint"
)

// CheckpointTrigger asks a task to take a checkpoint: sources and tasks
// whose producers all finished inject the barrier themselves.
type CheckpointTrigger struct {
	Job     string         `json:"job"`
	Task    TaskID         `json:"task"`
	Attempt int            `json:"attempt"`
	Barrier engine.Barrier `json:"barrier"`
}

// CheckpointNotice tells a job's tasks that checkpoint ID completed.
type CheckpointNotice struct {
	Job string `json:"job"`
	ID  int64  `json:"id"`
}

// TaskAck is one task attempt's acknowledgement of a checkpoint.
type TaskAck struct {
	Attempt int                  `json:"attempt"`
	State   checkpoint.TaskState `json:"state"`
}

// CheckpointDecline says a task could not take a checkpoint.
type CheckpointDecline struct {
	Task    TaskID `json:"task"`
	Attempt int    `json:"attempt"`
	Reason  string `json:"reason"`
	// Committables are what the task's sinks prepared at the barrier: the
	// output is real even if the checkpoint fails, and is committed with a
	// later one.
	Committables map[int][][]byte `json:"committables,omitempty"`
}

// CheckpointReport is what a worker sends the master about one
// checkpoint: the acknowledgements of all its tasks at once (after their
// state is durable) or declines.
type CheckpointReport struct {
	Job      string              `json:"job"`
	Worker   string              `json:"worker"`
	ID       int64               `json:"id"`
	Acks     []TaskAck           `json:"acks,omitempty"`
	Declines []CheckpointDecline `json:"declines,omitempty"`
	// Files and Bytes this worker wrote for the checkpoint.
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
}

// TaskRestore is the state a task attempt starts from.
type TaskRestore struct {
	// Checkpoint is the id of the checkpoint or savepoint restored.
	Checkpoint int64 `json:"checkpoint"`
	// Finished says the task had finished: it ends at once.
	Finished bool `json:"finished,omitempty"`
	// Vertices holds the state of the task's stateful vertices.
	Vertices map[int]*VertexRestore `json:"vertices,omitempty"`
	// InputOffsets are buffers to skip per blocking input channel
	// ("edge/producer").
	InputOffsets map[string]int64 `json:"inputOffsets,omitempty"`
	// AllowNonRestored lets operators drop state they no longer declare.
	AllowNonRestored bool `json:"allowNonRestored,omitempty"`
}

// VertexRestore is the state of one vertex in one restored subtask,
// redistributed for its (possibly new) parallelism.
type VertexRestore struct {
	// KeyGroups are the handles of the key groups in the subtask's range.
	KeyGroups []checkpoint.KeyGroupHandle `json:"keyGroups,omitempty"`
	// Operator is the non-keyed state of every previous subtask.
	Operator []checkpoint.Handle `json:"operator,omitempty"`
	// Splits are the source splits this subtask resumes.
	Splits []checkpoint.SplitState `json:"splits,omitempty"`
	// Backends are incremental backend snapshots of previous subtasks whose
	// key groups overlap this subtask's range.
	Backends []checkpoint.OperatorState `json:"backends,omitempty"`
}
