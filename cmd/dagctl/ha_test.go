package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dagflow/dagflow/internal/ha"
	"github.com/dagflow/dagflow/internal/zktest"
	"github.com/dagflow/dagflow/master"
)

// haCluster is masters (one leading, the others standing by), workers and a
// real ZooKeeper, all separate processes.
type haCluster struct {
	*cluster
	zk      *zktest.Ensemble
	haDir   string
	masters map[string]string // process name -> listen address
	lead    *ha.Client
}

func startHACluster(t *testing.T, dagctl string, masters, workers, slots int) *haCluster {
	t.Helper()
	return haClusterOn(t, dagctl, zktest.Start(t, 1), masters, workers, slots)
}

func (c *haCluster) startMaster(name string) {
	addr := freeAddr(c.t)
	c.masters[name] = addr
	c.start(name, "master", "--ha", "zookeeper", "--zk", c.zk.Connect(), "--ha-dir", c.haDir,
		"--zk-session-timeout", "4s", "--listen", addr, "--http", "127.0.0.1:0",
		"--dir", filepath.Join(c.baseDir, name), "--failure-timeout", "2s", "--log-level", "info")
}

// leader returns the leading master's process name and epoch.
func (c *haCluster) leader(after uint64) (string, uint64) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	info, err := c.lead.WaitLeader(ctx, after)
	if err != nil {
		c.t.Fatalf("no leader after epoch %d: %v\n%s", after, err, c.logs.String())
	}
	for name, addr := range c.masters {
		if addr == info.Address {
			return name, info.Epoch
		}
	}
	c.t.Fatalf("leader %+v is none of the masters %v", info, c.masters)
	return "", 0
}

// run runs a client command that finds the leader through ZooKeeper.
func (c *haCluster) run(args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	code = run(append(args[:1:1], append([]string{"--zk", c.zk.Connect()}, args[1:]...)...), &o, &e)
	return o.String(), e.String(), code
}

func (c *haCluster) status(id string) (master.JobStatus, bool) {
	out, _, code := c.run("status", id, "--output", "json")
	if code != 0 {
		return master.JobStatus{}, false // between leaders
	}
	var st master.JobStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		c.t.Fatalf("status json: %v\n%s", err, out)
	}
	return st, true
}

