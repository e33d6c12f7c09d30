package master

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/scheduler"
	"github.com/dagflow/dagflow/shuffle"
	"github.com/dagflow/dagflow/worker"
)

// WorkerGateway is how the job master reaches one worker.
type WorkerGateway interface {
	Name() string
	Slots() int
	// Prepare readies the worker for the job (in a cluster: starts the
	// job's executor) and returns the location its task outputs are read
	// from.
	Prepare(ctx context.Context, job string) (location string, err error)
	Deploy(ctx context.Context, dep worker.TaskDeployment) error
	Cancel(job string, id worker.TaskID, attempt int)
	Metrics(job string) []worker.VertexMetrics
}

// JobCode runs the parts of a job that need its user code but no task:
// enumerating source splits and committing or aborting sink output. In the
// embedded runtime the plan's own functions do it; in a cluster the job
// binary does, in a child process.
type JobCode interface {
	Splits(ctx context.Context, vertex int) ([]dag.Split, error)
	HasCommitter(vertex int) bool
	Commit(ctx context.Context, vertex int, committables [][]byte) error
	Abort(ctx context.Context, vertex int, committables [][]byte) error
	// IsDynamic and MoreSplits serve sources that enumerate splits in
	// rounds (dag.DynamicSource).
	IsDynamic(vertex int) bool
	MoreSplits(ctx context.Context, vertex, round int, finished []dag.FinishedSplit) ([]dag.Split, bool, error)
}

// IsDynamic implements JobCode.
func (c PlanCode) IsDynamic(vertex int) bool { return c.Plan.IsDynamic(vertex) }

// MoreSplits implements JobCode.
func (c PlanCode) MoreSplits(ctx context.Context, vertex, round int, finished []dag.FinishedSplit) ([]dag.Split, bool, error) {
	return c.Plan.MoreSplits(ctx, vertex, round, finished)
}

// PlanCode is the JobCode of a plan built in this process.
type PlanCode struct{ Plan *dag.Plan }

// Splits implements JobCode.
func (c PlanCode) Splits(ctx context.Context, vertex int) ([]dag.Split, error) {
	return c.Plan.Splits(ctx, vertex)
}

// HasCommitter implements JobCode.
func (c PlanCode) HasCommitter(vertex int) bool {
	com, err := c.Plan.Committer(vertex)
	return err == nil && com != nil
}

// Commit implements JobCode.
func (c PlanCode) Commit(ctx context.Context, vertex int, committables [][]byte) error {
	com, err := c.Plan.Committer(vertex)
	if err != nil || com == nil {
		return err
	}
	return com.Commit(ctx, committables)
}

// Abort implements JobCode.
func (c PlanCode) Abort(ctx context.Context, vertex int, committables [][]byte) error {
	com, err := c.Plan.Committer(vertex)
	if err != nil || com == nil {
		return err
	}
	return com.Abort(ctx, committables)
}

// JobConfig tunes one job run.
type JobConfig struct {
	// ID is the job id (default: job name + start time).
	ID string
	// Restart is the restart strategy (default: 3 attempts, 200ms apart).
	Restart *scheduler.RestartStrategy
	// SlotWaitTimeout bounds waiting for slots a region needs.
	SlotWaitTimeout time.Duration
	// Progress, when set, is called about every ProgressInterval.
	Progress         func(Progress)
	ProgressInterval time.Duration
	Logger           *slog.Logger
	// Restore is a checkpoint or savepoint the job starts from.
	Restore *checkpoint.Metadata
	// CheckpointStore keeps completed checkpoints (default: the plan's
	// checkpoint directory, or memory when it has none).
	CheckpointStore CheckpointStore
	// AllowNonRestored lets Restore hold state of vertices the job no
	// longer has (it is dropped).
	AllowNonRestored bool
	// Started, when set, is called with the job master before it runs.
	Started func(*JobMaster)
	// Observer, when set, receives checkpoint outcomes and deployment
	// latencies for metrics (JobMetrics.Observer).
	Observer JobObserver
}

