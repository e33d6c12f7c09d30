package nexmark

import (
	"encoding/binary"
	"fmt"

	"github.com/dagflow/dagflow/dag"
)

// The coders write integers as zig-zag varints and all strings of a
// record as their lengths followed by their bytes, so that decoding a
// record makes one string allocation, sliced into the fields.

// BidCoder is the dag.Coder of Bid.
type BidCoder struct{}

// AuctionCoder is the dag.Coder of Auction.
type AuctionCoder struct{}

// PersonCoder is the dag.Coder of Person.
type PersonCoder struct{}

// EventCoder is the dag.Coder of Event: a type byte and the entity.
type EventCoder struct{}

var (
	_ dag.Coder[Bid]     = BidCoder{}
	_ dag.Coder[Auction] = AuctionCoder{}
	_ dag.Coder[Person]  = PersonCoder{}
	_ dag.Coder[Event]   = EventCoder{}
)

// Append implements dag.Coder.
func (BidCoder) Append(dst []byte, b Bid) []byte {
	dst = appendInts(dst, b.Auction, b.Bidder, b.Price, b.DateTime)
	return appendStrings(dst, b.Channel, b.URL, b.Extra)
}

// Decode implements dag.Coder.
func (BidCoder) Decode(src []byte) (Bid, int, error) {
	var b Bid
	w := wire{b: src}
	w.ints(&b.Auction, &b.Bidder, &b.Price, &b.DateTime)
	w.strings(&b.Channel, &b.URL, &b.Extra)
	return b, len(src) - len(w.b), w.check("bid")
}

// Append implements dag.Coder.
func (AuctionCoder) Append(dst []byte, a Auction) []byte {
	dst = appendInts(dst, a.ID, a.InitialBid, a.Reserve, a.DateTime, a.Expires, a.Seller, a.Category)
	return appendStrings(dst, a.ItemName, a.Description, a.Extra)
}

// Decode implements dag.Coder.
func (AuctionCoder) Decode(src []byte) (Auction, int, error) {
	var a Auction
	w := wire{b: src}
	w.ints(&a.ID, &a.InitialBid, &a.Reserve, &a.DateTime, &a.Expires, &a.Seller, &a.Category)
	w.strings(&a.ItemName, &a.Description, &a.Extra)
	return a, len(src) - len(w.b), w.check("auction")
}

// Append implements dag.Coder.
func (PersonCoder) Append(dst []byte, p Person) []byte {
	dst = appendInts(dst, p.ID, p.DateTime)
	return appendStrings(dst, p.Name, p.EmailAddress, p.CreditCard, p.City, p.State, p.Extra)
}

// Decode implements dag.Coder.
func (PersonCoder) Decode(src []byte) (Person, int, error) {
	var p Person
	w := wire{b: src}
	w.ints(&p.ID, &p.DateTime)
	w.strings(&p.Name, &p.EmailAddress, &p.CreditCard, &p.City, &p.State, &p.Extra)
	return p, len(src) - len(w.b), w.check("person")
}

// Append implements dag.Coder.
func (EventCoder) Append(dst []byte, e Event) []byte {
	dst = append(dst, byte(e.Type))
	switch e.Type {
	case PersonEvent:
		return PersonCoder{}.Append(dst, *e.Person)
	case AuctionEvent:
		return AuctionCoder{}.Append(dst, *e.Auction)
	}
	return BidCoder{}.Append(dst, e.Bid)
}

// Decode implements dag.Coder.
func (EventCoder) Decode(src []byte) (Event, int, error) {
	if len(src) == 0 {
		return Event{}, 0, fmt.Errorf("%w: empty nexmark event", dag.ErrCorruptRecord)
	}
	e := Event{Type: EventType(src[0])}
	var n int
	var err error
	switch e.Type {
	case PersonEvent:
		var p Person
		p, n, err = PersonCoder{}.Decode(src[1:])
		e.Person = &p
	case AuctionEvent:
		var a Auction
		a, n, err = AuctionCoder{}.Decode(src[1:])
		e.Auction = &a
	case BidEvent:
		e.Bid, n, err = BidCoder{}.Decode(src[1:])
	default:
		return Event{}, 0, fmt.Errorf("%w: nexmark event type %d", dag.ErrCorruptRecord, src[0])
	}
	if err != nil {
		return Event{}, 0, err
	}
	return e, n + 1, nil
}

