// Package checkpoint owns checkpoint storage: where the state of a
// checkpoint lives, how small state is merged into few files, how files
// shared between checkpoints are reference counted and deleted, the
// metadata format, savepoints and the choice of the checkpoint to restore.
// It works through filesystem.FileSystem only, so the same code runs on
// local disks and on HDFS.
//
// # Layout
//
// Storage of job J under base URI B:
//
//	B/J/chk-<id>/_metadata                 metadata of completed checkpoint id
//	B/J/chk-<id>/<worker>-<r>-<n>.seg      segment files: small state of one worker, merged
//	B/J/chk-<id>/<worker>-<r>-<n>.state    state too large to merge, one file per handle
//	B/J/shared/chk-<id>/<key>              shared files uploaded during checkpoint id
//	B/J/shared/chk-<id>/<worker>-<r>-<n>.seg  small shared files uploaded during id, merged
//	B/J/shared/job/<key>                   shared files uploaded outside a checkpoint
//
// <r> is random per CheckpointWriter, so writers never collide. A
// savepoint is one self-contained directory <dir>/savepoint-<job>-<id>/
// holding _metadata, data-<n>.seg and file-<n>.bin, with handles relative
// to it.
//
// # Writing a checkpoint
//
// Each worker process opens one CheckpointWriter per checkpoint and all its
// tasks write through it concurrently. State of at most InlineThreshold
// bytes stays inline in the metadata; state below MergeThreshold is
// appended to the writer's current segment file (streamed through a 64 KiB
// buffer, rolling over at MaxSegmentSize); larger state gets its own file.
// Every handle carries the CRC-32C of its bytes, checked on every read.
//
// # Completing, subsuming, aborting
//
// The coordinator's Storage writes chk-<id>/_metadata atomically (temporary
// file, then rename) in Complete and registers every file the metadata
// references in a Registry of reference counts. Beyond Options.Retain
// completed checkpoints the oldest is subsumed: its references are
// dropped, every file no retained checkpoint references is deleted, and
// the directories chk-<k>/ and shared/chk-<k>/ of a checkpoint k that is
// neither retained nor pending are removed as a whole once nothing in them
// is referenced. Abort removes the directories of a checkpoint that never
// completed in the same way. Files outside B/J are never deleted (e.g.
// those of a savepoint a job was restored from). Recover rebuilds the
// registry from the _metadata files after a master restart.
//
// # Metadata format
//
// "DFCKPT\x00\n", the format version (uint32), the body length (uint64)
// and the CRC-32C of the body (uint32), all big-endian, then the JSON
// body. Decoding errors match ErrCorrupt or ErrUnknownVersion.
package checkpoint
