// Package engine is the engine-facing side of package dag: the contract
// between the operators, sources and coders a job builds with dag and
// the runtime (worker and master) that runs them.
//
// It holds the non-generic runtime interfaces (Operator, SourceInstance,
// SinkOperator, Output, OperatorContext and Metrics), the exchange
// buffer format (frame kinds, EdgeEncoder, EdgeDecoder, watermark and
// barrier frames), the checkpoint contract (Barrier, Snapshotter,
// StateWriter, RestoredState, KeyedStore), key-group arithmetic, and
// Plan: the engine's view of a dag.Plan built in this process
// (dag.Plan.Engine), including its scheduler Topology.
//
// Package dag implements these interfaces and imports this package; this
// package imports no part of dag, so job authors' documentation (go doc
// dag) lists only what they use. The few names both sides share (Split,
// FinishedSplit, Committer and ErrCorruptRecord) are defined here, and dag
// re-exports them (type aliases and the same error value).
package engine
