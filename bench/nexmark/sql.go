package nexmark

import (
	"bytes"
	"embed"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/sql"
	"github.com/dagflow/dagflow/sql/expr"
	"github.com/dagflow/dagflow/sql/row"
	"github.com/dagflow/dagflow/sql/types"
)

//go:embed sql/*.sql
var sqlFiles embed.FS

// SQLQueries lists the queries written in SQL (bench/nexmark/sql/).
func SQLQueries() []string {
	entries, _ := sqlFiles.ReadDir("sql")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".sql"))
	}
	slices.SortFunc(names, func(a, b string) int { return len(a)*100 + strings.Compare(a, b) - len(b)*100 })
	return names
}

// SQLQuery returns the SQL script of a query: the DDL of its sink table
// (connector 'nexmark', a checksum) and its INSERT INTO statement.
func SQLQuery(name string) (string, error) {
	b, err := sqlFiles.ReadFile("sql/" + name + ".sql")
	if err != nil {
		return "", fmt.Errorf("nexmark: no SQL for query %q (have: %s)", name, strings.Join(SQLQueries(), ", "))
	}
	return string(b), nil
}

// SQLTables returns the DDL of the source tables bid, auction and person
// on the 'nexmark' connector, with watermarks delay behind the largest
// event time (the generator's Config.OutOfOrderness keeps every event in
// time).
func SQLTables(delay time.Duration) string {
	ms := delay.Milliseconds()
	return fmt.Sprintf(`CREATE TABLE bid (
  auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, dateTime TIMESTAMP(3), extra VARCHAR,
  WATERMARK FOR dateTime AS dateTime - INTERVAL '%[1]d' MILLISECOND
) WITH ('connector' = 'nexmark', 'table' = 'bid');
CREATE TABLE auction (
  id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT, dateTime TIMESTAMP(3),
  expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR,
  WATERMARK FOR dateTime AS dateTime - INTERVAL '%[1]d' MILLISECOND
) WITH ('connector' = 'nexmark', 'table' = 'auction');
CREATE TABLE person (
  id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR, state VARCHAR,
  dateTime TIMESTAMP(3), extra VARCHAR,
  WATERMARK FOR dateTime AS dateTime - INTERVAL '%[1]d' MILLISECOND
) WITH ('connector' = 'nexmark', 'table' = 'person');
`, ms)
}

// SQLEnv returns a SQL session for the generator's events: the
// 'nexmark' connector, the tables of SQLTables and the UDF count_char of
// q14. Sink checksums belong to the last graph a sink table was planned
// for.
func (g *Generator) SQLEnv(cfg dag.Config) (*sql.Env, *SQLConnector, error) {
	env := sql.NewEnv()
	conn := &SQLConnector{g: g, events: map[*dag.Graph]dag.Stream[Event]{}, sums: map[string]*Checksum{}}
	if err := env.RegisterConnector("nexmark", conn); err != nil {
		return nil, nil, err
	}
	if err := env.RegisterFunction("count_char", expr.UDF{
		Args: []types.Type{types.VARCHAR, types.VARCHAR}, Result: types.BIGINT,
		Doc: "count_char(s, c): how many times c occurs in s",
		Eval: func(a []expr.Value) expr.Value {
			return expr.Value{Int: int64(bytes.Count(a[0].Bytes, a[1].Bytes))}
		},
	}); err != nil {
		return nil, nil, err
	}
	if _, err := env.Compile(dag.New("ddl", cfg), SQLTables(g.cfg.OutOfOrderness)); err != nil {
		return nil, nil, err
	}
	return env, conn, nil
}

// SQLConnector is the 'nexmark' connector: a source table reads the
// generator's events (one "events" vertex per graph for every table) and
// a sink table summarizes its rows into a Checksum, hashing every column
// as the hand-written queries hash their fields.
type SQLConnector struct {
	g      *Generator
	mu     sync.Mutex
	events map[*dag.Graph]dag.Stream[Event]
	sums   map[string]*Checksum
}

