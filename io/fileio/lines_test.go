package fileio

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/dag"
)

func sameLines(t testing.TB, what string, got, want []string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		n := min(len(got), len(want))
		for i := 0; i < n; i++ {
			if got[i] != want[i] {
				t.Fatalf("%s: line %d = %.60q, want %.60q (got %d lines, want %d)", what, i, got[i], want[i], len(got), len(want))
			}
		}
		t.Fatalf("%s: got %d lines, want %d", what, len(got), len(want))
	}
}

var lineContents = map[string]string{
	"empty":           "",
	"one newline":     "\n",
	"no trailing nl":  "alpha\nbeta\ngamma",
	"trailing nl":     "alpha\nbeta\ngamma\n",
	"crlf":            "a\r\nbb\r\n\r\nccc\r\nlast\r\n",
	"crlf no trailer": "a\r\nbb\r\nlast",
	"lone cr":         "a\rb\nc\r",
	"empty lines":     "\n\n\nx\n\n\ny\n\n",
	"single":          "x",
	"utf8":            "héllo\nwörld\n日本語\n",
}

func TestLinesSplitSizes(t *testing.T) {
	dir := t.TempDir()
	for name, content := range lineContents {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".txt")
		writeFile(t, p, []byte(content))
		want := refLines(content)
		for _, size := range []int64{1, 2, 3, 5, 7, 16, int64(len(content)), int64(len(content)) + 1, 1 << 20} {
			if size <= 0 {
				continue
			}
			for _, max := range []int{1, 3, 1024} {
				got, err := readSource[string](t, Lines(p).With(WithSplitSize(size)), 4, max)
				if err != nil {
					t.Fatalf("%s size %d: %v", name, size, err)
				}
				sameLines(t, name, got, want)
			}
		}
	}
}

