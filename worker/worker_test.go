package worker_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/protocol"
	"github.com/dagflow/dagflow/internal/testkit"
	"github.com/dagflow/dagflow/shuffle"
	"github.com/dagflow/dagflow/worker"
)

// env is a one-worker environment: memory shuffle, a split queue per
// source vertex, the plan, and the reports.
type env struct {
	plan    *dag.Plan
	svc     shuffle.Service
	mu      sync.Mutex
	splits  map[int][]dag.Split
	reports chan protocol.TaskStatus
	w       *worker.Worker
}

func (e *env) Resolve(string) (shuffle.Service, error) { return e.svc, nil }
func (e *env) Plan(string) (*dag.Plan, error)          { return e.plan, nil }
func (e *env) NextSplit(_ context.Context, _ string, req protocol.SplitRequest) (protocol.SplitResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	q := e.splits[req.Vertex]
	if len(q) == 0 {
		return protocol.SplitResponse{}, nil
	}
	e.splits[req.Vertex] = q[1:]
	return protocol.SplitResponse{Split: q[0], OK: true}, nil
}

func newEnv(t *testing.T, g *dag.Graph) *env {
	t.Helper()
	p, err := g.Build()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{plan: p, svc: shuffle.NewMemory(shuffle.MemoryConfig{}), splits: map[int][]dag.Split{}, reports: make(chan protocol.TaskStatus, 16)}
	for _, v := range p.Vertices {
		if v.Kind == "source" {
			sp, err := p.Engine().Splits(context.Background(), v.ID)
			if err != nil {
				t.Fatal(err)
			}
			e.splits[v.ID] = sp
		}
	}
	e.w = worker.New(worker.Config{Name: "w", Slots: 4, Logger: slog.New(slog.DiscardHandler)}, e.svc, e, e, e,
		func(st protocol.TaskStatus) { e.reports <- st })
	t.Cleanup(func() { e.w.Close() })
	return e
}

func (e *env) wait(t *testing.T) protocol.TaskStatus {
	t.Helper()
	select {
	case st := <-e.reports:
		return st
	case <-time.After(20 * time.Second):
		t.Fatal("no task report")
	}
	return protocol.TaskStatus{}
}

// twoTasks deploys a source task and a sink task connected by one
// rebalance edge of the given mode, both with parallelism 1.
func (e *env) twoTasks(t *testing.T, mode shuffle.Mode) {
	t.Helper()
	var edge int = -1
	for _, pe := range e.plan.Edges {
		if !pe.Chained {
			edge = pe.ID
		}
	}
	part := shuffle.PartitionID{Job: "j", Result: "e", Producer: 0, Attempt: 0}
	prod := protocol.TaskDeployment{Job: "j", ID: protocol.TaskID{Vertex: 0}, Outputs: []protocol.OutputPartition{{Edge: edge, Partition: part, Mode: mode, Subpartitions: 1}}}
	cons := protocol.TaskDeployment{Job: "j", ID: protocol.TaskID{Vertex: 1}, Inputs: []protocol.InputGate{{Edge: edge, Channels: []protocol.InputChannel{{Partition: part, Location: "w", From: 0, To: 1}}}}}
	if err := e.w.Deploy(context.Background(), prod); err != nil {
		t.Fatal(err)
	}
	if mode == shuffle.Blocking {
		if st := e.wait(t); st.Err != nil {
			t.Fatalf("producer: %v", st.Err)
		}
	}
	if err := e.w.Deploy(context.Background(), cons); err != nil {
		t.Fatal(err)
	}
}

func graph(items []int64, sink dag.Sink[int64], mapFn func(int64) int64) *dag.Graph {
	g := dag.New("j", dag.Config{Parallelism: 1, BatchSize: 100})
	s := dag.FromSource(g, "src", &testkit.SliceSource[int64]{Items: items, SplitSize: 250}, nil)
	s = dag.Map(s, mapFn, dag.Name("double"))
	dag.ToSink(s.Rebalance(), "sink", sink, dag.DisableChaining())
	return g
}

func seq(n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i)
	}
	return out
}

