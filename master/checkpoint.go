package master

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/dagflow/dagflow/coordinator"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/internal/protocol"
	"github.com/dagflow/dagflow/internal/restore"
	"github.com/dagflow/dagflow/scheduler"
)

// The checkpoint coordinator's decisions live in package coordinator; this
// file is its driver on the job master's goroutine: it feeds events
// (ticks, reports, task outcomes, the outcomes of its own I/O) and carries
// out the actions (trigger RPCs, storage writes, commits, notifications).

// CheckpointStore keeps the metadata of completed checkpoints.
type CheckpointStore interface {
	// Complete makes checkpoint md durable and discards those it subsumes.
	Complete(ctx context.Context, md *checkpoint.Metadata) error
	// Abort discards the files of a checkpoint that did not complete.
	Abort(ctx context.Context, id int64) error
	// WriteSavepoint writes a self-contained copy of md under dir and
	// returns its location.
	WriteSavepoint(ctx context.Context, md *checkpoint.Metadata, dir string) (string, error)
}

// CheckpointStats describes one checkpoint for status pages.
type CheckpointStats struct {
	ID     int64  `json:"id"`
	Kind   string `json:"kind"`
	Status string `json:"status"` // completed, aborted, in_progress
	Reason string `json:"reason,omitempty"`
	// Triggered is when it started; Duration until completion.
	Triggered time.Time     `json:"triggered"`
	Duration  time.Duration `json:"duration"`
	// Size is the state size, Incremental what this checkpoint uploaded,
	// Files the files it created.
	Size        int64 `json:"size"`
	Incremental int64 `json:"incremental"`
	Files       int   `json:"files"`
	// Alignment is the longest barrier alignment of any task.
	Alignment time.Duration `json:"alignment"`
	Tasks     int           `json:"tasks"`
	// Location of a savepoint.
	Location string `json:"location,omitempty"`
}

// savepointReq is a savepoint asked for by a client.
type savepointReq struct {
	dir   string
	kind  engine.BarrierKind
	reply chan savepointResult
}

type savepointResult struct {
	location string
	err      error
}

// ckptDriver is the job master's state around the coordinator.
type ckptDriver struct {
	c     *coordinator.Coordinator
	store CheckpointStore
	// history is guarded by the job master's statusMu.
	history []CheckpointStats
	// savepoints are the requests the coordinator has not answered.
	savepoints map[int64]*savepointReq
	nextReq    int64
	// retryAt is when the coordinator wants RetryDue (zero: never).
	retryAt time.Time
	// failed is the reason of a FailJob action not yet handled; finished
	// is set by the Finished action.
	failed   string
	finished bool
}

const maxHistory = 20

// checkpointed reports whether a task takes part in checkpoints: tasks of
// regions without blocking outputs (bounded regions that produce a blocking
// result rerun from scratch instead).
func (jm *JobMaster) checkpointed(task int) bool {
	return jm.ckptRegion[task]
}

