package bench

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"time"

	"github.com/dagflow/dagflow/scheduler"
)

// SchedScaleConfig describes one run of the scheduler scale benchmark: a
// two-vertex job, N producers connected all-to-all to N consumers, driven
// through the pure scheduler with every Deploy answered at once.
type SchedScaleConfig struct {
	// N is the parallelism of both vertices.
	N int
	// Mode is the exchange mode of the all-to-all edge.
	Mode scheduler.ExchangeMode
	// SlotsPerWorker is the size of each worker (default 100); the cluster
	// has ceil(N/SlotsPerWorker) workers, so N slots in all: enough for the
	// pipelined job's one region.
	SlotsPerWorker int
}

// SchedScaleResult is what one run measured. Heap figures are bytes.
type SchedScaleResult struct {
	Config SchedScaleConfig
	// New is the time scheduler.New took (topology → plan).
	New time.Duration
	// Deploy is the time from Start until every task got its first Deploy
	// (each Deploy answered at once by TaskRunning and TaskFinished, so for
	// a blocking job this includes finishing every producer).
	Deploy time.Duration
	// Finish is the time from the last first Deploy until JobFinished.
	Finish time.Duration
	// Failover is the time from one producer's failure until every task of
	// the restart set runs again (see SchedFailover).
	Failover time.Duration
	// Restarted is the number of tasks the failover redeployed.
	Restarted int
	// DeployCPU, FinishCPU and FailoverCPU are the CPU time (user and
	// system, whole process, GC included) the phases took: on a loaded
	// machine they vary less than the wall times.
	DeployCPU, FinishCPU, FailoverCPU time.Duration
	// PeakHeap is the largest heap (live and not yet collected objects)
	// seen while the job ran, sampled every millisecond.
	PeakHeap uint64
	// LiveHeap is the heap in use after a forced GC with every task
	// deployed: what the scheduler's state costs.
	LiveHeap uint64
}

func (c SchedScaleConfig) withDefaults() SchedScaleConfig {
	if c.SlotsPerWorker <= 0 {
		c.SlotsPerWorker = 100
	}
	return c
}

func (c SchedScaleConfig) topology() scheduler.Topology {
	return scheduler.Topology{
		Vertices: []scheduler.Vertex{
			{ID: 0, Name: "producer", Parallelism: c.N, Bounded: true},
			{ID: 1, Name: "consumer", Parallelism: c.N, Bounded: true},
		},
		Edges: []scheduler.Edge{{From: 0, To: 1, Mode: c.Mode, Pattern: scheduler.AllToAll}},
	}
}

// schedDriver plays the runtime for the scale benchmark: it carries out the
// scheduler's actions at once, in order.
type schedDriver struct {
	s   *scheduler.Scheduler
	now time.Time
	// finish says whether a Deploy of the task is answered with
	// TaskFinished right after TaskRunning.
	finish func(scheduler.TaskID) bool
	// deployed counts Deploy actions; firstDeploys counts tasks deployed
	// at least once.
	deployed, firstDeploys int
	seen                   []bool
	n                      int
	ended                  scheduler.Action
	onAllDeployed          func()
}

func (d *schedDriver) run(actions []scheduler.Action) error {
	var queue []scheduler.Action
	queue = d.enqueue(queue, actions)
	for len(queue) > 0 {
		a := queue[0]
		queue = queue[1:]
		switch a := a.(type) {
		case scheduler.Deploy:
			queue = d.enqueue(queue, d.s.Step(scheduler.TaskRunning{Now: d.now, Task: a.Task, Attempt: a.Attempt}))
			if d.finish(a.Task) {
				queue = d.enqueue(queue, d.s.Step(scheduler.TaskFinished{Now: d.now, Task: a.Task, Attempt: a.Attempt}))
			}
		case scheduler.Cancel:
			queue = d.enqueue(queue, d.s.Step(scheduler.TaskCanceled{Now: d.now, Task: a.Task, Attempt: a.Attempt}))
		case scheduler.JobFinished, scheduler.JobCanceled:
			d.ended = a
		case scheduler.JobFailed:
			d.ended = a
			return fmt.Errorf("bench: job failed: %s", a.Reason)
		}
	}
	return nil
}

