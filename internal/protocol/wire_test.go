package protocol

import (
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/shuffle"
)

// viaBytes sends a message through its wire encoding, as gRPC does.
func viaBytes[M proto.Message](t testing.TB, m M) M {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out := m.ProtoReflect().New().Interface().(M)
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func testOperatorState() checkpoint.OperatorState {
	h := checkpoint.Handle{Path: "file:///c/chk-3/f1", Offset: 10, Length: 20, CRC: 0xdeadbeef}
	return checkpoint.OperatorState{Vertex: 2,
		KeyGroups:   []checkpoint.KeyGroupHandle{{KeyGroup: 7, Handle: h}, {KeyGroup: 8, Handle: checkpoint.Handle{Length: 2, Inline: []byte("ab")}}},
		Operator:    []checkpoint.Handle{h},
		Shared:      []checkpoint.SharedFile{{Name: "000001.sst", Handle: h, KeyGroupFrom: 0, KeyGroupTo: 64}},
		Private:     []checkpoint.SharedFile{{Name: "MANIFEST", Handle: h, KeyGroupTo: 64}},
		BackendMeta: []byte("meta"),
		Splits:      []checkpoint.SplitState{{Split: dag.Split{ID: "s1", Data: []byte("d"), Weight: 4}, MaxTimestamp: 99}},
		Watermark:   -5, Committables: [][]byte{[]byte("c1")}, SinkState: []checkpoint.Handle{h}}
}

func testDeployment() TaskDeployment {
	p := shuffle.PartitionID{Job: "j1", Result: "v0e1", Producer: 3, Attempt: 1}
	return TaskDeployment{Job: "j1", ID: TaskID{Vertex: 1, Subtask: 2}, Attempt: 4,
		Inputs: []InputGate{
			{Edge: 1, Input: 0, Channels: []InputChannel{{Partition: p, Location: "10.0.0.1:7071", From: 2, To: 3}}},
			{Edge: 2, Input: 1, Blocking: true, SubpartitionFrom: 1, SubpartitionTo: 4, Channels: []InputChannel{{Partition: p}}},
		},
		Outputs: []OutputPartition{{Edge: 3, Partition: p, Mode: shuffle.Blocking, Subpartitions: 8}, {Edge: 4, Partition: p, Mode: shuffle.Pipelined, Subpartitions: 1}},
		Restore: &TaskRestore{Checkpoint: 3, InputOffsets: map[string]int64{"1/0": 12}, AllowNonRestored: true,
			Vertices: map[int]*VertexRestore{2: {KeyGroups: testOperatorState().KeyGroups, Operator: testOperatorState().Operator,
				Splits: testOperatorState().Splits, Backends: []checkpoint.OperatorState{testOperatorState()}}}},
	}
}

func TestDeploymentWireRoundTrip(t *testing.T) {
	in := testDeployment()
	out, err := DeploymentFromProto(viaBytes(t, DeploymentToProto(in)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Fatalf("round trip gave\n%+v\nwant\n%+v", out, in)
	}
	in.Restore = nil
	if out, err = DeploymentFromProto(viaBytes(t, DeploymentToProto(in))); err != nil || out.Restore != nil {
		t.Fatalf("deployment without restore gave %+v, %v", out.Restore, err)
	}
}

func TestDeploymentFromProtoRejects(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*rpcpb.TaskDeployment)
		error string
	}{
		{"nil", nil, "protocol: no deployment"},
		{"no task id", func(m *rpcpb.TaskDeployment) { m.Id = nil }, `protocol: deployment of job "j1": no task id`},
		{"negative subtask", func(m *rpcpb.TaskDeployment) { m.Id.Subtask = -1 }, "task id 1[-1] is negative"},
		{"no job", func(m *rpcpb.TaskDeployment) { m.JobId = "" }, `protocol: deployment of task 1[2] of job "": no job id`},
		{"negative attempt", func(m *rpcpb.TaskDeployment) { m.Attempt = -1 }, "negative attempt -1"},
		{"no input partition", func(m *rpcpb.TaskDeployment) { m.Inputs[0].Channels[0].Partition = nil }, "input gate 0 channel 0: no partition id"},
		{"bad channel range", func(m *rpcpb.TaskDeployment) { m.Inputs[0].Channels[0].To = 1 }, "input gate 0 channel 0: bad subpartition range [2, 1)"},
		{"negative gate range", func(m *rpcpb.TaskDeployment) { m.Inputs[1].SubpartitionFrom = -1 }, "input gate 1: negative subpartition range"},
		{"unknown mode", func(m *rpcpb.TaskDeployment) { m.Outputs[1].Mode = 9 }, "output 1: unknown partition mode 9"},
		{"no mode", func(m *rpcpb.TaskDeployment) { m.Outputs[0].Mode = 0 }, "output 0: unknown partition mode 0"},
		{"negative producer", func(m *rpcpb.TaskDeployment) { m.Outputs[0].Partition.Producer = -2 }, "output 0: partition j1/v0e1: negative producer -2"},
		{"negative restored vertex", func(m *rpcpb.TaskDeployment) { m.Restore.Vertices[-1] = &rpcpb.VertexRestore{} }, "restore: state of vertex -1"},
	}
	for _, tt := range tests {
		var m *rpcpb.TaskDeployment
		if tt.edit != nil {
			m = DeploymentToProto(testDeployment())
			tt.edit(m)
		}
		_, err := DeploymentFromProto(m)
		if err == nil || !strings.Contains(err.Error(), tt.error) {
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.error)
		}
	}
}