// computeCheckpointedTasks marks the plan tasks whose pipelined region has
// no blocking output.
func computeCheckpointedTasks(p *dag.Plan) map[int]bool {
	// Union-find over pipelined edges.
	parent := make([]int, len(p.Tasks))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(x int) int {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	blockingOut := make(map[int]bool)
	for _, e := range p.Edges {
		if e.Chained {
			continue
		}
		from, to := p.Vertices[e.From].Task, p.Vertices[e.To].Task
		if e.Mode == dag.Blocking {
			blockingOut[from] = true
			continue
		}
		parent[find(from)] = find(to)
	}
	bad := make(map[int]bool)
	for t := range blockingOut {
		bad[find(t)] = true
	}
	out := make(map[int]bool)
	for t := range p.Tasks {
		out[t] = !bad[find(t)]
	}
	return out
}

// ckptTick is the coordinator's view of the job now: the checkpointed
// tasks, whether a failover is in progress and whether a backfill runs.
func (jm *JobMaster) ckptTick(now time.Time) coordinator.Tick {
	ev := coordinator.Tick{Now: now, Backfilling: jm.plan.Config.Checkpoint.BackfillInterval > 0 && jm.splits.backfilling()}
	if !jm.ckpt.c.Due(now, ev.Backfilling) {
		return ev // only timeouts and retries to check
	}
	for _, r := range jm.sched.RegionStatuses() {
		if r.State == scheduler.RegionRestarting {
			ev.Settling = true
		}
	}
	tasks := jm.sched.Tasks()
	state := make(map[scheduler.TaskID]scheduler.TaskStatus, len(tasks))
	for _, t := range tasks {
		state[t.Task] = t
	}
	for _, t := range tasks {
		if !jm.checkpointed(t.Task.Vertex) {
			continue
		}
		ev.Tasks = append(ev.Tasks, coordinator.Task{ID: t.Task, Attempt: t.Attempt, Worker: t.Worker, State: t.State,
			Trigger: t.State == scheduler.Running && jm.producersFinished(t.Task, state)})
	}
	return ev
}

// producersFinished reports whether every pipelined producer of task t
// finished, so that no barrier can reach it in-band.
func (jm *JobMaster) producersFinished(t scheduler.TaskID, state map[scheduler.TaskID]scheduler.TaskStatus) bool {
	for _, eid := range jm.plan.Tasks[t.Vertex].Inputs {
		e := jm.plan.Edges[eid]
		if e.Mode == dag.Blocking {
			continue
		}
		prod := jm.plan.Vertices[e.From].Task
		for s := 0; s < jm.plan.Tasks[prod].Parallelism; s++ {
			if st := state[scheduler.TaskID{Vertex: prod, Subtask: s}]; st.State != scheduler.Finished {
				return false
			}
		}
	}
	return true
}

// ckptStep feeds ev to the coordinator and carries out its actions, and
// those of the events their outcomes cause, until none is left.
func (jm *JobMaster) ckptStep(ctx context.Context, ev coordinator.Event) {
	queue := []coordinator.Event{ev}
	for len(queue) > 0 {
		ev, queue = queue[0], queue[1:]
		actions := jm.ckpt.c.Step(ev)
		queue = append(queue, jm.ckptExecute(ctx, actions)...)
	}
}

// ckptStart carries out the coordinator's start actions.
func (jm *JobMaster) ckptStart(ctx context.Context, now time.Time) {
	queue := jm.ckptExecute(ctx, jm.ckpt.c.Start(now))
	for len(queue) > 0 {
		var ev coordinator.Event
		ev, queue = queue[0], queue[1:]
		queue = append(queue, jm.ckptExecute(ctx, jm.ckpt.c.Step(ev))...)
	}
}

// ckptExecute carries out coordinator actions and returns the events
// their outcomes produce.
func (jm *JobMaster) ckptExecute(ctx context.Context, actions []coordinator.Action) []coordinator.Event {
	var out []coordinator.Event
	var location string // of the savepoint written for the next Completed
	for _, a := range actions {
		switch a := a.(type) {
		case coordinator.Trigger:
			if ev := jm.trigger(ctx, a); ev != nil {
				out = append(out, ev)
			}
		case coordinator.Abort:
			jm.log.Warn("checkpoint aborted", "id", a.Stats.ID, "reason", a.Stats.Reason)
			if err := jm.ckpt.store.Abort(ctx, a.Stats.ID); err != nil {
				jm.log.Warn("discard aborted checkpoint", "id", a.Stats.ID, "err", err)
			}
			jm.checkpointFinished(checkpointStats(a.Stats, ""))
		case coordinator.Persist:
			out = append(out, jm.persist(ctx, a))
		case coordinator.WriteSavepoint:
			loc, err := jm.ckpt.store.WriteSavepoint(ctx, a.Metadata, a.Dir)
			location = loc
			jm.replySavepoint(a.Req, savepointResult{location: loc, err: err})
		case coordinator.SavepointFailed:
			jm.replySavepoint(a.Req, savepointResult{err: errors.New(a.Err)})
		case coordinator.Completed:
			st := checkpointStats(a.Stats, location)
			location = ""
			jm.checkpointFinished(st)
			jm.log.Info("checkpoint completed", "id", st.ID, "kind", st.Kind, "duration", st.Duration.Round(time.Millisecond), "bytes", st.Size, "files", st.Files)
		case coordinator.Commit:
			out = append(out, jm.commit(ctx, a))
		case coordinator.Notify:
			for _, name := range jm.order {
				if gw, ok := jm.workers[name].(CheckpointGateway); ok {
					gw.NotifyCheckpoint(jm.cfg.ID, a.ID)
				}
			}
		case coordinator.Discard:
			jm.discard(ctx, a.Committables)
		case coordinator.ScheduleRetry:
			jm.ckpt.retryAt = a.At
		case coordinator.CommitAbandoned:
			// The committables are in the checkpoint: a restore commits
			// them again.
			jm.log.Error("commit after checkpoint failed", "id", a.Checkpoint, "err", a.Reason)
		case coordinator.FallBack:
			jm.log.Warn("checkpoint cannot be restored: falling back to the previous retained checkpoint",
				"checkpoint", a.From, "fallback", a.To, "cause", a.Cause)
		case coordinator.FailJob:
			jm.ckpt.failed = a.Reason
		case coordinator.Finished:
			jm.ckpt.finished = true
		}
	}
	return out
}

// trigger sends checkpoint barriers to the tasks that receive them
// directly.
func (jm *JobMaster) trigger(ctx context.Context, a coordinator.Trigger) coordinator.Event {
	jm.statusMu.Lock()
	jm.ckpt.history = append(jm.ckpt.history, CheckpointStats{ID: a.Barrier.ID, Kind: a.Barrier.Kind.String(), Status: "in_progress", Triggered: a.At})
	if len(jm.ckpt.history) > maxHistory {
		jm.ckpt.history = jm.ckpt.history[len(jm.ckpt.history)-maxHistory:]
	}
	jm.statusMu.Unlock()
	jm.log.Debug("triggering checkpoint", "id", a.Barrier.ID, "kind", a.Barrier.Kind, "tasks", a.Expected, "triggers", len(a.Tasks))
	for _, t := range a.Tasks {
		tr := protocol.CheckpointTrigger{Job: jm.cfg.ID, Task: t.Task, Attempt: t.Attempt, Barrier: a.Barrier}
		gw, ok := jm.workers[t.Worker].(CheckpointGateway)
		if !ok {
			return coordinator.TriggerFailed{Now: jm.clock.Now(), ID: a.Barrier.ID, Reason: fmt.Sprintf("worker %s cannot take checkpoints", t.Worker)}
		}
		if err := gw.TriggerCheckpoint(ctx, tr); err != nil {
			return coordinator.TriggerFailed{Now: jm.clock.Now(), ID: a.Barrier.ID, Reason: fmt.Sprintf("trigger task %v on %s: %v", t.Task, t.Worker, err)}
		}
	}
	return nil
}

// persist builds the metadata of a checkpoint whose tasks all
// acknowledged and stores it.
func (jm *JobMaster) persist(ctx context.Context, a coordinator.Persist) coordinator.Event {
	md := &checkpoint.Metadata{Version: checkpoint.FormatVersion, Job: jm.cfg.ID, JobName: jm.plan.Job, Fingerprint: jm.plan.Fingerprint,
		ID: a.ID, Kind: a.Kind.String(), MaxParallelism: jm.plan.Config.MaxParallelism, Timestamp: a.Timestamp,
		CompletedAt: a.CompletedAt.UnixMilli(), Parallelism: make(map[int]int), VertexNames: make(map[int]string)}
	for _, v := range jm.plan.Vertices {
		md.Parallelism[v.ID] = v.Parallelism
		md.VertexNames[v.ID] = v.Name
	}
	acked := make(map[scheduler.TaskID]bool, len(a.Tasks))
	for _, ts := range a.Tasks {
		acked[scheduler.TaskID{Vertex: ts.Task, Subtask: ts.Subtask}] = true
	}
	// Tasks of regions that had not started or finished before: record
	// finished ones so that a restore does not rerun them.
	for _, t := range jm.sched.Tasks() {
		if acked[t.Task] || !jm.checkpointed(t.Task.Vertex) || t.State != scheduler.Finished {
			continue
		}
		md.Tasks = append(md.Tasks, checkpoint.TaskState{Task: t.Task.Vertex, Subtask: t.Task.Subtask, Finished: true})
	}
	md.Tasks = append(md.Tasks, a.Tasks...)
	sortTaskStates(md.Tasks)
	jm.splits.snapshot(a.ID, md)
	md.Committables = a.Committables
	if err := jm.ckpt.store.Complete(ctx, md); err != nil {
		jm.log.Warn("checkpoint could not be stored", "id", a.ID, "err", err)
		return coordinator.StorageFailed{Now: jm.clock.Now(), ID: a.ID, Err: err.Error()}
	}
	return coordinator.StorageCompleted{Now: jm.clock.Now(), ID: a.ID, Metadata: md}
}

// commit commits committables by sink vertex, once; the coordinator
// schedules retries of failures.
func (jm *JobMaster) commit(ctx context.Context, a coordinator.Commit) coordinator.Event {
	for _, vid := range sortedKeys(a.Committables) {
		cs := a.Committables[vid]
		jm.log.Debug("commit", "vertex", vid, "committables", len(cs))
		if !jm.code.HasCommitter(vid) || len(cs) == 0 {
			continue
		}
		if err := jm.code.Commit(ctx, vid, cs); err != nil {
			jm.log.Warn("commit failed", "checkpoint", a.Checkpoint, "vertex", vid, "err", err)
			return coordinator.CommitFailed{Now: jm.clock.Now(), Seq: a.Seq, Vertex: vid, Err: err.Error()}
		}
	}
	return coordinator.CommitDone{Now: jm.clock.Now(), Seq: a.Seq}
}

// discard aborts sink output that will never be committed.
func (jm *JobMaster) discard(ctx context.Context, commits map[int][][]byte) {
	for _, vid := range sortedKeys(commits) {
		if !jm.code.HasCommitter(vid) {
			continue
		}
		if err := jm.code.Abort(ctx, vid, commits[vid]); err != nil {
			jm.log.Warn("abort sink output", "vertex", vid, "err", err)
		}
	}
}

func (jm *JobMaster) replySavepoint(req int64, res savepointResult) {
	if sp, ok := jm.ckpt.savepoints[req]; ok {
		delete(jm.ckpt.savepoints, req)
		sp.reply <- res
	}
}

// checkpointStats converts the coordinator's statistics.
func checkpointStats(s coordinator.Stats, location string) CheckpointStats {
	st := CheckpointStats{ID: s.ID, Kind: s.Kind.String(), Status: "aborted", Reason: s.Reason, Triggered: s.Triggered, Duration: s.Duration,
		Size: s.Size, Incremental: s.Incremental, Files: s.Files, Alignment: s.Alignment, Tasks: s.Tasks, Location: location}
	if s.Completed {
		st.Status = "completed"
	}
	return st
}

// checkpointFinished records a completed or aborted checkpoint: every
// checkpoint that ends passes here.
func (jm *JobMaster) checkpointFinished(st CheckpointStats) {
	jm.observeCheckpoint(st)
	jm.statusMu.Lock()
	defer jm.statusMu.Unlock()
	h := jm.ckpt.history
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].ID == st.ID {
			h[i] = st
			return
		}
	}
	jm.ckpt.history = append(h, st)
}

