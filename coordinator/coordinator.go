package coordinator

import (
	"fmt"
	"sort"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/scheduler"
)

const (
	// DefaultTimeout aborts checkpoints when the config sets none.
	DefaultTimeout = 10 * time.Minute
	// CommitAttempts is how often one vertex's commit is tried.
	CommitAttempts = 3
	// CommitBackoff is the wait after the first failed commit; it grows
	// linearly with every further failure.
	CommitBackoff = 100 * time.Millisecond
	// minRetained is the least number of completed checkpoints kept for
	// fallback.
	minRetained = 3
	// allCheckpoints is a key above every checkpoint id.
	allCheckpoints = int64(1) << 62
)

// savepointReq is a queued savepoint request.
type savepointReq struct {
	req  int64
	dir  string
	kind engine.BarrierKind
}

// pending is the checkpoint in progress.
type pending struct {
	barrier  engine.Barrier
	started  time.Time
	expected map[scheduler.TaskID]int // task -> attempt
	acks     map[scheduler.TaskID]checkpoint.TaskState
	files    int
	sp       *savepointReq
}

// persisting is a checkpoint whose metadata the runtime is writing.
type persisting struct {
	id           int64
	kind         engine.BarrierKind
	started      time.Time
	stats        Stats
	sp           *savepointReq
	committables map[int][][]byte
}

// batch is one Commit, queued or in progress.
type batch struct {
	seq        int64
	checkpoint int64
	final      bool
	restored   bool
	byVertex   map[int][][]byte
	// failVertex and tries count the failures of the vertex that failed
	// last; retryAt is set while a retry is scheduled.
	failVertex int
	tries      int
	retryAt    time.Time
	emitted    bool
}

// Coordinator is the checkpoint coordinator of one job: a deterministic
// state machine. It is not safe for concurrent use.
type Coordinator struct {
	cfg    dag.CheckpointConfig
	nextID int64
	cur    *pending
	store  *persisting
	// latest is the checkpoint tasks restore; retained are the completed
	// checkpoints a restore may fall back to, oldest first.
	latest      *checkpoint.Metadata
	retained    []*checkpoint.Metadata
	lastEnd     time.Time
	lastTrigger time.Time
	forced      bool
	savepoints  []*savepointReq
	// commits: committables by the checkpoint after which they may be
	// committed, sink vertex and subtask.
	commits map[int64]map[int]map[int][][]byte
	queue   []*batch
	nextSeq int64
	// attempts are the current attempts of deployed tasks; restoredFrom
	// the checkpoint each restored.
	attempts     map[scheduler.TaskID]int
	restoredFrom map[scheduler.TaskID]int64
	// lastTaken is the last barrier each finished task took; reported the
	// last checkpoint it reported on. Until they match, the task's
	// acknowledgement is in flight.
	lastTaken   map[scheduler.TaskID]int64
	reported    map[scheduler.TaskID]int64
	finishing   bool
	finishSince time.Time
	ended       bool
}

// New returns the coordinator of a job with checkpoint configuration cfg,
// restored from checkpoint restored (nil: a fresh start).
func New(cfg dag.CheckpointConfig, restored *checkpoint.Metadata) *Coordinator {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	c := &Coordinator{cfg: cfg, nextID: 1, commits: make(map[int64]map[int]map[int][][]byte),
		attempts: make(map[scheduler.TaskID]int), restoredFrom: make(map[scheduler.TaskID]int64),
		lastTaken: make(map[scheduler.TaskID]int64), reported: make(map[scheduler.TaskID]int64)}
	if restored != nil {
		c.latest = restored
		c.retained = []*checkpoint.Metadata{restored}
		c.nextID = restored.ID + 1
	}
	return c
}

// StartAbove makes the next checkpoint take an id above id. A new master
// that adopts running tasks after a failover calls it with the highest
// barrier any task reported: a checkpoint the old master had in flight is
// then abandoned (it is never completed or committed) and its id is not
// reused, so no task mistakes the next barrier for one it already took.
func (c *Coordinator) StartAbove(id int64) {
	if id >= c.nextID {
		c.nextID = id + 1
	}
}

// Timeout is the checkpoint timeout in effect.
func (c *Coordinator) Timeout() time.Duration { return c.cfg.Timeout }

// Latest returns the checkpoint a task deployed now restores (nil: none).
func (c *Coordinator) Latest() *checkpoint.Metadata { return c.latest }

// InFlight returns the id of the checkpoint in progress (triggered or being
// stored), if any.
func (c *Coordinator) InFlight() (int64, bool) {
	switch {
	case c.cur != nil:
		return c.cur.barrier.ID, true
	case c.store != nil:
		return c.store.id, true
	}
	return 0, false
}

