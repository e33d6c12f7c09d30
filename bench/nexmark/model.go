package nexmark

import (
	"cmp"
	"fmt"
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

// EventType says which of the three Nexmark entities an Event carries.
type EventType uint8

const (
	// PersonEvent is a new person registering at the auction site.
	PersonEvent EventType = iota
	// AuctionEvent is a new auction being opened.
	AuctionEvent
	// BidEvent is a bid on an auction.
	BidEvent
)

// String returns "person", "auction" or "bid".
func (t EventType) String() string {
	switch t {
	case PersonEvent:
		return "person"
	case AuctionEvent:
		return "auction"
	case BidEvent:
		return "bid"
	}
	return fmt.Sprintf("event-type(%d)", uint8(t))
}

// Event is one Nexmark event. Type says which field is set: Person and
// Auction are pointers and Bid is stored inline, because 46 of every 50
// events are bids and a small event is cheap to copy through the
// operators of a query.
type Event struct {
	Type    EventType
	Bid     Bid      // valid when Type == BidEvent
	Person  *Person  // set when Type == PersonEvent
	Auction *Auction // set when Type == AuctionEvent
}

// DateTime returns the event time of the event (Unix ms).
func (e Event) DateTime() int64 {
	switch e.Type {
	case PersonEvent:
		return e.Person.DateTime
	case AuctionEvent:
		return e.Auction.DateTime
	}
	return e.Bid.DateTime
}

// String formats the event for logs and test failures.
func (e Event) String() string {
	switch e.Type {
	case PersonEvent:
		return fmt.Sprintf("person%+v", *e.Person)
	case AuctionEvent:
		return fmt.Sprintf("auction%+v", *e.Auction)
	}
	return fmt.Sprintf("bid%+v", e.Bid)
}

// Person is a person registering at the auction site.
type Person struct {
	ID           int64
	Name         string
	EmailAddress string
	CreditCard   string
	City         string
	State        string
	DateTime     int64 // event time, Unix ms
	Extra        string
}

// Auction is an item put up for auction by a seller (a person).
type Auction struct {
	ID          int64
	ItemName    string
	Description string
	InitialBid  int64
	Reserve     int64
	DateTime    int64 // event time the auction opens, Unix ms
	Expires     int64 // event time the auction closes, Unix ms
	Seller      int64 // a Person.ID
	Category    int64
	Extra       string
}

// Bid is a bid of a bidder (a person) on an auction.
type Bid struct {
	Auction  int64 // an Auction.ID
	Bidder   int64 // a Person.ID
	Price    int64 // in cents
	Channel  string
	URL      string
	DateTime int64 // event time, Unix ms
	Extra    string
}

// Row is an output record of a query. Its hash feeds the result checksum:
// equal rows must hash equally, and a hash should cover every field.
type Row interface {
	Hash64() uint64
}

// Hash64 implements Row.
func (b Bid) Hash64() uint64 {
	var h hasher
	b.hashInto(&h)
	return h.sum()
}

// hashInto folds the bid's fields into h.
func (b *Bid) hashInto(h *hasher) {
	h.int(b.Auction)
	h.int(b.Bidder)
	h.int(b.Price)
	h.str(b.Channel)
	h.str(b.URL)
	h.int(b.DateTime)
	h.str(b.Extra)
}

// Hash64 returns a hash of every field of the auction.
func (a Auction) Hash64() uint64 {
	var h hasher
	h.int(a.ID)
	a.hashAfterID(&h)
	return h.sum()
}

// hashAfterID adds every field of the auction but its id to h, in
// declaration order.
func (a *Auction) hashAfterID(h *hasher) {
	h.str(a.ItemName)
	h.str(a.Description)
	h.int(a.InitialBid)
	h.int(a.Reserve)
	h.int(a.DateTime)
	h.int(a.Expires)
	h.int(a.Seller)
	h.int(a.Category)
	h.str(a.Extra)
}

// compareBids is the total order of bids the queries use where the
// Nexmark SQL leaves ties open (ORDER BY price or dateTime only): by
// price, then by event time, then by every other field. It makes "the
// highest bid" and "the last bid" deterministic.
func compareBids(a, b *Bid) int {
	if c := cmp.Compare(a.Price, b.Price); c != 0 {
		return c
	}
	if c := cmp.Compare(a.DateTime, b.DateTime); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Bidder, b.Bidder); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Auction, b.Auction); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Channel, b.Channel); c != 0 {
		return c
	}
	if c := cmp.Compare(a.URL, b.URL); c != 0 {
		return c
	}
	return cmp.Compare(a.Extra, b.Extra)
}

// hasher folds fields into a 64-bit hash with xxhash64's round function
// and finalizer.
type hasher struct {
	h uint64
	n int
}

const (
	prime1 uint64 = 11400714785074694791
	prime2 uint64 = 14029467366897019727
	prime3 uint64 = 1609587929392839161
)

func (h *hasher) int(v int64) {
	h.h = bits.RotateLeft64(h.h+uint64(v)*prime2, 31) * prime1
	h.n++
}

func (h *hasher) str(s string) { h.int(int64(xxhash.Sum64String(s))) }

func (h *hasher) sum() uint64 {
	x := h.h ^ uint64(h.n)*prime3
	x ^= x >> 33
	x *= prime2
	x ^= x >> 29
	x *= prime3
	return x ^ x>>32
}
