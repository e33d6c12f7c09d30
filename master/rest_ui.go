package master

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/protocol"
	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/master/webui"
	"github.com/dagflow/dagflow/scheduler"
)

// The routes below serve the web UI and the REST endpoints it needs
// beyond /api/jobs, /api/jobs/{id} and /api/workers (docs/openapi.yaml
// documents all of them; docs/ui.md describes the UI).

// JobGraph is the plan of a job as the UI draws it: one node per task
// (operator chain) and one edge per network edge.
type JobGraph struct {
	ID    string      `json:"id"`
	Name  string      `json:"name"`
	Tasks []GraphTask `json:"tasks"`
	Edges []GraphEdge `json:"edges"`
	// Groups is the number of pipelined groups: tasks connected by
	// pipelined edges, which run (and restart) together.
	Groups int `json:"groups"`
	// Regions is the number of pipelined regions the scheduler computed
	// (at subtask granularity).
	Regions int `json:"regions"`
}

// GraphTask is one operator chain of a job graph.
type GraphTask struct {
	ID          int             `json:"id"`
	Name        string          `json:"name"`
	Parallelism int             `json:"parallelism"`
	Bounded     bool            `json:"bounded"`
	Operators   []GraphOperator `json:"operators"`
	// Group is the task's pipelined group (0..Groups-1).
	Group int `json:"group"`
	// Regions are the scheduler's pipelined regions holding subtasks of
	// the task.
	Regions []int `json:"regions"`
}

// GraphOperator is one vertex of an operator chain, head first.
type GraphOperator struct {
	ID          int    `json:"id"`
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Parallelism int    `json:"parallelism"`
}

// GraphEdge is a network edge between two tasks.
type GraphEdge struct {
	ID          int    `json:"id"`
	From        int    `json:"from"` // task ids
	To          int    `json:"to"`
	FromVertex  int    `json:"fromVertex"`
	ToVertex    int    `json:"toVertex"`
	Mode        string `json:"mode"`        // pipelined or blocking
	Partitioner string `json:"partitioner"` // forward, hash, rebalance, broadcast
}

// SubtaskStatus is one subtask's state and counters.
type SubtaskStatus struct {
	TaskView
	// RecordsIn are records into the chain's head; RecordsOut records
	// out of the chain's vertices with network outputs (the tail of a
	// sink chain otherwise).
	RecordsIn  int64 `json:"recordsIn"`
	RecordsOut int64 `json:"recordsOut"`
	// BytesIn and BytesOut are encoded bytes read from and written to
	// network edges.
	BytesIn  int64 `json:"bytesIn"`
	BytesOut int64 `json:"bytesOut"`
	// BackPressure is the fraction of the job's run the subtask spent
	// blocked on full exchange queues (0..1).
	BackPressure float64 `json:"backPressure"`
}

// JobExceptions are a job's failure reason and failovers.
type JobExceptions struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// Failovers are oldest first; each Cause carries the failed task's
	// error, with the user's stack for panics.
	Failovers []FailoverView `json:"failovers"`
}

// FailoverView is one failover of a job.
type FailoverView struct {
	Time      time.Time     `json:"time"`
	Cause     string        `json:"cause"`
	Failed    []int         `json:"failed"`
	Restarted []int         `json:"restarted"`
	Restart   int           `json:"restart"`
	Delay     time.Duration `json:"delayNanos"`
}

// ClusterView is the master's view of its workers for the UI.
type ClusterView struct {
	Workers        []WorkerView   `json:"workers"`
	Slots          int            `json:"slots"`
	SlotsUsed      int            `json:"slotsUsed"`
	ShuffleDaemons int            `json:"shuffleDaemons"`
	Jobs           map[string]int `json:"jobs"` // by state
}

// WorkerView is one registered worker.
type WorkerView struct {
	Name      string `json:"name"`
	Address   string `json:"address"`
	Slots     int    `json:"slots"`
	SlotsUsed int    `json:"slotsUsed"`
	// MemoryBytes sums what the worker's executors last reported.
	MemoryBytes uint64         `json:"memoryBytes"`
	Executors   []ExecutorView `json:"executors"`
}

// ExecutorView is a worker's executor process of one running job.
type ExecutorView struct {
	Job          string `json:"job"`
	Tasks        int    `json:"tasks"`
	BuffersInUse int    `json:"buffersInUse"`
	MemoryBytes  uint64 `json:"memoryBytes"`
}

// StopRequest is the body of POST /api/jobs/{id}/savepoint and /stop.
type StopRequest struct {
	// Dir is where the savepoint goes (default: the master's
	// --savepoint-dir).
	Dir string `json:"dir,omitempty"`
	// Drain ends the job's input first (stop only).
	Drain bool `json:"drain,omitempty"`
}

