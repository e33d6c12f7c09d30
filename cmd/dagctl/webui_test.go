package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/browsertest"
	"github.com/dagflow/dagflow/internal/gossipkey"
)

// uiNode and uiEdge are what the job page drew, read from its SVG.
type uiNode struct {
	Task  int    `json:"task"`
	Group int    `json:"group"`
	Ops   int    `json:"ops"`
	Rate  string `json:"rate"`
}

type uiEdge struct {
	From        int    `json:"from"`
	To          int    `json:"to"`
	Mode        string `json:"mode"`
	Partitioner string `json:"partitioner"`
	Label       string `json:"label"`
}

type uiGraph struct {
	Nodes       []uiNode `json:"nodes"`
	Edges       []uiEdge `json:"edges"`
	Regions     int      `json:"regions"` // distinct shaded groups
	RegionRects int      `json:"regionRects"`
}

const readGraphJS = `(() => {
	const nodes = [...document.querySelectorAll("#graph g.node")].map(g => ({
		task: +g.dataset.task, group: +g.dataset.group, ops: g.querySelectorAll("text.op").length,
		rate: g.querySelector("text.rate").textContent}));
	const edges = [...document.querySelectorAll("#graph g.edge")].map(g => ({
		from: +g.dataset.from, to: +g.dataset.to, mode: g.dataset.mode, partitioner: g.dataset.partitioner,
		label: g.querySelector("text").textContent}));
	const rects = [...document.querySelectorAll("#graph rect.region")];
	return {nodes, edges, regions: new Set(rects.map(r => r.dataset.group)).size, regionRects: rects.length};
})()`

// uiPlan runs `dagctl plan --format json BINARY -- ARGS` for the expected
// graph.
func uiPlan(t *testing.T, bin string, args ...string) *dag.Plan {
	t.Helper()
	var o, e bytes.Buffer
	if code := run(append([]string{"plan", "--format", "json", bin, "--"}, args...), &o, &e); code != 0 {
		t.Fatalf("dagctl plan %s: exit %d: %s", bin, code, e.String())
	}
	var p dag.Plan
	if err := json.Unmarshal(o.Bytes(), &p); err != nil {
		t.Fatalf("plan json: %v\n%s", err, o.String())
	}
	return &p
}

// expectedGraph computes from the plan what the job page must draw: one
// node per task with its chain length, one edge per unchained plan edge,
// and the number of pipelined groups (tasks joined by pipelined edges,
// computed here by flooding, independently of the master).
func expectedGraph(p *dag.Plan) (nodes map[int]int, edges []string, groups int) {
	nodes = map[int]int{}
	adj := map[int][]int{}
	for _, pt := range p.Tasks {
		nodes[pt.ID] = len(pt.Vertices)
	}
	for _, e := range p.Edges {
		if e.Chained {
			continue
		}
		f, to := p.Vertices[e.From].Task, p.Vertices[e.To].Task
		edges = append(edges, fmt.Sprintf("%d->%d %s %s", f, to, e.Mode, e.Partitioner))
		if e.Mode != dag.Blocking {
			adj[f] = append(adj[f], to)
			adj[to] = append(adj[to], f)
		}
	}
	seen := map[int]bool{}
	for _, pt := range p.Tasks {
		if seen[pt.ID] {
			continue
		}
		groups++
		stack := []int{pt.ID}
		for len(stack) > 0 {
			v := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[v] {
				continue
			}
			seen[v] = true
			stack = append(stack, adj[v]...)
		}
	}
	slices.Sort(edges)
	return nodes, edges, groups
}

