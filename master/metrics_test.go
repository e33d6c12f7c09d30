package master_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/protocol"
	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/internal/testkit"
	"github.com/dagflow/dagflow/master"
	"github.com/dagflow/dagflow/scheduler"
)

// fakeClock is a settable clock for the master's job history.
type fakeClock struct{ now atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.now.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.now.Add(int64(d)) }

// fakeWorkerServer is a worker daemon's gRPC service that runs nothing:
// the master deploys to it over loopback and the test reports the tasks'
// counters and outcomes through the master's own RPCs, as an executor
// would.
type fakeWorkerServer struct {
	rpcpb.UnimplementedWorkerServer
	deps chan protocol.TaskDeployment
}

func (w *fakeWorkerServer) PrepareJob(context.Context, *rpcpb.PrepareJobRequest) (*rpcpb.PrepareJobResponse, error) {
	return &rpcpb.PrepareJobResponse{ExecutorAddress: "127.0.0.1:1"}, nil
}

func (w *fakeWorkerServer) DeployTask(_ context.Context, req *rpcpb.DeployTaskRequest) (*rpcpb.Empty, error) {
	dep, err := protocol.DeploymentFromProto(req.GetDeployment())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	w.deps <- dep
	return &rpcpb.Empty{}, nil
}

func (w *fakeWorkerServer) CancelTask(context.Context, *rpcpb.CancelTaskRequest) (*rpcpb.Empty, error) {
	return &rpcpb.Empty{}, nil
}

func (w *fakeWorkerServer) ReleaseJob(context.Context, *rpcpb.JobRef) (*rpcpb.Empty, error) {
	return &rpcpb.Empty{}, nil
}

// metricsCluster is a master daemon with HTTP, and one fake worker
// registered with it over gRPC.
type metricsCluster struct {
	srv    *master.Server
	mc     rpcpb.MasterClient
	worker *fakeWorkerServer
	name   string
}

func startMetricsCluster(t *testing.T, cfg master.ServerConfig) *metricsCluster {
	t.Helper()
	cfg.Listen, cfg.HTTP, cfg.Dir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	cfg.Logger = slog.New(slog.DiscardHandler)
	srv, err := master.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &metricsCluster{srv: srv, mc: rpcpb.NewMasterClient(conn), worker: &fakeWorkerServer{deps: make(chan protocol.TaskDeployment, 64)}, name: "fake-worker"}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	rpcpb.RegisterWorkerServer(gs, c.worker)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	if _, err := c.mc.RegisterWorker(context.Background(), &rpcpb.RegisterWorkerRequest{Name: c.name, Address: lis.Addr().String(), Slots: 4}); err != nil {
		t.Fatal(err)
	}
	return c
}

// submit uploads a stand-in binary (the fake worker never runs it) and
// submits the graph's plan.
func (c *metricsCluster) submit(t *testing.T, g *dag.Graph) (string, *dag.Plan) {
	t.Helper()
	plan, err := g.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bin := []byte("#!/bin/sh\nexit 0\n")
	sum := sha256.Sum256(bin)
	ref := &rpcpb.BinaryRef{Sha256: hex.EncodeToString(sum[:]), Size: int64(len(bin))}
	up, err := c.mc.UploadBinary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Send(&rpcpb.BinaryChunk{Ref: ref, Data: bin}); err != nil {
		t.Fatal(err)
	}
	if _, err := up.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	planJSON, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.mc.SubmitJob(ctx, &rpcpb.SubmitJobRequest{Name: plan.Job, Binary: ref, PlanJson: planJSON, MaxRestarts: -1})
	if err != nil {
		t.Fatal(err)
	}
	return resp.JobId, plan
}

// nextDeployment waits for the master to deploy a task to the fake worker.
func (c *metricsCluster) nextDeployment(t *testing.T) protocol.TaskDeployment {
	t.Helper()
	select {
	case dep := <-c.worker.deps:
		return dep
	case <-time.After(30 * time.Second):
		t.Fatal("no task was deployed within 30s")
		return protocol.TaskDeployment{}
	}
}

// finishTask reports a deployed task as finished.
func (c *metricsCluster) finishTask(t *testing.T, dep protocol.TaskDeployment) {
	t.Helper()
	st := protocol.StatusToProto(protocol.TaskStatus{Job: dep.Job, ID: dep.ID, Attempt: dep.Attempt})
	if _, err := c.mc.ReportTask(context.Background(), &rpcpb.ReportTaskRequest{Status: st}); err != nil {
		t.Fatal(err)
	}
}

