package nexmark

import "github.com/dagflow/dagflow/dag"

// Q9Row is an auction with its winning bid.
type Q9Row = AuctionBid

// Q9 finds the winning bid of every auction: its highest bid placed while
// it was open, ties going to the earliest. See WinningBids.
//
//	SELECT * FROM (
//	    SELECT A.*, B.auction, B.bidder, B.price, B.dateTime AS bid_dateTime, B.extra AS bid_extra,
//	        ROW_NUMBER() OVER (PARTITION BY A.id ORDER BY B.price DESC, B.dateTime ASC) AS rownum
//	    FROM auction A, bid B
//	    WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires)
//	WHERE rownum <= 1
func Q9(events dag.Stream[Event]) dag.Stream[Q9Row] {
	return WinningBids(Auctions(events), Bids(events))
}

// Hash64 implements Row: the auction's fields, then the bid's auction,
// bidder, price, dateTime and extra, the columns of the SQL query.
func (r AuctionBid) Hash64() uint64 {
	var h hasher
	a, b := &r.Auction, &r.Bid
	h.int(a.ID)
	a.hashAfterID(&h)
	h.int(b.Auction)
	h.int(b.Bidder)
	h.int(b.Price)
	h.int(b.DateTime)
	h.str(b.Extra)
	return h.sum()
}
