package shuffle

import (
	"context"
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrNotExist means the partition is unknown: never committed, released,
	// or its producer (or the holder of its files) is lost. The scheduler
	// reacts by rerunning the producing region.
	ErrNotExist = errors.New("shuffle: partition does not exist")
	// ErrCorrupt means stored data failed validation (checksum, framing).
	// Like ErrNotExist it makes the producer's result lost; it never yields
	// wrong data.
	ErrCorrupt = errors.New("shuffle: corrupt partition data")
	// ErrAborted is returned to readers of a partition whose writer aborted.
	ErrAborted = errors.New("shuffle: partition aborted by its producer")
	// ErrClosed is returned after the service was closed.
	ErrClosed = errors.New("shuffle: service closed")
	// ErrExist is returned by CreateWriter when the partition id is already
	// in use. Ids are never reused: a rerun writes a new Attempt.
	ErrExist = errors.New("shuffle: partition already exists")
)

// Mode says how a partition crosses its edge.
type Mode uint8

const (
	// Pipelined partitions stream buffers to consumers while the producer
	// runs, through bounded queues (back-pressure).
	Pipelined Mode = iota + 1
	// Blocking partitions are fully written and committed before any
	// consumer reads them.
	Blocking
)

// String returns "pipelined" or "blocking".
func (m Mode) String() string {
	switch m {
	case Pipelined:
		return "pipelined"
	case Blocking:
		return "blocking"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// PartitionID names one result partition: the output of one producer subtask
// attempt on one edge of one job.
type PartitionID struct {
	Job      string // job id
	Result   string // intermediate result id (producer vertex + edge), stable across attempts
	Producer int    // producer subtask index
	Attempt  int    // producer attempt; a rerun writes a new partition
}

// String renders the id for logs and file names.
func (p PartitionID) String() string {
	return fmt.Sprintf("%s/%s/%d.%d", p.Job, p.Result, p.Producer, p.Attempt)
}

// WriterOptions configure a partition writer.
type WriterOptions struct {
	// Mode selects pipelined or blocking behaviour.
	Mode Mode
	// Subpartitions is the number of consumer channels (>= 1).
	Subpartitions int
}

// Writer writes one partition. Buffers are opaque byte slices holding whole
// encoded records or events; the shuffle never looks inside them. A writer is
// used by one goroutine. Nothing a writer wrote is visible to blocking readers
// until Commit returns; pipelined readers see buffers as they are written and
// io.EOF after Commit.
//
// After Write, WriteBroadcast or Commit returned an error the partition is in
// an unspecified state and the caller must Abort it (a Write that failed
// because ctx was done enqueued nothing, but a WriteBroadcast may have reached
// some subpartitions).
type Writer interface {
	// Write appends buf to subpartition sub. The writer does not retain buf
	// after Write returns (it copies), so callers reuse their buffers. For
	// pipelined partitions Write blocks while the consumer's queue is full
	// (back-pressure) until ctx is done. An empty buf is a valid buffer and
	// is delivered as an empty buffer. Writes to a pipelined subpartition
	// whose reader was closed before the end are dropped.
	Write(ctx context.Context, sub int, buf []byte) error
	// WriteBroadcast appends buf to every subpartition, storing it once where
	// the implementation can. Order relative to Write calls is preserved in
	// every subpartition.
	WriteBroadcast(ctx context.Context, buf []byte) error
	// Commit finishes the partition and makes it visible. Pipelined
	// readers get io.EOF once they drained their queues; Commit does not
	// wait for them.
	Commit(ctx context.Context) error
	// Abort discards the partition; readers get ErrAborted (pipelined) or
	// ErrNotExist (blocking). Abort after Commit is a no-op.
	Abort(cause error)
}

// Reader reads buffers of a range of subpartitions of one partition, in
// write order within each subpartition. Every subpartition in the range
// yields its own copy of each broadcast buffer.
//
// For Blocking partitions the subpartitions come in ascending order: all of
// subpartition from, then all of from+1, and so on.
//
// For Pipelined partitions a range of more than one subpartition is
// interleaved in arrival order (round-robin among subpartitions that have a
// buffer ready): waiting for the end of one subpartition before reading the
// next would deadlock against back-pressure. A pipelined subpartition is
// consumed once; opening it again returns ErrNotExist.
//
// A reader is used by one goroutine.
type Reader interface {
	// Next returns the next buffer. The slice is valid until the next call
	// to Next or Close and must not be modified (pipelined broadcast
	// buffers are shared between subpartitions). At the end it returns
	// io.EOF. A reader whose partition was released returns ErrNotExist.
	Next(ctx context.Context) ([]byte, error)
	// Close releases the reader.
	Close() error
}

// Stat describes a committed partition. Broadcast buffers count once in
// RawBytes and Buffers however many subpartitions receive them.
type Stat struct {
	Bytes         int64 // stored bytes: file sizes (data + index) for files, RawBytes for memory
	RawBytes      int64 // bytes written by the producer before compression
	Buffers       int64 // buffers written (Write and WriteBroadcast calls)
	Subpartitions int
	Files         int // files holding the partition (0 for memory)
}

// Service stores and moves result partitions. Implementations: in-memory
// pipelined queues, worker-local sort-merge files for blocking results and,
// later, remote daemons; all pass the same conformance suite.
type Service interface {
	// CreateWriter starts a partition. It fails with ErrExist if the id
	// already exists.
	CreateWriter(ctx context.Context, id PartitionID, opts WriterOptions) (Writer, error)
	// OpenReader opens subpartitions [from, to) of a partition (from < to).
	// For pipelined partitions the reader may be opened before the writer
	// exists; it then waits for data. For blocking partitions it returns
	// ErrNotExist unless the partition is committed.
	//
	// A reader opened for an id the service does not know waits for a
	// pipelined writer for a bounded time (the implementation's pending
	// reader timeout) and then fails with ErrNotExist; it fails at once if
	// the job was released or another partition of the same Result is known
	// to be Blocking, and when a Blocking writer is created for the id.
	OpenReader(ctx context.Context, id PartitionID, from, to int) (Reader, error)
	// Stat describes a committed partition or returns ErrNotExist.
	Stat(ctx context.Context, id PartitionID) (Stat, error)
	// Release deletes every partition of the job (files and memory).
	Release(ctx context.Context, job string) error
	// Close releases everything the service holds.
	Close() error
}
