package protocol

import (
	"context"
	"errors"
	"fmt"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/shuffle"
)

// This file converts the control plane's Go types to and from their
// protobuf messages (internal/rpcpb). The FromProto functions take bytes
// from another process: they validate what the engine relies on and name
// the message and task in their errors.

func taskIDToProto(id TaskID) *rpcpb.TaskId {
	return &rpcpb.TaskId{Vertex: int32(id.Vertex), Subtask: int32(id.Subtask)}
}

func taskIDFromProto(id *rpcpb.TaskId) (TaskID, error) {
	if id == nil {
		return TaskID{}, errors.New("no task id")
	}
	if id.GetVertex() < 0 || id.GetSubtask() < 0 {
		return TaskID{}, fmt.Errorf("task id %d[%d] is negative", id.GetVertex(), id.GetSubtask())
	}
	return TaskID{Vertex: int(id.GetVertex()), Subtask: int(id.GetSubtask())}, nil
}

func partitionToProto(p shuffle.PartitionID) *rpcpb.ShufflePartition {
	return &rpcpb.ShufflePartition{Job: p.Job, Result: p.Result, Producer: int32(p.Producer), Attempt: int32(p.Attempt)}
}

func partitionFromProto(p *rpcpb.ShufflePartition) (shuffle.PartitionID, error) {
	if p == nil {
		return shuffle.PartitionID{}, errors.New("no partition id")
	}
	if p.GetProducer() < 0 || p.GetAttempt() < 0 {
		return shuffle.PartitionID{}, fmt.Errorf("partition %s/%s: negative producer %d or attempt %d", p.GetJob(), p.GetResult(), p.GetProducer(), p.GetAttempt())
	}
	return shuffle.PartitionID{Job: p.GetJob(), Result: p.GetResult(), Producer: int(p.GetProducer()), Attempt: int(p.GetAttempt())}, nil
}

func committablesToProto(m map[int][][]byte) map[int32]*rpcpb.Committables {
	if len(m) == 0 {
		return nil
	}
	out := make(map[int32]*rpcpb.Committables, len(m))
	for v, c := range m {
		out[int32(v)] = &rpcpb.Committables{Items: c}
	}
	return out
}

func committablesFromProto(m map[int32]*rpcpb.Committables) (map[int][][]byte, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[int][][]byte, len(m))
	for v, c := range m {
		if v < 0 {
			return nil, fmt.Errorf("committables of vertex %d", v)
		}
		out[int(v)] = c.GetItems()
	}
	return out, nil
}

// DeploymentToProto converts a task deployment to its protobuf message.
func DeploymentToProto(d TaskDeployment) *rpcpb.TaskDeployment {
	out := &rpcpb.TaskDeployment{JobId: d.Job, Id: taskIDToProto(d.ID), Attempt: int32(d.Attempt), Restore: restoreToProto(d.Restore)}
	for _, g := range d.Inputs {
		pg := &rpcpb.InputGate{Edge: int32(g.Edge), Input: int32(g.Input), Blocking: g.Blocking,
			SubpartitionFrom: int32(g.SubpartitionFrom), SubpartitionTo: int32(g.SubpartitionTo)}
		pg.Channels = make([]*rpcpb.InputChannel, len(g.Channels))
		for i, c := range g.Channels {
			pg.Channels[i] = &rpcpb.InputChannel{Partition: partitionToProto(c.Partition), Location: c.Location, From: int32(c.From), To: int32(c.To)}
		}
		out.Inputs = append(out.Inputs, pg)
	}
	for _, o := range d.Outputs {
		out.Outputs = append(out.Outputs, &rpcpb.OutputPartition{Edge: int32(o.Edge), Partition: partitionToProto(o.Partition),
			Mode: rpcpb.PartitionMode(o.Mode), Subpartitions: int32(o.Subpartitions)})
	}
	return out
}