// appendInts appends zig-zag varints.
func appendInts(dst []byte, vs ...int64) []byte {
	for _, v := range vs {
		dst = binary.AppendVarint(dst, v)
	}
	return dst
}

// appendStrings appends the lengths of ss, then their bytes.
func appendStrings(dst []byte, ss ...string) []byte {
	for _, s := range ss {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
	}
	for _, s := range ss {
		dst = append(dst, s...)
	}
	return dst
}

// wire reads what appendInts and appendStrings wrote. The first error
// sticks; later reads do nothing.
type wire struct {
	b   []byte
	err error
}

func (w *wire) ints(dst ...*int64) {
	for _, p := range dst {
		if w.err != nil {
			return
		}
		v, n := binary.Varint(w.b)
		if n <= 0 {
			w.err = fmt.Errorf("%w: bad varint", dag.ErrCorruptRecord)
			return
		}
		*p, w.b = v, w.b[n:]
	}
}

// maxStrings is the most strings one record holds.
const maxStrings = 8

// strings reads len(dst) strings into one allocation.
func (w *wire) strings(dst ...*string) {
	if w.err != nil {
		return
	}
	if len(dst) > maxStrings {
		w.err = fmt.Errorf("nexmark: %d strings in one record", len(dst))
		return
	}
	var lens [maxStrings]int
	total := 0
	for i := range dst {
		l, n := binary.Uvarint(w.b)
		if n <= 0 || l > uint64(len(w.b)) {
			w.err = fmt.Errorf("%w: bad string length", dag.ErrCorruptRecord)
			return
		}
		lens[i], total, w.b = int(l), total+int(l), w.b[n:]
	}
	if total > len(w.b) {
		w.err = fmt.Errorf("%w: strings of %d bytes, %d left", dag.ErrCorruptRecord, total, len(w.b))
		return
	}
	all := string(w.b[:total])
	w.b = w.b[total:]
	off := 0
	for i, p := range dst {
		*p = all[off : off+lens[i]]
		off += lens[i]
	}
}

// check returns the error of the record, naming it.
func (w *wire) check(what string) error {
	if w.err != nil {
		return fmt.Errorf("nexmark %s: %w", what, w.err)
	}
	return nil
}

// MarshalBinary and UnmarshalBinary give Bid, Auction and Person a
// built-in coder (dag.CoderFor), which keyed state needs to be
// checkpointed or kept in Pebble (joins and Reduce keep these records).

// MarshalBinary implements encoding.BinaryMarshaler with BidCoder.
func (b Bid) MarshalBinary() ([]byte, error) { return BidCoder{}.Append(nil, b), nil }

// UnmarshalBinary implements encoding.BinaryUnmarshaler with BidCoder.
func (b *Bid) UnmarshalBinary(src []byte) error { return unmarshalAll(src, b, BidCoder{}.Decode) }

// MarshalBinary implements encoding.BinaryMarshaler with AuctionCoder.
func (a Auction) MarshalBinary() ([]byte, error) { return AuctionCoder{}.Append(nil, a), nil }

// UnmarshalBinary implements encoding.BinaryUnmarshaler with AuctionCoder.
func (a *Auction) UnmarshalBinary(src []byte) error {
	return unmarshalAll(src, a, AuctionCoder{}.Decode)
}

// MarshalBinary implements encoding.BinaryMarshaler with PersonCoder.
func (p Person) MarshalBinary() ([]byte, error) { return PersonCoder{}.Append(nil, p), nil }

// UnmarshalBinary implements encoding.BinaryUnmarshaler with PersonCoder.
func (p *Person) UnmarshalBinary(src []byte) error { return unmarshalAll(src, p, PersonCoder{}.Decode) }

// unmarshalAll decodes exactly src into dst.
func unmarshalAll[T any](src []byte, dst *T, decode func([]byte) (T, int, error)) error {
	v, n, err := decode(src)
	if err != nil {
		return err
	}
	if n != len(src) {
		return fmt.Errorf("nexmark: %d trailing bytes after a %T", len(src)-n, v)
	}
	*dst = v
	return nil
}
