package master

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/io/fileio"
	"github.com/dagflow/dagflow/scheduler"
	"github.com/dagflow/dagflow/worker"
)

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
	kind  dag.BarrierKind
	reply chan savepointResult
}

type savepointResult struct {
	location string
	err      error
}

// pendingCkpt is a checkpoint in progress.
type pendingCkpt struct {
	id       int64
	barrier  dag.Barrier
	started  time.Time
	expected map[scheduler.TaskID]int // task -> attempt
	acks     map[scheduler.TaskID]checkpoint.TaskState
	files    int
	sp       *savepointReq
}

// coordinator triggers checkpoints, collects acknowledgements and commits
// sink output when a checkpoint completes. It runs on the job master's
// goroutine.
type coordinator struct {
	cfg     dag.CheckpointConfig
	store   CheckpointStore
	nextID  int64
	pending *pendingCkpt
	latest  *checkpoint.Metadata
	// retained are the completed checkpoints a restore may fall back to,
	// oldest first (latest is the last).
	retained   []*checkpoint.Metadata
	lastEnd    time.Time
	history    []CheckpointStats
	savepoints []*savepointReq
	// commits: committables by the checkpoint after which they may be
	// committed, sink vertex and subtask.
	commits map[int64]map[int]map[int][][]byte
}

const maxHistory = 20

func newCoordinator(cfg dag.CheckpointConfig, store CheckpointStore, restored *checkpoint.Metadata) *coordinator {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	c := &coordinator{cfg: cfg, store: store, nextID: 1, commits: make(map[int64]map[int]map[int][][]byte)}
	if restored != nil {
		c.latest = restored
		c.retained = []*checkpoint.Metadata{restored}
		c.nextID = restored.ID + 1
	}
	return c
}

// memoryStore keeps completed checkpoints in memory (jobs without a
// checkpoint directory): they survive task failures, not the master.
type memoryStore struct {
	retain int
	done   []*checkpoint.Metadata
}

func (m *memoryStore) Complete(_ context.Context, md *checkpoint.Metadata) error {
	m.done = append(m.done, md)
	if len(m.done) > m.retain {
		m.done = m.done[len(m.done)-m.retain:]
	}
	return nil
}

func (m *memoryStore) Abort(context.Context, int64) error { return nil }

func (m *memoryStore) WriteSavepoint(ctx context.Context, md *checkpoint.Metadata, dir string) (string, error) {
	return writeSavepointDir(ctx, md, dir)
}

// addCommit records committables that become committable after
// checkpoint key.
func (c *coordinator) addCommit(key int64, vertex, subtask int, committables [][]byte) {
	if len(committables) == 0 {
		return
	}
	byV := c.commits[key]
	if byV == nil {
		byV = make(map[int]map[int][][]byte)
		c.commits[key] = byV
	}
	if byV[vertex] == nil {
		byV[vertex] = make(map[int][][]byte)
	}
	byV[vertex][subtask] = append(byV[vertex][subtask], committables...)
}

