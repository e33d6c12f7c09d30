package sql_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/io/fileio"
	"github.com/dagflow/dagflow/sql"
	"github.com/dagflow/dagflow/sql/expr"
	"github.com/dagflow/dagflow/sql/types"
)

// order is one generated input record.
type order struct {
	id     int64
	user   string
	amount int64
	cents  int64 // price, DECIMAL(10, 2)
	ts     int64
}

// writeOrders writes n orders over about n*10 ms of event time, up to
// 500 ms out of order, to a CSV file and returns them.
func writeOrders(t *testing.T, dir string, n int) []order {
	t.Helper()
	rnd := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	var out []order
	for i := range n {
		o := order{id: int64(i), user: fmt.Sprintf("u%d", rnd.IntN(7)), amount: rnd.Int64N(100),
			cents: rnd.Int64N(100_000), ts: 1_700_000_000_000 + int64(i)*10 + rnd.Int64N(500)}
		out = append(out, o)
		fmt.Fprintf(&b, "%d,%s,%d,%d.%02d,%d\n", o.id, o.user, o.amount, o.cents/100, o.cents%100, o.ts)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "orders.csv"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func ordersDDL(dir string) string {
	return fmt.Sprintf(`CREATE TABLE orders (
  id BIGINT, user_name STRING, amount INT, price DECIMAL(10, 2), ts TIMESTAMP(3),
  big AS amount >= 50,
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH ('connector' = 'filesystem', 'path' = '%s', 'format' = 'csv');
`, filepath.Join(dir, "orders.csv"))
}

// run compiles and runs script in mode and returns the formatted rows of
// its SELECT results (sorted) and the job.
func run(t *testing.T, env *sql.Env, script string, mode dag.ExecutionMode) ([][]string, *sql.Job) {
	t.Helper()
	g := dag.New("sql-test", dag.Config{Parallelism: 2, Mode: mode})
	job, err := env.Compile(g, script)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dagflow.Run(context.Background(), g, dagflow.Options{Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatalf("%v: %v", mode, err)
	}
	var out [][]string
	for _, res := range job.Results {
		var lines []string
		for _, r := range res.Rows() {
			lines = append(lines, strings.Join(sql.FormatRow(res.Schema, r), ","))
		}
		slices.Sort(lines)
		out = append(out, lines)
	}
	return out, job
}

func TestProjectionFilterCase(t *testing.T) {
	dir := t.TempDir()
	orders := writeOrders(t, dir, 3000)
	script := ordersDDL(dir) + `
SELECT id, UPPER(user_name) AS u, price * 2 AS double_price,
       CASE WHEN amount < 10 THEN 'small' WHEN big THEN 'big' ELSE 'mid' END AS size
FROM orders WHERE MOD(id, 3) = 0 AND user_name <> 'u1';`
	var want []string
	for _, o := range orders {
		if o.id%3 != 0 || o.user == "u1" {
			continue
		}
		size := "mid"
		if o.amount < 10 {
			size = "small"
		} else if o.amount >= 50 {
			size = "big"
		}
		d := 2 * o.cents
		want = append(want, fmt.Sprintf("%d,%s,%d.%02d,%s", o.id, strings.ToUpper(o.user), d/100, d%100, size))
	}
	slices.Sort(want)
	for _, mode := range []dag.ExecutionMode{dag.BatchMode, dag.StreamingMode} {
		got, _ := run(t, sql.NewEnv(), script, mode)
		if !slices.Equal(got[0], want) {
			t.Errorf("%v: %d rows, want %d; first %q, want %q", mode, len(got[0]), len(want), first(got[0]), first(want))
		}
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// TestWindowAggregates checks TUMBLE, HOP and SESSION aggregations
// against a plain-Go computation, in batch and streaming mode.
func TestWindowAggregates(t *testing.T) {
	dir := t.TempDir()
	orders := writeOrders(t, dir, 3000)
	script := ordersDDL(dir) + `
CREATE VIEW cheap AS SELECT user_name, amount, ts FROM orders WHERE amount < 90;
SELECT user_name, window_start, window_end, COUNT(*) AS n, SUM(amount) AS total, MAX(price), MIN(user_name), AVG(amount)
FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '5' SECOND))
GROUP BY user_name, window_start, window_end;
SELECT window_start, COUNT(*) AS n FROM TABLE(HOP(TABLE cheap, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '6' SECOND))
GROUP BY window_start, window_end HAVING COUNT(*) > 100;
SELECT user_name, window_start, window_end, COUNT(*) FROM TABLE(SESSION(TABLE orders, DESCRIPTOR(ts), INTERVAL '100' MILLISECOND))
WHERE amount = 7 GROUP BY user_name, window_start, window_end;`

	type key struct {
		user  string
		start int64
	}
	// TUMBLE.
	type agg struct{ n, total, maxCents, sum int64 }
	tumble := map[key]*agg{}
	for _, o := range orders {
		k := key{o.user, o.ts - o.ts%5000}
		a := tumble[k]
		if a == nil {
			a = &agg{}
			tumble[k] = a
		}
		a.n++
		a.total += o.amount
		a.maxCents = max(a.maxCents, o.cents)
	}
	var wantTumble []string
	ts := func(ms int64) string { return string(expr.AppendValue(nil, types.TIMESTAMP, ms)) }
	for k, a := range tumble {
		wantTumble = append(wantTumble, fmt.Sprintf("%s,%s,%s,%d,%d,%d.%02d,%s,%d", k.user, ts(k.start), ts(k.start+5000),
			a.n, a.total, a.maxCents/100, a.maxCents%100, k.user, a.total/a.n))
	}
	slices.Sort(wantTumble)
	// HOP over the view.
	hop := map[int64]int64{}
	for _, o := range orders {
		if o.amount >= 90 {
			continue
		}
		for s := o.ts - o.ts%2000; s > o.ts-6000; s -= 2000 {
			hop[s]++
		}
	}
	var wantHop []string
	for s, n := range hop {
		if n > 100 {
			wantHop = append(wantHop, fmt.Sprintf("%s,%d", ts(s), n))
		}
	}
	slices.Sort(wantHop)
	// SESSION per user over the orders of amount 7, gap 100 ms.
	byUser := map[string][]int64{}
	for _, o := range orders {
		if o.amount == 7 {
			byUser[o.user] = append(byUser[o.user], o.ts)
		}
	}
	var wantSession []string
	for u, tss := range byUser {
		slices.Sort(tss)
		start, last, n := tss[0], tss[0], int64(1)
		for _, x := range tss[1:] {
			if x < last+100 {
				last, n = max(last, x), n+1
				continue
			}
			wantSession = append(wantSession, fmt.Sprintf("%s,%s,%s,%d", u, ts(start), ts(last+100), n))
			start, last, n = x, x, 1
		}
		wantSession = append(wantSession, fmt.Sprintf("%s,%s,%s,%d", u, ts(start), ts(last+100), n))
	}
	slices.Sort(wantSession)
	if len(wantTumble) < 20 || len(wantHop) < 10 || len(wantSession) < 20 {
		t.Fatalf("weak test: %d %d %d expected rows", len(wantTumble), len(wantHop), len(wantSession))
	}
	for _, mode := range []dag.ExecutionMode{dag.BatchMode, dag.StreamingMode} {
		got, _ := run(t, sql.NewEnv(), script, mode)
		for i, want := range [][]string{wantTumble, wantHop, wantSession} {
			if !slices.Equal(got[i], want) {
				t.Errorf("%v query %d: %d rows, want %d\n got %q\nwant %q", mode, i, len(got[i]), len(want), first(got[i]), first(want))
			}
		}
	}
}

// TestInsertIntoSinks writes two sinks from one job: CSV and JSON lines.
func TestInsertIntoSinks(t *testing.T) {
	dir := t.TempDir()
	orders := writeOrders(t, dir, 500)
	out1, out2 := filepath.Join(dir, "out1"), filepath.Join(dir, "out2")
	script := ordersDDL(dir) + fmt.Sprintf(`
CREATE TABLE s1 (id BIGINT, p DECIMAL(12, 2)) WITH ('connector' = 'filesystem', 'path' = '%s', 'format' = 'csv');
CREATE TABLE s2 (u VARCHAR, n BIGINT, flag BOOLEAN) WITH ('connector' = 'filesystem', 'path' = '%s', 'format' = 'json');
INSERT INTO s1 SELECT id, price FROM orders WHERE id < 3;
INSERT INTO s2 SELECT user_name, amount, big FROM orders WHERE id = 4;
`, out1, out2)
	_, job := run(t, sql.NewEnv(), script, dag.BatchMode)
	if !slices.Equal(job.Inserts, []string{"s1", "s2"}) {
		t.Errorf("inserts %v", job.Inserts)
	}
	got1, err := fileio.ReadAllLines(context.Background(), nil, out1)
	if err != nil {
		t.Fatal(err)
	}
	var want1 []string
	for _, o := range orders[:3] {
		want1 = append(want1, fmt.Sprintf("%d,%d.%02d", o.id, o.cents/100, o.cents%100))
	}
	slices.Sort(got1)
	if !slices.Equal(got1, want1) {
		t.Errorf("s1: %q, want %q", got1, want1)
	}
	got2, err := fileio.ReadAllLines(context.Background(), nil, out2)
	if err != nil {
		t.Fatal(err)
	}
	o := orders[4]
	want2 := fmt.Sprintf(`{"u":%q,"n":%d,"flag":%v}`, o.user, o.amount, o.amount >= 50)
	if len(got2) != 1 || got2[0] != want2 {
		t.Errorf("s2: %q, want %q", got2, want2)
	}
}

func TestUDFAndUnion(t *testing.T) {
	dir := t.TempDir()
	orders := writeOrders(t, dir, 200)
	env := sql.NewEnv()
	if err := env.RegisterFunction("bucket", expr.UDF{Args: []types.Type{types.BIGINT}, Result: types.VARCHAR,
		Eval: func(a []expr.Value) expr.Value { return expr.Value{Bytes: []byte(fmt.Sprintf("b%d", a[0].Int/25))} }}); err != nil {
		t.Fatal(err)
	}
	script := ordersDDL(dir) + `
SELECT id, bucket(amount) FROM orders WHERE id < 5 UNION ALL SELECT id + 1000, 'x' FROM orders WHERE id < 2;
SELECT * FROM (SELECT id, id FROM orders WHERE id = 3) AS dup;`
	got, _ := run(t, env, script, dag.BatchMode)
	var want []string
	for _, o := range orders[:5] {
		want = append(want, fmt.Sprintf("%d,b%d", o.id, o.amount/25))
	}
	want = append(want, "1000,x", "1001,x")
	slices.Sort(want)
	if !slices.Equal(got[0], want) {
		t.Errorf("got %q, want %q", got[0], want)
	}
	if !slices.Equal(got[1], []string{"3,3"}) {
		t.Errorf("SELECT * of duplicate names: %q", got[1])
	}
}

// TestErrors: bad SQL, unknown names and type errors give an error with a
// position, never a panic, and leave the catalog unchanged.
func TestErrors(t *testing.T) {
	ddl := `CREATE TABLE t (a BIGINT, s VARCHAR, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
WITH ('connector' = 'filesystem', 'path' = 'x', 'format' = 'csv');
`
	for _, c := range []struct{ script, want string }{
		{"SELECT a FROM nope", "sql: line 1:15: unknown table or view nope"},
		{ddl + "SELECT b FROM t", "sql: line 3:8: unknown column b (known: t.a, t.s, t.ts)"},
		{ddl + "SELECT a + s FROM t", "sql: line 3:10: operator + needs numbers, got BIGINT and VARCHAR"},
		{ddl + "SELECT a FROM t WHERE a", "sql: line 3:23: WHERE condition is BIGINT, want BOOLEAN"},
		{ddl + "SELECT a FROM t GROUP BY a", "line 3:26: GROUP BY without a window table-valued function"},
		{ddl + "SELECT a, COUNT(*) FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY window_start, window_end",
			"line 3:8: column a is neither grouped nor aggregated"},
		{ddl + "SELECT COUNT(*) FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(a), INTERVAL '1' SECOND)) GROUP BY window_start, window_end",
			"line 3:55: DESCRIPTOR(a) is not the time attribute"},
		{ddl + "SELECT COUNT(*) FROM TABLE(HOP(TABLE t, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY window_start, window_end",
			"line 3:28: HOP takes TABLE t, DESCRIPTOR(col) and slide, size, got 1 intervals"},
		{ddl + "SELECT * FROM t JOIN t AS u ON t.a = u.a", "line 3:17: INNER JOIN is not supported yet"},
		{ddl + "SELECT * FROM (SELECT a, ROW_NUMBER() OVER (ORDER BY a) AS rn FROM t)", "line 3:26: ROW_NUMBER(…) OVER (…) is only supported as a Top-N rank"},
		{ddl + "INSERT INTO t SELECT a FROM t", "line 3:15: INSERT INTO t: the query has 1 columns, the table 3 physical columns"},
		{ddl + "CREATE TABLE t (a INT) WITH ('connector' = 'print')", "line 3:14: table t already exists"},
		{"CREATE TABLE u (a INT) WITH ('connector' = 'nope')", `line 1:1: table u: unknown connector "nope" (known: blackhole, datagen, filesystem, kafka, print)`},
		{"CREATE TABLE u (a INT, WATERMARK FOR a AS a) WITH ('connector' = 'print')", "line 1:38: WATERMARK column a is BIGINT, want TIMESTAMP(3)"},
		{"CREATE TABLE u (a FOO) WITH ('connector' = 'print')", "line 1:19: unknown or unsupported type FOO"},
		{"CREATE TABLE u (a INT, b AS c + 1) WITH ('connector' = 'print')", "line 1:29: unknown column c"},
		{"CREATE TABLE u (a INT) WITH ('connector' = 'print'); SELECT * FROM u", "line 1:68: table u (declared at 1:1): the print connector is a sink only"},
		{"CREATE TABLE u (a INT) WITH ('connector' = 'filesystem'); SELECT * FROM u", "the filesystem connector needs a 'path' option"},
		{"SELEC", "sql: parser: line 1:1: expected a statement"},
	} {
		env := sql.NewEnv()
		g := dag.New("bad", dag.Config{})
		_, err := env.Compile(g, c.script)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s\n got %v\nwant %s", c.script, err, c.want)
		}
		if _, ok := env.Table("t"); ok {
			t.Errorf("a failed script added table t")
		}
	}
}

func TestExplain(t *testing.T) {
	dir := t.TempDir()
	writeOrders(t, dir, 10)
	env := sql.NewEnv()
	g := dag.New("explain", dag.Config{Parallelism: 2, Mode: dag.BatchMode})
	job, err := env.Compile(g, ordersDDL(dir)+`EXPLAIN SELECT user_name, COUNT(*) FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY user_name, window_start, window_end`)
	if err != nil {
		t.Fatal(err)
	}
	if !job.Explain {
		t.Error("EXPLAIN not flagged")
	}
	plan, err := g.Build()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := plan.Explain(&b, "text"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"source-orders", "tumble", "hash", "blocking"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, b.String())
		}
	}
}
