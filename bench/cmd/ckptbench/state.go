package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/internal/embedded"
	"github.com/dagflow/dagflow/internal/hdfstest"
	"github.com/dagflow/dagflow/io/filesystem"
	"github.com/dagflow/dagflow/io/filesystems"
	"github.com/dagflow/dagflow/master"
)

// stateParams are the settings of the file-merging and NameNode runs.
type stateParams struct {
	workers, slots int
	job            stateJobConfig
	checkpoints    int // measured checkpoints (after a first, unmeasured one)
	timeout        time.Duration
}

// ckptRow is one measured checkpoint.
type ckptRow struct {
	stats master.CheckpointStats
	ops   ops
}

// stateRun is the result of one run of the state job.
type stateRun struct {
	merging bool
	shape   planShape
	rows    []ckptRow
	aborted int
}

// runStateJob runs the state job until p.checkpoints+1 checkpoints
// completed and returns the operations of each but the first. Workers
// write through workerStorage (nil: the engine's default), the job master
// through master; snap reads the operation counters.
func runStateJob(ctx context.Context, p stateParams, dir, jobID string, merging bool,
	workerStorage *filesystem.Registry, masterReg *filesystem.Registry, snap func() ops) (*stateRun, error) {
	cfg := p.job
	cfg.ckpt.Dir = dir
	cfg.ckpt.DisableFileMerging = !merging
	plan, err := stateJob(cfg).Build()
	if err != nil {
		return nil, err
	}
	lc := embedded.Config{Workers: p.workers, SlotsPerWorker: p.slots, Logger: quietLogger()}
	if workerStorage != nil {
		lc.NewStateStorage = newStateStorageOn(workerStorage)
	}
	cluster, err := embedded.New(lc)
	if err != nil {
		return nil, err
	}
	defer cluster.Close()
	inner, err := checkpoint.NewStorage(masterReg, dir, jobID, storageOptions(cfg.ckpt))
	if err != nil {
		return nil, fmt.Errorf("checkpoint storage under %s: %w", dir, err)
	}
	rec := newRecordingStore(inner, snap)
	r, err := start(ctx, cluster, plan, master.JobConfig{ID: jobID, Logger: quietLogger(), CheckpointStore: rec})
	if err != nil {
		return nil, err
	}
	cs, werr := r.waitCheckpoints(p.checkpoints+1, p.timeout)
	if err := r.stop(); err != nil && werr == nil {
		werr = err
	}
	if werr != nil {
		return nil, fmt.Errorf("job %s: %w", jobID, werr)
	}
	out := &stateRun{merging: merging, shape: shapeOf(plan), aborted: rec.aborted}
	for _, c := range cs[1 : p.checkpoints+1] {
		o, ok := rec.ops(c.ID)
		if !ok {
			return nil, fmt.Errorf("job %s: no operation counts for checkpoint %d", jobID, c.ID)
		}
		out.rows = append(out.rows, ckptRow{stats: c, ops: o})
	}
	return out, nil
}

func (r *stateRun) label() string {
	if r.merging {
		return "merging on"
	}
	return "merging off"
}

func (r *stateRun) med(f func(ckptRow) float64) float64 { return median(r.rows, f) }

