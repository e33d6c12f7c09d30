package nexmark

import (
	"time"

	"github.com/dagflow/dagflow/dag"
)

// Q17Row is the bid statistics of an auction on one day.
type Q17Row struct {
	Auction   int64
	Day       string // yyyy-MM-dd, UTC
	TotalBids int64
	Rank1Bids int64 // price < 10,000
	Rank2Bids int64 // 10,000 <= price < 1,000,000
	Rank3Bids int64 // price >= 1,000,000
	MinPrice  int64
	MaxPrice  int64
	AvgPrice  int64 // truncated
	SumPrice  int64
}

// Q17 reports how many bids every auction received each day, by price
// range, and their price statistics: an unbounded group aggregation.
//
//	SELECT auction, DATE_FORMAT(dateTime, 'yyyy-MM-dd') AS day,
//	    count(*) AS total_bids,
//	    count(*) FILTER (WHERE price < 10000) AS rank1_bids,
//	    count(*) FILTER (WHERE price >= 10000 AND price < 1000000) AS rank2_bids,
//	    count(*) FILTER (WHERE price >= 1000000) AS rank3_bids,
//	    min(price) AS min_price, max(price) AS max_price,
//	    avg(price) AS avg_price, sum(price) AS sum_price
//	FROM bid GROUP BY auction, DATE_FORMAT(dateTime, 'yyyy-MM-dd')
func Q17(events dag.Stream[Event]) dag.Stream[Q17Row] {
	prices := dag.FlatMap(events, func(e Event, emit func(dag.KV[int64, int64])) {
		if b := &e.Bid; e.Type == BidEvent {
			emit(dag.KV[int64, int64]{Key: auctionDay(b.Auction, b.DateTime), Value: b.Price})
		}
	}, dag.Name("q17-prices"))
	// The accumulator holds no pointers, so the garbage collector does not
	// scan the aggregation state.
	stats := dag.Aggregate(dag.KeyBy(prices, func(kv dag.KV[int64, int64]) int64 { return kv.Key }),
		dag.Agg[dag.KV[int64, int64], q17Stats, q17Stats]{
			Zero: func() q17Stats { return q17Stats{} },
			Add: func(s q17Stats, kv dag.KV[int64, int64]) q17Stats {
				p := kv.Value
				s = s.merge(q17Stats{Total: 1, Min: p, Max: p, Sum: p})
				switch {
				case p < 10_000:
					s.Rank1++
				case p < 1_000_000:
					s.Rank2++
				default:
					s.Rank3++
				}
				return s
			},
			Result: func(s q17Stats) q17Stats { return s },
		}, dag.Name("q17-stats"))
	return dag.Map(stats, func(kv dag.KV[int64, q17Stats]) Q17Row {
		s := kv.Value
		return Q17Row{
			Auction: kv.Key >> dayBits, Day: time.UnixMilli(kv.Key & (1<<dayBits - 1) * dayMillis).UTC().Format(time.DateOnly),
			TotalBids: s.Total, Rank1Bids: s.Rank1, Rank2Bids: s.Rank2, Rank3Bids: s.Rank3,
			MinPrice: s.Min, MaxPrice: s.Max, AvgPrice: s.Sum / s.Total, SumPrice: s.Sum,
		}
	})
}

// q17Stats accumulates the bids of an auction and day.
type q17Stats struct {
	Total, Rank1, Rank2, Rank3, Min, Max, Sum int64
}

func (s q17Stats) merge(o q17Stats) q17Stats {
	if s.Total == 0 || o.Total > 0 && o.Min < s.Min {
		s.Min = o.Min
	}
	s.Max = max(s.Max, o.Max)
	s.Total += o.Total
	s.Rank1 += o.Rank1
	s.Rank2 += o.Rank2
	s.Rank3 += o.Rank3
	s.Sum += o.Sum
	return s
}

const (
	dayMillis = 24 * 3_600_000
	dayBits   = 17 // days since 1970 (until 2328)
)

// auctionDay packs an auction id and the UTC day of a time into one key.
func auctionDay(auction, ts int64) int64 { return auction<<dayBits | ts/dayMillis }

// Hash64 implements Row.
func (r Q17Row) Hash64() uint64 {
	var h hasher
	for _, v := range [...]int64{r.Auction, r.TotalBids, r.Rank1Bids, r.Rank2Bids, r.Rank3Bids,
		r.MinPrice, r.MaxPrice, r.AvgPrice, r.SumPrice} {
		h.int(v)
	}
	h.str(r.Day)
	return h.sum()
}
