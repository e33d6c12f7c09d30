package engine

import (
	"context"
	"errors"

	"github.com/dagflow/dagflow/scheduler"
)

// ErrCorruptRecord is wrapped by coders on malformed input.
var ErrCorruptRecord = errors.New("dag: corrupt encoded record")

// Split is one unit of source work: a byte range of a file, a partition of
// a generator, a Kafka partition. Sources encode what they need in Data;
// the engine only stores, assigns and reports splits.
type Split struct {
	// ID is unique within the source and stable across runs of the same
	// job on the same input.
	ID string
	// Data is the source's own encoding of the split.
	Data []byte
	// Weight is the split's size in the source's unit (bytes for files,
	// records for generators); used for progress and balancing. 0 = unknown.
	Weight int64
}

// Committer makes prepared output visible. Commit and Abort must be
// idempotent: after a failure the engine may call them again with the same
// committables.
type Committer interface {
	Commit(ctx context.Context, committables [][]byte) error
	Abort(ctx context.Context, committables [][]byte) error
}

// FinishedSplit is a split read to its end, with its reader's report.
type FinishedSplit struct {
	ID     string `json:"id"`
	Report []byte `json:"report,omitempty"`
}

// EncoderSpec describes how one producer subtask writes to a network edge.
type EncoderSpec struct {
	Channels       int // consumer parallelism (1 for Forward)
	MaxParallelism int
	Subtask        int // producer subtask (Rebalance start offset)
	BufferSize     int
}

// Plan is the engine's view of a plan built in this process
// (dag.Plan.Engine): it instantiates the user's operators, sources, sinks
// and coders by vertex and edge id.
type Plan interface {
	// Topology returns the scheduler's view of the plan: one task vertex
	// per operator chain and one edge per network edge.
	Topology() scheduler.Topology
	// NewOperator returns a fresh operator instance of a non-source vertex.
	NewOperator(vertexID int) (Operator, error)
	// NewSourceInstance returns a fresh instance of a source vertex.
	NewSourceInstance(vertexID int) (SourceInstance, error)
	// Splits enumerates the splits of a source vertex.
	Splits(ctx context.Context, vertexID int) ([]Split, error)
	// IsDynamic reports whether a source vertex enumerates splits in
	// rounds (dag.DynamicSource).
	IsDynamic(vertexID int) bool
	// MoreSplits enumerates round of a dynamic source vertex.
	MoreSplits(ctx context.Context, vertexID, round int, finished []FinishedSplit) ([]Split, bool, error)
	// Committer returns the committer of a sink vertex (nil if none).
	Committer(vertexID int) (Committer, error)
	// NewEncoder returns the encoder one producer subtask uses for a
	// network edge (the edge's partitioner is the plan's).
	NewEncoder(edgeID int, spec EncoderSpec) (EdgeEncoder, error)
	// NewDecoder returns a decoder for buffers of a network edge.
	NewDecoder(edgeID int) (EdgeDecoder, error)
}
