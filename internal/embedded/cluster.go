package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/protocol"
	"github.com/dagflow/dagflow/master"
	"github.com/dagflow/dagflow/shuffle"
	"github.com/dagflow/dagflow/worker"
)

// Config configures an embedded mini-cluster.
type Config struct {
	// Workers is the number of in-process workers (default 2).
	Workers int
	// SlotsPerWorker is each worker's slot count (default 64: in-process
	// slots are cheap, and a slot hosts one subtask of every task vertex).
	SlotsPerWorker int
	// Dir holds shuffle files (default: a temporary directory removed on
	// Close).
	Dir string
	// SortBufferBytes bounds each blocking partition writer's memory.
	SortBufferBytes int
	// Logger receives logs (default slog.Default()).
	Logger *slog.Logger
	// NewStateStorage opens a worker's checkpoint storage for a job with
	// a checkpoint directory (default worker.NewFileStateStorage);
	// benchmarks set it to count file system operations.
	NewStateStorage func(job string, cfg dag.CheckpointConfig) (worker.StateStorage, error)
}

// Cluster is the embedded runtime: a master, workers and their
// shuffle services in one process, wired through the same interfaces a
// distributed cluster uses.
type Cluster struct {
	cfg     Config
	log     *slog.Logger
	tempDir string

	mu       sync.Mutex
	workers  map[string]*worker.Worker
	services map[string]shuffle.Service
	jobs     map[string]*localJob
}

type localJob struct {
	plan *dag.Plan
	jm   *master.JobMaster
}

// New starts an embedded cluster.
func New(cfg Config) (*Cluster, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.SlotsPerWorker <= 0 {
		cfg.SlotsPerWorker = 64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NewStateStorage == nil {
		cfg.NewStateStorage = worker.NewFileStateStorage
	}
	c := &Cluster{cfg: cfg, log: cfg.Logger, workers: make(map[string]*worker.Worker),
		services: make(map[string]shuffle.Service), jobs: make(map[string]*localJob)}
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "dagflow-local-")
		if err != nil {
			return nil, fmt.Errorf("embedded: local cluster dir: %w", err)
		}
		cfg.Dir, c.tempDir = dir, dir
		c.cfg.Dir = dir
	}
	for i := 0; i < cfg.Workers; i++ {
		name := fmt.Sprintf("worker-%d", i)
		svc, err := shuffle.NewLocal(shuffle.LocalConfig{Dir: filepath.Join(cfg.Dir, name), SortBufferBytes: cfg.SortBufferBytes})
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("embedded: shuffle of %s: %w", name, err)
		}
		w := worker.New(worker.Config{Name: name, Slots: cfg.SlotsPerWorker, Logger: cfg.Logger, OnCheckpoint: c.reportCheckpoint,
			NewStateStorage: cfg.NewStateStorage, StateDir: filepath.Join(cfg.Dir, name, "state")},
			svc, c, c, c, c.report)
		c.workers[name] = w
		c.services[name] = svc
	}
	return c, nil
}

// Resolve implements worker.ShuffleResolver.
func (c *Cluster) Resolve(location string) (shuffle.Service, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	svc, ok := c.services[location]
	if !ok {
		return nil, fmt.Errorf("worker %q is gone: %w", location, shuffle.ErrNotExist)
	}
	return svc, nil
}

// NextSplit implements protocol.SplitProvider.
func (c *Cluster) NextSplit(ctx context.Context, job string, req protocol.SplitRequest) (protocol.SplitResponse, error) {
	j, err := c.job(job)
	if err != nil {
		return protocol.SplitResponse{}, err
	}
	return j.jm.Splits().NextSplit(ctx, req)
}

func (c *Cluster) reportCheckpoint(rep protocol.CheckpointReport) {
	if j, err := c.job(rep.Job); err == nil {
		j.jm.ReportCheckpoint(rep)
	}
}

