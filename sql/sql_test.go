package sql_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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

// TestJoin checks regular inner joins (ON, WHERE pushed to a side, a
// comma join with the equality in WHERE, a condition on both sides)
// against a plain-Go nested loop, in batch and streaming mode.
func TestJoin(t *testing.T) {
	dir := t.TempDir()
	orders := writeOrders(t, dir, 400)
	users := "u0,Paris\nu1,Oslo\nu2,Rome\nu2,Roma\nu3,Lima\nu9,Nowhere\n"
	if err := os.WriteFile(filepath.Join(dir, "users.csv"), []byte(users), 0o644); err != nil {
		t.Fatal(err)
	}
	script := ordersDDL(dir) + fmt.Sprintf(`CREATE TABLE users (name STRING, city STRING)
WITH ('connector' = 'filesystem', 'path' = '%s', 'format' = 'csv');
SELECT o.id, u.city, o.amount FROM orders AS o JOIN users AS u ON o.user_name = u.name WHERE o.amount > 50 AND u.city <> 'Lima';
SELECT o.id, city FROM orders o, users u WHERE u.name = o.user_name AND (o.amount < 5 OR city = 'Oslo');
SELECT a.id, b.id FROM orders a JOIN orders b ON a.amount = b.amount AND a.user_name = b.user_name AND a.id < b.id WHERE a.id < 100;
`, filepath.Join(dir, "users.csv"))
	type user struct{ name, city string }
	var us []user
	for _, l := range strings.Split(strings.TrimSpace(users), "\n") {
		f := strings.Split(l, ",")
		us = append(us, user{f[0], f[1]})
	}
	want := make([][]string, 3)
	for _, o := range orders {
		for _, u := range us {
			if o.user != u.name {
				continue
			}
			if o.amount > 50 && u.city != "Lima" {
				want[0] = append(want[0], fmt.Sprintf("%d,%s,%d", o.id, u.city, o.amount))
			}
			if o.amount < 5 || u.city == "Oslo" {
				want[1] = append(want[1], fmt.Sprintf("%d,%s", o.id, u.city))
			}
		}
		for _, p := range orders {
			if o.id < 100 && o.amount == p.amount && o.user == p.user && o.id < p.id {
				want[2] = append(want[2], fmt.Sprintf("%d,%d", o.id, p.id))
			}
		}
	}
	for _, w := range want {
		if len(w) < 10 {
			t.Fatalf("weak test: %d expected rows", len(w))
		}
		slices.Sort(w)
	}
	for _, mode := range []dag.ExecutionMode{dag.BatchMode, dag.StreamingMode} {
		got, _ := run(t, sql.NewEnv(), script, mode)
		for i := range want {
			if !slices.Equal(got[i], want[i]) {
				t.Errorf("%v: query %d: %d rows, want %d; first %q, want %q", mode, i+1, len(got[i]), len(want[i]), first(got[i]), first(want[i]))
			}
		}
	}
}

