package nexmark

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// The reference implementations compute each query over a bounded event
// slice in plain Go, straight from the SQL, without the engine: the final
// result of the query once all input has been seen. They are written for
// clarity, not speed, and share no query code with the engine versions
// except the tie-breaking order of bids (compareBids), which the SQL
// leaves open.

func bidsOf(events []Event) []Bid {
	var out []Bid
	for _, e := range events {
		if e.Type == BidEvent {
			out = append(out, e.Bid)
		}
	}
	return out
}

func auctionsOf(events []Event) []Auction {
	var out []Auction
	for _, e := range events {
		if e.Type == AuctionEvent {
			out = append(out, *e.Auction)
		}
	}
	return out
}

func personsOf(events []Event) []Person {
	var out []Person
	for _, e := range events {
		if e.Type == PersonEvent {
			out = append(out, *e.Person)
		}
	}
	return out
}

func refQ0(events []Event) []Bid { return bidsOf(events) }

func refQ1(events []Event) []Q1Row {
	var out []Q1Row
	for _, b := range bidsOf(events) {
		out = append(out, Q1Row{b.Auction, b.Bidder, b.Price * 908, b.DateTime, b.Extra})
	}
	return out
}

func refQ2(events []Event) []Q2Row {
	var out []Q2Row
	for _, b := range bidsOf(events) {
		if b.Auction%123 == 0 {
			out = append(out, Q2Row{b.Auction, b.Price})
		}
	}
	return out
}

func refQ3(events []Event) []Q3Row {
	var out []Q3Row
	persons := personsOf(events)
	for _, a := range auctionsOf(events) {
		for _, p := range persons {
			if a.Seller == p.ID && a.Category == 10 && (p.State == "OR" || p.State == "ID" || p.State == "CA") {
				out = append(out, Q3Row{p.Name, p.City, p.State, a.ID})
			}
		}
	}
	return out
}

// refWinners returns the winning bid of every auction that has one.
func refWinners(events []Event) []AuctionBid {
	byAuction := map[int64][]Bid{}
	for _, b := range bidsOf(events) {
		byAuction[b.Auction] = append(byAuction[b.Auction], b)
	}
	var out []AuctionBid
	for _, a := range auctionsOf(events) {
		var in []Bid
		for _, b := range byAuction[a.ID] {
			if a.DateTime <= b.DateTime && b.DateTime <= a.Expires {
				in = append(in, b)
			}
		}
		if len(in) == 0 {
			continue
		}
		// ORDER BY price DESC, dateTime ASC, then the tie-break.
		slices.SortFunc(in, func(x, y Bid) int {
			if c := cmp.Compare(y.Price, x.Price); c != 0 {
				return c
			}
			if c := cmp.Compare(x.DateTime, y.DateTime); c != 0 {
				return c
			}
			return compareBids(&x, &y)
		})
		out = append(out, AuctionBid{Auction: a, Bid: in[0]})
	}
	return out
}

func refQ4(events []Event) []Q4Row {
	type agg struct{ sum, n int64 }
	byCategory := map[int64]*agg{}
	for _, w := range refWinners(events) {
		a := byCategory[w.Auction.Category]
		if a == nil {
			a = &agg{}
			byCategory[w.Auction.Category] = a
		}
		a.sum += w.Bid.Price
		a.n++
	}
	var out []Q4Row
	for c, a := range byCategory {
		out = append(out, Q4Row{c, a.sum / a.n})
	}
	return out
}

func refQ5(events []Event) []Q5Row {
	const size, slide = 10_000, 2_000
	counts := map[int64]map[int64]int64{} // window start -> auction -> bids
	for _, b := range bidsOf(events) {
		for start := b.DateTime - (b.DateTime%slide+slide)%slide; start > b.DateTime-size; start -= slide {
			if counts[start] == nil {
				counts[start] = map[int64]int64{}
			}
			counts[start][b.Auction]++
		}
	}
	var out []Q5Row
	for start, byAuction := range counts {
		maxn := int64(0)
		for _, n := range byAuction {
			maxn = max(maxn, n)
		}
		for a, n := range byAuction {
			if n >= maxn {
				out = append(out, Q5Row{a, n, start})
			}
		}
	}
	return out
}

func refQ7(events []Event) []Q7Row {
	const size = 10_000
	bids := bidsOf(events)
	maxPrice := map[int64]int64{} // window end -> MAX(price)
	for _, b := range bids {
		end := b.DateTime - (b.DateTime%size+size)%size + size
		maxPrice[end] = max(maxPrice[end], b.Price)
	}
	var out []Q7Row
	for end, m := range maxPrice {
		for _, b := range bids {
			if b.Price == m && end-size <= b.DateTime && b.DateTime <= end {
				out = append(out, Q7Row{b.Auction, b.Bidder, b.Price, b.DateTime, b.Extra})
			}
		}
	}
	return out
}

func refQ8(events []Event) []Q8Row {
	const size = 10_000
	start := func(ts int64) int64 { return ts - (ts%size+size)%size }
	type key struct{ id, start int64 }
	sellers := map[key]bool{}
	for _, a := range auctionsOf(events) {
		sellers[key{a.Seller, start(a.DateTime)}] = true
	}
	seen := map[key]bool{}
	var out []Q8Row
	for _, p := range personsOf(events) {
		k := key{p.ID, start(p.DateTime)}
		if sellers[k] && !seen[k] {
			seen[k] = true
			out = append(out, Q8Row{p.ID, p.Name, k.start})
		}
	}
	return out
}