// Plan implements worker.PlanSource.
func (c *Cluster) Plan(job string) (*dag.Plan, error) {
	j, err := c.job(job)
	if err != nil {
		return nil, err
	}
	return j.plan, nil
}

func (c *Cluster) job(id string) (*localJob, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	j, ok := c.jobs[id]
	if !ok {
		return nil, fmt.Errorf("embedded: unknown job %q", id)
	}
	return j, nil
}

func (c *Cluster) report(st protocol.TaskStatus) {
	if j, err := c.job(st.Job); err == nil {
		j.jm.Report(st)
	}
}

// Workers returns the names of live workers, sorted.
func (c *Cluster) Workers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for n := range c.workers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Run runs a job to completion on the cluster.
func (c *Cluster) Run(ctx context.Context, plan *dag.Plan, cfg master.JobConfig) (*master.JobResult, error) {
	if cfg.Logger == nil {
		cfg.Logger = c.log
	}
	c.mu.Lock()
	var gws []master.WorkerGateway
	for _, n := range slices.Sorted(maps.Keys(c.workers)) {
		gws = append(gws, c.workers[n])
	}
	c.mu.Unlock()
	jm, err := master.NewJobMaster(ctx, plan, master.Guarded(master.PlanCode{Plan: plan}), gws, cfg)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if _, dup := c.jobs[jm.ID()]; dup {
		c.mu.Unlock()
		return nil, fmt.Errorf("embedded: job %q already runs", jm.ID())
	}
	c.jobs[jm.ID()] = &localJob{plan: plan, jm: jm}
	c.mu.Unlock()
	if cfg.Started != nil {
		cfg.Started(jm)
	}
	res, err := jm.Run(ctx)
	c.mu.Lock()
	delete(c.jobs, jm.ID())
	ws := make([]*worker.Worker, 0, len(c.workers))
	for _, w := range c.workers {
		ws = append(ws, w)
	}
	c.mu.Unlock()
	var errs []error
	for _, w := range ws {
		errs = append(errs, w.ForgetJob(context.WithoutCancel(ctx), jm.ID()))
	}
	if rerr := errors.Join(errs...); rerr != nil {
		c.log.Warn("release job data", "job", jm.ID(), "err", rerr)
	}
	return res, err
}

// KillWorker simulates the loss of a worker: its tasks stop, its shuffle
// data is gone and running jobs are told it is lost.
func (c *Cluster) KillWorker(name string) error {
	c.mu.Lock()
	w, ok := c.workers[name]
	if !ok {
		c.mu.Unlock()
		return fmt.Errorf("embedded: no worker %q", name)
	}
	delete(c.workers, name)
	delete(c.services, name)
	jobs := make([]*localJob, 0, len(c.jobs))
	for _, j := range c.jobs {
		jobs = append(jobs, j)
	}
	c.mu.Unlock()
	for _, j := range jobs {
		j.jm.WorkerLost(name)
	}
	return w.Close()
}

// Close stops every worker and removes the cluster's temporary files.
func (c *Cluster) Close() error {
	c.mu.Lock()
	ws := make([]*worker.Worker, 0, len(c.workers))
	for _, w := range c.workers {
		ws = append(ws, w)
	}
	c.workers = map[string]*worker.Worker{}
	c.services = map[string]shuffle.Service{}
	c.mu.Unlock()
	var errs []error
	for _, w := range ws {
		errs = append(errs, w.Close())
	}
	if c.tempDir != "" {
		errs = append(errs, os.RemoveAll(c.tempDir))
	}
	return errors.Join(errs...)
}

// BuffersInUse returns the exchange buffers queued in all workers'
// pipelined partitions: bounded by back-pressure.
func (c *Cluster) BuffersInUse() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, svc := range c.services {
		if b, ok := svc.(interface{ BuffersInUse() int }); ok {
			n += b.BuffersInUse()
		}
	}
	return n
}