// enqueue appends actions to queue, counting the Deploys as the scheduler
// emits them.
func (d *schedDriver) enqueue(queue, actions []scheduler.Action) []scheduler.Action {
	for _, a := range actions {
		dep, ok := a.(scheduler.Deploy)
		if !ok {
			continue
		}
		d.deployed++
		if k := dep.Task.Vertex*d.n + dep.Task.Subtask; !d.seen[k] {
			d.seen[k] = true
			d.firstDeploys++
			if d.firstDeploys == len(d.seen) && d.onAllDeployed != nil {
				d.onAllDeployed()
			}
		}
	}
	return append(queue, actions...)
}

func newSchedDriver(c SchedScaleConfig, finish func(scheduler.TaskID) bool) (*schedDriver, time.Duration, error) {
	t0 := time.Now()
	s, err := scheduler.New(c.topology(), scheduler.Config{Restart: scheduler.FixedDelay(1<<30, 0)})
	if err != nil {
		return nil, 0, fmt.Errorf("bench: %w", err)
	}
	took := time.Since(t0)
	d := &schedDriver{s: s, now: time.Unix(0, 0), finish: finish, seen: make([]bool, 2*c.N), n: c.N}
	for w := 0; w*c.SlotsPerWorker < c.N; w++ {
		d.s.Step(scheduler.WorkerJoined{Now: d.now, Worker: fmt.Sprintf("w%05d", w), Slots: c.SlotsPerWorker})
	}
	return d, took, nil
}

