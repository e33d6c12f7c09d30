package master_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/auth"
	"github.com/dagflow/dagflow/internal/protocol"
	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/internal/testkit"
	"github.com/dagflow/dagflow/master"
)

// openAPIDoc is the part of docs/openapi.yaml the tests read.
type openAPIDoc struct {
	Paths map[string]map[string]yaml.Node `yaml:"paths"`
}

type openAPIOp struct {
	Responses map[string]struct {
		Ref     string                    `yaml:"$ref"`
		Content map[string]map[string]any `yaml:"content"`
	} `yaml:"responses"`
}

// documentedOps returns "METHOD /path" -> the documented status codes and
// their content types ("application/json" for $ref'd error responses).
func documentedOps(t *testing.T) map[string]map[string][]string {
	t.Helper()
	b, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPIDoc
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	out := map[string]map[string][]string{}
	for path, item := range doc.Paths {
		for method, node := range item {
			if method == "parameters" {
				continue
			}
			var op openAPIOp
			if err := node.Decode(&op); err != nil {
				t.Fatalf("docs/openapi.yaml: %s %s: %v", method, path, err)
			}
			codes := map[string][]string{}
			for code, r := range op.Responses {
				if r.Ref != "" {
					codes[code] = []string{"application/json"}
					continue
				}
				for ct := range r.Content {
					codes[code] = append(codes[code], ct)
				}
			}
			out[strings.ToUpper(method)+" "+path] = codes
		}
	}
	return out
}

// pipelineGraph is source -> map (chained) -> keyed aggregate -> sink in
// batch mode: the hash edge into the aggregate is blocking, so the plan
// has two tasks in two pipelined groups.
func pipelineGraph() *dag.Graph {
	g := dag.New("pipeline", dag.Config{Parallelism: 2, Mode: dag.BatchMode})
	s := dag.FromSource(g, "words", &testkit.SliceSource[string]{Items: []string{"a", "b", "a"}}, nil)
	s = dag.Map(s, strings.ToUpper)
	n := dag.Aggregate(dag.KeyBy(s, func(w string) string { return w }), dag.Agg[string, int64, int64]{
		Zero:   func() int64 { return 0 },
		Add:    func(n int64, _ string) int64 { return n + 1 },
		Result: func(n int64) int64 { return n },
	})
	dag.ToSink(n, "out", testkit.NewCollector[dag.KV[string, int64]]())
	return g
}

type httpResult struct {
	code int
	ct   string
	body []byte
}

func do(t *testing.T, method, url, body string) httpResult {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return httpResult{resp.StatusCode, ct, b}
}

