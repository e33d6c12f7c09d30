// Command slowshuffle is a test job for external shuffle: a bounded
// generator of the integers [0, records) summed per key (i mod keys) over a
// blocking hash exchange, written as "key<TAB>sum" text files. The first
// attempt of every consumer subtask waits --consumer-delay before reading
// its input, which leaves tests a window after the producers finished and
// before their partitions are read.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/io/datagen"
	"github.com/dagflow/dagflow/io/fileio"
)

func main() {
	n := flag.Int64("records", 200000, "records to generate")
	keys := flag.Int64("keys", 1000, "distinct keys")
	p := flag.Int("parallelism", 3, "parallelism")
	delay := flag.Duration("consumer-delay", 0, "how long the first attempt of each consumer waits before reading")
	out := flag.String("output", "", "output directory")
	flag.Parse()
	if *out == "" || *keys < 1 {
		fmt.Fprintln(os.Stderr, "slowshuffle: --output is required and --keys must be positive")
		os.Exit(2)
	}
	g := dag.New("slowshuffle", dag.Config{Parallelism: *p, Mode: dag.BatchMode})
	src := dag.FromSource(g, "numbers", datagen.New(func(i int64, _ *rand.Rand) int64 { return i }, datagen.Count(*n)), nil)
	k := *keys
	sums := dag.Aggregate(dag.KeyBy(src, func(v int64) int64 { return v % k }), dag.Agg[int64, int64, int64]{
		Zero:   func() int64 { return 0 },
		Add:    func(s, v int64) int64 { return s + v },
		Merge:  func(a, b int64) int64 { return a + b },
		Result: func(s int64) int64 { return s },
	}, dag.Name("sum"))
	text := fileio.TextSink(*out, func(dst []byte, kv dag.KV[int64, int64]) []byte {
		dst = strconv.AppendInt(dst, kv.Key, 10)
		dst = append(dst, '\t')
		return strconv.AppendInt(dst, kv.Value, 10)
	})
	dag.ToSink(sums, "output", delayedSink[dag.KV[int64, int64]]{text, *delay})
	if _, err := dagflow.Run(context.Background(), g, dagflow.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// delayedSink delays opening the writer of a sink subtask's first attempt:
// the consumer task opens its operators before it reads its inputs.
type delayedSink[T any] struct {
	dag.Sink[T]
	delay time.Duration
}

// NewWriter implements dag.Sink.
func (s delayedSink[T]) NewWriter(ctx context.Context, sc dag.SinkContext) (dag.SinkWriter[T], error) {
	if sc.Attempt == 0 && s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.Sink.NewWriter(ctx, sc)
}
