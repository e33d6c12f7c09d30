// Command nexmark runs the Nexmark queries on dagflow and measures them.
//
//	go run ./bench/cmd/nexmark --query q5 --events 10000000 [--parallelism 2]
//	    [--mode batch|streaming] [--rounds 1] [--seed 0] [--event-rate 10000000]
//	    [--out-of-orderness 1s] [--rate 0] [--cpuprofile FILE]
//	    [--checkpoint-interval 10s] [--checkpoint-dir DIR] [--state-backend heap|pebble]
//
// --query takes a query name, a comma-separated list or "all". For every
// query it prints a Markdown table row: events, wall time, events/s, CPU
// seconds of the process (getrusage), events/s per CPU-second, peak RSS
// (getrusage maxrss), output records and the result checksum (row count
// and the sum of 64-bit row hashes: independent of output order), next to
// Flink's published Nexmark per-core throughput. Output goes to a
// checksumming sink, never to disk.
//
// With several queries, each runs in a child process of its own, so that
// peak RSS and the garbage collector's heap belong to that query alone.
// With --rounds N each query runs N times and the median run by wall time
// is reported.
//
// The events are generated: a bounded stream of --events events whose
// event time advances by --event-rate events per second (Flink's
// benchmark: 10M/s) with at most --out-of-orderness disorder. --rate
// limits generation to that many events per wall-clock second (0: as fast
// as possible).
//
// --checkpoint-interval takes exactly-once checkpoints at that interval
// (as Flink's published figures do), into --checkpoint-dir (default: a
// temporary directory removed afterwards); --state-backend keeps keyed
// state on the heap or in Pebble. With checkpoints on, the table gets a
// column with the number of completed checkpoints and the size of the
// last one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/bench/nexmark"
	"github.com/dagflow/dagflow/dag"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	queries     []nexmark.Query
	gen         nexmark.Config
	parallelism int
	mode        dag.ExecutionMode
	rounds      int
	cpuprofile  string
	child       bool // print rows only: run by a parent process
	master      string
	dagctl      string
	summaryFile string
	modeName    string
	ooo         time.Duration // as given
	ckInterval  time.Duration // 0: no checkpoints
	ckDir       string        // "": a temporary directory
	backend     string        // dag.BackendHeap or dag.BackendPebble
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("nexmark", flag.ContinueOnError)
	fs.SetOutput(stderr)
	query := fs.String("query", "all", `query name, comma-separated names, or "all"`)
	fs.Int64Var(&c.gen.Events, "events", 10_000_000, "events to generate")
	fs.IntVar(&c.parallelism, "parallelism", 2, "parallelism of every operator")
	mode := fs.String("mode", "streaming", "execution mode: batch or streaming")
	fs.IntVar(&c.rounds, "rounds", 1, "runs per query; the median by wall time is reported")
	fs.Uint64Var(&c.gen.Seed, "seed", 0, "seed of the generated data")
	fs.Float64Var(&c.gen.EventRate, "event-rate", nexmark.DefaultEventRate, "events per second of event time")
	fs.DurationVar(&c.ooo, "out-of-orderness", nexmark.DefaultOutOfOrderness, "bound of the event-time disorder (0s: in order)")
	fs.Float64Var(&c.gen.Rate, "rate", 0, "events per wall-clock second (0: as fast as possible)")
	fs.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile of the runs to this file (one query only)")
	fs.BoolVar(&c.child, "child", false, "print table rows only (used when running queries in child processes)")
	fs.StringVar(&c.master, "master", "", "run each query on the cluster of this master (dagctl submit) instead of the embedded runtime")
	fs.StringVar(&c.dagctl, "dagctl", "dagctl", "dagctl binary used with --master")
	fs.StringVar(&c.summaryFile, "summary-file", "", "record the committed checksum parts here (set by --master runs)")
	fs.DurationVar(&c.ckInterval, "checkpoint-interval", 0, "take exactly-once checkpoints at this interval (0: none)")
	fs.StringVar(&c.ckDir, "checkpoint-dir", "", "checkpoint directory (default: a temporary directory, removed after the run)")
	fs.StringVar(&c.backend, "state-backend", dag.BackendHeap, "keyed state backend: heap or pebble")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if c.gen.Events < 1 {
		return c, fmt.Errorf("--events %d: must be at least 1", c.gen.Events)
	}
	if c.parallelism < 1 {
		return c, fmt.Errorf("--parallelism %d: must be at least 1", c.parallelism)
	}
	if c.rounds < 1 {
		return c, fmt.Errorf("--rounds %d: must be at least 1", c.rounds)
	}
	if c.gen.EventRate <= 0 {
		return c, fmt.Errorf("--event-rate %v: must be positive", c.gen.EventRate)
	}
	switch {
	case c.ooo < 0:
		return c, fmt.Errorf("--out-of-orderness %v: must not be negative", c.ooo)
	case c.ooo == 0:
		c.gen.OutOfOrderness = -1 // the generator's "in order"
	default:
		c.gen.OutOfOrderness = c.ooo
	}
	if c.ckInterval < 0 {
		return c, fmt.Errorf("--checkpoint-interval %v: must not be negative", c.ckInterval)
	}
	if c.ckDir != "" && c.ckInterval == 0 {
		return c, fmt.Errorf("--checkpoint-dir needs --checkpoint-interval")
	}
	switch c.backend {
	case dag.BackendHeap, dag.BackendPebble:
	default:
		return c, fmt.Errorf("--state-backend %q: want %s or %s", c.backend, dag.BackendHeap, dag.BackendPebble)
	}
	if c.gen.Rate < 0 {
		return c, fmt.Errorf("--rate %v: must not be negative", c.gen.Rate)
	}
	c.modeName = *mode
	switch *mode {
	case "batch":
		c.mode = dag.BatchMode
	case "streaming":
		c.mode = dag.StreamingMode
	default:
		return c, fmt.Errorf("--mode %q: want batch or streaming", *mode)
	}
	if *query == "all" {
		c.queries = nexmark.Queries()
	} else {
		for _, name := range strings.Split(*query, ",") {
			q, err := nexmark.Lookup(strings.TrimSpace(name))
			if err != nil {
				return c, fmt.Errorf("--query: %w", err)
			}
			c.queries = append(c.queries, q)
		}
	}
	if c.cpuprofile != "" && len(c.queries) > 1 {
		return c, fmt.Errorf("--cpuprofile needs a single --query")
	}
	return c, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "nexmark:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if !c.child {
		fmt.Fprintf(stdout, "nexmark: %s/%s, %d CPUs, GOMAXPROCS %d, %s\n", runtime.GOOS, runtime.GOARCH,
			runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
		fmt.Fprintf(stdout, "%d events, parallelism %d, %v mode, event rate %g/s, %d round(s), %s\n\n",
			c.gen.Events, c.parallelism, c.mode, c.gen.EventRate, c.rounds, c.stateLine())
		fmt.Fprintln(stdout, c.header())
	}
	if c.master != "" {
		err = runOnCluster(ctx, c, stdout, stderr)
	} else if len(c.queries) > 1 {
		err = runChildren(ctx, c, stdout, stderr)
	} else {
		err = runQuery(ctx, c, c.queries[0], stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "nexmark:", err)
		return 1
	}
	return 0
}

