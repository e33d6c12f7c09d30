package nexmark

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/sql"
)

// runSQLAndHandWritten runs the SQL version of query name and its
// hand-written DAG version in one job over gen's events (one shared
// source) and returns both summaries.
func runSQLAndHandWritten(t testing.TB, name string, gen *Generator, mode dag.ExecutionMode) (sqlSum, handSum Summary) {
	t.Helper()
	q, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	script, err := SQLQuery(name)
	if err != nil {
		t.Fatal(err)
	}
	g := dag.New(name, dag.Config{Parallelism: 2, Mode: mode})
	env, conn, err := gen.SQLEnv(g.Config())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Compile(g, script); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	hand := q.AddTo(conn.Events(g), "hand-written")
	res, err := dagflow.Run(context.Background(), g, dagflow.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("%s %v: %v", name, mode, err)
	}
	for _, v := range res.Vertices {
		if v.LateDropped > 0 {
			t.Errorf("%s %v: vertex %s dropped %d late records", name, mode, v.Name, v.LateDropped)
		}
	}
	sum, ok := conn.Checksum("nexmark_" + name)
	if !ok {
		t.Fatalf("%s: no sink table nexmark_%s", name, name)
	}
	return sum.Summary(), hand.Summary()
}

// lookupWithReference returns the query named name and the summary of its
// reference output over events.
func lookupWithReference(t *testing.T, name string, events []Event) (Query, Summary) {
	t.Helper()
	q, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	want, err := q.Reference(events)
	if err != nil {
		t.Fatal(err)
	}
	return q, want
}

// TestSQLQueriesMatchHandWritten runs every query of bench/nexmark/sql/
// in batch and streaming mode, next to its hand-written DAG version on
// the same events, and compares both checksums with each other and with
// the plain-Go reference.
func TestSQLQueriesMatchHandWritten(t *testing.T) {
	slow := Config{Events: 20_000, Seed: 7, EventRate: 25, OutOfOrderness: 5 * time.Second, BaseTime: 1_600_000_000_123}
	names := SQLQueries()
	if len(names) < 7 {
		t.Fatalf("only %d SQL queries: %v", len(names), names)
	}
	for _, cfg := range []Config{testConfig(), slow} {
		gen := testGenerator(t, engineConfig(cfg))
		events := gen.Events(0, gen.Config().Events)
		for _, name := range names {
			if q, err := Lookup(name); err != nil || !q.Deterministic {
				continue // q12: TestSQLQ12
			}
			t.Run(fmt.Sprintf("%s/rate=%v", name, cfg.EventRate), func(t *testing.T) {
				_, want := lookupWithReference(t, name, events)
				if n := minRows[name]; cfg == testConfig() && want.Records < int64(max(n, 1)) && !raceEnabled {
					t.Errorf("weak test: the reference has %d rows, want at least %d", want.Records, n)
				}
				for _, mode := range []dag.ExecutionMode{dag.BatchMode, dag.StreamingMode} {
					sqlSum, handSum := runSQLAndHandWritten(t, name, gen, mode)
					if sqlSum != handSum || sqlSum != want {
						t.Errorf("%v: SQL %v, hand-written %v, reference %v", mode, sqlSum, handSum, want)
					}
				}
			})
		}
	}
}

// TestSQLQ12 runs the SQL q12 (processing-time windows, whose rows depend
// on the speed of the run) in both modes and checks what does not depend
// on it: the windows are 10 s long and aligned, and the bid counts of every
// bidder add up to its bids in the input.
func TestSQLQ12(t *testing.T) {
	gen := testGenerator(t, engineConfig(testConfig()))
	want := map[int64]int64{}
	for _, e := range gen.Events(0, gen.Config().Events) {
		if e.Type == BidEvent {
			want[e.Bid.Bidder]++
		}
	}
	script, err := SQLQuery("q12")
	if err != nil {
		t.Fatal(err)
	}
	// The query's SELECT, collected instead of inserted.
	query := script[strings.Index(script, "SELECT bidder"):]
	script = script[:strings.Index(script, "INSERT INTO")] + query
	for _, mode := range []dag.ExecutionMode{dag.BatchMode, dag.StreamingMode} {
		g := dag.New("q12", dag.Config{Parallelism: 2, Mode: mode})
		env, _, err := gen.SQLEnv(g.Config())
		if err != nil {
			t.Fatal(err)
		}
		job, err := env.Compile(g, script)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dagflow.Run(context.Background(), g, dagflow.Options{Logger: slog.New(slog.DiscardHandler)}); err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		got := map[int64]int64{}
		res := job.Results[0]
		for _, r := range res.Rows() {
			f := sql.FormatRow(res.Schema, r)
			var bidder, n int64
			fmt.Sscan(f[0], &bidder)
			fmt.Sscan(f[1], &n)
			start, err1 := time.Parse(time.DateTime+".000", f[2])
			end, err2 := time.Parse(time.DateTime+".000", f[3])
			if err1 != nil || err2 != nil || end.Sub(start) != 10*time.Second || start.UnixMilli()%10_000 != 0 {
				t.Fatalf("%v: bad window %q", mode, f)
			}
			got[bidder] += n
		}
		if !maps.Equal(got, want) || len(want) < 10 {
			t.Errorf("%v: bids per bidder %v, want %v", mode, got, want)
		}
	}
}