func TestTasksOverPipelinedAndBlockingPartitions(t *testing.T) {
	for _, mode := range []shuffle.Mode{shuffle.Pipelined, shuffle.Blocking} {
		t.Run(mode.String(), func(t *testing.T) {
			sink := testkit.NewCollector[int64]()
			e := newEnv(t, graph(seq(1000), sink, func(v int64) int64 { return 2 * v }))
			e.twoTasks(t, mode)
			var committables [][]byte
			for i := 0; i < 2-boolInt(mode == shuffle.Blocking); i++ {
				st := e.wait(t)
				if st.Err != nil {
					t.Fatalf("task %v: %v", st.ID, st.Err)
				}
				for _, c := range st.Committables {
					committables = append(committables, c...)
				}
			}
			if err := sink.Committer().Commit(context.Background(), committables); err != nil {
				t.Fatal(err)
			}
			got := sink.Committed()
			slices.Sort(got)
			want := seq(1000)
			for i := range want {
				want[i] *= 2
			}
			if !slices.Equal(got, want) {
				t.Fatalf("got %d records", len(got))
			}
			ms := e.w.Metrics("j")
			if len(ms) == 0 {
				t.Fatal("no metrics")
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestUserPanicBecomesPanicError(t *testing.T) {
	sink := testkit.NewCollector[int64]()
	e := newEnv(t, graph(seq(100), sink, func(v int64) int64 {
		if v == 42 {
			panic("user bug at 42")
		}
		return v
	}))
	e.twoTasks(t, shuffle.Pipelined)
	var failed protocol.TaskStatus
	for i := 0; i < 2; i++ {
		if st := e.wait(t); st.Err != nil && st.ID.Vertex == 0 {
			failed = st
		}
	}
	var pe *protocol.PanicError
	if !errors.As(failed.Err, &pe) {
		t.Fatalf("producer error %v is not a PanicError", failed.Err)
	}
	if pe.Value != "user bug at 42" || !strings.Contains(pe.Stack, "worker_test.go") {
		t.Errorf("panic value %v, stack lacks the user's frame:\n%s", pe.Value, pe.Stack)
	}
	if len(sink.Committed()) != 0 || sink.Pending() != 0 {
		t.Error("failed task left output")
	}
}

func TestMissingBlockingInputIsInputError(t *testing.T) {
	sink := testkit.NewCollector[int64]()
	e := newEnv(t, graph(seq(10), sink, func(v int64) int64 { return v }))
	var edge int
	for _, pe := range e.plan.Edges {
		if !pe.Chained {
			edge = pe.ID
		}
	}
	part := shuffle.PartitionID{Job: "j", Result: "e", Producer: 0, Attempt: 7}
	// Make the result known as blocking, but never commit attempt 7.
	w, err := e.svc.CreateWriter(context.Background(), shuffle.PartitionID{Job: "j", Result: "e", Producer: 0, Attempt: 6}, shuffle.WriterOptions{Mode: shuffle.Blocking, Subpartitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	w.Abort(errors.New("gone"))
	cons := protocol.TaskDeployment{Job: "j", ID: protocol.TaskID{Vertex: 1}, Inputs: []protocol.InputGate{{Edge: edge, Channels: []protocol.InputChannel{{Partition: part, Location: "w", From: 0, To: 1}}}}}
	if err := e.w.Deploy(context.Background(), cons); err != nil {
		t.Fatal(err)
	}
	st := e.wait(t)
	var ie *protocol.InputError
	if !errors.As(st.Err, &ie) || !errors.Is(st.Err, shuffle.ErrNotExist) || ie.Partition != part {
		t.Fatalf("err = %v, want an InputError wrapping ErrNotExist for %v", st.Err, part)
	}
}

func TestCancelStopsTask(t *testing.T) {
	sink := testkit.NewCollector[int64]()
	g := dag.New("j", dag.Config{Parallelism: 1})
	src := &testkit.SliceSource[int64]{Items: seq(100000), SplitSize: 100, Delay: 10 * time.Millisecond}
	dag.ToSink(dag.FromSource(g, "src", src, nil), "sink", sink)
	e := newEnv(t, g)
	dep := protocol.TaskDeployment{Job: "j", ID: protocol.TaskID{Vertex: 0}}
	if err := e.w.Deploy(context.Background(), dep); err != nil {
		t.Fatal(err)
	}
	if err := e.w.Deploy(context.Background(), dep); err == nil {
		t.Error("deploying the same attempt twice succeeded")
	}
	time.Sleep(30 * time.Millisecond)
	e.w.Cancel("j", dep.ID, 0)
	st := e.wait(t)
	if !errors.Is(st.Err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", st.Err)
	}
	if sink.Pending() != 0 {
		t.Error("cancelled sink prepared output")
	}
	if e.w.Running() != 0 {
		t.Error("task still registered as running")
	}
}
