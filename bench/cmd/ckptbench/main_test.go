package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dagflow/dagflow/dag"
)

// smallParams is a small version of the state job: parallelism 4, 64 key
// groups (16 per operator instance), every key group's state above the
// inline threshold.
func smallParams() stateParams {
	return stateParams{workers: 2, slots: 8, checkpoints: 2, timeout: time.Minute,
		job: stateJobConfig{parallelism: 4, maxParallelism: 64, keys: 5000, rate: 20000,
			ckpt: checkpointConfig(200*time.Millisecond, 1)}}
}

// TestFilesBenchCounts runs the small-file merging figure on a small job
// and checks the counts it reports: merging off creates one file per
// state handle plus the metadata (so the operation counts are attributed
// to the right checkpoint), merging on at most one segment per worker plus
// the metadata, at least 20 times fewer.
func TestFilesBenchCounts(t *testing.T) {
	p := smallParams()
	var out bytes.Buffer
	runs, err := filesBench(context.Background(), &out, p, t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	off, on := runs[0], runs[1]
	if off.shape.keyedPerSlot != 3 || off.shape.keyedInstances != 3*p.job.parallelism {
		t.Errorf("plan shape %+v, want 3 keyed operators per slot", off.shape)
	}
	for _, r := range runs {
		if len(r.rows) != p.checkpoints {
			t.Fatalf("%s: %d measured checkpoints, want %d", r.label(), len(r.rows), p.checkpoints)
		}
		for _, row := range r.rows {
			if got, want := row.ops["create"], int64(row.stats.Files)+1; got != want {
				t.Errorf("%s, checkpoint %d: %d files created, want %d (state files reported + metadata)", r.label(), row.stats.ID, got, want)
			}
			if row.ops["rename"] != 1 {
				t.Errorf("%s, checkpoint %d: %d renames, want 1 (the metadata)", r.label(), row.stats.ID, row.ops["rename"])
			}
		}
	}
	for _, row := range on.rows {
		if row.stats.Files > p.workers {
			t.Errorf("merging on, checkpoint %d: %d state files, want at most one segment per worker (%d)", row.stats.ID, row.stats.Files, p.workers)
		}
	}
	filesOff := off.med(func(r ckptRow) float64 { return float64(r.ops["create"]) })
	filesOn := on.med(func(r ckptRow) float64 { return float64(r.ops["create"]) })
	if filesOff < 20*filesOn {
		t.Errorf("files per checkpoint: %v with merging off, %v with merging on; want at least 20× fewer", filesOff, filesOn)
	}
	if !strings.Contains(out.String(), "| files created |") {
		t.Errorf("report misses the files row:\n%s", out.String())
	}
}

// TestHDFSBenchCounts runs the NameNode pressure figure on the small job
// against the in-process NameNode.
func TestHDFSBenchCounts(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	p := smallParams()
	var out bytes.Buffer
	runs, err := hdfsBench(context.Background(), &out, p, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	off, on := runs[0], runs[1]
	for _, row := range off.rows {
		if row.ops["create"] <= int64(row.stats.Files) || row.ops["addBlock"] < int64(row.stats.Files) {
			t.Errorf("merging off, checkpoint %d: %d files but NameNode calls %v", row.stats.ID, row.stats.Files, row.ops)
		}
	}
	totalOff := off.med(func(r ckptRow) float64 { return float64(r.ops.total()) })
	totalOn := on.med(func(r ckptRow) float64 { return float64(r.ops.total()) })
	if totalOn <= 0 || totalOff < 5*totalOn {
		t.Errorf("NameNode calls per checkpoint: %v with merging off, %v with merging on; want merging to cut them at least 5×", totalOff, totalOn)
	}
}

func TestOps(t *testing.T) {
	for _, tc := range []struct {
		name          string
		now, before   ops
		want          ops
		wantTotal     int64
		wantFormatted string
	}{
		{"empty", ops{}, ops{}, ops{}, 0, "total=0"},
		{"new keys", ops{"create": 3, "bytes": 100}, ops{}, ops{"create": 3, "bytes": 100}, 3, "bytes=100 create=3 total=3"},
		{"unchanged dropped", ops{"create": 5, "rename": 1}, ops{"create": 2, "rename": 1}, ops{"create": 3}, 3, "create=3 total=3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.now.sub(tc.before)
			if len(d) != len(tc.want) {
				t.Fatalf("sub = %v, want %v", d, tc.want)
			}
			for k, v := range tc.want {
				if d[k] != v {
					t.Fatalf("sub = %v, want %v", d, tc.want)
				}
			}
			if d.total() != tc.wantTotal {
				t.Errorf("total = %d, want %d", d.total(), tc.wantTotal)
			}
			if d.String() != tc.wantFormatted {
				t.Errorf("String = %q, want %q", d.String(), tc.wantFormatted)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	id := func(x float64) float64 { return x }
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.xs, id); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"--only", "nope"}, {"--parallelism", "0"}, {"--max-parallelism", "8"}, {"--rate", "0"}} {
		if err := run(context.Background(), args, &bytes.Buffer{}); err == nil {
			t.Errorf("run(%v) succeeded, want an error", args)
		}
	}
}

func FuzzEventCoder(f *testing.F) {
	f.Add(eventCoder.Append(nil, event{Key: "user-0000001", V: 42}))
	f.Add(eventCoder.Append(nil, event{Key: "", V: -1}))
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Add([]byte{5, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, n, err := eventCoder.Decode(b)
		if err != nil {
			if !errors.Is(err, dag.ErrCorruptRecord) {
				t.Fatalf("error %v does not match ErrCorruptRecord", err)
			}
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("decoded %d of %d bytes", n, len(b))
		}
		again := eventCoder.Append(nil, e)
		e2, m, err := eventCoder.Decode(again)
		if err != nil || e2 != e || m != len(again) {
			t.Fatalf("round trip of %+v: %+v, %d, %v", e, e2, m, err)
		}
	})
}
