package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/io/fileio"
	"github.com/dagflow/dagflow/io/filesystem"
	"github.com/dagflow/dagflow/master"
)

// ckptExpected computes the output lines of internal/testjobs/ckptwindow.
func ckptExpected(events, keys, window int64) map[string]bool {
	type kw struct{ k, w int64 }
	sums := map[kw][2]int64{}
	for i := int64(0); i < events; i++ {
		x := kw{i % keys, i / window * window}
		s := sums[x]
		sums[x] = [2]int64{s[0] + i%97 + 1, s[1] + 1}
	}
	out := map[string]bool{}
	for x, s := range sums {
		out[fmt.Sprintf("%d\t%d\t%d\t%d", x.k, x.w, s[0], s[1])] = true
	}
	return out
}

// allRead reports whether the newest valid checkpoint of a ckptwindow job
// has every generator split read to its end.
func allRead(t *testing.T, dir string) bool {
	t.Helper()
	st, err := checkpoint.NewStorage(filesystem.Default(), "file://"+filepath.Dir(dir), filepath.Base(dir), checkpoint.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	md, err := st.Latest(context.Background())
	if err != nil {
		return false
	}
	splits := 0
	for _, ts := range md.Tasks {
		for _, os := range ts.Operators {
			for _, sp := range os.Splits {
				var d struct{ Start, End int64 }
				if err := json.Unmarshal(sp.Split.Data, &d); err != nil {
					t.Fatal(err)
				}
				if d.Start < d.End {
					return false
				}
				splits++
			}
		}
	}
	return splits > 0
}

// committedLines reads the committed output and fails on a duplicate.
func committedLines(t *testing.T, dir string) map[string]bool {
	t.Helper()
	lines, err := fileio.ReadAllLines(context.Background(), filesystem.Default(), dir)
	if err != nil {
		if os.IsNotExist(err) || strings.Contains(err.Error(), "no such file") || strings.Contains(err.Error(), "no files") || strings.Contains(err.Error(), "does not exist") {
			return map[string]bool{}
		}
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, l := range lines {
		if got[l] {
			t.Fatalf("output line %q committed twice", l)
		}
		got[l] = true
	}
	return got
}

// TestClusterExactlyOnceUnderWorkerKills runs an unbounded keyed windowed
// job with checkpoints and a transactional file sink on a real cluster
// while workers are SIGKILLed at seeded random points (and restarted). Once
// every event was read, the job is stopped with a drain savepoint: the
// committed output equals the expected windows exactly — nothing missing,
// nothing twice.
func TestClusterExactlyOnceUnderWorkerKills(t *testing.T) {
	b := buildAll(t)
	c := startCluster(t, b["dagctl"], 3, 4)
	const events, keys, window = 60000, 8, 1000
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	stdout, stderr, code := c.run("submit", "--detach", "--binary", b["ckptwindow"], "--max-restarts", "30", "--",
		"--events", strconv.Itoa(events), "--keys", strconv.Itoa(keys), "--rate", "6000", "--output", out,
		"--checkpoint-interval", "200ms", "--checkpoint-dir", "file://"+filepath.Join(dir, "ckpt"))
	if code != 0 {
		t.Fatalf("submit: %s %s", stdout, stderr)
	}
	id := strings.Fields(stdout)[1]
	want := ckptExpected(events, keys, window)
	fireable := map[string]bool{} // every window but the last fires without the drain
	for l := range want {
		f := strings.Split(l, "\t")
		if w, _ := strconv.Atoi(f[1]); w+window < events {
			fireable[l] = true
		}
	}
	rng := rand.New(rand.NewPCG(42, 7))
	kills := 0
	deadline := time.Now().Add(3 * time.Minute)
	running := func(st master.JobStatus) []string {
		var ws []string
		for _, task := range st.Tasks {
			if task.State != "running" {
				return nil
			}
			ws = append(ws, task.Worker)
		}
		return ws
	}
	// Kill a worker running a task every so often until 5 kills happened
	// and the job made progress in between.
	for kills < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d kills before the deadline; status %+v", kills, c.status(id))
		}
		time.Sleep(time.Duration(700+rng.IntN(1500)) * time.Millisecond)
		st := c.status(id)
		if ended(st.State) {
			t.Fatalf("job ended: %s %s", st.State, st.Reason)
		}
		ws := running(st)
		if len(ws) == 0 {
			continue // still recovering
		}
		victim := ws[rng.IntN(len(ws))]
		t.Logf("kill %d: SIGKILL %s", kills+1, victim)
		c.procs[victim].Process.Signal(syscall.SIGKILL)
		c.procs[victim].Wait()
		kills++
		time.Sleep(time.Duration(200+rng.IntN(500)) * time.Millisecond)
		c.start(victim, "worker", "--master", c.master, "--name", victim, "--slots", "4",
			"--dir", filepath.Join(c.baseDir, victim), "--failure-timeout", "2s", "--log-level", "warn")
	}
	// Wait until every fireable window is committed: all events were read
	// and a checkpoint after that completed.
	for {
		got := committedLines(t, out)
		missing := 0
		for l := range fireable {
			if !got[l] {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		st := c.status(id)
		if ended(st.State) {
			t.Fatalf("job ended: %s %s", st.State, st.Reason)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d windows still missing; status %+v", missing, st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// And until a completed checkpoint has every generator split at its
	// end: all events were read (the last window is still open).
	for !allRead(t, filepath.Join(dir, "ckpt", id)) {
		if time.Now().After(deadline) {
			t.Fatalf("events not all read; status %+v", c.status(id))
		}
		time.Sleep(200 * time.Millisecond)
	}
	stdout, stderr, code = c.run("stop", id, "--drain", "--dir", "file://"+filepath.Join(dir, "savepoints"))
	if code != 0 {
		t.Fatalf("stop --drain: %s %s", stdout, stderr)
	}
	st := c.status(id)
	if st.State != "finished" {
		t.Fatalf("job %s after stop --drain: %s", st.State, st.Reason)
	}
	got := committedLines(t, out)
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
	completed := 0
	for _, ck := range st.Checkpoints {
		if ck.Status == "completed" {
			completed++
		}
	}
	t.Logf("%d kills, %d restarts, %d output windows, %d recent checkpoints completed", kills, st.Restarts, len(got), completed)
	if st.Restarts < kills {
		t.Errorf("%d restarts for %d kills", st.Restarts, kills)
	}
}

// TestClusterStopWithSavepointAndResumeRescaled stops a running job with a
// savepoint (`dagctl stop`), resubmits it from the savepoint at another
// parallelism (`dagctl submit --from-savepoint --parallelism`) and drains
// it: the committed output of both runs is the expected one exactly.
func TestClusterStopWithSavepointAndResumeRescaled(t *testing.T) {
	b := buildAll(t)
	c := startCluster(t, b["dagctl"], 2, 4)
	const events, keys, window = 30000, 6, 1000
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	args := []string{"--", "--events", strconv.Itoa(events), "--keys", strconv.Itoa(keys), "--rate", "6000", "--output", out,
		"--checkpoint-interval", "200ms", "--checkpoint-dir", "file://" + filepath.Join(dir, "ckpt")}
	stdout, stderr, code := c.run(append([]string{"submit", "--detach", "--binary", b["ckptwindow"]}, args...)...)
	if code != 0 {
		t.Fatalf("submit: %s %s", stdout, stderr)
	}
	id := strings.Fields(stdout)[1]
	deadline := time.Now().Add(2 * time.Minute)
	for len(committedLines(t, out)) < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("no output; status %+v", c.status(id))
		}
		time.Sleep(100 * time.Millisecond)
	}
	stdout, stderr, code = c.run("stop", id, "--dir", "file://"+filepath.Join(dir, "savepoints"), "--output", "json")
	if code != 0 {
		t.Fatalf("stop: %s %s", stdout, stderr)
	}
	var sp struct{ Savepoint string }
	if err := json.Unmarshal([]byte(stdout), &sp); err != nil || sp.Savepoint == "" {
		t.Fatalf("stop output %q: %v", stdout, err)
	}
	if st := c.status(id); st.State != "canceled" {
		t.Fatalf("stopped job is %s", st.State)
	}
	before := len(committedLines(t, out))
	stdout, stderr, code = c.run(append([]string{"submit", "--detach", "--binary", b["ckptwindow"], "--parallelism", "3",
		"--from-savepoint", sp.Savepoint}, args...)...)
	if code != 0 {
		t.Fatalf("submit --from-savepoint: %s %s", stdout, stderr)
	}
	id2 := strings.Fields(stdout)[1]
	for !allRead(t, filepath.Join(dir, "ckpt", id2)) {
		if time.Now().After(deadline) {
			t.Fatalf("events not all read; status %+v", c.status(id2))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if stdout, stderr, code = c.run("stop", id2, "--drain", "--dir", "file://"+filepath.Join(dir, "savepoints")); code != 0 {
		t.Fatalf("stop --drain: %s %s", stdout, stderr)
	}
	got := committedLines(t, out)
	want := ckptExpected(events, keys, window)
	for l := range want {
		if !got[l] {
			t.Errorf("missing window %q", l)
		}
	}
	for l := range got {
		if !want[l] {
			t.Errorf("unexpected output %q", l)
		}
	}
	t.Logf("%d windows before the stop, %d in all; resumed at parallelism 3", before, len(got))
	for _, task := range c.status(id2).Tasks {
		if task.Subtask > 1 {
			return
		}
	}
	t.Error("the resumed job did not run at parallelism 3")
}
