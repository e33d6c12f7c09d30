package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ckptbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("ckptbench", flag.ContinueOnError)
	only := fs.String("only", "", "run only these figures, comma-separated: files, overhead, hdfs (default: all)")
	dir := fs.String("dir", "", "work directory for local checkpoints (default: a temporary directory, removed)")
	verbose := fs.Bool("v", false, "print every measured checkpoint")
	// The state job (files, hdfs).
	par := fs.Int("parallelism", 64, "state job: parallelism")
	workers := fs.Int("workers", 2, "state job: embedded workers")
	slots := fs.Int("slots", 64, "state job: slots per worker")
	maxPar := fs.Int("max-parallelism", 1024, "state job: max parallelism (key groups)")
	keys := fs.Int("keys", 100_000, "state job: distinct keys")
	rate := fs.Float64("rate", 100_000, "state job: records per second (whole job)")
	interval := fs.Duration("interval", time.Second, "state job: checkpoint interval")
	retain := fs.Int("retain", 1, "state job: retained checkpoints")
	checkpoints := fs.Int("checkpoints", 5, "state job: measured checkpoints per run (after one unmeasured)")
	hpar := fs.Int("hdfs-parallelism", 16, "hdfs figure: parallelism of the state job (see docs/performance.md for why not 64 by default)")
	hmaxPar := fs.Int("hdfs-max-parallelism", 512, "hdfs figure: max parallelism of the state job")
	// The overhead job.
	opar := fs.Int("overhead-parallelism", 2, "overhead job: parallelism")
	okeys := fs.Int("overhead-keys", 100_000, "overhead job: distinct keys")
	ointerval := fs.Duration("overhead-interval", time.Second, "overhead job: checkpoint interval")
	rounds := fs.Int("rounds", 3, "overhead job: rounds (each runs the job without and with checkpoints)")
	warmup := fs.Duration("warmup", 2*time.Second, "overhead job: warm-up per run, not measured")
	measure := fs.Duration("measure", 5*time.Second, "overhead job: measured time per run")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *par < 1 || *workers < 1 || *slots < 1 || *maxPar < *par || *hpar < 1 || *hmaxPar < *hpar || *keys < 1 || !(*rate > 0) || *interval <= 0 ||
		*checkpoints < 1 || *opar < 1 || *okeys < 1 || *ointerval <= 0 || *rounds < 1 || *measure <= 0 || *warmup < 0 {
		return fmt.Errorf("bad flags: counts, durations and the rate must be positive and --max-parallelism at least --parallelism")
	}
	want := map[string]bool{}
	for _, f := range strings.Split(*only, ",") {
		switch f = strings.TrimSpace(f); f {
		case "":
		case "files", "overhead", "hdfs":
			want[f] = true
		default:
			return fmt.Errorf("unknown figure %q in --only (want files, overhead or hdfs)", f)
		}
	}
	all := len(want) == 0
	if *dir == "" {
		d, err := os.MkdirTemp("", "ckptbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	sp := stateParams{workers: *workers, slots: *slots, checkpoints: *checkpoints,
		timeout: time.Duration(*checkpoints+3)*(*interval) + 2*time.Minute,
		job: stateJobConfig{parallelism: *par, maxParallelism: *maxPar, keys: *keys, rate: *rate,
			ckpt: checkpointConfig(*interval, *retain)}}
	fmt.Fprintf(out, "machine: %s\n\n", machine())
	if all || want["files"] {
		if _, err := filesBench(ctx, out, sp, *dir, *verbose); err != nil {
			return err
		}
	}
	if all || want["overhead"] {
		op := overheadParams{parallelism: *opar, keys: *okeys, interval: *ointerval, rounds: *rounds, warmup: *warmup, measure: *measure}
		if err := overheadBench(ctx, out, op, *dir); err != nil {
			return err
		}
	}
	if all || want["hdfs"] {
		hp := sp
		hp.job.parallelism, hp.job.maxParallelism = *hpar, *hmaxPar
		if _, err := hdfsBench(ctx, out, hp, *verbose); err != nil {
			return err
		}
	}
	return nil
}
