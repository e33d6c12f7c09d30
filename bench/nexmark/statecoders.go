package nexmark

import "fmt"

// Built-in coders (dag.CoderFor) of the types the queries keep in keyed
// state, so that their state can be checkpointed and kept in Pebble.

// MarshalBinary implements encoding.BinaryMarshaler.
func (p q3Person) MarshalBinary() ([]byte, error) { return q3PersonCoder{}.Append(nil, p), nil }

// UnmarshalBinary implements encoding.BinaryUnmarshaler.
func (p *q3Person) UnmarshalBinary(src []byte) error {
	return unmarshalAll(src, p, q3PersonCoder{}.Decode)
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (s q4Sum) MarshalBinary() ([]byte, error) { return appendInts(nil, s.sum, s.n), nil }

// UnmarshalBinary implements encoding.BinaryUnmarshaler.
func (s *q4Sum) UnmarshalBinary(src []byte) error {
	w := wire{b: src}
	w.ints(&s.sum, &s.n)
	return exact(&w, "q4 sum")
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (s q17Stats) MarshalBinary() ([]byte, error) {
	return appendInts(nil, s.Total, s.Rank1, s.Rank2, s.Rank3, s.Min, s.Max, s.Sum), nil
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler.
func (s *q17Stats) UnmarshalBinary(src []byte) error {
	w := wire{b: src}
	w.ints(&s.Total, &s.Rank1, &s.Rank2, &s.Rank3, &s.Min, &s.Max, &s.Sum)
	return exact(&w, "q17 statistics")
}

// MarshalBinary implements encoding.BinaryMarshaler: the bids in their
// order (which keeps the lowest first once full).
func (t topBids) MarshalBinary() ([]byte, error) {
	dst := appendInts(nil, int64(len(t)))
	for _, b := range t {
		dst = BidCoder{}.Append(dst, b)
	}
	return dst, nil
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler.
func (t *topBids) UnmarshalBinary(src []byte) error {
	var n int64
	w := wire{b: src}
	w.ints(&n)
	if err := w.check("q19 top bids"); err != nil {
		return err
	}
	if n < 0 || n > q19Top {
		return fmt.Errorf("nexmark: corrupt q19 top bids: %d bids", n)
	}
	out := make(topBids, 0, q19Top)
	rest := w.b
	for range n {
		b, m, err := BidCoder{}.Decode(rest)
		if err != nil {
			return err
		}
		out, rest = append(out, b), rest[m:]
	}
	if len(rest) != 0 {
		return fmt.Errorf("nexmark: %d trailing bytes after q19 top bids", len(rest))
	}
	*t = out
	return nil
}

// exact checks that w decoded without error and consumed everything.
func exact(w *wire, what string) error {
	if err := w.check(what); err != nil {
		return err
	}
	if len(w.b) != 0 {
		return fmt.Errorf("nexmark: %d trailing bytes after a %s", len(w.b), what)
	}
	return nil
}