// NextWakeup returns when a scheduled commit retry is due.
func (c *Coordinator) NextWakeup() (time.Time, bool) {
	if len(c.queue) > 0 && !c.queue[0].retryAt.IsZero() {
		return c.queue[0].retryAt, true
	}
	return time.Time{}, false
}

// Held returns every committable the coordinator holds, by vertex: pending
// ones, those acknowledged for the checkpoint in progress or being stored,
// and those of queued or retrying commits.
func (c *Coordinator) Held() map[int][][]byte {
	out := make(map[int][][]byte)
	for _, k := range sortedIDs(c.commits) {
		for _, v := range sortedInts(c.commits[k]) {
			for _, s := range sortedInts(c.commits[k][v]) {
				out[v] = append(out[v], c.commits[k][v][s]...)
			}
		}
	}
	if c.cur != nil {
		for _, id := range sortedTasks(c.cur.acks) {
			for _, os := range c.cur.acks[id].Operators {
				if len(os.Committables) > 0 {
					out[os.Vertex] = append(out[os.Vertex], os.Committables...)
				}
			}
		}
	}
	if c.store != nil {
		merge(out, c.store.committables)
	}
	for _, b := range c.queue {
		merge(out, b.byVertex)
	}
	return out
}

// Start returns the actions of a job start: committing the output of the
// restored checkpoint again (the job may have stopped before committing
// it; commits are idempotent).
func (c *Coordinator) Start(now time.Time) []Action {
	if c.latest == nil || len(c.latest.Committables) == 0 {
		return nil
	}
	cs := make(map[int][][]byte, len(c.latest.Committables))
	merge(cs, c.latest.Committables)
	c.enqueue(&batch{checkpoint: c.latest.ID, restored: true, byVertex: cs})
	return c.pump(nil)
}

// Step feeds one event and returns the actions to carry out, in order.
// Events after FailJob or Finished are ignored.
func (c *Coordinator) Step(ev Event) []Action {
	if c.ended {
		return nil
	}
	now := ev.at()
	var out []Action
	switch e := ev.(type) {
	case Tick:
		out = c.tick(e)
	case TriggerRequested:
		c.forced = true
	case SavepointRequested:
		c.savepoints = append(c.savepoints, &savepointReq{req: e.Req, dir: e.Dir, kind: e.Kind})
	case Report:
		out = c.report(e)
	case TaskDeployed:
		out = c.deployed(e)
	case TaskFinished:
		out = c.taskFinished(e)
	case TaskFailed:
		out = c.abort(now, fmt.Sprintf("task %v failed", e.Task))
		if e.RestoreFailed {
			out = append(out, c.restoreFailed(e)...)
		}
	case WorkerLost:
		out = c.abort(now, "a worker was lost")
	case TriggerFailed:
		if c.cur != nil && c.cur.barrier.ID == e.ID {
			out = c.abort(now, e.Reason)
		}
	case StorageCompleted:
		out = c.stored(e)
	case StorageFailed:
		out = c.storeFailed(e)
	case CommitDone:
		out = c.commitDone(e)
	case CommitFailed:
		out = c.commitFailed(e)
	case RetryDue:
		out = c.retryDue(now)
	case JobFinishing:
		c.finishing, c.finishSince = true, now
	case JobAborted:
		return c.jobAborted(now)
	}
	if !c.ended {
		out = append(out, c.maybeFinish(now)...)
	}
	return out
}

// tick checks timeouts, retries and whether a checkpoint is due.
func (c *Coordinator) tick(e Tick) []Action {
	out := c.retryDue(e.Now)
	if c.ended {
		return out
	}
	if c.cur != nil {
		if e.Now.Sub(c.cur.started) > c.cfg.Timeout {
			out = append(out, c.abort(e.Now, fmt.Sprintf("timed out after %s", c.cfg.Timeout))...)
		}
		return out
	}
	if c.store != nil {
		return out
	}
	return append(out, c.maybeTrigger(e)...)
}

// Due reports whether a Tick at now would try to start a checkpoint (the
// runtime then lists the tasks in it; otherwise it may leave them out).
func (c *Coordinator) Due(now time.Time, backfilling bool) bool {
	if c.ended || c.cur != nil || c.store != nil {
		return false
	}
	return len(c.savepoints) > 0 || c.forced || c.intervalDue(now, backfilling)
}

