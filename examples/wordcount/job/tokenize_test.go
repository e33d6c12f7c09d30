package job

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sampleLines(tb testing.TB, n int) ([]string, int64) {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "sample.txt")
	if err := WriteSample(p, n, 5); err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"), int64(len(b))
}

// BenchmarkTokenize measures the tokenizer alone (emit counts words).
func BenchmarkTokenize(b *testing.B) {
	lines, size := sampleLines(b, 100_000)
	b.SetBytes(size)
	b.ReportAllocs()
	n := 0
	emit := func(string) { n++ }
	for b.Loop() {
		for _, l := range lines {
			Tokenize(l, emit)
		}
	}
	if n == 0 {
		b.Fatal("no words")
	}
}

func TestTokenizeMatchesFields(t *testing.T) {
	lines, _ := sampleLines(t, 200)
	lines = append(lines, "", " ", "a", "x\u00a0y\u2028z\u3000", "\xff\xfe bad \xe2\x82 utf8\xe2", "\u0085lead\u2003 trail\u00a0", "tab\tvt\vff\fcr\r")
	for _, l := range lines {
		checkTokenize(t, l)
	}
}

func FuzzTokenize(f *testing.F) {
	f.Add("x\u00a0y\u2028z \xff\xe2\x82 ok")
	f.Fuzz(checkTokenize)
}

func checkTokenize(t *testing.T, line string) {
	var got []string
	Tokenize(line, func(w string) { got = append(got, w) })
	want := strings.Fields(line)
	if strings.Join(got, "\x00") != strings.Join(want, "\x00") || len(got) != len(want) {
		t.Errorf("Tokenize(%q) = %q, want %q", line, got, want)
	}
}