// takeCommits removes and returns the committables of keys ≤ upTo, by
// vertex, in key and subtask order.
func (c *coordinator) takeCommits(upTo int64) map[int][][]byte {
	out := make(map[int][][]byte)
	keys := make([]int64, 0, len(c.commits))
	for k := range c.commits {
		if k <= upTo {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, k := range keys {
		for _, v := range sortedKeys(c.commits[k]) {
			for _, s := range sortedKeys(c.commits[k][v]) {
				out[v] = append(out[v], c.commits[k][v][s]...)
			}
		}
		delete(c.commits, k)
	}
	return out
}

// dropCommits removes the committables a restarted sink subtask made
// after checkpoint k and returns them (to abort).
func (c *coordinator) dropCommits(vertex, subtask int, k int64) [][]byte {
	var out [][]byte
	for key, byV := range c.commits {
		if key <= k {
			continue
		}
		if cs, ok := byV[vertex][subtask]; ok {
			out = append(out, cs...)
			delete(byV[vertex], subtask)
		}
	}
	return out
}

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

// maybeTrigger starts a checkpoint when one is due.
func (jm *JobMaster) maybeTrigger(ctx context.Context, now time.Time) {
	c := jm.ckpt
	if c.pending != nil {
		if now.Sub(c.pending.started) > c.cfg.Timeout {
			jm.abortCheckpoint(ctx, fmt.Sprintf("timed out after %s", c.cfg.Timeout))
		}
		return
	}
	var sp *savepointReq
	if len(c.savepoints) > 0 {
		sp = c.savepoints[0]
	} else {
		if c.cfg.Interval <= 0 || now.Sub(c.lastEnd) < c.cfg.MinPause || now.Sub(c.lastTrigger()) < jm.interval() {
			return
		}
	}
	tasks := jm.sched.Tasks()
	regions := jm.sched.RegionStatuses()
	for _, r := range regions {
		if r.State == scheduler.RegionRestarting {
			return // wait for the failover to settle
		}
	}
	p := &pendingCkpt{id: c.nextID, started: now, expected: make(map[scheduler.TaskID]int), acks: make(map[scheduler.TaskID]checkpoint.TaskState), sp: sp}
	kind := dag.KindCheckpoint
	if sp != nil {
		kind = sp.kind
	}
	p.barrier = dag.Barrier{ID: p.id, Timestamp: now.UnixMilli(), Kind: kind}
	state := make(map[scheduler.TaskID]scheduler.TaskStatus, len(tasks))
	for _, t := range tasks {
		state[t.Task] = t
	}
	var triggers []scheduler.TaskStatus
	running := 0
	for _, t := range tasks {
		if !jm.checkpointed(t.Task.Vertex) {
			continue
		}
		switch t.State {
		case scheduler.Running:
			running++
		case scheduler.Deploying, scheduler.Canceling:
			return // not settled
		default:
			continue
		}
		p.expected[t.Task] = t.Attempt
		if jm.producersFinished(t.Task, state) {
			triggers = append(triggers, t)
		}
	}
	if running == 0 {
		if sp != nil {
			c.savepoints = c.savepoints[1:]
			sp.reply <- savepointResult{err: errors.New("no running task to take a savepoint of")}
		}
		return
	}
	if sp != nil {
		c.savepoints = c.savepoints[1:]
	}
	c.nextID++
	c.pending = p
	jm.statusMu.Lock()
	c.history = append(c.history, CheckpointStats{ID: p.id, Kind: kind.String(), Status: "in_progress", Triggered: now})
	if len(c.history) > maxHistory {
		c.history = c.history[len(c.history)-maxHistory:]
	}
	jm.statusMu.Unlock()
	jm.log.Debug("triggering checkpoint", "id", p.id, "kind", kind, "tasks", len(p.expected), "triggers", len(triggers))
	for _, t := range triggers {
		tr := worker.CheckpointTrigger{Job: jm.cfg.ID, Task: worker.TaskID{Task: t.Task.Vertex, Subtask: t.Task.Subtask}, Attempt: t.Attempt, Barrier: p.barrier}
		gw, ok := jm.workers[t.Worker].(CheckpointGateway)
		if !ok {
			jm.abortCheckpoint(ctx, fmt.Sprintf("worker %s cannot take checkpoints", t.Worker))
			return
		}
		if err := gw.TriggerCheckpoint(ctx, tr); err != nil {
			jm.abortCheckpoint(ctx, fmt.Sprintf("trigger task %v on %s: %v", t.Task, t.Worker, err))
			return
		}
	}
}

func (c *coordinator) lastTrigger() time.Time {
	if len(c.history) == 0 {
		return time.Time{}
	}
	return c.history[len(c.history)-1].Triggered
}

// interval is the checkpoint interval, longer while bounded phases of
// dynamic sources run (backfill).
func (jm *JobMaster) interval() time.Duration {
	c := jm.ckpt
	if c.cfg.BackfillInterval > 0 && jm.splits.backfilling() {
		return c.cfg.BackfillInterval
	}
	return c.cfg.Interval
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

// onCheckpointReport handles a worker's acknowledgements and declines.
func (jm *JobMaster) onCheckpointReport(ctx context.Context, rep worker.CheckpointReport) {
	c := jm.ckpt
	p := c.pending
	// Every task that reported has its part of this checkpoint settled.
	for _, a := range rep.Acks {
		jm.settled(scheduler.TaskID{Vertex: a.State.Task, Subtask: a.State.Subtask}, a.Attempt, rep.ID)
	}
	for _, d := range rep.Declines {
		id := scheduler.TaskID{Vertex: d.Task.Task, Subtask: d.Task.Subtask}
		jm.settled(id, d.Attempt, rep.ID)
		if ex := jm.exec[id]; ex != nil && ex.attempt == d.Attempt {
			// The sinks' prepared output is real: commit it later.
			for v, cs := range d.Committables {
				c.addCommit(rep.ID, v, id.Subtask, cs)
			}
		}
	}
	if p == nil || rep.ID != p.id {
		// A late report of an aborted checkpoint: what the sinks prepared
		// for it is output before its barrier, committed with the next
		// checkpoint (or dropped if the subtask restarts from an earlier
		// one).
		for _, a := range rep.Acks {
			id := scheduler.TaskID{Vertex: a.State.Task, Subtask: a.State.Subtask}
			if ex := jm.exec[id]; ex == nil || ex.attempt != a.Attempt {
				continue
			}
			for _, os := range a.State.Operators {
				c.addCommit(rep.ID, os.Vertex, id.Subtask, os.Committables)
			}
		}
		return
	}
	if len(rep.Declines) > 0 {
		d := rep.Declines[0]
		jm.abortCheckpoint(ctx, fmt.Sprintf("task %v declined: %s", d.Task, d.Reason))
		return
	}
	for _, a := range rep.Acks {
		id := scheduler.TaskID{Vertex: a.State.Task, Subtask: a.State.Subtask}
		if att, ok := p.expected[id]; !ok || att != a.Attempt {
			continue
		}
		p.acks[id] = a.State
	}
	p.files += rep.Files
	jm.maybeComplete(ctx)
}

// taskFinishedDuringCheckpoint acknowledges a task that finished before
// the pending checkpoint's barrier reached it.
func (jm *JobMaster) taskFinishedDuringCheckpoint(ctx context.Context, id scheduler.TaskID, attempt int, lastCheckpoint int64) {
	p := jm.ckpt.pending
	if p == nil {
		return
	}
	if att, ok := p.expected[id]; !ok || att != attempt {
		return
	}
	if lastCheckpoint >= p.id {
		return // it took the checkpoint: its acknowledgement comes
	}
	p.acks[id] = checkpoint.TaskState{Task: id.Vertex, Subtask: id.Subtask, Finished: true}
	jm.maybeComplete(ctx)
}

func (jm *JobMaster) maybeComplete(ctx context.Context) {
	c := jm.ckpt
	p := c.pending
	if p == nil || len(p.acks) < len(p.expected) {
		return
	}
	c.pending = nil
	now := time.Now()
	c.lastEnd = now
	md := &checkpoint.Metadata{Version: checkpoint.FormatVersion, Job: jm.cfg.ID, JobName: jm.plan.Job, Fingerprint: jm.plan.Fingerprint,
		ID: p.id, Kind: p.barrier.Kind.String(), MaxParallelism: jm.plan.Config.MaxParallelism, Timestamp: p.barrier.Timestamp,
		CompletedAt: now.UnixMilli(), Parallelism: make(map[int]int), VertexNames: make(map[int]string)}
	for _, v := range jm.plan.Vertices {
		md.Parallelism[v.ID] = v.Parallelism
		md.VertexNames[v.ID] = v.Name
	}
	ids := make([]scheduler.TaskID, 0, len(p.acks))
	for id := range p.acks {
		ids = append(ids, id)
	}
	sortTaskIDs(ids)
	st := CheckpointStats{ID: p.id, Kind: p.barrier.Kind.String(), Status: "completed", Triggered: p.started, Duration: now.Sub(p.started),
		Files: p.files, Tasks: len(ids)}
	// Tasks of regions that had not started or finished before: record
	// finished ones so that a restore does not rerun them.
	for _, t := range jm.sched.Tasks() {
		if _, ok := p.acks[t.Task]; ok || !jm.checkpointed(t.Task.Vertex) || t.State != scheduler.Finished {
			continue
		}
		md.Tasks = append(md.Tasks, checkpoint.TaskState{Task: t.Task.Vertex, Subtask: t.Task.Subtask, Finished: true})
	}
	for _, id := range ids {
		ts := p.acks[id]
		md.Tasks = append(md.Tasks, ts)
		st.Size += ts.Bytes
		st.Incremental += ts.IncrementalBytes
		if a := time.Duration(ts.AlignmentNanos); a > st.Alignment {
			st.Alignment = a
		}
		for _, os := range ts.Operators {
			c.addCommit(p.id, os.Vertex, id.Subtask, os.Committables)
		}
	}
	sort.Slice(md.Tasks, func(i, j int) bool {
		if md.Tasks[i].Task != md.Tasks[j].Task {
			return md.Tasks[i].Task < md.Tasks[j].Task
		}
		return md.Tasks[i].Subtask < md.Tasks[j].Subtask
	})
	jm.splits.snapshot(p.id, md)
	// Committables of this checkpoint (and of earlier aborted ones) are
	// recorded with it, then committed.
	commits := c.takeCommits(p.id)
	md.Committables = commits
	if err := c.store.Complete(ctx, md); err != nil {
		// Not durable: keep the committables for the next checkpoint.
		for v, cs := range commits {
			c.addCommit(p.id, v, -1, cs)
		}
		jm.finishStats(CheckpointStats{ID: p.id, Kind: st.Kind, Status: "aborted", Reason: err.Error(), Triggered: p.started, Duration: now.Sub(p.started)})
		jm.log.Warn("checkpoint could not be stored", "id", p.id, "err", err)
		c.store.Abort(ctx, p.id)
		if p.sp != nil {
			p.sp.reply <- savepointResult{err: err}
		}
		return
	}
	c.latest = md
	c.retained = append(c.retained, md)
	if keep := max(c.cfg.Retain, 3); len(c.retained) > keep {
		c.retained = c.retained[len(c.retained)-keep:]
	}
	if p.sp != nil {
		loc, err := c.store.WriteSavepoint(ctx, md, p.sp.dir)
		st.Location = loc
		p.sp.reply <- savepointResult{location: loc, err: err}
	}
	jm.finishStats(st)
	jm.log.Info("checkpoint completed", "id", p.id, "kind", st.Kind, "duration", st.Duration.Round(time.Millisecond), "bytes", st.Size, "files", st.Files)
	if err := jm.commitAll(ctx, commits); err != nil {
		// The committables are in the checkpoint: a restore commits them
		// again. Fail over so the job does not run on with output missing.
		jm.log.Error("commit after checkpoint failed", "id", p.id, "err", err)
	}
	for _, name := range jm.order {
		if gw, ok := jm.workers[name].(CheckpointGateway); ok {
			gw.NotifyCheckpoint(jm.cfg.ID, p.id)
		}
	}
}

func (jm *JobMaster) finishStats(st CheckpointStats) {
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

// abortCheckpoint gives up the pending checkpoint. Committables its sinks
// prepared stay pending: the next completed checkpoint commits them.
func (jm *JobMaster) abortCheckpoint(ctx context.Context, reason string) {
	c := jm.ckpt
	p := c.pending
	if p == nil {
		return
	}
	c.pending = nil
	c.lastEnd = time.Now()
	jm.log.Warn("checkpoint aborted", "id", p.id, "reason", reason)
	for id, ts := range p.acks {
		for _, os := range ts.Operators {
			c.addCommit(p.id, os.Vertex, id.Subtask, os.Committables)
		}
	}
	if err := c.store.Abort(ctx, p.id); err != nil {
		jm.log.Warn("discard aborted checkpoint", "id", p.id, "err", err)
	}
	jm.finishStats(CheckpointStats{ID: p.id, Kind: p.barrier.Kind.String(), Status: "aborted", Reason: reason, Triggered: p.started, Duration: time.Since(p.started)})
	if p.sp != nil {
		p.sp.reply <- savepointResult{err: fmt.Errorf("savepoint %d aborted: %s", p.id, reason)}
	}
}

// commitAll commits committables by sink vertex.
func (jm *JobMaster) commitAll(ctx context.Context, commits map[int][][]byte) error {
	for _, vid := range sortedKeys(commits) {
		jm.log.Debug("commit", "vertex", vid, "committables", len(commits[vid]))
		if !jm.code.HasCommitter(vid) || len(commits[vid]) == 0 {
			continue
		}
		var cerr error
		for try := 0; try < 3; try++ { // commits are idempotent
			if cerr = jm.code.Commit(ctx, vid, commits[vid]); cerr == nil {
				break
			}
			time.Sleep(time.Duration(try+1) * 100 * time.Millisecond)
		}
		if cerr != nil {
			return fmt.Errorf("vertex %d: %w", vid, cerr)
		}
	}
	return nil
}

// restoreFor computes the state a deployed task starts from: the latest
// completed checkpoint's state redistributed for the task's parallelism.
func (jm *JobMaster) restoreFor(id scheduler.TaskID) *worker.TaskRestore {
	md := jm.ckpt.latest
	if md == nil || !jm.checkpointed(id.Vertex) {
		return nil
	}
	return RestoreFor(md, jm.plan, id.Vertex, id.Subtask)
}

// RestoreFor computes the state subtask of plan task task starts from
// when restored from md, redistributing keyed state by key group,
// operator state by union and source splits round-robin when the
// parallelism changed. It returns nil when md holds nothing for the task.
func RestoreFor(md *checkpoint.Metadata, p *dag.Plan, task, subtask int) *worker.TaskRestore {
	pt := p.Tasks[task]
	r := &worker.TaskRestore{Checkpoint: md.ID, Vertices: make(map[int]*worker.VertexRestore)}
	maxPar := md.MaxParallelism
	if maxPar <= 0 {
		maxPar = p.Config.MaxParallelism
	}
	seen, finished := 0, 0
	for _, vid := range pt.Vertices {
		if name, ok := md.VertexNames[vid]; ok && name != p.Vertices[vid].Name {
			continue // another operator now (allowed by CheckRestore)
		}
		newPar := p.Vertices[vid].Parallelism
		oldPar := md.Parallelism[vid]
		vr := &worker.VertexRestore{}
		var splits []checkpoint.SplitState
		for _, ts := range md.Tasks {
			for _, os := range ts.Operators {
				if os.Vertex != vid {
					continue
				}
				for _, kh := range os.KeyGroups {
					if dag.SubtaskForKeyGroup(kh.KeyGroup, maxPar, newPar) == subtask {
						vr.KeyGroups = append(vr.KeyGroups, kh)
					}
				}
				vr.Operator = append(vr.Operator, os.Operator...)
				if oldPar == newPar {
					if ts.Subtask == subtask {
						splits = append(splits, os.Splits...)
					}
				} else {
					splits = append(splits, os.Splits...)
				}
				if len(os.Shared)+len(os.Private) > 0 {
					lo, hi := kgRange(maxPar, newPar, subtask)
					for _, f := range os.Shared {
						if f.KeyGroupFrom < hi && f.KeyGroupTo > lo {
							vr.Backends = append(vr.Backends, os)
							break
						}
					}
				}
			}
		}
		if oldPar != newPar && len(splits) > 0 {
			var mine []checkpoint.SplitState
			for i, sp := range splits {
				if i%newPar == subtask {
					mine = append(mine, sp)
				}
			}
			splits = mine
		}
		vr.Splits = splits
		if len(vr.KeyGroups)+len(vr.Operator)+len(vr.Splits)+len(vr.Backends) > 0 {
			r.Vertices[vid] = vr
		}
		_ = oldPar
	}
	for _, ts := range md.Tasks {
		if ts.Task != task {
			continue
		}
		if md.Parallelism[pt.Vertices[0]] == pt.Parallelism && ts.Subtask != subtask {
			continue
		}
		seen++
		if ts.Finished {
			finished++
		}
		if ts.Subtask == subtask {
			r.InputOffsets = ts.InputOffsets
		}
	}
	if seen == 0 {
		return nil // the task had not started: it starts fresh
	}
	r.Finished = finished == seen
	return r
}

// kgRange returns the key groups [lo, hi) of a subtask.
func kgRange(maxPar, par, subtask int) (int, int) {
	lo, hi := -1, 0
	for kg := 0; kg < maxPar; kg++ {
		if dag.SubtaskForKeyGroup(kg, maxPar, par) == subtask {
			if lo < 0 {
				lo = kg
			}
			hi = kg + 1
		}
	}
	if lo < 0 {
		lo = 0
	}
	return lo, hi
}

func sortTaskIDs(ids []scheduler.TaskID) {
	sort.Slice(ids, func(a, b int) bool {
		if ids[a].Vertex != ids[b].Vertex {
			return ids[a].Vertex < ids[b].Vertex
		}
		return ids[a].Subtask < ids[b].Subtask
	})
}

// CheckpointGateway is implemented by worker gateways that take part in
// checkpoints.
type CheckpointGateway interface {
	TriggerCheckpoint(ctx context.Context, tr worker.CheckpointTrigger) error
	NotifyCheckpoint(job string, id int64)
}

// ReportCheckpoint delivers a worker's checkpoint report. It never blocks.
func (jm *JobMaster) ReportCheckpoint(rep worker.CheckpointReport) {
	jm.mu.Lock()
	jm.ckptReports = append(jm.ckptReports, rep)
	jm.mu.Unlock()
	jm.wake()
}

// Savepoint takes a savepoint into dir and returns its location. With
// kind KindDrainSavepoint the sources end after it (stop --drain).
func (jm *JobMaster) Savepoint(ctx context.Context, dir string, kind dag.BarrierKind) (string, error) {
	req := &savepointReq{dir: dir, kind: kind, reply: make(chan savepointResult, 1)}
	jm.mu.Lock()
	jm.spReqs = append(jm.spReqs, req)
	jm.mu.Unlock()
	jm.wake()
	select {
	case res := <-req.reply:
		return res.location, res.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
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

// defaultCheckpointStore keeps checkpoints under the plan's checkpoint
// directory, or in memory.
func defaultCheckpointStore(p *dag.Plan, job string, log *slog.Logger) (CheckpointStore, error) {
	cfg := p.Config.Checkpoint
	retain := cfg.Retain
	if retain <= 0 {
		retain = 3
	}
	if cfg.Dir == "" {
		return &memoryStore{retain: retain}, nil
	}
	opts := checkpoint.DefaultOptions()
	opts.Retain = retain
	opts.MergeEnabled = !cfg.DisableFileMerging
	opts.Logger = log.With("component", "checkpoint-storage")
	st, err := checkpoint.NewStorage(fileio.DefaultRegistry(), cfg.Dir, job, opts)
	if err != nil {
		return nil, fmt.Errorf("master: checkpoint storage of job %s: %w", job, err)
	}
	return st, nil
}

// writeSavepointDir writes a savepoint of a job without a checkpoint
// directory (its state is inline).
func writeSavepointDir(ctx context.Context, md *checkpoint.Metadata, dir string) (string, error) {
	st, err := checkpoint.NewStorage(fileio.DefaultRegistry(), dir, md.Job, checkpoint.DefaultOptions())
	if err != nil {
		return "", err
	}
	return st.WriteSavepoint(ctx, md, dir)
}

// LoadSnapshot reads the metadata of a savepoint or retained checkpoint
// (its directory or its _metadata file) on any registered filesystem.
//
// uri may also be a job's checkpoint directory (<dir>/<job>, holding
// chk-<n> directories): then the newest checkpoint whose metadata and
// files are valid is used, falling back over corrupt ones.
func LoadSnapshot(ctx context.Context, uri string) (*checkpoint.Metadata, error) {
	reg := fileio.DefaultRegistry()
	md, err := checkpoint.LoadSavepoint(ctx, reg, uri)
	if err == nil {
		return md, nil
	}
	if fsys, p, rerr := reg.Resolve(uri); rerr == nil {
		if entries, lerr := fsys.List(ctx, p); lerr == nil {
			for _, e := range entries {
				if e.IsDir && strings.HasPrefix(path.Base(e.Path), "chk-") {
					trimmed := strings.TrimRight(uri, "/")
					i := strings.LastIndex(trimmed, "/")
					st, serr := checkpoint.NewStorage(reg, trimmed[:i], trimmed[i+1:], checkpoint.DefaultOptions())
					if serr != nil {
						return nil, fmt.Errorf("master: load checkpoints of %s: %w", uri, serr)
					}
					latest, lerr := st.Latest(ctx)
					if lerr != nil {
						return nil, fmt.Errorf("master: load latest checkpoint of %s: %w", uri, lerr)
					}
					return latest, nil
				}
			}
		}
	}
	return nil, fmt.Errorf("master: load savepoint %s: %w", uri, err)
}

// CheckRestore verifies that a job can start from md: same max
// parallelism, and every vertex with state in md exists in the plan under
// the same name (unless allowNonRestored, which drops such state).
func CheckRestore(md *checkpoint.Metadata, p *dag.Plan, allowNonRestored bool) error {
	if md.Version != checkpoint.FormatVersion {
		return dag.Fatal(fmt.Errorf("master: checkpoint %d has format version %d, this engine reads %d", md.ID, md.Version, checkpoint.FormatVersion))
	}
	for _, ts := range md.Tasks {
		for _, os := range ts.Operators {
			if len(os.KeyGroups)+len(os.Operator)+len(os.Splits)+len(os.Shared) == 0 {
				continue
			}
			name := md.VertexNames[os.Vertex]
			ok := os.Vertex < len(p.Vertices) && p.Vertices[os.Vertex].Name == name
			if !ok && !allowNonRestored {
				return dag.Fatal(fmt.Errorf("master: checkpoint %d holds state of vertex %d (%q) that job %s does not have; restore with --allow-non-restored-state to drop it",
					md.ID, os.Vertex, name, p.Job))
			}
		}
	}
	return nil
}

// restoreFailed handles a task that could not restore checkpoint id (a
// corrupt or missing state file): the job falls back to the previous
// retained checkpoint. It returns false when none is left.
func (jm *JobMaster) restoreFailed(id int64, cause string) bool {
	c := jm.ckpt
	if c.latest == nil || c.latest.ID != id {
		return true // already fell back
	}
	var keep []*checkpoint.Metadata
	for _, md := range c.retained {
		if md.ID != id {
			keep = append(keep, md)
		}
	}
	c.retained = keep
	if len(keep) == 0 {
		c.latest = nil
		jm.log.Error("checkpoint cannot be restored and no older one is retained", "checkpoint", id, "cause", cause)
		return false
	}
	c.latest = keep[len(keep)-1]
	jm.log.Warn("checkpoint cannot be restored: falling back to the previous retained checkpoint",
		"checkpoint", id, "fallback", c.latest.ID, "cause", cause)
	return true
}

// settled records that a task attempt's part of checkpoint id was
// reported (acknowledged or declined).
func (jm *JobMaster) settled(id scheduler.TaskID, attempt int, ckpt int64) {
	if ex := jm.exec[id]; ex == nil || ex.attempt != attempt {
		return
	}
	if ckpt > jm.reported[id] {
		jm.reported[id] = ckpt
	}
}

// unsettled reports whether a finished task took a checkpoint barrier whose
// acknowledgement (carrying its sinks' committables) has not arrived: the
// job must not commit its final output before it does.
func (jm *JobMaster) unsettled() bool {
	for id, last := range jm.lastTaken {
		if last > jm.reported[id] {
			return true
		}
	}
	return false
}