func TestCheckpointMessagesWireRoundTrip(t *testing.T) {
	tr := CheckpointTrigger{Job: "j1", Task: TaskID{Vertex: 3, Subtask: 1}, Attempt: 2, Barrier: engine.Barrier{ID: 7, Timestamp: 1700000000000, Kind: engine.KindDrainSavepoint}}
	gotTr, err := TriggerFromProto(viaBytes(t, TriggerToProto(tr)))
	if err != nil || gotTr != tr {
		t.Fatalf("trigger round trip gave %+v, %v", gotTr, err)
	}
	rep := CheckpointReport{Job: "j1", Worker: "w2", ID: 7, Files: 3, Bytes: 4096,
		Acks: []TaskAck{{Attempt: 2, State: checkpoint.TaskState{Task: 3, Subtask: 1, Operators: []checkpoint.OperatorState{testOperatorState()},
			InputOffsets: map[string]int64{"2/1": 5}, AlignmentNanos: 1, SyncNanos: 2, AsyncNanos: 3, Bytes: 4, IncrementalBytes: 5, Files: 6}},
			{Attempt: 0, State: checkpoint.TaskState{Task: 0, Subtask: 0, Finished: true}}},
		Declines: []CheckpointDecline{{Task: TaskID{Vertex: 4}, Attempt: 1, Reason: "not running", Committables: map[int][][]byte{4: {[]byte("x")}}}}}
	gotRep, err := ReportFromProto(viaBytes(t, ReportToProto(rep)))
	if err != nil || !reflect.DeepEqual(gotRep, rep) {
		t.Fatalf("report round trip gave\n%+v, %v\nwant\n%+v", gotRep, err, rep)
	}
	met := MetricsReport{Vertices: []VertexMetrics{{Vertex: 1, Subtask: 2, RecordsIn: 3, RecordsOut: 4, LateDropped: 5, BackPressureNanos: 6, BytesOut: 7, BytesIn: 8}},
		BuffersInUse: 9, PeakBuffersInUse: 10, MemoryBytes: 11}
	gotMet, err := MetricsFromProto(viaBytes(t, MetricsToProto(met)))
	if err != nil || !reflect.DeepEqual(gotMet, met) {
		t.Fatalf("metrics round trip gave %+v, %v", gotMet, err)
	}
}

func errOf[T any](_ T, err error) error { return err }

