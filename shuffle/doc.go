// Package shuffle moves intermediate results between the producer and
// consumer subtasks of a job.
//
// It owns:
//
//   - The Service abstraction (shuffle.go): a producer subtask attempt writes
//     one partition per output edge through a Writer, buffer by buffer, to
//     numbered subpartitions (one per consumer channel); consumers read
//     subpartition ranges through Readers. Buffers are opaque byte slices.
//     Pipelined partitions stream through bounded queues while the producer
//     runs (credit-based back-pressure); Blocking partitions are complete and
//     committed before anyone reads them, and can be read any number of times.
//   - Memory (NewMemory): everything in memory. Pipelined partitions are
//     per-subpartition FIFO queues of QueueBuffers pooled buffers; a writer
//     blocks while the queue it writes to is full. Blocking partitions are
//     retained copies, for tests and small jobs.
//   - Local (NewLocal): one worker's service. Pipelined partitions exactly as
//     Memory; Blocking partitions as sort-merge files: per partition one data
//     file of regions (each subpartition's bytes contiguous within a region)
//     and one index file, in checksummed, optionally compressed blocks
//     (none, S2, LZ4, zstd). README.md specifies the file format.
//   - Adoption (Local.Adopt, adopt.go): a Local takes over a committed
//     sort-merge partition another Local wrote on the same file system,
//     after validating its index; the external shuffle daemon
//     (shuffle/daemon) is built on it. FileView reads another Local's
//     partitions straight from their files (host-local reads).
//   - The conformance suite (package shuffletest) every implementation,
//     including future remote ones, must pass.
//
// # Errors
//
// Failures callers react to are sentinel errors tested with errors.Is:
// ErrNotExist (partition unknown, uncommitted, released or its files lost:
// rerun the producer), ErrCorrupt (stored data failed validation; the error
// names the file and offset; never wrong data), ErrAborted (the producer
// aborted a pipelined partition), ErrExist (duplicate CreateWriter) and
// ErrClosed. Context errors are returned as they are.
//
// # Concurrency
//
// Services are safe for concurrent use. A Writer or a Reader is used by one
// goroutine at a time. The services start no goroutines of their own
// (zstd's decoder pool aside, released by Close); every blocking call
// honours its context.
package shuffle