// TestHALeaderKilledMidStreamingJob SIGKILLs the leading master while an
// unbounded job with exactly-once checkpoints runs, after output was
// committed and before all input was read. The standby takes over with a
// newer epoch, the workers follow it, the job continues (with its running
// tasks, see TestHAReconcileStreamingJob, or from its latest checkpoint),
// and the committed output is exactly the expected windows.
func TestHALeaderKilledMidStreamingJob(t *testing.T) {
	b := buildAll(t)
	c := startHACluster(t, b["dagctl"], 2, 2, 4)
	j := startWindowJob(t, c, b["ckptwindow"])
	id, out, ckpt, deadline := j.id, j.out, j.ckpt, j.deadline
	if allRead(t, filepath.Join(ckpt, id)) {
		t.Fatal("all input read before the kill: the kill would not land mid-job")
	}
	old, epoch := c.leader(0)
	t.Logf("SIGKILL leader %s (epoch %d) with %d windows committed", old, epoch, len(committedLines(t, out)))
	killed := time.Now()
	c.procs[old].Process.Signal(syscall.SIGKILL)
	c.procs[old].Wait()
	delete(c.procs, old)
	next, epoch2 := c.leader(epoch)
	if next == old || epoch2 <= epoch {
		t.Fatalf("leader after the kill: %s epoch %d", next, epoch2)
	}
	// The job runs again under the new leader.
	for {
		st, ok := c.status(id)
		if ok && st.State == "running" {
			break
		}
		if ok && ended(st.State) {
			t.Fatalf("job ended under the new leader: %s %s", st.State, st.Reason)
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not running under the new leader; status %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("job running again %v after the kill", time.Since(killed).Round(time.Millisecond))
	j.waitAllRead(t, c)
	j.stopExact(t, c)
	c.logMu.Lock()
	recovered := strings.Count(c.logs.String(), "job recovered after a leader change")
	c.logMu.Unlock()
	if recovered != 1 {
		t.Errorf("%d job recoveries logged, want 1", recovered)
	}
}

// TestHALeaderKilledMidBatchJob SIGKILLs the leader while a batch job with
// blocking edges runs: the new leader reruns it and its output is exact.
func TestHALeaderKilledMidBatchJob(t *testing.T) {
	b := buildAll(t)
	c := startHACluster(t, b["dagctl"], 2, 2, 2)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	writeWords(t, in, 400000)
	out := filepath.Join(dir, "out")
	stdout, stderr, code := c.run("submit", "--detach", "--binary", b["wordcount"], "--", "--input", in, "--output", out, "--parallelism", "2")
	if code != 0 {
		t.Fatalf("submit: %s %s", stdout, stderr)
	}
	id := strings.Fields(stdout)[1]
	deadline := time.Now().Add(3 * time.Minute)
	before := map[string]int{} // attempts of the tasks running at the kill
	for {
		st, ok := c.status(id)
		if ok && ended(st.State) {
			t.Fatalf("job ended before the kill (%s): make the input larger", st.State)
		}
		for _, task := range st.Tasks {
			if task.State == "running" {
				before[task.Name] = task.Attempt
			}
		}
		if len(before) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("job never ran")
		}
		time.Sleep(20 * time.Millisecond)
	}
	old, epoch := c.leader(0)
	c.procs[old].Process.Signal(syscall.SIGKILL)
	c.procs[old].Wait()
	delete(c.procs, old)
	if next, _ := c.leader(epoch); next == old {
		t.Fatal("the killed master still leads")
	}
	var final master.JobStatus
	for {
		st, ok := c.status(id)
		if ok && st.State == "finished" {
			final = st
			break
		}
		if ok && ended(st.State) {
			t.Fatalf("job %s: %s", st.State, st.Reason)
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not finished; status %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The new leader continued the job with its running tasks: the tasks
	// running at the kill finished with the same attempt numbers, and no
	// job fell back to a restart.
	for _, task := range final.Tasks {
		if a, ok := before[task.Name]; ok && task.Attempt != a {
			t.Errorf("task %s: attempt %d at the kill, finished with attempt %d", task.Name, a, task.Attempt)
		}
	}
	if n := leaderMetric(t, c, "dagflow_jobs_reconcile_fallbacks_total"); n != 0 {
		t.Errorf("dagflow_jobs_reconcile_fallbacks_total = %v, want 0", n)
	}
	got := readCounts(t, out) // fails on a word written twice
	want := wordCounts(t, in)
	if len(got) != len(want) {
		t.Fatalf("%d words, want %d", len(got), len(want))
	}
	for w, n := range want {
		if got[w] != n {
			t.Fatalf("count of %q = %s, want %s", w, got[w], n)
		}
	}
}

// TestHAPausedLeaderStepsDown pauses the leader (SIGSTOP) until its
// ZooKeeper session expires: the standby takes over and finishes the job;
// the old leader, resumed, learns it lost and exits.
func TestHAPausedLeaderStepsDown(t *testing.T) {
	b := buildAll(t)
	c := startHACluster(t, b["dagctl"], 2, 1, 2)
	old, epoch := c.leader(0)
	c.procs[old].Process.Signal(syscall.SIGSTOP)
	next, epoch2 := c.leader(epoch)
	if next == old || epoch2 <= epoch {
		t.Fatalf("leader after the pause: %s epoch %d", next, epoch2)
	}
	// A job runs on the new leader.
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	writeWords(t, in, 2000)
	out := filepath.Join(dir, "out")
	stdout, stderr, code := c.run("submit", "--binary", b["wordcount"], "--", "--input", in, "--output", out)
	if code != 0 {
		t.Fatalf("submit on the new leader: %s %s", stdout, stderr)
	}
	c.procs[old].Process.Signal(syscall.SIGCONT)
	exited := make(chan error, 1)
	go func() { exited <- c.procs[old].Wait() }()
	select {
	case err := <-exited:
		if err == nil {
			t.Fatal("the deposed leader exited with success")
		}
		delete(c.procs, old)
	case <-time.After(60 * time.Second):
		t.Fatalf("the deposed leader did not step down\n%s", c.logs.String())
	}
	c.waitReady("lost the leadership")
	if got, want := readCounts(t, out), wordCounts(t, in); len(got) != len(want) {
		t.Fatalf("%d words, want %d", len(got), len(want))
	}
}
