package main

import (
	"bufio"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHAReconcileStreamingJob SIGKILLs the leading master while an
// unbounded job with exactly-once checkpoints runs, after output was
// committed and before all input was read. The workers keep their
// executors, point them at the new leader and report their tasks; the new
// leader continues the job with them: every running task keeps its attempt
// number, no job falls back to a restart, and the committed output is
// exactly the expected windows.
func TestHAReconcileStreamingJob(t *testing.T) {
	b := buildAll(t)
	c := startHACluster(t, b["dagctl"], 2, 2, 4)
	j := startWindowJob(t, c, b["ckptwindow"])
	id, out, ckpt := j.id, j.out, j.ckpt
	before := runningAttempts(t, c, id)
	if allRead(t, filepath.Join(ckpt, id)) {
		t.Fatal("all input read before the kill: the kill would not land mid-job")
	}
	old, epoch := c.leader(0)
	// Kill right after a checkpoint completed, well before the next one
	// (every 200 ms): a sink that already acknowledged a checkpoint the old
	// leader never completed makes the new leader restart the job instead
	// (its prepared output went to the old leader), which this test is not
	// about.
	chk := justCompleted(t, filepath.Join(ckpt, id), j.deadline)
	t.Logf("SIGKILL leader %s (epoch %d) after checkpoint %d with %d windows committed; attempts %v", old, epoch, chk, len(committedLines(t, out)), before)
	c.procs[old].Process.Signal(syscall.SIGKILL)
	c.procs[old].Wait()
	delete(c.procs, old)
	if _, epoch2 := c.leader(epoch); epoch2 <= epoch {
		t.Fatalf("leader epoch after the kill: %d", epoch2)
	}
	after := runningAttempts(t, c, id)
	for task, a := range before {
		if after[task] != a {
			t.Errorf("task %s: attempt %d before the failover, %d after", task, a, after[task])
		}
	}
	if len(after) != len(before) {
		t.Errorf("running tasks before the failover %v, after %v", before, after)
	}
	j.waitAllRead(t, c)
	if n := leaderMetric(t, c, "dagflow_jobs_reconcile_fallbacks_total"); n != 0 {
		t.Errorf("dagflow_jobs_reconcile_fallbacks_total = %v, want 0", n)
	}
	j.stopExact(t, c)
	c.logMu.Lock()
	continued := strings.Count(c.logs.String(), "its running tasks continue")
	c.logMu.Unlock()
	if continued != 1 {
		t.Errorf("%d jobs continued with their running tasks, want 1", continued)
	}
}

// justCompleted waits until a checkpoint newer than the newest one in dir
// completes (its _metadata appears) and returns its id.
func justCompleted(t *testing.T, dir string, deadline time.Time) int {
	t.Helper()
	newest := func() int {
		ms, _ := filepath.Glob(filepath.Join(dir, "chk-*", "_metadata"))
		n := 0
		for _, m := range ms {
			if id, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(filepath.Dir(m)), "chk-")); err == nil && id > n {
				n = id
			}
		}
		return n
	}
	start := newest()
	for {
		if n := newest(); n > start {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint after %d completed before the deadline", start)
		}
		time.Sleep(time.Millisecond)
	}
}

// windowJob is a running ckptwindow job with exactly-once output.
type windowJob struct {
	id, dir, out, ckpt string
	want               map[string]bool
	deadline           time.Time
}

// startWindowJob submits an unbounded ckptwindow job and waits until some
// of its output is committed.
func startWindowJob(t *testing.T, c *haCluster, binary string) windowJob {
	t.Helper()
	const events, keys, window = 40000, 8, 1000
	dir := t.TempDir()
	j := windowJob{dir: dir, out: filepath.Join(dir, "out"), ckpt: filepath.Join(dir, "ckpt"),
		want: ckptExpected(events, keys, window), deadline: time.Now().Add(4 * time.Minute)}
	stdout, stderr, code := c.run("submit", "--detach", "--binary", binary, "--max-restarts", "30", "--",
		"--events", strconv.Itoa(events), "--keys", strconv.Itoa(keys), "--rate", "5000", "--output", j.out,
		"--checkpoint-interval", "200ms", "--checkpoint-dir", "file://"+j.ckpt)
	if code != 0 {
		t.Fatalf("submit: %s %s", stdout, stderr)
	}
	j.id = strings.Fields(stdout)[1]
	for len(committedLines(t, j.out)) == 0 {
		if time.Now().After(j.deadline) {
			t.Fatal("no output committed before the deadline")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return j
}

// waitAllRead waits until the job's latest checkpoint read every event.
func (j windowJob) waitAllRead(t *testing.T, c *haCluster) {
	t.Helper()
	for !allRead(t, filepath.Join(j.ckpt, j.id)) {
		st, _ := c.status(j.id)
		if ended(st.State) {
			t.Fatalf("job ended: %s %s", st.State, st.Reason)
		}
		if time.Now().After(j.deadline) {
			t.Fatalf("events not all read; status %+v", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stopExact stops the job with a drain savepoint and checks that its
// committed output is exactly the expected windows (committedLines fails
// on a line committed twice).
func (j windowJob) stopExact(t *testing.T, c *haCluster) {
	t.Helper()
	stdout, stderr, code := c.run("stop", j.id, "--drain", "--dir", "file://"+filepath.Join(j.dir, "savepoints"))
	if code != 0 {
		t.Fatalf("stop --drain: %s %s", stdout, stderr)
	}
	checkExact(t, committedLines(t, j.out), j.want)
}

// checkExact compares committed output lines with the expected ones.
func checkExact(t *testing.T, got, want map[string]bool) {
	t.Helper()
	bad := 0
	for l := range want {
		if !got[l] {
			bad++
			if bad < 10 {
				t.Errorf("missing window %q", l)
			}
		}
	}
	for l := range got {
		if !want[l] {
			bad++
			if bad < 20 {
				t.Errorf("unexpected output %q", l)
			}
		}
	}
}

// runningAttempts waits until every task of the job runs on the current
// leader and returns their attempt numbers by task name.
func runningAttempts(t *testing.T, c *haCluster, id string) map[string]int {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, ok := c.status(id)
		if ok && ended(st.State) {
			t.Fatalf("job ended: %s %s", st.State, st.Reason)
		}
		if ok && st.State == "running" && len(st.Tasks) > 0 {
			att := map[string]int{}
			all := true
			for _, tv := range st.Tasks {
				att[tv.Name] = tv.Attempt
				all = all && tv.State == "running"
			}
			if all {
				return att
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks of job %s not all running; status %+v", id, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// leaderMetric reads a counter from the leading master's /metrics.
func leaderMetric(t *testing.T, c *haCluster, name string) float64 {
	t.Helper()
	info, err := c.lead.Leader()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + info.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			var v float64
			if _, err := fmt.Sscan(f[1], &v); err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("metric %s not served by %s", name, info.HTTP)
	return 0
}