const maxBody = 64 << 10

// registerUI adds the web UI, the health checks and the UI's REST
// endpoints to mux.
func (s *Server) registerUI(mux *http.ServeMux) {
	ui := webui.Handler()
	mux.Handle("GET /{$}", ui)
	mux.Handle("GET /ui/", ui)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			writeError(w, http.StatusServiceUnavailable, errors.New("master: not ready (starting or shutting down)"))
			return
		}
		writeJSON(w, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("GET /api/cluster", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.clusterView())
	})
	mux.HandleFunc("GET /api/jobs/{id}/graph", s.withJob(func(w http.ResponseWriter, r *http.Request, j *clusterJob) {
		g, err := jobGraph(j.id, j.plan)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, g)
	}))
	mux.HandleFunc("GET /api/jobs/{id}/subtasks", s.withJob(func(w http.ResponseWriter, r *http.Request, j *clusterJob) {
		writeJSON(w, s.subtasks(j))
	}))
	mux.HandleFunc("GET /api/jobs/{id}/exceptions", s.withJob(func(w http.ResponseWriter, r *http.Request, j *clusterJob) {
		writeJSON(w, s.exceptions(j))
	}))
	mux.HandleFunc("GET /api/jobs/{id}/logs", s.withJob(s.serveLogs))
	mux.HandleFunc("POST /api/jobs/{id}/cancel", s.withJob(func(w http.ResponseWriter, r *http.Request, j *clusterJob) {
		resp, err := s.CancelJob(r.Context(), &rpcpb.JobRef{JobId: j.id})
		if err != nil {
			writeError(w, httpCode(err), err)
			return
		}
		writeJSON(w, map[string]string{"state": resp.State})
	}))
	mux.HandleFunc("POST /api/jobs/{id}/savepoint", s.withJob(func(w http.ResponseWriter, r *http.Request, j *clusterJob) {
		s.serveSavepoint(w, r, j, false)
	}))
	mux.HandleFunc("POST /api/jobs/{id}/stop", s.withJob(func(w http.ResponseWriter, r *http.Request, j *clusterJob) {
		s.serveSavepoint(w, r, j, true)
	}))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("master: no API endpoint %s %s", r.Method, r.URL.Path))
	})
}

// writeError answers an error as JSON {"error": "..."}.
func writeError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// httpCode maps a gRPC status error to an HTTP status code.
func httpCode(err error) int {
	switch status.Code(err) {
	case codes.InvalidArgument:
		return http.StatusBadRequest
	case codes.NotFound:
		return http.StatusNotFound
	case codes.FailedPrecondition, codes.AlreadyExists:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.Canceled, codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// withJob resolves the {id} of the route or answers 400/404.
func (s *Server) withJob(h func(http.ResponseWriter, *http.Request, *clusterJob)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.forgetJobs()
		j, err := s.job(r.PathValue("id"))
		if err != nil {
			writeError(w, httpCode(err), fmt.Errorf("master: %s", status.Convert(err).Message()))
			return
		}
		h(w, r, j)
	}
}

// serveSavepoint triggers a savepoint, with stop also ending the job.
func (s *Server) serveSavepoint(w http.ResponseWriter, r *http.Request, j *clusterJob, stop bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("master: request body: %w", err))
		return
	}
	req, err := decodeStopRequest(body, stop)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	resp, err := s.TriggerSavepoint(r.Context(), &rpcpb.SavepointRequest{JobId: j.id, Dir: req.Dir, Stop: stop, Drain: req.Drain})
	if err != nil {
		writeError(w, httpCode(err), fmt.Errorf("master: %s", status.Convert(err).Message()))
		return
	}
	writeJSON(w, SavepointResponse{Location: resp.GetLocation()})
}

// decodeStopRequest decodes the body of POST savepoint (stop false) or
// stop (stop true): empty, or one StopRequest object and nothing after it.
func decodeStopRequest(body []byte, stop bool) (StopRequest, error) {
	var req StopRequest
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return StopRequest{}, fmt.Errorf("master: request body: %w (want {\"dir\": \"...\", \"drain\": false})", err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return StopRequest{}, errors.New("master: request body: data after the JSON object (want one {\"dir\": \"...\", \"drain\": false})")
		}
	}
	if req.Drain && !stop {
		return StopRequest{}, errors.New("master: request body: drain applies to stop only")
	}
	return req, nil
}

