package nexmark

import "github.com/dagflow/dagflow/dag"

// Q20Row is a bid with the category-10 auction it is on.
type Q20Row AuctionBid

// Hash64 implements Row: the bid's fields, then the auction's but its
// id (the bid's auction), in the order of the SQL query's columns.
func (r Q20Row) Hash64() uint64 {
	var h hasher
	r.Bid.hashInto(&h)
	r.Auction.hashAfterID(&h)
	return h.sum()
}

// Q20 expands the bids on category-10 auctions with their auction: a
// regular (unwindowed) join keeping every bid in state, as Flink does.
//
//	SELECT auction, bidder, price, channel, url, B.dateTime, B.extra,
//	    itemName, description, initialBid, reserve, A.dateTime, expires, seller, category, A.extra
//	FROM bid AS B INNER JOIN auction AS A ON B.auction = A.id
//	WHERE A.category = 10
func Q20(events dag.Stream[Event]) dag.Stream[Q20Row] {
	auctions := dag.Filter(Auctions(events), func(a Auction) bool { return a.Category == 10 },
		dag.WithCoder[Auction](AuctionCoder{}))
	return dag.Join(
		dag.KeyBy(Bids(events), func(b Bid) int64 { return b.Auction }),
		dag.KeyBy(auctions, func(a Auction) int64 { return a.ID }),
		func(_ int64, b Bid, a Auction) Q20Row { return Q20Row{Auction: a, Bid: b} }, dag.Name("q20"))
}