func TestCheckpointMessagesFromProtoRejects(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{errOf(TriggerFromProto(&rpcpb.CheckpointTrigger{JobId: "j1", Task: &rpcpb.TaskId{Vertex: 1}})),
			`protocol: checkpoint trigger of task 1[0] of job "j1": no barrier`},
		{errOf(TriggerFromProto(&rpcpb.CheckpointTrigger{JobId: "j1", Task: &rpcpb.TaskId{Vertex: 1}, Barrier: &rpcpb.Barrier{Kind: 5}})),
			"unknown barrier kind 5"},
		{errOf(TriggerFromProto(&rpcpb.CheckpointTrigger{JobId: "j1"})), `protocol: checkpoint trigger of job "j1": no task id`},
		{errOf(ReportFromProto(&rpcpb.CheckpointReport{Id: 3, Worker: "w1"})), `protocol: report of checkpoint 3 of job "" from worker "w1": no job id`},
		{errOf(ReportFromProto(&rpcpb.CheckpointReport{JobId: "j1", Acks: []*rpcpb.TaskAck{{}}})), "ack 0: no task state"},
		{errOf(ReportFromProto(&rpcpb.CheckpointReport{JobId: "j1", Declines: []*rpcpb.CheckpointDecline{{}}})), "decline 0: no task id"},
		{errOf(StatusFromProto(&rpcpb.TaskStatus{JobId: "j1", Id: &rpcpb.TaskId{}, Error: "x", LostInput: &rpcpb.LostInput{}})),
			`protocol: status of task 0[0] of job "j1": lost input: no partition id`},
		{errOf(StatusFromProto(&rpcpb.TaskStatus{JobId: "j1"})), `protocol: status of a task of job "j1": no task id`},
		{errOf(MetricsFromProto(&rpcpb.MetricsReport{Vertices: []*rpcpb.VertexMetrics{{Vertex: -1}}})), "protocol: metrics entry 0 names subtask -1[0]"},
	}
	for i, tt := range tests {
		if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("case %d: got %v, want an error containing %q", i, tt.err, tt.want)
		}
	}
}

// fuzzRoundTrip decodes b as message M and converts it; what converts
// must convert back to an equal message.
func fuzzRoundTrip[M proto.Message, T any](t *testing.T, b []byte, from func(M) (T, error), to func(T) M) {
	var zero M
	m := zero.ProtoReflect().New().Interface().(M)
	if proto.Unmarshal(b, m) != nil {
		return
	}
	v, err := from(m)
	if err != nil {
		return
	}
	again, err := from(to(v))
	if err != nil {
		t.Fatalf("a decoded message does not decode again: %v", err)
	}
	if !proto.Equal(to(again), to(v)) {
		t.Fatalf("round trip changed the message:\n%v\n%v", to(again), to(v))
	}
}

func addSeeds(f *testing.F, ms ...proto.Message) {
	for _, m := range ms {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x12, 0xff})
}

// FuzzDeploymentProto feeds DeployTask's decoding of a deployment (bytes
// from the master, over the network): it must fail or succeed, never
// panic, and what decodes must encode to the same message again.
func FuzzDeploymentProto(f *testing.F) {
	bad := DeploymentToProto(testDeployment())
	bad.Outputs[0].Mode = 7
	addSeeds(f, DeploymentToProto(testDeployment()), bad)
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzRoundTrip(t, b, DeploymentFromProto, DeploymentToProto)
	})
}

// FuzzStatusProto feeds ReportTask's decoding of a task status.
func FuzzStatusProto(f *testing.F) {
	p := shuffle.PartitionID{Job: "j", Result: "r", Producer: 1}
	addSeeds(f, StatusToProto(TaskStatus{Job: "j", ID: TaskID{Vertex: 1}, Err: &InputError{Partition: p, Err: shuffle.ErrCorrupt},
		Committables: map[int][][]byte{2: {[]byte("c")}}, Locations: map[int]string{1: "x"}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzRoundTrip(t, b, StatusFromProto, StatusToProto)
	})
}

// FuzzCheckpointReportProto feeds ReportCheckpoint's decoding of a
// checkpoint report.
func FuzzCheckpointReportProto(f *testing.F) {
	addSeeds(f, ReportToProto(CheckpointReport{Job: "j", ID: 2, Acks: []TaskAck{{State: checkpoint.TaskState{Operators: []checkpoint.OperatorState{testOperatorState()}}}},
		Declines: []CheckpointDecline{{Reason: "r", Committables: map[int][][]byte{1: nil}}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzRoundTrip(t, b, ReportFromProto, ReportToProto)
	})
}

// FuzzTriggerProto feeds an executor's decoding of a checkpoint trigger.
func FuzzTriggerProto(f *testing.F) {
	addSeeds(f, TriggerToProto(CheckpointTrigger{Job: "j", Barrier: engine.Barrier{ID: 1, Kind: engine.KindSavepoint}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzRoundTrip(t, b, TriggerFromProto, TriggerToProto)
	})
}
