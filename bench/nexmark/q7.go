package nexmark

import (
	"fmt"

	"github.com/dagflow/dagflow/dag"
)

// Q7Row is a bid with the highest price of a 10-second window.
type Q7Row struct {
	Auction  int64
	Bidder   int64
	Price    int64
	DateTime int64
	Extra    string
}

// Q7 finds the highest bids of every 10-second tumbling window. As in the
// SQL, a bid at exactly the end of a window (which belongs to the next
// window) also matches the window's highest price.
//
//	SELECT B.auction, B.bidder, B.price, B.dateTime, B.extra
//	FROM bid B JOIN (
//	    SELECT MAX(price) AS maxprice, window_end AS dateTime
//	    FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
//	    GROUP BY window_start, window_end) B1
//	ON B.price = B1.maxprice
//	WHERE B.dateTime BETWEEN B1.dateTime - INTERVAL '10' SECOND AND B1.dateTime
//
// Each subtask first keeps the best bids of its share of every window
// (sharded by price), then one subtask per window merges the shares.
func Q7(events dag.Stream[Event]) dag.Stream[Q7Row] {
	bids := dag.FlatMap(events, func(e Event, emit func(Q7Row)) {
		if b := &e.Bid; e.Type == BidEvent {
			emit(Q7Row{Auction: b.Auction, Bidder: b.Bidder, Price: b.Price, DateTime: b.DateTime, Extra: b.Extra})
		}
	}, dag.Name("q7-bids"), dag.WithCoder[Q7Row](q7RowCoder{}))
	shares := dag.Process(dag.KeyBy(bids, func(b Q7Row) int64 { return b.Price % 64 }),
		func() dag.ProcessFunc[int64, Q7Row, q7Candidate] { return &q7ShareFn{} },
		dag.Name("q7-shares"), dag.WithCoder[q7Candidate](q7CandidateCoder{}))
	return dag.Process(dag.KeyBy(shares, func(c q7Candidate) int64 { return c.Start }),
		func() dag.ProcessFunc[int64, q7Candidate, Q7Row] { return &q7MaxFn{} }, dag.Name("q7-max"))
}

// q7Best holds the bids of one window with its highest price so far,
// and the bids at the window's end that are at least that high.
type q7Best struct {
	top  []Q7Row // inside the window, all with the highest price
	edge []Q7Row // at the window end
}

func (b *q7Best) max() int64 { return b.top[0].Price }

// MarshalBinary gives q7Best a built-in coder for its state: the counts
// of top and edge, then their rows.
func (b q7Best) MarshalBinary() ([]byte, error) {
	dst := appendInts(nil, int64(len(b.top)), int64(len(b.edge)))
	for _, r := range b.top {
		dst = q7RowCoder{}.Append(dst, r)
	}
	for _, r := range b.edge {
		dst = q7RowCoder{}.Append(dst, r)
	}
	return dst, nil
}

// UnmarshalBinary decodes MarshalBinary's output.
func (b *q7Best) UnmarshalBinary(src []byte) error {
	var nt, ne int64
	w := wire{b: src}
	w.ints(&nt, &ne)
	if err := w.check("q7 window"); err != nil {
		return err
	}
	if nt < 0 || ne < 0 || nt+ne > int64(len(w.b)) {
		return fmt.Errorf("nexmark: corrupt q7 window: %d and %d rows in %d bytes", nt, ne, len(w.b))
	}
	rest := w.b
	read := func(n int64) ([]Q7Row, error) {
		var out []Q7Row
		for range n {
			r, m, err := q7RowCoder{}.Decode(rest)
			if err != nil {
				return nil, err
			}
			out, rest = append(out, r), rest[m:]
		}
		return out, nil
	}
	top, err := read(nt)
	if err != nil {
		return err
	}
	edge, err := read(ne)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("nexmark: %d trailing bytes after a q7 window", len(rest))
	}
	b.top, b.edge = top, edge
	return nil
}

func (b *q7Best) add(r Q7Row, atEnd bool) {
	switch {
	case atEnd:
		if len(b.top) == 0 || r.Price >= b.max() {
			b.edge = append(b.edge, r)
		}
	case len(b.top) == 0 || r.Price > b.max():
		b.top = append(b.top[:0], r)
		keep := b.edge[:0]
		for _, e := range b.edge {
			if e.Price >= r.Price {
				keep = append(keep, e)
			}
		}
		b.edge = keep
	case r.Price == b.max():
		b.top = append(b.top, r)
	}
}

// q7Candidate is a bid that may be a highest bid of the window at Start.
type q7Candidate struct {
	Start int64
	AtEnd bool // the bid is at the window's end, not inside it
	Bid   Q7Row
}

