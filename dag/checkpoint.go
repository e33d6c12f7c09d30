package dag

import (
	"context"
)

// This file is the checkpoint contract between operators, sources, sinks
// and the engine. Checkpoints follow the Chandy-Lamport scheme of
// asynchronous barrier snapshots: the engine injects a barrier at the
// sources, every task snapshots its state when the barrier has arrived on
// all of its inputs (alignment) and forwards it; a checkpoint is complete
// when every task acknowledged it.

// CheckpointListener is implemented by operators, split readers and sink
// writers that act when a checkpoint completed (e.g. commit source offsets
// to an external system). Notifications may be skipped: completing
// checkpoint N implies every earlier one is subsumed.
type CheckpointListener interface {
	CheckpointComplete(ctx context.Context, id int64) error
}

// PositionedReader is a SplitReader whose position can be checkpointed.
// Every reader of a source used in a checkpointed job must implement it.
type PositionedReader interface {
	// Position returns the split with its Data updated so that OpenSplit of
	// the result resumes right after the last record ReadBatch returned.
	Position() (Split, error)
}

// StatefulSinkWriter is a SinkWriter that keeps state across checkpoints
// (e.g. partitions written but not yet committed to a catalog).
type StatefulSinkWriter interface {
	// SnapshotState is called right after Prepare at a barrier.
	SnapshotState(ctx context.Context) ([]byte, error)
	// RestoreState receives the states of every writer of the previous
	// run (union) after NewWriter and before any record.
	RestoreState(ctx context.Context, states [][]byte) error
}

// WatermarkSinkWriter is a SinkWriter that wants the event-time progress of
// its input (e.g. to decide when a time partition is complete).
type WatermarkSinkWriter interface {
	WriteWatermark(ctx context.Context, wm int64) error
}
