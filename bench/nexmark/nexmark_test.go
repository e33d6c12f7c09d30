package nexmark

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/testkit"
)

// testConfig is a stream of 30k events over 30 s of event time that
// crosses midnight (a new day for q17) with 2 s of disorder.
func testConfig() Config {
	return Config{
		Events:         30_000,
		Seed:           42,
		EventRate:      1000,
		OutOfOrderness: 2 * time.Second,
		BaseTime:       time.Date(2023, 11, 14, 23, 59, 45, 0, time.UTC).UnixMilli(),
	}
}

func testGenerator(t testing.TB, cfg Config) *Generator {
	t.Helper()
	g, err := NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// engineConfig shrinks the streams the engine runs under the race
// detector.
func engineConfig(cfg Config) Config {
	if raceEnabled {
		cfg.Events /= 3
	}
	return cfg
}

// collect ends the output in a collecting sink (tests only).
func (o typedOutput[T]) collect(name string) func() []Row {
	c := testkit.NewCollector[T]()
	dag.ToSink(o.s, name, c)
	return func() []Row {
		var rows []Row
		for _, r := range c.Committed() {
			rows = append(rows, r)
		}
		return rows
	}
}

type collectable interface {
	collect(name string) func() []Row
}

// runQuery runs q over gen's events and returns its output rows.
func runQuery(t *testing.T, q Query, gen *Generator, mode dag.ExecutionMode) []Row {
	t.Helper()
	g := dag.New(q.Name, dag.Config{Parallelism: 2, Mode: mode})
	rows := q.build(Read(g, gen)).(collectable).collect("out")
	res, err := dagflow.Run(context.Background(), g, dagflow.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("%s %v: %v", q.Name, mode, err)
	}
	for _, v := range res.Vertices {
		if v.LateDropped > 0 {
			t.Errorf("%s %v: vertex %s dropped %d late records", q.Name, mode, v.Name, v.LateDropped)
		}
	}
	src, _ := res.Vertex("events")
	if src.RecordsOut != gen.Config().Events {
		t.Errorf("%s %v: the source emitted %d events, want %d", q.Name, mode, src.RecordsOut, gen.Config().Events)
	}
	return rows()
}

func formatRows(rows []Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprintf("%+v", r)
	}
	slices.Sort(out)
	return out
}

// diffRows describes how two sorted row lists differ.
func diffRows(got, want []string) string {
	var missing, extra []string
	i, j := 0, 0
	for i < len(got) || j < len(want) {
		switch {
		case j == len(want) || i < len(got) && got[i] < want[j]:
			extra = append(extra, got[i])
			i++
		case i == len(got) || want[j] < got[i]:
			missing = append(missing, want[j])
			j++
		default:
			i++
			j++
		}
	}
	head := func(s []string) string {
		if len(s) > 5 {
			return strings.Join(s[:5], "\n\t") + fmt.Sprintf("\n\t… %d more", len(s)-5)
		}
		return strings.Join(s, "\n\t")
	}
	return fmt.Sprintf("%d rows, want %d\nmissing:\n\t%s\nextra:\n\t%s", len(got), len(want), head(missing), head(extra))
}

// minRows is the least output a query must produce on the test stream,
// so that a comparison is not trivially true.
var minRows = map[string]int{
	"q2": 20, "q3": 10, "q4": 5, "q5": 15, "q7": 3, "q8": 20, "q9": 500, "q11": 500, "q14": 100,
	"q17": 500, "q18": 1000, "q19": 1000, "q20": 500, "q21": 1000,
}

