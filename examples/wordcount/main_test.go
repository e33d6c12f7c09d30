package main

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/examples/wordcount/job"
	"github.com/dagflow/dagflow/io/fileio"
	"github.com/dagflow/dagflow/io/filesystem"
)

// independentCount counts words with strings.Fields, not the engine.
func independentCount(t *testing.T, paths ...string) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range strings.Fields(string(b)) {
			m[w]++
		}
	}
	return m
}

func readOutput(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	lines, err := fileio.ReadAllLines(context.Background(), filesystem.Default(), dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int64{}
	for _, l := range lines {
		w, c, ok := strings.Cut(l, "\t")
		if !ok {
			t.Fatalf("bad output line %q", l)
		}
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil {
			t.Fatalf("bad count in %q", l)
		}
		if _, dup := m[w]; dup {
			t.Fatalf("word %q written twice", w)
		}
		m[w] = n
	}
	return m
}

func TestWordCountEqualsIndependentCount(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	if err := os.Mkdir(in, 0o755); err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(in, "a.txt"), filepath.Join(in, "b.txt")
	if err := job.WriteSample(a, 30000, 1); err != nil {
		t.Fatal(err)
	}
	// Odd whitespace, unicode spaces, CRLF and no final newline.
	odd := "héllo\u00a0wörld  tab\there\r\nagain  héllo\n\n\u2003x\u3000y\nlast"
	if err := os.WriteFile(b, []byte(odd), 0o644); err != nil {
		t.Fatal(err)
	}
	want := independentCount(t, a, b)
	var outputs []map[string]int64
	for _, args := range [][]string{
		{"--mode", "batch", "--parallelism", "1"},
		{"--mode", "batch", "--parallelism", "3"},
		{"--mode", "streaming", "--parallelism", "2"},
		{"--mode", "streaming", "--parallelism", "4"},
	} {
		out := filepath.Join(dir, strings.Join(args, ""))
		var stdout, stderr bytes.Buffer
		code := run(append(args, "--input", in, "--output", out), &stdout, &stderr)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr.String())
		}
		got := readOutput(t, out)
		if !maps.Equal(got, want) {
			t.Fatalf("%v: %d words, want %d", args, len(got), len(want))
		}
		outputs = append(outputs, got)
	}
}

func TestWordCountBadInput(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "part-00000-0"), []byte("old\t1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--input", filepath.Join(dir, "missing"), "--output", dir + "/o1"}, 1, "does not exist"},
		{[]string{"--parallelism", "0"}, 2, "--parallelism 0: must be at least 1"},
		{[]string{"--mode", "fast"}, 2, `--mode "fast": want batch or streaming`},
		{[]string{"--nope"}, 2, "flag provided but not defined"},
		{[]string{"stray"}, 2, "unexpected arguments"},
		{[]string{"--output", dir}, 1, "is not empty"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(tt.args, &stdout, &stderr)
		if code != tt.code || !strings.Contains(stderr.String(), tt.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d containing %q", tt.args, code, stderr.String(), tt.code, tt.msg)
		}
	}
}

func TestTokenize(t *testing.T) {
	tests := map[string][]string{
		"":                  nil,
		"  ":                nil,
		"a":                 {"a"},
		" a  b\tc\n":        {"a", "b", "c"},
		"x\u00a0y\u2028z":   {"x", "y", "z"},
		"héllo,wörld! ok":   {"héllo,wörld!", "ok"},
		"\xff\xfe bad utf8": {"\xff\xfe", "bad", "utf8"},
	}
	for in, want := range tests {
		var got []string
		job.Tokenize(in, func(w string) { got = append(got, w) })
		if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(strings.Fields(in)) {
			t.Errorf("Tokenize(%q) = %q, want %q", in, got, want)
		}
	}
}
