// Command kafkabench measures the throughput of the Kafka source
// (io/kafka) against a plain franz-go consumer loop reading the same
// records from the same in-process fake cluster (kfake), in the same run,
// and prints a Markdown table.
//
//	go run ./bench/cmd/kafkabench [--records 1000000] [--partitions 4] [--value-bytes 100] [--rounds 5]
//
// Rows:
//   - franz-go loop: one kgo client consuming every partition with
//     PollFetches, summing value lengths (the baseline);
//   - Source/Bytes and Source/String: kafka.Source read as one engine
//     subtask reads it: one shared client, ReadBatch of 1024 records per
//     split round-robin, with the Bytes and String deserializers;
//   - dagflow job: the source in a job (source → discarding sink) on the
//     embedded cluster, parallelism 1.
//
// The broker runs in the process, so CPU time (getrusage) includes the
// broker's work for every row; ratios against the baseline are the
// meaningful figures. Rounds are interleaved; each row reports its best
// wall and best CPU time over --rounds runs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/io/kafka"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kafkabench:", err)
		os.Exit(1)
	}
}

const topic = "bench"

type result struct {
	name         string
	wall, cpu    time.Duration
	records, sum int64
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func measure(name string, fn func() (records, sum int64, err error)) (result, error) {
	w0, c0 := time.Now(), cpuTime()
	n, sum, err := fn()
	if err != nil {
		return result{}, fmt.Errorf("%s: %w", name, err)
	}
	return result{name: name, wall: time.Since(w0), cpu: cpuTime() - c0, records: n, sum: sum}, nil
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("kafkabench", flag.ContinueOnError)
	records := fs.Int("records", 1_000_000, "records to produce and read")
	partitions := fs.Int("partitions", 4, "topic partitions")
	valueBytes := fs.Int("value-bytes", 100, "bytes per record value")
	rounds := fs.Int("rounds", 5, "runs per row (best is reported)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *records <= 0 || *partitions <= 0 || *valueBytes <= 0 || *rounds <= 0 {
		return errors.New("--records, --partitions, --value-bytes and --rounds must be positive")
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(*partitions), topic))
	if err != nil {
		return err
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	ctx := context.Background()
	if err := load(ctx, brokers, *records, *valueBytes); err != nil {
		return err
	}
	want := int64(*records)

	rows := []struct {
		name string
		fn   func() (int64, int64, error)
	}{
		{"franz-go loop (baseline)", func() (int64, int64, error) { return baseline(ctx, brokers, *partitions, want) }},
		{"kafka.Source, Bytes", func() (int64, int64, error) {
			return readSource(ctx, kafka.NewSource(brokers, kafka.Bytes, kafka.Topics(topic), kafka.BoundedAtEnd()))
		}},
		{"kafka.Source, String", func() (int64, int64, error) {
			return readSource(ctx, kafka.NewSource(brokers, kafka.String, kafka.Topics(topic), kafka.BoundedAtEnd()))
		}},
		{"dagflow job (source → discard), p=1", func() (int64, int64, error) { return runJob(ctx, brokers) }},
	}
	// Rounds are interleaved (every row once per round) so that load from
	// other processes affects all rows alike; each row keeps its best wall
	// time and its best CPU time.
	results := make([]result, len(rows))
	for i := 0; i < *rounds; i++ {
		for j, row := range rows {
			r, err := measure(row.name, row.fn)
			if err != nil {
				return err
			}
			if r.records != want {
				return fmt.Errorf("%s read %d records, want %d", row.name, r.records, want)
			}
			if i == 0 {
				results[j] = r
				continue
			}
			results[j].wall = min(results[j].wall, r.wall)
			results[j].cpu = min(results[j].cpu, r.cpu)
		}
	}
	for _, r := range results[1:] {
		if r.sum >= 0 && results[0].sum >= 0 && r.sum != results[0].sum {
			return fmt.Errorf("%s: checksum %d differs from the baseline's %d", r.name, r.sum, results[0].sum)
		}
	}
	base := results[0]
	fmt.Fprintf(out, "%d records of %d bytes in %d partitions, in-process kfake broker, best wall and best CPU time of %d interleaved rounds\n\n", want, *valueBytes, *partitions, *rounds)
	fmt.Fprintln(out, "| reader | wall s | CPU s | records/s | records/CPU-s | vs baseline (wall) | vs baseline (CPU) |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|")
	for _, r := range results {
		rps := float64(r.records) / r.wall.Seconds()
		rpc := float64(r.records) / r.cpu.Seconds()
		fmt.Fprintf(out, "| %s | %.2f | %.2f | %.0f | %.0f | %.2f× | %.2f× |\n", r.name, r.wall.Seconds(), r.cpu.Seconds(), rps, rpc,
			rps/(float64(base.records)/base.wall.Seconds()), rpc/(float64(base.records)/base.cpu.Seconds()))
	}
	return nil
}

// load produces n records spread round-robin over the partitions.
func load(ctx context.Context, brokers []string, n, size int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		return err
	}
	defer cl.Close()
	var firstErr error
	for i := 0; i < n; i++ {
		v := make([]byte, size)
		for j := range v {
			v[j] = byte('a' + (i+j)%26)
		}
		cl.Produce(ctx, &kgo.Record{Value: v, Timestamp: time.UnixMilli(int64(i))}, func(_ *kgo.Record, err error) {
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	return firstErr
}

// baseline consumes every partition from the start with one client.
func baseline(ctx context.Context, brokers []string, partitions int, want int64) (int64, int64, error) {
	ps := make(map[int32]kgo.Offset, partitions)
	for p := 0; p < partitions; p++ {
		ps[int32(p)] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: ps}))
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	var n, sum int64
	for n < want {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return n, sum, err
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			sum += int64(len(r.Value))
		})
	}
	return n, sum, nil
}

