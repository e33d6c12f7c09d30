package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dagflow/dagflow/master"
)

// The tests in this file run jobs with --shuffle external on real master,
// worker and shuffle daemon processes (dagctl shuffle).

var (
	slowShuffleOnce sync.Once
	slowShuffleBin  string
	slowShuffleErr  error
)

// slowShuffleJob builds internal/testjobs/slowshuffle once per test run.
func slowShuffleJob(t *testing.T) string {
	t.Helper()
	buildAll(t) // skips in -short mode
	slowShuffleOnce.Do(func() {
		slowShuffleBin = filepath.Join(buildDir, "slowshuffle")
		out, err := exec.Command("go", "build", "-o", slowShuffleBin, "../../internal/testjobs/slowshuffle").CombinedOutput()
		if err != nil {
			slowShuffleErr = fmt.Errorf("build slowshuffle: %v\n%s", err, out)
		}
	})
	if slowShuffleErr != nil {
		t.Fatal(slowShuffleErr)
	}
	return slowShuffleBin
}

// shuffleCluster is a cluster whose workers share one shuffle daemon.
type shuffleCluster struct {
	*cluster
	daemonAddr string
	daemonDir  string
	daemonEnv  []string
}

// startShuffleCluster starts a master, a shuffle daemon (with extra
// environment env) and workers using it.
func startShuffleCluster(t *testing.T, dagctl string, workers, slots int, env ...string) *shuffleCluster {
	t.Helper()
	c := &cluster{t: t, dagctl: dagctl, master: freeAddr(t), http: freeAddr(t), procs: map[string]*exec.Cmd{},
		logs: &bytes.Buffer{}, logMu: &sync.Mutex{}, baseDir: t.TempDir()}
	t.Cleanup(c.stop)
	c.start("master", "master", "--listen", c.master, "--http", c.http, "--dir", filepath.Join(c.baseDir, "master"),
		"--failure-timeout", "2s", "--log-level", "warn")
	c.waitReady("master listening")
	sc := &shuffleCluster{cluster: c, daemonAddr: freeAddr(t), daemonDir: filepath.Join(c.baseDir, "shuffle"), daemonEnv: env}
	sc.startDaemon()
	for i := 0; i < workers; i++ {
		name := "worker-" + strconv.Itoa(i)
		c.start(name, "worker", "--master", c.master, "--name", name, "--slots", strconv.Itoa(slots),
			"--dir", filepath.Join(c.baseDir, name), "--failure-timeout", "2s", "--log-level", "warn",
			"--shuffle-daemon", sc.daemonAddr, "--shuffle-dir", sc.daemonDir)
		c.waitReady("worker " + name + " listening")
	}
	return sc
}

