package worker

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/dagflow/dagflow/dag"
)

// TakenSplit is a split a source subtask attempt took from the master.
type TakenSplit struct {
	ID string
	// Tag is the last barrier the subtask had processed when it asked for
	// the split; DoneTag when it reported the split read to the end.
	Tag     int64
	Done    bool
	DoneTag int64
}

// TaskReport is a task attempt as a worker reports it to a new leader
// after a master failover: running, or finished with its result.
type TaskReport struct {
	ID      TaskID
	Attempt int
	Slot    int
	// Finished is true for an attempt that finished successfully; its
	// result is described by External, Locations and Committables.
	Finished     bool
	LastBarrier  int64
	Splits       []TakenSplit
	External     bool
	Locations    map[int]string
	Committables map[int][][]byte
}

// taskRecord is the part of a task another goroutine reads for a
// TaskReport.
type taskRecord struct {
	barrier atomic.Int64
	mu      sync.Mutex
	splits  []TakenSplit
}

func (r *taskRecord) splitTaken(id string, tag int64) {
	r.mu.Lock()
	r.splits = append(r.splits, TakenSplit{ID: id, Tag: tag})
	r.mu.Unlock()
}

func (r *taskRecord) splitsDone(finished []dag.FinishedSplit, tag int64) {
	if len(finished) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range finished {
		for i := range r.splits {
			if s := &r.splits[i]; s.ID == f.ID && !s.Done {
				s.Done, s.DoneTag = true, tag
				break
			}
		}
	}
}

// report describes the running task.
func (t *task) report() TaskReport {
	t.rec.mu.Lock()
	splits := append([]TakenSplit(nil), t.rec.splits...)
	t.rec.mu.Unlock()
	return TaskReport{ID: t.dep.ID, Attempt: t.dep.Attempt, Slot: t.dep.Slot, LastBarrier: t.rec.barrier.Load(), Splits: splits}
}

// Tasks returns the job's attempts on this worker that are running or
// finished successfully (the latest attempt of each task), sorted by task.
func (w *Worker) Tasks(job string) []TaskReport {
	w.mu.Lock()
	byTask := make(map[TaskID]TaskReport)
	for k, r := range w.done {
		if k.job == job {
			byTask[k.id] = r
		}
	}
	var running []*task
	for k, t := range w.tasks {
		if k.job == job {
			running = append(running, t)
		}
	}
	w.mu.Unlock()
	for _, t := range running {
		if r, ok := byTask[t.dep.ID]; !ok || r.Attempt < t.dep.Attempt {
			byTask[t.dep.ID] = t.report()
		}
	}
	out := make([]TaskReport, 0, len(byTask))
	for _, r := range byTask {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ID.Vertex != out[j].ID.Vertex {
			return out[i].ID.Vertex < out[j].ID.Vertex
		}
		return out[i].ID.Subtask < out[j].ID.Subtask
	})
	return out
}

// finishedTask records a successful attempt for Tasks.
func (w *Worker) finishedTask(t *task, st TaskStatus) {
	r := t.report()
	r.Finished, r.LastBarrier = true, st.LastCheckpoint
	r.External, r.Locations, r.Committables = st.External, st.Locations, st.Committables
	k := doneKey{job: st.Job, id: st.ID}
	w.mu.Lock()
	if prev, ok := w.done[k]; !ok || prev.Attempt <= r.Attempt {
		w.done[k] = r
	}
	w.mu.Unlock()
}

type doneKey struct {
	job string
	id  TaskID
}