// DeploymentFromProto converts a deployment message back, checking that
// it names a task and that its ids, ranges and modes are valid.
func DeploymentFromProto(m *rpcpb.TaskDeployment) (TaskDeployment, error) {
	if m == nil {
		return TaskDeployment{}, errors.New("protocol: no deployment")
	}
	id, err := taskIDFromProto(m.GetId())
	if err != nil {
		return TaskDeployment{}, fmt.Errorf("protocol: deployment of job %q: %w", m.GetJobId(), err)
	}
	fail := func(format string, args ...any) (TaskDeployment, error) {
		return TaskDeployment{}, fmt.Errorf("protocol: deployment of task %d[%d] of job %q: %s", id.Vertex, id.Subtask, m.GetJobId(), fmt.Sprintf(format, args...))
	}
	if m.GetJobId() == "" {
		return fail("no job id")
	}
	if m.GetAttempt() < 0 {
		return fail("negative attempt %d", m.GetAttempt())
	}
	d := TaskDeployment{Job: m.GetJobId(), ID: id, Attempt: int(m.GetAttempt())}
	for i, g := range m.GetInputs() {
		if g.GetEdge() < 0 || g.GetInput() < 0 {
			return fail("input gate %d: negative edge %d or input %d", i, g.GetEdge(), g.GetInput())
		}
		if g.GetSubpartitionFrom() < 0 || g.GetSubpartitionTo() < 0 {
			return fail("input gate %d: negative subpartition range [%d, %d)", i, g.GetSubpartitionFrom(), g.GetSubpartitionTo())
		}
		gate := InputGate{Edge: int(g.GetEdge()), Input: int(g.GetInput()), Blocking: g.GetBlocking(),
			SubpartitionFrom: int(g.GetSubpartitionFrom()), SubpartitionTo: int(g.GetSubpartitionTo()),
			Channels: make([]InputChannel, len(g.GetChannels()))}
		for j, c := range g.GetChannels() {
			p, err := partitionFromProto(c.GetPartition())
			if err != nil {
				return fail("input gate %d channel %d: %v", i, j, err)
			}
			if c.GetFrom() < 0 || c.GetTo() < c.GetFrom() {
				return fail("input gate %d channel %d: bad subpartition range [%d, %d)", i, j, c.GetFrom(), c.GetTo())
			}
			gate.Channels[j] = InputChannel{Partition: p, Location: c.GetLocation(), From: int(c.GetFrom()), To: int(c.GetTo())}
		}
		d.Inputs = append(d.Inputs, gate)
	}
	for i, o := range m.GetOutputs() {
		p, err := partitionFromProto(o.GetPartition())
		if err != nil {
			return fail("output %d: %v", i, err)
		}
		mode := shuffle.Mode(o.GetMode())
		if mode != shuffle.Pipelined && mode != shuffle.Blocking {
			return fail("output %d: unknown partition mode %d", i, o.GetMode())
		}
		if o.GetEdge() < 0 || o.GetSubpartitions() < 0 {
			return fail("output %d: negative edge %d or subpartitions %d", i, o.GetEdge(), o.GetSubpartitions())
		}
		d.Outputs = append(d.Outputs, OutputPartition{Edge: int(o.GetEdge()), Partition: p, Mode: mode, Subpartitions: int(o.GetSubpartitions())})
	}
	if m.Restore != nil {
		if d.Restore, err = restoreFromProto(m.GetRestore()); err != nil {
			return fail("restore: %v", err)
		}
	}
	return d, nil
}

