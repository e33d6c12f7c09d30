package nexmark

import (
	"strings"

	"github.com/dagflow/dagflow/dag"
)

// Q22Row is a bid with the first three directories of its URL.
type Q22Row struct {
	Auction int64
	Bidder  int64
	Price   int64
	Channel string
	Dir1    string // "" where SQL has NULL
	Dir2    string
	Dir3    string
}

// Q22 splits the bid URLs into directories.
//
//	SELECT auction, bidder, price, channel,
//	    SPLIT_INDEX(url, '/', 3) AS dir1, SPLIT_INDEX(url, '/', 4) AS dir2, SPLIT_INDEX(url, '/', 5) AS dir3
//	FROM bid
func Q22(events dag.Stream[Event]) dag.Stream[Q22Row] {
	return dag.FlatMap(events, func(e Event, emit func(Q22Row)) {
		if b := &e.Bid; e.Type == BidEvent {
			r := Q22Row{Auction: b.Auction, Bidder: b.Bidder, Price: b.Price, Channel: b.Channel}
			rest := splitAfter(b.URL, '/', 3) // SPLIT_INDEX(url, '/', 3…5) in one pass
			r.Dir1, rest = splitIndex(rest, '/', 0), splitAfter(rest, '/', 1)
			r.Dir2, rest = splitIndex(rest, '/', 0), splitAfter(rest, '/', 1)
			r.Dir3 = splitIndex(rest, '/', 0)
			emit(r)
		}
	}, dag.Name("q22"))
}

// splitIndex returns field i (from 0) of s split at sep, or "" when s has
// fewer fields.
func splitIndex(s string, sep byte, i int) string {
	s = splitAfter(s, sep, i)
	if j := strings.IndexByte(s, sep); j >= 0 {
		return s[:j]
	}
	return s
}

// splitAfter returns what follows the i-th sep of s, or "" when s has
// fewer. (An empty result thus stands for both an empty field and no
// field: Q22 outputs "" for SQL's NULL.)
func splitAfter(s string, sep byte, i int) string {
	for ; i > 0; i-- {
		j := strings.IndexByte(s, sep)
		if j < 0 {
			return ""
		}
		s = s[j+1:]
	}
	return s
}

// Hash64 implements Row.
func (r Q22Row) Hash64() uint64 {
	var h hasher
	h.int(r.Auction)
	h.int(r.Bidder)
	h.int(r.Price)
	h.str(r.Channel)
	h.str(r.Dir1)
	h.str(r.Dir2)
	h.str(r.Dir3)
	return h.sum()
}
