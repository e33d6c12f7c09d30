package nexmark

import "github.com/dagflow/dagflow/dag"

// Q11Row is one session of a bidder.
type Q11Row struct {
	Bidder   int64
	BidCount int64
	Start    int64 // the first bid, Unix ms
	End      int64 // 10 s after the last bid
}

// Q11 counts the bids of every user session: bids of a bidder at most 10
// seconds apart belong to the same session.
//
//	SELECT B.bidder, count(*) AS bid_count,
//	    SESSION_START(B.dateTime, INTERVAL '10' SECOND) AS starttime,
//	    SESSION_END(B.dateTime, INTERVAL '10' SECOND) AS endtime
//	FROM bid B GROUP BY B.bidder, SESSION(B.dateTime, INTERVAL '10' SECOND)
func Q11(events dag.Stream[Event]) dag.Stream[Q11Row] {
	bidders := dag.FlatMap(events, func(e Event, emit func(int64)) {
		if e.Type == BidEvent {
			emit(e.Bid.Bidder)
		}
	}, dag.Name("q11-bidders"))
	sessions := dag.WindowAggregate(dag.Window(dag.KeyBy(bidders, func(b int64) int64 { return b }), dag.Session(sessionGap)),
		count[int64](), dag.Name("q11-sessions"))
	return dag.Map(sessions, func(r dag.WindowResult[int64, int64]) Q11Row {
		return Q11Row{Bidder: r.Key, BidCount: r.Value, Start: r.Start, End: r.End}
	})
}

// Hash64 implements Row.
func (r Q11Row) Hash64() uint64 {
	var h hasher
	h.int(r.Bidder)
	h.int(r.BidCount)
	h.int(r.Start)
	h.int(r.End)
	return h.sum()
}
