package dag

import (
	"context"
	"time"

	"github.com/dagflow/dagflow/dag/engine"
)

// Split is one unit of source work: a byte range of a file, a partition of
// a generator, a Kafka partition (see engine.Split for its fields).
type Split = engine.Split

// SplitContext tells a source which subtask asks and how many there are.
type SplitContext struct {
	Parallelism int
}

// ReaderContext describes the subtask that reads splits.
type ReaderContext struct {
	Subtask     int
	Parallelism int
	Attempt     int
}

// Source produces records of type T. It is the engine-independent
// description of an input: the engine asks it for splits once per job
// (on the driver or master) and opens readers for splits in source
// subtasks, possibly in other processes running the same binary.
//
// Implementations must be safe for concurrent use by several subtasks.
type Source[T any] interface {
	// Bounded reports whether the source ends (files, N generated records)
	// or runs until cancelled (streams).
	Bounded() bool
	// Splits enumerates the work. An error (missing path, bad pattern)
	// fails the job before any task starts.
	Splits(ctx context.Context, sc SplitContext) ([]Split, error)
	// OpenSplit opens a reader positioned at the start of split.
	OpenSplit(ctx context.Context, rc ReaderContext, split Split) (SplitReader[T], error)
}

// SplitReader reads one split in batches.
type SplitReader[T any] interface {
	// ReadBatch appends up to max records to b and returns how many it
	// appended. It returns io.EOF (with possibly n > 0 appended before) when
	// the split is exhausted. An unbounded reader that has no data returns
	// (0, nil) after waiting at most a short while (~100ms) so that the
	// engine can emit idleness, watermarks and checkpoint barriers.
	// Timestamps may be filled by the reader (e.g. Kafka record time) or
	// left as MinTime for the job's timestamp assigner.
	ReadBatch(ctx context.Context, b *Batch[T], max int) (n int, err error)
	// Close releases the reader's resources.
	Close() error
}

// WatermarkStrategy says how event time is read from records and how
// watermarks are generated per source split.
type WatermarkStrategy[T any] struct {
	// Timestamp extracts the event time (Unix ms) of a record. Nil keeps
	// the timestamps the source reader set.
	Timestamp func(T) int64
	// OutOfOrderness is the bounded disorder tolerated: the watermark of a
	// split is (max timestamp seen - OutOfOrderness - 1ms).
	OutOfOrderness time.Duration
	// Idleness marks a split idle after this long without records, so it
	// stops holding back the watermark. 0 disables idleness.
	Idleness time.Duration
}

// SinkContext describes the subtask that writes.
type SinkContext struct {
	Job         string
	Subtask     int
	Parallelism int
	Attempt     int
}

// Sink consumes records of type T. Output becomes visible through a
// two-phase protocol so that a failed or cancelled job leaves no partial
// output: writers write to in-progress locations and, when their input ends,
// Prepare returns committables (e.g. pending file names); the engine commits
// all committables once the job has succeeded, or aborts them.
type Sink[T any] interface {
	// NewWriter opens the writer of one sink subtask attempt.
	NewWriter(ctx context.Context, sc SinkContext) (SinkWriter[T], error)
	// Committer returns the job-level committer, or nil when the sink's
	// output is visible as written (non-transactional sinks).
	Committer() Committer
}

// SinkWriter writes one subtask's records.
type SinkWriter[T any] interface {
	// Write writes a batch.
	Write(ctx context.Context, b *Batch[T]) error
	// Prepare flushes everything written so far and returns committables
	// describing it. After Prepare the writer may receive more records
	// (streaming jobs prepare at every checkpoint).
	Prepare(ctx context.Context) ([][]byte, error)
	// Abort discards everything not yet prepared (in-progress files).
	Abort(ctx context.Context) error
	// Close releases resources; called after Prepare or Abort.
	Close() error
}

// Committer makes prepared output visible. Commit and Abort must be
// idempotent: after a failure the engine may call them again with the same
// committables (see engine.Committer for its methods).
type Committer = engine.Committer

// FinishReporter is optionally implemented by a SplitReader: when the split
// ended, its report (e.g. the largest event time read) travels to the
// source's enumerator (DynamicSource.MoreSplits).
type FinishReporter interface {
	FinishReport() []byte
}

// FinishedSplit is a split read to its end, with its reader's report
// (see engine.FinishedSplit for its fields).
type FinishedSplit = engine.FinishedSplit

// DynamicSource is a Source whose splits are not all known when the job
// starts (e.g. a hybrid source whose second phase starts where the first
// one ended). Splits returns the first round; when every split handed out
// so far has finished and none is queued, the engine calls MoreSplits with
// the round number (1, 2, ...) and the reports of all splits finished so
// far, in every round, so that the result is a deterministic function of
// its arguments (the engine checkpoints the round and the reports, not the
// source). It runs where Splits runs (driver or master side).
type DynamicSource interface {
	// MoreSplits returns the splits of round, or done=true when the source
	// has no more splits (the readers then finish when their splits do).
	MoreSplits(ctx context.Context, sc SplitContext, round int, finished []FinishedSplit) (splits []Split, done bool, err error)
}
