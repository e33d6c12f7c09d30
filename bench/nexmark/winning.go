package nexmark

import "github.com/dagflow/dagflow/dag"

// AuctionBid is an auction and one of its bids.
type AuctionBid struct {
	Auction Auction
	Bid     Bid
}

// WinningBids emits the winning bid of every auction when the auction
// closes: among the bids on it placed between its dateTime and its
// expires (inclusive), the highest, ties going to the earliest (then by
// compareBids). Auctions without such a bid emit nothing. The join is
// keyed by auction id and relies on auction ids being unique: an auction's
// state is dropped when it closes, and a bid that arrives before its
// auction waits until the watermark passes its own time, after which no
// auction it could belong to can still arrive.
func WinningBids(auctions dag.Stream[Auction], bids dag.Stream[Bid]) dag.Stream[AuctionBid] {
	return dag.CoProcess(
		dag.KeyBy(auctions, func(a Auction) int64 { return a.ID }),
		dag.KeyBy(bids, func(b Bid) int64 { return b.Auction }),
		func() dag.CoProcessFunc[int64, Auction, Bid, AuctionBid] { return &winningBidFn{} },
		dag.Name("winning-bids"))
}

type winningBidFn struct {
	auction *dag.ValueState[int64, Auction]
	best    *dag.ValueState[int64, Bid]
	early   *dag.ListState[int64, Bid] // bids that came before their auction
}

func (f *winningBidFn) Open(oc *dag.ProcessOpenContext[int64]) error {
	f.auction = dag.NewValueState[Auction](oc, "auction")
	f.best = dag.NewValueState[Bid](oc, "best")
	f.early = dag.NewListState[Bid](oc, "early")
	return nil
}

// ProcessLeft receives an auction: it opens until its expiry timer.
func (f *winningBidFn) ProcessLeft(ctx *dag.ProcessContext[int64, AuctionBid], a Auction) error {
	f.auction.Set(ctx, a)
	ctx.RegisterEventTimer(a.Expires)
	for _, b := range f.early.Get(ctx) {
		f.offer(ctx, &a, b)
	}
	f.early.Clear(ctx)
	return nil
}

// ProcessRight receives a bid.
func (f *winningBidFn) ProcessRight(ctx *dag.ProcessContext[int64, AuctionBid], b Bid) error {
	if a, ok := f.auction.Get(ctx); ok {
		f.offer(ctx, &a, b)
		return nil
	}
	f.early.Add(ctx, b)
	ctx.RegisterEventTimer(b.DateTime)
	return nil
}

func (f *winningBidFn) offer(ctx *dag.ProcessContext[int64, AuctionBid], a *Auction, b Bid) {
	if b.DateTime < a.DateTime || b.DateTime > a.Expires {
		return
	}
	if best, ok := f.best.Get(ctx); !ok || betterBid(&b, &best) {
		f.best.Set(ctx, b)
	}
}

// OnTimer closes an auction that expired and drops early bids that can
// no longer meet their auction.
func (f *winningBidFn) OnTimer(ctx *dag.ProcessContext[int64, AuctionBid], t dag.Timer) error {
	if a, ok := f.auction.Get(ctx); ok {
		if a.Expires <= t.Timestamp {
			if best, ok := f.best.Get(ctx); ok {
				ctx.EmitAt(AuctionBid{Auction: a, Bid: best}, a.Expires)
			}
			f.auction.Clear(ctx)
			f.best.Clear(ctx)
		}
		return nil
	}
	early := f.early.Get(ctx)
	keep := early[:0:0]
	for _, b := range early {
		if b.DateTime > t.Timestamp {
			keep = append(keep, b)
		}
	}
	f.early.Update(ctx, keep)
	return nil
}

// betterBid reports whether a wins over b: a higher price, or the same
// price and earlier (then the smaller in compareBids).
func betterBid(a, b *Bid) bool {
	if a.Price != b.Price {
		return a.Price > b.Price
	}
	if a.DateTime != b.DateTime {
		return a.DateTime < b.DateTime
	}
	return compareBids(a, b) < 0
}