// TestSQLErrors: a query over the nexmark tables with a type error or an
// unknown column is refused with its position.
func TestSQLErrors(t *testing.T) {
	gen := testGenerator(t, Config{Events: 10})
	for _, c := range []struct{ script, want string }{
		{"SELECT auction, nope FROM bid", "sql: line 1:17: unknown column nope"},
		{"SELECT auction FROM bid WHERE channel > 5", "sql: line 1:39: cannot compare VARCHAR with BIGINT"},
		{"CREATE TABLE x (auction VARCHAR) WITH ('connector' = 'nexmark', 'table' = 'bid'); SELECT * FROM x",
			"field bid.auction is BIGINT, declared VARCHAR"},
		{"CREATE TABLE x (a BIGINT) WITH ('connector' = 'nexmark', 'table' = 'bids'); SELECT * FROM x",
			"option 'table' must be bid, auction or person"},
	} {
		g := dag.New("bad", dag.Config{})
		env, _, err := gen.SQLEnv(g.Config())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Compile(g, c.script); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s\n got %v\nwant %s", c.script, err, c.want)
		}
	}
	if _, err := SQLQuery("q6"); err == nil {
		t.Error("SQLQuery(q6) did not fail")
	}
}

// unboundedSource makes the generator's bounded source look unbounded to
// the engine, so that continuous operators emit updates as they go; its
// readers still end with the generated events.
type unboundedSource struct{ dag.Source[Event] }

func (unboundedSource) Bounded() bool { return false }

// TestSQLUpsertsOnUnboundedInput runs the SQL q17 (a continuous GROUP BY)
// and q19 (a Top-N) over an input the engine takes as unbounded: they emit
// updated rows as batches arrive (more rows than groups), and the last row
// of every group equals the final row of a batch run.
func TestSQLUpsertsOnUnboundedInput(t *testing.T) {
	gen := testGenerator(t, engineConfig(testConfig()))
	for _, c := range []struct {
		name string
		key  func(f []string) string // the upsert key of a formatted row
	}{
		{"q17", func(f []string) string { return f[0] + "/" + f[9] }}, // auction, day
		{"q19", func(f []string) string { return f[0] + "/" + f[7] }}, // auction, rank_number
	} {
		t.Run(c.name, func(t *testing.T) {
			script, err := SQLQuery(c.name)
			if err != nil {
				t.Fatal(err)
			}
			// The query's SELECT, collected instead of inserted.
			i := strings.Index(script, "INSERT INTO")
			script = script[:i] + script[i+strings.Index(script[i:], "\n")+1:]
			collect := func(mode dag.ExecutionMode, unbounded bool) [][]string {
				g := dag.New(c.name, dag.Config{Parallelism: 2, Mode: mode})
				env, conn, err := gen.SQLEnv(g.Config())
				if err != nil {
					t.Fatal(err)
				}
				if unbounded {
					conn.events[g] = dag.FromSource(g, "events", dag.Source[Event](unboundedSource{gen.Source()}),
						gen.WatermarkStrategy(), dag.WithCoder[Event](EventCoder{}))
				}
				job, err := env.Compile(g, script)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := dagflow.Run(context.Background(), g, dagflow.Options{Logger: slog.New(slog.DiscardHandler)}); err != nil {
					t.Fatalf("%v: %v", mode, err)
				}
				var rows [][]string
				for _, r := range job.Results[0].Rows() {
					rows = append(rows, sql.FormatRow(job.Results[0].Schema, r))
				}
				return rows
			}
			final := map[string]string{}
			for _, f := range collect(dag.BatchMode, false) {
				final[c.key(f)] = strings.Join(f, ",")
			}
			updates := collect(dag.StreamingMode, true)
			last := map[string]string{}
			for _, f := range updates {
				last[c.key(f)] = strings.Join(f, ",")
			}
			if len(updates) <= len(final) {
				t.Errorf("%d rows for %d groups: no updates were emitted", len(updates), len(final))
			}
			if !maps.Equal(last, final) {
				n := 0
				for k, v := range final {
					if last[k] != v {
						if n++; n <= 3 {
							t.Errorf("group %s: last update %q, batch %q", k, last[k], v)
						}
					}
				}
				t.Errorf("%d groups updated last to other rows than the batch run's (%d groups, %d in the updates)", n, len(final), len(last))
			}
		})
	}
}
