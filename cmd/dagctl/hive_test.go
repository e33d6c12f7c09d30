package main

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/hive"
)

// hiveStreamRow is the row internal/testjobs/hivestream writes for event
// i, computed independently: id, k, v, ts, dt, hr.
func hiveStreamRow(i int64) hive.Row {
	t := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
	return hive.Row{i, int32(i % 7), "e" + strconv.FormatInt(i, 10), t, t.Format("2006-01-02"), t.Format("15")}
}

// readHiveRows reads every row of a table source.
func readHiveRows(t *testing.T, src *hive.TableSource) []hive.Row {
	t.Helper()
	ctx := context.Background()
	splits, err := src.Splits(ctx, dag.SplitContext{Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	b := &dag.Batch[hive.Row]{}
	for _, sp := range splits {
		r, err := src.OpenSplit(ctx, dag.ReaderContext{Parallelism: 1}, sp)
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := r.ReadBatch(ctx, b, 1024); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
		}
		r.Close()
	}
	return b.Vals
}

// dataFiles lists the visible files of a directory.
func dataFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if b := e.Name(); !e.IsDir() && !strings.HasPrefix(b, ".") && !strings.HasPrefix(b, "_") {
			out = append(out, b)
		}
	}
	slices.Sort(out)
	return out
}

