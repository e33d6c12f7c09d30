package sql_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/sql"
)

const datagenDDL = `CREATE TABLE g (
  id BIGINT, v BIGINT, s VARCHAR, d DOUBLE, b BOOLEAN,
  ts AS CAST(id * 1000 AS TIMESTAMP(3)),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH ('connector' = 'datagen', 'number-of-rows' = '1000',
  'fields.id.kind' = 'sequence', 'fields.id.start' = '0', 'fields.id.end' = '99',
  'fields.v.min' = '5', 'fields.v.max' = '7', 'fields.s.length' = '4', 'fields.d.max' = '2');
`

// TestDatagen: a sequence bounds the source (100 rows, not 1000), random
// fields keep their bounds, a computed column carries the WATERMARK that
// windows use, in batch and streaming mode, and rows are the same in
// every run.
func TestDatagen(t *testing.T) {
	var runs [][]string
	for _, mode := range []dag.ExecutionMode{dag.BatchMode, dag.StreamingMode} {
		out, _ := run(t, sql.NewEnv(), datagenDDL+`
SELECT window_start, COUNT(*) AS n, MIN(v) AS lo, MAX(v) AS hi
FROM TABLE(TUMBLE(TABLE g, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY window_start, window_end;
SELECT id, s, d, v, b FROM g;`, mode)
		if len(out[0]) != 10 {
			t.Fatalf("%v: %d windows, want 10: %v", mode, len(out[0]), out[0])
		}
		for i, w := range out[0] {
			f := strings.Split(w, ",")
			lo, _ := strconv.Atoi(f[2])
			hi, _ := strconv.Atoi(f[3])
			if f[1] != "10" || lo < 5 || hi > 7 || !strings.HasSuffix(f[0], fmt.Sprintf("00:%02d:%02d.000", i*10/60, i*10%60)) {
				t.Errorf("%v: window %d: %s", mode, i, w)
			}
		}
		rows := out[1]
		if len(rows) != 100 {
			t.Fatalf("%v: %d rows, want 100", mode, len(rows))
		}
		ids := map[string]bool{}
		for _, r := range rows {
			f := strings.Split(r, ",")
			d, err := strconv.ParseFloat(f[2], 64)
			if len(f[1]) != 4 || err != nil || d < 0 || d >= 2 || f[4] != "TRUE" && f[4] != "FALSE" {
				t.Errorf("%v: bad row %s", mode, r)
			}
			ids[f[0]] = true
		}
		if len(ids) != 100 || !ids["0"] || !ids["99"] {
			t.Errorf("%v: ids are not 0..99: %d distinct", mode, len(ids))
		}
		runs = append(runs, rows)
	}
	if !slices.Equal(runs[0], runs[1]) {
		t.Error("two runs generated different rows")
	}
}

func TestDatagenErrors(t *testing.T) {
	for _, c := range []struct{ opts, want string }{
		{`'fields.id.kind' = 'sequence'`, "a sequence needs 'fields.id.start' and 'fields.id.end'"},
		{`'fields.id.kind' = 'zigzag'`, "want 'random' or 'sequence'"},
		{`'fields.nope.kind' = 'random'`, "names no physical column"},
		{`'fields.id.size' = '3'`, "unknown option \"fields.id.size\""},
		{`'rows' = '3'`, "unknown option \"rows\""},
		{`'number-of-rows' = '-1'`, "'number-of-rows' = \"-1\""},
		{`'fields.id.min' = '9', 'fields.id.max' = '1'`, "max 1 is below min 9"},
		{`'rows-per-second' = 'fast'`, "'rows-per-second' = \"fast\""},
	} {
		env := sql.NewEnv()
		script := fmt.Sprintf("CREATE TABLE g (id BIGINT) WITH ('connector' = 'datagen', %s); SELECT id FROM g;", c.opts)
		if _, err := env.Compile(dag.New("bad", dag.Config{}), script); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %s", c.opts, err, c.want)
		}
	}
}
