package nexmark

import "github.com/dagflow/dagflow/dag"

// Q0 is the pass-through query: every bid, unchanged. It measures the
// cost of generating, moving and summarizing events.
//
//	SELECT * FROM bid
func Q0(events dag.Stream[Event]) dag.Stream[Bid] {
	return Bids(events)
}