// startDaemon starts (or restarts, on the same flags) the shuffle daemon
// and waits until it serves.
func (sc *shuffleCluster) startDaemon() {
	c := sc.cluster
	const ready = "shuffle daemon shuffle-0 listening on"
	c.logMu.Lock()
	seen := strings.Count(c.logs.String(), ready)
	c.logMu.Unlock()
	cmd := exec.Command(c.dagctl, "shuffle", "--master", c.master, "--listen", sc.daemonAddr, "--dir", sc.daemonDir,
		"--name", "shuffle-0", "--failure-timeout", "2s", "--log-level", "info")
	cmd.Env = append(os.Environ(), sc.daemonEnv...)
	w := syncWriter{c.logMu, c.logs}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.procs["shuffle-0"] = cmd
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c.logMu.Lock()
		n := strings.Count(c.logs.String(), ready)
		c.logMu.Unlock()
		if n > seen {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("shuffle daemon did not start in 30s; logs:\n%s", c.logs.String())
}

// kill SIGKILLs a process and waits for it.
func (c *cluster) kill(name string) {
	p := c.procs[name]
	p.Process.Signal(syscall.SIGKILL)
	p.Wait()
	delete(c.procs, name)
}

// submitDetached submits a job and returns its id.
func (c *cluster) submitDetached(args ...string) string {
	c.t.Helper()
	stdout, stderr, code := c.run(append([]string{"submit", "--detach"}, args...)...)
	if code != 0 {
		c.t.Fatalf("submit: exit %d\n%s\n%s", code, stdout, stderr)
	}
	return strings.Fields(stdout)[1]
}

// producersFinished polls until every subtask of task 0 (the producers of
// the slowshuffle job) finished.
func (c *cluster) producersFinished(id string) master.JobStatus {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := c.status(id)
		done, n := 0, 0
		for _, task := range st.Tasks {
			if task.Task == 0 {
				n++
				if task.State == "finished" {
					done++
				}
			}
		}
		if n > 0 && done == n {
			return st
		}
		if ended(st.State) || time.Now().After(deadline) {
			c.t.Fatalf("job %s: producers did not finish: %s %s", id, st.State, st.Reason)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitEnd polls until the job ended and returns its final status.
func (c *cluster) waitEnd(id string) master.JobStatus {
	c.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		st := c.status(id)
		if ended(st.State) {
			return st
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("job %s did not end: %+v", id, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// slowShuffleWant is the slowshuffle job's output: key -> sum of the
// integers below records congruent to key.
func slowShuffleWant(records, keys int64) map[string]string {
	sums := make(map[int64]int64)
	for i := int64(0); i < records; i++ {
		sums[i%keys] += i
	}
	out := make(map[string]string, len(sums))
	for k, v := range sums {
		out[strconv.FormatInt(k, 10)] = strconv.FormatInt(v, 10)
	}
	return out
}

// checkOutput compares the job's output with want. The master commits the
// output while it ends the job, so a status that just turned "finished"
// may precede the last renames: it waits a little for them.
func checkOutput(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := readCounts(t, dir)
		if maps.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("output has %d keys, want %d (or different values)", len(got), len(want))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// producerRegions returns the regions and attempts of the producers.
func producerRegions(st master.JobStatus) (map[int]bool, []int) {
	regions := map[int]bool{}
	var attempts []int
	for _, task := range st.Tasks {
		if task.Task == 0 {
			regions[task.Region] = true
			attempts = append(attempts, task.Attempt)
		}
	}
	return regions, attempts
}

// failoverRegions parses the restarted region set of a failover line
// ("... regions {3,5}").
func failoverRegions(t *testing.T, f string) []int {
	t.Helper()
	i, j := strings.LastIndex(f, "{"), strings.LastIndex(f, "}")
	if i < 0 || j < i {
		t.Fatalf("failover without a region set: %q", f)
	}
	var out []int
	for _, s := range strings.Split(f[i+1:j], ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			t.Fatalf("failover %q: %v", f, err)
		}
		out = append(out, n)
	}
	return out
}

func TestExternalShuffleWordcountLikeEmbedded(t *testing.T) {
	b := buildAll(t)
	c := startShuffleCluster(t, b["dagctl"], 2, 4)
	dir := t.TempDir()
	in := filepath.Join(dir, "words.txt")
	writeWords(t, in, 100000)
	embedded := filepath.Join(dir, "embedded")
	if out, err := exec.Command(b["wordcount"], "--input", in, "--output", embedded, "--parallelism", "3").CombinedOutput(); err != nil {
		t.Fatalf("embedded run: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "cluster")
	stdout, stderr, code := c.run("submit", "--binary", b["wordcount"], "--parallelism", "3", "--shuffle", "external",
		"--", "--input", in, "--output", out, "--mode", "batch")
	if code != 0 || !strings.Contains(stdout, "finished") {
		t.Fatalf("submit: exit %d\n%s\n%s", code, stdout, stderr)
	}
	checkOutput(t, out, readCounts(t, embedded))
	id := strings.Fields(stdout)[1]
	// The three producers' partitions went through the daemon, which
	// deleted them when the job ended.
	want := fmt.Sprintf("job=%s reason=released partitions=3", id)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.logMu.Lock()
		ok := strings.Contains(c.logs.String(), want)
		c.logMu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon never released 3 partitions of %s", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if logs, _, _ := c.run("logs", id); !strings.Contains(logs, "blocking partitions go to the shuffle daemon") {
		t.Errorf("executors did not use the shuffle daemon:\n%s", logs)
	}
	// A worker without a daemon refuses external jobs clearly.
	plain := startCluster(t, b["dagctl"], 1, 4)
	stdout, stderr, code = plain.run("submit", "--max-restarts", "0", "--binary", b["wordcount"], "--shuffle", "external",
		"--", "--input", in, "--output", filepath.Join(dir, "nodaemon"))
	if code == 0 || !strings.Contains(stdout+stderr, "runs without a shuffle daemon") {
		t.Errorf("external shuffle without a daemon: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

func TestExternalShuffleSurvivesWorkerKill(t *testing.T) {
	b := buildAll(t)
	job := slowShuffleJob(t)
	c := startShuffleCluster(t, b["dagctl"], 2, 3)
	out := filepath.Join(t.TempDir(), "out")
	id := c.submitDetached("--binary", job, "--shuffle", "external", "--", "--records", "300000", "--keys", "500",
		"--consumer-delay", "3s", "--output", out)
	st := c.producersFinished(id)
	// Kill a worker that ran a producer, preferably one whose consumer
	// is waiting to read (so that a failover happens).
	victim := ""
	ranProducer := map[string]bool{}
	for _, task := range st.Tasks {
		if task.Task == 0 {
			ranProducer[task.Worker] = true
		}
	}
	for _, task := range st.Tasks {
		if task.Task == 1 && task.State == "running" && ranProducer[task.Worker] {
			victim = task.Worker
		}
	}
	if victim == "" {
		for w := range ranProducer {
			victim = w
		}
	}
	c.kill(victim)
	st = c.waitEnd(id)
	if st.State != "finished" {
		t.Fatalf("job %s after killing %s: %s", st.State, victim, st.Reason)
	}
	checkOutput(t, out, slowShuffleWant(300000, 500))
	regions, attempts := producerRegions(st)
	for _, a := range attempts {
		if a != 0 {
			t.Errorf("a producer reran (attempts %v) although its result was on the shuffle daemon", attempts)
		}
	}
	if len(st.Failovers) == 0 {
		t.Errorf("no failover after killing %s (it ran no consumer?)", victim)
	}
	for _, f := range st.Failovers {
		t.Logf("failover: %s", f)
		for _, r := range failoverRegions(t, f) {
			if regions[r] {
				t.Errorf("failover restarted producer region %d: %s", r, f)
			}
		}
	}
}

func TestExternalShuffleDaemonKillRerunsProducers(t *testing.T) {
	b := buildAll(t)
	job := slowShuffleJob(t)
	// Consumers read through the daemon's gRPC service here, not from its
	// files: the restarted daemon must answer that it lost the partitions.
	t.Setenv("DAGFLOW_SHUFFLE_HOST_LOCAL", "0")
	c := startShuffleCluster(t, b["dagctl"], 2, 3)
	out := filepath.Join(t.TempDir(), "out")
	id := c.submitDetached("--binary", job, "--shuffle", "external", "--", "--records", "300000", "--keys", "500",
		"--consumer-delay", "3s", "--output", out)
	c.producersFinished(id)
	c.kill("shuffle-0")
	c.startDaemon() // same flags: same address and directory, new incarnation
	st := c.waitEnd(id)
	if st.State != "finished" {
		t.Fatalf("job %s after the daemon restart: %s", st.State, st.Reason)
	}
	checkOutput(t, out, slowShuffleWant(300000, 500))
	_, attempts := producerRegions(st)
	for _, a := range attempts {
		if a < 1 {
			t.Errorf("producer attempts %v: every producer's result was lost with the daemon and must rerun", attempts)
			break
		}
	}
	for _, f := range st.Failovers {
		t.Logf("failover: %s", f)
	}
}

func TestExternalShuffleCorruptBlockRerunsProducer(t *testing.T) {
	b := buildAll(t)
	job := slowShuffleJob(t)
	c := startShuffleCluster(t, b["dagctl"], 2, 3, envTestCorrupt+"=1")
	out := filepath.Join(t.TempDir(), "out")
	id := c.submitDetached("--binary", job, "--shuffle", "external", "--", "--records", "300000", "--keys", "500", "--output", out)
	st := c.waitEnd(id)
	if st.State != "finished" {
		t.Fatalf("job %s: %s", st.State, st.Reason)
	}
	checkOutput(t, out, slowShuffleWant(300000, 500))
	_, attempts := producerRegions(st)
	reran := 0
	for _, a := range attempts {
		if a > 0 {
			reran++
		}
	}
	if reran != 1 {
		t.Errorf("producer attempts %v: exactly the producer of the corrupt partition must rerun", attempts)
	}
	lost := false
	for _, f := range st.Failovers {
		t.Logf("failover: %s", f)
		lost = lost || strings.Contains(f, "lost")
	}
	if !lost {
		t.Errorf("no failover for a lost result: %v", st.Failovers)
	}
	if logs, _, _ := c.run("logs", id); !strings.Contains(logs, "checksum mismatch") {
		t.Errorf("consumer logs do not show the checksum failure:\n%s", logs)
	}
}

func TestExternalShuffleCancelDeletesJobFiles(t *testing.T) {
	b := buildAll(t)
	job := slowShuffleJob(t)
	c := startShuffleCluster(t, b["dagctl"], 1, 3)
	out := filepath.Join(t.TempDir(), "out")
	id := c.submitDetached("--binary", job, "--shuffle", "external", "--", "--records", "100000",
		"--consumer-delay", "60s", "--output", out)
	c.producersFinished(id)
	jobDir := filepath.Join(c.daemonDir, "data", id)
	if files := listTree(jobDir); len(files) != 6 {
		t.Fatalf("daemon holds %v for the job, want 3 data and 3 index files", files)
	}
	var o, e bytes.Buffer
	if code := run([]string{"shuffle", "jobs", "--daemon", c.daemonAddr, "--output", "json"}, &o, &e); code != 0 {
		t.Fatalf("shuffle jobs: %s", e.String())
	}
	var jobs []struct {
		Job        string `json:"job"`
		Partitions int    `json:"partitions"`
	}
	if err := json.Unmarshal(o.Bytes(), &jobs); err != nil || len(jobs) != 1 || jobs[0].Job != id || jobs[0].Partitions != 3 {
		t.Fatalf("shuffle jobs: %v %s", err, o.String())
	}
	if stdout, stderr, code := c.run("cancel", id); code != 0 || !strings.Contains(stdout, "canceled") {
		t.Fatalf("cancel: exit %d %q %q", code, stdout, stderr)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := os.Stat(jobDir)
		staged := listTree(filepath.Join(c.daemonDir, "staging"))
		if os.IsNotExist(err) && len(staged) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after cancel: job directory %v, staged files %v", err, staged)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if lines := listTree(out); len(lines) > 0 {
		t.Errorf("cancelled job committed %v", lines)
	}
}

// listTree lists the regular files under dir (nil if it does not exist).
func listTree(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}
