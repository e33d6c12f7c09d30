package checkpoint

import "github.com/dagflow/dagflow/dag"

// Handle locates one piece of state in checkpoint storage: a byte range of
// a file (a private file, a merged segment or a shared file) or, for tiny
// state, the bytes themselves inline in the metadata.
type Handle struct {
	// Path is the file's URI ("" for inline state).
	Path string `json:"path,omitempty"`
	// Offset and Length delimit the state in the file.
	Offset int64 `json:"off,omitempty"`
	Length int64 `json:"len"`
	// CRC is the CRC-32C (Castagnoli) of the state bytes.
	CRC uint32 `json:"crc"`
	// Inline holds state small enough to live in the metadata.
	Inline []byte `json:"inline,omitempty"`
}

// KeyGroupHandle is the state of one key group of one operator.
type KeyGroupHandle struct {
	KeyGroup int    `json:"kg"`
	Handle   Handle `json:"h"`
}

// SharedFile is a file shared between checkpoints (an incremental state
// backend's immutable data file, e.g. a Pebble SST). It is reference
// counted across retained checkpoints and deleted when none uses it.
type SharedFile struct {
	// Name is the file's name in the backend's local directory.
	Name string `json:"name"`
	// Handle is where its bytes live in shared storage.
	Handle Handle `json:"h"`
	// KeyGroupFrom and KeyGroupTo (exclusive) bound the key groups it may
	// hold, so a restore with another parallelism picks only overlapping
	// files.
	KeyGroupFrom int `json:"kgFrom"`
	KeyGroupTo   int `json:"kgTo"`
}

// SplitState is a source split at its checkpointed position.
type SplitState struct {
	Split dag.Split `json:"split"`
	// MaxTimestamp is the largest event time read from the split, so the
	// restored watermark never goes back.
	MaxTimestamp int64 `json:"maxTs"`
}

// OperatorState is the state of one vertex in one subtask.
type OperatorState struct {
	Vertex int `json:"vertex"`
	// KeyGroups is keyed state by key group (heap backend).
	KeyGroups []KeyGroupHandle `json:"keyGroups,omitempty"`
	// Operator is non-keyed state (union redistribution).
	Operator []Handle `json:"operator,omitempty"`
	// Shared and Private are the files of an incremental backend's
	// snapshot (Private: files of this checkpoint only, e.g. a manifest).
	Shared  []SharedFile `json:"shared,omitempty"`
	Private []SharedFile `json:"private,omitempty"`
	// BackendMeta is backend-specific metadata (e.g. which key groups the
	// backend instance held).
	BackendMeta []byte `json:"backendMeta,omitempty"`
	// Splits are a source's open splits at the barrier.
	Splits []SplitState `json:"splits,omitempty"`
	// Watermark is the operator's watermark at the barrier.
	Watermark int64 `json:"wm"`
	// Committables are what a sink prepared at the barrier; SinkState is
	// its writer's state (StatefulSinkWriter).
	Committables [][]byte `json:"committables,omitempty"`
	SinkState    []Handle `json:"sinkState,omitempty"`
}

// TaskState is what one task attempt acknowledged for a checkpoint.
type TaskState struct {
	// Task and Subtask name the task (plan task id, subtask index).
	Task    int `json:"task"`
	Subtask int `json:"subtask"`
	// Finished says the task had finished before the checkpoint: it has no
	// state and does not run again on restore.
	Finished bool `json:"finished,omitempty"`
	// Operators has one entry per stateful vertex of the task's chain.
	Operators []OperatorState `json:"operators,omitempty"`
	// InputOffsets are buffers consumed per blocking input channel
	// ("edge/producer"), skipped when the task is restored.
	InputOffsets map[string]int64 `json:"inputOffsets,omitempty"`
	// Stats of the task's part of the checkpoint.
	AlignmentNanos int64 `json:"alignmentNanos"`
	SyncNanos      int64 `json:"syncNanos"`
	AsyncNanos     int64 `json:"asyncNanos"`
	// Bytes is the state size; IncrementalBytes what this checkpoint
	// uploaded (new shared files and private state); Files the files it
	// created.
	Bytes            int64 `json:"bytes"`
	IncrementalBytes int64 `json:"incrementalBytes"`
	Files            int   `json:"files"`
}

// Metadata describes one completed checkpoint or savepoint. It is written
// last, atomically: a checkpoint without metadata does not exist.
type Metadata struct {
	// Version is the metadata format version (FormatVersion).
	Version int    `json:"version"`
	Job     string `json:"job"`
	// JobName is the graph's name; Fingerprint the plan's.
	JobName     string `json:"jobName"`
	Fingerprint string `json:"fingerprint"`
	ID          int64  `json:"id"`
	// Kind is "checkpoint", "savepoint" or "drain-savepoint".
	Kind           string `json:"kind"`
	MaxParallelism int    `json:"maxParallelism"`
	Timestamp      int64  `json:"timestamp"`
	CompletedAt    int64  `json:"completedAt"`
	// Parallelism of every vertex when the checkpoint was taken, by vertex
	// id; VertexNames lets a restore match vertices by name after a plan
	// change.
	Parallelism map[int]int    `json:"parallelism"`
	VertexNames map[int]string `json:"vertexNames"`
	// Tasks are the acknowledged task states.
	Tasks []TaskState `json:"tasks"`
	// PendingSplits are splits not yet assigned to a reader, by source
	// vertex.
	PendingSplits map[int][]dag.Split `json:"pendingSplits,omitempty"`
	// Rounds and Reports are the enumeration state of dynamic sources
	// (dag.DynamicSource), by source vertex: rounds enumerated so far and
	// the reports of finished splits.
	Rounds  map[int]int                 `json:"rounds,omitempty"`
	Reports map[int][]dag.FinishedSplit `json:"reports,omitempty"`
	// Done lists dynamic sources that said they have no more splits.
	Done map[int]bool `json:"done,omitempty"`
	// Committables are the sink committables this checkpoint made
	// visible, by sink vertex: restoring re-commits them (idempotently) in
	// case the job stopped before they were all committed.
	Committables map[int][][]byte `json:"committables,omitempty"`
}

// FormatVersion is the current Metadata format.
const FormatVersion = 1