// heapSampler records the peak of the heap's object bytes.
type heapSampler struct {
	stop chan struct{}
	done sync.WaitGroup
	peak uint64
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{stop: make(chan struct{})}
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			h.peak = max(h.peak, sample[0].Value.Uint64())
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) finish() uint64 {
	close(h.stop)
	h.done.Wait()
	return h.peak
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// SchedScale runs the scale benchmark: New, Start, every task deployed
// (phase Deploy), every task finished (phase Finish); then, on a fresh
// scheduler, the failover of one producer (SchedFailover).
func SchedScale(c SchedScaleConfig) (SchedScaleResult, error) {
	c = c.withDefaults()
	if c.N < 1 {
		return SchedScaleResult{}, fmt.Errorf("bench: scheduler scale: N must be at least 1, got %d", c.N)
	}
	res := SchedScaleResult{Config: c}
	runtime.GC()
	heap := startHeapSampler()
	d, took, err := newSchedDriver(c, func(scheduler.TaskID) bool { return true })
	if err != nil {
		heap.finish()
		return res, err
	}
	res.New = took
	var t0, deployedAt time.Time
	var deployedCPU int64
	d.onAllDeployed = func() { deployedAt, deployedCPU = time.Now(), processCPU() }
	t0, cpu0 := time.Now(), processCPU()
	err = d.run(d.s.Start(d.now))
	end, endCPU := time.Now(), processCPU()
	res.PeakHeap = heap.finish()
	if err != nil {
		return res, err
	}
	if _, ok := d.ended.(scheduler.JobFinished); !ok || deployedAt.IsZero() {
		return res, fmt.Errorf("bench: scheduler scale: job did not finish (deployed %d of %d tasks, end %v)", d.firstDeploys, 2*c.N, d.ended)
	}
	res.Deploy, res.Finish = deployedAt.Sub(t0), end.Sub(deployedAt)
	res.DeployCPU, res.FinishCPU = time.Duration(deployedCPU-cpu0), time.Duration(endCPU-deployedCPU)
	f, err := SchedFailover(c)
	res.Failover, res.FailoverCPU, res.Restarted, res.LiveHeap = f.Took, f.CPU, f.Restarted, f.LiveHeap
	return res, err
}

// SchedFailoverResult is what SchedFailover measured.
type SchedFailoverResult struct {
	// Took and CPU are the wall and CPU time of the failover.
	Took, CPU time.Duration
	// Restarted is the number of tasks redeployed.
	Restarted int
	// LiveHeap is the heap in use with every task running, after a GC.
	LiveHeap uint64
}

// SchedFailover runs the job until every task runs (a blocking job's
// producers finished, its consumers run), then fails producer 0: a
// pipelined job's producer attempt fails (its region, the whole job,
// restarts); a blocking job's consumer reports producer 0's result lost
// (producer 0's region and every running consumer restart). It returns
// the time from the failure until every restarted task was deployed again
// and runs (cancellations acknowledged at once, restart delay 0).
func SchedFailover(c SchedScaleConfig) (SchedFailoverResult, error) {
	c = c.withDefaults()
	blocking := c.Mode == scheduler.Blocking
	d, _, err := newSchedDriver(c, func(t scheduler.TaskID) bool { return blocking && t.Vertex == 0 })
	if err != nil {
		return SchedFailoverResult{}, err
	}
	if err := d.run(d.s.Start(d.now)); err != nil {
		return SchedFailoverResult{}, err
	}
	if d.firstDeploys != 2*c.N {
		return SchedFailoverResult{}, fmt.Errorf("bench: scheduler failover: only %d of %d tasks deployed", d.firstDeploys, 2*c.N)
	}
	live := liveHeap()
	producer := scheduler.TaskID{Vertex: 0, Subtask: 0}
	before := d.deployed
	t0, cpu0 := time.Now(), processCPU()
	var actions []scheduler.Action
	if blocking {
		actions = d.s.Step(scheduler.ResultLost{Now: d.now, Task: producer, Attempt: 0})
		consumer := scheduler.TaskID{Vertex: 1, Subtask: 0}
		actions = append(actions, d.s.Step(scheduler.TaskFailed{Now: d.now, Task: consumer, Attempt: 0, Err: "bench: input lost", Retriable: true})...)
	} else {
		actions = d.s.Step(scheduler.TaskFailed{Now: d.now, Task: producer, Attempt: 0, Err: "bench: injected", Retriable: true})
	}
	if err := d.run(actions); err != nil {
		return SchedFailoverResult{}, err
	}
	res := SchedFailoverResult{Took: time.Since(t0), CPU: time.Duration(processCPU() - cpu0), Restarted: d.deployed - before, LiveHeap: live}
	for _, ts := range d.s.Tasks() {
		if ts.State != scheduler.Running && ts.State != scheduler.Finished {
			return SchedFailoverResult{}, fmt.Errorf("bench: scheduler failover: task %s is %s after the failover", ts.Task, ts.State)
		}
	}
	return res, nil
}

// JobMasterTable formats job master results as a Markdown table.
func JobMasterTable(rows []JobMasterScaleResult) string {
	var b strings.Builder
	b.WriteString("| mode | N | deployments | input channels | run | peak heap |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		b.WriteString(JobMasterRow(r) + "\n")
	}
	return b.String()
}

// JobMasterRow formats one job master result as a Markdown table row.
func JobMasterRow(r JobMasterScaleResult) string {
	return fmt.Sprintf("| %s | %d | %d | %d | %s | %s |", r.Mode, r.N, r.Deployments, r.Channels, fmtDur(r.Run), fmtMiB(r.PeakHeap))
}

// SchedTable formats scheduler scale results as a Markdown table.
func SchedTable(rows []SchedScaleResult) string {
	var b strings.Builder
	b.WriteString("| mode | N | tasks | new | deploy (CPU) | finish (CPU) | failover (CPU; tasks) | peak heap | live heap |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		b.WriteString(SchedRow(r) + "\n")
	}
	return b.String()
}

// SchedRow formats one scheduler scale result as a Markdown table row.
func SchedRow(r SchedScaleResult) string {
	return fmt.Sprintf("| %s | %d | %d | %s | %s (%s) | %s (%s) | %s (%s; %d) | %s | %s |",
		r.Config.Mode, r.Config.N, 2*r.Config.N, fmtDur(r.New), fmtDur(r.Deploy), fmtDur(r.DeployCPU), fmtDur(r.Finish), fmtDur(r.FinishCPU),
		fmtDur(r.Failover), fmtDur(r.FailoverCPU), r.Restarted, fmtMiB(r.PeakHeap), fmtMiB(r.LiveHeap))
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	default:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
}

func fmtMiB(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
