// Package restore holds the I/O around checkpoint storage that the job
// master needs to start and restore jobs: constructing a job's checkpoint
// store (on a filesystem or in memory), writing savepoints of jobs without
// a checkpoint directory, loading a savepoint or the newest valid
// checkpoint of a job, checking that a job can start from one, and
// computing the state each task restores (redistributed by key group when
// the parallelism changed).
//
// The decisions about checkpoints (when to take one, which to restore,
// falling back over corrupt ones) belong to package coordinator; this
// package only reads, writes and reshapes what storage holds.
package restore