// checkGraph compares the drawn graph with the plan.
func checkGraph(t *testing.T, what string, g uiGraph, p *dag.Plan) {
	t.Helper()
	nodes, edges, groups := expectedGraph(p)
	if len(g.Nodes) != len(nodes) {
		t.Errorf("%s: %d nodes drawn, plan has %d tasks", what, len(g.Nodes), len(nodes))
	}
	for _, n := range g.Nodes {
		if want, ok := nodes[n.Task]; !ok || (n.Ops != want && want <= 5) {
			t.Errorf("%s: node of task %d shows %d operators, plan chain has %d", what, n.Task, n.Ops, want)
		}
	}
	var got []string
	for _, e := range g.Edges {
		got = append(got, fmt.Sprintf("%d->%d %s %s", e.From, e.To, e.Mode, e.Partitioner))
		if e.Label != e.Mode+" · "+e.Partitioner {
			t.Errorf("%s: edge %d->%d labelled %q, want %q", what, e.From, e.To, e.Label, e.Mode+" · "+e.Partitioner)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, edges) {
		t.Errorf("%s: edges drawn %v, plan %v", what, got, edges)
	}
	if g.Regions != groups || g.RegionRects != len(nodes) {
		t.Errorf("%s: %d shaded pipelined groups over %d nodes, want %d groups over %d", what, g.Regions, g.RegionRects, groups, len(nodes))
	}
}

func poll(ctx context.Context, expr string) error {
	return chromedp.Do(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(90*time.Second), chromedp.WithPollingInterval(50*time.Millisecond)))
}