func refQ9(events []Event) []Q9Row { return refWinners(events) }

func refQ11(events []Event) []Q11Row {
	const gap = 10_000
	times := map[int64][]int64{}
	for _, b := range bidsOf(events) {
		times[b.Bidder] = append(times[b.Bidder], b.DateTime)
	}
	var out []Q11Row
	for bidder, ts := range times {
		slices.Sort(ts)
		first := 0
		for i := 1; i <= len(ts); i++ {
			if i == len(ts) || ts[i]-ts[i-1] > gap {
				out = append(out, Q11Row{bidder, int64(i - first), ts[first], ts[i-1] + gap})
				first = i
			}
		}
	}
	return out
}

func refQ14(events []Event) []Q14Row {
	var out []Q14Row
	for _, b := range bidsOf(events) {
		euro := float64(b.Price) * 0.908
		if !(euro > 1_000_000 && euro < 50_000_000) {
			continue
		}
		kind := "otherTime"
		switch h := time.UnixMilli(b.DateTime).UTC().Hour(); {
		case 8 <= h && h <= 18:
			kind = "dayTime"
		case h <= 6 || h >= 20:
			kind = "nightTime"
		}
		c := 0
		for _, r := range b.Extra {
			if r == 'c' {
				c++
			}
		}
		out = append(out, Q14Row{b.Auction, b.Bidder, b.Price * 908, kind, b.DateTime, b.Extra, int64(c)})
	}
	return out
}

func refQ17(events []Event) []Q17Row {
	type key struct {
		auction int64
		day     string
	}
	stats := map[key]*Q17Row{}
	for _, b := range bidsOf(events) {
		k := key{b.Auction, time.UnixMilli(b.DateTime).UTC().Format("2006-01-02")}
		s := stats[k]
		if s == nil {
			s = &Q17Row{Auction: k.auction, Day: k.day, MinPrice: b.Price, MaxPrice: b.Price}
			stats[k] = s
		}
		s.TotalBids++
		if b.Price < 10000 {
			s.Rank1Bids++
		}
		if b.Price >= 10000 && b.Price < 1000000 {
			s.Rank2Bids++
		}
		if b.Price >= 1000000 {
			s.Rank3Bids++
		}
		s.MinPrice = min(s.MinPrice, b.Price)
		s.MaxPrice = max(s.MaxPrice, b.Price)
		s.SumPrice += b.Price
	}
	var out []Q17Row
	for _, s := range stats {
		s.AvgPrice = s.SumPrice / s.TotalBids
		out = append(out, *s)
	}
	return out
}

func refQ18(events []Event) []Bid {
	type key struct{ bidder, auction int64 }
	last := map[key]Bid{}
	for _, b := range bidsOf(events) {
		k := key{b.Bidder, b.Auction}
		cur, ok := last[k]
		// ORDER BY dateTime DESC, then the tie-break.
		if !ok || b.DateTime > cur.DateTime || b.DateTime == cur.DateTime && compareBids(&b, &cur) > 0 {
			last[k] = b
		}
	}
	var out []Bid
	for _, b := range last {
		out = append(out, b)
	}
	return out
}

func refQ19(events []Event) []Q19Row {
	byAuction := map[int64][]Bid{}
	for _, b := range bidsOf(events) {
		byAuction[b.Auction] = append(byAuction[b.Auction], b)
	}
	var out []Q19Row
	for _, bids := range byAuction {
		slices.SortFunc(bids, func(x, y Bid) int { return compareBids(&y, &x) }) // price DESC
		for i, b := range bids[:min(len(bids), 10)] {
			out = append(out, Q19Row{b, int64(i + 1)})
		}
	}
	return out
}

func refQ20(events []Event) []Q20Row {
	byID := map[int64][]Auction{}
	for _, a := range auctionsOf(events) {
		byID[a.ID] = append(byID[a.ID], a)
	}
	var out []Q20Row
	for _, b := range bidsOf(events) {
		for _, a := range byID[b.Auction] {
			if a.Category == 10 {
				out = append(out, Q20Row{Auction: a, Bid: b})
			}
		}
	}
	return out
}

func refQ21(events []Event) []Q21Row {
	var out []Q21Row
	for _, b := range bidsOf(events) {
		id, ok := map[string]string{"apple": "0", "google": "1", "facebook": "2", "baidu": "3"}[strings.ToLower(b.Channel)]
		if !ok {
			id, ok = refChannelID(b.URL)
		}
		if ok {
			out = append(out, Q21Row{b.Auction, b.Bidder, b.Price, b.Channel, id})
		}
	}
	return out
}

// refChannelID is REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) by
// hand: the value of the first channel_id parameter at the start of url
// or after an '&'.
func refChannelID(url string) (string, bool) {
	for i := 0; i < len(url); i++ {
		if i > 0 && url[i-1] != '&' || !strings.HasPrefix(url[i:], "channel_id=") {
			continue
		}
		v := url[i+len("channel_id="):]
		if j := strings.IndexByte(v, '&'); j >= 0 {
			v = v[:j]
		}
		return v, true
	}
	return "", false
}

func refQ22(events []Event) []Q22Row {
	var out []Q22Row
	for _, b := range bidsOf(events) {
		parts := strings.Split(b.URL, "/")
		dir := func(i int) string {
			if i < len(parts) {
				return parts[i]
			}
			return ""
		}
		out = append(out, Q22Row{b.Auction, b.Bidder, b.Price, b.Channel, dir(3), dir(4), dir(5)})
	}
	return out
}
