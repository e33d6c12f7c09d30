package master

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/dagflow/dagflow/internal/rpcpb"
)

// This file converts JobStatus to and from its protobuf message, the
// answer of the Master service's ListJobs and JobStatus. FromProto takes
// bytes from another process (dagctl reads the master's answer): it checks
// that counts fit an int and are not negative and names the job in errors.

// unixNanos returns t as nanoseconds since the Unix epoch, 0 for the zero
// time.
func unixNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromUnixNanos is the inverse of unixNanos.
func fromUnixNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// JobStatusToProto converts a job status to its protobuf message.
func JobStatusToProto(st JobStatus) *rpcpb.JobSnapshot {
	p := &rpcpb.JobSnapshot{
		Id: st.ID, Name: st.Name, State: st.State, Reason: st.Reason,
		SubmittedUnixNanos: unixNanos(st.Submitted), ElapsedNanos: int64(st.Elapsed),
		Restarts: int64(st.Restarts), Failovers: st.Failovers,
		Splits: &rpcpb.SplitProgress{Done: int64(st.Splits.Done), Total: int64(st.Splits.Total),
			Weight: st.Splits.Weight, TotalWeight: st.Splits.TotalWeight},
	}
	for _, v := range st.Vertices {
		p.Vertices = append(p.Vertices, &rpcpb.JobVertexStatus{
			Id: int64(v.ID), Name: v.Name, Kind: v.Kind, Parallelism: int64(v.Parallelism),
			RecordsIn: v.RecordsIn, RecordsOut: v.RecordsOut, LateDropped: v.LateDropped,
			BackPressureNanos: v.BackPressureNanos, BytesOut: v.BytesOut,
			Throughput: v.Throughput, BackPressure: v.BackPressure,
		})
	}
	for _, t := range st.Tasks {
		p.Tasks = append(p.Tasks, &rpcpb.JobTaskView{Name: t.Name, Task: int64(t.Task), Subtask: int64(t.Subtask),
			Attempt: int64(t.Attempt), State: t.State, Worker: t.Worker, Region: int64(t.Region)})
	}
	for _, w := range st.Workers {
		p.Workers = append(p.Workers, &rpcpb.WorkerUsage{Name: w.Name, BuffersInUse: int64(w.BuffersInUse),
			PeakBuffersInUse: int64(w.PeakBuffersInUse), MemoryBytes: w.MemoryBytes})
	}
	for _, c := range st.Checkpoints {
		p.Checkpoints = append(p.Checkpoints, &rpcpb.CheckpointStats{
			Id: c.ID, Kind: c.Kind, Status: c.Status, Reason: c.Reason,
			TriggeredUnixNanos: unixNanos(c.Triggered), DurationNanos: int64(c.Duration),
			Size: c.Size, Incremental: c.Incremental, Files: int64(c.Files),
			AlignmentNanos: int64(c.Alignment), Tasks: int64(c.Tasks), Location: c.Location,
		})
	}
	for _, ph := range st.Phases {
		p.Phases = append(p.Phases, &rpcpb.SplitPhase{Vertex: int64(ph.Vertex), Round: int64(ph.Round),
			Done: ph.Done, Pending: int64(ph.Pending), Open: int64(ph.Open)})
	}
	return p
}

// counts converts protobuf counts to ints; the first one that is below
// its minimum or does not fit an int is an error naming it.
type counts struct{ err error }

// int converts a count that is not negative.
func (c *counts) int(what string, n int64) int { return c.from(what, n, 0) }

// from converts a number that is at least lo.
func (c *counts) from(what string, n, lo int64) int {
	if c.err == nil && (n < lo || n > math.MaxInt) {
		c.err = fmt.Errorf("%s %d out of range", what, n)
	}
	return int(n)
}

