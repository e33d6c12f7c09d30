package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/examples/windowed/job"
	"github.com/dagflow/dagflow/io/fileio"
	"github.com/dagflow/dagflow/io/filesystem"
)

type winKey struct {
	key   string
	start int64
}

// reference computes window sums by brute force, applying the late-data
// rule with the watermark the engine uses: after every batch of 1024
// records, max timestamp - out-of-orderness - 1ms.
func reference(events []job.Event, window, ooo, lateness time.Duration) (map[winKey]int64, int) {
	size, o, l := window.Milliseconds(), ooo.Milliseconds(), lateness.Milliseconds()
	sums := map[winKey]int64{}
	wm, maxTS := dag.MinTime, dag.MinTime
	late := 0
	for i, e := range events {
		if i > 0 && i%dag.DefaultBatchSize == 0 && maxTS-o-1 > wm {
			wm = maxTS - o - 1
		}
		start := e.TS - ((e.TS%size)+size)%size
		if start+size-1+l <= wm {
			late++
		} else {
			sums[winKey{e.Key, start}] += e.Value
		}
		maxTS = max(maxTS, e.TS)
	}
	return sums, late
}

func readSums(t *testing.T, dir string) map[winKey]int64 {
	t.Helper()
	lines, err := fileio.ReadAllLines(context.Background(), filesystem.Default(), dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[winKey]int64{}
	for _, l := range lines {
		f := strings.Split(l, "\t")
		if len(f) != 3 {
			t.Fatalf("bad line %q", l)
		}
		start, err1 := strconv.ParseInt(f[1], 10, 64)
		sum, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("bad line %q", l)
		}
		k := winKey{f[0], start}
		// With allowed lateness a window fires again with a larger sum
		// (values are non-negative); the last firing is the final one.
		got[k] = max(got[k], sum)
	}
	return got
}

func writeCSV(t *testing.T, path string, events []job.Event) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	var b []byte
	for _, e := range events {
		b = job.FormatEvent(b, e)
		b = append(b, '\n')
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func runJob(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, stderr.String())
	}
	return stdout.String()
}

func TestGeneratedEventsMatchGroupBy(t *testing.T) {
	// Generated events: 10ms apart, disorder < out-of-orderness: none late.
	const n = 30000
	src := job.GenConfig{Events: n, Keys: 7, Start: 1_700_000_000_000, Step: 10 * time.Millisecond, Disorder: 2 * time.Second, Seed: 1}
	events := generate(t, src)
	want, late := reference(events, 10*time.Second, 2*time.Second, 0)
	if late != 0 {
		t.Fatalf("reference finds %d late events in generated data", late)
	}
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--mode", "batch", "--parallelism", "1"},
		{"--mode", "batch", "--parallelism", "2"},
		{"--mode", "streaming", "--parallelism", "3"},
	} {
		out := filepath.Join(dir, strings.Join(args, ""))
		stdout := runJob(t, append(args, "--events", fmt.Sprint(n), "--keys", "7", "--output", out)...)
		if !strings.Contains(stdout, "0 late events") {
			t.Errorf("%v: %s", args, stdout)
		}
		if got := readSums(t, out); !maps.Equal(got, want) {
			t.Fatalf("%v: %d window sums, want %d", args, len(got), len(want))
		}
	}
}

