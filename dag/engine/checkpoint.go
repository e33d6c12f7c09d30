package engine

import (
	"context"
	"encoding/binary"
	"fmt"
)

// FrameBarrier carries a checkpoint barrier (see EncodeBarrier).
const FrameBarrier byte = 'B'

// BarrierKind says what a barrier is for.
type BarrierKind uint8

const (
	// KindCheckpoint is a periodic checkpoint, owned by the engine.
	KindCheckpoint BarrierKind = iota
	// KindSavepoint is a user-triggered, self-contained snapshot.
	KindSavepoint
	// KindDrainSavepoint is a savepoint taken while stopping the job with
	// drain: sources end after it (emitting the final watermark so every
	// event-time window fires).
	KindDrainSavepoint
)

// String implements fmt.Stringer.
func (k BarrierKind) String() string {
	switch k {
	case KindCheckpoint:
		return "checkpoint"
	case KindSavepoint:
		return "savepoint"
	case KindDrainSavepoint:
		return "drain-savepoint"
	}
	return fmt.Sprintf("BarrierKind(%d)", uint8(k))
}

// Barrier marks the position of one checkpoint in a stream.
type Barrier struct {
	// ID increases with every checkpoint of a job.
	ID int64
	// Timestamp is when the checkpoint was triggered (Unix ms).
	Timestamp int64
	Kind      BarrierKind
}

// EncodeBarrier appends a FrameBarrier buffer to dst.
func EncodeBarrier(dst []byte, b Barrier) []byte {
	dst = append(dst, FrameBarrier)
	dst = binary.BigEndian.AppendUint64(dst, uint64(b.ID))
	dst = binary.BigEndian.AppendUint64(dst, uint64(b.Timestamp))
	return append(dst, byte(b.Kind))
}

// DecodeBarrier reads a FrameBarrier buffer.
func DecodeBarrier(buf []byte) (Barrier, error) {
	if len(buf) != 18 || buf[0] != FrameBarrier {
		return Barrier{}, fmt.Errorf("%w: bad barrier frame of %d bytes", ErrCorruptRecord, len(buf))
	}
	b := Barrier{
		ID:        int64(binary.BigEndian.Uint64(buf[1:])),
		Timestamp: int64(binary.BigEndian.Uint64(buf[9:])),
		Kind:      BarrierKind(buf[17]),
	}
	if b.Kind > KindDrainSavepoint {
		return Barrier{}, fmt.Errorf("%w: barrier of unknown kind %d", ErrCorruptRecord, b.Kind)
	}
	return b, nil
}

// StateWriter receives the serialized state of one operator instance
// during a checkpoint.
type StateWriter interface {
	// KeyGroup writes the state of key group kg. Each key group is written
	// at most once per snapshot. On restore the key group goes to the
	// subtask whose KeyGroupRange holds it, whatever the parallelism.
	KeyGroup(kg int, data []byte) error
	// Operator writes non-keyed state. On restore every subtask receives
	// the operator state of every previous subtask (union redistribution)
	// and keeps what concerns it.
	Operator(data []byte) error
}

// SnapshotFunc serializes captured state into w. The engine calls it once,
// possibly on another goroutine while the operator keeps processing, so it
// must only read memory the live state no longer changes.
type SnapshotFunc func(w StateWriter) error

// RestoredState is the state an operator instance starts from.
type RestoredState struct {
	// KeyGroups holds the state of the key groups this subtask owns
	// (KeyGroupRange of its subtask index), as written by KeyGroup.
	KeyGroups map[int][]byte
	// Operator holds the non-keyed state written by every previous
	// subtask, in subtask order.
	Operator [][]byte
	// AllowNonRestored lets operators drop checkpointed state they no
	// longer declare (a state renamed or removed in the new job version)
	// instead of failing the restore.
	AllowNonRestored bool
}

// Snapshotter is implemented by operators that hold state.
type Snapshotter interface {
	// SnapshotState is called between two batches once the barrier of
	// checkpoint b arrived on every input. It must capture the state
	// quickly (the task is paused meanwhile: copy-on-write or a shallow
	// clone, not serialization) and return the function that serializes
	// the captured copy.
	SnapshotState(ctx context.Context, b Barrier) (SnapshotFunc, error)
	// RestoreState loads state after Open and before any input.
	RestoreState(ctx context.Context, st *RestoredState) error
}

// KeyedStore is an ordered byte key-value store that keeps keyed state out
// of the Go heap (the Pebble state backend). Every key starts with its key
// group as 2 big-endian bytes, so a restore with another parallelism can
// keep exactly the key groups of its range. A store belongs to one operator
// instance and is used from its task's goroutine only; the engine
// snapshots and restores it (operators only snapshot their heap parts,
// e.g. timers). The engine snapshots the store after the operator's
// Snapshotter.SnapshotState returns, so an operator that caches state in
// memory writes it to the store there.
type KeyedStore interface {
	// Get appends the value of key to dst; ok is false if key is absent.
	Get(key, dst []byte) (val []byte, ok bool, err error)
	Set(key, value []byte) error
	Delete(key []byte) error
	// Scan calls fn for each entry whose key starts with prefix, in key
	// order, until fn returns false. k and v are only valid during the call
	// and fn must not modify the store.
	Scan(prefix []byte, fn func(k, v []byte) bool) error
	// DeletePrefix removes every entry whose key starts with prefix.
	DeletePrefix(prefix []byte) error
}

// KeyedStoreAppender is implemented by keyed stores that append to a value
// in place: list state then adds an element without rewriting the list.
type KeyedStoreAppender interface {
	// Append appends suffix to the value of key (an absent key holds
	// the empty value).
	Append(key, suffix []byte) error
}