// serveLogs answers the last lines of a job's executor logs as text,
// optionally only a task's ("?task=name[subtask]", "?lines=N").
func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request, j *clusterJob) {
	n := 200
	if v := r.URL.Query().Get("lines"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > 10000 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("master: query parameter lines=%q: want a number from 1 to 10000", v))
			return
		}
	}
	resp, err := s.JobLogs(r.Context(), &rpcpb.JobLogsRequest{JobId: j.id, Task: r.URL.Query().Get("task")})
	if err != nil {
		writeError(w, httpCode(err), fmt.Errorf("master: logs: %s", status.Convert(err).Message()))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(tailLines(resp.Logs, n))
}

// tailLines returns the last n lines of b.
func tailLines(b []byte, n int) []byte {
	b = bytes.TrimRight(b, "\n")
	if len(b) == 0 {
		return nil
	}
	i := len(b)
	for ; n > 0 && i > 0; n-- {
		i = bytes.LastIndexByte(b[:i], '\n')
		if i < 0 {
			i = 0
			break
		}
	}
	if i > 0 {
		i++ // after the newline
	}
	return append(b[i:len(b):len(b)], '\n')
}

// jobGraph turns a plan into the graph the UI draws.
func jobGraph(id string, p *dag.Plan) (JobGraph, error) {
	g := JobGraph{ID: id, Name: p.Job, Tasks: []GraphTask{}, Edges: []GraphEdge{}}
	topo := p.Engine().Topology()
	regions, err := scheduler.ComputeRegions(topo)
	if err != nil {
		return g, fmt.Errorf("master: regions of job %s: %w", id, err)
	}
	g.Regions = len(regions)
	vr := scheduler.VertexRegions(topo, regions)
	// Pipelined groups: union-find over pipelined network edges.
	parent := make([]int, len(p.Tasks))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for _, e := range p.Edges {
		if e.Chained {
			continue
		}
		ft, tt := p.Vertices[e.From].Task, p.Vertices[e.To].Task
		g.Edges = append(g.Edges, GraphEdge{ID: e.ID, From: ft, To: tt, FromVertex: e.From, ToVertex: e.To,
			Mode: e.Mode.String(), Partitioner: e.Partitioner.String()})
		if e.Mode != dag.Blocking {
			if a, b := find(ft), find(tt); a != b {
				parent[max(a, b)] = min(a, b)
			}
		}
	}
	group := map[int]int{}
	for _, t := range p.Tasks {
		root := find(t.ID)
		if _, ok := group[root]; !ok {
			group[root] = len(group)
		}
		gt := GraphTask{ID: t.ID, Name: t.Name, Parallelism: t.Parallelism, Bounded: t.Bounded, Group: group[root], Regions: []int{}}
		if t.ID < len(vr) && vr[t.ID] != nil {
			gt.Regions = vr[t.ID]
		}
		for _, v := range t.Vertices {
			pv := p.Vertices[v]
			gt.Operators = append(gt.Operators, GraphOperator{ID: pv.ID, Name: pv.Name, Kind: pv.Kind, Parallelism: pv.Parallelism})
		}
		g.Tasks = append(g.Tasks, gt)
	}
	g.Groups = len(group)
	return g, nil
}

// subtasks returns the job's subtasks with their counters.
func (s *Server) subtasks(j *clusterJob) []SubtaskStatus {
	st := s.status(j)
	out := make([]SubtaskStatus, 0, len(st.Tasks))
	var metrics map[[2]int][]taggedMetrics
	if j.jm != nil {
		metrics = j.jm.subtaskMetrics()
	}
	secs := st.Elapsed.Seconds()
	p := j.plan
	for _, tv := range st.Tasks {
		ss := SubtaskStatus{TaskView: tv}
		if tv.Task >= 0 && tv.Task < len(p.Tasks) {
			pt := p.Tasks[tv.Task]
			var bp int64
			for i, v := range pt.Vertices {
				m := pick(metrics[[2]int{v, tv.Subtask}], tv.Worker)
				if i == 0 {
					ss.RecordsIn = m.RecordsIn
				}
				ss.BytesIn += m.BytesIn
				ss.BytesOut += m.BytesOut
				bp = max(bp, m.BackPressureNanos)
				if hasNetworkOutput(p, v) || (len(pt.Outputs) == 0 && i == len(pt.Vertices)-1) {
					ss.RecordsOut += m.RecordsOut
				}
			}
			if secs > 0 {
				ss.BackPressure = min(1, float64(bp)/1e9/secs)
			}
		}
		out = append(out, ss)
	}
	return out
}

func hasNetworkOutput(p *dag.Plan, v int) bool {
	for _, e := range p.Vertices[v].Outputs {
		if e >= 0 && e < len(p.Edges) && !p.Edges[e].Chained {
			return true
		}
	}
	return false
}

