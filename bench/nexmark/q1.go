package nexmark

import "github.com/dagflow/dagflow/dag"

// Q1Row is a bid with its price in euros.
type Q1Row struct {
	Auction  int64
	Bidder   int64
	Price    int64 // 0.908 * the bid price, in thousandths: SQL DECIMAL(23, 3)
	DateTime int64
	Extra    string
}

// Q1 converts every bid's price from dollars to euros.
//
//	SELECT auction, bidder, 0.908 * price AS price, dateTime, extra FROM bid
func Q1(events dag.Stream[Event]) dag.Stream[Q1Row] {
	return dag.FlatMap(events, func(e Event, emit func(Q1Row)) {
		if e.Type == BidEvent {
			b := &e.Bid
			emit(Q1Row{Auction: b.Auction, Bidder: b.Bidder, Price: toEuro(b.Price), DateTime: b.DateTime, Extra: b.Extra})
		}
	}, dag.Name("q1"))
}

// toEuro is 0.908 * price, exactly, in thousandths.
func toEuro(price int64) int64 { return price * 908 }

// Hash64 implements Row.
func (r Q1Row) Hash64() uint64 {
	var h hasher
	h.int(r.Auction)
	h.int(r.Bidder)
	h.int(r.Price)
	h.int(r.DateTime)
	h.str(r.Extra)
	return h.sum()
}