// TestClusterHiveStreamExactlyOnceUnderWorkerKills runs
// internal/testjobs/hivestream (generated events, rebalanced as Hive rows,
// written by the streaming Hive sink with partition commit on watermark)
// on a real cluster while workers are SIGKILLed and restarted. Every
// partition that shows up in the catalog is complete at that moment and
// never changes afterwards; the last partition is committed only by
// `stop --drain`; in the end the catalog holds exactly the expected
// partitions, each with _SUCCESS, and the table holds exactly the
// generated rows.
func TestClusterHiveStreamExactlyOnceUnderWorkerKills(t *testing.T) {
	b := buildAll(t)
	c := startCluster(t, b["dagctl"], 3, 4)
	const events = 40000 // one per second of event time: 12 hourly partitions
	dir := t.TempDir()
	wh := filepath.Join(dir, "warehouse")
	stdout, stderr, code := c.run("submit", "--detach", "--binary", b["hivestream"], "--max-restarts", "30", "--",
		"--events", strconv.Itoa(events), "--rate", "5000", "--warehouse", wh,
		"--checkpoint-interval", "200ms", "--checkpoint-dir", "file://"+filepath.Join(dir, "ckpt"))
	if code != 0 {
		t.Fatalf("submit: %s %s", stdout, stderr)
	}
	id := strings.Fields(stdout)[1]
	ctx := context.Background()
	cat, err := hive.Open(ctx, hive.Config{Warehouse: wh})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	tbl, err := cat.Table(ctx, "default", "events")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{} // partition name -> rows
	var last string
	for i := int64(0); i < events; i++ {
		r := hiveStreamRow(i)
		last = "dt=" + r[4].(string) + "/hr=" + r[5].(string)
		want[last]++
	}

	// observe records each partition the first time it is in the catalog:
	// its files are all in place then (files move before the partition is
	// added), so it must hold all its rows.
	seen := map[string][]string{} // partition -> its data files when first seen
	observe := func() {
		names, err := cat.PartitionNames(ctx, "default", "events")
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if seen[n] != nil {
				continue
			}
			vals, err := hive.ParsePartitionName(tbl.PartitionKeys, n)
			if err != nil {
				t.Fatal(err)
			}
			files := dataFiles(t, filepath.Join(tbl.Storage.Location, n))
			rows := readHiveRows(t, hive.Source(cat, "default.events", hive.Where(hive.And(hive.Eq("dt", vals[0]), hive.Eq("hr", vals[1])))))
			if len(rows) != want[n] {
				t.Errorf("partition %s committed with %d rows, want %d", n, len(rows), want[n])
			}
			seen[n] = files
		}
	}

	rng := rand.New(rand.NewPCG(43, 8))
	kills := 0
	deadline := time.Now().Add(2 * time.Minute)
	for kills < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d kills before the deadline; status %+v", kills, c.status(id))
		}
		time.Sleep(time.Duration(500+rng.IntN(1200)) * time.Millisecond)
		observe()
		st := c.status(id)
		if ended(st.State) {
			t.Fatalf("job ended: %s %s", st.State, st.Reason)
		}
		var ws []string
		for _, task := range st.Tasks {
			if task.State != "running" {
				ws = nil
				break
			}
			ws = append(ws, task.Worker)
		}
		if len(ws) == 0 {
			continue // still recovering
		}
		victim := ws[rng.IntN(len(ws))]
		t.Logf("kill %d: SIGKILL %s", kills+1, victim)
		c.procs[victim].Process.Signal(syscall.SIGKILL)
		c.procs[victim].Wait()
		kills++
		time.Sleep(time.Duration(200+rng.IntN(400)) * time.Millisecond)
		c.start(victim, "worker", "--master", c.master, "--name", victim, "--slots", "4",
			"--dir", filepath.Join(c.baseDir, victim), "--failure-timeout", "2s", "--log-level", "warn")
	}
	// Wait until every partition but the last is committed by the
	// watermark, and a completed checkpoint has read every event.
	for {
		observe()
		missing := 0
		for n := range want {
			if n != last && seen[n] == nil {
				missing++
			}
		}
		if missing == 0 && allRead(t, filepath.Join(dir, "ckpt", id)) {
			break
		}
		st := c.status(id)
		if ended(st.State) {
			t.Fatalf("job ended: %s %s", st.State, st.Reason)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d partitions not committed or events not all read; status %+v", missing, st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The watermark never passes the end of the last partition: only the
	// drain commits it.
	if seen[last] != nil {
		t.Errorf("partition %s committed before the drain", last)
	}
	stdout, stderr, code = c.run("stop", id, "--drain", "--dir", "file://"+filepath.Join(dir, "savepoints"))
	if code != 0 {
		t.Fatalf("stop --drain: %s %s", stdout, stderr)
	}
	st := c.status(id)
	if st.State != "finished" {
		t.Fatalf("job %s after stop --drain: %s", st.State, st.Reason)
	}
	observe()

	// Exactly the expected partitions, each with _SUCCESS, each unchanged
	// since it was committed.
	names, err := cat.PartitionNames(ctx, "default", "events")
	if err != nil {
		t.Fatal(err)
	}
	var wantNames []string
	for n := range want {
		wantNames = append(wantNames, n)
	}
	slices.Sort(wantNames)
	if !slices.Equal(names, wantNames) {
		t.Errorf("catalog partitions %q, want %q", names, wantNames)
	}
	for _, n := range names {
		pdir := filepath.Join(tbl.Storage.Location, n)
		if _, err := os.Stat(filepath.Join(pdir, "_SUCCESS")); err != nil {
			t.Errorf("partition %s: no _SUCCESS: %v", n, err)
		}
		if files := dataFiles(t, pdir); !slices.Equal(files, seen[n]) {
			t.Errorf("partition %s changed after its commit: %d files then, %d now", n, len(seen[n]), len(files))
		}
	}
	// Exactly the generated rows: nothing twice, nothing missing.
	rows := readHiveRows(t, hive.Source(cat, "default.events"))
	got := make(map[int64]hive.Row, len(rows))
	bad := 0
	for _, r := range rows {
		i := r[0].(int64)
		if _, dup := got[i]; dup {
			if bad++; bad < 10 {
				t.Errorf("row %d read twice", i)
			}
		}
		got[i] = r
		if w := hiveStreamRow(i); i < 0 || i >= events || !reflect.DeepEqual(r, w) {
			if bad++; bad < 10 {
				t.Errorf("row %v, want %v", r, w)
			}
		}
	}
	if len(got) != events {
		t.Errorf("%d distinct rows, want %d (%d read)", len(got), events, len(rows))
	}
	completed := 0
	for _, ck := range st.Checkpoints {
		if ck.Status == "completed" {
			completed++
		}
	}
	t.Logf("%d kills, %d restarts, %d rows in %d partitions (%d committed before the drain), %d recent checkpoints completed",
		kills, st.Restarts, len(rows), len(names), len(seen)-1, completed)
	if st.Restarts < kills {
		t.Errorf("%d restarts for %d kills", st.Restarts, kills)
	}
}
