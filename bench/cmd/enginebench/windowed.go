package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/bench"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/examples/windowed/job"
	"github.com/dagflow/dagflow/io/fileio"
)

// windowed benchmarks event-time tumbling-window sums over a CSV file of
// out-of-order events against a plain Go program computing the same sums.
func windowed(out io.Writer, dir string, events, par, rounds int) error {
	input := filepath.Join(dir, "events.csv")
	if err := bench.WriteEvents(input, events); err != nil {
		return err
	}
	st, err := os.Stat(input)
	if err != nil {
		return err
	}
	if err := warm(input); err != nil {
		return err
	}
	var r runs
	r.add("plain Go, 1 goroutine", func() (int64, string, error) { return bench.BaselineWindowed(input) })
	for _, mode := range []dag.ExecutionMode{dag.StreamingMode, dag.BatchMode} {
		outDir := filepath.Join(dir, "win-"+mode.String())
		r.add(fmt.Sprintf("dagflow %s, p=%d", mode, par), func() (int64, string, error) {
			os.RemoveAll(outDir)
			g := dag.New("windowed", dag.Config{Parallelism: par, Mode: mode})
			job.Build(g, job.CSVSource(input), job.Config{Window: bench.WindowSize, OutOfOrderness: bench.OutOfOrderness},
				fileio.TextSink(outDir, job.FormatSum), countOnly[job.Event]{})
			res, err := dagflow.Run(context.Background(), g, dagflow.Options{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				return 0, "", err
			}
			src, _ := res.Vertex("events")
			sink, _ := res.Vertex("output")
			late, _ := res.Vertex("late")
			return src.RecordsOut, fmt.Sprintf("%d sums, %d late", sink.RecordsIn, late.RecordsIn), nil
		})
	}
	ms, err := r.medians(st.Size(), rounds)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "## windowed: %d events (%.0f MB CSV), 10s tumbling windows, median of %d rounds\n\n%s\n", events, float64(st.Size())/1e6, rounds, header)
	for _, m := range ms {
		fmt.Fprintln(out, m.row(ms[0]))
	}
	fmt.Fprintln(out)
	return nil
}

// countOnly is a sink that drops records; the engine counts them.
type countOnly[T any] struct{}

func (countOnly[T]) NewWriter(context.Context, dag.SinkContext) (dag.SinkWriter[T], error) {
	return countOnly[T]{}, nil
}
func (countOnly[T]) Committer() dag.Committer                   { return nil }
func (countOnly[T]) Write(context.Context, *dag.Batch[T]) error { return nil }
func (countOnly[T]) Prepare(context.Context) ([][]byte, error)  { return nil, nil }
func (countOnly[T]) Abort(context.Context) error                { return nil }
func (countOnly[T]) Close() error                               { return nil }
