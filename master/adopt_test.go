package master

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/internal/protocol"
	"github.com/dagflow/dagflow/internal/testkit"
	"github.com/dagflow/dagflow/scheduler"
)

// oneTaskStreamingPlan is a streaming job checkpointed every 10s whose one
// task chains an unbounded source to a sink; it returns the sink's vertex.
func oneTaskStreamingPlan(t *testing.T, name string) (*dag.Plan, int) {
	t.Helper()
	g := dag.New(name, dag.Config{Parallelism: 1, Mode: dag.StreamingMode, Checkpoint: dag.CheckpointConfig{Interval: 10 * time.Second}})
	dag.ToSink(dag.FromSource(g, "src", unbounded{&testkit.SliceSource[int]{Items: []int{1}}}, nil), "out", testkit.NewCollector[int]())
	plan, err := g.Build()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range plan.Vertices {
		if v.Kind == "sink" && len(plan.Tasks) == 1 {
			return plan, v.ID
		}
	}
	t.Fatalf("plan has %d tasks, want one chained task with a sink", len(plan.Tasks))
	return nil, 0
}

// TestJobMasterAdoptsRunningTask builds a job master as a new leader does
// after a failover, from the attempt the worker reports: attempt 2 of the
// task runs, it took barriers up to 5 (the latest completed checkpoint)
// and split s0. Nothing is deployed, the split is not handed out again, the
// next checkpoint is 6 and goes to attempt 2, and its output and the task's
// final output are committed once each.
func TestJobMasterAdoptsRunningTask(t *testing.T) {
	plan, sink := oneTaskStreamingPlan(t, "adopt")
	clk := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	w := &fakeWorker{deploys: make(chan protocol.TaskDeployment, 4), triggers: make(chan protocol.CheckpointTrigger, 4), notices: make(chan int64, 4)}
	code := &fakeCode{sink: sink, commits: make(chan commitCall, 8)}
	task := scheduler.TaskID{}
	ad := &Adoption{Restarts: 2, Tasks: []AdoptedTask{{
		AdoptedTask: scheduler.AdoptedTask{Task: task, Attempt: 2, Worker: "w1", Slot: 0, State: scheduler.Running},
		Location:    "executor-1", LastBarrier: 5, Splits: []AdoptedSplit{{ID: "s0", Tag: 3}},
	}}}
	jm, err := NewJobMaster(context.Background(), plan, code, []WorkerGateway{w},
		JobConfig{ID: "adopt-1", Clock: clk, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Adopt: ad,
			Restore: &checkpoint.Metadata{Version: checkpoint.FormatVersion, Job: "adopt-1", ID: 5, Kind: "checkpoint"}, AllowNonRestored: true})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := jm.Run(context.Background())
		done <- err
	}()

	// Nothing is deployed to wait for: wait until the job loop set its four
	// timers before the fake time moves.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		clk.mu.Lock()
		n := len(clk.timers)
		clk.mu.Unlock()
		if n >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job loop did not start")
		}
	}
	clk.Advance(100 * time.Millisecond)
	tr := await(t, "trigger", w.triggers)
	if tr.Barrier.ID != 6 || tr.Attempt != 2 {
		t.Fatalf("trigger %+v, want checkpoint 6 to attempt 2", tr)
	}
	// Run deploys what the adoption decides before it waits for anything:
	// by the first trigger, a deploy would have been sent.
	if n := len(w.deploys); n != 0 {
		t.Fatalf("%d deploys after adopting the running attempt, want none", n)
	}
	st, _ := jm.sched.Task(task)
	if st.Attempt != 2 || st.State != scheduler.Running || jm.sched.Restarts() != 2 {
		t.Fatalf("task %+v after %d restarts, want attempt 2 running after 2", st, jm.sched.Restarts())
	}
	resp, err := jm.Splits().NextSplit(context.Background(), protocol.SplitRequest{Vertex: plan.Tasks[0].Vertices[0], Subtask: 0, Attempt: 2, Checkpoint: 5})
	if err != nil || resp.OK {
		t.Fatalf("next split %+v, %v: want none (s0 was taken before the failover)", resp, err)
	}

	jm.ReportCheckpoint(protocol.CheckpointReport{Job: "adopt-1", Worker: "w1", ID: 6, Acks: []protocol.TaskAck{{Attempt: 2,
		State: checkpoint.TaskState{Operators: []checkpoint.OperatorState{{Vertex: sink, Committables: [][]byte{[]byte("c6")}}}}}}})
	if c := await(t, "commit of 6", code.commits); !reflect.DeepEqual(c.items, []string{"c6"}) {
		t.Fatalf("commit %+v, want c6", c)
	}
	jm.Report(protocol.TaskStatus{Job: "adopt-1", Attempt: 2, LastCheckpoint: 6, Committables: map[int][][]byte{sink: {[]byte("c7")}}})
	if c := await(t, "final commit", code.commits); !reflect.DeepEqual(c.items, []string{"c7"}) {
		t.Fatalf("final commit %+v, want c7", c)
	}
	if err := await(t, "job end", done); err != nil {
		t.Fatal(err)
	}
	if n := len(w.deploys); n != 0 {
		t.Fatalf("%d deploys, want none", n)
	}
}

// TestJobMasterAdoptionRejected checks that reports the job master cannot
// continue from fail NewJobMaster with scheduler.ErrNotReconciled, naming
// the problem: the caller restarts the job instead.
func TestJobMasterAdoptionRejected(t *testing.T) {
	plan, sink := oneTaskStreamingPlan(t, "adopt")
	running := scheduler.AdoptedTask{Task: scheduler.TaskID{}, Attempt: 1, Worker: "w1", State: scheduler.Running}
	for _, tc := range []struct {
		name string
		task AdoptedTask
		want string
	}{
		{"unknown worker", AdoptedTask{AdoptedTask: scheduler.AdoptedTask{Task: scheduler.TaskID{}, Attempt: 1, Worker: "w9", State: scheduler.Running}},
			`worker "w9", which has not joined`},
		{"unknown split", AdoptedTask{AdoptedTask: running, Splits: []AdoptedSplit{{ID: "s9"}}},
			`reports split "s9", which the split coordinator does not hold`},
		{"split twice", AdoptedTask{AdoptedTask: running, Splits: []AdoptedSplit{{ID: "s0"}, {ID: "s0"}}},
			`reports split "s0", which the split coordinator does not hold`},
		// The sink acknowledged checkpoint 3 to the old leader, which died
		// before completing it: its prepared output is lost with it, so the
		// job must restart from its latest checkpoint (none) instead.
		{"sink ahead of the latest checkpoint", AdoptedTask{AdoptedTask: running, LastBarrier: 3},
			`sink "out" of task v0[0] took barrier 3 but the latest completed checkpoint is 0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &fakeWorker{}
			_, err := NewJobMaster(context.Background(), plan, &fakeCode{sink: sink}, []WorkerGateway{w},
				JobConfig{ID: "adopt-2", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Adopt: &Adoption{Tasks: []AdoptedTask{tc.task}}})
			if !errors.Is(err, scheduler.ErrNotReconciled) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrNotReconciled naming %q", err, tc.want)
			}
		})
	}
}