// intervalDue reports whether the next periodic checkpoint is due.
func (c *Coordinator) intervalDue(now time.Time, backfilling bool) bool {
	interval := c.cfg.Interval
	if c.cfg.BackfillInterval > 0 && backfilling {
		interval = c.cfg.BackfillInterval
	}
	return c.cfg.Interval > 0 && now.Sub(c.lastEnd) >= c.cfg.MinPause && now.Sub(c.lastTrigger) >= interval
}

// maybeTrigger starts a checkpoint when one is due.
func (c *Coordinator) maybeTrigger(e Tick) []Action {
	var sp *savepointReq
	if len(c.savepoints) > 0 {
		sp = c.savepoints[0]
	} else if !c.forced && !c.intervalDue(e.Now, e.Backfilling) {
		return nil
	}
	if e.Settling {
		return nil // wait for the failover to settle
	}
	kind := engine.KindCheckpoint
	if sp != nil {
		kind = sp.kind
	}
	p := &pending{started: e.Now, expected: make(map[scheduler.TaskID]int), acks: make(map[scheduler.TaskID]checkpoint.TaskState), sp: sp}
	var triggers []TriggerTask
	running := 0
	for _, t := range e.Tasks {
		switch t.State {
		case scheduler.Running:
			running++
		case scheduler.Deploying, scheduler.Canceling:
			return nil // not settled
		default:
			continue
		}
		p.expected[t.ID] = t.Attempt
		if t.Trigger {
			triggers = append(triggers, TriggerTask{Task: t.ID, Attempt: t.Attempt, Worker: t.Worker})
		}
	}
	if running == 0 {
		if sp != nil {
			c.savepoints = c.savepoints[1:]
			return []Action{SavepointFailed{Req: sp.req, Err: "no running task to take a savepoint of"}}
		}
		return nil
	}
	if sp != nil {
		c.savepoints = c.savepoints[1:]
	} else {
		c.forced = false
	}
	p.barrier = engine.Barrier{ID: c.nextID, Timestamp: e.Now.UnixMilli(), Kind: kind}
	c.nextID++
	c.cur = p
	c.lastTrigger = e.Now
	sort.Slice(triggers, func(i, j int) bool { return lessTask(triggers[i].Task, triggers[j].Task) })
	return []Action{Trigger{Barrier: p.barrier, At: e.Now, Expected: len(p.expected), Tasks: triggers}}
}

// current reports whether attempt is the current attempt of task.
func (c *Coordinator) current(task scheduler.TaskID, attempt int) bool {
	a, ok := c.attempts[task]
	return ok && a == attempt
}

// settled records that a task attempt's part of checkpoint id was reported.
func (c *Coordinator) settled(task scheduler.TaskID, attempt int, id int64) {
	if c.current(task, attempt) && id > c.reported[task] {
		c.reported[task] = id
	}
}

// report handles acknowledgements and declines.
func (c *Coordinator) report(e Report) []Action {
	for _, a := range e.Acks {
		c.settled(a.Task, a.Attempt, e.ID)
	}
	for _, d := range e.Declines {
		c.settled(d.Task, d.Attempt, e.ID)
		if c.current(d.Task, d.Attempt) {
			// The sinks' prepared output is real: commit it later.
			for _, v := range sortedInts(d.Committables) {
				c.addCommit(e.ID, v, d.Task.Subtask, d.Committables[v])
			}
		}
	}
	p := c.cur
	var out []Action
	if p != nil && p.barrier.ID == e.ID && len(e.Declines) > 0 {
		d := e.Declines[0]
		out = c.abort(e.Now, fmt.Sprintf("task %v declined: %s", d.Task, d.Reason))
		p = nil
	}
	if p == nil || p.barrier.ID != e.ID {
		// A late report of an aborted checkpoint (or acknowledgements
		// sent with a decline): what the sinks prepared for it is output
		// before its barrier, committed with the next checkpoint (or
		// discarded if the subtask restarts from an earlier one).
		for _, a := range e.Acks {
			if c.current(a.Task, a.Attempt) {
				c.carry(e.ID, a.Task, a.State)
			}
		}
		return out
	}
	for _, a := range e.Acks {
		_, dup := p.acks[a.Task]
		if att, ok := p.expected[a.Task]; ok && att == a.Attempt && !dup {
			p.acks[a.Task] = a.State
		} else if c.current(a.Task, a.Attempt) {
			// Not expected (or acknowledged twice): keep only its output.
			c.carry(e.ID, a.Task, a.State)
		}
	}
	p.files += e.Files
	return c.maybeComplete(e.Now)
}

