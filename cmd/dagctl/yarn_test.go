package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dagflow/dagflow/internal/hdfstest"
	"github.com/dagflow/dagflow/internal/yarn"
	"github.com/dagflow/dagflow/internal/yarntest"
	"github.com/dagflow/dagflow/master"
)

// The tests in this file run dagctl as a separate process against the
// YARN stand-in (internal/yarntest) and the HDFS stand-in
// (internal/hdfstest) of this test process: staging, the ApplicationMaster
// and the workers are real processes in stand-in containers.

type yarnEnvT struct {
	t      *testing.T
	dagctl string
	yarn   *yarntest.Cluster
	env    []string
}

func startYarn(t *testing.T, opts yarntest.Options) *yarnEnvT {
	t.Helper()
	b := buildAll(t)
	h := hdfstest.StartTest(t, hdfstest.Options{})
	opts.CoreSite = map[string]string{"fs.defaultFS": "hdfs://" + h.Addr()}
	y := yarntest.StartTest(t, opts)
	return &yarnEnvT{t: t, dagctl: b["dagctl"], yarn: y,
		env: append(os.Environ(), "HADOOP_CONF_DIR="+y.ConfDir(), "HADOOP_USER_NAME=alice", "DAGFLOW_MASTER=")}
}

func (e *yarnEnvT) run(args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.dagctl, args...)
	cmd.Env = e.env
	var o, er bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &er
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		e.t.Fatalf("dagctl %v: %v", args, err)
	}
	return o.String(), er.String(), code
}

// logs returns the stderr of every container, for failure messages.
func (e *yarnEnvT) logs(app string) string {
	var b strings.Builder
	for _, c := range e.yarn.Containers(app) {
		out, _ := os.ReadFile(filepath.Join(c.LogDir, "stderr"))
		fmt.Fprintf(&b, "--- %s (exit %d):\n%s\n", c.ID, c.ExitCode, out)
	}
	return b.String()
}

// restStatus reads a job's status from the session master's REST API
// (the application's tracking URL): fast enough to poll under load.
func restStatus(t *testing.T, tracking, id string) master.JobStatus {
	t.Helper()
	resp, err := http.Get(tracking + "/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st master.JobStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("REST status of %s: %v", id, err)
	}
	return st
}

func (e *yarnEnvT) startSession(args ...string) (app, masterAddr string) {
	app, masterAddr, _ = e.startSessionREST(args...)
	return app, masterAddr
}

