// Package nexmark is the Nexmark benchmark for dagflow: the event
// generator, the queries written with the public dag API, plain-Go
// reference implementations of the queries, and a checksumming sink.
//
// The model is an online auction site with three streams of events:
// persons registering, auctions opening and bids on auctions, in the
// proportion 1 : 3 : 46. A Generator produces the events of a Config
// deterministically: event i is a pure function of the config and i, so
// the stream can be split over any number of source subtasks (Source) and
// re-generated for a reference run (Generator.Events). Event time
// advances at Config.EventRate with disorder bounded by
// Config.OutOfOrderness, which the source's watermark strategy uses, so
// that no event is ever late.
//
// Each query is a function from the event stream to a typed output stream
// (Q0 … Q22) in its own file, with the Nexmark SQL it implements in its
// doc comment; Queries lists them with their references. A query's output
// ends in a ChecksumSink, whose Summary (row count and sum of row hashes)
// does not depend on the order or partitioning of the output: a batch run
// and a streaming run of a bounded stream, and the reference, agree on it.
// docs/nexmark.md describes the generator, the deviations from the
// published SQL semantics and measured results.
//
// A minimal job:
//
//	gen, err := nexmark.NewGenerator(nexmark.Config{Events: 1_000_000})
//	…
//	g := dag.New("q5", dag.Config{Parallelism: 2, Mode: dag.StreamingMode})
//	q, _ := nexmark.Lookup("q5")
//	sum := q.AddTo(nexmark.Read(g, gen), "out")
//	if _, err := dagflow.Run(ctx, g, dagflow.Options{}); err == nil {
//		fmt.Println(sum.Summary())
//	}
package nexmark