// TestWebUI drives the master's web UI in headless Chromium against a
// real cluster (master and two worker processes) running a finished
// batch wordcount and a running checkpointed streaming job: every page
// opens, the graphs match the plans (tasks, chains, edge modes and
// partitioners, pipelined groups), numbers update, clicking Savepoint
// writes a savepoint where the page says and the job keeps running,
// clicking Cancel cancels the job, and Stop and Stop with drain (on two
// more streaming jobs) write a savepoint and end the job (canceled and
// finished). Screenshots of every page are saved.
func TestWebUI(t *testing.T) {
	browsertest.Require(t)
	b := buildAll(t)
	ctx := browsertest.New(t, 1400, 1000, 8*time.Minute)
	shots := browsertest.ScreenshotDir(t)
	c := startCluster(t, b["dagctl"], 2, 4)
	dir := t.TempDir()
	base := "http://" + c.http

	in := filepath.Join(dir, "words.txt")
	writeWords(t, in, 2000)
	wcArgs := []string{"--input", in, "--output", filepath.Join(dir, "wc"), "--parallelism", "2"}
	// The plans are read before the jobs run: jobs refuse a non-empty
	// output directory.
	wcPlan := uiPlan(t, b["wordcount"], wcArgs...)
	ckArgs := []string{"--events", "100000000", "--keys", "20", "--rate", "2000", "--output", filepath.Join(dir, "ck"),
		"--checkpoint-interval", "500ms", "--checkpoint-dir", "file://" + filepath.Join(dir, "ckpt")}
	ckPlan := uiPlan(t, b["ckptwindow"], ckArgs...)
	stdout, stderr, code := c.run(append([]string{"submit", "--binary", b["wordcount"], "--"}, wcArgs...)...)
	if code != 0 {
		t.Fatalf("wordcount: exit %d: %s %s", code, stdout, stderr)
	}
	wcID := strings.Fields(stdout)[1]
	stdout, stderr, code = c.run(append([]string{"submit", "--detach", "--binary", b["ckptwindow"], "--"}, ckArgs...)...)
	if code != 0 {
		t.Fatalf("ckptwindow: exit %d: %s %s", code, stdout, stderr)
	}
	ckID := strings.Fields(stdout)[1]
	if st := c.status(wcID); st.State != "finished" {
		t.Fatalf("wordcount %s: %s %s", wcID, st.State, st.Reason)
	}

	// Overview.
	err := chromedp.Do(ctx, chromedp.Navigate(base+"/"))
	if err == nil {
		err = poll(ctx, fmt.Sprintf(`document.querySelector('#jobs tr[data-job=%q]') && document.querySelector('#jobs tr[data-job=%q]') && document.getElementById("stat-workers").textContent === "2"`, wcID, ckID))
	}
	if err != nil {
		t.Fatalf("overview: %v", err)
	}
	slots, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("stat-slots").textContent`))
	if err != nil || !strings.HasSuffix(slots, " / 8") {
		t.Errorf("overview slots %q (%v), want \"N / 8\" for two workers of 4", slots, err)
	}
	transfer, err := chromedp.Run(ctx, chromedp.Evaluate[float64](
		`performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource")).reduce((s, e) => s + e.transferSize, 0)`))
	if err != nil || transfer <= 0 || transfer >= 500<<10 {
		t.Errorf("first load transferred %.0f bytes (%v), want 0 < n < 500 KiB", transfer, err)
	}
	t.Logf("overview first load: %.1f KB", transfer/1024)
	browsertest.Screenshot(t, ctx, shots, "ui-overview")

	// Workers: two, with the streaming job's executors.
	err = chromedp.Do(ctx, chromedp.Navigate(base+"/#/workers"))
	if err == nil {
		err = poll(ctx, fmt.Sprintf(`document.querySelectorAll("#workers tbody tr[data-worker]").length === 2 && document.querySelector("#workers tbody").textContent.includes(%q)`, ckID))
	}
	if err != nil {
		t.Fatalf("workers page: %v", err)
	}
	browsertest.Screenshot(t, ctx, shots, "ui-workers")

	// The finished batch job: a blocking edge splits it into groups.
	readGraph := func(id string) uiGraph {
		t.Helper()
		err := chromedp.Do(ctx, chromedp.Navigate(base+"/#/jobs/"+id))
		if err == nil {
			err = poll(ctx, `document.querySelector("#graph g.node text.rate") && !document.querySelector("#graph g.node text.rate").textContent.startsWith("–") && document.querySelectorAll("#subtasks tbody tr").length > 0`)
		}
		if err != nil {
			t.Fatalf("job page %s: %v", id, err)
		}
		g, err := chromedp.Run(ctx, chromedp.Evaluate[uiGraph](readGraphJS))
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	g := readGraph(wcID)
	checkGraph(t, "wordcount", g, wcPlan)
	if !slices.ContainsFunc(g.Edges, func(e uiEdge) bool { return e.Mode == "blocking" }) || g.Regions < 2 {
		t.Errorf("batch wordcount drew %+v: want a blocking edge and at least two pipelined groups", g)
	}
	browsertest.Screenshot(t, ctx, shots, "ui-job-batch")

	// The running streaming job: pipelined, numbers update.
	g = readGraph(ckID)
	checkGraph(t, "ckptwindow", g, ckPlan)
	subtasks := 0
	for _, pt := range ckPlan.Tasks {
		subtasks += pt.Parallelism
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#subtasks tbody tr").length`))
	if err != nil || rows != subtasks {
		t.Errorf("subtask table has %d rows (%v), plan has %d subtasks", rows, err, subtasks)
	}
	var rates []string
	for _, n := range g.Nodes {
		rates = append(rates, n.Rate)
	}
	before, _ := json.Marshal(rates)
	if err := poll(ctx, `JSON.stringify([...document.querySelectorAll("#graph g.node text.rate")].map(t => t.textContent)) !== `+strconv.Quote(string(before))+
		` && document.querySelector("#job-meta").textContent !== ""`); err != nil {
		t.Errorf("the streaming job's rates %s never changed: %v", before, err)
	}
	if err := poll(ctx, `[...document.querySelectorAll("#subtasks tbody tr td:nth-child(8)")].some(td => td.textContent !== "0" && td.textContent !== "–")`); err != nil {
		t.Errorf("no subtask ever showed records out: %v", err)
	}
	browsertest.Screenshot(t, ctx, shots, "ui-job")

	// Checkpoints, failovers and logs tabs.
	tab := func(name, ready, shot string) {
		t.Helper()
		err := chromedp.Do(ctx, chromedp.Navigate(base+"/#/jobs/"+ckID+"/"+name))
		if err == nil {
			err = poll(ctx, ready)
		}
		if err != nil {
			t.Errorf("%s tab: %v", name, err)
		}
		browsertest.Screenshot(t, ctx, shots, shot)
	}
	tab("checkpoints", `[...document.querySelectorAll("#checkpoints tbody .state")].some(s => s.textContent === "completed")`, "ui-checkpoints")
	tab("exceptions", `document.querySelector("#exceptions") && document.querySelector("#exceptions").textContent.includes("No failovers")`, "ui-exceptions")
	tab("logs", fmt.Sprintf(`document.querySelector("#log-task") && document.querySelector("#log-task").options.length === %d && document.querySelector("#logs").textContent !== ""`, subtasks+1), "ui-logs")

	// Savepoint from the job page: the location shown is a savepoint on
	// disk under the directory typed in, and the job keeps running.
	spDir := filepath.Join(dir, "sp-ui")
	loc := uiAction(t, ctx, base, ckID, "#act-savepoint", "file://"+spDir, "savepoint")
	checkSavepointOnDisk(t, "savepoint", loc, spDir)
	if st := c.status(ckID); st.State != "running" {
		t.Errorf("after clicking Savepoint the job is %s, want running", st.State)
	}

	// Cancel from the job page.
	err = chromedp.Do(ctx, chromedp.Navigate(base+"/#/jobs/"+ckID),
		chromedp.WaitEnabled(chromedp.CSS("#act-cancel")), chromedp.Click(chromedp.CSS("#act-cancel")))
	if err == nil {
		err = poll(ctx, `document.querySelector("#job-state").dataset.state === "canceled" && document.querySelector("#act-cancel").disabled`)
	}
	if err != nil {
		t.Fatalf("cancel from the UI: %v", err)
	}
	if st := c.status(ckID); st.State != "canceled" {
		t.Errorf("after clicking Cancel the job is %s, want canceled", st.State)
	}
	browsertest.Screenshot(t, ctx, shots, "ui-job-canceled")

	// Stop and Stop with drain, each on a new streaming job: both end the
	// job after a savepoint (stop cancels it, drain ends its input and it
	// finishes).
	stops := []struct{ button, name, want, id string }{
		{button: "#act-stop", name: "stop", want: "canceled"},
		{button: "#act-stop-drain", name: "drain", want: "finished"},
	}
	for i, sc := range stops {
		stdout, stderr, code := c.run("submit", "--detach", "--binary", b["ckptwindow"], "--", "--events", "100000000", "--keys", "20",
			"--rate", "2000", "--output", filepath.Join(dir, "ck-"+sc.name), "--checkpoint-interval", "500ms",
			"--checkpoint-dir", "file://"+filepath.Join(dir, "ckpt-"+sc.name))
		if code != 0 {
			t.Fatalf("ckptwindow: exit %d: %s %s", code, stdout, stderr)
		}
		stops[i].id = strings.Fields(stdout)[1]
	}
	for _, sc := range stops {
		deadline := time.Now().Add(90 * time.Second)
		for st := c.status(sc.id); st.State != "running" || len(st.Vertices) == 0 || st.Vertices[0].RecordsOut == 0; st = c.status(sc.id) {
			if ended(st.State) || time.Now().After(deadline) {
				t.Fatalf("job %s never ran before %s was clicked: %s %s", sc.id, sc.button, st.State, st.Reason)
			}
			time.Sleep(50 * time.Millisecond)
		}
		spDir := filepath.Join(dir, "sp-"+sc.name)
		loc := uiAction(t, ctx, base, sc.id, sc.button, "file://"+spDir, "stop")
		checkSavepointOnDisk(t, sc.button, loc, spDir)
		if err := poll(ctx, fmt.Sprintf(`document.querySelector("#job-state").dataset.state === %q && document.querySelector("#act-stop-drain").disabled`, sc.want)); err != nil {
			t.Errorf("%s: the job page never showed %s: %v", sc.button, sc.want, err)
		}
		if st := c.status(sc.id); st.State != sc.want {
			t.Errorf("after clicking %s the job is %s, want %s", sc.button, st.State, sc.want)
		}
	}
	browsertest.Screenshot(t, ctx, shots, "ui-job-stopped")
}

// uiAction opens a job page, types dir into the savepoint directory
// field, clicks button and returns the location the page reports
// ("VERB: LOCATION"); it fails the test on "VERB failed: ...".
func uiAction(t *testing.T, ctx context.Context, base, id, button, dir, verb string) string {
	t.Helper()
	err := chromedp.Do(ctx, chromedp.Navigate(base+"/#/jobs/"+id), chromedp.WaitEnabled(chromedp.CSS(button)),
		chromedp.SetValue(chromedp.CSS("#act-dir"), dir), chromedp.Click(chromedp.CSS(button)))
	if err == nil {
		err = poll(ctx, fmt.Sprintf(`document.getElementById("action-result").textContent.startsWith(%q) && !document.getElementById("action-result").textContent.endsWith("…")`, verb))
	}
	if err != nil {
		t.Fatalf("%s on job %s: %v", button, id, err)
	}
	res, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("action-result").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	loc, ok := strings.CutPrefix(res, verb+": ")
	if !ok || loc == "" {
		t.Fatalf("%s on job %s: the page says %q", button, id, res)
	}
	return loc
}

// checkSavepointOnDisk checks that loc is a directory under dir holding
// files.
func checkSavepointOnDisk(t *testing.T, what, loc, dir string) {
	t.Helper()
	path := strings.TrimPrefix(loc, "file://")
	if rel, err := filepath.Rel(dir, path); err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		t.Errorf("%s: location %q is not under %s", what, loc, dir)
		return
	}
	entries, err := os.ReadDir(path)
	if err != nil || len(entries) == 0 {
		t.Errorf("%s: savepoint %s on disk: %d entries, %v", what, loc, len(entries), err)
	}
}

// TestWebUISecure opens the UI of a master with TLS and tokens in
// headless Chromium: without a token the page shows the 401 and asks for
// one; with the view token it reads the job but Cancel is refused (403,
// shown to the user) and the job keeps running; with the submit token of
// the job's owner Cancel cancels it.
func TestWebUISecure(t *testing.T) {
	browsertest.Require(t)
	b := buildAll(t)
	ctx := browsertest.New(t, 1400, 1000, 6*time.Minute, chromedp.Flag("ignore-certificate-errors", true))
	shots := browsertest.ScreenshotDir(t)
	p := newPKI(t)
	key, err := gossipkey.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := startSecureCluster(t, b["dagctl"], p, key, 1)
	dir := t.TempDir()
	stdout, stderr, code := c.runAs(p.client(tokSubmit), "submit", "--detach", "--binary", b["ckptwindow"], "--",
		"--events", "100000000", "--keys", "20", "--rate", "2000", "--output", filepath.Join(dir, "ck"))
	if code != 0 {
		t.Fatalf("submit: exit %d: %s %s", code, stdout, stderr)
	}
	id := strings.Fields(stdout)[1]
	waitState(t, c, p, id, "running")
	base := "https://" + c.http

	err = chromedp.Do(ctx, chromedp.Navigate(base+"/#/jobs/"+id))
	if err == nil {
		err = poll(ctx, `!document.getElementById("banner").hidden && document.getElementById("banner").textContent.includes("no bearer token") && document.getElementById("banner").textContent.includes("Paste a bearer token")`)
	}
	if err != nil {
		t.Fatalf("without a token: %v", err)
	}
	browsertest.Screenshot(t, ctx, shots, "ui-secure-no-token")

	useToken := func(tok string) {
		t.Helper()
		err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#token"), tok), chromedp.Click(chromedp.CSS("#token-save")))
		if err == nil {
			err = poll(ctx, `document.getElementById("banner").hidden && document.querySelector("#job-state").dataset.state === "running"`)
		}
		if err != nil {
			t.Fatalf("with a token: %v", err)
		}
	}
	cancel := func() string {
		t.Helper()
		err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById("action-result").textContent = ""`),
			chromedp.Click(chromedp.CSS("#act-cancel")))
		if err == nil {
			err = poll(ctx, `document.getElementById("action-result").textContent.startsWith("cancel") && !document.getElementById("action-result").textContent.endsWith("…")`)
		}
		if err != nil {
			t.Fatalf("cancel: %v", err)
		}
		res, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("action-result").textContent`))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	useToken(tokView)
	if res := cancel(); !strings.Contains(res, "cancel failed") || !strings.Contains(res, "may not call POST /api/jobs/{id}/cancel (needs role submit)") {
		t.Errorf("cancel with the view token: %q, want it refused for lack of role submit", res)
	}
	browsertest.Screenshot(t, ctx, shots, "ui-secure-view-refused")
	if st, _, _ := c.runAs(p.client(tokView), "status", id, "--output", "json"); !strings.Contains(st, `"state": "running"`) {
		t.Fatalf("after a refused cancel the job is not running: %s", st)
	}

	useToken(tokSubmit)
	if res := cancel(); res != "cancel: canceled" {
		t.Errorf("cancel with the owner's submit token: %q, want \"cancel: canceled\"", res)
	}
	if err := poll(ctx, `document.querySelector("#job-state").dataset.state === "canceled"`); err != nil {
		t.Errorf("job page never showed canceled: %v", err)
	}
	waitState(t, c, p, id, "canceled")
}
