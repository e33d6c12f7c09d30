package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/examples/backfill-then-stream/job"
	"github.com/dagflow/dagflow/master"
)

// The backfill job's data: history events [0, backfillHistory) in files,
// the topic holds events [backfillHistory-backfillOverlap,
// backfillHistory+backfillLive) (the history's tail again, which the
// switch must skip) and then one end marker per partition in a window of
// its own: the last real window fires only once every partition was read
// to its end marker, so "every real window committed" means "everything
// read" and the job can be stopped with a drain.
const (
	backfillHistory    = 12000
	backfillOverlap    = 2000
	backfillLive       = 12000
	backfillPartitions = 3
	backfillEndKey     = "zz-end"
)

var backfillGen = job.Gen{Start: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), Step: time.Second, Keys: 8}

// backfillExpected returns the window lines of history ∪ stream and the
// end markers' line (fired by the drain).
func backfillExpected(window time.Duration) (lines map[string]bool, endLine string) {
	type kw struct {
		k string
		w int64
	}
	tot := map[kw]job.Total{}
	ws := window.Milliseconds()
	for _, e := range backfillGen.Range(0, backfillHistory+backfillLive) {
		x := kw{e.Key, e.TS / ws * ws}
		t := tot[x]
		tot[x] = job.Total{Sum: t.Sum + e.Amount, Count: t.Count + 1}
	}
	lines = map[string]bool{}
	for x, t := range tot {
		lines[string(job.Format(nil, dag.WindowResult[string, job.Total]{Key: x.k, Start: x.w, Value: t}))] = true
	}
	endTS := backfillEndTime(window)
	endLine = string(job.Format(nil, dag.WindowResult[string, job.Total]{Key: backfillEndKey, Start: endTS / ws * ws, Value: job.Total{Count: backfillPartitions}}))
	return lines, endLine
}

func backfillEndTime(window time.Duration) int64 {
	return backfillGen.Event(backfillHistory+backfillLive).TS + 3*window.Milliseconds()
}

