package nexmark

import (
	"slices"

	"github.com/dagflow/dagflow/dag"
)

// Q19Row is one of the ten highest bids of an auction.
type Q19Row struct {
	Bid
	RankNumber int64 // 1 is the highest
}

// q19Top is how many bids per auction Q19 keeps.
const q19Top = 10

// Q19 finds the ten highest bids of every auction: a top-N query (ties
// broken by compareBids).
//
//	SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rank_number
//	               FROM bid)
//	WHERE rank_number <= 10
func Q19(events dag.Stream[Event]) dag.Stream[Q19Row] {
	top := dag.Aggregate(dag.KeyBy(Bids(events), func(b Bid) int64 { return b.Auction }),
		dag.Agg[Bid, topBids, topBids]{
			Zero:   func() topBids { return nil },
			Add:    topBids.add,
			Result: func(t topBids) topBids { return t }, // only read before the next Add
		}, dag.Name("q19"))
	return dag.FlatMap(top, func(kv dag.KV[int64, topBids], emit func(Q19Row)) {
		for rank, i := range kv.Value.order() {
			emit(Q19Row{Bid: kv.Value[i], RankNumber: int64(rank + 1)})
		}
	})
}

// topBids holds the highest bids of an auction, in no order but that
// once it is full its lowest bid is first: a bid too low to enter costs
// one comparison, and one that enters replaces the lowest without moving
// the others.
type topBids []Bid

// add returns t with b added if it is among the highest.
func (t topBids) add(b Bid) topBids {
	if len(t) < q19Top {
		if t == nil {
			t = make(topBids, 0, q19Top)
		}
		if t = append(t, b); len(t) == q19Top {
			t.lowestFirst()
		}
		return t
	}
	if b.Price < t[0].Price || b.Price == t[0].Price && compareBids(&b, &t[0]) <= 0 {
		return t
	}
	t[0] = b
	t.lowestFirst()
	return t
}

// lowestFirst moves the lowest bid to the front.
func (t topBids) lowestFirst() {
	low := 0
	for i := 1; i < len(t); i++ {
		if t[i].Price < t[low].Price || t[i].Price == t[low].Price && compareBids(&t[i], &t[low]) < 0 {
			low = i
		}
	}
	t[0], t[low] = t[low], t[0]
}

// order returns the indices of t, highest bid first. Sorting indices
// instead of bids moves no pointers.
func (t topBids) order() []int {
	idx := make([]int, len(t), q19Top)
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(i, j int) int { return compareBids(&t[j], &t[i]) })
	return idx
}

// Hash64 implements Row: the bid's fields, then the rank, in the order
// of the SQL query's columns.
func (r Q19Row) Hash64() uint64 {
	var h hasher
	r.Bid.hashInto(&h)
	h.int(r.RankNumber)
	return h.sum()
}