// onCheckpointReport feeds a worker's acknowledgements and declines.
func (jm *JobMaster) onCheckpointReport(ctx context.Context, rep protocol.CheckpointReport) {
	ev := coordinator.Report{Now: jm.clock.Now(), ID: rep.ID, Files: rep.Files}
	for _, a := range rep.Acks {
		ev.Acks = append(ev.Acks, coordinator.Ack{Task: scheduler.TaskID{Vertex: a.State.Task, Subtask: a.State.Subtask}, Attempt: a.Attempt, State: a.State})
	}
	for _, d := range rep.Declines {
		ev.Declines = append(ev.Declines, coordinator.Decline{Task: d.Task,
			Attempt: d.Attempt, Reason: d.Reason, Committables: d.Committables})
	}
	jm.ckptStep(ctx, ev)
}

// restoreFor computes the state a deployed task starts from: the latest
// completed checkpoint's state redistributed for the task's parallelism.
func (jm *JobMaster) restoreFor(id scheduler.TaskID) *protocol.TaskRestore {
	md := jm.ckpt.c.Latest()
	if md == nil || !jm.checkpointed(id.Vertex) {
		return nil
	}
	return restore.For(md, jm.plan, id.Vertex, id.Subtask)
}

// RestoreFor computes the state subtask of plan task task starts from
// when restored from md, redistributing keyed state by key group,
// operator state by union and source splits round-robin when the
// parallelism changed. It returns nil when md holds nothing for the task.
func RestoreFor(md *checkpoint.Metadata, p *dag.Plan, task, subtask int) *protocol.TaskRestore {
	return restore.For(md, p, task, subtask)
}

