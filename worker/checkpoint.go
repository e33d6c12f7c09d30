package worker

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"
	"sync"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/io/filesystems"
)

// StateStorage is where a worker's tasks write and read checkpointed
// state.
type StateStorage interface {
	// NewCheckpointWriter returns the writer this worker uses for all of
	// its tasks' state of one checkpoint (small state is merged into few
	// files).
	NewCheckpointWriter(id int64, worker string) StateUploader
	// Read returns the bytes of a handle, verifying their checksum.
	Read(ctx context.Context, h checkpoint.Handle) ([]byte, error)
}

// StateUploader writes the state of one checkpoint. It is safe for
// concurrent use.
type StateUploader interface {
	Write(ctx context.Context, data []byte) (checkpoint.Handle, error)
	// UploadShared uploads an immutable local file (an SST of an
	// incremental backend) that later checkpoints may reference; key is
	// unique per file.
	UploadShared(ctx context.Context, localPath, key string) (checkpoint.Handle, error)
	// Close makes every handle durable and says how many files and bytes
	// were written.
	Close(ctx context.Context) (files int, bytes int64, err error)
	Abort(ctx context.Context) error
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MemoryStateStorage keeps state inline in the checkpoint metadata, which
// the master holds in memory: for jobs without a checkpoint directory
// (embedded runs, tests). State survives task failures, not the master.
type MemoryStateStorage struct {
	// reader reads state that is not inline (a job restored from a
	// savepoint); nil refuses it.
	reader *checkpoint.Reader
}

// NewCheckpointWriter implements StateStorage.
func (MemoryStateStorage) NewCheckpointWriter(int64, string) StateUploader { return &memoryUploader{} }

// Read implements StateStorage.
func (m MemoryStateStorage) Read(ctx context.Context, h checkpoint.Handle) ([]byte, error) {
	if h.Path != "" {
		if m.reader == nil {
			return nil, fmt.Errorf("worker: state handle %s is not inline and no checkpoint directory is configured", h.Path)
		}
		return m.reader.Read(ctx, h)
	}
	if crc32.Checksum(h.Inline, castagnoli) != h.CRC || int64(len(h.Inline)) != h.Length {
		return nil, fmt.Errorf("worker: inline state handle of %d bytes fails its checksum", len(h.Inline))
	}
	return h.Inline, nil
}

type memoryUploader struct {
	mu    sync.Mutex
	bytes int64
}

func (u *memoryUploader) Write(_ context.Context, data []byte) (checkpoint.Handle, error) {
	u.mu.Lock()
	u.bytes += int64(len(data))
	u.mu.Unlock()
	return checkpoint.Handle{Length: int64(len(data)), CRC: crc32.Checksum(data, castagnoli), Inline: append([]byte(nil), data...)}, nil
}

func (u *memoryUploader) UploadShared(_ context.Context, localPath, _ string) (checkpoint.Handle, error) {
	return checkpoint.Handle{}, fmt.Errorf("worker: the pebble state backend needs a checkpoint directory (CheckpointConfig.Dir) to checkpoint %s", localPath)
}

func (u *memoryUploader) Close(context.Context) (int, int64, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return 0, u.bytes, nil
}

func (u *memoryUploader) Abort(context.Context) error { return nil }

// ckptKey names one checkpoint of one job on this worker.
type ckptKey struct {
	job string
	id  int64
}

// ckptGroup gathers the acknowledgements of a worker's tasks for one
// checkpoint, so that their small state shares files and they are
// reported at once.
type ckptGroup struct {
	up      StateUploader
	waiting map[attemptKey]bool
	begun   map[attemptKey]bool
	acks    []TaskAck
	started time.Time
	failed  error
}

// TriggerCheckpoint injects a barrier into a running task attempt.
func (w *Worker) TriggerCheckpoint(_ context.Context, tr CheckpointTrigger) error {
	w.mu.Lock()
	t := w.tasks[attemptKey{tr.Job, tr.Task, tr.Attempt}]
	w.mu.Unlock()
	if t == nil {
		return fmt.Errorf("worker %s: no running attempt %d of task %v of job %s", w.cfg.Name, tr.Attempt, tr.Task, tr.Job)
	}
	select {
	case t.triggers <- tr.Barrier:
		return nil
	default:
		return fmt.Errorf("worker %s: task %s has too many pending checkpoint triggers", w.cfg.Name, t.name)
	}
}

// NotifyCheckpoint tells the running tasks of a job that a checkpoint
// completed.
func (w *Worker) NotifyCheckpoint(job string, id int64) {
	n := CheckpointNotice{Job: job, ID: id}
	w.mu.Lock()
	var ts []*task
	for k, t := range w.tasks {
		if k.job == n.Job {
			ts = append(ts, t)
		}
	}
	w.mu.Unlock()
	for _, t := range ts {
		select {
		case t.notices <- n.ID:
		default: // a later notice subsumes this one
		}
	}
}

// storageFor returns the state storage of a job.
func (w *Worker) storageFor(job string, plan *dag.Plan) (StateStorage, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s, ok := w.storages[job]; ok {
		return s, nil
	}
	var s StateStorage = MemoryStateStorage{reader: checkpoint.NewReader(filesystems.Default())}
	if plan.Config.Checkpoint.Dir != "" {
		if w.cfg.NewStateStorage == nil {
			return nil, fmt.Errorf("worker %s: job %s has checkpoint dir %s but the worker has no state storage", w.cfg.Name, job, plan.Config.Checkpoint.Dir)
		}
		var err error
		if s, err = w.cfg.NewStateStorage(job, plan.Config.Checkpoint); err != nil {
			return nil, fmt.Errorf("worker %s: checkpoint storage of job %s: %w", w.cfg.Name, job, err)
		}
	}
	w.storages[job] = s
	return s, nil
}

// beginCheckpoint registers a task's part in checkpoint id and returns the
// uploader its state goes to. The first task of a job to reach the
// checkpoint fixes the set of tasks the worker waits for: those of the
// job running now.
func (w *Worker) beginCheckpoint(t *task, id int64) (StateUploader, error) {
	st, err := w.storageFor(t.dep.Job, t.plan)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	k := ckptKey{t.dep.Job, id}
	g := w.ckpts[k]
	if g == nil {
		// The master runs one checkpoint at a time: an older one still
		// gathering here was aborted.
		for ok, og := range w.ckpts {
			if ok.job == k.job && ok.id < id {
				delete(w.ckpts, ok)
				go w.supersede(ok, og)
			}
		}
		g = &ckptGroup{up: st.NewCheckpointWriter(id, w.cfg.Name), waiting: make(map[attemptKey]bool),
			begun: make(map[attemptKey]bool), started: time.Now()}
		for ak := range w.tasks {
			if ak.job == t.dep.Job {
				g.waiting[ak] = true
			}
		}
		w.ckpts[k] = g
	}
	g.waiting[t.key()] = true
	g.begun[t.key()] = true
	return g.up, nil
}

// finishCheckpoint records a task's acknowledgement (or failure) and
// reports the worker's part when no task is missing.
func (w *Worker) finishCheckpoint(ctx context.Context, t *task, id int64, ack *TaskAck, cause error) {
	w.finishCheckpointWith(ctx, t, id, ack, cause, nil)
}

// finishCheckpointWith is finishCheckpoint carrying the committables a
// declined snapshot prepared.
func (w *Worker) finishCheckpointWith(ctx context.Context, t *task, id int64, ack *TaskAck, cause error, prepared map[int][][]byte) {
	k := ckptKey{t.dep.Job, id}
	w.mu.Lock()
	g := w.ckpts[k]
	if g == nil {
		w.mu.Unlock()
		// The checkpoint was superseded here: keep what the sinks prepared.
		var d CheckpointDecline
		if ack != nil {
			d = declineOf(*ack, "checkpoint superseded by a newer one")
		} else {
			d = CheckpointDecline{Task: t.dep.ID, Attempt: t.dep.Attempt, Reason: "checkpoint superseded", Committables: prepared}
			if cause != nil {
				d.Reason = cause.Error()
			}
		}
		w.reportCheckpoint(CheckpointReport{Job: t.dep.Job, Worker: w.cfg.Name, ID: id, Declines: []CheckpointDecline{d}})
		return
	}
	delete(g.waiting, t.key())
	if ack != nil {
		g.acks = append(g.acks, *ack)
	}
	if cause != nil && g.failed == nil {
		g.failed = fmt.Errorf("task %s: %w", t.name, cause)
	}
	w.mu.Unlock()
	if cause != nil {
		w.reportCheckpoint(CheckpointReport{Job: t.dep.Job, Worker: w.cfg.Name, ID: id,
			Declines: []CheckpointDecline{{Task: t.dep.ID, Attempt: t.dep.Attempt, Reason: cause.Error(), Committables: prepared}}})
	}
	w.maybeCompleteCheckpoint(ctx, k)
}

// taskGone removes an ended task attempt from the checkpoints it had not
// reached.
func (w *Worker) taskGone(ctx context.Context, key attemptKey) {
	w.mu.Lock()
	var keys []ckptKey
	for k, g := range w.ckpts {
		if k.job == key.job && g.waiting[key] && !g.begun[key] {
			delete(g.waiting, key)
			keys = append(keys, k)
		}
	}
	w.mu.Unlock()
	for _, k := range keys {
		w.maybeCompleteCheckpoint(ctx, k)
	}
}

func (w *Worker) maybeCompleteCheckpoint(ctx context.Context, k ckptKey) {
	w.mu.Lock()
	g := w.ckpts[k]
	if g == nil || len(g.waiting) > 0 {
		w.mu.Unlock()
		return
	}
	delete(w.ckpts, k)
	w.mu.Unlock()
	if g.failed != nil {
		if err := g.up.Abort(context.WithoutCancel(ctx)); err != nil {
			w.log.Warn("abort checkpoint state", "job", k.job, "checkpoint", k.id, "err", err)
		}
		// The tasks that did snapshot are declined too (their state
		// shared the aborted files), keeping what their sinks prepared.
		if len(g.acks) > 0 {
			rep := CheckpointReport{Job: k.job, Worker: w.cfg.Name, ID: k.id}
			for _, a := range g.acks {
				rep.Declines = append(rep.Declines, declineOf(a, fmt.Sprintf("checkpoint failed on worker %s: %v", w.cfg.Name, g.failed)))
			}
			w.reportCheckpoint(rep)
		}
		return
	}
	if len(g.acks) == 0 {
		return
	}
	files, bytes, err := g.up.Close(context.WithoutCancel(ctx))
	rep := CheckpointReport{Job: k.job, Worker: w.cfg.Name, ID: k.id, Files: files, Bytes: bytes}
	if err != nil {
		for _, a := range g.acks {
			rep.Declines = append(rep.Declines, declineOf(a, fmt.Sprintf("write checkpoint state: %v", err)))
		}
	} else {
		sort.Slice(g.acks, func(i, j int) bool {
			a, b := g.acks[i].State, g.acks[j].State
			if a.Task != b.Task {
				return a.Task < b.Task
			}
			return a.Subtask < b.Subtask
		})
		rep.Acks = g.acks
		if len(rep.Acks) > 0 {
			rep.Acks[0].State.Files = files
		}
	}
	w.reportCheckpoint(rep)
}

func (w *Worker) reportCheckpoint(rep CheckpointReport) {
	if w.cfg.OnCheckpoint == nil {
		w.log.Warn("checkpoint report dropped: worker has no checkpoint reporter", "job", rep.Job, "checkpoint", rep.ID)
		return
	}
	w.cfg.OnCheckpoint(rep)
}

// handleWriter adapts an uploader to engine.StateWriter for one operator.
type handleWriter struct {
	ctx   context.Context
	up    StateUploader
	os    *checkpoint.OperatorState
	bytes int64
}

func (h *handleWriter) KeyGroup(kg int, data []byte) error {
	hd, err := h.up.Write(h.ctx, data)
	if err != nil {
		return err
	}
	h.bytes += int64(len(data))
	h.os.KeyGroups = append(h.os.KeyGroups, checkpoint.KeyGroupHandle{KeyGroup: kg, Handle: hd})
	return nil
}

func (h *handleWriter) Operator(data []byte) error {
	hd, err := h.up.Write(h.ctx, data)
	if err != nil {
		return err
	}
	h.bytes += int64(len(data))
	h.os.Operator = append(h.os.Operator, hd)
	return nil
}

// readRestored loads the state of one vertex of a restored task.
func readRestored(ctx context.Context, st StateStorage, vr *VertexRestore, allow bool) (*engine.RestoredState, error) {
	rs := &engine.RestoredState{KeyGroups: make(map[int][]byte, len(vr.KeyGroups)), AllowNonRestored: allow}
	for _, kh := range vr.KeyGroups {
		b, err := st.Read(ctx, kh.Handle)
		if err != nil {
			return nil, fmt.Errorf("key group %d: %w", kh.KeyGroup, err)
		}
		if _, dup := rs.KeyGroups[kh.KeyGroup]; dup {
			return nil, fmt.Errorf("key group %d restored twice", kh.KeyGroup)
		}
		rs.KeyGroups[kh.KeyGroup] = b
	}
	for _, h := range vr.Operator {
		b, err := st.Read(ctx, h)
		if err != nil {
			return nil, fmt.Errorf("operator state: %w", err)
		}
		rs.Operator = append(rs.Operator, b)
	}
	return rs, nil
}

// errCheckpointSuperseded declines an alignment a newer barrier overtook.
var errCheckpointSuperseded = errors.New("checkpoint superseded by a newer barrier")

// declineOf turns an acknowledgement into a decline that keeps what the
// task's sinks prepared.
func declineOf(a TaskAck, reason string) CheckpointDecline {
	d := CheckpointDecline{Task: TaskID{Vertex: a.State.Task, Subtask: a.State.Subtask}, Attempt: a.Attempt, Reason: reason}
	for _, os := range a.State.Operators {
		if len(os.Committables) > 0 {
			if d.Committables == nil {
				d.Committables = make(map[int][][]byte)
			}
			d.Committables[os.Vertex] = os.Committables
		}
	}
	return d
}

// supersede discards a checkpoint a newer one overtook on this worker
// (the master aborted it), reporting what its tasks' sinks prepared.
func (w *Worker) supersede(k ckptKey, g *ckptGroup) {
	if err := g.up.Abort(context.Background()); err != nil {
		w.log.Warn("abort superseded checkpoint state", "job", k.job, "checkpoint", k.id, "err", err)
	}
	if len(g.acks) == 0 {
		return
	}
	rep := CheckpointReport{Job: k.job, Worker: w.cfg.Name, ID: k.id}
	for _, a := range g.acks {
		rep.Declines = append(rep.Declines, declineOf(a, "checkpoint superseded by a newer one"))
	}
	w.reportCheckpoint(rep)
}
