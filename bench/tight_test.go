package bench_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/bench"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/examples/wordcount/job"
	"github.com/dagflow/dagflow/io/fileio"
	"github.com/dagflow/dagflow/io/filesystems"
)

// fieldsCount is the reference: strings.Fields splits on unicode.IsSpace,
// the wordcount job's definition of a word.
func fieldsCount(text string) (map[string]int64, int64) {
	m := make(map[string]int64)
	for _, w := range strings.Fields(text) {
		m[w]++
	}
	lines := int64(strings.Count(text, "\n"))
	if text != "" && !strings.HasSuffix(text, "\n") {
		lines++
	}
	return m, lines
}

// trickyText has Unicode spaces (some split across reads by small
// buffers), invalid UTF-8, CRLF, tabs, runs of blank lines, a long word
// and no final newline.
const trickyText = "alpha beta\talpha\r\n\n\n  gamma\u00a0delta\u2003épsilon\u3000ζ ζ\n" +
	"bad\xffbyte \xe2\x82 cut\xe2 \xe2\x80\x83end\u0085x\v\fy\n" +
	"averyveryveryveryverylongwordthatspansmanysmallbuffers alpha\u2028beta" +
	" \xf0\x9f\x98\x80smile\xf0\x9f\x98\x80 last"

func TestTightCountMatchesFields(t *testing.T) {
	sample := filepath.Join(t.TempDir(), "sample.txt")
	if err := job.WriteSample(sample, 300, 3); err != nil {
		t.Fatal(err)
	}
	gen, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]string{
		"empty": "", "spaces": " \n\t\n", "one word": "w", "newline only": "\n",
		"tricky": trickyText, "tricky with final newline": trickyText + "\n",
		"generated": string(gen), "generated and tricky": string(gen) + trickyText,
	}
	for name, text := range texts {
		want, wantLines := fieldsCount(text)
		for _, size := range []int{1, 3, 4, 5, 7, 16, 64, 1 << 20} {
			for _, oneByte := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/buf%d/onebyte=%v", name, size, oneByte), func(t *testing.T) {
					r := iotestReader(text, oneByte)
					got, lines, err := bench.TightCount(r, size)
					if err != nil {
						t.Fatal(err)
					}
					if lines != wantLines {
						t.Errorf("lines = %d, want %d", lines, wantLines)
					}
					diffCounts(t, got, want)
				})
			}
		}
	}
}

func iotestReader(text string, oneByte bool) io.Reader {
	if oneByte {
		return iotest.OneByteReader(strings.NewReader(text))
	}
	return strings.NewReader(text)
}

func FuzzTightCount(f *testing.F) {
	f.Add([]byte(trickyText), 4)
	f.Add([]byte("a b\n"), 1)
	f.Fuzz(func(t *testing.T, data []byte, size int) {
		size = 1 + (size&0xff)%64
		want, wantLines := fieldsCount(string(data))
		got, lines, err := bench.TightCount(iotest.OneByteReader(bytes.NewReader(data)), size)
		if err != nil {
			t.Fatal(err)
		}
		if lines != wantLines {
			t.Errorf("lines = %d, want %d", lines, wantLines)
		}
		diffCounts(t, got, want)
	})
}

func diffCounts(t *testing.T, got, want map[string]int64) {
	t.Helper()
	for w, n := range want {
		if got[w] != n {
			t.Errorf("count of %q = %d, want %d", w, got[w], n)
		}
	}
	for w, n := range got {
		if _, ok := want[w]; !ok {
			t.Errorf("unexpected word %q (count %d)", w, n)
		}
	}
}

// readCounts parses word<TAB>count lines; a word twice is an error.
func readCounts(t *testing.T, lines []string) map[string]int64 {
	t.Helper()
	m := make(map[string]int64, len(lines))
	for _, l := range lines {
		i := strings.LastIndexByte(l, '\t')
		if i < 0 {
			t.Fatalf("output line %q has no tab", l)
		}
		n, err := strconv.ParseInt(l[i+1:], 10, 64)
		if err != nil {
			t.Fatalf("output line %q: %v", l, err)
		}
		if _, dup := m[l[:i]]; dup {
			t.Fatalf("word %q output twice", l[:i])
		}
		m[l[:i]] = n
	}
	return m
}

// TestTightWordCountMatchesEngine checks that the tight loop and the
// wordcount job, in both modes, compute the same counts, and that both
// match strings.Fields. Words never contain '\n', so the output format
// holds every word of the input.
func TestTightWordCountMatchesEngine(t *testing.T) {
	// Three files, so that both subtasks read some; the tight loop reads
	// their concatenation (each ends with a newline).
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	if err := os.Mkdir(in, 0o755); err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for i, extra := range []string{trickyText + "\n", "", "\u00a0tail\n"} {
		p := filepath.Join(in, fmt.Sprintf("part-%d.txt", i))
		if err := job.WriteSample(p, 2000, uint64(9+i)); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, extra...)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	text := all.String()
	allPath := filepath.Join(dir, "all.txt")
	if err := os.WriteFile(allPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	want, wantLines := fieldsCount(text)

	tightOut := filepath.Join(dir, "tight.txt")
	lines, _, err := bench.TightWordCount(allPath, tightOut)
	if err != nil {
		t.Fatal(err)
	}
	if lines != wantLines {
		t.Errorf("tight loop read %d lines, want %d", lines, wantLines)
	}
	b, err := os.ReadFile(tightOut)
	if err != nil {
		t.Fatal(err)
	}
	tight := readCounts(t, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"))
	diffCounts(t, tight, want)

	for _, mode := range []dag.ExecutionMode{dag.StreamingMode, dag.BatchMode} {
		t.Run(mode.String(), func(t *testing.T) {
			out := filepath.Join(dir, "engine-"+mode.String())
			g := job.Build(in, out, dag.Config{Parallelism: 2, Mode: mode})
			res, err := dagflow.Run(context.Background(), g, dagflow.Options{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			if src, _ := res.Vertex("lines"); src.RecordsOut != wantLines {
				t.Errorf("engine read %d lines, want %d", src.RecordsOut, wantLines)
			}
			outLines, err := fileio.ReadAllLines(context.Background(), filesystems.Default(), out)
			if err != nil {
				t.Fatal(err)
			}
			diffCounts(t, readCounts(t, outLines), tight)
		})
	}
}