// Events returns the event source of graph, adding it on first use.
func (c *SQLConnector) Events(graph *dag.Graph) dag.Stream[Event] {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.events[graph]
	if !ok {
		s = Read(graph, c.g)
		c.events[graph] = s
	}
	return s
}

// Checksum returns the checksum of the sink table named table.
func (c *SQLConnector) Checksum(table string) (*Checksum, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sums[strings.ToLower(table)]
	return s, ok
}

// field is one column a nexmark table offers: its type and what setField
// copies into the row.
type field struct {
	typ types.Type
	id  fieldID
}

// fieldID names one field of an event.
type fieldID uint8

const (
	bidAuction fieldID = iota
	bidBidder
	bidPrice
	bidChannel
	bidURL
	bidDateTime
	bidExtra
	auctionID
	auctionItemName
	auctionDescription
	auctionInitialBid
	auctionReserve
	auctionDateTime
	auctionExpires
	auctionSeller
	auctionCategory
	auctionExtra
	personID
	personName
	personEmailAddress
	personCreditCard
	personCity
	personState
	personDateTime
	personExtra
)

// setField sets field i of b to the event's field f: a switch, not a
// closure per field, so that the event does not escape to the heap.
func setField(b *sql.RowWriter, i int, f fieldID, e *Event) {
	switch f {
	case bidAuction:
		b.SetInt(i, e.Bid.Auction)
	case bidBidder:
		b.SetInt(i, e.Bid.Bidder)
	case bidPrice:
		b.SetInt(i, e.Bid.Price)
	case bidChannel:
		b.SetString(i, e.Bid.Channel)
	case bidURL:
		b.SetString(i, e.Bid.URL)
	case bidDateTime:
		b.SetInt(i, e.Bid.DateTime)
	case bidExtra:
		b.SetString(i, e.Bid.Extra)
	case auctionID:
		b.SetInt(i, e.Auction.ID)
	case auctionItemName:
		b.SetString(i, e.Auction.ItemName)
	case auctionDescription:
		b.SetString(i, e.Auction.Description)
	case auctionInitialBid:
		b.SetInt(i, e.Auction.InitialBid)
	case auctionReserve:
		b.SetInt(i, e.Auction.Reserve)
	case auctionDateTime:
		b.SetInt(i, e.Auction.DateTime)
	case auctionExpires:
		b.SetInt(i, e.Auction.Expires)
	case auctionSeller:
		b.SetInt(i, e.Auction.Seller)
	case auctionCategory:
		b.SetInt(i, e.Auction.Category)
	case auctionExtra:
		b.SetString(i, e.Auction.Extra)
	case personID:
		b.SetInt(i, e.Person.ID)
	case personName:
		b.SetString(i, e.Person.Name)
	case personEmailAddress:
		b.SetString(i, e.Person.EmailAddress)
	case personCreditCard:
		b.SetString(i, e.Person.CreditCard)
	case personCity:
		b.SetString(i, e.Person.City)
	case personState:
		b.SetString(i, e.Person.State)
	case personDateTime:
		b.SetInt(i, e.Person.DateTime)
	case personExtra:
		b.SetString(i, e.Person.Extra)
	}
}