func restoreToProto(r *TaskRestore) *rpcpb.TaskRestore {
	if r == nil {
		return nil
	}
	out := &rpcpb.TaskRestore{Checkpoint: r.Checkpoint, Finished: r.Finished, InputOffsets: r.InputOffsets, AllowNonRestored: r.AllowNonRestored}
	if len(r.Vertices) > 0 {
		out.Vertices = make(map[int32]*rpcpb.VertexRestore, len(r.Vertices))
		for v, vr := range r.Vertices {
			pv := &rpcpb.VertexRestore{Operator: handlesToProto(vr.Operator), Splits: splitStatesToProto(vr.Splits)}
			pv.KeyGroups = keyGroupsToProto(vr.KeyGroups)
			for _, b := range vr.Backends {
				pv.Backends = append(pv.Backends, operatorStateToProto(b))
			}
			out.Vertices[int32(v)] = pv
		}
	}
	return out
}

func restoreFromProto(m *rpcpb.TaskRestore) (*TaskRestore, error) {
	r := &TaskRestore{Checkpoint: m.GetCheckpoint(), Finished: m.GetFinished(), AllowNonRestored: m.GetAllowNonRestored()}
	if len(m.GetInputOffsets()) > 0 {
		r.InputOffsets = m.GetInputOffsets()
	}
	if len(m.GetVertices()) > 0 {
		r.Vertices = make(map[int]*VertexRestore, len(m.GetVertices()))
		for v, pv := range m.GetVertices() {
			if v < 0 {
				return nil, fmt.Errorf("state of vertex %d", v)
			}
			vr := &VertexRestore{Operator: handlesFromProto(pv.GetOperator()), KeyGroups: keyGroupsFromProto(pv.GetKeyGroups())}
			vr.Splits = splitStatesFromProto(pv.GetSplits())
			for _, b := range pv.GetBackends() {
				vr.Backends = append(vr.Backends, operatorStateFromProto(b))
			}
			r.Vertices[int(v)] = vr
		}
	}
	return r, nil
}

func handlesToProto(hs []checkpoint.Handle) []*rpcpb.StateHandle {
	if len(hs) == 0 {
		return nil
	}
	out := make([]*rpcpb.StateHandle, len(hs))
	for i, h := range hs {
		out[i] = handleToProto(h)
	}
	return out
}

func handleToProto(h checkpoint.Handle) *rpcpb.StateHandle {
	return &rpcpb.StateHandle{Path: h.Path, Offset: h.Offset, Length: h.Length, Crc: h.CRC, Inline: h.Inline}
}

func handlesFromProto(hs []*rpcpb.StateHandle) []checkpoint.Handle {
	if len(hs) == 0 {
		return nil
	}
	out := make([]checkpoint.Handle, len(hs))
	for i, h := range hs {
		out[i] = handleFromProto(h)
	}
	return out
}

func handleFromProto(h *rpcpb.StateHandle) checkpoint.Handle {
	return checkpoint.Handle{Path: h.GetPath(), Offset: h.GetOffset(), Length: h.GetLength(), CRC: h.GetCrc(), Inline: h.GetInline()}
}

func keyGroupsToProto(kgs []checkpoint.KeyGroupHandle) []*rpcpb.KeyGroupHandle {
	if len(kgs) == 0 {
		return nil
	}
	out := make([]*rpcpb.KeyGroupHandle, len(kgs))
	for i, kg := range kgs {
		out[i] = &rpcpb.KeyGroupHandle{KeyGroup: int32(kg.KeyGroup), Handle: handleToProto(kg.Handle)}
	}
	return out
}

func keyGroupsFromProto(kgs []*rpcpb.KeyGroupHandle) []checkpoint.KeyGroupHandle {
	if len(kgs) == 0 {
		return nil
	}
	out := make([]checkpoint.KeyGroupHandle, len(kgs))
	for i, kg := range kgs {
		out[i] = checkpoint.KeyGroupHandle{KeyGroup: int(kg.GetKeyGroup()), Handle: handleFromProto(kg.GetHandle())}
	}
	return out
}

