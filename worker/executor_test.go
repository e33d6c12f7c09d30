package worker_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/netaddr"
	"github.com/dagflow/dagflow/internal/protocol"
	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/internal/testkit"
	"github.com/dagflow/dagflow/shuffle"
	"github.com/dagflow/dagflow/worker"
)

// keyRecords is what a keyRecorder saw: the keys of every record, with
// the attributes loggers were built with first.
type keyRecords struct {
	mu      sync.Mutex
	records []keyRecord
}

type keyRecord struct {
	msg  string
	keys []string
}

// keyRecorder is a slog.Handler recording keys, so that a test sees a
// key attached twice (by With along a logger chain and by the call)
// whatever the output format would make of it.
type keyRecorder struct {
	out    *keyRecords
	prefix string
	attrs  []string
}

func (h *keyRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *keyRecorder) Handle(_ context.Context, r slog.Record) error {
	keys := slices.Clone(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		keys = append(keys, h.prefix+a.Key)
		return true
	})
	h.out.mu.Lock()
	h.out.records = append(h.out.records, keyRecord{r.Message, keys})
	h.out.mu.Unlock()
	return nil
}

func (h *keyRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = slices.Clone(h.attrs)
	for _, a := range as {
		n.attrs = append(n.attrs, h.prefix+a.Key)
	}
	return &n
}

func (h *keyRecorder) WithGroup(name string) slog.Handler {
	n := *h
	n.prefix = h.prefix + name + "."
	return &n
}

// fakeMaster serves the master calls an executor makes.
type fakeMaster struct {
	rpcpb.UnimplementedMasterServer
	mu      sync.Mutex
	splits  map[int][]dag.Split
	reports chan protocol.TaskStatus
}

func (m *fakeMaster) NextSplit(_ context.Context, req *rpcpb.NextSplitRequest) (*rpcpb.NextSplitResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.splits[int(req.Vertex)]
	if len(q) == 0 {
		return &rpcpb.NextSplitResponse{}, nil
	}
	m.splits[int(req.Vertex)] = q[1:]
	return &rpcpb.NextSplitResponse{Ok: true, Id: q[0].ID, Data: q[0].Data, Weight: q[0].Weight}, nil
}

func (m *fakeMaster) ReportTask(_ context.Context, req *rpcpb.ReportTaskRequest) (*rpcpb.Empty, error) {
	st, err := protocol.StatusFromProto(req.GetStatus())
	if err != nil {
		return nil, err
	}
	m.reports <- st
	return &rpcpb.Empty{}, nil
}

func (m *fakeMaster) ReportMetrics(context.Context, *rpcpb.ReportMetricsRequest) (*rpcpb.Empty, error) {
	return &rpcpb.Empty{}, nil
}

// TestExecutorOnWildcardAdvertisesAndLogsEachKeyOnce runs an executor in
// this process, bound to 0.0.0.0 with the worker's advertised host, under
// a fake master over loopback: the address it announces is specific and
// serves its tasks, a two-task job gives the exact result, and no log
// record (executor, task runtime, shuffle) has a key twice.
func TestExecutorOnWildcardAdvertisesAndLogsEachKeyOnce(t *testing.T) {
	sink := testkit.NewCollector[int64]()
	g := graph(seq(1000), sink, func(v int64) int64 { return 2 * v })
	plan, err := g.Build()
	if err != nil {
		t.Fatal(err)
	}
	fm := &fakeMaster{splits: map[int][]dag.Split{}, reports: make(chan protocol.TaskStatus, 16)}
	for _, v := range plan.Vertices {
		if v.Kind == "source" {
			if fm.splits[v.ID], err = plan.Engine().Splits(context.Background(), v.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	mlis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	msrv := grpc.NewServer()
	rpcpb.RegisterMasterServer(msrv, fm)
	go msrv.Serve(mlis)
	defer msrv.Stop()

	recs := &keyRecords{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	done := make(chan error, 1)
	cfg := worker.ExecutorConfig{Job: "j", Worker: "w0", Master: mlis.Addr().String(), Fingerprint: plan.Fingerprint,
		Dir: t.TempDir(), Listen: "0.0.0.0:0", Advertise: "127.0.0.1:0", Slots: 4, Logger: slog.New(&keyRecorder{out: recs})}
	go func() {
		done <- worker.RunExecutor(ctx, plan, cfg, stdinR, stdoutW)
		stdoutW.Close()
	}()
	sc := bufio.NewScanner(stdoutR)
	var addr string
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), protocol.ExecutorReady); ok {
			addr = a
			break
		}
	}
	go io.Copy(io.Discard, stdoutR)
	if addr == "" {
		t.Fatalf("executor did not announce an address: %v", <-done)
	}
	if err := netaddr.Dialable(addr); err != nil {
		t.Fatal(err)
	}
	if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
		t.Errorf("executor announced %s, want the advertised host 127.0.0.1", addr)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ec := rpcpb.NewExecutorClient(conn)
	var edge = -1
	for _, pe := range plan.Edges {
		if !pe.Chained {
			edge = pe.ID
		}
	}
	part := shuffle.PartitionID{Job: "j", Result: "e", Producer: 0, Attempt: 0}
	for _, dep := range []protocol.TaskDeployment{
		{Job: "j", ID: protocol.TaskID{Vertex: 0}, Outputs: []protocol.OutputPartition{{Edge: edge, Partition: part, Mode: shuffle.Pipelined, Subpartitions: 1}}},
		{Job: "j", ID: protocol.TaskID{Vertex: 1}, Inputs: []protocol.InputGate{{Edge: edge, Channels: []protocol.InputChannel{{Partition: part, Location: addr, From: 0, To: 1}}}}},
	} {
		if _, err := ec.DeployTask(ctx, &rpcpb.DeployTaskRequest{Deployment: protocol.DeploymentToProto(dep)}); err != nil {
			t.Fatalf("deploy %v: %v", dep.ID, err)
		}
	}
	var committables [][]byte
	for range 2 {
		select {
		case st := <-fm.reports:
			if st.Err != nil {
				t.Fatalf("task %v: %v", st.ID, st.Err)
			}
			for _, c := range st.Committables {
				committables = append(committables, c...)
			}
		case err := <-done:
			t.Fatalf("executor ended early: %v", err)
		case <-ctx.Done():
			t.Fatal("tasks did not report")
		}
	}
	stdinW.Close() // the worker daemon is gone: the executor stops
	if err := <-done; err != nil {
		t.Fatalf("executor: %v", err)
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
		t.Errorf("got %d records, want %d", len(got), len(want))
	}

	recs.mu.Lock()
	defer recs.mu.Unlock()
	var sawTask, sawReady bool
	for _, r := range recs.records {
		seen := map[string]bool{}
		for _, k := range r.keys {
			if seen[k] {
				t.Errorf("record %q has key %q twice: %v", r.msg, k, r.keys)
			}
			seen[k] = true
		}
		if r.msg == "task started" {
			sawTask = true
			for _, k := range []string{"worker", "job", "task"} {
				if !seen[k] {
					t.Errorf("record %q lacks %q: %v", r.msg, k, r.keys)
				}
			}
		}
		if r.msg == "executor ready" {
			sawReady = seen["job"] && seen["worker"]
		}
	}
	if !sawTask || !sawReady {
		t.Errorf("no task record with its attributes (%v) or no executor record with job and worker (%v) among %d records", sawTask, sawReady, len(recs.records))
	}
}
