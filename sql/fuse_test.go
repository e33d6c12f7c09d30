package sql_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/sql"
)

// TestFusedProjections checks queries whose projection is fused into the
// source (the filesystem connector fuses): a star over computed columns,
// a column selected twice, WHERE on a computed column, and the same query
// over a table read twice, which is not fused; expected rows are computed
// from the generated orders.
func TestFusedProjections(t *testing.T) {
	dir := t.TempDir()
	orders := writeOrders(t, dir, 500)
	var star, twice []string
	for _, o := range orders {
		if o.amount < 50 {
			continue
		}
		star = append(star, fmt.Sprintf("%d,%s,%d,%d.%02d,TRUE", o.id, o.user, o.amount, o.cents/100, o.cents%100))
		if o.user == "u2" {
			twice = append(twice, fmt.Sprintf("%d,%d,%d,%s", o.amount, o.id, o.amount, o.user))
		}
	}
	slices.Sort(star)
	slices.Sort(twice)
	fused := ordersDDL(dir) + `
CREATE VIEW v AS SELECT id, user_name, amount, price, big FROM orders WHERE big;
SELECT * FROM v;`
	for _, mode := range []dag.ExecutionMode{dag.BatchMode, dag.StreamingMode} {
		got, _ := run(t, sql.NewEnv(), fused, mode)
		if !slices.Equal(got[0], star) {
			t.Errorf("%v: star: %d rows, want %d; first %q, want %q", mode, len(got[0]), len(star), first(got[0]), first(star))
		}
	}
	// The table read once: its source does the projection (source, the
	// drop of the rows WHERE filtered, result); read twice: a shared
	// source, its computed columns, a projection per query, results.
	once := ordersDDL(dir) + "SELECT amount, id, amount, user_name FROM orders WHERE big AND user_name = 'u2';"
	twiceScript := once + "SELECT amount, id, amount, user_name FROM orders WHERE big AND user_name = 'u2';"
	for _, c := range []struct {
		script   string
		vertices int
	}{{once, 3}, {twiceScript, 6}} {
		g := dag.New("fused", dag.Config{Parallelism: 2, Mode: dag.BatchMode})
		if _, err := sql.NewEnv().Compile(g, c.script); err != nil {
			t.Fatal(err)
		}
		plan, err := g.Build()
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.Vertices) != c.vertices {
			var names []string
			for _, v := range plan.Vertices {
				names = append(names, v.Name)
			}
			t.Errorf("%d vertices %v, want %d", len(plan.Vertices), names, c.vertices)
		}
		got, _ := run(t, sql.NewEnv(), c.script, dag.StreamingMode)
		for i, rows := range got {
			if !slices.Equal(rows, twice) {
				t.Errorf("result %d: %d rows, want %d; first %q, want %q", i, len(rows), len(twice), first(rows), first(twice))
			}
		}
	}
}

// TestFusedJSON: a fused projection and WHERE over JSON lines.
func TestFusedJSON(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	var want []string
	for i := range 50 {
		lines = append(lines, fmt.Sprintf(`{"a": %d, "s": "x%d"}`, i, i%4))
		if i%4 == 1 {
			want = append(want, fmt.Sprintf("X%d,%d", i%4, i*2))
		}
	}
	slices.Sort(want)
	path := dir + "/in.json"
	writeFile(t, path, strings.Join(lines, "\n")+"\n")
	script := fmt.Sprintf(`CREATE TABLE j (a BIGINT, s VARCHAR, d AS a * 2) WITH ('connector' = 'filesystem', 'path' = '%s', 'format' = 'json');
SELECT UPPER(s), d FROM j WHERE s = 'x1';`, path)
	got, _ := run(t, sql.NewEnv(), script, dag.BatchMode)
	if !slices.Equal(got[0], want) {
		t.Errorf("got %v, want %v", got[0], want)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
