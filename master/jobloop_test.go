package master

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/internal/protocol"
)

// fakeClock is a Clock whose time moves only when the test advances it;
// timers due by then fire.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	clk    *fakeClock
	c      chan time.Time
	at     time.Time
	active bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{clk: c, c: make(chan time.Time, 1)}
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	t.Reset(d)
	return t
}

// Advance moves the clock by d and fires the timers due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		t.fireLocked()
	}
}

func (t *fakeTimer) fireLocked() {
	if t.active && !t.at.After(t.clk.now) {
		t.active = false
		select {
		case t.c <- t.clk.now:
		default:
		}
	}
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Reset(d time.Duration) {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	t.drain()
	t.at, t.active = t.clk.now.Add(d), true
	t.fireLocked()
}

func (t *fakeTimer) Stop() {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	t.drain()
	t.active = false
}

func (t *fakeTimer) drain() {
	select {
	case <-t.c:
	default:
	}
}

// fakeWorker records what the job master asks of it on channels.
type fakeWorker struct {
	deploys  chan protocol.TaskDeployment
	triggers chan protocol.CheckpointTrigger
	notices  chan int64
}

func (w *fakeWorker) Name() string { return "w1" }
func (w *fakeWorker) Slots() int   { return 1 }
func (w *fakeWorker) Prepare(context.Context, string) (string, error) {
	return "loc", nil
}
func (w *fakeWorker) Deploy(_ context.Context, dep protocol.TaskDeployment) error {
	w.deploys <- dep
	return nil
}
func (w *fakeWorker) Cancel(string, protocol.TaskID, int)     {}
func (w *fakeWorker) Metrics(string) []protocol.VertexMetrics { return nil }
func (w *fakeWorker) NotifyCheckpoint(_ string, id int64)     { w.notices <- id }
func (w *fakeWorker) TriggerCheckpoint(_ context.Context, tr protocol.CheckpointTrigger) error {
	w.triggers <- tr
	return nil
}

// fakeCode commits into a channel; failNext commits fail first.
type fakeCode struct {
	sink     int
	mu       sync.Mutex
	failNext int
	commits  chan commitCall
}

type commitCall struct {
	items []string
	err   error
}

func (c *fakeCode) Splits(context.Context, int) ([]dag.Split, error) {
	return []dag.Split{{ID: "s0"}}, nil
}
func (c *fakeCode) HasCommitter(v int) bool { return v == c.sink }
func (c *fakeCode) Commit(_ context.Context, _ int, cs [][]byte) error {
	call := commitCall{}
	for _, b := range cs {
		call.items = append(call.items, string(b))
	}
	c.mu.Lock()
	if c.failNext > 0 {
		c.failNext--
		call.err = errors.New("sink unavailable")
	}
	c.mu.Unlock()
	c.commits <- call
	return call.err
}
func (c *fakeCode) Abort(context.Context, int, [][]byte) error { return nil }
func (c *fakeCode) IsDynamic(int) bool                         { return false }
func (c *fakeCode) MoreSplits(context.Context, int, int, []dag.FinishedSplit) ([]dag.Split, bool, error) {
	return nil, false, nil
}

func await[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second): // a hang, not a timing assertion
		t.Fatalf("no %s", what)
		panic("unreachable")
	}
}

