// Command windowed computes event-time tumbling-window sums per key.
//
//	go run ./examples/windowed [--input FILE] [--events N --keys K] [--window 10s]
//	    [--out-of-orderness 2s] [--lateness 0s] [--output DIR] [--late-output DIR]
//	    [--parallelism N] [--mode batch|streaming]
//
// Input lines are CSV `key,event_time_unix_ms,value`; without --input,
// out-of-order events are generated (their disorder stays within
// --out-of-orderness, so none is late). Output lines are
// `key<TAB>window_start_unix_ms<TAB>sum`. Events later than the watermark
// plus --lateness go to a side output: counted in the final report and
// written to --late-output when given.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/examples/windowed/job"
	"github.com/dagflow/dagflow/io/fileio"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	input, output, lateOutput string
	events                    int64
	keys, parallelism         int
	mode                      dag.ExecutionMode
	job                       job.Config
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("windowed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.input, "input", "", "CSV file(s) of key,event_time_unix_ms,value (default: generated events)")
	fs.StringVar(&c.output, "output", "", "output directory (default: a new temporary directory)")
	fs.StringVar(&c.lateOutput, "late-output", "", "directory for late events (default: count them only)")
	fs.Int64Var(&c.events, "events", 1_000_000, "generated events")
	fs.IntVar(&c.keys, "keys", 100, "distinct keys of generated events")
	fs.IntVar(&c.parallelism, "parallelism", 2, "parallelism of every operator")
	fs.DurationVar(&c.job.Window, "window", 10*time.Second, "tumbling window size")
	fs.DurationVar(&c.job.OutOfOrderness, "out-of-orderness", 2*time.Second, "bounded out-of-orderness of the watermark")
	fs.DurationVar(&c.job.Lateness, "lateness", 0, "allowed lateness of windows")
	mode := fs.String("mode", "batch", "exchange mode: batch or streaming")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	case c.parallelism < 1:
		return c, fmt.Errorf("--parallelism %d: must be at least 1", c.parallelism)
	case c.events < 1:
		return c, fmt.Errorf("--events %d: must be at least 1", c.events)
	case c.keys < 1:
		return c, fmt.Errorf("--keys %d: must be at least 1", c.keys)
	case c.job.Window < time.Millisecond:
		return c, fmt.Errorf("--window %s: must be at least 1ms", c.job.Window)
	case c.job.OutOfOrderness < 0:
		return c, fmt.Errorf("--out-of-orderness %s: must not be negative", c.job.OutOfOrderness)
	case c.job.Lateness < 0:
		return c, fmt.Errorf("--lateness %s: must not be negative", c.job.Lateness)
	}
	var err error
	switch *mode {
	case "batch":
		c.mode = dag.BatchMode
	case "streaming":
		c.mode = dag.StreamingMode
	default:
		err = fmt.Errorf("--mode %q: want batch or streaming", *mode)
	}
	return c, err
}

func run(args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "windowed:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if c.output == "" && dagflow.ClusterRole() != "" {
		fmt.Fprintln(stderr, "windowed: --output is required when the job runs on a cluster")
		return 2
	}
	if c.output == "" {
		if c.output, err = os.MkdirTemp("", "dagflow-windowed-"); err != nil {
			fmt.Fprintln(stderr, "windowed:", err)
			return 1
		}
	}
	var src dag.Source[job.Event]
	if c.input != "" {
		src = job.CSVSource(c.input)
	} else {
		// Events 10ms apart; disorder just inside the out-of-orderness.
		src = job.Generated(job.GenConfig{Events: c.events, Keys: c.keys, Start: 1_700_000_000_000,
			Step: 10 * time.Millisecond, Disorder: c.job.OutOfOrderness, Seed: 1})
	}
	var late dag.Sink[job.Event] = discard[job.Event]{}
	if c.lateOutput != "" {
		late = fileio.TextSink(c.lateOutput, job.FormatEvent)
	}
	g := dag.New("windowed", dag.Config{Parallelism: c.parallelism, Mode: c.mode})
	job.Build(g, src, c.job, fileio.TextSink(c.output, job.FormatSum), late)
	start := time.Now()
	res, err := dagflow.Run(ctx, g, dagflow.Options{})
	if err != nil {
		fmt.Fprintln(stderr, "windowed:", err)
		return 1
	}
	in, _ := res.Vertex("events")
	out, _ := res.Vertex("output")
	lateV, _ := res.Vertex("late")
	fmt.Fprintf(stdout, "read %d events, wrote %d window sums to %s, %d late events to the side output, in %s\n",
		in.RecordsOut, out.RecordsIn, c.output, lateV.RecordsIn, time.Since(start).Round(time.Millisecond))
	return 0
}

// discard is a sink that drops records (the engine still counts them).
type discard[T any] struct{}

func (discard[T]) NewWriter(context.Context, dag.SinkContext) (dag.SinkWriter[T], error) {
	return discard[T]{}, nil
}
func (discard[T]) Committer() dag.Committer                   { return nil }
func (discard[T]) Write(context.Context, *dag.Batch[T]) error { return nil }
func (discard[T]) Prepare(context.Context) ([][]byte, error)  { return nil, nil }
func (discard[T]) Abort(context.Context) error                { return nil }
func (discard[T]) Close() error                               { return nil }