// TestGroupBy checks non-window GROUP BY (keys that are expressions,
// FILTER, HAVING, over a join) against a plain-Go computation, in batch
// and streaming mode: a bounded input gives one final row per group.
func TestGroupBy(t *testing.T) {
	dir := t.TempDir()
	orders := writeOrders(t, dir, 2000)
	script := ordersDDL(dir) + `
SELECT user_name, MOD(id, 3) AS m, COUNT(*) AS n, COUNT(*) FILTER (WHERE big) AS nbig,
       SUM(amount) FILTER (WHERE amount < 20) AS small, MAX(price), AVG(amount)
FROM orders WHERE id >= 100 GROUP BY user_name, MOD(id, 3);
SELECT user_name, COUNT(*) AS n FROM orders GROUP BY user_name HAVING SUM(amount) > 14000;
SELECT a.user_name, COUNT(*) FROM orders a JOIN orders b ON a.id = b.id + 1 AND a.user_name = b.user_name GROUP BY a.user_name;
`
	type group struct {
		user          string
		m             int64
		n, nbig, maxp int64
		small, sum    int64
		smallSet      bool
	}
	groups := map[[2]any]*group{}
	sums := map[string]int64{}
	counts := map[string]int64{}
	pairs := map[string]int64{}
	byID := map[int64]order{}
	for _, o := range orders {
		byID[o.id] = o
	}
	for _, o := range orders {
		sums[o.user] += o.amount
		counts[o.user]++
		if p, ok := byID[o.id-1]; ok && p.user == o.user {
			pairs[o.user]++
		}
		if o.id < 100 {
			continue
		}
		k := [2]any{o.user, o.id % 3}
		g := groups[k]
		if g == nil {
			g = &group{user: o.user, m: o.id % 3, maxp: o.cents}
			groups[k] = g
		}
		g.n++
		g.sum += o.amount
		g.maxp = max(g.maxp, o.cents)
		if o.amount >= 50 {
			g.nbig++
		}
		if o.amount < 20 {
			g.small += o.amount
			g.smallSet = true
		}
	}
	want := make([][]string, 3)
	for _, g := range groups {
		small := "NULL"
		if g.smallSet {
			small = fmt.Sprint(g.small)
		}
		want[0] = append(want[0], fmt.Sprintf("%s,%d,%d,%d,%s,%d.%02d,%d", g.user, g.m, g.n, g.nbig, small, g.maxp/100, g.maxp%100, g.sum/g.n))
	}
	for u, s := range sums {
		if s > 14000 {
			want[1] = append(want[1], fmt.Sprintf("%s,%d", u, counts[u]))
		}
	}
	for u, n := range pairs {
		want[2] = append(want[2], fmt.Sprintf("%s,%d", u, n))
	}
	for i, w := range want {
		if len(w) < 2 || i == 1 && len(w) == len(sums) {
			t.Fatalf("weak test: query %d: %d expected rows", i+1, len(w))
		}
		slices.Sort(w)
	}
	for _, mode := range []dag.ExecutionMode{dag.BatchMode, dag.StreamingMode} {
		got, _ := run(t, sql.NewEnv(), script, mode)
		for i := range want {
			if !slices.Equal(got[i], want[i]) {
				t.Errorf("%v: query %d: %d rows, want %d; first %q, want %q", mode, i+1, len(got[i]), len(want[i]), first(got[i]), first(want[i]))
			}
		}
	}
}

// TestTopN checks Top-N and deduplication (ROW_NUMBER() OVER (PARTITION
// BY … ORDER BY …) bounded by the outer WHERE), through a subquery and a
// view, against a plain-Go sort, in batch and streaming mode.
func TestTopN(t *testing.T) {
	dir := t.TempDir()
	orders := writeOrders(t, dir, 1000)
	script := ordersDDL(dir) + `
SELECT user_name, id, amount, rn FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY user_name ORDER BY amount DESC, id) AS rn FROM orders WHERE id >= 10
) WHERE rn <= 3 AND id <> 500;
CREATE VIEW latest AS SELECT user_name, id, ROW_NUMBER() OVER (PARTITION BY user_name ORDER BY ts DESC, id DESC) AS r FROM orders;
SELECT * FROM latest WHERE 1 = r;
SELECT id FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY price) AS k FROM orders) t WHERE t.k < 5;
`
	byUser := map[string][]order{}
	for _, o := range orders {
		byUser[o.user] = append(byUser[o.user], o)
	}
	want := make([][]string, 3)
	for u, os := range byUser {
		top := slices.Clone(os)
		slices.SortFunc(top, func(a, b order) int {
			if a.amount != b.amount {
				return int(b.amount - a.amount)
			}
			return int(a.id - b.id)
		})
		rank := 0
		for _, o := range top {
			if o.id < 10 {
				continue
			}
			if rank++; rank > 3 {
				break
			}
			if o.id != 500 {
				want[0] = append(want[0], fmt.Sprintf("%s,%d,%d,%d", u, o.id, o.amount, rank))
			}
		}
		last := slices.MaxFunc(os, func(a, b order) int {
			if a.ts != b.ts {
				return int(a.ts - b.ts)
			}
			return int(a.id - b.id)
		})
		want[1] = append(want[1], fmt.Sprintf("%s,%d,1", u, last.id))
	}
	cheap := slices.Clone(orders)
	slices.SortFunc(cheap, func(a, b order) int { return int(a.cents - b.cents) })
	for _, o := range cheap[:4] {
		want[2] = append(want[2], fmt.Sprint(o.id))
	}
	for _, w := range want {
		slices.Sort(w)
	}
	for _, mode := range []dag.ExecutionMode{dag.BatchMode, dag.StreamingMode} {
		got, _ := run(t, sql.NewEnv(), script, mode)
		for i := range want {
			if !slices.Equal(got[i], want[i]) {
				t.Errorf("%v: query %d: %q, want %q", mode, i+1, got[i], want[i])
			}
		}
	}
}

