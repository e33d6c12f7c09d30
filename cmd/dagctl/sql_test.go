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