// JobStatusFromProto converts a JobSnapshot message to a job status and
// validates it.
func JobStatusFromProto(p *rpcpb.JobSnapshot) (JobStatus, error) {
	if p == nil {
		return JobStatus{}, errors.New("master: no job status")
	}
	var c counts
	st := JobStatus{
		ID: p.GetId(), Name: p.GetName(), State: p.GetState(), Reason: p.GetReason(),
		Submitted: fromUnixNanos(p.GetSubmittedUnixNanos()), Elapsed: time.Duration(p.GetElapsedNanos()),
		Restarts: c.int("restarts", p.GetRestarts()), Failovers: p.GetFailovers(),
	}
	if s := p.GetSplits(); s != nil {
		st.Splits = SplitProgress{Done: c.int("splits done", s.GetDone()), Total: c.int("splits total", s.GetTotal()),
			Weight: s.GetWeight(), TotalWeight: s.GetTotalWeight()}
	}
	for _, v := range p.GetVertices() {
		st.Vertices = append(st.Vertices, VertexStatus{
			VertexResult: VertexResult{ID: c.int("vertex id", v.GetId()), Name: v.GetName(), Kind: v.GetKind(),
				Parallelism: c.int("vertex parallelism", v.GetParallelism()),
				RecordsIn:   v.GetRecordsIn(), RecordsOut: v.GetRecordsOut(), LateDropped: v.GetLateDropped(),
				BackPressureNanos: v.GetBackPressureNanos(), BytesOut: v.GetBytesOut()},
			Throughput: v.GetThroughput(), BackPressure: v.GetBackPressure(),
		})
	}
	for _, t := range p.GetTasks() {
		st.Tasks = append(st.Tasks, TaskView{Name: t.GetName(), Task: c.int("task", t.GetTask()),
			Subtask: c.int("subtask", t.GetSubtask()), Attempt: c.from("task attempt", t.GetAttempt(), -1), // -1: never deployed
			State: t.GetState(), Worker: t.GetWorker(), Region: c.int("task region", t.GetRegion())})
	}
	for _, w := range p.GetWorkers() {
		st.Workers = append(st.Workers, WorkerUsage{Name: w.GetName(),
			BuffersInUse:     c.int("worker buffers in use", w.GetBuffersInUse()),
			PeakBuffersInUse: c.int("worker peak buffers in use", w.GetPeakBuffersInUse()), MemoryBytes: w.GetMemoryBytes()})
	}
	for _, k := range p.GetCheckpoints() {
		st.Checkpoints = append(st.Checkpoints, CheckpointStats{
			ID: k.GetId(), Kind: k.GetKind(), Status: k.GetStatus(), Reason: k.GetReason(),
			Triggered: fromUnixNanos(k.GetTriggeredUnixNanos()), Duration: time.Duration(k.GetDurationNanos()),
			Size: k.GetSize(), Incremental: k.GetIncremental(), Files: c.int("checkpoint files", k.GetFiles()),
			Alignment: time.Duration(k.GetAlignmentNanos()), Tasks: c.int("checkpoint tasks", k.GetTasks()),
			Location: k.GetLocation(),
		})
	}
	for _, ph := range p.GetPhases() {
		st.Phases = append(st.Phases, Phase{Vertex: c.int("phase vertex", ph.GetVertex()), Round: c.int("phase round", ph.GetRound()),
			Done: ph.GetDone(), Pending: c.int("phase pending splits", ph.GetPending()), Open: c.int("phase open splits", ph.GetOpen())})
	}
	if c.err != nil {
		return JobStatus{}, fmt.Errorf("master: job %q status: %w", p.GetId(), c.err)
	}
	return st, nil
}

// JobListToProto converts a job list to its protobuf message.
func JobListToProto(jobs []JobStatus) *rpcpb.JobList {
	p := &rpcpb.JobList{}
	for _, st := range jobs {
		p.Jobs = append(p.Jobs, JobStatusToProto(st))
	}
	return p
}

// JobListFromProto converts a JobList message to job statuses and
// validates them.
func JobListFromProto(p *rpcpb.JobList) ([]JobStatus, error) {
	var out []JobStatus
	for _, j := range p.GetJobs() {
		st, err := JobStatusFromProto(j)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}
