// Command schedbench prints the scheduler's scaling curve: a two-vertex job
// whose N producers feed N consumers all-to-all, blocking and pipelined,
// driven through the pure scheduler (package scheduler) with every Deploy
// answered at once by TaskRunning and TaskFinished.
//
//	go run ./bench/cmd/schedbench [--sizes 1000,2000,5000,10000] [--modes blocking,pipelined]
//	    [--slots-per-worker 100] [--cpuprofile FILE] [--memprofile FILE]
//
// For every size and mode it prints one Markdown table row: the time of
// scheduler.New, of the deploy phase (Start until every task was deployed;
// for a blocking job that includes finishing the producers), of the finish
// phase (until JobFinished), of the failover of one producer (until every
// restarted task runs again), the peak heap while the job ran and the live
// heap with every task running. See bench.SchedScale.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/dagflow/dagflow/bench"
	"github.com/dagflow/dagflow/scheduler"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "schedbench:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("schedbench", flag.ContinueOnError)
	sizes := fs.String("sizes", "1000,2000,5000,10000", "comma-separated parallelisms N (N producers, N consumers)")
	modes := fs.String("modes", "blocking,pipelined", "comma-separated exchange modes: blocking, pipelined")
	slots := fs.Int("slots-per-worker", 100, "slots per worker (the cluster has N slots in all)")
	jmSizes := fs.String("jobmaster-sizes", "1000,2000,5000,10000", "comma-separated parallelisms for the job master's deployment path (empty: skip)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	memprofile := fs.String("memprofile", "", "write a heap profile at the end to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ns, err := parseSizes(*sizes)
	if err != nil {
		return err
	}
	var jns []int
	if *jmSizes != "" {
		if jns, err = parseSizes(*jmSizes); err != nil {
			return fmt.Errorf("--jobmaster-sizes: %w", err)
		}
	}
	ms, err := parseModes(*modes)
	if err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rows, err := Curve(ns, ms, *slots, func(r bench.SchedScaleResult) {
		fmt.Fprintln(os.Stderr, "schedbench:", bench.SchedRow(r))
	})
	if err != nil {
		return err
	}
	fmt.Fprint(out, bench.SchedTable(rows))
	if len(jns) > 0 {
		jrows, err := JobMasterCurve(context.Background(), jns, ms, *slots, func(r bench.JobMasterScaleResult) {
			fmt.Fprintln(os.Stderr, "schedbench:", bench.JobMasterRow(r))
		})
		if err != nil {
			return err
		}
		fmt.Fprint(out, "\n"+bench.JobMasterTable(jrows))
	}
	if *memprofile != "" {
		f, err := os.Create(*memprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		return pprof.WriteHeapProfile(f)
	}
	return nil
}

// Curve runs bench.SchedScale for every size and mode, calling progress
// after each.
func Curve(sizes []int, modes []scheduler.ExchangeMode, slotsPerWorker int, progress func(bench.SchedScaleResult)) ([]bench.SchedScaleResult, error) {
	var rows []bench.SchedScaleResult
	for _, m := range modes {
		for _, n := range sizes {
			r, err := bench.SchedScale(bench.SchedScaleConfig{N: n, Mode: m, SlotsPerWorker: slotsPerWorker})
			if err != nil {
				return rows, fmt.Errorf("N=%d %s: %w", n, m, err)
			}
			if progress != nil {
				progress(r)
			}
			rows = append(rows, r)
		}
	}
	return rows, nil
}

// JobMasterCurve runs bench.JobMasterScale for every size and mode.
func JobMasterCurve(ctx context.Context, sizes []int, modes []scheduler.ExchangeMode, slotsPerWorker int, progress func(bench.JobMasterScaleResult)) ([]bench.JobMasterScaleResult, error) {
	var rows []bench.JobMasterScaleResult
	for _, m := range modes {
		for _, n := range sizes {
			r, err := bench.JobMasterScale(ctx, n, m == scheduler.Blocking, slotsPerWorker)
			if err != nil {
				return rows, fmt.Errorf("job master N=%d %s: %w", n, m, err)
			}
			if progress != nil {
				progress(r)
			}
			rows = append(rows, r)
		}
	}
	return rows, nil
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--sizes: %q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func parseModes(s string) ([]scheduler.ExchangeMode, error) {
	var out []scheduler.ExchangeMode
	for _, f := range strings.Split(s, ",") {
		switch strings.TrimSpace(f) {
		case "blocking":
			out = append(out, scheduler.Blocking)
		case "pipelined":
			out = append(out, scheduler.Pipelined)
		default:
			return nil, errors.New("--modes: unknown mode " + strconv.Quote(f) + " (want blocking or pipelined)")
		}
	}
	return out, nil
}
