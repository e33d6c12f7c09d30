// Command latency measures end-to-end record latency, source to sink, of a
// pipelined keyed streaming job in the embedded runtime.
//
//	go run ./bench/cmd/latency [--parallelism 2] [--buffer-timeouts 1ms,10ms,100ms]
//	    [--loads 10,50,90] [--duration 5s] [--max-records 2000000] [--histogram 1ms@50]
//
// The source stamps every record with the wall clock (Unix nanoseconds)
// when it emits it; the records cross a pipelined hash exchange into a
// keyed process function and its chained sink, which records now - stamp
// in an HDR histogram (microsecond resolution, 3 significant digits).
// Source and sink run in one process, so both read the same clock.
//
// For every buffer timeout (dag.Config.BufferTimeout) it first measures
// the maximum throughput with an unpaced run of --max-records records,
// then runs paced at each --loads percentage of it for --duration, and
// prints a Markdown table of p50, p99, p99.9 and max per run, followed by
// the HDR percentile distribution of the run named by --histogram
// (TIMEOUT@LOAD).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dagflow/dagflow/bench"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "latency:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("latency", flag.ContinueOnError)
	par := fs.Int("parallelism", 2, "parallelism of every operator")
	timeouts := fs.String("buffer-timeouts", "1ms,10ms,100ms", "comma-separated buffer timeouts (dag.Config.BufferTimeout)")
	loads := fs.String("loads", "10,50,90", "comma-separated loads, percent of the measured maximum throughput")
	dur := fs.Duration("duration", 5*time.Second, "length of every paced run")
	maxRecords := fs.Int64("max-records", 2_000_000, "records of the unpaced run that measures the maximum throughput")
	hist := fs.String("histogram", "1ms@50", "TIMEOUT@LOAD of the run whose latency distribution is printed (empty: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	bts, err := ParseDurations(*timeouts)
	if err != nil {
		return fmt.Errorf("--buffer-timeouts: %w", err)
	}
	ls, err := ParseLoads(*loads)
	if err != nil {
		return fmt.Errorf("--loads: %w", err)
	}
	points, err := bench.LatencySweep(context.Background(), *par, bts, ls, *maxRecords, *dur, func(p bench.LatencyPoint) {
		fmt.Fprintln(os.Stderr, "latency:", bench.LatencyRow(p))
	})
	if err != nil {
		return err
	}
	fmt.Fprint(out, bench.LatencyTable(points))
	if *hist != "" {
		bt, load, ok := strings.Cut(*hist, "@")
		if !ok {
			return fmt.Errorf("--histogram %q: want TIMEOUT@LOAD, e.g. 1ms@50", *hist)
		}
		for _, p := range points {
			if p.BufferTimeout.String() == bt && strconv.FormatFloat(p.Load, 'g', -1, 64) == load {
				fmt.Fprintf(out, "\nLatency distribution, buffer timeout %s at %s%% load:\n\n%s", bt, load, bench.LatencyHistogram(p.Result))
			}
		}
	}
	return nil
}

// ParseDurations parses a comma-separated list of positive durations.
func ParseDurations(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%q is not a positive duration", f)
		}
		out = append(out, d)
	}
	return out, nil
}

// ParseLoads parses a comma-separated list of percentages in (0, 100].
func ParseLoads(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 || v > 100 {
			return nil, fmt.Errorf("%q is not a percentage in (0, 100]", f)
		}
		out = append(out, v)
	}
	return out, nil
}
