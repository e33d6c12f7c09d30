package hive_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/hive"
	"github.com/dagflow/dagflow/internal/hivetest"
)

func TestOverwriteAndStaticPartitions(t *testing.T) {
	forEachCatalog(t, func(t *testing.T, cat hive.Catalog, _ *hivetest.Metastore, wh string) {
		createTable(t, cat, "default.ow", hive.FormatParquet, []string{"v int"}, []string{"dt string", "hr int"})
		// static dt, dynamic hr
		writeRows(t, hive.Sink(cat, "default.ow", hive.StaticPartition("dt", "a")),
			[]hive.Row{{int32(1), int32(0)}, {int32(2), int32(1)}})
		writeRows(t, hive.Sink(cat, "default.ow", hive.StaticPartition("dt", "b"), hive.StaticPartition("hr", "0")),
			[]hive.Row{{int32(3)}})
		// append to dt=a/hr=0
		writeRows(t, hive.Sink(cat, "default.ow"), []hive.Row{{int32(4), "a", int32(0)}})
		all := func() []hive.Row { return readAll(t, hive.Source(cat, "default.ow"), 1) }
		equalRows(t, all(), []hive.Row{{int32(1), "a", int32(0)}, {int32(2), "a", int32(1)}, {int32(3), "b", int32(0)}, {int32(4), "a", int32(0)}})
		// dynamic overwrite replaces only dt=a/hr=0
		writeRows(t, hive.Sink(cat, "default.ow", hive.Overwrite()), []hive.Row{{int32(5), "a", int32(0)}})
		equalRows(t, all(), []hive.Row{{int32(5), "a", int32(0)}, {int32(2), "a", int32(1)}, {int32(3), "b", int32(0)}})
		// static overwrite with no rows empties the partition
		writeRows(t, hive.Sink(cat, "default.ow", hive.Overwrite(), hive.StaticPartition("dt", "b"), hive.StaticPartition("hr", "0")), nil)
		equalRows(t, all(), []hive.Row{{int32(5), "a", int32(0)}, {int32(2), "a", int32(1)}})
		// unpartitioned overwrite
		createTable(t, cat, "default.flat", hive.FormatText, []string{"v int"}, nil)
		writeRows(t, hive.Sink(cat, "default.flat"), []hive.Row{{int32(1)}}, []hive.Row{{int32(2)}})
		writeRows(t, hive.Sink(cat, "default.flat", hive.Overwrite()), []hive.Row{{int32(3)}})
		equalRows(t, readAll(t, hive.Source(cat, "default.flat"), 1), []hive.Row{{int32(3)}})
	})
}

// TestFailedJobChangesNothing: writers that prepared but whose job
// aborted leave no visible file and no partition.
func TestFailedJobChangesNothing(t *testing.T) {
	forEachCatalog(t, func(t *testing.T, cat hive.Catalog, _ *hivetest.Metastore, wh string) {
		ctx := context.Background()
		tbl := createTable(t, cat, "default.f", hive.FormatParquet, []string{"v int"}, []string{"p string"})
		sink := hive.Sink(cat, "default.f")
		w, err := sink.NewWriter(ctx, dag.SinkContext{})
		if err != nil {
			t.Fatal(err)
		}
		b := &dag.Batch[hive.Row]{}
		b.Append(hive.Row{int32(1), "x"}, 0)
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
		c, err := w.Prepare(ctx)
		if err != nil {
			t.Fatal(err)
		}
		w2, _ := sink.NewWriter(ctx, dag.SinkContext{Subtask: 1})
		w2.Write(ctx, b)
		if err := w2.Abort(ctx); err != nil {
			t.Fatal(err)
		}
		if err := sink.Committer().Abort(ctx, c); err != nil {
			t.Fatal(err)
		}
		if names, _ := cat.PartitionNames(ctx, "default", "f"); len(names) != 0 {
			t.Errorf("partitions after abort: %q", names)
		}
		var visible []string
		filepath.WalkDir(tbl.Storage.Location, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				visible = append(visible, p)
			}
			return nil
		})
		if len(visible) != 0 {
			t.Errorf("files left after abort: %q", visible)
		}
	})
}

func TestSinkErrors(t *testing.T) {
	forEachCatalog(t, func(t *testing.T, cat hive.Catalog, _ *hivetest.Metastore, wh string) {
		ctx := context.Background()
		createTable(t, cat, "default.se", hive.FormatParquet, []string{"a int", "b string"}, []string{"p string"})
		if _, err := hive.Sink(cat, "default.missing").NewWriter(ctx, dag.SinkContext{}); !errors.Is(err, hive.ErrNotFound) || !strings.Contains(err.Error(), "default.missing") {
			t.Errorf("missing table: %v", err)
		}
		if _, err := hive.Sink(cat, "default.se", hive.WithSchema("a int", "b string")).NewWriter(ctx, dag.SinkContext{}); err == nil || !strings.Contains(err.Error(), `"p"`) {
			t.Errorf("schema mismatch: %v", err)
		}
		if _, err := hive.Sink(cat, "default.se", hive.StaticPartition("q", "1")).NewWriter(ctx, dag.SinkContext{}); err == nil || !strings.Contains(err.Error(), `"q"`) {
			t.Errorf("bad static partition: %v", err)
		}
		w, err := hive.Sink(cat, "default.se").NewWriter(ctx, dag.SinkContext{})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		for _, c := range []struct {
			row  hive.Row
			want string
		}{
			{hive.Row{int32(1), "x"}, "2 values"},
			{hive.Row{int64(1), "x", "p"}, `column "a"`},
			{hive.Row{int32(1), 7, "p"}, `column "b"`},
		} {
			b := &dag.Batch[hive.Row]{}
			b.Append(c.row, 0)
			if err := w.Write(ctx, b); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "default.se") {
				t.Errorf("row %v: %v, want %q", c.row, err, c.want)
			}
		}
	})
}