// TestQueriesMatchReference runs every deterministic query over bounded
// streams in batch and in streaming mode and compares both with the
// reference: the sorted rows and the summaries. The second stream is slow
// in event time (many windows, long sessions) and more out of order.
func TestQueriesMatchReference(t *testing.T) {
	slow := Config{Events: 20_000, Seed: 7, EventRate: 25, OutOfOrderness: 5 * time.Second, BaseTime: 1_600_000_000_123}
	for _, cfg := range []Config{testConfig(), slow} {
		gen := testGenerator(t, engineConfig(cfg))
		events := gen.Events(0, gen.Config().Events)
		for _, q := range Queries() {
			if !q.Deterministic {
				continue
			}
			t.Run(fmt.Sprintf("%s/rate=%v", q.Name, cfg.EventRate), func(t *testing.T) {
				want := formatRows(q.ref(events))
				if n := minRows[q.Name]; cfg == testConfig() && len(want) < max(n, 1) && !raceEnabled {
					t.Errorf("weak test: the reference has %d rows, want at least %d", len(want), n)
				}
				checkQuery(t, q, gen, nil, events, want)
			})
		}
	}
}

// checkQuery runs q in both modes over gen's events, or src when set, and
// compares the output with want (sorted, formatted reference rows).
func checkQuery(t *testing.T, q Query, gen *Generator, src dag.Source[Event], events []Event, want []string) {
	t.Helper()
	wantSum, err := q.Reference(events)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []dag.ExecutionMode{dag.BatchMode, dag.StreamingMode} {
		var rows []Row
		if src != nil {
			rows = runSource(t, q, src, mode)
		} else {
			rows = runQuery(t, q, gen, mode)
		}
		if got := formatRows(rows); !slices.Equal(got, want) {
			t.Errorf("%v: %s", mode, diffRows(got, want))
		}
		if got := Summarize(rows); got != wantSum {
			t.Errorf("%v: summary %v, reference %v", mode, got, wantSum)
		}
	}
}

// runSource runs q over the events of src (timestamps from DateTime, up
// to a minute out of order).
func runSource(t *testing.T, q Query, src dag.Source[Event], mode dag.ExecutionMode) []Row {
	t.Helper()
	g := dag.New(q.Name, dag.Config{Parallelism: 2, Mode: mode})
	events := dag.FromSource(g, "events", src, &dag.WatermarkStrategy[Event]{
		Timestamp: Event.DateTime, OutOfOrderness: time.Minute}, dag.WithCoder[Event](EventCoder{}))
	rows := q.build(events).(collectable).collect("out")
	if _, err := dagflow.Run(context.Background(), g, dagflow.Options{Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatalf("%s %v: %v", q.Name, mode, err)
	}
	return rows()
}

// TestQueriesEdgeCases runs queries over hand-made events that hit the
// corners of their semantics.
func TestQueriesEdgeCases(t *testing.T) {
	bid := func(auction, price, ts int64) Event {
		return Event{Type: BidEvent, Bid: Bid{Auction: auction, Bidder: 1000 + price%7, Price: price, DateTime: ts,
			Channel: "Apple", URL: "https://x/a/b/c/item.htm?channel_id=9&x=1", Extra: fmt.Sprint("e", ts, price)}}
	}
	auction := func(id, ts, expires, category int64) Event {
		return Event{Type: AuctionEvent, Auction: &Auction{ID: id, DateTime: ts, Expires: expires, Seller: 1000, Category: category}}
	}
	cases := []struct {
		query  string
		events []Event
		want   int // rows
	}{
		// Window 0's highest price 9 is matched by a bid at its end (in
		// window 1, where 9 is also the highest); a higher bid at the end
		// of window 2 does not raise window 2's maximum.
		{"q7", []Event{bid(1, 5, 100), bid(2, 9, 9_999), bid(3, 9, 10_000), bid(4, 7, 15_000), bid(5, 3, 20_000),
			bid(6, 100, 30_000), bid(7, 1, 21_000), bid(8, 9, 10_001), bid(9, 9, 10_000)}, 8},
		// Bids at the opening and the expiry of an auction count; bids
		// before and after it and bids that arrive before their auction
		// are handled; equal prices go to the earliest.
		{"q9", []Event{bid(1, 50, 999), bid(1, 40, 1000), auction(1, 1000, 2000, 10), bid(1, 60, 2000), bid(1, 70, 2001),
			bid(2, 5, 100), bid(2, 5, 99), auction(2, 99, 150, 11), bid(3, 7, 5000), auction(4, 1, 2, 12)}, 2},
		{"q4", []Event{bid(1, 50, 999), bid(1, 40, 1000), auction(1, 1000, 2000, 10), bid(1, 60, 2000),
			auction(2, 10, 20, 10), bid(2, 11, 15), auction(3, 10, 20, 11), bid(3, 12, 21)}, 1},
		// A session ends exactly gap after its last bid; bids exactly gap
		// apart are in one session.
		{"q11", []Event{bid(1, 7, 0), bid(1, 7, 10_000), bid(1, 7, 20_001), bid(1, 8, 5_000)}, 3},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			q, err := Lookup(c.query)
			if err != nil {
				t.Fatal(err)
			}
			want := formatRows(q.ref(c.events))
			if len(want) != c.want {
				t.Fatalf("the reference has %d rows, want %d:\n%s", len(want), c.want, strings.Join(want, "\n"))
			}
			ts := make([]int64, len(c.events))
			for i, e := range c.events {
				ts[i] = e.DateTime()
			}
			checkQuery(t, q, nil, &testkit.SliceSource[Event]{Items: c.events, TS: ts, SplitSize: 3}, c.events, want)
		})
	}
}