// filesBench is the small-file merging figure: the state job with
// checkpoints to a local directory, merging off then on, file system
// operations counted by a CountingFS under both the workers' and the job
// master's checkpoint storage.
func filesBench(ctx context.Context, out io.Writer, p stateParams, dir string, verbose bool) ([]*stateRun, error) {
	var runs []*stateRun
	for _, merging := range []bool{false, true} {
		name := map[bool]string{false: "off", true: "on"}[merging]
		cfs := checkpoint.NewCountingFS(filesystem.Local{})
		reg := filesystem.NewRegistry()
		reg.Register("file", cfs)
		uri := "file://" + filepath.ToSlash(filepath.Join(dir, "ckpt-"+name))
		r, err := runStateJob(ctx, p, uri, "ckptbench-files-"+name, merging, reg, reg, func() ops { return fsOps(cfs.Ops()) })
		if err != nil {
			return nil, fmt.Errorf("merging %s: %w", name, err)
		}
		runs = append(runs, r)
	}
	j := p.job
	fmt.Fprintf(out, "## Small-file merging: local file system\n\n")
	fmt.Fprintf(out, "job: parallelism %d, max parallelism %d, %d keys, %.0f records/s, checkpoint every %s, retain %d; %d workers × %d slots\n",
		j.parallelism, j.maxParallelism, j.keys, j.rate, j.ckpt.Interval, max(j.ckpt.Retain, 1), p.workers, p.slots)
	describeShape(out, runs[0].shape)
	fmt.Fprintf(out, "median of %d checkpoints per run (the first checkpoint of each run is not counted)\n\n", p.checkpoints)
	fmt.Fprintln(out, "| per checkpoint | merging off | merging on | off / on |")
	fmt.Fprintln(out, "|---|---:|---:|---:|")
	off, on := runs[0], runs[1]
	row := func(name string, f func(ckptRow) float64, format string) {
		a, b := off.med(f), on.med(f)
		ratio := "–"
		if b > 0 {
			ratio = fmt.Sprintf("%.1f×", a/b)
		}
		fmt.Fprintf(out, "| %s | "+format+" | "+format+" | %s |\n", name, a, b, ratio)
	}
	row("files created", func(r ckptRow) float64 { return float64(r.ops["create"]) }, "%.0f")
	row("state files reported by workers", func(r ckptRow) float64 { return float64(r.stats.Files) }, "%.0f")
	row("file system operations", func(r ckptRow) float64 { return float64(r.ops.total()) }, "%.0f")
	row("  of which remove/removeAll", func(r ckptRow) float64 { return float64(r.ops["remove"] + r.ops["removeAll"]) }, "%.0f")
	row("  of which rename", func(r ckptRow) float64 { return float64(r.ops["rename"]) }, "%.0f")
	row("  of which mkdirAll", func(r ckptRow) float64 { return float64(r.ops["mkdirAll"]) }, "%.0f")
	row("bytes written (KiB)", func(r ckptRow) float64 { return float64(r.ops["bytes"]) / 1024 }, "%.0f")
	row("state size (KiB)", func(r ckptRow) float64 { return float64(r.stats.Size) / 1024 }, "%.0f")
	row("duration (ms)", func(r ckptRow) float64 { return float64(r.stats.Duration.Microseconds()) / 1000 }, "%.0f")
	row("alignment, slowest task (ms)", func(r ckptRow) float64 { return float64(r.stats.Alignment.Microseconds()) / 1000 }, "%.1f")
	fmt.Fprintln(out)
	if verbose {
		printRows(out, runs)
	}
	return runs, nil
}