func (e *yarnEnvT) startSessionREST(args ...string) (app, masterAddr, tracking string) {
	e.t.Helper()
	stdout, stderr, code := e.run(append([]string{"yarn", "session", "start", "--output", "json"}, args...)...)
	if code != 0 {
		e.t.Fatalf("session start: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var r map[string]string
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || r["application"] == "" || r["master"] == "" {
		e.t.Fatalf("session start printed %q: %v", stdout, err)
	}
	e.t.Cleanup(func() { e.run("yarn", "session", "stop", r["application"]) })
	return r["application"], r["master"], r["tracking"]
}

func (e *yarnEnvT) status(masterAddr, id string) master.JobStatus {
	e.t.Helper()
	out, errOut, code := e.run("status", "--master", masterAddr, id, "--output", "json")
	if code != 0 {
		e.t.Fatalf("status: %s", errOut)
	}
	var st master.JobStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		e.t.Fatalf("status json: %v\n%s", err, out)
	}
	return st
}

// TestYarnSessionWordcount: a session's master runs in the AM container,
// its workers in worker containers, and wordcount and the windowed example
// submitted with --yarn give the embedded runtime's output.
func TestYarnSessionWordcount(t *testing.T) {
	e := startYarn(t, yarntest.Options{Nodes: 2})
	_, wordcount, windowed, _ := binaries(t)
	app, masterAddr := e.startSession("--workers", "2", "--slots", "2", "--worker-memory", "512", "--name", "wc-session")
	dir := t.TempDir()
	in := filepath.Join(dir, "words.txt")
	writeWords(t, in, 100000)
	embedded := filepath.Join(dir, "embedded")
	if out, err := exec.Command(wordcount, "--input", in, "--output", embedded, "--parallelism", "3").CombinedOutput(); err != nil {
		t.Fatalf("embedded run: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "yarn")
	stdout, stderr, code := e.run("submit", "--yarn", app, "--binary", wordcount, "--parallelism", "3", "--", "--input", in, "--output", out)
	if code != 0 || !strings.Contains(stdout, "finished") {
		t.Fatalf("submit --yarn: exit %d\n%s\n%s\n%s", code, stdout, stderr, e.logs(app))
	}
	if got, want := readCounts(t, out), readCounts(t, embedded); !maps.Equal(got, want) {
		t.Fatalf("session output has %d words, embedded %d", len(got), len(want))
	}
	// The windowed example (event-time windows) on the same session.
	wemb := filepath.Join(dir, "windowed-embedded")
	if o, err := exec.Command(windowed, "--events", "50000", "--output", wemb).CombinedOutput(); err != nil {
		t.Fatalf("embedded windowed run: %v\n%s", err, o)
	}
	wout := filepath.Join(dir, "windowed-yarn")
	if wo, we, code := e.run("submit", "--yarn", app, "--binary", windowed, "--", "--events", "50000", "--output", wout); code != 0 || !strings.Contains(wo, "finished") {
		t.Fatalf("windowed submit --yarn: exit %d\n%s\n%s\n%s", code, wo, we, e.logs(app))
	}
	if got, want := readSorted(t, wout), readSorted(t, wemb); len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("windowed: session output has %d lines, embedded %d", len(got), len(want))
	}
	// The job's workers are containers, named by their container ids.
	st := e.status(masterAddr, strings.Fields(stdout)[1])
	for _, task := range st.Tasks {
		if !strings.HasPrefix(task.Worker, "container_") {
			t.Fatalf("task ran on worker %q, not a container", task.Worker)
		}
	}
	listed, _, code := e.run("yarn", "session", "list")
	if code != 0 || !strings.Contains(listed, app) || !strings.Contains(listed, masterAddr) || !strings.Contains(listed, "wc-session") {
		t.Fatalf("session list: %q", listed)
	}
	stopped, stderr, code := e.run("yarn", "session", "stop", app)
	if code != 0 || !strings.Contains(stopped, "killed") {
		t.Fatalf("session stop: %s %s", stopped, stderr)
	}
	if err := e.yarn.Wait(context.Background(), func(c *yarntest.Cluster) bool { return c.RunningContainers(app) == 0 }); err != nil {
		t.Fatal(err)
	}
	// The container logs are where log aggregation expects them.
	for _, c := range e.yarn.Containers(app) {
		if b, _ := os.ReadFile(filepath.Join(c.LogDir, "stderr")); len(b) == 0 {
			t.Errorf("container %s left no stderr in its log directory", c.ID)
		}
	}
}

// submitBatchWordcount writes six input files, runs wordcount on them in
// the embedded runtime (the expected output), and submits it detached to
// the session app in batch mode with parallelism 6; it returns the job id
// and the output directories of the session run and the embedded run.
func (e *yarnEnvT) submitBatchWordcount(wordcount, app string) (id, out, embedded string) {
	t := e.t
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.Mkdir(in, 0o755)
	for i := range 6 {
		writeWords(t, filepath.Join(in, fmt.Sprintf("part-%d.txt", i)), 300000)
	}
	embedded = filepath.Join(dir, "embedded")
	if o, err := exec.Command(wordcount, "--input", in, "--output", embedded).CombinedOutput(); err != nil {
		t.Fatalf("embedded run: %v\n%s", err, o)
	}
	out = filepath.Join(dir, "yarn")
	stdout, stderr, code := e.run("submit", "--yarn", app, "--detach", "--binary", wordcount, "--parallelism", "6", "--",
		"--input", in, "--output", out, "--mode", "batch")
	if code != 0 {
		t.Fatalf("submit: %s %s", stdout, stderr)
	}
	return strings.Fields(stdout)[1], out, embedded
}

// TestYarnSessionSurvivesContainerKill: a worker container SIGKILLed
// mid-job is a lost worker; the job still gives exact output.
func TestYarnSessionSurvivesContainerKill(t *testing.T) {
	e := startYarn(t, yarntest.Options{Nodes: 2})
	_, wordcount, _, _ := binaries(t)
	app, _, tracking := e.startSessionREST("--workers", "3", "--slots", "2", "--worker-memory", "512")
	id, out, embedded := e.submitBatchWordcount(wordcount, app)
	deadline := time.Now().Add(2 * time.Minute)
	victim := ""
	for victim == "" && time.Now().Before(deadline) {
		st := restStatus(t, tracking, id)
		if ended(st.State) {
			t.Fatalf("the job ended (%s) before a task was seen running on a container", st.State)
		}
		for _, task := range st.Tasks {
			if task.State == "running" && strings.HasPrefix(task.Worker, "container_") {
				victim = task.Worker
				break
			}
		}
	}
	if victim == "" {
		t.Fatal("no task ran on a container")
	}
	if err := e.yarn.KillContainer(victim); err != nil {
		t.Fatal(err)
	}
	var st master.JobStatus
	for st = restStatus(t, tracking, id); !ended(st.State); st = restStatus(t, tracking, id) {
		if time.Now().After(deadline) {
			t.Fatalf("job did not end: %+v\n%s", st, e.logs(app))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.State != "finished" {
		t.Fatalf("job %s after the kill: %s\n%s", st.State, st.Reason, e.logs(app))
	}
	if got, want := readCounts(t, out), readCounts(t, embedded); !maps.Equal(got, want) {
		t.Fatalf("output after a container kill has %d words, want %d", len(got), len(want))
	}
	if st.Restarts < 1 {
		t.Fatalf("no failover recorded: %+v", st)
	}
	// The AM asked for a replacement: a container beyond the first four
	// (AM + 3 workers) was started.
	if n := len(e.yarn.Containers(app)); n < 5 {
		t.Fatalf("no replacement container: %d containers", n)
	}
}

// TestYarnSessionSurvivesAMRestart: the ApplicationMaster (and with it
// the master) is killed mid-job; the second attempt recovers the job from
// the staging directory, the workers of the first attempt re-register with
// its master (no new worker containers), and the job ends with exact
// output. The job's tasks restart (from the beginning: it has no
// checkpoint).
func TestYarnSessionSurvivesAMRestart(t *testing.T) {
	e := startYarn(t, yarntest.Options{Nodes: 2})
	_, wordcount, _, _ := binaries(t)
	app, _, tracking := e.startSessionREST("--workers", "2", "--slots", "3", "--worker-memory", "512", "--max-attempts", "2")
	id, out, embedded := e.submitBatchWordcount(wordcount, app)
	firstWorkers := map[string]bool{}
	for _, c := range e.yarn.Containers(app) {
		if !c.AM {
			firstWorkers[c.ID] = true
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for running := false; !running; {
		if time.Now().After(deadline) {
			t.Fatal("no task ran on a container")
		}
		st := restStatus(t, tracking, id)
		if ended(st.State) {
			t.Fatalf("the job ended (%s) before a task was seen running", st.State)
		}
		for _, task := range st.Tasks {
			running = running || task.State == "running"
		}
	}
	if err := e.yarn.FailAttempt(app); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := e.yarn.Wait(ctx, func(c *yarntest.Cluster) bool { return c.Attempts(app) == 2 && c.Registered(app) }); err != nil {
		t.Fatalf("no second attempt: %v\n%s", err, e.logs(app))
	}
	cfg, err := yarn.LoadConfig(e.yarn.ConfDir(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := yarn.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	appID, _ := yarn.ParseApplicationID(app)
	rep, err := cl.ApplicationReport(ctx, appID)
	if err != nil {
		t.Fatal(err)
	}
	newTracking := rep.GetTrackingUrl()
	if newTracking == tracking {
		t.Fatalf("the report still names the first attempt's master %s", tracking)
	}
	var st master.JobStatus
	for st = restStatus(t, newTracking, id); !ended(st.State); st = restStatus(t, newTracking, id) {
		if time.Now().After(deadline) {
			t.Fatalf("job did not end on the second attempt's master: %+v\n%s", st, e.logs(app))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st.State != "finished" {
		t.Fatalf("job %s after the AM restart: %s\n%s", st.State, st.Reason, e.logs(app))
	}
	if got, want := readCounts(t, out), readCounts(t, embedded); !maps.Equal(got, want) {
		t.Fatalf("output after an AM restart has %d words, want %d", len(got), len(want))
	}
	for _, task := range st.Tasks {
		if !firstWorkers[task.Worker] {
			t.Fatalf("task ran on %q, not on a re-adopted worker of the first attempt %v", task.Worker, firstWorkers)
		}
	}
	for _, c := range e.yarn.Containers(app) {
		if !c.AM && !firstWorkers[c.ID] {
			t.Fatalf("the second attempt started worker container %s instead of re-adopting", c.ID)
		}
	}
}

// TestYarnPerJob: submit --target yarn runs the job as its own
// application, which ends with the job's status; a failing job fails the
// application with the job's reason in the diagnostics.
func TestYarnPerJob(t *testing.T) {
	e := startYarn(t, yarntest.Options{})
	b := buildAll(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "words.txt")
	writeWords(t, in, 20000)
	embedded := filepath.Join(dir, "embedded")
	if out, err := exec.Command(b["wordcount"], "--input", in, "--output", embedded).CombinedOutput(); err != nil {
		t.Fatalf("embedded run: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "yarn")
	stdout, stderr, code := e.run("submit", "--target", "yarn", "--yarn-slots", "2", "--yarn-worker-memory", "512",
		"--binary", b["wordcount"], "--parallelism", "2", "--", "--input", in, "--output", out)
	if code != 0 || !strings.Contains(stdout, "finished: APP_SUCCEEDED") {
		t.Fatalf("per-job submit: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if got, want := readCounts(t, out), readCounts(t, embedded); !maps.Equal(got, want) {
		t.Fatalf("per-job output has %d words, embedded %d", len(got), len(want))
	}
	// A job that fails: its input does not exist.
	stdout, stderr, code = e.run("submit", "--target", "yarn", "--yarn-slots", "2", "--yarn-worker-memory", "512",
		"--binary", b["wordcount"], "--", "--input", filepath.Join(dir, "missing"), "--output", filepath.Join(dir, "never"))
	if code != 1 || !strings.Contains(stdout, "APP_FAILED") || !strings.Contains(stdout, "missing") {
		t.Fatalf("failing per-job submit: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestYarnErrors: an unreachable ResourceManager is named (exit 3); an
// unknown queue surfaces the ResourceManager's message.
func TestYarnErrors(t *testing.T) {
	e := startYarn(t, yarntest.Options{})
	e.yarn.StopResourceManager(0)
	_, stderr, code := e.run("yarn", "session", "list")
	if code != exitUnreachable || !strings.Contains(stderr, e.yarn.Addrs()[0]) {
		t.Fatalf("unreachable RM: exit %d: %s", code, stderr)
	}
	if err := e.yarn.StartResourceManager(0); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = e.run("yarn", "session", "start", "--queue", "nope")
	if code != exitFailed || !strings.Contains(stderr, "unknown queue: nope") {
		t.Fatalf("unknown queue: exit %d: %s", code, stderr)
	}
	_, stderr, code = e.run("submit", "--yarn", "application_x", "--binary", "/bin/true")
	if code != exitUsage || !strings.Contains(stderr, "application id") {
		t.Fatalf("bad application id: exit %d: %s", code, stderr)
	}
}