// carry keeps the committables of a task's state for a later checkpoint.
func (c *Coordinator) carry(key int64, task scheduler.TaskID, ts checkpoint.TaskState) {
	for _, os := range ts.Operators {
		c.addCommit(key, os.Vertex, task.Subtask, os.Committables)
	}
}

// deployed records a new attempt and discards what the subtask's sinks
// prepared after the checkpoint it restores.
func (c *Coordinator) deployed(e TaskDeployed) []Action {
	c.attempts[e.Task] = e.Attempt
	c.restoredFrom[e.Task] = e.RestoredFrom
	delete(c.lastTaken, e.Task)
	drop := make(map[int][][]byte)
	for _, v := range e.Vertices {
		if cs := c.dropCommits(v, e.Task.Subtask, e.RestoredFrom); len(cs) > 0 {
			drop[v] = cs
		}
	}
	if len(drop) == 0 {
		return nil
	}
	return []Action{Discard{Committables: drop}}
}

// taskFinished records a finished attempt's final output; it acknowledges
// the checkpoint in progress if its barrier had not reached the task.
func (c *Coordinator) taskFinished(e TaskFinished) []Action {
	if !c.current(e.Task, e.Attempt) {
		return nil
	}
	// The final output belongs after the last checkpoint the attempt took.
	for _, v := range sortedInts(e.Committables) {
		c.addCommit(e.LastCheckpoint+1, v, e.Task.Subtask, e.Committables[v])
	}
	if e.LastCheckpoint > c.restoredFrom[e.Task] {
		c.lastTaken[e.Task] = e.LastCheckpoint
	}
	p := c.cur
	if p == nil {
		return nil
	}
	if att, ok := p.expected[e.Task]; !ok || att != e.Attempt || e.LastCheckpoint >= p.barrier.ID {
		return nil // not part of it, or it took the checkpoint: its acknowledgement comes
	}
	if _, acked := p.acks[e.Task]; acked {
		return nil
	}
	p.acks[e.Task] = checkpoint.TaskState{Task: e.Task.Vertex, Subtask: e.Task.Subtask, Finished: true}
	return c.maybeComplete(e.Now)
}

// maybeComplete hands the checkpoint in progress to storage once every
// expected task acknowledged.
func (c *Coordinator) maybeComplete(now time.Time) []Action {
	p := c.cur
	if p == nil || len(p.acks) < len(p.expected) {
		return nil
	}
	c.cur = nil
	c.lastEnd = now
	ids := make([]scheduler.TaskID, 0, len(p.acks))
	for id := range p.acks {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return lessTask(ids[i], ids[j]) })
	st := Stats{ID: p.barrier.ID, Kind: p.barrier.Kind, Completed: true, Triggered: p.started, Duration: now.Sub(p.started), Files: p.files, Tasks: len(ids)}
	tasks := make([]checkpoint.TaskState, 0, len(ids))
	for _, id := range ids {
		ts := p.acks[id]
		tasks = append(tasks, ts)
		st.Size += ts.Bytes
		st.Incremental += ts.IncrementalBytes
		if a := time.Duration(ts.AlignmentNanos); a > st.Alignment {
			st.Alignment = a
		}
		c.carry(p.barrier.ID, id, ts)
	}
	// Committables of this checkpoint (and of earlier aborted ones) are
	// recorded with it, then committed.
	commits := c.takeCommits(p.barrier.ID)
	c.store = &persisting{id: p.barrier.ID, kind: p.barrier.Kind, started: p.started, stats: st, sp: p.sp, committables: commits}
	return []Action{Persist{ID: p.barrier.ID, Kind: p.barrier.Kind, Timestamp: p.barrier.Timestamp, CompletedAt: now, Tasks: tasks, Committables: commits}}
}

// stored completes a checkpoint whose metadata is durable.
func (c *Coordinator) stored(e StorageCompleted) []Action {
	s := c.store
	if s == nil || s.id != e.ID || e.Metadata == nil {
		return nil
	}
	c.store = nil
	c.latest = e.Metadata
	c.retained = append(c.retained, e.Metadata)
	if keep := max(c.cfg.Retain, minRetained); len(c.retained) > keep {
		c.retained = c.retained[len(c.retained)-keep:]
	}
	var out []Action
	if s.sp != nil {
		out = append(out, WriteSavepoint{Req: s.sp.req, Dir: s.sp.dir, Metadata: e.Metadata})
	}
	out = append(out, Completed{Stats: s.stats})
	if len(s.committables) > 0 {
		c.enqueue(&batch{checkpoint: s.id, byVertex: s.committables})
	}
	out = c.pump(out)
	return append(out, Notify{ID: s.id})
}

