package nexmark

import "github.com/dagflow/dagflow/dag"

// Q18 finds the last bid of every bidder on every auction: a
// deduplication keeping the latest row (ties broken by compareBids).
//
//	SELECT auction, bidder, price, channel, url, dateTime, extra
//	FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder, auction ORDER BY dateTime DESC) AS rank_number
//	      FROM bid)
//	WHERE rank_number <= 1
func Q18(events dag.Stream[Event]) dag.Stream[Bid] {
	last := dag.Reduce(dag.KeyBy(Bids(events), func(b Bid) int64 { return bidderAuction(b.Bidder, b.Auction) }),
		func(a, b Bid) Bid {
			if later(&b, &a) {
				return b
			}
			return a
		}, dag.Name("q18"))
	return dag.Map(last, func(kv dag.KV[int64, Bid]) Bid { return kv.Value })
}

// bidderAuction packs a bidder and an auction id (each below 2^31) into
// one key.
func bidderAuction(bidder, auction int64) int64 { return bidder<<32 | auction&(1<<32-1) }

// later reports whether a is after b: by event time, then compareBids.
func later(a, b *Bid) bool {
	if a.DateTime != b.DateTime {
		return a.DateTime > b.DateTime
	}
	return compareBids(a, b) > 0
}
