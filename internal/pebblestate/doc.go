// Package pebblestate is the Pebble keyed-state backend: an ordered byte
// key-value store (engine.KeyedStore) that keeps an operator instance's keyed
// state in a local Pebble LSM instead of the Go heap, with incremental
// checkpoints and restore with or without a change of parallelism.
//
// It owns:
//
//   - Store: one Pebble DB per operator instance in a local working
//     directory (no WAL: checkpoints give durability), implementing
//     engine.KeyedStore.
//   - Snapshots in two phases: Store.Snapshot (synchronous, fast: flush the
//     memtable and hard-link a Pebble checkpoint) and PendingSnapshot.Upload
//     (asynchronous: upload the SSTs the last completed checkpoint did not
//     already hold, plus the small private files). The immutable SSTs are
//     reported as checkpoint.SharedFile in Result.Shared so checkpoint
//     storage can reference-count them across checkpoints.
//   - Restore: from one previous instance with the same key group range
//     (download and open; the next checkpoint stays incremental), or from
//     several (rescaling: copy exactly the key groups of the new range).
//
// Checkpoint storage is reached only through the small Uploader and
// Downloader interfaces; DirStorage implements them over a local directory.
package pebblestate