// storeFailed aborts a checkpoint that could not be stored: its
// committables wait for the next one.
func (c *Coordinator) storeFailed(e StorageFailed) []Action {
	s := c.store
	if s == nil || s.id != e.ID {
		return nil
	}
	c.store = nil
	for _, v := range sortedInts(s.committables) {
		c.addCommit(s.id, v, -1, s.committables[v])
	}
	st := Stats{ID: s.id, Kind: s.kind, Reason: e.Err, Triggered: s.started, Duration: e.Now.Sub(s.started)}
	out := []Action{Abort{Stats: st}}
	if s.sp != nil {
		out = append(out, SavepointFailed{Req: s.sp.req, Err: e.Err})
	}
	return out
}

// abort gives up the checkpoint in progress. Committables its sinks
// prepared stay pending: the next completed checkpoint commits them.
func (c *Coordinator) abort(now time.Time, reason string) []Action {
	p := c.cur
	if p == nil {
		return nil
	}
	c.cur = nil
	c.lastEnd = now
	for _, id := range sortedTasks(p.acks) {
		c.carry(p.barrier.ID, id, p.acks[id])
	}
	a := Abort{Stats: Stats{ID: p.barrier.ID, Kind: p.barrier.Kind, Reason: reason, Triggered: p.started, Duration: now.Sub(p.started)}}
	out := []Action{a}
	if p.sp != nil {
		out = append(out, SavepointFailed{Req: p.sp.req, Err: fmt.Sprintf("savepoint %d aborted: %s", p.barrier.ID, reason)})
	}
	return out
}

// restoreFailed falls back to the previous retained checkpoint when a task
// could not restore the latest one.
func (c *Coordinator) restoreFailed(e TaskFailed) []Action {
	if c.latest == nil || c.latest.ID != e.Checkpoint {
		return nil // already fell back
	}
	var keep []*checkpoint.Metadata
	for _, md := range c.retained {
		if md.ID != e.Checkpoint {
			keep = append(keep, md)
		}
	}
	c.retained = keep
	if len(keep) == 0 {
		c.latest = nil
		return []Action{FailJob{Reason: fmt.Sprintf("%s; no older checkpoint is retained to fall back to", e.Cause)}}
	}
	c.latest = keep[len(keep)-1]
	return []Action{FallBack{From: e.Checkpoint, To: c.latest.ID, Cause: e.Cause}}
}

// unsettled reports whether a finished task took a barrier whose
// acknowledgement (carrying its sinks' committables) has not arrived.
func (c *Coordinator) unsettled() bool {
	for id, last := range c.lastTaken {
		if last > c.reported[id] {
			return true
		}
	}
	return false
}

// maybeFinish commits the output of a finishing job once nothing is in
// flight, or fails it when acknowledgements do not arrive in time.
func (c *Coordinator) maybeFinish(now time.Time) []Action {
	if !c.finishing || c.cur != nil || c.store != nil {
		return nil
	}
	if c.unsettled() {
		if now.Sub(c.finishSince) > c.cfg.Timeout {
			out := c.jobAborted(now)
			return append(out, FailJob{Reason: fmt.Sprintf("checkpoint acknowledgements of finished tasks did not arrive within %s", c.cfg.Timeout)})
		}
		return nil
	}
	c.finishing = false
	c.enqueue(&batch{final: true, byVertex: c.takeCommits(allCheckpoints)})
	return c.pump(nil)
}

// jobAborted aborts everything of a failed or canceled job.
func (c *Coordinator) jobAborted(now time.Time) []Action {
	out := c.abort(now, "job ended")
	if s := c.store; s != nil {
		c.store = nil
		for _, v := range sortedInts(s.committables) {
			c.addCommit(s.id, v, -1, s.committables[v])
		}
		out = append(out, Abort{Stats: Stats{ID: s.id, Kind: s.kind, Reason: "job ended", Triggered: s.started, Duration: now.Sub(s.started)}})
	}
	for _, sp := range c.savepoints {
		out = append(out, SavepointFailed{Req: sp.req, Err: "job ended"})
	}
	c.savepoints = nil
	for _, b := range c.queue {
		if b.final {
			continue // none of it is in a checkpoint
		}
		out = append(out, CommitAbandoned{Seq: b.seq, Checkpoint: b.checkpoint, Committables: b.byVertex, Reason: "job ended"})
	}
	discard := c.takeCommits(allCheckpoints)
	for _, b := range c.queue {
		if b.final {
			merge(discard, b.byVertex)
		}
	}
	c.queue = nil
	if len(discard) > 0 {
		out = append(out, Discard{Committables: discard})
	}
	c.ended = true
	return out
}