// Progress is a snapshot of a running job.
type Progress struct {
	Elapsed    time.Duration
	Splits     SplitProgress
	RecordsIn  int64 // records read by sources
	Throughput float64
	Restarts   int
}

// VertexResult holds the final counters of a vertex.
type VertexResult struct {
	ID          int    `json:"id"`
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Parallelism int    `json:"parallelism"`
	RecordsIn   int64  `json:"recordsIn"`
	RecordsOut  int64  `json:"recordsOut"`
	LateDropped int64  `json:"lateDropped"`
	// BackPressureNanos is time spent blocked on full exchange queues,
	// summed over subtasks.
	BackPressureNanos int64 `json:"backPressureNanos"`
	// BytesOut is encoded bytes written to network edges.
	BytesOut int64 `json:"bytesOut"`
}

// JobResult is the outcome of a finished job.
type JobResult struct {
	Job       string
	Duration  time.Duration
	Vertices  []VertexResult
	Restarts  int
	Failovers []scheduler.Failover
	// Checkpoints is the checkpoint history (the last ones).
	Checkpoints []CheckpointStats
}

// Vertex returns the result of the vertex with the given name.
func (r *JobResult) Vertex(name string) (VertexResult, bool) {
	for _, v := range r.Vertices {
		if v.Name == name {
			return v, true
		}
	}
	return VertexResult{}, false
}

// ErrJobFailed wraps the reason of a failed job.
var ErrJobFailed = errors.New("job failed")

// execution is the current attempt of a task.
type execution struct {
	attempt int
	// restoredFrom is the checkpoint the attempt was restored from.
	restoredFrom int64
	worker       string
	location     string
	// outLocs: where the attempt's outputs stored by an external shuffle
	// service live, by edge (from its TaskStatus; location otherwise).
	outLocs map[int]string
}

// JobMaster runs one job on a set of workers.
type JobMaster struct {
	plan    *dag.Plan
	code    JobCode
	cfg     JobConfig
	log     *slog.Logger
	workers map[string]WorkerGateway
	order   []string
	splits  *SplitCoordinator
	sched   *scheduler.Scheduler
	exec    map[scheduler.TaskID]*execution
	locs    map[string]string // worker -> location of its outputs
	// ckpt coordinates checkpoints and sink commits; ckptRegion marks the
	// plan tasks that take part in checkpoints.
	ckpt       *coordinator
	ckptRegion map[int]bool

	// statusMu guards the scheduler against status readers.
	statusMu sync.Mutex
	start    time.Time
	// ended is set when Run returned: output is committed (or aborted).
	ended bool

	mu      sync.Mutex
	reports []worker.TaskStatus
	notify  chan struct{}
	lost    []string
	rejoin  []string
	// shuffleLost are locations of external shuffle services that died.
	shuffleLost []string
	ckptReports []worker.CheckpointReport
	// finishing: the job finished while a checkpoint was pending or an
	// acknowledgement was in flight.
	finishing   bool
	finishSince time.Time
	// lastTaken is the last barrier each finished task took; reported the
	// last checkpoint it reported on. Until they match, the task's
	// acknowledgement is in flight.
	lastTaken map[scheduler.TaskID]int64
	reported  map[scheduler.TaskID]int64
	spReqs    []*savepointReq
	joined    []WorkerGateway
}

// WorkerJoined adds a worker (or a restarted one under its old name) to
// the job's pool.
func (jm *JobMaster) WorkerJoined(gw WorkerGateway) {
	jm.mu.Lock()
	jm.joined = append(jm.joined, gw)
	jm.mu.Unlock()
	jm.wake()
}