var nexmarkTables = map[string]struct {
	typ    EventType
	fields map[string]field
}{
	"bid": {BidEvent, map[string]field{
		"auction": {types.BIGINT, bidAuction}, "bidder": {types.BIGINT, bidBidder}, "price": {types.BIGINT, bidPrice},
		"channel": {types.VARCHAR, bidChannel}, "url": {types.VARCHAR, bidURL}, "datetime": {types.TIMESTAMP, bidDateTime},
		"extra": {types.VARCHAR, bidExtra},
	}},
	"auction": {AuctionEvent, map[string]field{
		"id": {types.BIGINT, auctionID}, "itemname": {types.VARCHAR, auctionItemName}, "description": {types.VARCHAR, auctionDescription},
		"initialbid": {types.BIGINT, auctionInitialBid}, "reserve": {types.BIGINT, auctionReserve}, "datetime": {types.TIMESTAMP, auctionDateTime},
		"expires": {types.TIMESTAMP, auctionExpires}, "seller": {types.BIGINT, auctionSeller}, "category": {types.BIGINT, auctionCategory},
		"extra": {types.VARCHAR, auctionExtra},
	}},
	"person": {PersonEvent, map[string]field{
		"id": {types.BIGINT, personID}, "name": {types.VARCHAR, personName}, "emailaddress": {types.VARCHAR, personEmailAddress},
		"creditcard": {types.VARCHAR, personCreditCard}, "city": {types.VARCHAR, personCity}, "state": {types.VARCHAR, personState},
		"datetime": {types.TIMESTAMP, personDateTime}, "extra": {types.VARCHAR, personExtra},
	}},
}

// Source implements sql.Connector: option 'table' is bid, auction or
// person; every declared column must be one of the table's fields, with
// its type.
func (c *SQLConnector) Source(g *dag.Graph, t *sql.Table) (dag.Stream[row.Row], error) {
	name := strings.ToLower(t.Option("table", ""))
	tab, ok := nexmarkTables[name]
	if !ok {
		return dag.Stream[row.Row]{}, fmt.Errorf("nexmark: option 'table' must be bid, auction or person, got %q", name)
	}
	ids := make([]fieldID, len(t.Physical))
	for i, col := range t.Physical {
		f, ok := tab.fields[strings.ToLower(col.Name)]
		if !ok {
			return dag.Stream[row.Row]{}, fmt.Errorf("nexmark: table %s has no field %s", name, col.Name)
		}
		if f.typ != col.Type {
			return dag.Stream[row.Row]{}, fmt.Errorf("nexmark: field %s.%s is %s, declared %s", name, col.Name, f.typ, col.Type)
		}
		ids[i] = f.id
	}
	// The rows are built straight from the events, with the projection
	// of the query reading the table fused in (sql.Fusing), by one
	// writer per subtask.
	typ := tab.typ
	return dag.FlatMapEach(c.Events(g), func() func(Event, func(row.Row)) {
		w := t.NewRowWriter()
		return func(e Event, emit func(row.Row)) {
			if e.Type != typ {
				return
			}
			for i, f := range ids {
				setField(w, i, f, &e)
			}
			w.Emit(emit)
		}
	}, dag.Name(name+"-rows"), dag.WithCoder[row.Row](t.RowCoder())), nil
}

// FusesProjections implements sql.Fusing.
func (c *SQLConnector) FusesProjections() {}

// Sink implements sql.Connector: a checksum of the rows.
func (c *SQLConnector) Sink(t *sql.Table) (dag.Sink[row.Row], error) {
	s := rowChecksumSink{c: &Checksum{}, hash: RowHasher(t.Physical)}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sums[strings.ToLower(t.Name)] = s.c
	return s, nil
}

// RowHasher returns the Row.Hash64 of SQL rows of schema s: every column
// folded in order, as the hand-written queries fold their fields —
// integers, decimals (unscaled), booleans and timestamps as integers,
// strings by their xxhash, doubles by their bits. NULL hashes as the
// zero value ("" or 0), as the hand-written rows hold it.
func RowHasher(s types.Schema) func(row.Row) uint64 {
	l := row.Layout{N: len(s)}
	st := s.Storages()
	return func(r row.Row) uint64 {
		var h hasher
		for i, k := range st {
			null := r.IsNull(i)
			switch {
			case k == types.StoreBytes && null:
				h.int(int64(xxhash.Sum64(nil)))
			case k == types.StoreBytes:
				h.int(int64(xxhash.Sum64(r.Bytes(l.Offset(i)))))
			case null:
				h.int(0)
			case k == types.StoreFloat:
				h.int(int64(math.Float64bits(r.Float(l.Offset(i)))))
			default:
				h.int(r.Int(l.Offset(i)))
			}
		}
		return h.sum()
	}
}