// runChildren runs every query in a child process running this binary.
func runChildren(ctx context.Context, c config, stdout, stderr io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this program: %w", err)
	}
	var failed []string
	for _, q := range c.queries {
		cmd := exec.CommandContext(ctx, self, "--child", "--query", q.Name,
			fmt.Sprint("--events=", c.gen.Events), fmt.Sprint("--parallelism=", c.parallelism),
			"--mode="+c.modeName, fmt.Sprint("--rounds=", c.rounds), fmt.Sprint("--seed=", c.gen.Seed),
			fmt.Sprint("--event-rate=", c.gen.EventRate), fmt.Sprint("--out-of-orderness=", c.ooo),
			fmt.Sprint("--rate=", c.gen.Rate))
		cmd.Args = append(cmd.Args, c.stateArgs()...)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		if err := cmd.Run(); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failed = append(failed, fmt.Sprintf("%s: %v", q.Name, err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("failed: %s", strings.Join(failed, "; "))
	}
	return nil
}

const header = "| query | events | wall s | events/s | cpu s | events/s per cpu-s | Flink events/s per core | ratio | peak RSS MB | output records | checksum |\n" +
	"|---|---|---|---|---|---|---|---|---|---|---|"

// header returns the table header: header, plus a checkpoints column when
// checkpoints are on.
func (c config) header() string {
	if c.ckInterval == 0 {
		return header
	}
	h, sep, _ := strings.Cut(header, "\n")
	return h + " checkpoints (last MB) |\n" + sep + "---|"
}

// stateLine describes checkpoints and the state backend.
func (c config) stateLine() string {
	if c.ckInterval == 0 {
		return "no checkpoints, " + c.backend + " state"
	}
	return fmt.Sprintf("exactly-once checkpoints every %v, %s state", c.ckInterval, c.backend)
}

// stateArgs returns the flags that pass checkpoints and the state backend
// on to a child process (none at their defaults, so that a run without
// them invokes children exactly as before).
func (c config) stateArgs() []string {
	var args []string
	if c.ckInterval > 0 {
		args = append(args, fmt.Sprint("--checkpoint-interval=", c.ckInterval))
	}
	if c.ckDir != "" {
		args = append(args, "--checkpoint-dir="+c.ckDir)
	}
	if c.backend != dag.BackendHeap {
		args = append(args, "--state-backend="+c.backend)
	}
	return args
}

// measurement is one run of a query.
type measurement struct {
	events int64
	wall   time.Duration
	cpu    time.Duration
	sum    nexmark.Summary
	ckpts  int   // completed checkpoints
	ckSize int64 // size of the last completed checkpoint, bytes
}

func runQuery(ctx context.Context, c config, q nexmark.Query, stdout io.Writer) error {
	gen, err := nexmark.NewGenerator(c.gen)
	if err != nil {
		return err
	}
	if c.cpuprofile != "" {
		f, err := os.Create(c.cpuprofile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	ck := dag.CheckpointConfig{Interval: c.ckInterval, Dir: c.ckDir}
	if c.ckInterval > 0 && ck.Dir == "" {
		dir, err := os.MkdirTemp("", "nexmark-ckpt-")
		if err != nil {
			return fmt.Errorf("checkpoint directory: %w", err)
		}
		defer os.RemoveAll(dir)
		ck.Dir = "file://" + dir
	} else if ck.Dir != "" && !strings.Contains(ck.Dir, "://") {
		abs, err := filepath.Abs(ck.Dir)
		if err != nil {
			return fmt.Errorf("checkpoint directory: %w", err)
		}
		ck.Dir = "file://" + abs
	}
	var runs []measurement
	for range c.rounds {
		g := dag.New("nexmark-"+q.Name, dag.Config{Parallelism: c.parallelism, Mode: c.mode,
			Checkpoint: ck, StateBackend: c.backend})
		sum := q.AddTo(nexmark.Read(g, gen), "sink")
		if c.summaryFile != "" {
			sum.RecordTo(c.summaryFile)
		}
		runtime.GC()
		w0, c0 := time.Now(), cpuTime()
		res, err := dagflow.Run(ctx, g, dagflow.Options{
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
		if err != nil {
			return fmt.Errorf("%s: %w", q.Name, err)
		}
		m := measurement{wall: time.Since(w0), cpu: cpuTime() - c0, sum: sum.Summary()}
		src, _ := res.Vertex("events")
		m.events = src.RecordsOut
		for _, cs := range res.Checkpoints {
			if cs.Status == "completed" {
				m.ckpts++
				m.ckSize = cs.Size
			}
		}
		runs = append(runs, m)
	}
	slices.SortFunc(runs, func(a, b measurement) int { return int(a.wall - b.wall) })
	m := runs[len(runs)/2]
	perCPU := float64(m.events) / m.cpu.Seconds()
	flink, ratio := "–", "–"
	if f := flinkPerCore(q.Name); f > 0 {
		flink, ratio = fmt.Sprintf("%.1fK", f/1000), fmt.Sprintf("%.1f×", perCPU/f)
	}
	check := m.sum.String()
	if !q.Deterministic {
		check += " (processing time)"
	}
	row := fmt.Sprintf("| %s | %d | %.2f | %s | %.2f | %s | %s | %s | %.0f | %d | %s |",
		q.Name, m.events, m.wall.Seconds(), human(float64(m.events)/m.wall.Seconds()), m.cpu.Seconds(),
		human(perCPU), flink, ratio, float64(peakRSS())/(1<<20), m.sum.Records, check)
	if c.ckInterval > 0 {
		row += fmt.Sprintf(" %d (%.1f) |", m.ckpts, float64(m.ckSize)/(1<<20))
	}
	_, err = fmt.Fprintln(stdout, row)
	return err
}

// flinkPerCore is Flink's published Nexmark V1 throughput per core
// (events/s), or 0.
func flinkPerCore(query string) float64 {
	switch query {
	case "q0":
		return 155e3
	case "q1":
		return 158e3
	case "q2":
		return 175e3
	case "q3":
		return 152e3
	case "q4":
		return 34.3e3
	case "q5":
		return 22.1e3
	case "q7":
		return 12.3e3
	case "q8":
		return 146e3
	case "q9":
		return 14.2e3
	case "q11":
		return 39.7e3
	case "q12":
		return 75.7e3
	case "q14":
		return 161e3
	case "q17":
		return 117e3
	case "q18":
		return 53.7e3
	case "q19":
		return 44.0e3
	case "q20":
		return 19.0e3
	case "q21":
		return 98.5e3
	case "q22":
		return 130e3
	}
	return 0
}

func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fK", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// cpuTime returns the user and system CPU time of the process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS returns the process's peak resident set size in bytes.
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024 // kilobytes on Linux
}

// runOnCluster submits every query, one job each, to a cluster with
// dagctl; the job's committer records the result checksum in a file the
// driver reads. Only wall time is measured: the work runs in other
// processes.
func runOnCluster(ctx context.Context, c config, stdout, stderr io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this program: %w", err)
	}
	dir, err := os.MkdirTemp("", "nexmark-cluster-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, q := range c.queries {
		file := filepath.Join(dir, q.Name+".sum")
		args := []string{"submit", "--master", c.master, "--binary", self, "--",
			"--child", "--query", q.Name, fmt.Sprint("--events=", c.gen.Events), fmt.Sprint("--parallelism=", c.parallelism),
			"--mode=" + c.modeName, fmt.Sprint("--seed=", c.gen.Seed), fmt.Sprint("--event-rate=", c.gen.EventRate),
			fmt.Sprint("--out-of-orderness=", c.ooo), fmt.Sprint("--rate=", c.gen.Rate), "--summary-file=" + file}
		if c.ckInterval > 0 || c.backend != dag.BackendHeap {
			// dagctl's flags, so that the cluster configures the job.
			var sub []string
			if c.ckInterval > 0 {
				sub = append(sub, fmt.Sprint("--checkpoint-interval=", c.ckInterval))
			}
			if c.ckDir != "" {
				sub = append(sub, "--checkpoint-dir="+c.ckDir)
			}
			if c.backend != dag.BackendHeap {
				sub = append(sub, "--state-backend="+c.backend)
			}
			args = slices.Insert(args, 1, sub...)
		}
		var runs []time.Duration
		var sum nexmark.Summary
		for range c.rounds {
			os.Remove(file)
			cmd := exec.CommandContext(ctx, c.dagctl, args...)
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			start := time.Now()
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s on %s: %v\n%s", q.Name, c.master, err, out.String())
			}
			runs = append(runs, time.Since(start))
			if sum, err = nexmark.ReadRecorded(file); err != nil && q.Deterministic {
				return fmt.Errorf("%s: %w", q.Name, err)
			}
		}
		slices.Sort(runs)
		wall := runs[len(runs)/2]
		check := sum.String()
		if !q.Deterministic {
			check += " (processing time)"
		}
		row := fmt.Sprintf("| %s | %d | %.2f | %s | – | – | – | – | – | %d | %s |",
			q.Name, c.gen.Events, wall.Seconds(), human(float64(c.gen.Events)/wall.Seconds()), sum.Records, check)
		if c.ckInterval > 0 {
			row += " – |"
		}
		fmt.Fprintln(stdout, row)
	}
	return nil
}
