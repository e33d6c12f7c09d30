package faultsuite_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dagflow/dagflow/internal/embedded"
	"github.com/dagflow/dagflow/internal/faultsuite"
	"github.com/dagflow/dagflow/io/fileio"
	"github.com/dagflow/dagflow/io/filesystem"
	"github.com/dagflow/dagflow/master"
	"github.com/dagflow/dagflow/scheduler"
)

// syncBuffer collects logs of several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestFaultSuiteEmbedded runs every case of the suite on the embedded
// runtime (internal/embedded) with the fault its seeded plan chose,
// injected in process: a failed task attempt, or a lost worker.
func TestFaultSuiteEmbedded(t *testing.T) {
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
			runEmbedded(t, p)
		})
	}
}

func runEmbedded(t *testing.T, p faultsuite.Plan) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	faultDir := filepath.Join(dir, "fault")
	if err := os.Mkdir(faultDir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	g, err := faultsuite.Build(p.Params(out, faultDir, "file://"+filepath.Join(dir, "ckpt")))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := g.Build()
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	c, err := embedded.New(embedded.Config{Workers: 3, Dir: filepath.Join(dir, "cluster"), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer func() {
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	}()
	started := make(chan *master.JobMaster, 1)
	done := make(chan struct{})
	var res *master.JobResult
	var runErr error
	restart := scheduler.FixedDelay(5, 20*time.Millisecond)
	go func() {
		defer close(done)
		res, runErr = c.Run(ctx, plan, master.JobConfig{Restart: &restart, Logger: logger,
			Started: func(jm *master.JobMaster) { started <- jm }})
	}()
	var jm *master.JobMaster
	select {
	case jm = <-started:
	case <-done:
		t.Fatalf("job ended before it started: %v", runErr)
	}
	r, err := faultsuite.WaitReached(ctx, faultDir, done)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fault point: %+v", r)
	switch p.Fault {
	case faultsuite.FailTask:
		err = faultsuite.Fail(faultDir)
	case faultsuite.KillExecutor, faultsuite.KillWorker:
		// An executor runs one worker's share of a job: in process, its
		// loss is the worker's.
		var w string
		if w, err = workerOf(jm.Status(), p.Case.Probe, r); err == nil {
			t.Logf("losing worker %s", w)
			err = c.KillWorker(w)
		}
	case faultsuite.KillShuffleDaemon:
		// The embedded runtime keeps blocking results in its workers:
		// losing them is losing a worker that holds some.
		var w string
		st := jm.Status()
		consumer, _ := workerOf(st, p.Case.Probe, r)
		if w, err = producerWorker(st, p.Case.Producer, consumer); err == nil {
			t.Logf("losing worker %s, which holds results of %s", w, p.Case.Producer)
			err = c.KillWorker(w)
		}
	default:
		err = fmt.Errorf("no embedded equivalent of %s", p.Fault)
	}
	if err != nil {
		t.Fatal(err)
	}
	<-done
	if runErr != nil {
		t.Fatalf("job failed after %s: %v", p.Fault, runErr)
	}
	if res.Restarts < 1 || len(res.Failovers) == 0 {
		t.Errorf("no failover recorded after %s: %d restarts, failovers %v", p.Fault, res.Restarts, res.Failovers)
	}
	t.Logf("%d restarts; failovers %v", res.Restarts, res.Failovers)
	lines, err := fileio.ReadAllLines(ctx, filesystem.Default(), out)
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

// workerOf returns the worker running the subtask that reached the fault
// point.
func workerOf(st master.JobStatus, probe string, r faultsuite.Reached) (string, error) {
	name := fmt.Sprintf("%s[%d]", probe, r.Subtask)
	for _, task := range st.Tasks {
		if task.Name == name && task.State == "running" && task.Worker != "" {
			return task.Worker, nil
		}
	}
	return "", fmt.Errorf("no running task %s in %+v", name, st.Tasks)
}

// producerWorker returns a worker holding a finished subtask's result of
// the task headed by producer, other than avoid (the probed consumer's)
// when there is one: the consumer then loses input it is reading, not
// itself.
func producerWorker(st master.JobStatus, producer, avoid string) (string, error) {
	found := ""
	for _, task := range st.Tasks {
		if strings.HasPrefix(task.Name, producer+"[") && task.State == "finished" && task.Worker != "" {
			if task.Worker != avoid {
				return task.Worker, nil
			}
			found = task.Worker
		}
	}
	if found == "" {
		return "", fmt.Errorf("no finished subtask of %s in %+v", producer, st.Tasks)
	}
	return found, nil
}
