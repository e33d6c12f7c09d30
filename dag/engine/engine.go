package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"
)

// Operator is the runtime instance of one non-source vertex in one
// subtask. The engine calls it from a single goroutine.
type Operator interface {
	// Open prepares the operator; oc stays valid until Close.
	Open(ctx context.Context, oc *OperatorContext) error
	// ProcessBatch handles a batch arriving on input (a *dag.Batch[T] of that
	// input's type). The batch is only valid during the call.
	ProcessBatch(ctx context.Context, input int, batch any) error
	// ProcessWatermark handles an advance of the combined watermark of all
	// inputs. The operator fires what is due and forwards the watermark.
	ProcessWatermark(ctx context.Context, wm int64) error
	// EndInput says input has ended. When the last input ends the operator
	// emits what it still holds (final results of bounded inputs).
	EndInput(ctx context.Context, input int) error
	// Close releases resources. It is called exactly once, also on failure.
	Close() error
}

// ProcessingTimeOperator is implemented by operators with processing-time
// timers. The engine calls OnProcessingTime when the wall clock reaches
// NextProcessingTimer.
type ProcessingTimeOperator interface {
	// NextProcessingTimer returns the earliest registered processing-time
	// timer (Unix ms) or dag.MaxTime.
	NextProcessingTimer() int64
	// OnProcessingTime fires timers due at now.
	OnProcessingTime(ctx context.Context, now int64) error
}

// SinkOperator is the runtime instance of a sink vertex.
type SinkOperator interface {
	Operator
	// Prepare flushes the sink writer and returns committables.
	Prepare(ctx context.Context) ([][]byte, error)
	// Abort discards unprepared output.
	Abort(ctx context.Context) error
}

// Output receives an operator's results on one output port.
type Output interface {
	// Emit passes a batch (*dag.Batch[T] of the port type) downstream. The
	// receiver must not keep it after returning.
	Emit(ctx context.Context, batch any) error
	// EmitWatermark forwards a watermark.
	EmitWatermark(ctx context.Context, wm int64) error
}

// Metrics is the set of counters an operator instance reports.
type Metrics struct {
	RecordsIn  atomic.Int64
	RecordsOut atomic.Int64
	// LateDropped counts late records dropped (no side output attached).
	LateDropped atomic.Int64
	// BackPressureNanos is time the vertex spent blocked writing to full
	// exchange queues (set by the engine).
	BackPressureNanos atomic.Int64
	// BytesOut counts encoded bytes the vertex wrote to network edges.
	BytesOut atomic.Int64
	// BytesIn counts encoded data bytes the vertex read from network edges.
	BytesIn atomic.Int64
}

// OperatorContext gives an operator instance its place in the job.
type OperatorContext struct {
	Job            string
	Vertex         int
	Name           string
	Subtask        int
	Parallelism    int
	MaxParallelism int
	Attempt        int
	BatchSize      int
	// Bounded says every input of the vertex is bounded: operators then
	// emit final results when their input ends instead of updates.
	Bounded bool
	// Outputs has one entry per output port (0 = main, then side outputs).
	Outputs []Output
	// Now returns processing time in Unix milliseconds.
	Now func() int64
	// Metrics is where the operator counts.
	Metrics *Metrics
	// KeyedStore, when not nil, opens the operator instance's on-disk
	// keyed state store (Pebble backend); nil means heap state. Call it at
	// most once, in Open.
	KeyedStore func() (KeyedStore, error)
}

// SourceInstance is the runtime instance of one subtask of a source vertex.
type SourceInstance interface {
	// Open prepares the instance; oc.Outputs[0] receives batches.
	Open(ctx context.Context, oc *OperatorContext) error
	// AddSplit opens a reader for split. Bounded sources get one split at a
	// time; unbounded sources may hold several.
	AddSplit(ctx context.Context, split Split) error
	// Poll reads one batch from an open split, assigns timestamps, updates
	// the split's watermark and emits the batch. It returns the number of
	// records emitted and the splits that ended (with their readers'
	// reports, see dag.FinishReporter).
	Poll(ctx context.Context) (n int, finished []FinishedSplit, err error)
	// SnapshotSplits returns the open splits at their current positions
	// (an error if a reader does not implement dag.PositionedReader).
	SnapshotSplits() ([]SplitPosition, error)
	// RestoreSplit opens a reader for a checkpointed split position.
	RestoreSplit(ctx context.Context, sp SplitPosition) error
	// NotifyCheckpoint passes a completed checkpoint to readers that
	// implement dag.CheckpointListener.
	NotifyCheckpoint(ctx context.Context, id int64) error
	// Open reports how many splits are open.
	OpenSplits() int
	// Watermark returns the current watermark (monotonic) and whether all
	// open splits are idle at processing time now.
	Watermark(now int64) (wm int64, idle bool)
	// Close closes all readers.
	Close() error
}

// SplitPosition is a split at a checkpointed position.
type SplitPosition struct {
	Split Split
	// MaxTimestamp is the largest event time read from the split so far.
	MaxTimestamp int64
}

// Frame kinds: the first byte of every exchange buffer.
const (
	// FrameData carries records encoded by an EdgeEncoder.
	FrameData byte = 'D'
	// FrameWatermark carries a watermark (8 bytes, big endian).
	FrameWatermark byte = 'W'
	// FrameIdle marks the channel idle until its next data or watermark.
	FrameIdle byte = 'I'
)

// BufferSink receives full exchange buffers from an EdgeEncoder. Buffers
// are only valid during the call.
type BufferSink interface {
	Send(ctx context.Context, channel int, buf []byte) error
	SendBroadcast(ctx context.Context, buf []byte) error
}

// EdgeEncoder partitions and serializes one producer subtask's records
// for one network edge.
type EdgeEncoder interface {
	// Encode appends the batch's records to per-channel buffers, handing
	// full ones to sink.
	Encode(ctx context.Context, batch any, sink BufferSink) error
	// Flush hands every non-empty buffer to sink.
	Flush(ctx context.Context, sink BufferSink) error
}

// EdgeDecoder turns FrameData buffers back into batches.
type EdgeDecoder interface {
	// Decode decodes all records of buf (including its frame byte) and
	// returns them as a *dag.Batch[T], valid until the next Decode.
	Decode(buf []byte) (any, error)
}

// EncodeWatermark returns a FrameWatermark buffer.
func EncodeWatermark(dst []byte, wm int64) []byte {
	dst = append(dst, FrameWatermark)
	return binary.BigEndian.AppendUint64(dst, uint64(wm))
}

// DecodeWatermark reads a FrameWatermark buffer.
func DecodeWatermark(buf []byte) (int64, error) {
	if len(buf) != 9 || buf[0] != FrameWatermark {
		return 0, fmt.Errorf("%w: bad watermark frame of %d bytes", ErrCorruptRecord, len(buf))
	}
	return int64(binary.BigEndian.Uint64(buf[1:])), nil
}