// waitStatus polls the job's status until ok accepts it.
func (c *metricsCluster) waitStatus(t *testing.T, job, what string, ok func(master.JobStatus) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		doc, err := c.mc.JobStatus(context.Background(), &rpcpb.JobRef{JobId: job})
		if err != nil {
			t.Fatal(err)
		}
		st, err := master.JobStatusFromProto(doc)
		if err != nil {
			t.Fatal(err)
		}
		if ok(st) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: not %s after 30s: %+v", job, what, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitState waits until the job is in state.
func (c *metricsCluster) waitState(t *testing.T, job, state string) {
	t.Helper()
	c.waitStatus(t, job, state, func(st master.JobStatus) bool { return st.State == state })
}

// waitRunning waits until the deployed task runs (the master saw the
// worker accept it).
func (c *metricsCluster) waitRunning(t *testing.T, dep protocol.TaskDeployment) {
	t.Helper()
	c.waitStatus(t, dep.Job, "running its task", func(st master.JobStatus) bool {
		for _, tv := range st.Tasks {
			if tv.Task == dep.ID.Vertex && tv.Subtask == dep.ID.Subtask && tv.Attempt == dep.Attempt && tv.State == "running" {
				return true
			}
		}
		return false
	})
}

// scrape fetches a /metrics endpoint and parses it as Prometheus text.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams
}

// sample returns the metric of a family whose labels include want.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) (*dto.Metric, bool) {
	for _, m := range fams[name].GetMetric() {
		ok := true
		for k, v := range want {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			ok = ok && found
		}
		if ok {
			return m, true
		}
	}
	return nil, false
}

// value is a counter's or gauge's value.
func value(m *dto.Metric) float64 {
	if m.Counter != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// jobSeries lists the series that carry job as their job label.
func jobSeries(fams map[string]*dto.MetricFamily, job string) []string {
	var out []string
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "job" && lp.GetValue() == job {
					out = append(out, fmt.Sprintf("%s%v", name, m.GetLabel()))
				}
			}
		}
	}
	return out
}

// awkwardName needs every escape of the exposition format and more.
const awkwardName = "tab\there \"quoted\" back\\slash\nnew line"

func awkwardGraph() *dag.Graph {
	g := dag.New("awkward", dag.Config{Parallelism: 1, Mode: dag.BatchMode})
	s := dag.FromSource(g, "src", &testkit.SliceSource[string]{Items: []string{"a", "b"}}, nil)
	s = dag.Map(s, strings.ToUpper, dag.Name(awkwardName))
	dag.ToSink(s, "sink", testkit.NewCollector[string]())
	return g
}

func vertexID(t *testing.T, plan *dag.Plan, name string) int {
	t.Helper()
	for _, v := range plan.Vertices {
		if v.Name == name {
			return v.ID
		}
	}
	t.Fatalf("plan has no vertex %q", name)
	return 0
}