// NewJobMaster prepares a job: it enumerates source splits (failing fast
// on bad inputs) and builds the scheduler.
func NewJobMaster(ctx context.Context, plan *dag.Plan, code JobCode, workers []WorkerGateway, cfg JobConfig) (*JobMaster, error) {
	if cfg.ID == "" {
		cfg.ID = fmt.Sprintf("%s-%d", plan.Job, time.Now().UnixNano())
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ProgressInterval == 0 {
		cfg.ProgressInterval = time.Second
	}
	restart := scheduler.FixedDelay(3, 200*time.Millisecond)
	if cfg.Restart != nil {
		restart = *cfg.Restart
	}
	sched, err := scheduler.New(plan.Topology(), scheduler.Config{Restart: restart, SlotWaitTimeout: cfg.SlotWaitTimeout})
	if err != nil {
		return nil, fmt.Errorf("master: schedule job %s: %w", plan.Job, err)
	}
	if md := cfg.Restore; md != nil && md.MaxParallelism != 0 && md.MaxParallelism != plan.Config.MaxParallelism {
		return nil, dag.Fatal(fmt.Errorf("master: job %s has max parallelism %d but checkpoint %d was taken with %d: key groups cannot be redistributed",
			plan.Job, plan.Config.MaxParallelism, md.ID, md.MaxParallelism))
	}
	if cfg.Restore != nil {
		if err := CheckRestore(cfg.Restore, plan, cfg.AllowNonRestored); err != nil {
			return nil, err
		}
	}
	splits, err := newSplitCoordinator(ctx, plan, code, cfg.Restore)
	if err != nil {
		return nil, err
	}
	store := cfg.CheckpointStore
	if store == nil {
		if store, err = defaultCheckpointStore(plan, cfg.ID, cfg.Logger); err != nil {
			return nil, err
		}
	}
	jm := &JobMaster{
		plan: plan, code: code, cfg: cfg, locs: make(map[string]string), log: cfg.Logger.With("job", cfg.ID), workers: make(map[string]WorkerGateway),
		splits: splits, sched: sched, exec: make(map[scheduler.TaskID]*execution),
		notify: make(chan struct{}, 1), ckptRegion: computeCheckpointedTasks(plan),
		lastTaken: make(map[scheduler.TaskID]int64), reported: make(map[scheduler.TaskID]int64),
		ckpt: newCoordinator(plan.Config.Checkpoint, store, cfg.Restore),
	}
	for _, w := range workers {
		jm.workers[w.Name()] = w
		jm.order = append(jm.order, w.Name())
	}
	sort.Strings(jm.order)
	return jm, nil
}

// ID returns the job id.
func (jm *JobMaster) ID() string { return jm.cfg.ID }

// Splits returns the job's split coordinator (workers pull from it).
func (jm *JobMaster) Splits() *SplitCoordinator { return jm.splits }

// Report delivers a task outcome from a worker. It never blocks.
func (jm *JobMaster) Report(st worker.TaskStatus) {
	jm.mu.Lock()
	jm.reports = append(jm.reports, st)
	jm.mu.Unlock()
	jm.wake()
}

// WorkerLost tells the job master that a worker is gone.
func (jm *JobMaster) WorkerLost(name string) {
	jm.mu.Lock()
	jm.lost = append(jm.lost, name)
	jm.mu.Unlock()
	jm.wake()
}

func (jm *JobMaster) wake() {
	select {
	case jm.notify <- struct{}{}:
	default:
	}
}

// Run executes the job until it finishes, fails or ctx is cancelled (which
// cancels the job). Sink output is committed only when the job succeeded.
func (jm *JobMaster) Run(ctx context.Context) (*JobResult, error) {
	start := time.Now()
	var actions []scheduler.Action
	for _, name := range jm.order {
		actions = append(actions, jm.step(scheduler.WorkerJoined{Now: time.Now(), Worker: name, Slots: jm.workers[name].Slots()})...)
	}
	jm.statusMu.Lock()
	jm.start = start
	actions = append(actions, jm.sched.Start(time.Now())...)
	jm.statusMu.Unlock()
	if md := jm.cfg.Restore; md != nil && len(md.Committables) > 0 {
		// The job may have stopped before committing the restored
		// checkpoint's output: commit it again (commits are idempotent).
		if err := jm.commitAll(ctx, md.Committables); err != nil {
			return nil, fmt.Errorf("%w: %s: commit output of restored checkpoint %d: %v", ErrJobFailed, jm.plan.Job, md.ID, err)
		}
	}
	progress := time.NewTicker(jm.cfg.ProgressInterval)
	defer progress.Stop()
	ckptTick := time.NewTicker(jm.checkpointTick())
	defer ckptTick.Stop()
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	canceled := false
	for {
		outcome, err := jm.execute(ctx, actions)
		if outcome == nil && err == nil && jm.finishing && jm.ckpt.pending == nil {
			if !jm.unsettled() {
				outcome, err = jm.finish(ctx)
			} else if time.Since(jm.finishSince) > jm.ckpt.cfg.Timeout {
				err = fmt.Errorf("%w: %s: checkpoint acknowledgements of finished tasks did not arrive within %s", ErrJobFailed, jm.plan.Job, jm.ckpt.cfg.Timeout)
				jm.abortAll()
			}
		}
		if outcome != nil || err != nil {
			if outcome != nil {
				outcome.Duration = time.Since(start)
			}
			jm.statusMu.Lock()
			jm.ended = true
			jm.statusMu.Unlock()
			return outcome, err
		}
		actions = nil
		if t, ok := jm.sched.NextWakeup(); ok {
			wake.Reset(time.Until(t))
		} else {
			wake.Reset(time.Hour)
		}
		var done <-chan struct{}
		if !canceled {
			done = ctx.Done()
		}
		select {
		case <-jm.notify:
		case <-wake.C:
			actions = jm.step(scheduler.Tick{Now: time.Now()})
		case <-done:
			canceled = true
			actions = jm.step(scheduler.CancelJob{Now: time.Now()})
		case <-progress.C:
			if jm.cfg.Progress != nil {
				jm.cfg.Progress(jm.progress(start))
			}
			continue
		case now := <-ckptTick.C:
			jm.maybeTrigger(ctx, now)
			continue
		}
		jm.mu.Lock()
		reports, lost, rejoin, shuffleLost := jm.reports, jm.lost, jm.rejoin, jm.shuffleLost
		jm.reports, jm.lost, jm.rejoin, jm.shuffleLost = nil, nil, nil, nil
		ckptReports, spReqs, joined := jm.ckptReports, jm.spReqs, jm.joined
		jm.ckptReports, jm.spReqs, jm.joined = nil, nil, nil
		jm.mu.Unlock()
		for _, rep := range ckptReports {
			jm.onCheckpointReport(ctx, rep)
		}
		if len(spReqs) > 0 {
			jm.ckpt.savepoints = append(jm.ckpt.savepoints, spReqs...)
			jm.maybeTrigger(ctx, time.Now())
		}
		if len(lost) > 0 || len(shuffleLost) > 0 {
			jm.abortCheckpoint(ctx, "a worker was lost")
		}
		for _, loc := range shuffleLost {
			actions = append(actions, jm.onShuffleLost(loc)...)
		}
		for _, name := range lost {
			delete(jm.locs, name)
			actions = append(actions, jm.step(scheduler.WorkerLost{Now: time.Now(), Worker: name})...)
		}
		for _, name := range rejoin {
			if w, ok := jm.workers[name]; ok {
				actions = append(actions, jm.step(scheduler.WorkerJoined{Now: time.Now(), Worker: name, Slots: w.Slots()})...)
			}
		}
		for _, gw := range joined {
			name := gw.Name()
			jm.statusMu.Lock()
			if _, known := jm.workers[name]; !known {
				jm.order = append(append([]string(nil), jm.order...), name)
				sortStrings(jm.order)
			}
			jm.workers[name] = gw
			jm.statusMu.Unlock()
			delete(jm.locs, name)
			actions = append(actions, jm.step(scheduler.WorkerJoined{Now: time.Now(), Worker: name, Slots: gw.Slots()})...)
		}
		for _, st := range reports {
			actions = append(actions, jm.onStatus(st)...)
		}
	}
}

// step feeds one event to the scheduler.
func (jm *JobMaster) step(ev scheduler.Event) []scheduler.Action {
	jm.statusMu.Lock()
	defer jm.statusMu.Unlock()
	return jm.sched.Step(ev)
}

func (jm *JobMaster) onStatus(st worker.TaskStatus) []scheduler.Action {
	id := scheduler.TaskID{Vertex: st.ID.Task, Subtask: st.ID.Subtask}
	now := time.Now()
	switch {
	case st.Err == nil:
		if v := jm.plan.Tasks[st.ID.Task].Vertices[0]; jm.plan.Vertices[v].Kind == "source" {
			jm.splits.SubtaskFinished(v, st.ID.Subtask, st.Attempt)
		}
		if ex := jm.exec[id]; ex != nil && ex.attempt == st.Attempt {
			// The final output belongs after the last checkpoint the
			// attempt took.
			for vid, c := range st.Committables {
				jm.ckpt.addCommit(st.LastCheckpoint+1, vid, st.ID.Subtask, c)
			}
			if restored := ex.restoredFrom; st.LastCheckpoint > restored {
				jm.lastTaken[id] = st.LastCheckpoint
			}
			jm.taskFinishedDuringCheckpoint(context.Background(), id, st.Attempt, st.LastCheckpoint)
		}
		if ex := jm.exec[id]; ex != nil && ex.attempt == st.Attempt {
			ex.outLocs = st.Locations
		}
		return jm.step(scheduler.TaskFinished{Now: now, Task: id, Attempt: st.Attempt, External: st.External})
	case errors.Is(st.Err, context.Canceled):
		return jm.step(scheduler.TaskCanceled{Now: now, Task: id, Attempt: st.Attempt})
	default:
		jm.abortCheckpoint(context.Background(), fmt.Sprintf("task %v failed", id))
		var re *worker.RestoreError
		if errors.As(st.Err, &re) && !jm.restoreFailed(re.Checkpoint, st.Err.Error()) {
			return jm.step(scheduler.TaskFailed{Now: now, Task: id, Attempt: st.Attempt, Retriable: false,
				Err: fmt.Sprintf("%v; no older checkpoint is retained to fall back to", st.Err)})
		}
		if lost := lostProducer(st.Err); lost != nil {
			if e, ok := jm.producerOf(*lost); ok {
				out := jm.step(scheduler.ResultLost{Now: now, Task: e, Attempt: lost.Attempt})
				return append(out, jm.step(scheduler.TaskFailed{Now: now, Task: id, Attempt: st.Attempt, Err: st.Err.Error(), Retriable: true})...)
			}
		}
		return jm.step(scheduler.TaskFailed{Now: now, Task: id, Attempt: st.Attempt, Err: st.Err.Error(), Retriable: !dag.IsFatal(st.Err)})
	}
}

// execute carries out actions. It returns a result or error when the job
// ended.
func (jm *JobMaster) execute(ctx context.Context, actions []scheduler.Action) (*JobResult, error) {
	decided := time.Now() // the scheduler's deploy decisions are in actions
	var failed []scheduler.Action
	for _, a := range actions {
		d, ok := a.(scheduler.Deploy)
		if !ok {
			continue
		}
		loc, ok := jm.locs[d.Worker]
		if !ok {
			var err error
			if loc, err = jm.workers[d.Worker].Prepare(ctx, jm.cfg.ID); err != nil {
				failed = append(failed, jm.step(scheduler.TaskFailed{Now: time.Now(), Task: d.Task, Attempt: d.Attempt,
					Err: fmt.Sprintf("prepare worker %s: %v", d.Worker, err), Retriable: !dag.IsFatal(err)})...)
				continue
			}
			jm.locs[d.Worker] = loc
		}
		jm.exec[d.Task] = &execution{attempt: d.Attempt, worker: d.Worker, location: loc}
	}
	for _, a := range actions {
		switch a := a.(type) {
		case scheduler.Deploy:
			if ex := jm.exec[a.Task]; ex == nil || ex.attempt != a.Attempt {
				continue // preparing its worker failed
			}
			dep := jm.deployment(a)
			dep.Restore = jm.restoreFor(a.Task)
			if dep.Restore != nil {
				dep.Restore.AllowNonRestored = jm.cfg.AllowNonRestored
			}
			var from int64
			if dep.Restore != nil {
				from = dep.Restore.Checkpoint
			}
			jm.log.Debug("deploy", "task", a.Task, "attempt", a.Attempt, "restore", from, "finished", dep.Restore != nil && dep.Restore.Finished)
			jm.abortSinkAttempt(ctx, a.Task, from)
			jm.exec[a.Task].restoredFrom = from
			delete(jm.lastTaken, a.Task)
			if v := jm.plan.Tasks[a.Task.Vertex].Vertices[0]; jm.plan.Vertices[v].Kind == "source" && a.Attempt > 0 {
				jm.splits.Restart(v, a.Task.Subtask, a.Attempt, from)
			}
			w := jm.workers[a.Worker]
			if err := w.Deploy(ctx, dep); err != nil {
				failed = append(failed, jm.step(scheduler.TaskFailed{Now: time.Now(), Task: a.Task, Attempt: a.Attempt, Err: err.Error(), Retriable: true})...)
			} else {
				// The worker accepted the task: it runs (its outcome comes later).
				jm.observeDeploy(decided)
				failed = append(failed, jm.step(scheduler.TaskRunning{Now: time.Now(), Task: a.Task, Attempt: a.Attempt})...)
			}
		case scheduler.Cancel:
			if w, ok := jm.workers[a.Worker]; ok {
				w.Cancel(jm.cfg.ID, worker.TaskID{Task: a.Task.Vertex, Subtask: a.Task.Subtask}, a.Attempt)
			}
		case scheduler.JobFinished:
			if jm.ckpt.pending != nil || jm.unsettled() {
				// Tasks took a checkpoint barrier and then finished: wait
				// for their acknowledgements (their sinks' committables)
				// before the final commit.
				jm.finishing, jm.finishSince = true, time.Now()
				continue
			}
			return jm.finish(ctx)
		case scheduler.JobFailed:
			jm.abortAll()
			return nil, fmt.Errorf("%w: %s: %s", ErrJobFailed, jm.plan.Job, a.Reason)
		case scheduler.JobCanceled:
			jm.abortAll()
			err := context.Cause(ctx)
			if err == nil {
				err = context.Canceled
			}
			return nil, fmt.Errorf("job %s canceled: %w", jm.plan.Job, err)
		}
	}
	if len(failed) > 0 {
		return jm.execute(ctx, failed)
	}
	return nil, nil
}

// finish commits all remaining sink output of a finished job.
func (jm *JobMaster) finish(ctx context.Context) (*JobResult, error) {
	jm.finishing = false
	if err := jm.commitAll(ctx, jm.ckpt.takeCommits(1<<62)); err != nil {
		return nil, fmt.Errorf("%w: %s: commit output: %v", ErrJobFailed, jm.plan.Job, err)
	}
	return jm.result(), nil
}

// deployment builds the descriptor of a deploy decision.
func (jm *JobMaster) deployment(d scheduler.Deploy) worker.TaskDeployment {
	dep := worker.TaskDeployment{Job: jm.cfg.ID, ID: worker.TaskID{Task: d.Task.Vertex, Subtask: d.Task.Subtask}, Attempt: d.Attempt}
	pt := jm.plan.Tasks[d.Task.Vertex]
	for _, eid := range pt.Inputs {
		e := jm.plan.Edges[eid]
		prod := jm.plan.Tasks[jm.plan.Vertices[e.From].Task]
		gate := worker.InputGate{Edge: eid, Input: e.Input, Blocking: e.Mode == dag.Blocking}
		addChannel := func(producer, sub int) {
			ex := jm.exec[scheduler.TaskID{Vertex: prod.ID, Subtask: producer}]
			ch := worker.InputChannel{From: sub, To: sub + 1}
			ch.Partition = shuffle.PartitionID{Job: jm.cfg.ID, Result: resultID(eid), Producer: producer}
			if ex != nil {
				ch.Partition.Attempt, ch.Location = ex.attempt, ex.location
				if loc, ok := ex.outLocs[eid]; ok {
					ch.Location = loc
				}
			}
			gate.Channels = append(gate.Channels, ch)
		}
		if e.Partitioner == dag.Forward {
			addChannel(d.Task.Subtask, 0)
		} else {
			for i := 0; i < prod.Parallelism; i++ {
				addChannel(i, d.Task.Subtask)
			}
		}
		dep.Inputs = append(dep.Inputs, gate)
	}
	for _, eid := range pt.Outputs {
		e := jm.plan.Edges[eid]
		subs := jm.plan.Vertices[e.To].Parallelism
		if e.Partitioner == dag.Forward {
			subs = 1
		}
		mode := shuffle.Pipelined
		if e.Mode == dag.Blocking {
			mode = shuffle.Blocking
		}
		dep.Outputs = append(dep.Outputs, worker.OutputPartition{
			Edge: eid, Mode: mode, Subpartitions: subs,
			Partition: shuffle.PartitionID{Job: jm.cfg.ID, Result: resultID(eid), Producer: d.Task.Subtask, Attempt: d.Attempt},
		})
	}
	return dep
}

func resultID(edge int) string { return fmt.Sprintf("e%d", edge) }

// lostProducer extracts the partition a consumer could not read.
func lostProducer(err error) *shuffle.PartitionID {
	var pe *worker.InputError
	if errors.As(err, &pe) && (errors.Is(err, shuffle.ErrNotExist) || errors.Is(err, shuffle.ErrCorrupt)) {
		return &pe.Partition
	}
	return nil
}

// producerOf maps a partition to its producer task.
func (jm *JobMaster) producerOf(p shuffle.PartitionID) (scheduler.TaskID, bool) {
	var eid int
	if _, err := fmt.Sscanf(p.Result, "e%d", &eid); err != nil || eid < 0 || eid >= len(jm.plan.Edges) {
		return scheduler.TaskID{}, false
	}
	return scheduler.TaskID{Vertex: jm.plan.Vertices[jm.plan.Edges[eid].From].Task, Subtask: p.Producer}, true
}

// abortSinkAttempt discards what a sink task that is about to run again
// prepared after checkpoint from (all of it when from is 0).
func (jm *JobMaster) abortSinkAttempt(ctx context.Context, id scheduler.TaskID, from int64) {
	for _, vid := range jm.plan.Tasks[id.Vertex].Vertices {
		c := jm.ckpt.dropCommits(vid, id.Subtask, from)
		if len(c) == 0 || !jm.code.HasCommitter(vid) {
			continue
		}
		if err := jm.code.Abort(ctx, vid, c); err != nil {
			jm.log.Warn("abort previous sink attempt", "vertex", vid, "err", err)
		}
	}
}

func (jm *JobMaster) abortAll() {
	ctx := context.Background()
	jm.abortCheckpoint(ctx, "job ended")
	for vid, c := range jm.ckpt.takeCommits(1 << 62) {
		if !jm.code.HasCommitter(vid) {
			continue
		}
		if err := jm.code.Abort(ctx, vid, c); err != nil {
			jm.log.Warn("abort sink output", "vertex", vid, "err", err)
		}
	}
}

func sortStrings(s []string) { sort.Strings(s) }

func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

// gateways returns the job's workers in name order.
func (jm *JobMaster) gateways() []WorkerGateway {
	jm.statusMu.Lock()
	defer jm.statusMu.Unlock()
	out := make([]WorkerGateway, 0, len(jm.order))
	for _, name := range jm.order {
		out = append(out, jm.workers[name])
	}
	return out
}

// metrics sums the counters of every worker per vertex.
func (jm *JobMaster) metrics() []VertexResult {
	res := make([]VertexResult, len(jm.plan.Vertices))
	for i, v := range jm.plan.Vertices {
		res[i] = VertexResult{ID: v.ID, Name: v.Name, Kind: v.Kind, Parallelism: v.Parallelism}
	}
	for _, w := range jm.gateways() {
		for _, m := range w.Metrics(jm.cfg.ID) {
			if m.Vertex < 0 || m.Vertex >= len(res) {
				continue
			}
			r := &res[m.Vertex]
			r.RecordsIn += m.RecordsIn
			r.RecordsOut += m.RecordsOut
			r.LateDropped += m.LateDropped
			r.BackPressureNanos += m.BackPressureNanos
			r.BytesOut += m.BytesOut
		}
	}
	return res
}

func (jm *JobMaster) progress(start time.Time) Progress {
	p := Progress{Elapsed: time.Since(start), Splits: jm.splits.Progress(), Restarts: jm.sched.Restarts()}
	for _, v := range jm.metrics() {
		if v.Kind == "source" {
			p.RecordsIn += v.RecordsOut
		}
	}
	if s := p.Elapsed.Seconds(); s > 0 {
		p.Throughput = float64(p.RecordsIn) / s
	}
	return p
}

func (jm *JobMaster) result() *JobResult {
	return &JobResult{Job: jm.cfg.ID, Vertices: jm.metrics(), Restarts: jm.sched.Restarts(), Failovers: jm.sched.Failovers(),
		Checkpoints: append([]CheckpointStats(nil), jm.ckpt.history...)}
}

// ShuffleServiceLost tells the job master that the external shuffle
// service at location died: the results it held are lost, and the producers
// of those a consumer still needs rerun.
func (jm *JobMaster) ShuffleServiceLost(location string) {
	jm.mu.Lock()
	jm.shuffleLost = append(jm.shuffleLost, location)
	jm.mu.Unlock()
	jm.wake()
}

// onShuffleLost reports every finished producer attempt with an output at
// location as a lost result.
func (jm *JobMaster) onShuffleLost(location string) []scheduler.Action {
	ids := make([]scheduler.TaskID, 0, len(jm.exec))
	for id := range jm.exec {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool {
		if ids[a].Vertex != ids[b].Vertex {
			return ids[a].Vertex < ids[b].Vertex
		}
		return ids[a].Subtask < ids[b].Subtask
	})
	var lost []scheduler.LostResult
	for _, id := range ids {
		ex := jm.exec[id]
		for _, loc := range ex.outLocs {
			if loc == location {
				lost = append(lost, scheduler.LostResult{Task: id, Attempt: ex.attempt})
				break
			}
		}
	}
	if len(lost) == 0 {
		return nil
	}
	jm.log.Warn("shuffle service lost with results", "location", location, "results", len(lost))
	// One event: the producers rerun in a single failover.
	return jm.step(scheduler.ResultsLost{Now: time.Now(), Results: lost})
}

// ExecutorLost tells the job master that its executor on a worker died:
// the worker's tasks and results of this job are lost, but the worker may
// run the job again.
func (jm *JobMaster) ExecutorLost(worker string) {
	jm.mu.Lock()
	jm.lost = append(jm.lost, worker)
	jm.rejoin = append(jm.rejoin, worker)
	jm.mu.Unlock()
	jm.wake()
}
