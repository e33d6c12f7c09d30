package webui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dagflow/dagflow/internal/browsertest"
	"github.com/dagflow/dagflow/master/webui"
)

// The UI's first load must transfer less than this (issue 19).
const maxFirstLoad = 500 << 10

func TestAssetsSmallAndServed(t *testing.T) {
	total := 0
	err := fs.WalkDir(webui.Files(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(webui.Files(), path)
		total += len(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if total >= maxFirstLoad {
		t.Errorf("embedded UI files are %d bytes, want < %d", total, maxFirstLoad)
	}
	t.Logf("embedded UI files: %d bytes", total)
	srv := httptest.NewServer(webui.Handler())
	defer srv.Close()
	for _, tc := range []struct {
		path, ct string
		code     int
	}{
		{"/", "text/html; charset=utf-8", 200},
		{"/ui/app.js", "text/javascript; charset=utf-8", 200},
		{"/ui/style.css", "text/css; charset=utf-8", 200},
		{"/ui/nope.js", "text/plain; charset=utf-8", 404},
		{"/elsewhere", "text/plain; charset=utf-8", 404},
	} {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || resp.Header.Get("Content-Type") != tc.ct {
			t.Errorf("GET %s: %d %q, want %d %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.code, tc.ct)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); tc.code == 200 && !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", tc.path, csp)
		}
	}
}

// bigJob is a stand-in REST API for a job of n tasks in layers of 10:
// each task after the first layer reads the task at its position in the
// layer before (pipelined forward) and the one three further (blocking
// hash).
func bigJob(n int) http.Handler {
	type op struct {
		ID          int    `json:"id"`
		Name        string `json:"name"`
		Kind        string `json:"kind"`
		Parallelism int    `json:"parallelism"`
	}
	type task struct {
		ID          int    `json:"id"`
		Name        string `json:"name"`
		Parallelism int    `json:"parallelism"`
		Group       int    `json:"group"`
		Regions     []int  `json:"regions"`
		Operators   []op   `json:"operators"`
	}
	type edge struct {
		From        int    `json:"from"`
		To          int    `json:"to"`
		Mode        string `json:"mode"`
		Partitioner string `json:"partitioner"`
	}
	type vertex struct {
		ID           int     `json:"id"`
		Name         string  `json:"name"`
		RecordsIn    int64   `json:"recordsIn"`
		RecordsOut   int64   `json:"recordsOut"`
		Throughput   float64 `json:"throughput"`
		BackPressure float64 `json:"backPressure"`
	}
	type subtask struct {
		Name    string `json:"name"`
		Task    int    `json:"task"`
		Subtask int    `json:"subtask"`
		Attempt int    `json:"attempt"`
		State   string `json:"state"`
		Worker  string `json:"worker"`
		Region  int    `json:"region"`
	}
	var tasks []task
	var edges []edge
	var vertices []vertex
	var subs []subtask
	const width = 10
	for i := 0; i < n; i++ {
		layer, pos := i/width, i%width
		tk := task{ID: i, Name: fmt.Sprintf("t%d", i), Parallelism: 2, Group: layer, Regions: []int{i}}
		for k := 0; k < 1+i%3; k++ {
			id := len(vertices)
			tk.Operators = append(tk.Operators, op{ID: id, Name: fmt.Sprintf("op%d", id), Kind: "map", Parallelism: 2})
			vertices = append(vertices, vertex{ID: id, Name: fmt.Sprintf("op%d", id), RecordsIn: int64(1000 * i), RecordsOut: int64(1000 * i),
				Throughput: float64(100 * i), BackPressure: float64(i%10) / 10})
		}
		tasks = append(tasks, tk)
		if layer > 0 {
			edges = append(edges, edge{From: (layer-1)*width + pos, To: i, Mode: "pipelined", Partitioner: "forward"})
			edges = append(edges, edge{From: (layer-1)*width + (pos+3)%width, To: i, Mode: "blocking", Partitioner: "hash"})
		}
		for s := 0; s < 2; s++ {
			subs = append(subs, subtask{Name: fmt.Sprintf("t%d[%d]", i, s), Task: i, Subtask: s, State: "running", Worker: "w0", Region: i})
		}
	}
	graph := map[string]any{"id": "big", "name": "big", "tasks": tasks, "edges": edges, "groups": (n + width - 1) / width, "regions": n}
	status := map[string]any{"id": "big", "name": "big", "state": "running", "elapsedNanos": int64(10 * time.Second), "restarts": 0, "vertices": vertices}
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", webui.Handler())
	mux.Handle("GET /ui/", webui.Handler())
	serve := func(v any) http.HandlerFunc {
		b, _ := json.Marshal(v)
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(b)
		}
	}
	mux.Handle("GET /api/jobs/big", serve(status))
	mux.Handle("GET /api/jobs/big/graph", serve(graph))
	mux.Handle("GET /api/jobs/big/subtasks", serve(subs))
	return mux
}

// pageLoad is what one load of the 200-task job page measured.
type pageLoad struct {
	Nodes, Edges, Rows int
	// ReadyMs is from navigation start until the graph was drawn with
	// its numbers; RenderMs the layout and drawing alone.
	ReadyMs, RenderMs float64
	// TransferBytes is what the browser transferred (document, scripts,
	// styles and API responses).
	TransferBytes float64
}

func loadJobPage(ctx context.Context, url string) (pageLoad, error) {
	err := chromedp.Do(ctx,
		chromedp.Navigate("about:blank"),
		chromedp.Navigate(url+"/#/jobs/big"),
		chromedp.Poll[chromedp.Void](`window.dagflowUI && window.dagflowUI.stats.graphReadyAt !== undefined && document.querySelectorAll("#subtasks tbody tr").length > 0`,
			chromedp.WithPollingTimeout(60*time.Second)),
	)
	if err != nil {
		return pageLoad{}, err
	}
	return chromedp.Run(ctx, chromedp.Evaluate[pageLoad](`({
			Nodes: document.querySelectorAll("#graph g.node").length,
			Edges: document.querySelectorAll("#graph g.edge").length,
			Rows: document.querySelectorAll("#subtasks tbody tr").length,
			ReadyMs: window.dagflowUI.stats.graphReadyAt,
			RenderMs: window.dagflowUI.stats.graphRenderMs,
			TransferBytes: performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource")).reduce((s, e) => s + e.transferSize, 0),
		})`))
}

// TestJobPage200Tasks loads a job page of 200 tasks in headless
// Chromium: every task and edge is drawn and every subtask listed, and
// the first load transfers less than 500 KB. It reports (never asserts)
// how long the page took; docs/performance.md records the numbers.
func TestJobPage200Tasks(t *testing.T) {
	ctx := browsertest.New(t, 1400, 900, 3*time.Minute)
	srv := httptest.NewServer(bigJob(200))
	defer srv.Close()
	pl, err := loadJobPage(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if pl.Nodes != 200 || pl.Edges != 2*190 || pl.Rows != 400 {
		t.Errorf("drew %d nodes, %d edges, %d subtask rows; want 200, 380, 400", pl.Nodes, pl.Edges, pl.Rows)
	}
	if pl.TransferBytes <= 0 || pl.TransferBytes >= maxFirstLoad {
		t.Errorf("first load transferred %.0f bytes, want 0 < n < %d", pl.TransferBytes, maxFirstLoad)
	}
	t.Logf("200-task job page: first load %.1f KB; graph ready %.0f ms after navigation start, layout+draw %.1f ms",
		pl.TransferBytes/1024, pl.ReadyMs, pl.RenderMs)
	browsertest.Screenshot(t, ctx, browsertest.ScreenshotDir(t), "ui-job-200")
}

// BenchmarkJobPage200Tasks reloads the 200-task job page: ms/ready is
// navigation start until the graph is drawn, ms/render layout and drawing.
func BenchmarkJobPage200Tasks(b *testing.B) {
	ctx := browsertest.New(b, 1400, 900, 10*time.Minute)
	srv := httptest.NewServer(bigJob(200))
	defer srv.Close()
	var ready, render, kb float64
	for b.Loop() {
		pl, err := loadJobPage(ctx, srv.URL)
		if err != nil {
			b.Fatal(err)
		}
		ready += pl.ReadyMs
		render += pl.RenderMs
		kb = pl.TransferBytes / 1024
	}
	b.ReportMetric(ready/float64(b.N), "ms/ready")
	b.ReportMetric(render/float64(b.N), "ms/render")
	b.ReportMetric(kb, "KB/first-load")
}

// TestExceptionsTab opens the failovers tab of a failed job served by a
// stand-in API (the master's side is master's
// TestJobGraphSubtasksAndExceptions): the job's reason and each
// failover's cause, with the user's stack trace, and the failed and
// restarted regions are shown, newest first, as text (markup in a cause
// is not interpreted).
func TestExceptionsTab(t *testing.T) {
	ctx := browsertest.New(t, 1200, 800, 3*time.Minute)
	const stack = "panic in task words[0]: boom <img src=x onerror=\"window.injected=1\">\ngoroutine 7 [running]:\nmain.parse(...)\n\t/src/job/main.go:42"
	status := map[string]any{"id": "bad", "name": "bad", "state": "failed", "elapsedNanos": int64(time.Second), "restarts": 2,
		"reason": "restart limit reached"}
	exceptions := map[string]any{"id": "bad", "state": "failed", "reason": "job failed: restart limit reached",
		"failovers": []map[string]any{
			{"time": "2026-12-07T10:00:00Z", "cause": "executor lost: worker-1", "failed": []int{0, 1}, "restarted": []int{0, 1, 2}, "restart": 1, "delayNanos": 0},
			{"time": "2026-12-07T10:00:05Z", "cause": stack, "failed": []int{3}, "restarted": []int{3, 4}, "restart": 2, "delayNanos": int64(time.Second)},
		}}
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", webui.Handler())
	mux.Handle("GET /ui/", webui.Handler())
	for path, v := range map[string]any{"/api/jobs/bad": status, "/api/jobs/bad/exceptions": exceptions} {
		b, _ := json.Marshal(v)
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(b)
		})
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/#/jobs/bad/exceptions"),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("#exceptions .failover").length === 2`, chromedp.WithPollingTimeout(60*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	type shown struct {
		Reason    string   `json:"reason"`
		Failovers []string `json:"failovers"`
		Causes    []string `json:"causes"`
		Injected  bool     `json:"injected"`
		Images    int      `json:"images"`
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[shown](`({
		reason: document.getElementById("job-reason").textContent,
		failovers: [...document.querySelectorAll("#exceptions .failover")].map(f => f.textContent),
		causes: [...document.querySelectorAll("#exceptions .failover pre.cause")].map(p => p.textContent),
		injected: window.injected === 1,
		images: document.querySelectorAll("#exceptions img").length,
	})`))
	if err != nil {
		t.Fatal(err)
	}
	if got.Reason != "job failed: restart limit reached" {
		t.Errorf("job reason %q", got.Reason)
	}
	if len(got.Causes) != 2 || got.Causes[0] != stack || got.Causes[1] != "executor lost: worker-1" {
		t.Errorf("causes shown %q, want the stack trace (newest first) then the lost executor", got.Causes)
	}
	if len(got.Failovers) != 2 || !strings.Contains(got.Failovers[0], "failed regions {3}") || !strings.Contains(got.Failovers[0], "restarted regions {3,4}") ||
		!strings.Contains(got.Failovers[1], "restarted regions {0,1,2}") {
		t.Errorf("failovers shown %q, want their failed and restarted regions", got.Failovers)
	}
	if got.Injected || got.Images != 0 {
		t.Errorf("markup in a cause was interpreted (script ran: %v, %d img elements)", got.Injected, got.Images)
	}
	browsertest.Screenshot(t, ctx, browsertest.ScreenshotDir(t), "ui-exceptions-failed")
}
