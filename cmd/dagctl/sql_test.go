package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSQLCommand(t *testing.T) {
	dir := t.TempDir()
	var csv strings.Builder
	for i := range 100 {
		fmt.Fprintf(&csv, "%d,k%d,%d\n", i, i%3, 1_700_000_000_000+int64(i)*100)
	}
	if err := os.WriteFile(filepath.Join(dir, "in.csv"), []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ddl := fmt.Sprintf(`CREATE TABLE t (v BIGINT, k VARCHAR, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
WITH ('connector' = 'filesystem', 'path' = '%s', 'format' = 'csv');
CREATE TABLE out (k VARCHAR, n BIGINT) WITH ('connector' = 'print');
`, filepath.Join(dir, "in.csv"))
	write := func(name, script string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	job := write("job.sql", ddl+`
INSERT INTO out SELECT k, COUNT(*) FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '5' SECOND)) WHERE v < 50 GROUP BY k, window_start, window_end;
SELECT k, SUM(v) AS total FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY k, window_start, window_end;`)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"sql", "-f", job, "--mode", "batch"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	// Sums of v by k over 0..99 (all in one minute window).
	sums := [3]int{}
	for i := range 100 {
		sums[i%3] += i
	}
	out := stdout.String()
	for _, want := range []string{"+I[k0, 17]", "+I[k1, 17]", "+I[k2, 16]",
		fmt.Sprintf("k0  %d", sums[0]), fmt.Sprintf("k2  %d", sums[2]), "(3 rows)", "k   total"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	stdout.Reset()
	explain := write("explain.sql", ddl+"EXPLAIN INSERT INTO out SELECT k, v FROM t WHERE v > 1")
	if code := run([]string{"sql", "-f", explain}, &stdout, &stderr); code != 0 {
		t.Fatalf("explain: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "source-t") || !strings.Contains(stdout.String(), "sink-out") {
		t.Errorf("explain output:\n%s", stdout.String())
	}
	stderr.Reset()
	bad := write("bad.sql", ddl+"SELECT nope FROM t")
	if code := run([]string{"sql", "-f", bad}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "line 4:8: unknown column nope") {
		t.Errorf("bad script: exit %d: %s", code, stderr.String())
	}
}

// TestSQLShell pipes a script into the shell (dagctl sql without -f):
// statements over several lines, tables kept across statements, SELECT
// results as tables, an error that names the input's line and does not
// stop the shell, and the exit code of a script with a failed statement.
func TestSQLShell(t *testing.T) {
	dir := t.TempDir()
	var csv strings.Builder
	for i := range 20 {
		fmt.Fprintf(&csv, "%d,k%d\n", i, i%2)
	}
	in := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(in, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`-- a comment; with a semicolon
CREATE TABLE t (
  v BIGINT,
  k VARCHAR
) WITH ('connector' = 'filesystem', 'path' = '%s', 'format' = 'csv');
CREATE VIEW big AS SELECT v, k, 'a;b' AS s FROM t WHERE v >= 15;
SELECT v, k,
  s FROM big;
SELECT nope FROM t;
SELECT k FROM t WHERE v = 3
`, in)
	var stdout, stderr bytes.Buffer
	code := withStdin(t, script, func() int { return run([]string{"sql"}, &stdout, &stderr) })
	if code != 1 {
		t.Errorf("exit %d, want 1 (one statement failed)", code)
	}
	out := stdout.String()
	for _, want := range []string{"OK\nOK\n", "v   k   s", "15  k1  a;b", "19  k1  a;b", "(5 rows)", "k1\n(1 rows)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr.String(), "line 9:8: unknown column nope") {
		t.Errorf("stderr: %s", stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	if code := withStdin(t, "CREATE TABLE t (v BIGINT) WITH ('connector' = 'print');\nEXPLAIN INSERT INTO t SELECT 1 + 1 FROM t;\n", func() int {
		return run([]string{"sql"}, &stdout, &stderr)
	}); code == 0 || !strings.Contains(stderr.String(), "print connector is a sink only") {
		t.Errorf("exit %d, stderr %s", code, stderr.String())
	}
}

// withStdin runs f with standard input reading text.
func withStdin(t *testing.T, text string, f func() int) int {
	t.Helper()
	p := filepath.Join(t.TempDir(), "stdin")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	old := os.Stdin
	os.Stdin = in
	defer func() { os.Stdin = old }()
	return f()
}

func TestStmtSplitter(t *testing.T) {
	var sp stmtSplitter
	var got []shellStatement
	for _, line := range []string{"SELECT 'a;''b' AS x, \"c;d\" -- e;f\n", "  FROM t; /* g; */ SELECT 2\n", ";;\n", "  SELECT 3"} {
		got = append(got, sp.feed(line)...)
	}
	got = append(got, sp.flush()...)
	want := []shellStatement{
		{"SELECT 'a;''b' AS x, \"c;d\" -- e;f\n  FROM t", 1, 1},
		{"/* g; */ SELECT 2\n", 2, 11},
		{"SELECT 3", 4, 3},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}