// LoadSnapshot reads the metadata of a savepoint or retained checkpoint
// (its directory or its _metadata file) on any registered filesystem, or
// the newest valid checkpoint of a job's checkpoint directory.
func LoadSnapshot(ctx context.Context, uri string) (*checkpoint.Metadata, error) {
	return restore.LoadSnapshot(ctx, uri)
}

// CheckRestore verifies that a job can start from md: same format
// version, and every vertex with state in md exists in the plan under the
// same name (unless allowNonRestored, which drops such state).
func CheckRestore(md *checkpoint.Metadata, p *dag.Plan, allowNonRestored bool) error {
	return restore.Check(md, p, allowNonRestored)
}

// defaultCheckpointStore keeps checkpoints under the plan's checkpoint
// directory, or in memory.
func defaultCheckpointStore(p *dag.Plan, job string, log *slog.Logger) (CheckpointStore, error) {
	return restore.NewStore(p, job, log)
}

func sortTaskStates(ts []checkpoint.TaskState) {
	sort.Slice(ts, func(i, j int) bool {
		if ts[i].Task != ts[j].Task {
			return ts[i].Task < ts[j].Task
		}
		return ts[i].Subtask < ts[j].Subtask
	})
}

// CheckpointGateway is implemented by worker gateways that take part in
// checkpoints.
type CheckpointGateway interface {
	TriggerCheckpoint(ctx context.Context, tr protocol.CheckpointTrigger) error
	NotifyCheckpoint(job string, id int64)
}

