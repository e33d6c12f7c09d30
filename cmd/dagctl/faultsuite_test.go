package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dagflow/dagflow/internal/faultsuite"
	"github.com/dagflow/dagflow/io/fileio"
	"github.com/dagflow/dagflow/io/filesystem"
	"github.com/dagflow/dagflow/master"
)

// The test in this file runs the fault-injection suite of
// internal/faultsuite on real master, worker, executor and shuffle daemon
// processes: the same jobs and seeded plans as the embedded runtime's
// TestFaultSuiteEmbedded, with faults injected by SIGKILL.

var (
	faultJobOnce sync.Once
	faultJobBin  string
	faultJobErr  error
)

// faultJob builds internal/testjobs/faultjob once per test run.
func faultJob(t *testing.T) string {
	t.Helper()
	buildAll(t) // skips in -short mode
	faultJobOnce.Do(func() {
		faultJobBin = filepath.Join(buildDir, "faultjob")
		out, err := exec.Command("go", "build", "-o", faultJobBin, "../../internal/testjobs/faultjob").CombinedOutput()
		if err != nil {
			faultJobErr = fmt.Errorf("build faultjob: %v\n%s", err, out)
		}
	})
	if faultJobErr != nil {
		t.Fatal(faultJobErr)
	}
	return faultJobBin
}

// TestFaultSuiteProcesses runs every case of the suite on a real cluster
// with the fault its seeded plan chose: the probed task's attempt fails,
// or the executor process running it, its worker daemon (with the
// executor) or the shuffle daemon serving its input is SIGKILLed while
// the task is paused mid-input.
func TestFaultSuiteProcesses(t *testing.T) {
	dagctl := buildAll(t)["dagctl"]
	job := faultJob(t)
	seed, err := faultsuite.Seed()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fault seed %d (rerun with %s=%d)", seed, faultsuite.SeedEnv, seed)
	plans, err := faultsuite.NewPlans(seed, faultsuite.Cases())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plans {
		t.Run(p.Case.Name, func(t *testing.T) {
			t.Logf("seed %d: %s", seed, p)
			runFaultCase(t, dagctl, job, p)
		})
	}
}

func runFaultCase(t *testing.T, dagctl, job string, p faultsuite.Plan) {
	var c *cluster
	var sc *shuffleCluster
	if p.Case.ExternalShuffle {
		sc = startShuffleCluster(t, dagctl, 3, 2)
		c = sc.cluster
	} else {
		c = startCluster(t, dagctl, 3, 2)
	}
	dir := t.TempDir()
	faultDir := filepath.Join(dir, "fault")
	if err := os.Mkdir(faultDir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	args := []string{"--binary", job, "--max-restarts", "5"}
	if p.Case.ExternalShuffle {
		args = append(args, "--shuffle", "external")
	}
	args = append(append(args, "--"), p.Params(out, faultDir, "file://"+filepath.Join(dir, "ckpt")).Args()...)
	id := c.submitDetached(args...)
	deadline := time.Now().Add(3 * time.Minute)
	r := waitFaultPoint(t, c, id, faultDir, deadline)
	t.Logf("fault point: %+v", r)
	switch p.Fault {
	case faultsuite.FailTask:
		if err := faultsuite.Fail(faultDir); err != nil {
			t.Fatal(err)
		}
	case faultsuite.KillExecutor:
		w := executorWorker(t, c, id, r)
		t.Logf("SIGKILL executor %d of %s", r.PID, w)
		if err := syscall.Kill(r.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	case faultsuite.KillWorker:
		w := executorWorker(t, c, id, r)
		// As when the machine dies: the executor first, so that it cannot
		// see its worker's pipe close and shut down cleanly.
		t.Logf("SIGKILL executor %d and its worker daemon %s", r.PID, w)
		if err := syscall.Kill(r.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		c.kill(w)
	case faultsuite.KillShuffleDaemon:
		if sc == nil {
			t.Fatalf("%s needs a shuffle daemon", p.Fault)
		}
		t.Logf("SIGKILL shuffle daemon %d, then start a new one", c.procs["shuffle-0"].Process.Pid)
		c.kill("shuffle-0")
		sc.startDaemon()
	default:
		t.Fatalf("no process-level fault %s", p.Fault)
	}
	var st master.JobStatus
	for st = c.status(id); !ended(st.State); st = c.status(id) {
		if time.Now().After(deadline) {
			t.Fatalf("job did not end after %s: %+v", p.Fault, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.State != "finished" {
		t.Fatalf("job %s after %s: %s", st.State, p.Fault, st.Reason)
	}
	if st.Restarts < 1 || len(st.Failovers) == 0 {
		t.Errorf("no failover recorded after %s: %d restarts, failovers %v", p.Fault, st.Restarts, st.Failovers)
	}
	t.Logf("%d restarts; failovers %v", st.Restarts, st.Failovers)
	lines, err := fileio.ReadAllLines(context.Background(), filesystem.Default(), out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := faultsuite.Expected(p.Case.Name, p.Case.Records)
	if err != nil {
		t.Fatal(err)
	}
	if err := faultsuite.CompareLines(lines, want); err != nil {
		t.Error(err)
	}
	counts, err := faultsuite.Counts(faultDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := faultsuite.CheckMidInput(p.Case, r, counts); err != nil {
		t.Error(err)
	}
}

// waitFaultPoint waits until a task of job id paused at the fault point,
// failing when the job ends first or the deadline passes.
func waitFaultPoint(t *testing.T, c *cluster, id, faultDir string, deadline time.Time) faultsuite.Reached {
	t.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		r, err := faultsuite.WaitReached(ctx, faultDir, nil)
		cancel()
		if err == nil {
			return r
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		if st := c.status(id); ended(st.State) || time.Now().After(deadline) {
			t.Fatalf("no task reached the fault point; job %s %s", st.State, st.Reason)
		}
	}
}

// executorWorker returns the worker whose executor of job id is the
// process that reached the fault point, as the worker's executor.pid
// says: the fault must strike an executor a worker daemon started.
func executorWorker(t *testing.T, c *cluster, id string, r faultsuite.Reached) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(c.baseDir, "worker-*", "jobs", "*", "executor.pid"))
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		rel, _ := filepath.Rel(c.baseDir, f)
		parts := strings.Split(rel, string(filepath.Separator))
		seen = append(seen, fmt.Sprintf("%s=%d", rel, pid))
		if pid == r.PID && parts[2] == id {
			if parts[0] != r.Worker {
				t.Fatalf("pid %d is the executor of %s, but the task says it runs on %q", pid, parts[0], r.Worker)
			}
			return parts[0]
		}
	}
	t.Fatalf("the fault point ran in pid %d, which no worker started as an executor of job %s (%v)", r.PID, id, seen)
	return ""
}
