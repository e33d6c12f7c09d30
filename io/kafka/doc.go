// Package kafka owns dagflow's Apache Kafka connectors: a source that reads
// topic partitions as splits (unbounded, or bounded at the end offsets or a
// timestamp) and a sink that writes at-least-once or exactly-once through
// Kafka transactions committed when a checkpoint completes.
//
// Both are built on github.com/twmb/franz-go (kgo for clients, kmsg for the
// admin requests the connectors need). Tests run against the in-process fake
// cluster github.com/twmb/franz-go/pkg/kfake, which speaks the real Kafka
// protocol.
//
// Source: one split per topic partition. Splits resolves the start offsets
// (earliest, latest, timestamp, committed group offsets or explicit ones)
// and, in bounded mode, the stop offsets, so a split's Data holds concrete
// offsets and reopening a split (after a failure or from a checkpointed
// Position) reads the same records. All splits read by one source subtask
// share one kgo client with direct partition assignment.
//
// Sink: at-least-once flushes on Prepare. Exactly-once writes each
// checkpoint interval in a Kafka transaction whose transactional id comes
// from a small per-subtask pool; Prepare flushes and hands the producer id
// and epoch to the job's Committer, which ends the transaction with an
// EndTxn request, idempotently, from any process.
package kafka
