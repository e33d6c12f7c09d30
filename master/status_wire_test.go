package master

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dagflow/dagflow/internal/rpcpb"
)

func testJobStatus() JobStatus {
	return JobStatus{
		ID: "job-1", Name: "wordcount", State: "running", Reason: "r",
		Submitted: time.Unix(1700000000, 123456789), Elapsed: 90*time.Second + 5, Restarts: 2,
		Failovers: []string{"region 0: task 1[0] failed"},
		Splits:    SplitProgress{Done: 3, Total: 7, Weight: 30, TotalWeight: 70},
		Vertices: []VertexStatus{{VertexResult: VertexResult{ID: 1, Name: "map", Kind: "map", Parallelism: 4,
			RecordsIn: 10, RecordsOut: 20, LateDropped: 1, BackPressureNanos: 5e8, BytesOut: 300},
			Throughput: 0.1 + 0.2, BackPressure: 1.0 / 3}},
		Tasks:   []TaskView{{Name: "map[1]", Task: 1, Subtask: 1, Attempt: 3, State: "running", Worker: "w1", Region: 2}},
		Workers: []WorkerUsage{{Name: "w1", BuffersInUse: 4, PeakBuffersInUse: 9, MemoryBytes: 1 << 40}},
		Checkpoints: []CheckpointStats{{ID: 5, Kind: "savepoint", Status: "completed", Reason: "x",
			Triggered: time.Unix(1700000001, 7), Duration: time.Second, Size: 100, Incremental: 10, Files: 3,
			Alignment: time.Millisecond, Tasks: 8, Location: "s3://b/sp-5"}},
		Phases: []Phase{{Vertex: 0, Round: 2, Done: true, Pending: 4, Open: 1}},
	}
}

// TestJobStatusProtoRoundTrip checks that what dagctl prints (the JSON of
// JobStatus) is the same before and after the trip through protobuf
// bytes, for a status with every field set, a bare one and a list.
func TestJobStatusProtoRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		jobs []JobStatus
	}{
		{"full", []JobStatus{testJobStatus()}},
		{"zero", []JobStatus{{}}},
		{"never deployed", []JobStatus{{ID: "j", Tasks: []TaskView{{Name: "a[0]", Attempt: -1, State: "created"}}}}},
		{"list", []JobStatus{testJobStatus(), {ID: "job-2", State: "finished"}}},
		{"empty list", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(tc.jobs)
			if err != nil {
				t.Fatal(err)
			}
			b, err := proto.Marshal(JobListToProto(tc.jobs))
			if err != nil {
				t.Fatal(err)
			}
			var p rpcpb.JobList
			if err := proto.Unmarshal(b, &p); err != nil {
				t.Fatal(err)
			}
			got, err := JobListFromProto(&p)
			if err != nil {
				t.Fatal(err)
			}
			gotJSON, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if string(gotJSON) != string(want) {
				t.Errorf("round trip changed the status:\n got %s\nwant %s", gotJSON, want)
			}
		})
	}
}

// TestJobStatusFromProtoRejects checks that counts that are negative are
// refused with an error naming the job and the field.
func TestJobStatusFromProtoRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*rpcpb.JobSnapshot)
		want   string
	}{
		{"restarts", func(p *rpcpb.JobSnapshot) { p.Restarts = -1 }, `job "job-1" status: restarts -1 out of range`},
		{"task", func(p *rpcpb.JobSnapshot) { p.Tasks[0].Subtask = -2 }, "subtask -2"},
		{"attempt", func(p *rpcpb.JobSnapshot) { p.Tasks[0].Attempt = -2 }, "task attempt -2"},
		{"splits", func(p *rpcpb.JobSnapshot) { p.Splits.Total = -3 }, "splits total -3"},
		{"phase", func(p *rpcpb.JobSnapshot) { p.Phases[0].Open = -4 }, "phase open splits -4"},
		{"checkpoint", func(p *rpcpb.JobSnapshot) { p.Checkpoints[0].Files = -5 }, "checkpoint files -5"},
		{"worker", func(p *rpcpb.JobSnapshot) { p.Workers[0].BuffersInUse = -6 }, "worker buffers in use -6"},
		{"vertex", func(p *rpcpb.JobSnapshot) { p.Vertices[0].Parallelism = -7 }, "vertex parallelism -7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := JobStatusToProto(testJobStatus())
			tc.change(p)
			_, err := JobStatusFromProto(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
			if _, err := JobListFromProto(&rpcpb.JobList{Jobs: []*rpcpb.JobSnapshot{p}}); err == nil {
				t.Error("the job list took a bad status")
			}
		})
	}
	if _, err := JobStatusFromProto(nil); err == nil {
		t.Error("no error for a missing status")
	}
}

// FuzzJobListProto feeds dagctl's decoding of the master's job list: it
// must fail or succeed, never panic, and what decodes must encode to the
// same JSON again.
func FuzzJobListProto(f *testing.F) {
	for _, l := range [][]JobStatus{{testJobStatus()}, {{ID: "j"}}, nil} {
		b, err := proto.Marshal(JobListToProto(l))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	bad := JobStatusToProto(testJobStatus())
	bad.Tasks[0].Attempt = -2
	b, _ := proto.Marshal(&rpcpb.JobList{Jobs: []*rpcpb.JobSnapshot{bad}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var p rpcpb.JobList
		if proto.Unmarshal(b, &p) != nil {
			return
		}
		jobs, err := JobListFromProto(&p)
		if err != nil {
			return
		}
		again, err := JobListFromProto(JobListToProto(jobs))
		if err != nil {
			t.Fatalf("decoded list does not decode again: %v", err)
		}
		j1, err1 := json.Marshal(jobs)
		j2, err2 := json.Marshal(again)
		if err1 != nil || err2 != nil {
			return // NaN throughput has no JSON
		}
		if string(j1) != string(j2) {
			t.Fatalf("round trip changed the list:\n%s\n%s", j1, j2)
		}
	})
}
