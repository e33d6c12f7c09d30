package nexmark

import (
	"fmt"
	"strings"
	"time"

	"github.com/dagflow/dagflow/dag"
)

// Query is one Nexmark query: a function from the event stream to an
// output stream, and a reference implementation in plain Go.
type Query struct {
	// Name is "q0" … "q22".
	Name string
	// Title says what the query computes.
	Title string
	// Deterministic is false for queries whose output depends on
	// processing time (q12): they have no reference and their checksums
	// differ from run to run.
	Deterministic bool

	build func(events dag.Stream[Event]) output
	ref   func(events []Event) []Row
}

// output is the type-erased result stream of a query.
type output interface {
	checksum(name string) *Checksum
}

type typedOutput[T Row] struct{ s dag.Stream[T] }

func (o typedOutput[T]) checksum(name string) *Checksum {
	sink := NewChecksumSink[T]()
	dag.ToSink(o.s, name, sink)
	return sink.Checksum()
}

func newQuery[T Row](name, title string, build func(dag.Stream[Event]) dag.Stream[T], ref func([]Event) []T) Query {
	q := Query{Name: name, Title: title, Deterministic: ref != nil}
	q.build = func(events dag.Stream[Event]) output { return typedOutput[T]{s: build(events)} }
	if ref != nil {
		q.ref = func(events []Event) []Row {
			rows := ref(events)
			out := make([]Row, len(rows))
			for i, r := range rows {
				out[i] = r
			}
			return out
		}
	}
	return q
}

// Queries returns every query, in order.
func Queries() []Query {
	return []Query{
		newQuery("q0", "pass-through", Q0, refQ0),
		newQuery("q1", "currency conversion", Q1, refQ1),
		newQuery("q2", "selection", Q2, refQ2),
		newQuery("q3", "local item suggestion (regular join)", Q3, refQ3),
		newQuery("q4", "average winning price per category", Q4, refQ4),
		newQuery("q5", "hot items (sliding window)", Q5, refQ5),
		newQuery("q7", "highest bid per window", Q7, refQ7),
		newQuery("q8", "monitor new users (window join)", Q8, refQ8),
		newQuery("q9", "winning bids", Q9, refQ9),
		newQuery("q11", "user sessions (session window)", Q11, refQ11),
		newQuery[Q12Row]("q12", "bids per bidder per processing-time window", Q12, nil),
		newQuery("q14", "calculation with a user function", Q14, refQ14),
		newQuery("q17", "auction statistics per day", Q17, refQ17),
		newQuery("q18", "last bid per bidder and auction", Q18, refQ18),
		newQuery("q19", "top-10 bids per auction", Q19, refQ19),
		newQuery("q20", "bids of category-10 auctions (regular join)", Q20, refQ20),
		newQuery("q21", "channel id (regular expression)", Q21, refQ21),
		newQuery("q22", "URL directories", Q22, refQ22),
	}
}

// Lookup returns the query named name.
func Lookup(name string) (Query, error) {
	var names []string
	for _, q := range Queries() {
		if q.Name == name {
			return q, nil
		}
		names = append(names, q.Name)
	}
	return Query{}, fmt.Errorf("nexmark: unknown query %q (known: %s)", name, strings.Join(names, ", "))
}

// AddTo adds the query to the graph of events and ends its output in a
// ChecksumSink named sinkName. The returned Checksum holds the summary of
// the output once the job succeeded.
func (q Query) AddTo(events dag.Stream[Event], sinkName string) *Checksum {
	return q.build(events).checksum(sinkName)
}

// Reference computes the query's output over a bounded event stream in
// plain Go, without the engine, and returns its summary. A query that is
// not deterministic has no reference.
func (q Query) Reference(events []Event) (Summary, error) {
	if q.ref == nil {
		return Summary{}, fmt.Errorf("nexmark: %s depends on processing time and has no reference", q.Name)
	}
	return Summarize(q.ref(events)), nil
}

// Window and session lengths of the queries (Flink's Nexmark settings).
const (
	windowSize  = 10 * time.Second
	windowSlide = 2 * time.Second  // q5
	sessionGap  = 10 * time.Second // q11
)

const windowMillis = int64(windowSize / time.Millisecond)

// Bids returns the bids of an event stream.
func Bids(events dag.Stream[Event]) dag.Stream[Bid] {
	return dag.FlatMap(events, func(e Event, emit func(Bid)) {
		if e.Type == BidEvent {
			emit(e.Bid)
		}
	}, dag.Name("bids"), dag.WithCoder[Bid](BidCoder{}))
}

// Auctions returns the auctions of an event stream.
func Auctions(events dag.Stream[Event]) dag.Stream[Auction] {
	return dag.FlatMap(events, func(e Event, emit func(Auction)) {
		if e.Type == AuctionEvent {
			emit(*e.Auction)
		}
	}, dag.Name("auctions"), dag.WithCoder[Auction](AuctionCoder{}))
}

// Persons returns the persons of an event stream.
func Persons(events dag.Stream[Event]) dag.Stream[Person] {
	return dag.FlatMap(events, func(e Event, emit func(Person)) {
		if e.Type == PersonEvent {
			emit(*e.Person)
		}
	}, dag.Name("persons"), dag.WithCoder[Person](PersonCoder{}))
}

// count is the aggregation counting records.
func count[T any]() dag.Agg[T, int64, int64] {
	return dag.Agg[T, int64, int64]{
		Zero:   func() int64 { return 0 },
		Add:    func(n int64, _ T) int64 { return n + 1 },
		Merge:  func(a, b int64) int64 { return a + b },
		Result: func(n int64) int64 { return n },
	}
}

// floorDiv returns x/y rounded down, for y > 0.
func floorDiv(x, y int64) int64 {
	q := x / y
	if x%y < 0 {
		q--
	}
	return q
}
