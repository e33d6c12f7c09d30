package worker

import (
	"context"
	"fmt"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/shuffle"
)

// TaskID names one subtask of a plan task (operator chain).
type TaskID struct {
	Task    int // plan task id
	Subtask int
}

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
	Edge     int // plan edge id
	Input    int // consumer input index of the edge's target vertex
	Channels []InputChannel
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
	Inputs  []InputGate
	Outputs []OutputPartition
}

// SplitProvider hands source splits to source subtasks on demand.
type SplitProvider interface {
	// NextSplit returns the next split for the subtask of a source vertex,
	// or ok=false when the source has no more splits for it.
	NextSplit(ctx context.Context, job string, vertex, subtask, attempt int) (split dag.Split, ok bool, err error)
}

// ShuffleResolver finds the shuffle service at a location.
type ShuffleResolver interface {
	Resolve(location string) (shuffle.Service, error)
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
}

// InputError is a failure to read an input partition. When it wraps
// shuffle.ErrNotExist or shuffle.ErrCorrupt the producer's result is lost
// and the master reruns the producer.
type InputError struct {
	Partition shuffle.PartitionID
	Location  string
	Err       error
}

func (e *InputError) Error() string {
	return fmt.Sprintf("read input %s from %s: %v", e.Partition, e.Location, e.Err)
}

func (e *InputError) Unwrap() error { return e.Err }