func sharedToProto(fs []checkpoint.SharedFile) []*rpcpb.SharedFile {
	if len(fs) == 0 {
		return nil
	}
	out := make([]*rpcpb.SharedFile, len(fs))
	for i, f := range fs {
		out[i] = &rpcpb.SharedFile{Name: f.Name, Handle: handleToProto(f.Handle), KeyGroupFrom: int32(f.KeyGroupFrom), KeyGroupTo: int32(f.KeyGroupTo)}
	}
	return out
}

func sharedFromProto(fs []*rpcpb.SharedFile) []checkpoint.SharedFile {
	if len(fs) == 0 {
		return nil
	}
	out := make([]checkpoint.SharedFile, len(fs))
	for i, f := range fs {
		out[i] = checkpoint.SharedFile{Name: f.GetName(), Handle: handleFromProto(f.GetHandle()), KeyGroupFrom: int(f.GetKeyGroupFrom()), KeyGroupTo: int(f.GetKeyGroupTo())}
	}
	return out
}

func splitStatesToProto(ss []checkpoint.SplitState) []*rpcpb.SplitState {
	if len(ss) == 0 {
		return nil
	}
	out := make([]*rpcpb.SplitState, len(ss))
	for i, s := range ss {
		out[i] = &rpcpb.SplitState{Split: &rpcpb.Split{Id: s.Split.ID, Data: s.Split.Data, Weight: s.Split.Weight}, MaxTimestamp: s.MaxTimestamp}
	}
	return out
}

func splitStatesFromProto(ss []*rpcpb.SplitState) []checkpoint.SplitState {
	if len(ss) == 0 {
		return nil
	}
	out := make([]checkpoint.SplitState, len(ss))
	for i, s := range ss {
		sp := s.GetSplit()
		out[i] = checkpoint.SplitState{Split: dag.Split{ID: sp.GetId(), Data: sp.GetData(), Weight: sp.GetWeight()}, MaxTimestamp: s.GetMaxTimestamp()}
	}
	return out
}

func operatorStateToProto(o checkpoint.OperatorState) *rpcpb.OperatorState {
	return &rpcpb.OperatorState{Vertex: int32(o.Vertex), KeyGroups: keyGroupsToProto(o.KeyGroups), Operator: handlesToProto(o.Operator),
		Shared: sharedToProto(o.Shared), Private: sharedToProto(o.Private), BackendMeta: o.BackendMeta,
		Splits: splitStatesToProto(o.Splits), Watermark: o.Watermark, Committables: o.Committables, SinkState: handlesToProto(o.SinkState)}
}

func operatorStateFromProto(o *rpcpb.OperatorState) checkpoint.OperatorState {
	out := checkpoint.OperatorState{Vertex: int(o.GetVertex()), KeyGroups: keyGroupsFromProto(o.GetKeyGroups()), Operator: handlesFromProto(o.GetOperator()),
		Shared: sharedFromProto(o.GetShared()), Private: sharedFromProto(o.GetPrivate()), BackendMeta: o.GetBackendMeta(),
		Splits: splitStatesFromProto(o.GetSplits()), Watermark: o.GetWatermark(), SinkState: handlesFromProto(o.GetSinkState())}
	if len(o.GetCommittables()) > 0 {
		out.Committables = o.GetCommittables()
	}
	return out
}

func taskStateToProto(s checkpoint.TaskState) *rpcpb.TaskState {
	out := &rpcpb.TaskState{Task: int32(s.Task), Subtask: int32(s.Subtask), Finished: s.Finished, InputOffsets: s.InputOffsets,
		AlignmentNanos: s.AlignmentNanos, SyncNanos: s.SyncNanos, AsyncNanos: s.AsyncNanos,
		Bytes: s.Bytes, IncrementalBytes: s.IncrementalBytes, Files: int32(s.Files)}
	for _, o := range s.Operators {
		out.Operators = append(out.Operators, operatorStateToProto(o))
	}
	return out
}

