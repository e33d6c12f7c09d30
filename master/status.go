package master

import (
	"fmt"
	"time"
)

// JobStatus is a snapshot of a job for dagctl status and the REST API.
type JobStatus struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	State     string         `json:"state"` // created, running, finished, failed, canceled
	Reason    string         `json:"reason,omitempty"`
	Submitted time.Time      `json:"submitted"`
	Elapsed   time.Duration  `json:"elapsedNanos"`
	Restarts  int            `json:"restarts"`
	Failovers []string       `json:"failovers,omitempty"`
	Splits    SplitProgress  `json:"splits"`
	Vertices  []VertexStatus `json:"vertices,omitempty"`
	Tasks     []TaskView     `json:"tasks,omitempty"`
	Workers   []WorkerUsage  `json:"workers,omitempty"`
	// Checkpoints is the recent checkpoint history, oldest first.
	Checkpoints []CheckpointStats `json:"checkpoints,omitempty"`
	// Phases is the split enumeration state of dynamic (hybrid) sources:
	// which round (phase) runs and the splits left.
	Phases []Phase `json:"phases,omitempty"`
}

// WorkerUsage is what a worker reported about its part of a job.
type WorkerUsage struct {
	Name string `json:"name"`
	// BuffersInUse is exchange buffers queued in the worker's pipelined
	// partitions of the job; PeakBuffersInUse the highest value seen.
	BuffersInUse     int `json:"buffersInUse"`
	PeakBuffersInUse int `json:"peakBuffersInUse"`
	// MemoryBytes is what the worker's executor of the job last reported
	// its Go runtime holds from the operating system.
	MemoryBytes uint64 `json:"memoryBytes,omitempty"`
}

// VertexStatus is one vertex's counters.
type VertexStatus struct {
	VertexResult
	// Throughput is records out per second over the job's run.
	Throughput float64 `json:"throughput"`
	// BackPressure is the fraction of time the vertex's subtasks spent
	// blocked writing to full exchange queues (0..1).
	BackPressure float64 `json:"backPressure"`
}

// TaskView is one task's state.
type TaskView struct {
	Name    string `json:"name"` // chain name[subtask]
	Task    int    `json:"task"`
	Subtask int    `json:"subtask"`
	Attempt int    `json:"attempt"`
	State   string `json:"state"`
	Worker  string `json:"worker,omitempty"`
	Region  int    `json:"region"`
}

// Status returns a snapshot of the running job.
func (jm *JobMaster) Status() JobStatus {
	jm.statusMu.Lock()
	state, reason := jm.sched.Job()
	tasks := jm.sched.Tasks()
	fos := jm.sched.Failovers()
	restarts := jm.sched.Restarts()
	start := jm.start
	ended := jm.ended
	jm.statusMu.Unlock()
	st := JobStatus{ID: jm.cfg.ID, Name: jm.plan.Job, State: state.String(), Reason: reason, Restarts: restarts,
		Splits: jm.splits.Progress(), Checkpoints: jm.Checkpoints(), Phases: jm.splits.Phases()}
	if state.Ended() && !ended {
		// The scheduler is done but output is still being committed or
		// aborted: not terminal for clients yet.
		st.State = map[string]string{"finished": "committing", "failed": "failing", "canceled": "canceling"}[st.State]
	}
	if !start.IsZero() {
		st.Elapsed = time.Since(start)
	}
	for _, f := range fos {
		st.Failovers = append(st.Failovers, f.String())
	}
	secs := st.Elapsed.Seconds()
	for _, v := range jm.metrics() {
		vs := VertexStatus{VertexResult: v}
		if secs > 0 {
			vs.Throughput = float64(v.RecordsOut) / secs
			vs.BackPressure = min(1, float64(v.BackPressureNanos)/1e9/secs/float64(max(1, v.Parallelism)))
		}
		st.Vertices = append(st.Vertices, vs)
	}
	for _, gw := range jm.gateways() {
		if u, ok := gw.(interface {
			Usage(job string) (WorkerUsage, bool)
		}); ok {
			if wu, ok := u.Usage(jm.cfg.ID); ok {
				st.Workers = append(st.Workers, wu)
			}
		}
	}
	for _, t := range tasks {
		pt := jm.plan.Tasks[t.Task.Vertex]
		st.Tasks = append(st.Tasks, TaskView{
			Name: fmt.Sprintf("%s[%d]", pt.Name, t.Task.Subtask), Task: t.Task.Vertex, Subtask: t.Task.Subtask,
			Attempt: t.Attempt, State: t.State.String(), Worker: t.Worker, Region: t.Region,
		})
	}
	return st
}
