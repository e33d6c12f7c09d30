package nexmark

import "github.com/dagflow/dagflow/dag"

// Q2Row is the auction and price of a selected bid.
type Q2Row struct {
	Auction int64
	Price   int64
}

// Q2 selects the bids on every 123rd auction.
//
//	SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0
func Q2(events dag.Stream[Event]) dag.Stream[Q2Row] {
	return dag.FlatMap(events, func(e Event, emit func(Q2Row)) {
		if e.Type == BidEvent && e.Bid.Auction%123 == 0 {
			emit(Q2Row{Auction: e.Bid.Auction, Price: e.Bid.Price})
		}
	}, dag.Name("q2"))
}

// Hash64 implements Row.
func (r Q2Row) Hash64() uint64 {
	var h hasher
	h.int(r.Auction)
	h.int(r.Price)
	return h.sum()
}