// TestDistinctOrderLimit checks SELECT DISTINCT, ORDER BY with and
// without LIMIT, and LIMIT alone against plain Go; the order of ORDER BY
// results is checked as collected.
func TestDistinctOrderLimit(t *testing.T) {
	dir := t.TempDir()
	orders := writeOrders(t, dir, 1500)
	script := ordersDDL(dir) + `
SELECT DISTINCT user_name, big FROM orders WHERE id < 1000;
SELECT id, amount FROM orders WHERE amount > 3 ORDER BY amount DESC, id LIMIT 7;
SELECT DISTINCT amount FROM orders LIMIT 3;
`
	type ub struct {
		u string
		b bool
	}
	seen := map[ub]bool{}
	var want0 []string
	amounts := map[int64]bool{}
	for _, o := range orders {
		amounts[o.amount] = true
		k := ub{o.user, o.amount >= 50}
		if o.id < 1000 && !seen[k] {
			seen[k] = true
			want0 = append(want0, fmt.Sprintf("%s,%v", k.u, strings.ToUpper(fmt.Sprint(k.b))))
		}
	}
	slices.Sort(want0)
	byAmount := slices.Clone(orders)
	slices.SortStableFunc(byAmount, func(a, b order) int {
		if a.amount != b.amount {
			return int(b.amount - a.amount)
		}
		return int(a.id - b.id)
	})
	var want1 []string
	for _, o := range byAmount[:7] {
		want1 = append(want1, fmt.Sprintf("%d,%d", o.id, o.amount))
	}
	for _, mode := range []dag.ExecutionMode{dag.BatchMode, dag.StreamingMode} {
		got, job := run(t, sql.NewEnv(), script, mode)
		if !slices.Equal(got[0], want0) {
			t.Errorf("%v: DISTINCT: %q, want %q", mode, got[0], want0)
		}
		var ordered []string
		for _, r := range job.Results[1].Rows() {
			ordered = append(ordered, strings.Join(sql.FormatRow(job.Results[1].Schema, r), ","))
		}
		if !slices.Equal(ordered, want1) {
			t.Errorf("%v: ORDER BY … LIMIT: %q, want %q", mode, ordered, want1)
		}
		if len(got[2]) != 3 || len(amounts) < 3 {
			t.Errorf("%v: DISTINCT … LIMIT 3: %q", mode, got[2])
		}
		for _, a := range got[2] {
			v, err := strconv.ParseInt(a, 10, 64)
			if err != nil || !amounts[v] {
				t.Errorf("%v: DISTINCT … LIMIT 3: %q is no amount", mode, a)
			}
		}
	}
	// ORDER BY without LIMIT: batch mode, the whole result sorted.
	_, job := run(t, sql.NewEnv(), ordersDDL(dir)+"SELECT user_name, COUNT(*) AS n FROM orders GROUP BY user_name ORDER BY n DESC, user_name", dag.BatchMode)
	counts := map[string]int{}
	for _, o := range orders {
		counts[o.user]++
	}
	var want3 []string
	for u, n := range counts {
		want3 = append(want3, fmt.Sprintf("%s,%d", u, n))
	}
	slices.SortFunc(want3, func(a, b string) int {
		na, _ := strconv.Atoi(a[strings.Index(a, ",")+1:])
		nb, _ := strconv.Atoi(b[strings.Index(b, ",")+1:])
		if na != nb {
			return nb - na
		}
		return strings.Compare(a, b)
	})
	var got3 []string
	for _, r := range job.Results[0].Rows() {
		got3 = append(got3, strings.Join(sql.FormatRow(job.Results[0].Schema, r), ","))
	}
	if !slices.Equal(got3, want3) {
		t.Errorf("ORDER BY: %q, want %q", got3, want3)
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
		{ddl + "SELECT s, COUNT(*) FROM t GROUP BY a", "line 3:8: column s is neither grouped nor aggregated"},
		{ddl + "SELECT COUNT(*) FROM t", "line 3:8: aggregate COUNT without GROUP BY (a global aggregate) is not supported yet"},
		{ddl + "SELECT a, COUNT(*) FILTER (WHERE s) FROM t GROUP BY a", "line 3:11: COUNT FILTER condition is VARCHAR, want BOOLEAN"},
		{ddl + "SELECT UPPER(s) FILTER (WHERE a > 1) FROM t", "line 3:8: FILTER (WHERE …) is only allowed on an aggregate, not on UPPER"},
		{ddl + "SELECT DATE_FORMAT(ts, s) FROM t", "line 3:8: DATE_FORMAT needs a constant pattern"},
		{ddl + "SELECT DATE_FORMAT(ts, 'yyyy-ww') FROM t", `line 3:8: DATE_FORMAT pattern "yyyy-ww": unsupported "w"`},
		{ddl + "SELECT a, COUNT(*) FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY window_start, window_end",
			"line 3:8: column a is neither grouped nor aggregated"},
		{ddl + "SELECT COUNT(*) FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(a), INTERVAL '1' SECOND)) GROUP BY window_start, window_end",
			"line 3:55: DESCRIPTOR(a) is not the time attribute"},
		{ddl + "SELECT COUNT(*) FROM TABLE(HOP(TABLE t, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY window_start, window_end",
			"line 3:28: HOP takes TABLE t, DESCRIPTOR(col) and slide, size, got 1 intervals"},
		{ddl + "SELECT * FROM t LEFT JOIN t AS u ON t.a = u.a", "line 3:17: LEFT JOIN is not supported yet"},
		{ddl + "SELECT * FROM t JOIN t AS u ON t.a < u.a", "line 3:17: JOIN needs an equality of a left and a right column"},
		{ddl + "SELECT * FROM t, t AS u WHERE t.a + u.a = 1", "line 3:16: JOIN needs an equality of a left and a right column"},
		{ddl + "SELECT * FROM t JOIN t AS u ON t.a = u.s", "line 3:32: JOIN key t.a is BIGINT, u.s is VARCHAR: cast one side"},
		{ddl + "SELECT * FROM t JOIN t AS u ON t.ts = u.a", "line 3:32: JOIN key t.ts is TIMESTAMP(3), u.a is BIGINT: cast one side"},
		{ddl + "SELECT * FROM t JOIN t AS u ON t.a = CAST(u.a AS DECIMAL(10, 2))", "line 3:32: JOIN key t.a is BIGINT, CAST(u.a AS DECIMAL(10, 2)) is DECIMAL(10, 2): cast one side"},
		{ddl + "SELECT * FROM t JOIN t AS u ON t.a = u.nope", "line 3:38: unknown column u.nope"},
		{ddl + "SELECT a FROM t JOIN t AS u ON t.a = u.a", "line 3:8: column a is ambiguous"},
		{ddl + "SELECT * FROM (SELECT a, ROW_NUMBER() OVER (ORDER BY a) AS rn FROM t)", "line 3:26: ROW_NUMBER() needs an outer WHERE rn <= N (Top-N) or rn = 1 (deduplication)"},
		{ddl + "SELECT * FROM (SELECT a, RANK() OVER (ORDER BY a) AS rn FROM t) WHERE rn <= 3", "line 3:26: RANK(…) OVER (…) is not supported yet: only ROW_NUMBER()"},
		{ddl + "SELECT * FROM (SELECT a, ROW_NUMBER() OVER (PARTITION BY a) AS rn FROM t) WHERE rn <= 3", "line 3:39: ROW_NUMBER() OVER (…) needs an ORDER BY"},
		{ddl + "SELECT * FROM (SELECT a, ROW_NUMBER() OVER (ORDER BY a) FROM t) WHERE rn <= 3", "line 3:26: ROW_NUMBER() OVER (…) needs a name (AS rn)"},
		{ddl + "SELECT * FROM (SELECT a, ROW_NUMBER() OVER (ORDER BY a) AS rn FROM t) WHERE rn = 2", "line 3:80: rn = 2 is not supported: a Top-N keeps the ranks up to N"},
		{ddl + "SELECT * FROM (SELECT a, ROW_NUMBER() OVER (ORDER BY a) AS rn FROM t) WHERE rn < 1", "line 3:80: (rn < 1) keeps no rank"},
		{ddl + "SELECT * FROM (SELECT a, ROW_NUMBER() OVER (ORDER BY nope) AS rn FROM t) WHERE rn <= 1", "line 3:54: unknown column nope"},
		{ddl + "SELECT a, ROW_NUMBER() OVER (ORDER BY a) AS rn FROM t", "line 3:11: ROW_NUMBER(…) OVER (…) is only supported as a Top-N rank"},
		{ddl + "INSERT INTO t SELECT a FROM t", "line 3:15: INSERT INTO t: the query has 1 columns, the table 3 physical columns"},
		{ddl + "CREATE TABLE t (a INT) WITH ('connector' = 'print')", "line 3:14: table t already exists"},
		{"CREATE TABLE u (a INT) WITH ('connector' = 'nope')", `line 1:1: table u: unknown connector "nope" (known: blackhole, datagen, filesystem, kafka, print)`},
		{"CREATE TABLE u (a INT, WATERMARK FOR a AS a) WITH ('connector' = 'print')", "line 1:38: WATERMARK column a is BIGINT, want TIMESTAMP(3)"},
		{"CREATE TABLE u (a FOO) WITH ('connector' = 'print')", "line 1:19: unknown or unsupported type FOO"},
		{"CREATE TABLE u (a INT, b AS c + 1) WITH ('connector' = 'print')", "line 1:29: unknown column c"},
		{"CREATE TABLE u (a INT) WITH ('connector' = 'print'); SELECT * FROM u", "line 1:68: table u (declared at 1:1): the print connector is a sink only"},
		{"CREATE TABLE u (a INT) WITH ('connector' = 'filesystem'); SELECT * FROM u", "the filesystem connector needs a 'path' option"},
		{"SELEC", "sql: parser: line 1:1: expected a statement"},
		{ddl + "SELECT a FROM t ORDER BY a", "line 3:26: ORDER BY without LIMIT needs batch mode"},
		{ddl + "CREATE VIEW v AS SELECT a, PROCTIME() AS p FROM t;\nSELECT COUNT(*) FROM TABLE(HOP(TABLE v, DESCRIPTOR(p), INTERVAL '1' SECOND, INTERVAL '2' SECOND)) GROUP BY window_start, window_end",
			"line 4:28: over the processing-time attribute p only TUMBLE(TABLE t, DESCRIPTOR(p), size) is supported"},
		{ddl + "SELECT PROCTIME(a) FROM t", "line 3:8: PROCTIME takes no arguments"},
		{ddl + "SELECT a FROM t ORDER BY b LIMIT 1", "line 3:26: unknown column b"},
		{ddl + "SELECT a FROM t LIMIT 0", "line 3:23: LIMIT 0: want a positive integer literal"},
		{ddl + "SELECT a FROM t LIMIT a", "line 3:23: LIMIT a: want a positive integer literal"},
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

// TestReuseWindowAggregate: a script that writes the same window
// aggregation twice (as Nexmark q5 does) plans one watermark and one
// window aggregate, and both readers get its rows.
func TestReuseWindowAggregate(t *testing.T) {
	dir := t.TempDir()
	writeOrders(t, dir, 500)
	script := ordersDDL(dir) + `
SELECT a.user_name, a.n FROM
  (SELECT user_name, COUNT(*) AS n, window_start AS s FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '1' SECOND))
   GROUP BY user_name, window_start, window_end) a
JOIN
  (SELECT MAX(c.n) AS m, c.s FROM
    (SELECT COUNT(*) AS n, window_start AS s FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '1' SECOND))
     GROUP BY user_name, window_start, window_end) c
   GROUP BY c.s) b
ON a.s = b.s AND a.n = b.m;`
	env := sql.NewEnv()
	g := dag.New("reuse", dag.Config{Parallelism: 2, Mode: dag.BatchMode})
	if _, err := env.Compile(g, script); err != nil {
		t.Fatal(err)
	}
	plan, err := g.Build()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := plan.Explain(&b, "text"); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"tumble-", "watermark-"} {
		n := 0
		for _, l := range strings.Split(b.String(), "\n") {
			if strings.Contains(l, "vertex ") && strings.Contains(l, kind) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d %s vertices, want 1:\n%s", n, kind, b.String())
		}
	}
	got, _ := run(t, sql.NewEnv(), script, dag.BatchMode)
	if len(got[0]) < 5 {
		t.Errorf("weak test: %d rows", len(got[0]))
	}
}

// TestProctimeTumble: a TUMBLE over a PROCTIME() column counts every row
// once, in aligned windows of its size, in both modes (which window a row
// falls in depends on the clock).
func TestProctimeTumble(t *testing.T) {
	dir := t.TempDir()
	orders := writeOrders(t, dir, 800)
	script := ordersDDL(dir) + `
CREATE VIEW o AS SELECT user_name, PROCTIME() AS pt FROM orders;
SELECT user_name, COUNT(*), CAST(window_start AS BIGINT), CAST(window_end AS BIGINT)
FROM TABLE(TUMBLE(TABLE o, DESCRIPTOR(pt), INTERVAL '2' SECOND)) GROUP BY user_name, window_start, window_end;`
	want := map[string]int{}
	for _, o := range orders {
		want[o.user]++
	}
	for _, mode := range []dag.ExecutionMode{dag.BatchMode, dag.StreamingMode} {
		got, _ := run(t, sql.NewEnv(), script, mode)
		counts := map[string]int{}
		for _, l := range got[0] {
			f := strings.Split(l, ",")
			n, _ := strconv.Atoi(f[1])
			start, _ := strconv.ParseInt(f[2], 10, 64)
			end, _ := strconv.ParseInt(f[3], 10, 64)
			if end-start != 2000 || start%2000 != 0 {
				t.Errorf("%v: window %d..%d", mode, start, end)
			}
			counts[f[0]] += n
		}
		if !maps.Equal(counts, want) {
			t.Errorf("%v: counts %v, want %v", mode, counts, want)
		}
	}
}

// TestWindowJoin: two aggregations of the same windows joined on their
// keys, window_start and window_end compile to a window join (whose state
// goes when a window fires), and give the rows computed in plain Go, in
// both modes; joined on window_start alone they stay a regular join.
func TestWindowJoin(t *testing.T) {
	dir := t.TempDir()
	orders := writeOrders(t, dir, 2000)
	agg := func(what string) string {
		return `(SELECT user_name, ` + what + ` AS v, window_start AS ws, window_end AS we
  FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY user_name, window_start, window_end)`
	}
	query := `SELECT a.user_name, a.v, b.v, CAST(a.ws AS BIGINT) FROM ` + agg("COUNT(*)") + ` a JOIN ` + agg("MAX(amount)") +
		` b ON a.user_name = b.user_name AND a.ws = b.ws AND b.we = a.we`
	type key struct {
		user  string
		start int64
	}
	n, m := map[key]int64{}, map[key]int64{}
	for _, o := range orders {
		k := key{o.user, o.ts - o.ts%1000}
		n[k]++
		m[k] = max(m[k], o.amount)
	}
	var want []string
	for k := range n {
		want = append(want, fmt.Sprintf("%s,%d,%d,%d", k.user, n[k], m[k], k.start))
	}
	slices.Sort(want)
	explain := func(q string) string {
		g := dag.New("wj", dag.Config{Parallelism: 2, Mode: dag.BatchMode})
		if _, err := sql.NewEnv().Compile(g, ordersDDL(dir)+q); err != nil {
			t.Fatal(err)
		}
		plan, err := g.Build()
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := plan.Explain(&b, "text"); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	if e := explain(query); !strings.Contains(e, "window-join") {
		t.Errorf("no window join in the plan:\n%s", e)
	}
	if e := explain(strings.Replace(query, " AND b.we = a.we", "", 1)); strings.Contains(e, "window-join") {
		t.Errorf("a join on window_start alone is a window join:\n%s", e)
	}
	for _, mode := range []dag.ExecutionMode{dag.BatchMode, dag.StreamingMode} {
		got, _ := run(t, sql.NewEnv(), ordersDDL(dir)+query, mode)
		if !slices.Equal(got[0], want) {
			t.Errorf("%v: %d rows, want %d; first %q, want %q", mode, len(got[0]), len(want), first(got[0]), first(want))
		}
	}
}
