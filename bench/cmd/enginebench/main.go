// Command enginebench measures dagflow's throughput against plain,
// single-threaded Go programs that compute the same results, in the same
// run, and prints the ratios as a Markdown table.
//
//	go run ./bench/cmd/enginebench [--size-mb 200] [--parallelism 2] [--events 5000000] [--cluster] [--only NAME]
//
// Both sides are measured by wall time and by the CPU time the process
// used (getrusage), so "per core" figures stay meaningful on a shared or
// busy machine. Inputs are generated deterministically into --dir.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"syscall"
	"time"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/bench"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/examples/wordcount/job"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "enginebench:", err)
		os.Exit(1)
	}
}

type measurement struct {
	name    string
	wall    time.Duration
	cpu     time.Duration
	bytes   int64
	records int64
	check   string
}

func (m measurement) row(base measurement) string {
	mbs := float64(m.bytes) / 1e6 / m.wall.Seconds()
	perCore := float64(m.bytes) / 1e6 / m.cpu.Seconds()
	return fmt.Sprintf("| %s | %.2f | %.2f | %.1f | %.0f | %.1f | %.2f× | %.2f× | %s |",
		m.name, m.wall.Seconds(), m.cpu.Seconds(), mbs, float64(m.records)/m.wall.Seconds(), perCore,
		mbs/(float64(base.bytes)/1e6/base.wall.Seconds()), perCore/(float64(base.bytes)/1e6/base.cpu.Seconds()), m.check)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func measure(name string, bytes int64, f func() (int64, string, error)) (measurement, error) {
	runtime.GC()
	w0, c0 := time.Now(), cpuTime()
	recs, check, err := f()
	if err != nil {
		return measurement{}, fmt.Errorf("%s: %w", name, err)
	}
	return measurement{name: name, wall: time.Since(w0), cpu: cpuTime() - c0, bytes: bytes, records: recs, check: check}, nil
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("enginebench", flag.ContinueOnError)
	sizeMB := fs.Int("size-mb", 200, "wordcount input size in MB")
	par := fs.Int("parallelism", 2, "engine parallelism")
	dir := fs.String("dir", "", "work directory (default: a temporary directory, removed)")
	events := fs.Int("events", 5_000_000, "events for the windowed benchmark (0 skips it)")
	rounds := fs.Int("rounds", 3, "rounds; each run's median wall time and median CPU time are reported")
	cluster := fs.Bool("cluster", false, "also compare wordcount on a local cluster (master + 2 worker processes) with the embedded runtime")
	only := fs.String("only", "", "run only this benchmark: wordcount, windowed or cluster")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *sizeMB < 1 || *par < 1 || *rounds < 1 {
		return fmt.Errorf("--size-mb, --parallelism and --rounds must be at least 1")
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "dagflow-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	fmt.Fprintf(out, "machine: %d CPUs, GOMAXPROCS %d, %s/%s, %s\n\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())
	want := func(name string) bool { return *only == "" || *only == name }
	if want("wordcount") {
		if err := wordcount(out, *dir, *sizeMB, *par, *rounds); err != nil {
			return err
		}
	}
	if *events > 0 && want("windowed") {
		if err := windowed(out, *dir, *events, *par, *rounds); err != nil {
			return err
		}
	}
	if *cluster || *only == "cluster" {
		if err := clusterBench(out, *dir, *sizeMB, *par, *rounds); err != nil {
			return err
		}
	}
	return nil
}

const header = "| run | wall s | cpu s | MB/s | records/s | MB/s per cpu-second | speed vs baseline | per-core vs baseline | result check |\n|---|---|---|---|---|---|---|---|---|"

// runs holds one benchmark's candidates, measured round-robin.
type runs struct {
	names []string
	fns   []func() (int64, string, error)
}

func (r *runs) add(name string, f func() (int64, string, error)) {
	r.names = append(r.names, name)
	r.fns = append(r.fns, f)
}

// medians runs every candidate once per round, interleaved so that machine
// noise hits all alike, and returns each one's median round by wall time
// with, as its CPU time, the median CPU time over the rounds (on a busy
// machine the round of median wall time need not have the median CPU
// time).
func (r *runs) medians(bytes int64, rounds int) ([]measurement, error) {
	all := make([][]measurement, len(r.fns))
	for round := 0; round < rounds; round++ {
		for i, f := range r.fns {
			m, err := measure(r.names[i], bytes, f)
			if err != nil {
				return nil, err
			}
			all[i] = append(all[i], m)
		}
	}
	out := make([]measurement, len(all))
	for i, ms := range all {
		cpus := make([]time.Duration, len(ms))
		for j, m := range ms {
			cpus[j] = m.cpu
		}
		sort.Slice(cpus, func(a, b int) bool { return cpus[a] < cpus[b] })
		sort.Slice(ms, func(a, b int) bool { return ms[a].wall < ms[b].wall })
		out[i] = ms[len(ms)/2]
		out[i].cpu = cpus[len(cpus)/2]
	}
	return out, nil
}

func warm(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}

func wordcount(out io.Writer, dir string, sizeMB, par, rounds int) error {
	input := filepath.Join(dir, "words.txt")
	lines := sizeMB * 1_000_000 / 43 // ~43 bytes per generated line
	if err := job.WriteSample(input, lines, 42); err != nil {
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
	// The first row is the reference of the ratios: the tight loop.
	r.add("plain Go tight loop, 1 goroutine", func() (int64, string, error) {
		return bench.TightWordCount(input, filepath.Join(dir, "wc-tight.txt"))
	})
	r.add("plain Go line scanner, 1 goroutine", func() (int64, string, error) {
		return bench.BaselineWordCount(input, filepath.Join(dir, "wc-base.txt"))
	})
	for _, mode := range []dag.ExecutionMode{dag.StreamingMode, dag.BatchMode} {
		outDir := filepath.Join(dir, "wc-"+mode.String())
		r.add(fmt.Sprintf("dagflow %s, p=%d", mode, par), func() (int64, string, error) {
			os.RemoveAll(outDir)
			g := job.Build(input, outDir, dag.Config{Parallelism: par, Mode: mode})
			res, err := dagflow.Run(context.Background(), g, dagflow.Options{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				return 0, "", err
			}
			src, _ := res.Vertex("lines")
			sink, _ := res.Vertex("output")
			return src.RecordsOut, fmt.Sprintf("%d words", sink.RecordsIn), nil
		})
	}
	ms, err := r.medians(st.Size(), rounds)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "## wordcount: %.0f MB, %d lines, median of %d rounds\n\n%s\n", float64(st.Size())/1e6, lines, rounds, header)
	for _, m := range ms {
		fmt.Fprintln(out, m.row(ms[0]))
	}
	fmt.Fprintln(out)
	tight, streaming, batch := ms[0], ms[2], ms[3]
	fmt.Fprintf(out, "Issue 20 part 4 targets, against the tight loop:\n\n")
	for _, m := range []measurement{streaming, batch} {
		fmt.Fprintf(out, "- %s: wall %.2f× the tight loop's (target ≤ 1), CPU per byte %.2f× (target ≤ 1.5)\n",
			m.name, m.wall.Seconds()/tight.wall.Seconds(), m.cpu.Seconds()/tight.cpu.Seconds())
	}
	fmt.Fprintf(out, "- streaming vs batch: wall %.2f×, CPU %.2f× (target ≤ 1.10)\n\n",
		streaming.wall.Seconds()/batch.wall.Seconds(), streaming.cpu.Seconds()/batch.cpu.Seconds())
	return nil
}