func taskStateFromProto(s *rpcpb.TaskState) (checkpoint.TaskState, error) {
	if s.GetTask() < 0 || s.GetSubtask() < 0 {
		return checkpoint.TaskState{}, fmt.Errorf("state of task %d[%d] is negative", s.GetTask(), s.GetSubtask())
	}
	out := checkpoint.TaskState{Task: int(s.GetTask()), Subtask: int(s.GetSubtask()), Finished: s.GetFinished(),
		AlignmentNanos: s.GetAlignmentNanos(), SyncNanos: s.GetSyncNanos(), AsyncNanos: s.GetAsyncNanos(),
		Bytes: s.GetBytes(), IncrementalBytes: s.GetIncrementalBytes(), Files: int(s.GetFiles())}
	if len(s.GetInputOffsets()) > 0 {
		out.InputOffsets = s.GetInputOffsets()
	}
	for _, o := range s.GetOperators() {
		out.Operators = append(out.Operators, operatorStateFromProto(o))
	}
	return out, nil
}

// remoteError is a task's error rebuilt from its status message: the
// original text, and a cause the master classifies like the original.
type remoteError struct {
	msg   string
	cause error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.cause }

// StatusToProto converts a task status to its protobuf message: the
// error becomes text plus the facts the master acts on (cancelled, fatal,
// lost or corrupt input, failed restore).
func StatusToProto(st TaskStatus) *rpcpb.TaskStatus {
	out := &rpcpb.TaskStatus{JobId: st.Job, Id: taskIDToProto(st.ID), Attempt: int32(st.Attempt),
		Committables: committablesToProto(st.Committables), External: st.External, LastCheckpoint: st.LastCheckpoint}
	if len(st.Locations) > 0 {
		out.Locations = make(map[int32]string, len(st.Locations))
		for e, loc := range st.Locations {
			out.Locations[int32(e)] = loc
		}
	}
	if st.Err != nil {
		out.Error = st.Err.Error()
		out.Canceled = errors.Is(st.Err, context.Canceled)
		out.Fatal = dag.IsFatal(st.Err)
		var re *RestoreError
		if errors.As(st.Err, &re) {
			out.RestoreFailed = re.Checkpoint
		}
		var ie *InputError
		if errors.As(st.Err, &ie) && (errors.Is(st.Err, shuffle.ErrNotExist) || errors.Is(st.Err, shuffle.ErrCorrupt)) {
			out.LostInput = &rpcpb.LostInput{Partition: partitionToProto(ie.Partition), Location: ie.Location, Corrupt: errors.Is(st.Err, shuffle.ErrCorrupt)}
		}
	}
	return out
}

// StatusFromProto converts a task status message back, rebuilding an
// error the master classifies the same way as the original.
func StatusFromProto(m *rpcpb.TaskStatus) (TaskStatus, error) {
	if m == nil {
		return TaskStatus{}, errors.New("protocol: no task status")
	}
	id, err := taskIDFromProto(m.GetId())
	if err != nil {
		return TaskStatus{}, fmt.Errorf("protocol: status of a task of job %q: %w", m.GetJobId(), err)
	}
	fail := func(format string, args ...any) (TaskStatus, error) {
		return TaskStatus{}, fmt.Errorf("protocol: status of task %d[%d] of job %q: %s", id.Vertex, id.Subtask, m.GetJobId(), fmt.Sprintf(format, args...))
	}
	if m.GetJobId() == "" {
		return fail("no job id")
	}
	if m.GetAttempt() < 0 {
		return fail("negative attempt %d", m.GetAttempt())
	}
	committables, err := committablesFromProto(m.GetCommittables())
	if err != nil {
		return fail("%v", err)
	}
	st := TaskStatus{Job: m.GetJobId(), ID: id, Attempt: int(m.GetAttempt()), Committables: committables,
		External: m.GetExternal(), LastCheckpoint: m.GetLastCheckpoint()}
	if len(m.GetLocations()) > 0 {
		st.Locations = make(map[int]string, len(m.GetLocations()))
		for e, loc := range m.GetLocations() {
			if e < 0 {
				return fail("location of edge %d", e)
			}
			st.Locations[int(e)] = loc
		}
	}
	msg := m.GetError()
	switch {
	case msg == "":
	case m.GetCanceled():
		st.Err = &remoteError{msg: msg, cause: context.Canceled}
	case m.GetLostInput() != nil:
		li := m.GetLostInput()
		p, err := partitionFromProto(li.GetPartition())
		if err != nil {
			return fail("lost input: %v", err)
		}
		sentinel := shuffle.ErrNotExist
		if li.GetCorrupt() {
			sentinel = shuffle.ErrCorrupt
		}
		st.Err = &remoteError{msg: msg, cause: &InputError{Partition: p, Location: li.GetLocation(), Err: sentinel}}
	case m.GetFatal():
		st.Err = dag.Fatal(errors.New(msg))
	case m.GetRestoreFailed() != 0:
		st.Err = &remoteError{msg: msg, cause: &RestoreError{Checkpoint: m.GetRestoreFailed(), Err: errors.New(msg)}}
	default:
		st.Err = errors.New(msg)
	}
	return st, nil
}