// startBackfillData writes the history files and starts an in-process
// Kafka holding the stream; it returns the history paths and the brokers.
func startBackfillData(t *testing.T, window time.Duration) ([]string, []string) {
	t.Helper()
	files, err := job.WriteFiles(filepath.Join(t.TempDir(), "history"), backfillGen.Range(0, backfillHistory), 1000)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(backfillPartitions, "events"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	brokers := kc.ListenAddrs()
	ctx := context.Background()
	if err := job.Produce(ctx, brokers, "events", backfillGen.Range(backfillHistory-backfillOverlap, backfillHistory+backfillLive)); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	end := backfillEndTime(window)
	for p := int32(0); p < backfillPartitions; p++ {
		v, _ := json.Marshal(job.Event{Key: backfillEndKey, TS: end})
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "events", Partition: p, Value: v, Timestamp: time.UnixMilli(end)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	return files, brokers
}

// TestClusterBackfillThenStreamUnderWorkerKills runs the backfill job
// (history files, then Kafka from where they end, windows, transactional
// file sink) on a real cluster and SIGKILLs the worker running a source
// subtask once: during the backfill phase, right at the switch, or during
// the stream phase. The committed output equals the windows of
// history ∪ stream exactly.
func TestClusterBackfillThenStreamUnderWorkerKills(t *testing.T) {
	b := buildAll(t)
	const window = time.Minute
	want, endLine := backfillExpected(window)
	for _, tc := range []struct {
		name string
		// backfillInterval: the checkpoint interval while backfilling.
		backfillInterval time.Duration
		// kill reports whether to kill now, given the status and the
		// status when the switch was first seen (nil before).
		kill func(st, atSwitch *master.JobStatus) bool
	}{
		{"during backfill", 0, func(st, atSwitch *master.JobStatus) bool {
			return atSwitch == nil && completed(st) >= 2 && sourceOut(st) >= backfillHistory/4
		}},
		{"at the switch", time.Hour, func(st, atSwitch *master.JobStatus) bool { return atSwitch != nil }},
		{"during stream", 0, func(st, atSwitch *master.JobStatus) bool {
			return atSwitch != nil && completed(st) >= completed(atSwitch)+2
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, brokers := startBackfillData(t, window)
			c := startCluster(t, b["dagctl"], 3, 4)
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			stdout, stderr, code := c.run("submit", "--detach", "--binary", b["backfill"], "--max-restarts", "10", "--",
				"--history", strings.Join(files, ","), "--brokers", strings.Join(brokers, ","), "--output", out,
				"--window", window.String(), "--throttle", "25ms", "--checkpoint-interval", "200ms",
				"--backfill-checkpoint-interval", tc.backfillInterval.String(),
				"--checkpoint-dir", "file://"+filepath.Join(dir, "ckpt"))
			if code != 0 {
				t.Fatalf("submit: %s %s", stdout, stderr)
			}
			id := strings.Fields(stdout)[1]
			deadline := time.Now().Add(2 * time.Minute)
			var atSwitch *master.JobStatus
			killed := false
			for !killed {
				if time.Now().After(deadline) {
					t.Fatalf("no kill before the deadline; status %+v", c.status(id))
				}
				st := c.status(id)
				if ended(st.State) {
					t.Fatalf("job ended before the kill: %s %s", st.State, st.Reason)
				}
				if len(st.Phases) == 1 && st.Phases[0].Round >= 1 && atSwitch == nil {
					atSwitch = &st
				}
				if !tc.kill(&st, atSwitch) {
					time.Sleep(30 * time.Millisecond)
					continue
				}
				victim := sourceWorker(st)
				if victim == "" {
					time.Sleep(30 * time.Millisecond)
					continue
				}
				t.Logf("SIGKILL %s: phases %+v, %d records read, %d checkpoints completed", victim, st.Phases, sourceOut(&st), completed(&st))
				c.procs[victim].Process.Signal(syscall.SIGKILL)
				c.procs[victim].Wait()
				killed = true
				c.start(victim, "worker", "--master", c.master, "--name", victim, "--slots", "4",
					"--dir", filepath.Join(c.baseDir, victim), "--failure-timeout", "2s", "--log-level", "warn")
			}
			// Every real window committed means every partition was read
			// to its end marker: stop with a drain.
			for {
				got := committedLines(t, out)
				missing := 0
				for l := range want {
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
			stdout, stderr, code = c.run("stop", id, "--drain", "--dir", "file://"+filepath.Join(dir, "savepoints"))
			if code != 0 {
				t.Fatalf("stop --drain: %s %s", stdout, stderr)
			}
			st := c.status(id)
			if st.State != "finished" {
				t.Fatalf("job %s after stop --drain: %s", st.State, st.Reason)
			}
			got := committedLines(t, out) // fails on a line committed twice
			bad := 0
			for l := range want {
				if !got[l] && bad < 10 {
					bad++
					t.Errorf("missing window %q", l)
				}
			}
			for l := range got {
				if !want[l] && l != endLine && bad < 20 {
					bad++
					t.Errorf("unexpected output %q", l)
				}
			}
			if !got[endLine] {
				t.Errorf("end marker window %q missing (the drain should fire it)", endLine)
			}
			if st.Restarts < 1 {
				t.Errorf("%d restarts after a kill", st.Restarts)
			}
			t.Logf("%d restarts, %d windows, phases %+v", st.Restarts, len(got), st.Phases)
		})
	}
}

func completed(st *master.JobStatus) int {
	n := 0
	for _, ck := range st.Checkpoints {
		if ck.Status == "completed" {
			n++
		}
	}
	return n
}

// sourceOut is how many records the source emitted (current attempts).
func sourceOut(st *master.JobStatus) int64 {
	for _, v := range st.Vertices {
		if v.Name == "events" {
			return v.RecordsOut
		}
	}
	return 0
}

// sourceWorker is the worker running source subtask 0, when every task
// runs.
func sourceWorker(st master.JobStatus) string {
	w := ""
	for _, task := range st.Tasks {
		if task.State != "running" {
			return ""
		}
		if strings.HasPrefix(task.Name, "events") && task.Subtask == 0 {
			w = task.Worker
		}
	}
	return w
}