// taggedMetrics are a subtask's counters as one worker reported them.
type taggedMetrics struct {
	worker string
	protocol.VertexMetrics
}

// pick prefers the counters of the worker running the subtask, else the
// largest report (a subtask that moved leaves stale counters behind).
func pick(ms []taggedMetrics, on string) protocol.VertexMetrics {
	var best protocol.VertexMetrics
	for _, m := range ms {
		if m.worker == on {
			return m.VertexMetrics
		}
		if m.RecordsIn+m.RecordsOut >= best.RecordsIn+best.RecordsOut {
			best = m.VertexMetrics
		}
	}
	return best
}

// subtaskMetrics returns every worker's counters by (vertex, subtask).
func (jm *JobMaster) subtaskMetrics() map[[2]int][]taggedMetrics {
	out := map[[2]int][]taggedMetrics{}
	for _, w := range jm.gateways() {
		for _, m := range w.Metrics(jm.cfg.ID) {
			k := [2]int{m.Vertex, m.Subtask}
			out[k] = append(out[k], taggedMetrics{w.Name(), m})
		}
	}
	return out
}

// exceptions returns the job's failure reason and failovers.
func (s *Server) exceptions(j *clusterJob) JobExceptions {
	st := s.status(j)
	ex := JobExceptions{ID: j.id, State: st.State, Reason: st.Reason, Failovers: []FailoverView{}}
	if j.jm == nil {
		return ex
	}
	j.jm.statusMu.Lock()
	fos := j.jm.sched.Failovers()
	j.jm.statusMu.Unlock()
	for _, f := range fos {
		ex.Failovers = append(ex.Failovers, FailoverView{Time: f.Time, Cause: f.Cause, Failed: nonNil(f.Failed),
			Restarted: nonNil(f.Restarted), Restart: f.Restart, Delay: f.Delay})
	}
	return ex
}

func nonNil(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}

// clusterView returns the workers with their slots, executors and memory.
func (s *Server) clusterView() ClusterView {
	s.forgetJobs()
	s.mu.Lock()
	names := sortedStatusNames(s.workers)
	workers := make([]*remoteWorker, 0, len(names))
	for _, n := range names {
		workers = append(workers, s.workers[n])
	}
	jobs := make([]*clusterJob, 0, len(s.order))
	for _, id := range s.order {
		if j, ok := s.jobs[id]; ok {
			jobs = append(jobs, j)
		}
	}
	cv := ClusterView{ShuffleDaemons: len(s.shuffles), Jobs: map[string]int{}, Workers: []WorkerView{}}
	s.mu.Unlock()
	type jobWorker struct{ job, worker string }
	tasks := map[jobWorker]int{}
	slotsUsed := map[string]int{}
	running := map[string]bool{}
	for _, j := range jobs {
		st := s.status(j)
		cv.Jobs[st.State]++
		if j.jm == nil || isEnded(st.State) {
			continue
		}
		running[j.id] = true
		for _, t := range st.Tasks {
			if t.Worker != "" && slices.Contains([]string{"deploying", "running", "canceling"}, t.State) {
				tasks[jobWorker{j.id, t.Worker}]++
			}
		}
		j.jm.statusMu.Lock()
		for _, ws := range j.jm.sched.Workers() {
			for _, slot := range ws.Slots {
				if len(slot) > 0 {
					slotsUsed[ws.Name]++
				}
			}
		}
		j.jm.statusMu.Unlock()
	}
	for _, w := range workers {
		wv := WorkerView{Name: w.name, Address: w.addr, Slots: w.slots, Executors: []ExecutorView{}}
		w.mu.Lock()
		for job, u := range w.usage {
			if !running[job] {
				continue
			}
			n := tasks[jobWorker{job, w.name}]
			wv.Executors = append(wv.Executors, ExecutorView{Job: job, Tasks: n, BuffersInUse: u.BuffersInUse, MemoryBytes: u.MemoryBytes})
			wv.MemoryBytes += u.MemoryBytes
		}
		w.mu.Unlock()
		wv.SlotsUsed = slotsUsed[w.name]
		slices.SortFunc(wv.Executors, func(a, b ExecutorView) int {
			if a.Job < b.Job {
				return -1
			}
			if a.Job > b.Job {
				return 1
			}
			return 0
		})
		cv.Slots += wv.Slots
		cv.SlotsUsed += wv.SlotsUsed
		cv.Workers = append(cv.Workers, wv)
	}
	return cv
}

func isEnded(state string) bool {
	switch state {
	case "finished", "failed", "canceled":
		return true
	}
	return false
}
