// Package dag is dagflow's public API: a typed dataflow graph of sources,
// operators and sinks, and the serializable plan the engine runs.
//
// A job builds a Graph, adds sources with FromSource, transforms streams with
// Map, FlatMap, Filter, KeyBy, Aggregate, Reduce, Window (tumbling,
// sliding and session windows; Windowed.Late is the late-data side
// output; results are WindowResult values over a TimeWindow), WindowJoin,
// Join (regular keyed inner join), Process and CoProcess (keyed state and
// timers over one or two inputs) and Union, and ends them in sinks. Every edge of the graph carries
// an exchange mode (Pipelined, Blocking or Auto) and a partitioner (Forward,
// Hash, Rebalance, Broadcast) that the user may set on any edge. Bounded and
// unbounded inputs use the very same operators: when a bounded input ends
// its source emits the final watermark, so every window and timer fires and
// batch results equal streaming results.
//
// Build validates the graph and returns a Plan: deterministic vertex IDs,
// resolved exchange modes, operator chains and a fingerprint, so another
// process running the same binary can rebuild and verify the identical graph.
//
// dag knows nothing about processes or networks. The engine-facing part of
// the API lives in package dag/engine: Plan.Engine lets the worker
// instantiate operators and move batches as bytes through coders without
// knowing user types.
package dag