// hdfsBench is the NameNode pressure figure: the state job with
// checkpoints on hdfs:// against the in-process NameNode, merging off
// then on. Workers and job master use the engine's default registry
// (filesystems.Default, the NameNode's host:port in the URI); the
// NameNode counts its calls.
func hdfsBench(ctx context.Context, out io.Writer, p stateParams, verbose bool) ([]*stateRun, error) {
	nn, err := hdfstest.Start(ctx, hdfstest.Options{BlockSize: 128 << 20})
	if err != nil {
		return nil, err
	}
	defer nn.Close()
	var runs []*stateRun
	for _, merging := range []bool{false, true} {
		name := map[bool]string{false: "off", true: "on"}[merging]
		r, err := runStateJob(ctx, p, nn.URL("/checkpoints-"+name), "ckptbench-hdfs-"+name, merging, nil, filesystems.Default(),
			func() ops { return ops(nn.Ops()) })
		if err != nil {
			return nil, fmt.Errorf("hdfs, merging %s: %w", name, err)
		}
		runs = append(runs, r)
	}
	j := p.job
	fmt.Fprintf(out, "## NameNode pressure: hdfs:// (in-process NameNode and DataNode)\n\n")
	fmt.Fprintf(out, "job: the state job at parallelism %d, max parallelism %d, %d keys, %.0f records/s, checkpoint every %s, retain %d; %d workers × %d slots; block size 128 MiB\n",
		j.parallelism, j.maxParallelism, j.keys, j.rate, j.ckpt.Interval, max(j.ckpt.Retain, 1), p.workers, p.slots)
	describeShape(out, runs[0].shape)
	fmt.Fprintf(out, "NameNode calls per checkpoint, median of %d checkpoints per run\n\n", p.checkpoints)
	fmt.Fprintln(out, "| NameNode calls per checkpoint | merging off | merging on | off / on |")
	fmt.Fprintln(out, "|---|---:|---:|---:|")
	off, on := runs[0], runs[1]
	methods := map[string]bool{}
	for _, r := range runs {
		for _, row := range r.rows {
			for m := range row.ops {
				methods[m] = true
			}
		}
	}
	order := []string{"create", "addBlock", "complete", "rename2", "delete", "mkdirs", "getFileInfo", "getListing", "getBlockLocations", "renewLease"}
	for m := range methods {
		if !slicesContains(order, m) {
			order = append(order, m)
		}
	}
	for _, m := range order {
		if !methods[m] {
			continue
		}
		a := off.med(func(r ckptRow) float64 { return float64(r.ops[m]) })
		b := on.med(func(r ckptRow) float64 { return float64(r.ops[m]) })
		fmt.Fprintf(out, "| %s | %.0f | %.0f | %s |\n", m, a, b, ratio(a, b))
	}
	a := off.med(func(r ckptRow) float64 { return float64(r.ops.total()) })
	b := on.med(func(r ckptRow) float64 { return float64(r.ops.total()) })
	fmt.Fprintf(out, "| **total** | %.0f | %.0f | %s |\n", a, b, ratio(a, b))
	a = off.med(func(r ckptRow) float64 { return float64(r.stats.Duration.Microseconds()) / 1000 })
	b = on.med(func(r ckptRow) float64 { return float64(r.stats.Duration.Microseconds()) / 1000 })
	fmt.Fprintf(out, "| checkpoint duration (ms) | %.0f | %.0f | %s |\n\n", a, b, ratio(a, b))
	if verbose {
		printRows(out, runs)
	}
	return runs, nil
}

func ratio(a, b float64) string {
	if b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f×", a/b)
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func describeShape(out io.Writer, s planShape) {
	per := make([]string, len(s.keyedPerTask))
	for i, n := range s.keyedPerTask {
		per[i] = fmt.Sprint(n)
	}
	fmt.Fprintf(out, "plan: %d tasks, keyed stateful operators per task [%s], %d per slot, %d instances in the job\n",
		s.tasks, strings.Join(per, " "), s.keyedPerSlot, s.keyedInstances)
}

func printRows(out io.Writer, runs []*stateRun) {
	for _, r := range runs {
		fmt.Fprintf(out, "%s (%d aborted):\n", r.label(), r.aborted)
		for _, row := range r.rows {
			fmt.Fprintf(out, "  checkpoint %d: %s, %d files reported, %d KiB, alignment %s: %s\n", row.stats.ID,
				row.stats.Duration.Round(time.Millisecond), row.stats.Files, row.stats.Size/1024, row.stats.Alignment.Round(time.Microsecond), row.ops)
		}
	}
	fmt.Fprintln(out)
}

// checkpointConfig is the checkpoint configuration of the state job.
func checkpointConfig(interval time.Duration, retain int) dag.CheckpointConfig {
	return dag.CheckpointConfig{Interval: interval, Retain: retain}
}