// TestMasterMetricsScrape scrapes a running master whose job has a vertex
// named with a tab, quotes, a backslash and a newline: the body parses as
// Prometheus text and holds the name exactly, with the counters the worker
// reported, the Go and process collectors, and a deployment observation.
func TestMasterMetricsScrape(t *testing.T) {
	c := startMetricsCluster(t, master.ServerConfig{})
	id, plan := c.submit(t, awkwardGraph())
	dep := c.nextDeployment(t)
	c.waitRunning(t, dep)
	vid := vertexID(t, plan, awkwardName)
	rep := protocol.MetricsToProto(protocol.MetricsReport{Vertices: []protocol.VertexMetrics{
		{Vertex: vid, Subtask: 0, RecordsIn: 7, RecordsOut: 5, BytesOut: 11, LateDropped: 2, BackPressureNanos: 1_500_000_000},
	}, BuffersInUse: 3, PeakBuffersInUse: 9})
	if _, err := c.mc.ReportMetrics(context.Background(), &rpcpb.ReportMetricsRequest{JobId: id, Worker: c.name, Metrics: rep}); err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, c.srv.HTTPAddr())
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if len(fams[name].GetMetric()) == 0 {
			t.Errorf("no %s in the scrape", name)
		}
	}
	v := map[string]string{"job": id, "vertex": awkwardName}
	for _, want := range []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"dagflow_vertex_records_in_total", v, 7},
		{"dagflow_vertex_records_out_total", v, 5},
		{"dagflow_vertex_bytes_out_total", v, 11},
		{"dagflow_vertex_late_records_dropped_total", v, 2},
		{"dagflow_vertex_backpressure_seconds_total", v, 1.5},
		{"dagflow_vertex_parallelism", v, 1},
		{"dagflow_shuffle_buffers_in_use", map[string]string{"job": id, "worker": c.name}, 3},
		{"dagflow_shuffle_buffers_in_use_peak", map[string]string{"job": id, "worker": c.name}, 9},
		{"dagflow_workers", nil, 1},
		{"dagflow_slots", nil, 4},
		{"dagflow_jobs_submitted_total", nil, 1},
		{"dagflow_jobs", map[string]string{"state": "running"}, 1},
		{"dagflow_job_info", map[string]string{"job": id, "name": "awkward", "state": "running"}, 1},
		{"dagflow_job_restarts_total", map[string]string{"job": id}, 0},
		{"dagflow_checkpoints_total", map[string]string{"job": id, "result": "completed"}, 0},
	} {
		m, ok := sample(fams, want.name, want.labels)
		if !ok {
			t.Errorf("no %s%v in the scrape", want.name, want.labels)
			continue
		}
		if got := value(m); got != want.value {
			t.Errorf("%s%v = %g, want %g", want.name, want.labels, got, want.value)
		}
	}
	if m, ok := sample(fams, "dagflow_task_deployment_seconds", map[string]string{"job": id}); !ok || m.GetHistogram().GetSampleCount() != 1 {
		t.Errorf("dagflow_task_deployment_seconds{job=%q}: %v, want one observation (one task deployed)", id, m)
	}
	c.finishTask(t, dep)
	c.waitState(t, id, "finished")
}

// TestMasterForgetsJobsAndTheirSeries finishes a job, advances the
// master's clock past the history age and checks that the job is gone
// from the job list, status, REST and every metric.
func TestMasterForgetsJobsAndTheirSeries(t *testing.T) {
	clock := newFakeClock()
	c := startMetricsCluster(t, master.ServerConfig{JobHistoryAge: time.Hour, Now: clock.Now})
	id, plan := c.submit(t, awkwardGraph())
	if len(plan.Tasks) != 1 {
		t.Fatalf("plan has %d tasks, want the chain in one", len(plan.Tasks))
	}
	dep := c.nextDeployment(t)
	rep := protocol.MetricsToProto(protocol.MetricsReport{Vertices: []protocol.VertexMetrics{{Vertex: 0, RecordsOut: 2}}, BuffersInUse: 1})
	if _, err := c.mc.ReportMetrics(context.Background(), &rpcpb.ReportMetricsRequest{JobId: id, Worker: c.name, Metrics: rep}); err != nil {
		t.Fatal(err)
	}
	c.finishTask(t, dep)
	c.waitState(t, id, "finished")
	// Cancel returns once the master recorded the job's end (on its clock)
	// and changes nothing for a job that already finished.
	if resp, err := c.mc.CancelJob(context.Background(), &rpcpb.JobRef{JobId: id}); err != nil || resp.State != "finished" {
		t.Fatalf("cancel of a finished job: %v, %v", resp, err)
	}

	clock.Advance(59 * time.Minute)
	if len(jobSeries(scrape(t, c.srv.HTTPAddr()), id)) == 0 {
		t.Fatalf("a job finished 59 minutes ago (history age 1h) has no series")
	}
	clock.Advance(2 * time.Minute)
	fams := scrape(t, c.srv.HTTPAddr())
	if s := jobSeries(fams, id); len(s) > 0 {
		t.Errorf("forgotten job %s still has series: %v", id, s)
	}
	if _, ok := sample(fams, "dagflow_jobs", map[string]string{"state": "finished"}); ok {
		t.Errorf("dagflow_jobs still counts a finished job")
	}
	if _, err := c.mc.JobStatus(context.Background(), &rpcpb.JobRef{JobId: id}); status.Code(err) != codes.NotFound {
		t.Errorf("status of a forgotten job: %v, want NotFound", err)
	}
	doc, err := c.mc.ListJobs(context.Background(), &rpcpb.ListJobsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range doc.GetJobs() {
		if j.GetId() == id {
			t.Errorf("job list still has the forgotten job: %v", doc)
		}
	}
	resp, err := http.Get("http://" + c.srv.HTTPAddr() + "/api/jobs/" + id)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /api/jobs/%s: %s, want 404", id, resp.Status)
	}
	// A late report about the forgotten job does not bring its series back.
	if _, err := c.mc.ReportMetrics(context.Background(), &rpcpb.ReportMetricsRequest{JobId: id, Worker: c.name, Metrics: rep}); err != nil {
		t.Fatal(err)
	}
	if s := jobSeries(scrape(t, c.srv.HTTPAddr()), id); len(s) > 0 {
		t.Errorf("forgotten job %s has series again after a late report: %v", id, s)
	}
}