// TestStreamingCommitRestore simulates the checkpoint protocol of a
// streaming job writing hourly partitions with CommitOnWatermark:
// prepare at checkpoint N, crash before the job continues, restore the
// writers' state, re-commit N (idempotent), continue; every partition is
// committed exactly once with exactly its rows, and only when due.
func TestStreamingCommitRestore(t *testing.T) {
	forEachCatalog(t, func(t *testing.T, cat hive.Catalog, _ *hivetest.Metastore, wh string) {
		ctx := context.Background()
		tbl := createTable(t, cat, "default.stream", hive.FormatParquet, []string{"v bigint"}, []string{"dt string", "hr string"})
		sink := hive.Sink(cat, "default.stream", hive.CommitOnWatermark("$dt $hr:00:00", time.Hour),
			hive.CommitPolicy("metastore", "success-file"), hive.RollSize(1))
		hour := func(h int) (string, string) { return "2024-03-01", []string{"00", "01", "02", "03"}[h] }
		wmAt := func(h, min int) int64 {
			return time.Date(2024, 3, 1, h, min, 0, 0, time.UTC).UnixMilli()
		}
		newWriters := func(states [][]byte) []dag.SinkWriter[hive.Row] {
			var ws []dag.SinkWriter[hive.Row]
			for i := 0; i < 2; i++ {
				w, err := sink.NewWriter(ctx, dag.SinkContext{Subtask: i, Parallelism: 2})
				if err != nil {
					t.Fatal(err)
				}
				if states != nil {
					if err := w.(dag.StatefulSinkWriter).RestoreState(ctx, states); err != nil {
						t.Fatal(err)
					}
				}
				ws = append(ws, w)
			}
			return ws
		}
		var want []hive.Row
		write := func(ws []dag.SinkWriter[hive.Row], h int, n int64) {
			for i, w := range ws {
				b := &dag.Batch[hive.Row]{}
				dt, hr := hour(h)
				for k := int64(0); k < n; k++ {
					r := hive.Row{int64(h*1000+i*100) + k, dt, hr}
					b.Append(r, 0)
					want = append(want, r)
				}
				if err := w.Write(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
		}
		checkpoint := func(ws []dag.SinkWriter[hive.Row], wm int64) ([][]byte, [][]byte) {
			var cs, states [][]byte
			for _, w := range ws {
				w.(dag.WatermarkSinkWriter).WriteWatermark(ctx, wm)
				c, err := w.Prepare(ctx)
				if err != nil {
					t.Fatal(err)
				}
				st, err := w.(dag.StatefulSinkWriter).SnapshotState(ctx)
				if err != nil {
					t.Fatal(err)
				}
				cs, states = append(cs, c...), append(states, st)
			}
			return cs, states
		}
		committed := func() []string {
			names, err := cat.PartitionNames(ctx, "default", "stream")
			if err != nil {
				t.Fatal(err)
			}
			return names
		}
		committer := sink.Committer()

		ws := newWriters(nil)
		write(ws, 0, 3)
		c1, _ := checkpoint(ws, wmAt(0, 30))
		if err := committer.Commit(ctx, c1); err != nil {
			t.Fatal(err)
		}
		if got := committed(); len(got) != 0 {
			t.Fatalf("hour 0 committed before its time + delay: %q", got)
		}
		write(ws, 1, 2)
		c2, st2 := checkpoint(ws, wmAt(1, 15)) // hour 0 due (00:00 + 1h <= 01:15)
		if err := committer.Commit(ctx, c2); err != nil {
			t.Fatal(err)
		}
		if got := committed(); len(got) != 1 || got[0] != "dt=2024-03-01/hr=00" {
			t.Fatalf("after checkpoint 2: %q", got)
		}
		// more data after checkpoint 2, then a crash: lost (never prepared
		// or committed), so it will be replayed
		write(ws, 1, 1)
		want = want[:len(want)-2]
		for _, w := range ws {
			w.Close()
		}
		// restore from checkpoint 2: re-commit it (idempotent), continue
		if err := committer.Commit(ctx, c2); err != nil {
			t.Fatalf("re-commit: %v", err)
		}
		ws = newWriters(st2)
		write(ws, 1, 1)
		write(ws, 2, 1)
		c3, _ := checkpoint(ws, wmAt(2, 30)) // hour 1 due
		if err := committer.Commit(ctx, c3); err != nil {
			t.Fatal(err)
		}
		if err := committer.Commit(ctx, c3); err != nil { // retried commit
			t.Fatal(err)
		}
		if got := committed(); len(got) != 2 || got[1] != "dt=2024-03-01/hr=01" {
			t.Fatalf("after checkpoint 3: %q", got)
		}
		c4, _ := checkpoint(ws, dag.MaxTime) // end of input: everything due
		if err := committer.Commit(ctx, c4); err != nil {
			t.Fatal(err)
		}
		if got := committed(); len(got) != 3 {
			t.Fatalf("at the end: %q", got)
		}
		for _, h := range []string{"00", "01", "02"} {
			if _, err := os.Stat(filepath.Join(tbl.Storage.Location, "dt=2024-03-01", "hr="+h, "_SUCCESS")); err != nil {
				t.Errorf("_SUCCESS of hour %s: %v", h, err)
			}
		}
		equalRows(t, readAll(t, hive.Source(cat, "default.stream"), 1), want)
	})
}
