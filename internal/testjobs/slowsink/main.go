// Command slowsink is a test job with a deliberately slow consumer: a
// fast source rebalanced over a pipelined edge to a sink that sleeps on
// every batch, so the producers are back-pressured.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/io/datagen"
)

func main() {
	n := flag.Int64("records", 300000, "records to generate")
	delay := flag.Duration("delay", 2*time.Millisecond, "sleep per sink batch")
	flag.Parse()
	g := dag.New("slowsink", dag.Config{Parallelism: 2, Mode: dag.StreamingMode, BatchSize: 256})
	src := dag.FromSource(g, "src", datagen.New(func(i int64, _ *rand.Rand) int64 { return i }, datagen.Count(*n)), nil)
	dag.ToSink(src.Rebalance(), "slow", slowSink{*delay})
	if _, err := dagflow.Run(context.Background(), g, dagflow.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

type slowSink struct{ delay time.Duration }

func (s slowSink) NewWriter(context.Context, dag.SinkContext) (dag.SinkWriter[int64], error) {
	return s, nil
}
func (s slowSink) Committer() dag.Committer { return nil }
func (s slowSink) Write(context.Context, *dag.Batch[int64]) error {
	time.Sleep(s.delay)
	return nil
}
func (s slowSink) Prepare(context.Context) ([][]byte, error) { return nil, nil }
func (s slowSink) Abort(context.Context) error               { return nil }
func (s slowSink) Close() error                              { return nil }
