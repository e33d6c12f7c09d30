package master

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/dagflow/dagflow/coordinator"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/internal/protocol"
	"github.com/dagflow/dagflow/scheduler"
	"github.com/dagflow/dagflow/shuffle"
)

// WorkerGateway is how the job master reaches one worker.
type WorkerGateway interface {
	Name() string
	Slots() int
	// Prepare readies the worker for the job (in a cluster: starts the
	// job's executor) and returns the location its task outputs are read
	// from.
	Prepare(ctx context.Context, job string) (location string, err error)
	Deploy(ctx context.Context, dep protocol.TaskDeployment) error
	Cancel(job string, id protocol.TaskID, attempt int)
	Metrics(job string) []protocol.VertexMetrics
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
func (c PlanCode) IsDynamic(vertex int) bool { return c.Plan.Engine().IsDynamic(vertex) }

// MoreSplits implements JobCode.
func (c PlanCode) MoreSplits(ctx context.Context, vertex, round int, finished []dag.FinishedSplit) ([]dag.Split, bool, error) {
	return c.Plan.Engine().MoreSplits(ctx, vertex, round, finished)
}

// PlanCode is the JobCode of a plan built in this process.
type PlanCode struct{ Plan *dag.Plan }

// Splits implements JobCode.
func (c PlanCode) Splits(ctx context.Context, vertex int) ([]dag.Split, error) {
	return c.Plan.Engine().Splits(ctx, vertex)
}

// HasCommitter implements JobCode.
func (c PlanCode) HasCommitter(vertex int) bool {
	com, err := c.Plan.Engine().Committer(vertex)
	return err == nil && com != nil
}

// Commit implements JobCode.
func (c PlanCode) Commit(ctx context.Context, vertex int, committables [][]byte) error {
	com, err := c.Plan.Engine().Committer(vertex)
	if err != nil || com == nil {
		return err
	}
	return com.Commit(ctx, committables)
}

// Abort implements JobCode.
func (c PlanCode) Abort(ctx context.Context, vertex int, committables [][]byte) error {
	com, err := c.Plan.Engine().Committer(vertex)
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
	// Clock is the job master's time and timers (default: the system
	// clock).
	Clock Clock
	// Observer, when set, receives checkpoint outcomes and deployment
	// latencies for metrics (JobMetrics.Observer).
	Observer JobObserver
	// Adopt, when set, continues a job whose tasks kept running through a
	// master failover with the attempts the workers reported, instead of
	// deploying it (Restore is then the job's latest completed checkpoint,
	// if any). NewJobMaster fails with an error wrapping
	// scheduler.ErrNotReconciled when the reports cannot be continued from.
	Adopt *Adoption
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
	attempt  int
	worker   string
	location string
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
	// execVersion counts the changes to exec per plan task (producer
	// attempts, locations); shared caches the input channels of
	// all-to-all edges, valid while the producer's version is unchanged.
	execVersion map[int]uint64
	shared      map[int]sharedChannels
	locs        map[string]string // worker -> location of its outputs
	// ckpt drives the checkpoint coordinator (checkpoints and sink
	// commits); ckptRegion marks the plan tasks that take part in
	// checkpoints.
	ckpt       *ckptDriver
	ckptRegion map[int]bool

	// statusMu guards the scheduler against status readers.
	statusMu sync.Mutex
	start    time.Time
	// ended is set when Run returned: output is committed (or aborted).
	ended bool

	// clock is the job loop's time; inbox its events from other
	// goroutines.
	clock Clock
	inbox *inbox
	// adopted holds, for a job adopted after a master failover
	// (JobConfig.Adopt), the actions the adoption decided; nil otherwise.
	adopted []scheduler.Action
}

// WorkerJoined adds a worker (or a restarted one under its old name) to
// the job's pool.
func (jm *JobMaster) WorkerJoined(gw WorkerGateway) {
	jm.inbox.push(workerJoined{gw: gw})
}

// NewJobMaster prepares a job: it enumerates source splits (failing fast
// on bad inputs) and builds the scheduler.
func NewJobMaster(ctx context.Context, plan *dag.Plan, code JobCode, workers []WorkerGateway, cfg JobConfig) (*JobMaster, error) {
	clock := cfg.Clock
	if clock == nil {
		clock = systemClock{}
	}
	if cfg.ID == "" {
		cfg.ID = fmt.Sprintf("%s-%d", plan.Job, clock.Now().UnixNano())
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
	sched, err := scheduler.New(plan.Engine().Topology(), scheduler.Config{Restart: restart, SlotWaitTimeout: cfg.SlotWaitTimeout})
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
		execVersion: make(map[int]uint64), shared: make(map[int]sharedChannels),
		clock: clock, inbox: newInbox(), ckptRegion: computeCheckpointedTasks(plan),
		ckpt: &ckptDriver{c: coordinator.New(plan.Config.Checkpoint, cfg.Restore), store: store, savepoints: make(map[int64]*savepointReq)},
	}
	for _, w := range workers {
		jm.workers[w.Name()] = w
		jm.order = append(jm.order, w.Name())
	}
	sort.Strings(jm.order)
	if cfg.Adopt != nil {
		if err := jm.adopt(cfg.Adopt); err != nil {
			return nil, err
		}
	}
	return jm, nil
}

// ID returns the job id.
func (jm *JobMaster) ID() string { return jm.cfg.ID }

// Splits returns the job's split coordinator (workers pull from it).
func (jm *JobMaster) Splits() *SplitCoordinator { return jm.splits }

// Report delivers a task outcome from a worker. It never blocks.
func (jm *JobMaster) Report(st protocol.TaskStatus) {
	jm.inbox.push(taskReport{st: st})
}

// WorkerLost tells the job master that a worker is gone.
func (jm *JobMaster) WorkerLost(name string) {
	jm.inbox.push(workerLost{name: name})
}

// Run executes the job until it finishes, fails or ctx is cancelled (which
// cancels the job). Sink output is committed only when the job succeeded.
func (jm *JobMaster) Run(ctx context.Context) (*JobResult, error) {
	start := jm.clock.Now()
	var actions []scheduler.Action
	if jm.cfg.Adopt != nil {
		// The workers joined and the scheduler adopted their attempts.
		actions = append(actions, jm.adopted...)
		jm.adopted = nil
	} else {
		for _, name := range jm.order {
			actions = append(actions, jm.step(scheduler.WorkerJoined{Now: start, Worker: name, Slots: jm.workers[name].Slots()})...)
		}
	}
	jm.statusMu.Lock()
	jm.start = start
	if jm.cfg.Adopt == nil {
		actions = append(actions, jm.sched.Start(start)...)
	}
	jm.statusMu.Unlock()
	// The job may have stopped before committing the restored checkpoint's
	// output: commit it again (commits are idempotent) before any task runs.
	if err := jm.commitRestored(ctx); err != nil {
		return nil, err
	}
	clk := jm.clock
	progress := clk.NewTimer(jm.cfg.ProgressInterval)
	defer progress.Stop()
	ckptTick := clk.NewTimer(jm.checkpointTick())
	defer ckptTick.Stop()
	wake := clk.NewTimer(time.Hour)
	defer wake.Stop()
	retry := clk.NewTimer(time.Hour)
	defer retry.Stop()
	canceled := false
	for {
		outcome, err := jm.execute(ctx, actions)
		if outcome == nil && err == nil {
			// The coordinator ends a finished job: its output is committed,
			// or it failed (acknowledgements did not arrive, a commit failed).
			if reason := jm.ckpt.failed; reason != "" {
				err = fmt.Errorf("%w: %s: %s", ErrJobFailed, jm.plan.Job, reason)
			} else if jm.ckpt.finished {
				outcome = jm.result()
			}
		}
		if outcome != nil || err != nil {
			if outcome != nil {
				outcome.Duration = clk.Now().Sub(start)
			}
			jm.statusMu.Lock()
			jm.ended = true
			jm.statusMu.Unlock()
			return outcome, err
		}
		actions = nil
		if t, ok := jm.sched.NextWakeup(); ok {
			wake.Reset(t.Sub(clk.Now()))
		} else {
			wake.Reset(time.Hour)
		}
		if t := jm.ckpt.retryAt; !t.IsZero() {
			retry.Reset(t.Sub(clk.Now()))
		} else {
			retry.Reset(time.Hour)
		}
		var done <-chan struct{}
		if !canceled {
			done = ctx.Done()
		}
		select {
		case <-jm.inbox.notify:
		case <-wake.C():
			actions = jm.step(scheduler.Tick{Now: clk.Now()})
		case <-done:
			canceled = true
			actions = jm.step(scheduler.CancelJob{Now: clk.Now()})
		case <-progress.C():
			progress.Reset(jm.cfg.ProgressInterval)
			if jm.cfg.Progress != nil {
				jm.cfg.Progress(jm.progress(start))
			}
			continue
		case now := <-ckptTick.C():
			ckptTick.Reset(jm.checkpointTick())
			jm.ckptStep(ctx, jm.ckptTick(now))
			continue
		case now := <-retry.C():
			jm.ckpt.retryAt = time.Time{}
			jm.ckptStep(ctx, coordinator.RetryDue{Now: now})
			continue
		}
		for _, ev := range jm.inbox.take() {
			actions = append(actions, jm.handle(ctx, ev)...)
		}
	}
}

// handle handles one event of the inbox.
func (jm *JobMaster) handle(ctx context.Context, ev inboxEvent) []scheduler.Action {
	now := jm.clock.Now()
	switch ev := ev.(type) {
	case taskReport:
		return jm.onStatus(ev.st)
	case checkpointReport:
		jm.onCheckpointReport(ctx, ev.rep)
	case savepointRequest:
		jm.requestSavepoint(ctx, ev.req)
	case shuffleServiceLost:
		jm.ckptStep(ctx, coordinator.WorkerLost{Now: now})
		return jm.onShuffleLost(ev.location)
	case workerLost:
		jm.ckptStep(ctx, coordinator.WorkerLost{Now: now})
		delete(jm.locs, ev.name)
		out := jm.step(scheduler.WorkerLost{Now: now, Worker: ev.name})
		if w, ok := jm.workers[ev.name]; ok && ev.rejoin {
			out = append(out, jm.step(scheduler.WorkerJoined{Now: now, Worker: ev.name, Slots: w.Slots()})...)
		}
		return out
	case workerJoined:
		name := ev.gw.Name()
		jm.statusMu.Lock()
		if _, known := jm.workers[name]; !known {
			jm.order = append(append([]string(nil), jm.order...), name)
			sortStrings(jm.order)
		}
		jm.workers[name] = ev.gw
		jm.statusMu.Unlock()
		delete(jm.locs, name)
		return jm.step(scheduler.WorkerJoined{Now: now, Worker: name, Slots: ev.gw.Slots()})
	}
	return nil
}

// step feeds one event to the scheduler.
func (jm *JobMaster) step(ev scheduler.Event) []scheduler.Action {
	jm.statusMu.Lock()
	defer jm.statusMu.Unlock()
	return jm.sched.Step(ev)
}

func (jm *JobMaster) onStatus(st protocol.TaskStatus) []scheduler.Action {
	id := st.ID
	now := jm.clock.Now()
	switch {
	case st.Err == nil:
		if v := jm.plan.Tasks[st.ID.Vertex].Vertices[0]; jm.plan.Vertices[v].Kind == "source" {
			jm.splits.SubtaskFinished(v, st.ID.Subtask, st.Attempt)
		}
		// The final output belongs after the last checkpoint the attempt
		// took; the coordinator ignores stale attempts.
		jm.ckptStep(context.Background(), coordinator.TaskFinished{Now: now, Task: id, Attempt: st.Attempt,
			LastCheckpoint: st.LastCheckpoint, Committables: st.Committables})
		if ex := jm.exec[id]; ex != nil && ex.attempt == st.Attempt {
			ex.outLocs = st.Locations
			jm.execVersion[id.Vertex]++
		}
		return jm.step(scheduler.TaskFinished{Now: now, Task: id, Attempt: st.Attempt, External: st.External})
	case errors.Is(st.Err, context.Canceled):
		return jm.step(scheduler.TaskCanceled{Now: now, Task: id, Attempt: st.Attempt})
	default:
		ev := coordinator.TaskFailed{Now: now, Task: id, Attempt: st.Attempt, Cause: st.Err.Error()}
		var re *protocol.RestoreError
		if errors.As(st.Err, &re) {
			ev.RestoreFailed, ev.Checkpoint = true, re.Checkpoint
		}
		jm.ckptStep(context.Background(), ev)
		if reason := jm.ckpt.failed; reason != "" {
			// No older checkpoint is retained to fall back to.
			jm.ckpt.failed = ""
			jm.log.Error("checkpoint cannot be restored and no older one is retained", "checkpoint", re.Checkpoint, "cause", st.Err)
			return jm.step(scheduler.TaskFailed{Now: now, Task: id, Attempt: st.Attempt, Retriable: false, Err: reason})
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
	decided := jm.clock.Now() // the scheduler's deploy decisions are in actions
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
				failed = append(failed, jm.step(scheduler.TaskFailed{Now: jm.clock.Now(), Task: d.Task, Attempt: d.Attempt,
					Err: fmt.Sprintf("prepare worker %s: %v", d.Worker, err), Retriable: !dag.IsFatal(err)})...)
				continue
			}
			jm.locs[d.Worker] = loc
		}
		jm.exec[d.Task] = &execution{attempt: d.Attempt, worker: d.Worker, location: loc}
		jm.execVersion[d.Task.Vertex]++
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
			// What the task's sinks prepared after the checkpoint it
			// restores is discarded.
			jm.ckptStep(ctx, coordinator.TaskDeployed{Now: jm.clock.Now(), Task: a.Task, Attempt: a.Attempt, RestoredFrom: from,
				Vertices: jm.plan.Tasks[a.Task.Vertex].Vertices})
			if v := jm.plan.Tasks[a.Task.Vertex].Vertices[0]; jm.plan.Vertices[v].Kind == "source" && a.Attempt > 0 {
				jm.splits.Restart(v, a.Task.Subtask, a.Attempt, from)
			}
			w := jm.workers[a.Worker]
			if err := w.Deploy(ctx, dep); err != nil {
				failed = append(failed, jm.step(scheduler.TaskFailed{Now: jm.clock.Now(), Task: a.Task, Attempt: a.Attempt, Err: err.Error(), Retriable: true})...)
			} else {
				// The worker accepted the task: it runs (its outcome comes later).
				jm.observeDeploy(decided)
				failed = append(failed, jm.step(scheduler.TaskRunning{Now: jm.clock.Now(), Task: a.Task, Attempt: a.Attempt})...)
			}
		case scheduler.Cancel:
			if w, ok := jm.workers[a.Worker]; ok {
				w.Cancel(jm.cfg.ID, a.Task, a.Attempt)
			}
		case scheduler.JobFinished:
			// The coordinator commits the output once no checkpoint is in
			// flight and every finished task's acknowledgement (its sinks'
			// committables) arrived; Run sees the outcome.
			jm.ckptStep(ctx, coordinator.JobFinishing{Now: jm.clock.Now()})
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

// deployment builds the descriptor of a deploy decision.
func (jm *JobMaster) deployment(d scheduler.Deploy) protocol.TaskDeployment {
	dep := protocol.TaskDeployment{Job: jm.cfg.ID, ID: d.Task, Attempt: d.Attempt, Slot: d.Slot}
	pt := jm.plan.Tasks[d.Task.Vertex]
	for _, eid := range pt.Inputs {
		e := jm.plan.Edges[eid]
		prod := jm.plan.Tasks[jm.plan.Vertices[e.From].Task]
		gate := protocol.InputGate{Edge: eid, Input: e.Input, Blocking: e.Mode == dag.Blocking}
		addChannel := func(producer, sub int) {
			ex := jm.exec[scheduler.TaskID{Vertex: prod.ID, Subtask: producer}]
			ch := protocol.InputChannel{From: sub, To: sub + 1}
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
			// Every consumer reads the same producers: share one slice
			// and give the gate the consumer's subpartition.
			gate.Channels = jm.sharedChannels(eid, prod.ID, prod.Parallelism)
			gate.SubpartitionFrom, gate.SubpartitionTo = d.Task.Subtask, d.Task.Subtask+1
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
		dep.Outputs = append(dep.Outputs, protocol.OutputPartition{
			Edge: eid, Mode: mode, Subpartitions: subs,
			Partition: shuffle.PartitionID{Job: jm.cfg.ID, Result: resultID(eid), Producer: d.Task.Subtask, Attempt: d.Attempt},
		})
	}
	return dep
}

// sharedChannels is the cached channel list of an all-to-all edge.
type sharedChannels struct {
	version  uint64
	channels []protocol.InputChannel
}

// sharedChannels returns the input channels of all-to-all edge eid, one
// per subtask of producer task prod, without subpartition ranges (the
// gate carries the consumer's). The slice is shared by every deployment
// until a producer attempt or location changes, and must not be modified.
func (jm *JobMaster) sharedChannels(eid, prod, parallelism int) []protocol.InputChannel {
	version := jm.execVersion[prod]
	if c, ok := jm.shared[eid]; ok && c.version == version {
		return c.channels
	}
	result := resultID(eid)
	chans := make([]protocol.InputChannel, parallelism)
	for i := range chans {
		ch := &chans[i]
		ch.Partition = shuffle.PartitionID{Job: jm.cfg.ID, Result: result, Producer: i}
		if ex := jm.exec[scheduler.TaskID{Vertex: prod, Subtask: i}]; ex != nil {
			ch.Partition.Attempt, ch.Location = ex.attempt, ex.location
			if loc, ok := ex.outLocs[eid]; ok {
				ch.Location = loc
			}
		}
	}
	jm.shared[eid] = sharedChannels{version: version, channels: chans}
	return chans
}

func resultID(edge int) string { return fmt.Sprintf("e%d", edge) }

// lostProducer extracts the partition a consumer could not read.
func lostProducer(err error) *shuffle.PartitionID {
	var pe *protocol.InputError
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

// abortAll aborts the checkpoint in progress and discards all pending sink
// output of a job that failed or was canceled.
func (jm *JobMaster) abortAll() {
	jm.ckptStep(context.Background(), coordinator.JobAborted{Now: jm.clock.Now()})
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
	p := Progress{Elapsed: jm.clock.Now().Sub(start), Splits: jm.splits.Progress(), Restarts: jm.sched.Restarts()}
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
		Checkpoints: jm.Checkpoints()}
}

// ShuffleServiceLost tells the job master that the external shuffle
// service at location died: the results it held are lost, and the producers
// of those a consumer still needs rerun.
func (jm *JobMaster) ShuffleServiceLost(location string) {
	jm.inbox.push(shuffleServiceLost{location: location})
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
	return jm.step(scheduler.ResultsLost{Now: jm.clock.Now(), Results: lost})
}

// ExecutorLost tells the job master that its executor on a worker died:
// the worker's tasks and results of this job are lost, but the worker may
// run the job again.
func (jm *JobMaster) ExecutorLost(worker string) {
	jm.inbox.push(workerLost{name: worker, rejoin: true})
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sortStrings(names)
	return names
}
