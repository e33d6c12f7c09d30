package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/embedded"
	"github.com/dagflow/dagflow/master"
)

// overheadParams are the settings of the checkpoint overhead figure.
type overheadParams struct {
	parallelism, keys int
	interval          time.Duration
	rounds            int
	warmup, measure   time.Duration
}

// throughput is one measured round.
type throughput struct {
	records     int64
	wall, cpu   time.Duration
	checkpoints int
	ckptMedian  time.Duration
	stateBytes  int64
}

func (t throughput) perSec() float64    { return float64(t.records) / t.wall.Seconds() }
func (t throughput) perCPUSec() float64 { return float64(t.records) / t.cpu.Seconds() }

// measureAgg runs the keyed aggregation for warmup+measure and counts the
// source records of the measured part. ckptDir "" runs it without
// checkpoints.
func measureAgg(ctx context.Context, c *embedded.Cluster, p overheadParams, ckptDir string) (throughput, error) {
	var ck dag.CheckpointConfig
	if ckptDir != "" {
		ck = dag.CheckpointConfig{Interval: p.interval, Dir: ckptDir}
	}
	plan, err := aggJob(p.parallelism, p.keys, ck).Build()
	if err != nil {
		return throughput{}, err
	}
	runtime.GC()
	r, err := start(ctx, c, plan, master.JobConfig{Logger: quietLogger()})
	if err != nil {
		return throughput{}, err
	}
	time.Sleep(p.warmup)
	n0, w0, c0 := sourceRecords(r.jm), time.Now(), cpuTime()
	before := len(completed(r.jm))
	time.Sleep(p.measure)
	n1, w1, c1 := sourceRecords(r.jm), time.Now(), cpuTime()
	cs := completed(r.jm)
	if err := r.stop(); err != nil {
		return throughput{}, err
	}
	t := throughput{records: n1 - n0, wall: w1.Sub(w0), cpu: c1 - c0, checkpoints: len(cs) - before}
	if len(cs) > before {
		t.ckptMedian = time.Duration(median(cs[before:], func(s master.CheckpointStats) float64 { return float64(s.Duration) }))
		t.stateBytes = cs[len(cs)-1].Size
	}
	return t, nil
}

// overheadBench is the checkpoint overhead figure: rounds alternating the
// job without checkpoints and with checkpoints every p.interval (to a
// local directory, heap state, merging on), on one embedded cluster.
func overheadBench(ctx context.Context, out io.Writer, p overheadParams, dir string) error {
	c, err := embedded.New(embedded.Config{Logger: quietLogger()})
	if err != nil {
		return err
	}
	defer c.Close()
	var none, with []throughput
	for i := range p.rounds {
		order := []bool{false, true}
		if i%2 == 1 {
			order = []bool{true, false}
		}
		for _, ck := range order {
			ckDir := ""
			if ck {
				ckDir = "file://" + filepath.ToSlash(filepath.Join(dir, fmt.Sprintf("overhead-%d", i)))
			}
			t, err := measureAgg(ctx, c, p, ckDir)
			if err != nil {
				return fmt.Errorf("overhead round %d (checkpoints %v): %w", i+1, ck, err)
			}
			if ck {
				with = append(with, t)
			} else {
				none = append(none, t)
			}
		}
	}
	fmt.Fprintf(out, "## Checkpoint overhead: keyed aggregation, streaming, heap state\n\n")
	fmt.Fprintf(out, "job: datagen (unbounded) → keyBy → sum per key (with local pre-aggregation) → discard; parallelism %d, %d keys, 2 workers\n", p.parallelism, p.keys)
	fmt.Fprintf(out, "%d rounds alternating, each %s warm-up then %s measured; checkpoints every %s to a local directory\n\n", p.rounds, p.warmup, p.measure, p.interval)
	fmt.Fprintln(out, "| round | no checkpoints, records/s | checkpoints, records/s | ratio | checkpoints in round | median checkpoint ms | state KiB |")
	fmt.Fprintln(out, "|---|---:|---:|---:|---:|---:|---:|")
	for i := range none {
		a, b := none[i], with[i]
		fmt.Fprintf(out, "| %d | %s | %s | %.3f | %d | %.0f | %d |\n", i+1, human(a.perSec()), human(b.perSec()), b.perSec()/a.perSec(),
			b.checkpoints, float64(b.ckptMedian.Microseconds())/1000, b.stateBytes/1024)
	}
	ma, mb := median(none, throughput.perSec), median(with, throughput.perSec)
	ca, cb := median(none, throughput.perCPUSec), median(with, throughput.perCPUSec)
	fmt.Fprintf(out, "| **median** | **%s** | **%s** | **%.3f** | | | |\n\n", human(ma), human(mb), mb/ma)
	fmt.Fprintf(out, "records per CPU-second (median): %s without, %s with checkpoints (ratio %.3f)\n", human(ca), human(cb), cb/ca)
	fmt.Fprintf(out, "throughput loss with checkpoints every %s: %.1f%% (median of rounds)\n\n", p.interval, 100*(1-mb/ma))
	return nil
}

func human(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.1fK", x/1e3)
	}
	return fmt.Sprintf("%.0f", x)
}