// readSource reads every split as one engine subtask does.
func readSource[T string | []byte](ctx context.Context, src *kafka.Source[T]) (int64, int64, error) {
	splits, err := src.Splits(ctx, dag.SplitContext{Parallelism: 1})
	if err != nil {
		return 0, 0, err
	}
	rc := dag.ReaderContext{Parallelism: 1}
	var readers []dag.SplitReader[T]
	for _, sp := range splits {
		r, err := src.OpenSplit(ctx, rc, sp)
		if err != nil {
			return 0, 0, err
		}
		readers = append(readers, r)
	}
	var b dag.Batch[T]
	var n, sum int64
	for len(readers) > 0 {
		for i := 0; i < len(readers); i++ {
			b.Reset()
			_, err := readers[i].ReadBatch(ctx, &b, dag.DefaultBatchSize)
			for _, v := range b.Vals {
				sum += int64(len(v))
			}
			n += int64(b.Len())
			if errors.Is(err, io.EOF) {
				readers[i].Close()
				readers = slices.Delete(readers, i, i+1)
				i--
			} else if err != nil {
				return n, sum, err
			}
		}
	}
	return n, sum, nil
}

// countSink counts records and value bytes.
type countSink struct{ n, sum *int64 }

func (s countSink) NewWriter(context.Context, dag.SinkContext) (dag.SinkWriter[[]byte], error) {
	return countWriter(s), nil
}
func (countSink) Committer() dag.Committer { return nil }

type countWriter countSink

func (w countWriter) Write(_ context.Context, b *dag.Batch[[]byte]) error {
	*w.n += int64(b.Len())
	for _, v := range b.Vals {
		*w.sum += int64(len(v))
	}
	return nil
}
func (countWriter) Prepare(context.Context) ([][]byte, error) { return nil, nil }
func (countWriter) Abort(context.Context) error               { return nil }
func (countWriter) Close() error                              { return nil }

func runJob(ctx context.Context, brokers []string) (int64, int64, error) {
	var n, sum int64
	g := dag.New("kafkabench", dag.Config{Parallelism: 1})
	s := dag.FromSource(g, "kafka", kafka.NewSource(brokers, kafka.Bytes, kafka.Topics(topic), kafka.BoundedAtEnd()), nil)
	dag.ToSink(s, "count", countSink{&n, &sum})
	_, err := dagflow.Run(ctx, g, dagflow.Options{Progress: nil, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return n, sum, err
}
