package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/shuffle"
)

// Config configures a worker.
type Config struct {
	// Name identifies the worker in the cluster.
	Name string
	// Slots is how many slot-sharing slots the worker offers.
	Slots int
	// BufferSize is the exchange buffer size (default dag.DefaultBufferSize).
	BufferSize int
	// Logger receives the worker's logs (default slog.Default()).
	Logger *slog.Logger
	// Now returns the wall clock (default time.Now); tests inject one.
	Now func() time.Time
	// OnCheckpoint receives the worker's checkpoint acknowledgements and
	// declines (called from task goroutines).
	OnCheckpoint func(CheckpointReport)
	// NewStateStorage opens the checkpoint storage of a job with a
	// checkpoint directory (jobs without one keep state in memory).
	NewStateStorage func(job string, cfg dag.CheckpointConfig) (StateStorage, error)
	// StateDir is local scratch space for on-disk state backends (default:
	// a temporary directory).
	StateDir string
}

// PlanSource returns the plan of a job, rebuilt in this process.
type PlanSource interface {
	Plan(job string) (*dag.Plan, error)
}

// Worker runs task attempts and reports their outcome.
type Worker struct {
	cfg      Config
	log      *slog.Logger
	shuffle  shuffle.Service
	resolver ShuffleResolver
	splits   SplitProvider
	plans    PlanSource
	report   func(TaskStatus)

	mu      sync.Mutex
	running map[attemptKey]context.CancelFunc
	tasks   map[attemptKey]*task
	// done holds each task's latest successful attempt (Tasks).
	done    map[doneKey]TaskReport
	metrics map[metricKey]*engine.Metrics
	// storages holds each job's checkpoint storage; ckpts the checkpoints
	// this worker's tasks are taking.
	storages map[string]StateStorage
	ckpts    map[ckptKey]*ckptGroup
	wg       sync.WaitGroup
	closed   bool
}

type attemptKey struct {
	job     string
	id      TaskID
	attempt int
}

type metricKey struct {
	job     string
	vertex  int
	subtask int
}

// New returns a worker. svc is the worker's own shuffle service (where its
// tasks write), resolver finds the services of other workers, splits hands
// out source splits, plans gives job plans and report receives every task
// attempt's outcome (called from task goroutines).
func New(cfg Config, svc shuffle.Service, resolver ShuffleResolver, splits SplitProvider, plans PlanSource, report func(TaskStatus)) *Worker {
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = dag.DefaultBufferSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Worker{
		cfg: cfg, log: cfg.Logger.With("worker", cfg.Name), shuffle: svc, resolver: resolver,
		splits: splits, plans: plans, report: report,
		running:  make(map[attemptKey]context.CancelFunc),
		tasks:    make(map[attemptKey]*task),
		done:     make(map[doneKey]TaskReport),
		metrics:  make(map[metricKey]*engine.Metrics),
		storages: make(map[string]StateStorage),
		ckpts:    make(map[ckptKey]*ckptGroup),
	}
}

// Name returns the worker's name.
func (w *Worker) Name() string { return w.cfg.Name }

// Slots returns the number of slots the worker offers.
func (w *Worker) Slots() int { return w.cfg.Slots }

// Shuffle returns the worker's shuffle service.
func (w *Worker) Shuffle() shuffle.Service { return w.shuffle }

func (w *Worker) nowMillis() int64 { return w.cfg.Now().UnixMilli() }

// ErrClosed is returned by Deploy after Close.
var ErrClosed = errors.New("worker: closed")

