// Package hybrid owns the hybrid (backfill-then-stream) source: a
// dag.Source that reads a sequence of sources one after the other, e.g. a
// day of history files and then a Kafka topic from where the files end.
//
// Every phase but the last is bounded. Phase 0's splits are the job's
// first splits; when every split of a phase has been read, the engine asks
// the source for the next phase's splits (dag.DynamicSource) with the
// reports of the finished splits, and the next phase starts where the
// previous one ended: at a fixed time (ThenAt), right after the largest
// event time the previous phases read (ThenAfter), or wherever a function
// of that end says (ThenFunc).
//
// Splits carry their phase, the phase's start time and the largest event
// time read so far, so that a split restored from a checkpoint reopens the
// right inner source at the checkpointed position and still reports the
// right end. See docs/backfill.md for the switch, watermarks, checkpoints
// and limits.
package hybrid
