package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/internal/embedded"
	"github.com/dagflow/dagflow/master"
)

// running is a job started in the background on a local cluster.
type running struct {
	jm     *master.JobMaster
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// start runs plan on c until stop is called. The job ID is fixed so that
// a store built beforehand finds the job's directory.
func start(ctx context.Context, c *embedded.Cluster, plan *dag.Plan, cfg master.JobConfig) (*running, error) {
	ctx, cancel := context.WithCancel(ctx)
	r := &running{cancel: cancel, done: make(chan struct{})}
	jmc := make(chan *master.JobMaster, 1)
	cfg.Started = func(jm *master.JobMaster) { jmc <- jm }
	go func() {
		defer close(r.done)
		_, r.err = c.Run(ctx, plan, cfg)
	}()
	select {
	case r.jm = <-jmc:
		return r, nil
	case <-r.done:
		cancel()
		return nil, fmt.Errorf("job %s ended before it started: %w", plan.Job, r.err)
	}
}

// stop cancels the job and waits for it; a job that failed on its own is
// an error.
func (r *running) stop() error {
	select {
	case <-r.done:
		return fmt.Errorf("job ended before it was stopped: %w", r.err)
	default:
	}
	r.cancel()
	<-r.done
	if r.err != nil && !errors.Is(r.err, context.Canceled) {
		return r.err
	}
	return nil
}

// failed returns the job's error if it ended on its own.
func (r *running) failed() error {
	select {
	case <-r.done:
		if r.err == nil {
			return errors.New("job finished unexpectedly")
		}
		return r.err
	default:
		return nil
	}
}

// completed returns the completed checkpoints so far, by ID.
func completed(jm *master.JobMaster) []master.CheckpointStats {
	var out []master.CheckpointStats
	for _, cs := range jm.Checkpoints() {
		if cs.Status == "completed" && cs.Kind == engine.KindCheckpoint.String() {
			out = append(out, cs)
		}
	}
	slices.SortFunc(out, func(a, b master.CheckpointStats) int { return int(a.ID - b.ID) })
	return out
}

// waitCheckpoints waits until n checkpoints completed.
func (r *running) waitCheckpoints(n int, timeout time.Duration) ([]master.CheckpointStats, error) {
	deadline := time.Now().Add(timeout)
	for {
		cs := completed(r.jm)
		if len(cs) >= n {
			return cs, nil
		}
		if err := r.failed(); err != nil {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d checkpoints completed in %s (history: %+v)", len(cs), n, timeout, r.jm.Checkpoints())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sourceRecords returns the records the job's sources produced so far.
func sourceRecords(jm *master.JobMaster) int64 {
	var n int64
	for _, v := range jm.Status().Vertices {
		if v.Kind == "source" {
			n += v.RecordsOut
		}
	}
	return n
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median[T any](xs []T, key func(T) float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = key(x)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

func machine() string {
	return fmt.Sprintf("%d CPUs, GOMAXPROCS %d, %s/%s, %s", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())
}
