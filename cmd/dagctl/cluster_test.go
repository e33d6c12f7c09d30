package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dagflow/dagflow/io/fileio"
	"github.com/dagflow/dagflow/io/filesystem"
	"github.com/dagflow/dagflow/master"
)

// The tests in this file start real master and worker processes on
// loopback and submit real job binaries to them.

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// binaries builds dagctl and the test jobs once per test run.
func binaries(t *testing.T) (dagctl, wordcount, windowed, mismatch string) {
	t.Helper()
	b := buildAll(t)
	return b["dagctl"], b["wordcount"], b["windowed"], b["mismatch"]
}

// buildAll builds dagctl and the test jobs once per test run.
func buildAll(t *testing.T) map[string]string {
	t.Helper()
	t.Helper()
	if testing.Short() {
		t.Skip("starts real processes")
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "dagctl-cluster-test-")
		if buildErr != nil {
			return
		}
		for name, pkg := range map[string]string{"dagctl": ".", "wordcount": "../../examples/wordcount",
			"windowed": "../../examples/windowed", "mismatch": "../../internal/testjobs/mismatch",
			"slowsink": "../../internal/testjobs/slowsink", "ckptwindow": "../../internal/testjobs/ckptwindow",
			"hivestream": "../../internal/testjobs/hivestream", "backfill": "../../internal/testjobs/backfill"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(buildDir, name), pkg).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	out := map[string]string{}
	for _, n := range []string{"dagctl", "wordcount", "windowed", "mismatch", "slowsink", "ckptwindow", "hivestream", "backfill"} {
		out[n] = filepath.Join(buildDir, n)
	}
	return out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// cluster is a master and workers running as processes.
type cluster struct {
	t       *testing.T
	dagctl  string
	master  string
	http    string
	procs   map[string]*exec.Cmd
	logs    *bytes.Buffer
	logMu   *sync.Mutex
	baseDir string
}

type syncWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (s syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func startCluster(t *testing.T, dagctl string, workers, slots int) *cluster {
	t.Helper()
	c := &cluster{t: t, dagctl: dagctl, master: freeAddr(t), http: freeAddr(t), procs: map[string]*exec.Cmd{},
		logs: &bytes.Buffer{}, logMu: &sync.Mutex{}, baseDir: t.TempDir()}
	t.Cleanup(c.stop)
	c.start("master", "master", "--listen", c.master, "--http", c.http, "--dir", filepath.Join(c.baseDir, "master"),
		"--failure-timeout", "2s", "--log-level", "info")
	c.waitReady("master listening")
	for i := 0; i < workers; i++ {
		name := "worker-" + strconv.Itoa(i)
		c.start(name, "worker", "--master", c.master, "--name", name, "--slots", strconv.Itoa(slots),
			"--dir", filepath.Join(c.baseDir, name), "--failure-timeout", "2s", "--log-level", "warn")
		c.waitReady("worker " + name + " listening")
	}
	return c
}

func (c *cluster) start(name string, args ...string) {
	cmd := exec.Command(c.dagctl, args...)
	w := syncWriter{c.logMu, c.logs}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.procs[name] = cmd
}

func (c *cluster) waitReady(line string) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c.logMu.Lock()
		ok := strings.Contains(c.logs.String(), line)
		c.logMu.Unlock()
		if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("%q not seen in 30s; logs:\n%s", line, c.logs.String())
}

func (c *cluster) stop() {
	for _, p := range c.procs {
		p.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range c.procs {
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			p.Process.Kill()
		}
	}
	if c.t.Failed() {
		c.logMu.Lock()
		c.t.Logf("cluster logs:\n%s", c.logs.String())
		c.logMu.Unlock()
	}
}

// dagctl runs a client command against the cluster.
func (c *cluster) run(args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	code = run(append(args[:1:1], append([]string{"--master", c.master}, args[1:]...)...), &o, &e)
	return o.String(), e.String(), code
}

func (c *cluster) status(id string) master.JobStatus {
	out, errOut, code := c.run("status", id, "--output", "json")
	if code != 0 {
		c.t.Fatalf("status: %s", errOut)
	}
	var st master.JobStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		c.t.Fatalf("status json: %v\n%s", err, out)
	}
	return st
}

