// Command ckptwindow is a test job for exactly-once checkpoints: an
// unbounded, rate-limited stream of generated events (it idles after
// --events records, like a topic with no new data) is summed per key in
// tumbling event-time windows and written by the transactional text sink.
// Each output line is "key<TAB>windowStart<TAB>sum<TAB>count"; Expected
// computes the same lines independently.
package main

import (
	"context"
	"encoding/binary"
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

type event struct {
	Key int64
	TS  int64
	V   int64
}

type acc struct{ Sum, N int64 }

// MarshalBinary gives the window accumulator a coder, so that window
// state can be checkpointed.
func (a acc) MarshalBinary() ([]byte, error) {
	return binary.AppendVarint(binary.AppendVarint(nil, a.Sum), a.N), nil
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler.
func (a *acc) UnmarshalBinary(b []byte) error {
	s, n := binary.Varint(b)
	c, m := binary.Varint(b[max(n, 0):])
	if n <= 0 || m <= 0 {
		return fmt.Errorf("bad accumulator of %d bytes", len(b))
	}
	a.Sum, a.N = s, c
	return nil
}

func main() {
	n := flag.Int64("events", 200000, "events to generate")
	keys := flag.Int64("keys", 16, "distinct keys")
	rate := flag.Float64("rate", 20000, "events per second (all subtasks)")
	window := flag.Duration("window", time.Second, "tumbling window size in event time (1 event = 1ms)")
	out := flag.String("output", "", "output directory")
	par := flag.Int("parallelism", 2, "parallelism")
	interval := flag.Duration("checkpoint-interval", 300*time.Millisecond, "checkpoint interval")
	ckdir := flag.String("checkpoint-dir", "", "checkpoint directory URI")
	var sl slowness
	flag.StringVar(&sl.markers, "markers", "", "directory of the prepare- and commit- marker files of --prepare-delay and --commit-delay")
	flag.DurationVar(&sl.prepare, "prepare-delay", 0, "sleep in every sink prepare (holds each checkpoint in flight)")
	flag.DurationVar(&sl.commit, "commit-delay", 0, "sleep in every sink commit after its first committable (a commit half done for this long)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "ckptwindow: --output is required")
		os.Exit(2)
	}
	g := dag.New("ckptwindow", dag.Config{Parallelism: *par, Mode: dag.StreamingMode, BatchSize: 256,
		Checkpoint: dag.CheckpointConfig{Interval: *interval, Dir: *ckdir}})
	k := *keys
	src := datagen.New(func(i int64, _ *rand.Rand) event { return event{Key: i % k, TS: i, V: i%97 + 1} },
		datagen.Count(*n), datagen.Hold(), datagen.Rate(*rate))
	evs := dag.FromSource(g, "events", src, &dag.WatermarkStrategy[event]{Timestamp: func(e event) int64 { return e.TS }},
		dag.WithCoder(dag.JSONCoder[event]()))
	w := dag.Window(dag.KeyBy(evs, func(e event) int64 { return e.Key }), dag.Tumbling(*window))
	sums := dag.WindowAggregate(w, dag.Agg[event, acc, acc]{
		Zero:   func() acc { return acc{} },
		Add:    func(a acc, e event) acc { return acc{a.Sum + e.V, a.N + 1} },
		Merge:  func(a, b acc) acc { return acc{a.Sum + b.Sum, a.N + b.N} },
		Result: func(a acc) acc { return a },
	}, dag.Name("window-sum"))
	dag.ToSink[dag.WindowResult[int64, acc]](sums, "output", slowSink(sl, fileio.TextSink(*out, func(dst []byte, r dag.WindowResult[int64, acc]) []byte {
		dst = strconv.AppendInt(dst, r.Key, 10)
		dst = append(dst, '\t')
		dst = strconv.AppendInt(dst, r.Start, 10)
		dst = append(dst, '\t')
		dst = strconv.AppendInt(dst, r.Value.Sum, 10)
		dst = append(dst, '\t')
		return strconv.AppendInt(dst, r.Value.N, 10)
	})))
	if _, err := dagflow.Run(context.Background(), g, dagflow.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