// Deploy starts a task attempt. Its outcome is reported asynchronously.
func (w *Worker) Deploy(ctx context.Context, dep TaskDeployment) error {
	plan, err := w.plans.Plan(dep.Job)
	if err != nil {
		return fmt.Errorf("worker %s: plan of job %s: %w", w.cfg.Name, dep.Job, err)
	}
	t, err := newTask(w, plan, dep)
	if err != nil {
		return err
	}
	key := attemptKey{dep.Job, dep.ID, dep.Attempt}
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		cancel()
		return ErrClosed
	}
	if _, dup := w.running[key]; dup {
		w.mu.Unlock()
		cancel()
		return fmt.Errorf("worker %s: task %s already running", w.cfg.Name, t.name)
	}
	w.running[key] = cancel
	w.tasks[key] = t
	w.wg.Add(1)
	w.mu.Unlock()
	go func() {
		defer w.wg.Done()
		t.log.Debug("task started")
		start := time.Now()
		committables, err := t.run(tctx)
		if err == nil && tctx.Err() != nil {
			err = tctx.Err()
		}
		st := TaskStatus{Job: dep.Job, ID: dep.ID, Attempt: dep.Attempt, Err: err, Committables: committables, LastCheckpoint: t.lastBarrier}
		if err == nil {
			st.External, st.Locations = t.external, t.locations
			// Recorded before it stops counting as running: Tasks never
			// misses a finished attempt.
			w.finishedTask(t, st)
		}
		w.mu.Lock()
		delete(w.running, key)
		delete(w.tasks, key)
		w.mu.Unlock()
		w.taskGone(tctx, key)
		cancel()
		if err != nil && !errors.Is(err, context.Canceled) {
			t.log.Warn("task failed", "err", err, "duration", time.Since(start))
		} else {
			t.log.Debug("task ended", "err", err, "duration", time.Since(start))
		}
		w.report(st)
	}()
	return nil
}

// Cancel stops a task attempt; its outcome is reported as cancelled.
func (w *Worker) Cancel(job string, id TaskID, attempt int) {
	w.mu.Lock()
	cancel := w.running[attemptKey{job, id, attempt}]
	w.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// Running returns the number of running task attempts.
func (w *Worker) Running() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.running)
}

func (w *Worker) metricsFor(job string, vertex, subtask int) *engine.Metrics {
	m := new(engine.Metrics)
	w.mu.Lock()
	w.metrics[metricKey{job, vertex, subtask}] = m // the latest attempt counts
	w.mu.Unlock()
	return m
}

// Metrics returns the counters of the job's subtasks on this worker,
// sorted by vertex and subtask.
func (w *Worker) Metrics(job string) []VertexMetrics {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []VertexMetrics
	for k, m := range w.metrics {
		if k.job != job {
			continue
		}
		out = append(out, VertexMetrics{Vertex: k.vertex, Subtask: k.subtask,
			RecordsIn: m.RecordsIn.Load(), RecordsOut: m.RecordsOut.Load(), LateDropped: m.LateDropped.Load(),
			BackPressureNanos: m.BackPressureNanos.Load(), BytesOut: m.BytesOut.Load(), BytesIn: m.BytesIn.Load()})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Vertex != out[j].Vertex {
			return out[i].Vertex < out[j].Vertex
		}
		return out[i].Subtask < out[j].Subtask
	})
	return out
}

// ForgetJob drops the job's metrics and shuffle data.
func (w *Worker) ForgetJob(ctx context.Context, job string) error {
	if w.cfg.StateDir != "" {
		os.RemoveAll(filepath.Join(w.cfg.StateDir, safeName(job)))
	}
	w.mu.Lock()
	delete(w.storages, job)
	for k := range w.done {
		if k.job == job {
			delete(w.done, k)
		}
	}
	for k := range w.metrics {
		if k.job == job {
			delete(w.metrics, k)
		}
	}
	w.mu.Unlock()
	return w.shuffle.Release(ctx, job)
}

// Close cancels running tasks, waits for them and closes the shuffle
// service.
func (w *Worker) Close() error {
	w.mu.Lock()
	w.closed = true
	for _, c := range w.running {
		c()
	}
	w.mu.Unlock()
	w.wg.Wait()
	return w.shuffle.Close()
}

// Prepare readies the worker for a job; an in-process worker's outputs
// are found by its name.
func (w *Worker) Prepare(context.Context, string) (string, error) { return w.cfg.Name, nil }