// TestRESTMatchesOpenAPI calls every path of docs/openapi.yaml on a
// running master with a job: each answers a documented status with its
// documented content type, errors are JSON {"error"}, every documented
// route has an access rule (mutating ones need submit) and every rule's
// route is documented.
func TestRESTMatchesOpenAPI(t *testing.T) {
	ops := documentedOps(t)
	c := startMetricsCluster(t, master.ServerConfig{})
	id, plan := c.submit(t, pipelineGraph())
	subtasks := 0
	for _, pt := range plan.Tasks {
		subtasks += pt.Parallelism
	}
	dep := c.nextDeployment(t)
	c.waitRunning(t, dep)
	base := "http://" + c.srv.HTTPAddr()

	keys := make([]string, 0, len(ops))
	for k := range ops {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// Cancel goes last: it ends the job.
	slices.SortStableFunc(keys, func(a, b string) int {
		return boolInt(strings.HasSuffix(a, "/cancel")) - boolInt(strings.HasSuffix(b, "/cancel"))
	})
	for _, k := range keys {
		method, path, _ := strings.Cut(k, " ")
		url := base + strings.ReplaceAll(path, "{id}", id)
		body := ""
		if method == "POST" {
			body = "{}"
		}
		if strings.HasSuffix(path, "/cancel") {
			c.finishTasks(t, dep, subtasks)
			c.waitState(t, id, "finished")
		}
		res := do(t, method, url, body)
		want, ok := ops[k][strconv.Itoa(res.code)]
		if !ok {
			t.Errorf("%s: status %d is not documented (documented: %v); body %s", k, res.code, keysOf(ops[k]), res.body)
			continue
		}
		if !slices.Contains(want, res.ct) {
			t.Errorf("%s: status %d with Content-Type %q, documented %v", k, res.code, res.ct, want)
		}
		if res.code >= 400 {
			checkJSONError(t, k, res)
		}
		t.Logf("%s -> %d %s", k, res.code, res.ct)
	}

	// Errors: JSON with the right content type and a message naming what
	// is wrong.
	for _, tc := range []struct {
		method, path, body string
		code               int
		msg                string
	}{
		{"GET", "/api/jobs/no-such-job/graph", "", 404, `no job "no-such-job"`},
		{"GET", "/api/jobs/" + id + "/logs?lines=many", "", 400, `lines="many"`},
		{"POST", "/api/jobs/" + id + "/stop", `{"dir": 3}`, 400, "request body"},
		{"POST", "/api/jobs/" + id + "/savepoint", `{"drain": true}`, 400, "drain applies to stop only"},
		{"POST", "/api/jobs/" + id + "/stop", `{"dri": true}`, 400, `unknown field "dri"`},
		{"GET", "/api/nope", "", 404, "no API endpoint GET /api/nope"},
	} {
		res := do(t, tc.method, base+tc.path, tc.body)
		if res.code != tc.code {
			t.Errorf("%s %s: %d, want %d: %s", tc.method, tc.path, res.code, tc.code, res.body)
		}
		if msg := checkJSONError(t, tc.method+" "+tc.path, res); !strings.Contains(msg, tc.msg) {
			t.Errorf("%s %s: error %q, want it to mention %q", tc.method, tc.path, msg, tc.msg)
		}
	}

	// Access rules.
	policy := auth.DefaultHTTPPolicy()
	documented := map[string]bool{}
	for k := range ops {
		pattern := k
		if k == "GET /" {
			pattern = "GET /{$}"
		}
		documented[pattern] = true
		rule, ok := policy[pattern]
		if !ok {
			t.Errorf("documented %s has no rule in auth.DefaultHTTPPolicy", k)
			continue
		}
		if strings.HasPrefix(k, "POST ") && (rule.Role != auth.RoleSubmit || !rule.Mutating || rule.Public) {
			t.Errorf("%s: rule %+v, want role submit and mutating, as gRPC's cancel and savepoint", k, rule)
		}
		if strings.HasPrefix(k, "GET /api/") && (rule.Public || rule.Role != auth.RoleView) {
			t.Errorf("%s: rule %+v, want role view", k, rule)
		}
	}
	for pattern := range policy {
		if !documented[pattern] && pattern != "GET /ui/" {
			t.Errorf("route %s has an access rule but is not in docs/openapi.yaml", pattern)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func keysOf(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkJSONError checks an error response is {"error": "..."} as JSON
// and returns the message.
func checkJSONError(t *testing.T, what string, res httpResult) string {
	t.Helper()
	if res.ct != "application/json" {
		t.Errorf("%s: error with Content-Type %q, want application/json: %s", what, res.ct, res.body)
		return ""
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(res.body, &e); err != nil || e.Error == "" {
		t.Errorf("%s: error body %s is not {\"error\": \"...\"}: %v", what, res.body, err)
	}
	return e.Error
}

// finishTasks finishes dep and the next n-1 deployments (the job's
// other subtasks, deployed as their inputs finish).
func (c *metricsCluster) finishTasks(t *testing.T, dep protocol.TaskDeployment, n int) {
	t.Helper()
	c.finishTask(t, dep)
	for i := 1; i < n; i++ {
		d := c.nextDeployment(t)
		c.waitRunning(t, d)
		c.finishTask(t, d)
	}
}

// TestJobGraphSubtasksAndExceptions checks the UI's endpoints against
// the plan and what the test reported as the worker: the graph's tasks,
// chains, edge modes, partitioners and pipelined groups; per-subtask
// records and bytes; a failover with the failed attempt's stack.
func TestJobGraphSubtasksAndExceptions(t *testing.T) {
	c := startMetricsCluster(t, master.ServerConfig{})
	id, plan := c.submit(t, pipelineGraph())
	base := "http://" + c.srv.HTTPAddr() + "/api/jobs/" + id

	var g master.JobGraph
	getJSON(t, base+"/graph", &g)
	// Expected from the plan, independently of the layout code: tasks are
	// the chains; network edges are the unchained ones.
	if len(g.Tasks) != len(plan.Tasks) {
		t.Fatalf("graph has %d tasks, plan %d", len(g.Tasks), len(plan.Tasks))
	}
	var wantEdges []string
	for _, e := range plan.Edges {
		if !e.Chained {
			wantEdges = append(wantEdges, strconv.Itoa(plan.Vertices[e.From].Task)+"->"+strconv.Itoa(plan.Vertices[e.To].Task)+" "+e.Mode.String()+" "+e.Partitioner.String())
		}
	}
	var gotEdges []string
	for _, e := range g.Edges {
		gotEdges = append(gotEdges, strconv.Itoa(e.From)+"->"+strconv.Itoa(e.To)+" "+e.Mode+" "+e.Partitioner)
	}
	if !slices.Equal(gotEdges, wantEdges) || len(gotEdges) != 1 || !strings.Contains(gotEdges[0], "blocking hash") {
		t.Errorf("graph edges %v, want %v (one blocking hash edge)", gotEdges, wantEdges)
	}
	if g.Groups != 2 || g.Tasks[0].Group == g.Tasks[1].Group {
		t.Errorf("groups %d (%d, %d), want 2 distinct: the only network edge is blocking", g.Groups, g.Tasks[0].Group, g.Tasks[1].Group)
	}
	var chain []string
	for _, op := range g.Tasks[0].Operators {
		chain = append(chain, op.Kind)
	}
	if len(chain) < 2 || chain[0] != "source" {
		t.Errorf("first task's chain %v, want the source with the map chained to it", chain)
	}

	// The two source subtasks run; the test reports their counters.
	deps := []protocol.TaskDeployment{c.nextDeployment(t), c.nextDeployment(t)}
	for _, d := range deps {
		c.waitRunning(t, d)
	}
	src, mapv := plan.Tasks[0].Vertices[0], plan.Tasks[0].Vertices[len(plan.Tasks[0].Vertices)-1]
	rep := protocol.MetricsToProto(protocol.MetricsReport{Vertices: []protocol.VertexMetrics{
		{Vertex: src, Subtask: 0, RecordsIn: 0, RecordsOut: 7},
		{Vertex: mapv, Subtask: 0, RecordsIn: 7, RecordsOut: 7, BytesOut: 700, BytesIn: 0},
		{Vertex: src, Subtask: 1, RecordsOut: 3},
		{Vertex: mapv, Subtask: 1, RecordsIn: 3, RecordsOut: 3, BytesOut: 300},
	}, MemoryBytes: 12345})
	if _, err := c.mc.ReportMetrics(context.Background(), &rpcpb.ReportMetricsRequest{JobId: id, Worker: c.name, Metrics: rep}); err != nil {
		t.Fatal(err)
	}
	var subs []master.SubtaskStatus
	getJSON(t, base+"/subtasks", &subs)
	got := map[int]master.SubtaskStatus{}
	for _, s := range subs {
		if s.Task == 0 {
			got[s.Subtask] = s
		}
	}
	if got[0].RecordsOut != 7 || got[0].BytesOut != 700 || got[1].RecordsOut != 3 || got[1].BytesOut != 300 || got[0].Worker != c.name {
		t.Errorf("source subtasks %+v, want records out 7 and 3, bytes out 700 and 300 on %s", got, c.name)
	}
	var cl master.ClusterView
	getJSON(t, "http://"+c.srv.HTTPAddr()+"/api/cluster", &cl)
	if len(cl.Workers) != 1 || cl.Workers[0].MemoryBytes != 12345 || len(cl.Workers[0].Executors) != 1 ||
		cl.Workers[0].Executors[0].Job != id || cl.Workers[0].Executors[0].Tasks != 2 || cl.SlotsUsed == 0 || cl.Slots != 4 {
		t.Errorf("cluster %+v, want one worker with 4 slots, the job's executor with 2 tasks and 12345 bytes", cl)
	}

	// A failed attempt with a stack: one failover, its cause carries the
	// stack and names the restarted regions.
	const stack = "panic in task words[0]: boom\ngoroutine 7 [running]:\nmain.parse(...)\n\t/src/job/main.go:42"
	st := protocol.StatusToProto(protocol.TaskStatus{Job: id, ID: deps[0].ID, Attempt: deps[0].Attempt, Err: errors.New(stack)})
	if _, err := c.mc.ReportTask(context.Background(), &rpcpb.ReportTaskRequest{Status: st}); err != nil {
		t.Fatal(err)
	}
	c.waitStatus(t, id, "failed over", func(st master.JobStatus) bool { return len(st.Failovers) == 1 })
	var ex master.JobExceptions
	getJSON(t, base+"/exceptions", &ex)
	if len(ex.Failovers) != 1 || !strings.Contains(ex.Failovers[0].Cause, "main.go:42") || len(ex.Failovers[0].Restarted) == 0 {
		t.Errorf("exceptions %+v, want one failover whose cause has the stack and restarted regions", ex)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	res := do(t, "GET", url, "")
	if res.code != 200 || res.ct != "application/json" {
		t.Fatalf("GET %s: %d %s: %s", url, res.code, res.ct, res.body)
	}
	if err := json.Unmarshal(res.body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, res.body)
	}
}