// TestCheckpointAndDeploymentHistograms runs a checkpointing job embedded
// with JobMetrics as its observer: the checkpoint duration histogram has
// one observation per completed checkpoint of the job's history, the
// result counters match the history, and every deployed task was timed.
func TestCheckpointAndDeploymentHistograms(t *testing.T) {
	evs := events(3000)
	var fails atomic.Int32
	src := &testkit.SliceSource[ev]{Items: evs, SplitSize: 750, Delay: 5 * time.Millisecond}
	sink := testkit.NewCollector[winSum]()
	g := windowedJob("histograms", 2, src, 0, &fails, 0, sink, dag.CheckpointConfig{Interval: 30 * time.Millisecond})
	reg := prometheus.NewRegistry()
	jm := master.NewJobMetrics()
	reg.MustRegister(jm)
	restart := scheduler.FixedDelay(3, 20*time.Millisecond)
	res, err := run(t, newCluster(t, 2), g, master.JobConfig{ID: "hist", Restart: &restart, Observer: jm.Observer("hist")})
	if err != nil {
		t.Fatal(err)
	}
	diffCounts(t, countSums(sink.Committed()), expectedSums(evs))
	results := map[string]int{}
	for _, cs := range res.Checkpoints {
		results[master.CheckpointResult(cs)]++
	}
	if results["completed"] == 0 {
		t.Fatalf("no checkpoint completed: %+v", res.Checkpoints)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	t.Logf("checkpoint results %v", results)
	exact := len(res.Checkpoints) < 20 // the job's history keeps the last 20
	m, ok := sample(byName, "dagflow_checkpoint_duration_seconds", map[string]string{"job": "hist"})
	if !ok {
		t.Fatal("no dagflow_checkpoint_duration_seconds{job=\"hist\"}")
	}
	h := m.GetHistogram()
	if n := int(h.GetSampleCount()); n < results["completed"] || exact && n != results["completed"] {
		t.Errorf("checkpoint duration observations: %d, want %d (completed checkpoints in %+v)", n, results["completed"], res.Checkpoints)
	}
	if h.GetSampleSum() <= 0 {
		t.Errorf("checkpoint durations sum to %g", h.GetSampleSum())
	}
	for _, r := range []string{"completed", "aborted", "declined", "expired"} {
		m, ok := sample(byName, "dagflow_checkpoints_total", map[string]string{"job": "hist", "result": r})
		if !ok {
			t.Errorf("no dagflow_checkpoints_total{result=%q}", r)
			continue
		}
		if got := int(value(m)); got < results[r] || exact && got != results[r] {
			t.Errorf("dagflow_checkpoints_total{result=%q} = %d, want %d", r, got, results[r])
		}
	}
	if m, ok := sample(byName, "dagflow_checkpoints_total", map[string]string{"job": "hist", "result": "completed"}); ok && int(value(m)) != int(h.GetSampleCount()) {
		t.Errorf("%g completed checkpoints counted but %d durations observed", value(m), h.GetSampleCount())
	}
	plan, _ := g.Build()
	subtasks := 0
	for _, pt := range plan.Tasks {
		subtasks += pt.Parallelism
	}
	if m, ok := sample(byName, "dagflow_task_deployment_seconds", map[string]string{"job": "hist"}); !ok || int(m.GetHistogram().GetSampleCount()) < subtasks {
		t.Errorf("dagflow_task_deployment_seconds{job=\"hist\"}: %v, want at least %d observations (one per subtask)", m, subtasks)
	}
	jm.Forget("hist")
	if fams, _ := reg.Gather(); len(fams) != 0 {
		t.Errorf("series left after Forget: %v", fams)
	}
}