// TriggerToProto converts a checkpoint trigger to its protobuf message.
func TriggerToProto(tr CheckpointTrigger) *rpcpb.CheckpointTrigger {
	return &rpcpb.CheckpointTrigger{JobId: tr.Job, Task: taskIDToProto(tr.Task), Attempt: int32(tr.Attempt),
		Barrier: &rpcpb.Barrier{Id: tr.Barrier.ID, Timestamp: tr.Barrier.Timestamp, Kind: rpcpb.BarrierKind(tr.Barrier.Kind)}}
}

// TriggerFromProto converts a checkpoint trigger message back.
func TriggerFromProto(m *rpcpb.CheckpointTrigger) (CheckpointTrigger, error) {
	id, err := taskIDFromProto(m.GetTask())
	if err != nil {
		return CheckpointTrigger{}, fmt.Errorf("protocol: checkpoint trigger of job %q: %w", m.GetJobId(), err)
	}
	b := m.GetBarrier()
	switch {
	case m.GetJobId() == "":
		err = errors.New("no job id")
	case m.GetAttempt() < 0:
		err = fmt.Errorf("negative attempt %d", m.GetAttempt())
	case b == nil:
		err = errors.New("no barrier")
	case b.GetKind() < rpcpb.BarrierKind_BARRIER_KIND_CHECKPOINT || b.GetKind() > rpcpb.BarrierKind_BARRIER_KIND_DRAIN_SAVEPOINT:
		err = fmt.Errorf("unknown barrier kind %d", b.GetKind())
	}
	if err != nil {
		return CheckpointTrigger{}, fmt.Errorf("protocol: checkpoint trigger of task %d[%d] of job %q: %w", id.Vertex, id.Subtask, m.GetJobId(), err)
	}
	return CheckpointTrigger{Job: m.GetJobId(), Task: id, Attempt: int(m.GetAttempt()),
		Barrier: engine.Barrier{ID: b.GetId(), Timestamp: b.GetTimestamp(), Kind: engine.BarrierKind(b.GetKind())}}, nil
}

// ReportToProto converts a checkpoint report to its protobuf message.
func ReportToProto(r CheckpointReport) *rpcpb.CheckpointReport {
	out := &rpcpb.CheckpointReport{JobId: r.Job, Worker: r.Worker, Id: r.ID, Files: int32(r.Files), Bytes: r.Bytes}
	for _, a := range r.Acks {
		out.Acks = append(out.Acks, &rpcpb.TaskAck{Attempt: int32(a.Attempt), State: taskStateToProto(a.State)})
	}
	for _, d := range r.Declines {
		out.Declines = append(out.Declines, &rpcpb.CheckpointDecline{Task: taskIDToProto(d.Task), Attempt: int32(d.Attempt),
			Reason: d.Reason, Committables: committablesToProto(d.Committables)})
	}
	return out
}