// q7ShareFn keeps the best bids of one price shard per window.
type q7ShareFn struct {
	windows *dag.MapState[int64, int64, q7Best] // by window start
}

func (f *q7ShareFn) Open(oc *dag.ProcessOpenContext[int64]) error {
	f.windows = dag.NewMapState[int64, q7Best](oc, "windows")
	return nil
}

func (f *q7ShareFn) ProcessElement(ctx *dag.ProcessContext[int64, q7Candidate], r Q7Row) error {
	start := floorDiv(r.DateTime, windowMillis) * windowMillis
	f.add(ctx, start, r, false)
	if r.DateTime == start { // also the end of the previous window
		f.add(ctx, start-windowMillis, r, true)
	}
	return nil
}

// add adds r to the window at start and stores the window again (state
// values are never modified in place: the Pebble backend holds copies).
func (f *q7ShareFn) add(ctx *dag.ProcessContext[int64, q7Candidate], start int64, r Q7Row, atEnd bool) {
	b, ok := f.windows.Get(ctx, start)
	if !ok {
		ctx.RegisterEventTimer(start + windowMillis) // the end: bids at it are in
	}
	b.add(r, atEnd)
	f.windows.Put(ctx, start, b)
}

func (f *q7ShareFn) OnTimer(ctx *dag.ProcessContext[int64, q7Candidate], t dag.Timer) error {
	start := t.Timestamp - windowMillis
	b, _ := f.windows.Get(ctx, start)
	for _, r := range b.top {
		ctx.Emit(q7Candidate{Start: start, Bid: r})
	}
	for _, r := range b.edge {
		ctx.Emit(q7Candidate{Start: start, AtEnd: true, Bid: r})
	}
	f.windows.Remove(ctx, start)
	return nil
}

// q7MaxFn merges the shards of a window and emits its highest bids.
type q7MaxFn struct {
	best *dag.ValueState[int64, q7Best]
}

func (f *q7MaxFn) Open(oc *dag.ProcessOpenContext[int64]) error {
	f.best = dag.NewValueState[q7Best](oc, "best")
	return nil
}

func (f *q7MaxFn) ProcessElement(ctx *dag.ProcessContext[int64, Q7Row], c q7Candidate) error {
	b, ok := f.best.Get(ctx)
	if !ok {
		ctx.RegisterEventTimer(c.Start + windowMillis)
	}
	b.add(c.Bid, c.AtEnd)
	f.best.Set(ctx, b)
	return nil
}

func (f *q7MaxFn) OnTimer(ctx *dag.ProcessContext[int64, Q7Row], _ dag.Timer) error {
	b, _ := f.best.Get(ctx)
	f.best.Clear(ctx)
	if len(b.top) == 0 {
		return nil // only bids at the end: the window itself had none
	}
	for _, r := range b.top {
		ctx.Emit(r)
	}
	for _, r := range b.edge {
		if r.Price == b.max() {
			ctx.Emit(r)
		}
	}
	return nil
}

// Hash64 implements Row.
func (r Q7Row) Hash64() uint64 {
	var h hasher
	h.int(r.Auction)
	h.int(r.Bidder)
	h.int(r.Price)
	h.int(r.DateTime)
	h.str(r.Extra)
	return h.sum()
}

type q7RowCoder struct{}

func (q7RowCoder) Append(dst []byte, r Q7Row) []byte {
	return appendStrings(appendInts(dst, r.Auction, r.Bidder, r.Price, r.DateTime), r.Extra)
}

func (q7RowCoder) Decode(src []byte) (Q7Row, int, error) {
	var r Q7Row
	w := wire{b: src}
	w.ints(&r.Auction, &r.Bidder, &r.Price, &r.DateTime)
	w.strings(&r.Extra)
	return r, len(src) - len(w.b), w.check("q7 bid")
}

type q7CandidateCoder struct{}

func (q7CandidateCoder) Append(dst []byte, c q7Candidate) []byte {
	end := int64(0)
	if c.AtEnd {
		end = 1
	}
	return q7RowCoder{}.Append(appendInts(dst, c.Start, end), c.Bid)
}

func (q7CandidateCoder) Decode(src []byte) (q7Candidate, int, error) {
	var c q7Candidate
	var end int64
	w := wire{b: src}
	w.ints(&c.Start, &end)
	if err := w.check("q7 candidate"); err != nil {
		return c, 0, err
	}
	c.AtEnd = end != 0
	r, n, err := q7RowCoder{}.Decode(w.b)
	c.Bid = r
	return c, len(src) - len(w.b) + n, err
}