// ReportCheckpoint delivers a worker's checkpoint report. It never blocks.
func (jm *JobMaster) ReportCheckpoint(rep protocol.CheckpointReport) {
	jm.inbox.push(checkpointReport{rep: rep})
}

// Savepoint takes a savepoint into dir and returns its location. With
// kind KindDrainSavepoint the sources end after it (stop --drain).
func (jm *JobMaster) Savepoint(ctx context.Context, dir string, kind engine.BarrierKind) (string, error) {
	req := &savepointReq{dir: dir, kind: kind, reply: make(chan savepointResult, 1)}
	jm.inbox.push(savepointRequest{req: req})
	select {
	case res := <-req.reply:
		return res.location, res.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// requestSavepoint feeds a savepoint request, then a tick so that it
// starts at once if it can.
func (jm *JobMaster) requestSavepoint(ctx context.Context, r *savepointReq) {
	now := jm.clock.Now()
	jm.ckpt.nextReq++
	jm.ckpt.savepoints[jm.ckpt.nextReq] = r
	jm.ckptStep(ctx, coordinator.SavepointRequested{Now: now, Req: jm.ckpt.nextReq, Dir: r.dir, Kind: r.kind})
	jm.ckptStep(ctx, jm.ckptTick(now))
}

// Checkpoints returns the checkpoint history, oldest first.
func (jm *JobMaster) Checkpoints() []CheckpointStats {
	jm.statusMu.Lock()
	defer jm.statusMu.Unlock()
	return append([]CheckpointStats(nil), jm.ckpt.history...)
}

// checkpointTick is how often the job master checks whether a checkpoint
// is due or timed out.
func (jm *JobMaster) checkpointTick() time.Duration {
	iv := jm.plan.Config.Checkpoint.Interval
	switch {
	case iv <= 0:
		return 100 * time.Millisecond // savepoints and timeouts
	case iv < time.Second:
		return iv / 4
	}
	return 100 * time.Millisecond
}

// commitRestored commits the output recorded in the restored checkpoint,
// waiting for the coordinator's retries on a timer. It returns the job's
// error when the commit failed for good.
func (jm *JobMaster) commitRestored(ctx context.Context) error {
	jm.ckptStart(ctx, jm.clock.Now())
	for jm.ckpt.failed == "" && !jm.ckpt.retryAt.IsZero() {
		t := jm.clock.NewTimer(jm.ckpt.retryAt.Sub(jm.clock.Now()))
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: %s: commit output of restored checkpoint: %w", ErrJobFailed, jm.plan.Job, context.Cause(ctx))
		}
		jm.ckpt.retryAt = time.Time{}
		jm.ckptStep(ctx, coordinator.RetryDue{Now: jm.clock.Now()})
	}
	if reason := jm.ckpt.failed; reason != "" {
		return fmt.Errorf("%w: %s: %s", ErrJobFailed, jm.plan.Job, reason)
	}
	return nil
}