// ReportFromProto converts a checkpoint report message back.
func ReportFromProto(m *rpcpb.CheckpointReport) (CheckpointReport, error) {
	fail := func(format string, args ...any) (CheckpointReport, error) {
		return CheckpointReport{}, fmt.Errorf("protocol: report of checkpoint %d of job %q from worker %q: %s", m.GetId(), m.GetJobId(), m.GetWorker(), fmt.Sprintf(format, args...))
	}
	if m.GetJobId() == "" {
		return fail("no job id")
	}
	r := CheckpointReport{Job: m.GetJobId(), Worker: m.GetWorker(), ID: m.GetId(), Files: int(m.GetFiles()), Bytes: m.GetBytes()}
	for i, a := range m.GetAcks() {
		if a.GetState() == nil || a.GetAttempt() < 0 {
			return fail("ack %d: no task state or a negative attempt", i)
		}
		st, err := taskStateFromProto(a.GetState())
		if err != nil {
			return fail("ack %d: %v", i, err)
		}
		r.Acks = append(r.Acks, TaskAck{Attempt: int(a.GetAttempt()), State: st})
	}
	for i, d := range m.GetDeclines() {
		id, err := taskIDFromProto(d.GetTask())
		if err != nil {
			return fail("decline %d: %v", i, err)
		}
		c, err := committablesFromProto(d.GetCommittables())
		if err != nil {
			return fail("decline %d: %v", i, err)
		}
		if d.GetAttempt() < 0 {
			return fail("decline %d: negative attempt %d", i, d.GetAttempt())
		}
		r.Declines = append(r.Declines, CheckpointDecline{Task: id, Attempt: int(d.GetAttempt()), Reason: d.GetReason(), Committables: c})
	}
	return r, nil
}

// MetricsToProto converts an executor's metrics report to its protobuf
// message.
func MetricsToProto(r MetricsReport) *rpcpb.MetricsReport {
	out := &rpcpb.MetricsReport{BuffersInUse: int32(r.BuffersInUse), PeakBuffersInUse: int32(r.PeakBuffersInUse), MemoryBytes: r.MemoryBytes}
	for _, v := range r.Vertices {
		out.Vertices = append(out.Vertices, &rpcpb.VertexMetrics{Vertex: int32(v.Vertex), Subtask: int32(v.Subtask),
			RecordsIn: v.RecordsIn, RecordsOut: v.RecordsOut, LateDropped: v.LateDropped,
			BackPressureNanos: v.BackPressureNanos, BytesOut: v.BytesOut, BytesIn: v.BytesIn})
	}
	return out
}

// MetricsFromProto converts a metrics report message back.
func MetricsFromProto(m *rpcpb.MetricsReport) (MetricsReport, error) {
	r := MetricsReport{BuffersInUse: int(m.GetBuffersInUse()), PeakBuffersInUse: int(m.GetPeakBuffersInUse()), MemoryBytes: m.GetMemoryBytes()}
	for i, v := range m.GetVertices() {
		if v.GetVertex() < 0 || v.GetSubtask() < 0 {
			return MetricsReport{}, fmt.Errorf("protocol: metrics entry %d names subtask %d[%d]", i, v.GetVertex(), v.GetSubtask())
		}
		r.Vertices = append(r.Vertices, VertexMetrics{Vertex: int(v.GetVertex()), Subtask: int(v.GetSubtask()),
			RecordsIn: v.GetRecordsIn(), RecordsOut: v.GetRecordsOut(), LateDropped: v.GetLateDropped(),
			BackPressureNanos: v.GetBackPressureNanos(), BytesOut: v.GetBytesOut(), BytesIn: v.GetBytesIn()})
	}
	return r, nil
}
