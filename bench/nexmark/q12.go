package nexmark

import (
	"time"

	"github.com/dagflow/dagflow/dag"
)

// Q12Row is the number of bids of a bidder in a processing-time window.
type Q12Row struct {
	Bidder   int64
	BidCount int64
	Start    int64 // window start, Unix ms of processing time
	End      int64
}

// Q12 counts the bids of every bidder per 10-second processing-time
// (wall clock) window. Its output depends on how fast the job runs. A
// bounded input flushes the open windows when it ends.
//
//	SELECT bidder, count(*) AS bid_count, window_start AS starttime, window_end AS endtime
//	FROM TABLE(TUMBLE(TABLE (SELECT *, PROCTIME() AS p_time FROM bid), DESCRIPTOR(p_time), INTERVAL '10' SECOND))
//	GROUP BY bidder, window_start, window_end
func Q12(events dag.Stream[Event]) dag.Stream[Q12Row] {
	bidders := dag.FlatMap(events, func(e Event, emit func(int64)) {
		if e.Type == BidEvent {
			emit(e.Bid.Bidder)
		}
	}, dag.Name("q12-bidders"))
	return dag.Process(dag.KeyBy(bidders, func(b int64) int64 { return b }),
		func() dag.ProcessFunc[int64, int64, Q12Row] { return &q12Fn{} }, dag.Name("q12"))
}

const q12Window = int64(10 * time.Second / time.Millisecond)

type q12Fn struct {
	counts *dag.MapState[int64, int64, int64] // window start -> bids
}

func (f *q12Fn) Open(oc *dag.ProcessOpenContext[int64]) error {
	f.counts = dag.NewMapState[int64, int64](oc, "counts")
	return nil
}

func (f *q12Fn) ProcessElement(ctx *dag.ProcessContext[int64, Q12Row], _ int64) error {
	now := ctx.ProcessingTime()
	start := floorDiv(now, q12Window) * q12Window
	n, ok := f.counts.Get(ctx, start)
	f.counts.Put(ctx, start, n+1)
	if !ok {
		ctx.RegisterProcessingTimer(start + q12Window)
		ctx.RegisterEventTimer(dag.MaxTime) // the end of a bounded input
	}
	return nil
}

// OnTimer emits the windows that ended, or all of them at the end of the
// input.
func (f *q12Fn) OnTimer(ctx *dag.ProcessContext[int64, Q12Row], t dag.Timer) error {
	for start, n := range f.counts.All(ctx) {
		if t.Domain == dag.EventTime || start+q12Window <= t.Timestamp {
			ctx.Emit(Q12Row{Bidder: ctx.Key(), BidCount: n, Start: start, End: start + q12Window})
			f.counts.Remove(ctx, start)
		}
	}
	return nil
}

// Hash64 implements Row.
func (r Q12Row) Hash64() uint64 {
	var h hasher
	h.int(r.Bidder)
	h.int(r.BidCount)
	h.int(r.Start)
	h.int(r.End)
	return h.sum()
}