// generate reproduces the example's generated events by running the same
// generator through the engine into memory.
func generate(t *testing.T, cfg job.GenConfig) []job.Event {
	t.Helper()
	src := job.Generated(cfg)
	splits, err := src.Splits(context.Background(), dag.SplitContext{Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	var all []job.Event
	for _, sp := range splits {
		r, err := src.OpenSplit(context.Background(), dag.ReaderContext{Parallelism: 1}, sp)
		if err != nil {
			t.Fatal(err)
		}
		var b dag.Batch[job.Event]
		for {
			_, err := r.ReadBatch(context.Background(), &b, 1024)
			if err != nil {
				break
			}
		}
		all = append(all, b.Vals...)
		r.Close()
	}
	if int64(len(all)) != cfg.Events {
		t.Fatalf("generated %d events, want %d", len(all), cfg.Events)
	}
	return all
}

func TestLateEventsGoToSideOutput(t *testing.T) {
	// In-order events with bounded disorder, and every 97th event (after
	// the first few batches) shifted back by more than 10 windows: those
	// are late under any batching, the others are never late.
	r := rand.New(rand.NewPCG(3, 4))
	var events []job.Event
	const start = 1_700_000_000_000
	injected := 0
	for i := 0; i < 20000; i++ {
		ts := int64(start + i*20 - r.IntN(1500))
		if i > 5000 && i%97 == 0 {
			ts -= 120_000
			injected++
		}
		events = append(events, job.Event{Key: fmt.Sprintf("k%d", r.IntN(5)), TS: ts, Value: int64(r.IntN(100))})
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "events.csv")
	writeCSV(t, in, events)
	for _, lateness := range []time.Duration{0, 5 * time.Second} {
		want, late := reference(events, 10*time.Second, 2*time.Second, lateness)
		if late != injected {
			t.Fatalf("lateness %s: reference counts %d late, injected %d", lateness, late, injected)
		}
		for _, mode := range []string{"batch", "streaming"} {
			out := filepath.Join(dir, fmt.Sprintf("out-%s-%s", mode, lateness))
			lateDir := out + "-late"
			// One source subtask: which events are late then depends only on
			// the input order. (With parallel splits it also depends on how
			// far each split has got, as in any engine; see the next test.)
			stdout := runJob(t, "--input", in, "--output", out, "--late-output", lateDir, "--mode", mode,
				"--lateness", lateness.String(), "--parallelism", "1")
			if !strings.Contains(stdout, fmt.Sprintf("%d late events", injected)) {
				t.Errorf("%s/%s: report %q, want %d late events", mode, lateness, stdout, injected)
			}
			if got := readSums(t, out); !maps.Equal(got, want) {
				t.Fatalf("%s/%s: %d window sums differ from the reference's %d", mode, lateness, len(got), len(want))
			}
			lateLines, err := fileio.ReadAllLines(context.Background(), filesystem.Default(), lateDir)
			if err != nil || len(lateLines) != injected {
				t.Fatalf("%s/%s: %d late lines (%v), want %d", mode, lateness, len(lateLines), err, injected)
			}
		}
	}
}

// TestParallelSplitsAccountForEveryEvent checks, with several source
// splits, that every event ends up either in exactly one window sum or in
// the late output.
func TestParallelSplitsAccountForEveryEvent(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var events []job.Event
	var total int64
	for i := 0; i < 30000; i++ {
		ts := int64(1_700_000_000_000 + i*20 - r.IntN(1500))
		if i%50 == 0 {
			ts -= 300_000
		}
		e := job.Event{Key: fmt.Sprintf("k%d", r.IntN(5)), TS: ts, Value: int64(r.IntN(100))}
		total += e.Value
		events = append(events, e)
	}
	dir := t.TempDir()
	// Three files: three splits read in parallel.
	for i := 0; i < 3; i++ {
		writeCSV(t, filepath.Join(dir, "in", fmt.Sprintf("part-%d.csv", i)), events[i*10000:(i+1)*10000])
	}
	out, lateDir := filepath.Join(dir, "out"), filepath.Join(dir, "late")
	runJob(t, "--input", filepath.Join(dir, "in"), "--output", out, "--late-output", lateDir, "--parallelism", "3", "--mode", "streaming")
	var got int64
	for _, v := range readSums(t, out) {
		got += v
	}
	lateLines, err := fileio.ReadAllLines(context.Background(), filesystem.Default(), lateDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lateLines {
		f := strings.Split(l, ",")
		v, _ := strconv.ParseInt(f[2], 10, 64)
		got += v
	}
	if got != total {
		t.Fatalf("window sums + late values = %d, input total %d", got, total)
	}
}

func TestWindowedBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("a,1700000000000,5\nb,notatime,3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--input", bad, "--output", dir + "/o"}, 1, `event_time_unix_ms "notatime" is not an integer`},
		{[]string{"--input", bad, "--output", dir + "/o2"}, 1, "bad.csv"},
		{[]string{"--input", dir + "/missing.csv"}, 1, "does not exist"},
		{[]string{"--window", "0s"}, 2, "--window 0s: must be at least 1ms"},
		{[]string{"--lateness", "-1s"}, 2, "must not be negative"},
		{[]string{"--events", "0"}, 2, "--events 0"},
		{[]string{"--mode", "x"}, 2, `--mode "x"`},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(tt.args, &stdout, &stderr)
		if code != tt.code || !strings.Contains(stderr.String(), tt.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d containing %q", tt.args, code, stderr.String(), tt.code, tt.msg)
		}
	}
}
