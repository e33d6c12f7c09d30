package fileio

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/io/filesystem"
)

func listNames(t *testing.T, dir string) (visible, hidden []string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if filesystem.Hidden(e.Name()) {
			hidden = append(hidden, e.Name())
		} else {
			visible = append(visible, e.Name())
		}
	}
	return visible, hidden
}

func intBatch(from, to int) *dag.Batch[int] {
	b := &dag.Batch[int]{}
	for i := from; i < to; i++ {
		b.Append(i, dag.MinTime)
	}
	return b
}

func formatInt(dst []byte, v int) []byte { return strconv.AppendInt(dst, int64(v), 10) }

func intLines(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, strconv.Itoa(i))
	}
	return out
}

func TestTextSinkCommit(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "out", "nested") // created by the sink
	sink := TextSink(dir, formatInt)
	var all [][]byte
	for sub := 0; sub < 3; sub++ {
		w, err := sink.NewWriter(ctx, dag.SinkContext{Subtask: sub, Parallelism: 3})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(ctx, intBatch(sub*100, sub*100+50)); err != nil {
			t.Fatal(err)
		}
		if err := w.Write(ctx, intBatch(sub*100+50, sub*100+100)); err != nil {
			t.Fatal(err)
		}
		vis, hid := listNames(t, dir)
		inprogress := 0
		for _, h := range hid {
			if strings.HasSuffix(h, ".inprogress") {
				inprogress++
			}
		}
		if len(vis) != 0 || len(hid) != sub+1 || inprogress != 1 {
			t.Fatalf("while writing: visible %v hidden %v", vis, hid)
		}
		cs, err := w.Prepare(ctx)
		if err != nil || len(cs) != 1 {
			t.Fatalf("Prepare = %d committables, %v", len(cs), err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		all = append(all, cs...)
	}
	// Pending files are invisible to readers.
	if got, err := ReadAllLines(ctx, nil, dir); err != nil || len(got) != 0 {
		t.Fatalf("before commit readers see %v, %v", got, err)
	}
	if _, err := readSource[string](t, Lines(dir), 1, 10); err != nil {
		t.Fatal(err)
	}
	vis, hid := listNames(t, dir)
	if len(vis) != 0 || len(hid) != 3 {
		t.Fatalf("prepared: visible %v hidden %v", vis, hid)
	}
	for _, h := range hid {
		if !strings.HasSuffix(h, ".pending") {
			t.Fatalf("prepared file %s is not pending", h)
		}
	}

	c := sink.Committer()
	if err := c.Commit(ctx, all); err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(ctx, all); err != nil {
		t.Fatalf("second Commit: %v", err)
	}
	if err := c.Abort(ctx, all); err != nil {
		t.Fatalf("Abort after Commit: %v", err)
	}
	vis, hid = listNames(t, dir)
	if want := []string{"part-00000-0", "part-00001-0", "part-00002-0"}; !reflect.DeepEqual(vis, want) || len(hid) != 0 {
		t.Fatalf("committed: visible %v hidden %v", vis, hid)
	}
	got, err := ReadAllLines(ctx, nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(append(intLines(0, 100), intLines(100, 200)...), intLines(200, 300)...); !reflect.DeepEqual(got, want) {
		t.Fatalf("committed content: %d lines, want %d", len(got), len(want))
	}
	b, _ := os.ReadFile(filepath.Join(dir, "part-00001-0"))
	if !strings.HasPrefix(string(b), "100\n101\n") || !strings.HasSuffix(string(b), "199\n") {
		t.Fatalf("part file content %.40q", b)
	}

	// A committable whose files are all gone cannot be committed.
	if err := os.Remove(filepath.Join(dir, "part-00000-0")); err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(ctx, all[:1]); err == nil || !strings.Contains(err.Error(), "neither the pending file") {
		t.Fatalf("lost committable: %v", err)
	}
	if err := c.Commit(ctx, [][]byte{[]byte("garbage")}); err == nil || !strings.Contains(err.Error(), "bad committable") {
		t.Fatalf("garbage committable: %v", err)
	}
}

func TestSinkAbortLeavesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sink := TextSink(dir, formatInt, WithRollSize(100))

	// Committer abort after prepare: nothing visible, no pending left.
	w, err := sink.NewWriter(ctx, dag.SinkContext{Subtask: 0})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, intBatch(0, 200)); err != nil {
		t.Fatal(err)
	}
	cs, err := w.Prepare(ctx)
	if err != nil || len(cs) < 2 {
		t.Fatalf("rolled Prepare = %d, %v", len(cs), err)
	}
	w.Close()
	if err := sink.Committer().Abort(ctx, cs); err != nil {
		t.Fatal(err)
	}
	if err := sink.Committer().Abort(ctx, cs); err != nil {
		t.Fatalf("second Abort: %v", err)
	}

	// Writer abort: in-progress file and rolled files removed.
	w, err = sink.NewWriter(ctx, dag.SinkContext{Subtask: 1, Attempt: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, intBatch(0, 75)); err != nil { // rolls at least once
		t.Fatal(err)
	}
	if _, hid := listNames(t, dir); len(hid) < 2 {
		t.Fatalf("expected a rolled and an in-progress file, got %v", hid)
	}
	if err := w.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	w.Close()

	// Close without Prepare discards too.
	w, err = sink.NewWriter(ctx, dag.SinkContext{Subtask: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, intBatch(0, 10)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if vis, hid := listNames(t, dir); len(vis)+len(hid) != 0 {
		t.Fatalf("after aborts: visible %v hidden %v", vis, hid)
	}
}

func TestSinkRollingAndStreaming(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sink := TextSink(dir, formatInt, WithRollSize(1000))
	w, err := sink.NewWriter(ctx, dag.SinkContext{Subtask: 4})
	if err != nil {
		t.Fatal(err)
	}
	var all [][]byte
	for cp := 0; cp < 3; cp++ { // three checkpoints
		if err := w.Write(ctx, intBatch(cp*1000, cp*1000+1000)); err != nil {
			t.Fatal(err)
		}
		cs, err := w.Prepare(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := sink.Committer().Commit(ctx, cs); err != nil {
			t.Fatal(err)
		}
		all = append(all, cs...)
	}
	if cs, err := w.Prepare(ctx); err != nil || len(cs) != 0 {
		t.Fatalf("empty Prepare = %d, %v", len(cs), err)
	}
	w.Close()
	vis, _ := listNames(t, dir)
	if len(vis) != len(all) || len(vis) < 9 {
		t.Fatalf("%d part files for %d committables", len(vis), len(all))
	}
	for i := range all {
		var cm committable
		if err := json.Unmarshal(all[i], &cm); err != nil {
			t.Fatal(err)
		}
		if want := "part-00004-" + strconv.Itoa(i); filepath.Base(cm.Final) != want {
			t.Fatalf("part %d is %s, want %s", i, cm.Final, want)
		}
	}
	got, err := ReadAllLines(ctx, nil, dir)
	if err != nil || !reflect.DeepEqual(got, intLines(0, 3000)) {
		t.Fatalf("content %d lines, %v", len(got), err)
	}

	// A restarted writer of the same subtask continues numbering.
	w, err = sink.NewWriter(ctx, dag.SinkContext{Subtask: 4, Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, intBatch(0, 1)); err != nil {
		t.Fatal(err)
	}
	cs, err := w.Prepare(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var cm committable
	if err := json.Unmarshal(cs[0], &cm); err != nil {
		t.Fatal(err)
	}
	if want := "part-00004-" + strconv.Itoa(len(all)); filepath.Base(cm.Final) != want {
		t.Fatalf("restarted writer part %s, want %s", cm.Final, want)
	}
	w.Close()
}

func TestCSVAndJSONLSinksRoundTrip(t *testing.T) {
	ctx := context.Background()
	people := []person{{"ann", 1, "plain"}, {"b,o\"b", 2, ""}, {"#x", 3, "semi;colon"}, {"", 4, " spaced "}}
	toFields := func(p person) []string { return []string{p.Name, strconv.Itoa(p.Age), p.Note} }
	for _, comp := range []Compression{NoCompression, Gzip, Zstd} {
		dir := filepath.Join(t.TempDir(), "csv")
		runSink(t, CSVSink(dir, toFields, WithHeader("name", "age", "note"), WithComment('#'), WithCompression(comp)), people)
		vis, _ := listNames(t, dir)
		if len(vis) != 1 || !strings.HasSuffix(vis[0], comp.Ext()) {
			t.Fatalf("compression %d: files %v", comp, vis)
		}
		got, err := readSource[person](t, CSV(parsePerson, dir).With(WithSkipHeader(), WithComment('#')), 1, 10)
		if err != nil || !reflect.DeepEqual(got, people) {
			t.Fatalf("csv round trip (compression %d): %+v, %v", comp, got, err)
		}

		jdir := filepath.Join(t.TempDir(), "jsonl")
		events := []event{{1, "a<b>"}, {2, "line\nbreak"}}
		runSink(t, JSONLSink[event](jdir, WithCompression(comp)), events)
		gotE, err := readSource[event](t, JSONLines[event](jdir), 1, 10)
		if err != nil || !reflect.DeepEqual(gotE, events) {
			t.Fatalf("jsonl round trip: %+v, %v", gotE, err)
		}
		lines, _ := ReadAllLines(ctx, nil, jdir)
		if len(lines) != 2 || !strings.Contains(lines[0], "a<b>") {
			t.Fatalf("jsonl lines %q", lines)
		}
	}
}

func runSink[T any](t *testing.T, sink dag.Sink[T], vals []T) {
	t.Helper()
	ctx := context.Background()
	w, err := sink.NewWriter(ctx, dag.SinkContext{})
	if err != nil {
		t.Fatal(err)
	}
	b := &dag.Batch[T]{}
	for _, v := range vals {
		b.Append(v, dag.MinTime)
	}
	if err := w.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	cs, err := w.Prepare(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sink.Committer().Commit(ctx, cs); err != nil {
		t.Fatal(err)
	}
}

type failing struct{}

func (failing) MarshalJSON() ([]byte, error) { return nil, errors.New("cannot encode") }

func TestSinkErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := JSONLSink[failing](dir).NewWriter(ctx, dag.SinkContext{})
	if err != nil {
		t.Fatal(err)
	}
	b := &dag.Batch[failing]{}
	b.Append(failing{}, dag.MinTime)
	if err := w.Write(ctx, b); err == nil || !strings.Contains(err.Error(), "cannot encode") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("encode error: %v", err)
	}
	if err := w.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if vis, hid := listNames(t, dir); len(vis)+len(hid) != 0 {
		t.Fatalf("after failed writer: %v %v", vis, hid)
	}

	file := filepath.Join(dir, "file")
	writeFile(t, file, []byte("x"))
	if _, err := TextSink(filepath.Join(file, "sub"), formatInt).NewWriter(ctx, dag.SinkContext{}); err == nil {
		t.Fatal("output dir below a file: want error")
	}
	if _, err := TextSink[int](dir, nil).NewWriter(ctx, dag.SinkContext{}); err == nil {
		t.Fatal("nil format: want error")
	}
	if _, err := TextSink(dir, formatInt, WithRollSize(-1)).NewWriter(ctx, dag.SinkContext{}); err == nil {
		t.Fatal("negative roll size: want error")
	}
	if _, err := TextSink(dir, formatInt, WithCompression(9)).NewWriter(ctx, dag.SinkContext{}); err == nil {
		t.Fatal("bad compression: want error")
	}
	if _, err := TextSink("s3://bucket/out", formatInt).NewWriter(ctx, dag.SinkContext{}); !errors.Is(err, filesystem.ErrUnknownScheme) {
		t.Fatalf("unknown scheme: %v", err)
	}
}

func TestRelativeSinkDirCommittablesAbsolute(t *testing.T) {
	ctx := context.Background()
	t.Chdir(t.TempDir())
	w, err := TextSink("rel/out", formatInt).NewWriter(ctx, dag.SinkContext{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, intBatch(0, 1)); err != nil {
		t.Fatal(err)
	}
	cs, err := w.Prepare(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var cm committable
	if err := json.Unmarshal(cs[0], &cm); err != nil || !filepath.IsAbs(cm.Pending) || !filepath.IsAbs(cm.Final) {
		t.Fatalf("committable %s, %v", cs[0], err)
	}
}

func TestNaturalLess(t *testing.T) {
	in := []string{"part-00000-10", "part-00000-2", "part-00001-0", "a", "part-00000-1.gz", "b01", "b1"}
	sort.Slice(in, func(i, j int) bool { return naturalLess(in[i], in[j]) })
	want := []string{"a", "b1", "b01", "part-00000-1.gz", "part-00000-2", "part-00000-10", "part-00001-0"}
	if !reflect.DeepEqual(in, want) {
		t.Fatalf("natural order %v", in)
	}
}