// makeText returns deterministic text with lines of varied lengths,
// including empty lines, CRLF and lines longer than the read buffer.
func makeText(n int, long int) string {
	var b strings.Builder
	x := uint32(7)
	for i := 0; i < n; i++ {
		x = x*1664525 + 1013904223
		l := int(x>>24) % 90
		if i%97 == 13 {
			l = 0
		}
		if long > 0 && i%500 == 250 {
			l = long
		}
		for j := 0; j < l; j++ {
			b.WriteByte('a' + byte((i+j)%26))
		}
		if i%11 == 3 {
			b.WriteString("\r\n")
		} else {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func TestLinesManySplitsAndLongLines(t *testing.T) {
	dir := t.TempDir()
	content := makeText(3000, 300<<10) // lines > 256 KiB buffer
	p := filepath.Join(dir, "big.txt")
	writeFile(t, p, []byte(content))
	want := refLines(content)
	for _, size := range []int64{997, 64 << 10, 100 << 10, 1 << 20, int64(len(content))} {
		got, err := readSource[string](t, Lines(p).With(WithSplitSize(size), WithBufferSize(8<<10)), 3, 1024)
		if err != nil {
			t.Fatal(err)
		}
		sameLines(t, "big", got, want)
	}
	got, err := readSource[string](t, Lines(p), 2, 1000) // default options
	if err != nil {
		t.Fatal(err)
	}
	sameLines(t, "big default", got, want)
}

func TestLinesCompressed(t *testing.T) {
	dir := t.TempDir()
	content := makeText(5000, 0) + "tail without newline"
	writeFile(t, filepath.Join(dir, "a.gz"), gzipBytes(t, []byte(content)))
	writeFile(t, filepath.Join(dir, "b.zst"), zstdBytes(t, []byte(content)))
	want := refLines(content)
	for _, name := range []string{"a.gz", "b.zst"} {
		src := Lines(filepath.Join(dir, name)).With(WithSplitSize(100))
		splits, err := src.Splits(context.Background(), dag.SplitContext{Parallelism: 4})
		if err != nil {
			t.Fatal(err)
		}
		if len(splits) != 1 {
			t.Fatalf("%s: %d splits, want the whole file as one", name, len(splits))
		}
		got, err := readSource[string](t, src, 4, 333)
		if err != nil {
			t.Fatal(err)
		}
		sameLines(t, name, got, want)
	}
	writeFile(t, filepath.Join(dir, "bad", "c.gz"), []byte("not gzip at all"))
	_, err := readSource[string](t, Lines(filepath.Join(dir, "bad")), 1, 10)
	if err == nil || !strings.Contains(err.Error(), "c.gz") {
		t.Fatalf("corrupt gzip: %v", err)
	}
}

func TestLinesDirectoryIgnoresHidden(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "part-00000-0"), []byte("a\nb\n"))
	writeFile(t, filepath.Join(dir, "sub", "part-00001-0"), []byte("c\n"))
	writeFile(t, filepath.Join(dir, ".part-00002-0-abc.inprogress"), []byte("hidden\n"))
	writeFile(t, filepath.Join(dir, ".part-00002-0.0-abc.pending"), []byte("hidden\n"))
	writeFile(t, filepath.Join(dir, "_SUCCESS"), nil)
	got, err := readSource[string](t, Lines(dir), 2, 10)
	if err != nil {
		t.Fatal(err)
	}
	sameLines(t, "dir", got, []string{"a", "b", "c"})
}

func TestLinesErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope")
	_, err := Lines(missing).Splits(context.Background(), dag.SplitContext{Parallelism: 1})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), `input path "`+missing+`" does not exist`) {
		t.Fatalf("missing input: %v", err)
	}
	if _, err := Lines().Splits(context.Background(), dag.SplitContext{}); err == nil {
		t.Fatal("no paths: want error")
	}
	if _, err := Lines(dir).With(WithSplitSize(0)).Splits(context.Background(), dag.SplitContext{}); err == nil || !strings.Contains(err.Error(), "split size") {
		t.Fatalf("bad split size: %v", err)
	}
	if _, err := Lines(dir).OpenSplit(context.Background(), dag.ReaderContext{}, dag.Split{ID: "x", Data: []byte("{")}); err == nil {
		t.Fatal("bad split data: want error")
	}

	p := filepath.Join(dir, "long.txt")
	writeFile(t, p, []byte("short\n"+strings.Repeat("x", 100)+"\nshort\n"))
	_, err = readSource[string](t, Lines(p).With(WithMaxLineLength(50)), 1, 10)
	if err == nil || !strings.Contains(err.Error(), p+":6") || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("too long line: %v", err)
	}
	_, err = readSource[string](t, Lines(p).With(WithMaxLineLength(50), WithBufferSize(4096)), 1, 10)
	if err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("too long line, small buffer: %v", err)
	}
	writeFile(t, p, []byte(strings.Repeat("y", 10000)))
	_, err = readSource[string](t, Lines(p).With(WithMaxLineLength(5000), WithBufferSize(4096)), 1, 10)
	if err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("too long line growing buffer: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	src := Lines(p)
	splits, err := src.Splits(ctx, dag.SplitContext{Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	r, err := src.OpenSplit(ctx, dag.ReaderContext{}, splits[0])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cancel()
	var b dag.Batch[string]
	if _, err := r.ReadBatch(ctx, &b, 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ReadBatch: %v", err)
	}
}

func TestLinesProgress(t *testing.T) {
	dir := t.TempDir()
	content := makeText(2000, 0)
	p := filepath.Join(dir, "p.txt")
	writeFile(t, p, []byte(content))
	src := Lines(p).With(WithSplitSize(int64(len(content)/2 + 1)))
	ctx := context.Background()
	splits, err := src.Splits(ctx, dag.SplitContext{Parallelism: 2})
	if err != nil || len(splits) != 2 {
		t.Fatalf("splits: %v %v", len(splits), err)
	}
	for _, sp := range splits {
		r, err := src.OpenSplit(ctx, dag.ReaderContext{}, sp)
		if err != nil {
			t.Fatal(err)
		}
		pr, ok := r.(Progress)
		if !ok {
			t.Fatal("reader does not implement Progress")
		}
		var b dag.Batch[string]
		last := int64(-1)
		for {
			b.Reset()
			_, err := r.ReadBatch(ctx, &b, 100)
			done, total := pr.Progress()
			if total != sp.Weight || done < last || done > total {
				t.Fatalf("progress %d/%d after %d (weight %d)", done, total, last, sp.Weight)
			}
			last = done
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if last != sp.Weight {
			t.Fatalf("final progress %d, want %d", last, sp.Weight)
		}
		r.Close()
	}
}

func TestLinesAutoSplitSize(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.txt")
	writeFile(t, p, []byte(strings.Repeat("0123456789abcde\n", 300000))) // 4.8 MB
	splits, err := Lines(p).Splits(context.Background(), dag.SplitContext{Parallelism: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(splits) != 4 {
		t.Fatalf("automatic split size made %d splits for parallelism 4, want 4", len(splits))
	}
	ids := map[string]bool{}
	for _, s := range splits {
		if ids[s.ID] {
			t.Fatalf("duplicate split ID %s", s.ID)
		}
		ids[s.ID] = true
	}
}

func FuzzLinesSplits(f *testing.F) {
	f.Add([]byte("a\nb\r\n\nc"), uint16(1), uint8(1))
	f.Add([]byte("\n\n\r\n"), uint16(2), uint8(3))
	f.Add([]byte("long line without newline"), uint16(5), uint8(2))
	f.Add([]byte(""), uint16(3), uint8(1))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content []byte, splitSize uint16, batch uint8) {
		p := filepath.Join(dir, "fuzz.txt")
		writeFile(t, p, content)
		// At most ~64 splits: every split may scan a long line to find its
		// first line start, which is quadratic for tiny splits.
		size := max(int64(splitSize%512)+1, int64(len(content)/64))
		got, err := readSource[string](t, Lines(p).With(WithSplitSize(size), WithBufferSize(4096)), 3, int(batch%16)+1)
		if err != nil {
			t.Fatal(err)
		}
		sameLines(t, "fuzz", got, refLines(string(content)))
	})
}
