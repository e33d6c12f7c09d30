package nexmark

import "github.com/dagflow/dagflow/dag"

// Q4Row is the average winning price of a category.
type Q4Row struct {
	Category int64
	Avg      int64 // AVG of BIGINT: truncated
}

// Q4 computes the average winning price of the auctions of each category
// (the winning bid of an auction is its highest bid placed while it was
// open; see WinningBids).
//
//	SELECT Q.category, AVG(Q.final) FROM (
//	    SELECT MAX(B.price) AS final, A.category FROM auction A, bid B
//	    WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
//	    GROUP BY A.id, A.category) Q
//	GROUP BY Q.category
func Q4(events dag.Stream[Event]) dag.Stream[Q4Row] {
	// Only ids, times, the category and the price cross the network.
	auctions := dag.FlatMap(events, func(e Event, emit func(Auction)) {
		if a := e.Auction; e.Type == AuctionEvent {
			emit(Auction{ID: a.ID, DateTime: a.DateTime, Expires: a.Expires, Category: a.Category})
		}
	}, dag.Name("q4-auctions"), dag.WithCoder[Auction](AuctionCoder{}))
	bids := dag.FlatMap(events, func(e Event, emit func(Bid)) {
		if b := &e.Bid; e.Type == BidEvent {
			emit(Bid{Auction: b.Auction, Price: b.Price, DateTime: b.DateTime})
		}
	}, dag.Name("q4-bids"), dag.WithCoder[Bid](BidCoder{}))
	winners := dag.Map(WinningBids(auctions, bids), func(w AuctionBid) dag.KV[int64, int64] {
		return dag.KV[int64, int64]{Key: w.Auction.Category, Value: w.Bid.Price}
	})
	avg := dag.Aggregate(dag.KeyBy(winners, func(kv dag.KV[int64, int64]) int64 { return kv.Key }),
		dag.Agg[dag.KV[int64, int64], q4Sum, int64]{
			Zero:   func() q4Sum { return q4Sum{} },
			Add:    func(s q4Sum, kv dag.KV[int64, int64]) q4Sum { return q4Sum{s.sum + kv.Value, s.n + 1} },
			Result: func(s q4Sum) int64 { return s.sum / s.n },
		}, dag.Name("q4-average"))
	return dag.Map(avg, func(kv dag.KV[int64, int64]) Q4Row { return Q4Row{Category: kv.Key, Avg: kv.Value} })
}

type q4Sum struct{ sum, n int64 }

// Hash64 implements Row.
func (r Q4Row) Hash64() uint64 {
	var h hasher
	h.int(r.Category)
	h.int(r.Avg)
	return h.sum()
}
