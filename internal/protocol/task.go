package protocol

import (
	"context"
	"fmt"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/scheduler"
	"github.com/dagflow/dagflow/shuffle"
)

// TaskID names one subtask of a plan task (operator chain): Vertex is the
// plan task id (the scheduler's task vertex). It is the scheduler's type,
// so the master and the workers use one id.
type TaskID = scheduler.TaskID

// InputChannel is one producer partition range a consumer reads.
type InputChannel struct {
	Partition shuffle.PartitionID
	// Location names the shuffle service holding the partition.
	Location string
	// From, To is the subpartition range to read.
	From, To int
}

// InputGate lists the channels of one network input edge.
type InputGate struct {
	Edge  int // plan edge id
	Input int // consumer input index of the edge's target vertex
	// Blocking says the edge is blocking: its producers finished, so its
	// channels take no part in checkpoint barrier alignment.
	Blocking bool `json:",omitempty"`
	// SubpartitionFrom, SubpartitionTo, when SubpartitionTo is greater, is
	// the subpartition range read from every channel of the gate; the
	// channels' own From and To are then ignored. The job master uses it
	// for all-to-all edges so that every consumer's gate shares one
	// Channels slice (the producers' partitions and locations) instead of
	// a copy per consumer, like Flink's cached shuffle descriptors with a
	// gate-level consumed subpartition range. Channels must be treated as
	// read-only.
	SubpartitionFrom int `json:",omitempty"`
	SubpartitionTo   int `json:",omitempty"`
	Channels         []InputChannel
}

// Range returns the subpartition range to read from channel c of the
// gate: the gate's range when it has one, else the channel's own.
func (g InputGate) Range(c InputChannel) (from, to int) {
	if g.SubpartitionTo > g.SubpartitionFrom {
		return g.SubpartitionFrom, g.SubpartitionTo
	}
	return c.From, c.To
}

// OutputPartition is one partition a task writes for a network edge.
type OutputPartition struct {
	Edge          int
	Partition     shuffle.PartitionID
	Mode          shuffle.Mode
	Subpartitions int
}

// TaskDeployment is everything a worker needs to run one task attempt.
type TaskDeployment struct {
	Job     string
	ID      TaskID
	Attempt int
	// Slot is the worker slot the scheduler placed the attempt in (the
	// worker reports it back to a new leader after a master failover).
	Slot    int `json:",omitempty"`
	Inputs  []InputGate
	Outputs []OutputPartition
	// Restore, when set, is the checkpointed state the attempt starts from.
	Restore *TaskRestore `json:",omitempty"`
}

// SplitRequest is a source subtask asking for its next split.
type SplitRequest struct {
	Vertex, Subtask, Attempt int
	// Checkpoint is the last barrier the subtask processed: splits handed
	// out now belong to the state after that checkpoint.
	Checkpoint int64
	// Finished are the splits the subtask read to the end since its last
	// request.
	Finished []dag.FinishedSplit
}

// SplitResponse answers a SplitRequest.
type SplitResponse struct {
	Split dag.Split
	// OK says Split is set. Otherwise Wait says more splits may come later
	// (ask again); neither means the subtask has no more splits.
	OK, Wait bool
}

// SplitProvider hands source splits to source subtasks on demand.
type SplitProvider interface {
	NextSplit(ctx context.Context, job string, req SplitRequest) (SplitResponse, error)
}

// TaskStatus is the terminal outcome of a task attempt.
type TaskStatus struct {
	Job     string
	ID      TaskID
	Attempt int
	// Err is nil when the task finished; otherwise why it failed or
	// context.Canceled when it was cancelled.
	Err error
	// Committables of sinks in the task, by vertex id.
	Committables map[int][][]byte
	// External is true when the attempt finished and every blocking
	// partition it wrote was handed to an external shuffle service: its
	// result survives the loss of this worker.
	External bool
	// Locations maps the output edges whose partitions live elsewhere
	// than this worker's own shuffle service (an external shuffle daemon)
	// to the location consumers read them from.
	Locations map[int]string
	// LastCheckpoint is the last checkpoint barrier the attempt processed
	// (or restored from): its Committables belong after it.
	LastCheckpoint int64
}

// InputError is a failure to read an input partition. When it wraps
// shuffle.ErrNotExist or shuffle.ErrCorrupt the producer's result is lost
// and the master reruns the producer.
type InputError struct {
	Partition shuffle.PartitionID
	Location  string
	Err       error
}

// Error implements error.
func (e *InputError) Error() string {
	return fmt.Sprintf("read input %s from %s: %v", e.Partition, e.Location, e.Err)
}

// Unwrap returns the read error.
func (e *InputError) Unwrap() error { return e.Err }

// RestoreError is a failure to read or apply a task's checkpointed state
// (a corrupt or missing state file): the master falls back to an older
// retained checkpoint.
type RestoreError struct {
	Checkpoint int64
	Err        error
}

// Error implements error.
func (e *RestoreError) Error() string {
	return fmt.Sprintf("restore from checkpoint %d: %v", e.Checkpoint, e.Err)
}

// Unwrap returns the cause.
func (e *RestoreError) Unwrap() error { return e.Err }

// VertexMetrics are counters of one vertex subtask.
type VertexMetrics struct {
	Vertex            int   `json:"vertex"`
	Subtask           int   `json:"subtask"`
	RecordsIn         int64 `json:"recordsIn"`
	RecordsOut        int64 `json:"recordsOut"`
	LateDropped       int64 `json:"lateDropped"`
	BackPressureNanos int64 `json:"backPressureNanos"`
	BytesOut          int64 `json:"bytesOut"`
	// BytesIn is encoded data bytes read from network edges.
	BytesIn int64 `json:"bytesIn,omitempty"`
}

// MetricsReport is what an executor sends the master about its job.
type MetricsReport struct {
	Vertices         []VertexMetrics `json:"vertices"`
	BuffersInUse     int             `json:"buffersInUse"`
	PeakBuffersInUse int             `json:"peakBuffersInUse"`
	// MemoryBytes is the memory the executor process's Go runtime holds
	// from the operating system.
	MemoryBytes uint64 `json:"memoryBytes,omitempty"`
}
