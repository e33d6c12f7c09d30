package nexmark

import (
	"strings"

	"github.com/dagflow/dagflow/dag"
)

// Q14Row is a bid in a price range with computed columns.
type Q14Row struct {
	Auction     int64
	Bidder      int64
	Price       int64 // 0.908 * the bid price, in thousandths: SQL DECIMAL(23, 3)
	BidTimeType string
	DateTime    int64
	Extra       string
	CCounts     int64 // how many 'c' the extra field holds
}

// Q14 converts prices, classifies bid times and counts characters with a
// user function, for bids of 1,000,000 to 50,000,000 in euros (exclusive).
//
//	SELECT auction, bidder, 0.908 * price AS price,
//	    CASE WHEN HOUR(dateTime) >= 8 AND HOUR(dateTime) <= 18 THEN 'dayTime'
//	         WHEN HOUR(dateTime) <= 6 OR HOUR(dateTime) >= 20 THEN 'nightTime'
//	         ELSE 'otherTime' END AS bidTimeType,
//	    dateTime, extra, count_char(extra, 'c') AS c_counts
//	FROM bid WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000
func Q14(events dag.Stream[Event]) dag.Stream[Q14Row] {
	return dag.FlatMap(events, func(e Event, emit func(Q14Row)) {
		b := &e.Bid
		if e.Type != BidEvent {
			return
		}
		if euro := toEuro(b.Price); euro > 1_000_000_000 && euro < 50_000_000_000 {
			emit(Q14Row{Auction: b.Auction, Bidder: b.Bidder, Price: euro, BidTimeType: bidTimeType(b.DateTime),
				DateTime: b.DateTime, Extra: b.Extra, CCounts: int64(strings.Count(b.Extra, "c"))})
		}
	}, dag.Name("q14"))
}

// bidTimeType classifies the hour (UTC) of a time.
func bidTimeType(ts int64) string {
	switch h := floorDiv(ts, 3_600_000) % 24; {
	case h >= 8 && h <= 18:
		return "dayTime"
	case h <= 6 || h >= 20:
		return "nightTime"
	}
	return "otherTime"
}

// Hash64 implements Row.
func (r Q14Row) Hash64() uint64 {
	var h hasher
	h.int(r.Auction)
	h.int(r.Bidder)
	h.int(r.Price)
	h.str(r.BidTimeType)
	h.int(r.DateTime)
	h.str(r.Extra)
	h.int(r.CCounts)
	return h.sum()
}
