package dag

import "math"

// Time values are event timestamps in Unix milliseconds.
const (
	// MinTime is the smallest timestamp: the watermark before any data, and
	// the timestamp of a record that has none.
	MinTime int64 = math.MinInt64
	// MaxTime is the final watermark, emitted when a bounded input ends so
	// that every event-time window and timer fires.
	MaxTime int64 = math.MaxInt64
)

// DefaultBatchSize is how many records operators pass at a time.
const DefaultBatchSize = 1024

// Batch is the unit records move in: values with their event timestamps
// (Unix ms, MinTime when unknown). TS always has the same length as Vals.
//
// Ownership: a batch handed to an operator or a sink writer is valid only
// for the duration of the call; the caller reuses it afterwards. Keep copies
// of values, not of the batch.
type Batch[T any] struct {
	Vals []T
	TS   []int64
}

// Len returns the number of records in the batch.
func (b *Batch[T]) Len() int { return len(b.Vals) }

// Reset empties the batch, keeping its capacity.
func (b *Batch[T]) Reset() {
	clear(b.Vals) // drop references so the GC can reclaim them
	b.Vals = b.Vals[:0]
	b.TS = b.TS[:0]
}

// Append adds one record.
func (b *Batch[T]) Append(v T, ts int64) {
	b.Vals = append(b.Vals, v)
	b.TS = append(b.TS, ts)
}