// TestQueryChecksumSink runs a query to the checksum sink through the
// public API and compares with the reference summary.
func TestQueryChecksumSink(t *testing.T) {
	gen := testGenerator(t, engineConfig(testConfig()))
	for _, name := range []string{"q5", "q20"} {
		q, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		g := dag.New(name, dag.Config{Parallelism: 2, Mode: dag.StreamingMode})
		sum := q.AddTo(Read(g, gen), "out")
		if _, err := dagflow.Run(context.Background(), g, dagflow.Options{Logger: slog.New(slog.DiscardHandler)}); err != nil {
			t.Fatal(err)
		}
		want, err := q.Reference(gen.Events(0, gen.Config().Events))
		if err != nil {
			t.Fatal(err)
		}
		if got := sum.Summary(); got != want || got.Records == 0 {
			t.Errorf("%s: summary %v, reference %v", name, got, want)
		}
	}
	if _, err := Lookup("q6"); err == nil || !strings.Contains(err.Error(), `unknown query "q6"`) {
		t.Errorf("Lookup(q6): %v", err)
	}
}

// TestQ12Invariants checks the processing-time query: every bid is
// counted once, in windows of 10 s.
func TestQ12Invariants(t *testing.T) {
	gen := testGenerator(t, engineConfig(testConfig()))
	q, err := Lookup("q12")
	if err != nil {
		t.Fatal(err)
	}
	if q.Deterministic {
		t.Error("q12 claims to be deterministic")
	}
	if _, err := q.Reference(nil); err == nil {
		t.Error("q12 has a reference")
	}
	bids := int64(len(bidsOf(gen.Events(0, gen.Config().Events))))
	for _, mode := range []dag.ExecutionMode{dag.BatchMode, dag.StreamingMode} {
		var total int64
		seen := map[[2]int64]bool{}
		for _, r := range runQuery(t, q, gen, mode) {
			r := r.(Q12Row)
			total += r.BidCount
			if r.End-r.Start != 10_000 || r.Start%10_000 != 0 || r.BidCount < 1 {
				t.Errorf("%v: bad row %+v", mode, r)
			}
			if k := [2]int64{r.Bidder, r.Start}; seen[k] {
				t.Errorf("%v: two rows for bidder %d, window %d", mode, r.Bidder, r.Start)
			} else {
				seen[k] = true
			}
		}
		if total != bids {
			t.Errorf("%v: %d bids counted, want %d", mode, total, bids)
		}
	}
}
