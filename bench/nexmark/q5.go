package nexmark

import "github.com/dagflow/dagflow/dag"

// Q5Row is a hot auction of a window: no auction had more bids in it.
type Q5Row struct {
	Auction int64
	Num     int64 // bids on the auction in the window
	Start   int64 // window start, Unix ms
}

// Q5 finds the auctions with the most bids in every 10-second window,
// sliding by 2 seconds.
//
//	SELECT AuctionBids.auction, AuctionBids.num
//	FROM (SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
//	      FROM TABLE(HOP(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
//	      GROUP BY auction, window_start, window_end) AS AuctionBids
//	JOIN (SELECT max(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime
//	      FROM (…the same counts…) AS CountBids
//	      GROUP BY CountBids.starttime, CountBids.endtime) AS MaxBids
//	ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime
//	   AND AuctionBids.num >= MaxBids.maxn
func Q5(events dag.Stream[Event]) dag.Stream[Q5Row] {
	auctions := dag.FlatMap(events, func(e Event, emit func(int64)) {
		if e.Type == BidEvent {
			emit(e.Bid.Auction)
		}
	}, dag.Name("q5-bids"))
	counts := dag.WindowAggregate(
		dag.Window(dag.KeyBy(auctions, func(a int64) int64 { return a }), dag.Sliding(windowSize, windowSlide)),
		count[int64](), dag.Name("q5-counts"))
	// All counts of a window meet in one subtask, which keeps the largest.
	byWindow := dag.KeyBy(counts, func(r dag.WindowResult[int64, int64]) int64 { return r.Start })
	return dag.Process(byWindow, func() dag.ProcessFunc[int64, dag.WindowResult[int64, int64], Q5Row] {
		return &hotItemsFn{}
	}, dag.Name("q5-max"))
}

// hotItemsFn keeps, per window, the auctions with the highest count seen,
// and emits them when the watermark passes the window.
type hotItemsFn struct {
	max *dag.ValueState[int64, int64]
	hot *dag.ListState[int64, int64]
}

func (f *hotItemsFn) Open(oc *dag.ProcessOpenContext[int64]) error {
	f.max = dag.NewValueState[int64](oc, "max")
	f.hot = dag.NewListState[int64](oc, "hot")
	return nil
}

func (f *hotItemsFn) ProcessElement(ctx *dag.ProcessContext[int64, Q5Row], r dag.WindowResult[int64, int64]) error {
	switch m, ok := f.max.Get(ctx); {
	case !ok || r.Value > m:
		f.max.Set(ctx, r.Value)
		f.hot.Update(ctx, []int64{r.Key})
		ctx.RegisterEventTimer(r.End - 1) // counts of the window come before this watermark
	case r.Value == m:
		f.hot.Add(ctx, r.Key)
	}
	return nil
}

func (f *hotItemsFn) OnTimer(ctx *dag.ProcessContext[int64, Q5Row], _ dag.Timer) error {
	m, _ := f.max.Get(ctx)
	for _, a := range f.hot.Get(ctx) {
		ctx.Emit(Q5Row{Auction: a, Num: m, Start: ctx.Key()})
	}
	f.max.Clear(ctx)
	f.hot.Clear(ctx)
	return nil
}

// Hash64 implements Row.
func (r Q5Row) Hash64() uint64 {
	var h hasher
	h.int(r.Auction)
	h.int(r.Num)
	h.int(r.Start)
	return h.sum()
}