func readCounts(t *testing.T, dir string) map[string]string {
	t.Helper()
	lines, err := fileio.ReadAllLines(context.Background(), filesystem.Default(), dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range lines {
		k, v, _ := strings.Cut(l, "\t")
		if _, dup := m[k]; dup {
			t.Fatalf("key %q written twice", k)
		}
		m[k] = v
	}
	return m
}

func readSorted(t *testing.T, dir string) []string {
	t.Helper()
	lines, err := fileio.ReadAllLines(context.Background(), filesystem.Default(), dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	return lines
}

func writeWords(t *testing.T, path string, lines int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := 0; i < lines; i++ {
		fmt.Fprintf(w, "w%d w%d x%d alpha\n", i%997, i%13, i%101)
	}
	w.Flush()
	f.Close()
}

func TestClusterRunsJobsLikeEmbedded(t *testing.T) {
	dagctl, wordcount, windowed, _ := binaries(t)
	c := startCluster(t, dagctl, 2, 4)
	dir := t.TempDir()
	in := filepath.Join(dir, "words.txt")
	writeWords(t, in, 200000)
	// Embedded reference.
	embedded := filepath.Join(dir, "embedded")
	if out, err := exec.Command(wordcount, "--input", in, "--output", embedded, "--parallelism", "3").CombinedOutput(); err != nil {
		t.Fatalf("embedded run: %v\n%s", err, out)
	}
	for _, mode := range []string{"batch", "streaming"} {
		out := filepath.Join(dir, "cluster-"+mode)
		stdout, stderr, code := c.run("submit", "--binary", wordcount, "--parallelism", "3", "--", "--input", in, "--output", out, "--mode", mode)
		if code != 0 {
			t.Fatalf("%s submit: exit %d\n%s\n%s", mode, code, stdout, stderr)
		}
		if !strings.Contains(stdout, "finished") {
			t.Errorf("submit output %q", stdout)
		}
		if got, want := readCounts(t, out), readCounts(t, embedded); !maps.Equal(got, want) {
			t.Fatalf("%s: cluster output has %d words, embedded %d", mode, len(got), len(want))
		}
	}
	// Windowed, detached, then followed through status.
	wout := filepath.Join(dir, "windowed-cluster")
	wemb := filepath.Join(dir, "windowed-embedded")
	if out, err := exec.Command(windowed, "--events", "50000", "--output", wemb).CombinedOutput(); err != nil {
		t.Fatalf("embedded windowed: %v\n%s", err, out)
	}
	stdout, stderr, code := c.run("submit", "--detach", "--binary", windowed, "--", "--events", "50000", "--output", wout)
	if code != 0 {
		t.Fatalf("windowed submit: %s %s", stdout, stderr)
	}
	id := strings.Fields(stdout)[1]
	deadline := time.Now().Add(60 * time.Second)
	for st := c.status(id); st.State != "finished"; st = c.status(id) {
		if ended(st.State) || time.Now().After(deadline) {
			t.Fatalf("windowed job %s: %s %s", id, st.State, st.Reason)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got, want := readSorted(t, wout), readSorted(t, wemb); !slices.Equal(got, want) {
		t.Fatalf("windowed: cluster output has %d lines, embedded %d", len(got), len(want))
	}
	// list, status, logs, REST and metrics answer.
	if out, _, code := c.run("list"); code != 0 || !strings.Contains(out, id) {
		t.Errorf("list: %q", out)
	}
	st := c.status(id)
	if len(st.Vertices) == 0 || len(st.Tasks) == 0 {
		t.Errorf("status lacks vertices or tasks: %+v", st)
	}
	if out, _, code := c.run("logs", id); code != 0 || !strings.Contains(out, "executor ready") {
		t.Errorf("logs: %q", out)
	}
	for _, path := range []string{"/api/jobs", "/api/jobs/" + id, "/metrics"} {
		out, err := exec.Command("curl", "-sf", "http://"+c.http+path).Output()
		if err != nil {
			if _, lookErr := exec.LookPath("curl"); lookErr != nil {
				break
			}
			t.Errorf("GET %s: %v", path, err)
		}
		if path == "/metrics" && !strings.Contains(string(out), "dagflow_vertex_records_out_total") {
			t.Errorf("metrics lack vertex counters:\n%s", out)
		}
	}
}

func TestClusterSurvivesWorkerKill(t *testing.T) {
	dagctl, wordcount, _, _ := binaries(t)
	c := startCluster(t, dagctl, 3, 4)
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.Mkdir(in, 0o755)
	for i := 0; i < 6; i++ {
		writeWords(t, filepath.Join(in, fmt.Sprintf("part-%d.txt", i)), 150000)
	}
	embedded := filepath.Join(dir, "embedded")
	if out, err := exec.Command(wordcount, "--input", in, "--output", embedded).CombinedOutput(); err != nil {
		t.Fatalf("embedded run: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "cluster")
	stdout, stderr, code := c.run("submit", "--detach", "--binary", wordcount, "--parallelism", "6", "--",
		"--input", in, "--output", out, "--mode", "batch")
	if code != 0 {
		t.Fatalf("submit: %s %s", stdout, stderr)
	}
	id := strings.Fields(stdout)[1]
	// Kill worker-1 as soon as it runs a task.
	deadline := time.Now().Add(60 * time.Second)
	killed := false
	for !killed && time.Now().Before(deadline) {
		for _, task := range c.status(id).Tasks {
			if task.Worker == "worker-1" && task.State == "running" {
				c.procs["worker-1"].Process.Signal(syscall.SIGKILL)
				killed = true
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !killed {
		t.Fatal("worker-1 never ran a task")
	}
	var st master.JobStatus
	for st = c.status(id); !ended(st.State); st = c.status(id) {
		if time.Now().After(deadline) {
			t.Fatalf("job did not end: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.State != "finished" {
		t.Fatalf("job %s after the kill: %s", st.State, st.Reason)
	}
	if got, want := readCounts(t, out), readCounts(t, embedded); !maps.Equal(got, want) {
		entries, _ := os.ReadDir(out)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("output after a worker kill has %d words, want %d; output dir %v; failovers %q; tasks %+v", len(got), len(want), names, st.Failovers, st.Tasks)
	}
	if st.Restarts < 1 || len(st.Failovers) == 0 {
		t.Fatalf("no failover recorded: %+v", st)
	}
	// Only the affected regions reran: the failovers name a strict subset
	// of the job's regions.
	regions := map[int]bool{}
	for _, task := range st.Tasks {
		regions[task.Region] = true
	}
	for _, f := range st.Failovers {
		t.Logf("failover: %s", f)
		set := f[strings.LastIndex(f, "{")+1 : strings.LastIndex(f, "}")]
		if n := len(strings.Split(set, ",")); n >= len(regions) {
			t.Errorf("failover restarted %d of %d regions: %s", n, len(regions), f)
		}
	}
}

func TestClusterErrors(t *testing.T) {
	dagctl, wordcount, _, mismatch := binaries(t)
	// Master unreachable.
	var o, e bytes.Buffer
	if code := run([]string{"list", "--master", freeAddr(t)}, &o, &e); code == 0 || !strings.Contains(e.String(), "master unreachable at") {
		t.Errorf("unreachable master: exit %d, %q", code, e.String())
	}
	if code := run([]string{"list"}, &o, &e); code != 2 && os.Getenv("DAGFLOW_MASTER") == "" {
		t.Errorf("no master address: exit %d", code)
	}
	c := startCluster(t, dagctl, 1, 4)
	dir := t.TempDir()
	// A package that does not build.
	bad := filepath.Join(dir, "bad")
	os.Mkdir(bad, 0o755)
	os.WriteFile(filepath.Join(bad, "go.mod"), []byte("module bad\n\ngo 1.24\n"), 0o644)
	os.WriteFile(filepath.Join(bad, "main.go"), []byte("package main\n\nfunc main() { undefined() }\n"), 0o644)
	if _, stderr, code := c.run("submit", bad); code == 0 || !strings.Contains(stderr, "does not build") || !strings.Contains(stderr, "undefined") {
		t.Errorf("broken package: exit %d, %q", code, stderr)
	}
	// Binary whose executors build a different plan.
	if stdout, stderr, code := c.run("submit", "--max-restarts", "0", "--binary", mismatch); code == 0 || !strings.Contains(stdout+stderr, "plan fingerprint mismatch") {
		t.Errorf("plan mismatch: exit %d, %q %q", code, stdout, stderr)
	}
	// A binary that cannot start as a task binary.
	script := filepath.Join(dir, "notajob.sh")
	os.WriteFile(script, []byte("#!/bin/sh\nif [ \"$DAGFLOW_MODE\" = plan ]; then exec "+wordcount+" \"$@\"; fi\necho 'cannot start: missing library' >&2\nexit 1\n"), 0o755)
	if stdout, stderr, code := c.run("submit", "--max-restarts", "1", "--binary", script, "--", "--input", filepath.Join(bad, "main.go"), "--output", filepath.Join(dir, "o2")); code == 0 ||
		!strings.Contains(stdout+stderr, "cannot start: missing library") {
		t.Errorf("unstartable binary: exit %d, %q %q", code, stdout, stderr)
	}
	// Cancel mid-run: nothing committed. The windowed job over 50M
	// generated events runs for several seconds.
	windowed := buildAll(t)["windowed"]
	out := filepath.Join(dir, "cancelled")
	stdout, stderr, code := c.run("submit", "--detach", "--binary", windowed, "--", "--events", "50000000", "--output", out)
	if code != 0 {
		t.Fatalf("submit: %s %s", stdout, stderr)
	}
	id := strings.Fields(stdout)[1]
	deadline := time.Now().Add(30 * time.Second)
	for st := c.status(id); st.State != "running" || len(st.Vertices) == 0 || st.Vertices[0].RecordsOut == 0; st = c.status(id) {
		if ended(st.State) || time.Now().After(deadline) {
			t.Fatalf("job never ran: %s %s", st.State, st.Reason)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if stdout, stderr, code := c.run("cancel", id); code != 0 || !strings.Contains(stdout, "canceled") {
		t.Fatalf("cancel: exit %d %q %q", code, stdout, stderr)
	}
	if lines, err := fileio.ReadAllLines(context.Background(), filesystem.Default(), out); err == nil && len(lines) > 0 {
		t.Errorf("cancelled job committed %d lines", len(lines))
	}
}

func TestClusterSlowConsumerBoundsProducerMemory(t *testing.T) {
	b := buildAll(t)
	c := startCluster(t, b["dagctl"], 2, 4)
	stdout, stderr, code := c.run("submit", "--binary", b["slowsink"], "--", "--records", "200000")
	if code != 0 {
		t.Fatalf("submit: %s %s", stdout, stderr)
	}
	id := strings.Fields(stdout)[1]
	st := c.status(id)
	// Two producers with two pipelined subpartitions each, 16 buffers per
	// subpartition queue: never more than 64 buffers queued on a worker.
	limit := 2 * 2 * 16
	peak := 0
	for _, w := range st.Workers {
		if w.PeakBuffersInUse > limit {
			t.Errorf("worker %s queued up to %d buffers, limit %d", w.Name, w.PeakBuffersInUse, limit)
		}
		peak = max(peak, w.PeakBuffersInUse)
	}
	if peak == 0 {
		t.Errorf("no buffers ever queued: the consumer was not slow enough to test back-pressure: %+v", st.Workers)
	}
	var src master.VertexStatus
	for _, v := range st.Vertices {
		if v.Name == "src" {
			src = v
		}
	}
	if src.RecordsOut != 200000 || src.BackPressure == 0 {
		t.Errorf("source: %d records out, back-pressure %.2f; want 200000 and > 0", src.RecordsOut, src.BackPressure)
	}
	t.Logf("peak buffers in use %d (limit %d), source back-pressure %.0f%%", peak, limit, 100*src.BackPressure)
}