// TestJobLoopWithFakeClock drives a streaming job master through two
// checkpoints, a commit that fails and is retried on the job loop's timer,
// and the final commit, with a fake clock and fake workers: every step
// waits for the job master's call it causes, never for time to pass.
func TestJobLoopWithFakeClock(t *testing.T) {
	plan, sink := oneTaskStreamingPlan(t, "det")
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &fakeClock{now: t0}
	w := &fakeWorker{deploys: make(chan protocol.TaskDeployment, 4), triggers: make(chan protocol.CheckpointTrigger, 4), notices: make(chan int64, 4)}
	code := &fakeCode{sink: sink, commits: make(chan commitCall, 8)}
	jm, err := NewJobMaster(context.Background(), plan, code, []WorkerGateway{w},
		JobConfig{ID: "det-1", Clock: clk, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		res *JobResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := jm.Run(context.Background())
		done <- outcome{res, err}
	}()

	dep := await(t, "deploy", w.deploys)
	if dep.ID != (protocol.TaskID{}) || dep.Attempt != 0 || dep.Restore != nil {
		t.Fatalf("deployed %+v, want task 0/0 attempt 0 without restore", dep)
	}
	ack := func(id int64, items ...string) {
		var cs [][]byte
		for _, it := range items {
			cs = append(cs, []byte(it))
		}
		jm.ReportCheckpoint(protocol.CheckpointReport{Job: "det-1", Worker: "w1", ID: id, Acks: []protocol.TaskAck{{Attempt: 0,
			State: checkpoint.TaskState{Operators: []checkpoint.OperatorState{{Vertex: sink, Committables: cs}}}}}})
	}

	// The first checkpoint starts at the first checkpoint tick.
	clk.Advance(100 * time.Millisecond)
	tr := await(t, "trigger 1", w.triggers)
	if tr.Barrier.ID != 1 || tr.Barrier.Timestamp != t0.Add(100*time.Millisecond).UnixMilli() {
		t.Fatalf("trigger %+v, want checkpoint 1 stamped with the fake time", tr.Barrier)
	}
	ack(1, "c1")
	if c := await(t, "commit of 1", code.commits); !reflect.DeepEqual(c.items, []string{"c1"}) || c.err != nil {
		t.Fatalf("commit %+v, want c1", c)
	}
	if id := await(t, "notice of 1", w.notices); id != 1 {
		t.Fatalf("notice of checkpoint %d, want 1", id)
	}
	cps := jm.Checkpoints()
	if len(cps) != 1 || cps[0].Status != "completed" || !cps[0].Triggered.Equal(t0.Add(100*time.Millisecond)) || cps[0].Duration != 0 {
		t.Fatalf("checkpoints %+v, want 1 completed, triggered at the fake time, taking no fake time", cps)
	}

	// The second checkpoint is due an interval later; its commit fails
	// once and is retried when the fake clock reaches the retry time.
	clk.Advance(10 * time.Second)
	if tr := await(t, "trigger 2", w.triggers); tr.Barrier.ID != 2 {
		t.Fatalf("trigger %+v, want checkpoint 2", tr.Barrier)
	}
	code.mu.Lock()
	code.failNext = 1
	code.mu.Unlock()
	ack(2, "c2")
	if c := await(t, "failing commit of 2", code.commits); c.err == nil {
		t.Fatalf("commit %+v, want the injected failure", c)
	}
	await(t, "notice of 2", w.notices)
	clk.Advance(100 * time.Millisecond)
	if c := await(t, "retried commit of 2", code.commits); !reflect.DeepEqual(c.items, []string{"c2"}) || c.err != nil {
		t.Fatalf("retried commit %+v, want c2", c)
	}

	// The task finishes after checkpoint 2: its final output is committed
	// and the job ends.
	jm.Report(protocol.TaskStatus{Job: "det-1", Attempt: 0, LastCheckpoint: 2, Committables: map[int][][]byte{sink: {[]byte("c3")}}})
	if c := await(t, "final commit", code.commits); !reflect.DeepEqual(c.items, []string{"c3"}) || c.err != nil {
		t.Fatalf("final commit %+v, want c3", c)
	}
	out := await(t, "job end", done)
	if out.err != nil {
		t.Fatal(out.err)
	}
	if n := len(out.res.Checkpoints); n != 2 || out.res.Duration != 10200*time.Millisecond {
		t.Fatalf("result: %d checkpoints in %s, want 2 in the 10.2s the fake clock moved", n, out.res.Duration)
	}
}
