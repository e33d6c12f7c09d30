package nexmark

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dagflow/dagflow/dag"
)

func TestGeneratorModel(t *testing.T) {
	cfg := testConfig()
	cfg.Events = 50_000
	gen := testGenerator(t, cfg)
	n := gen.Config().Events
	events := gen.Events(0, n)
	var persons, auctions, bids, hotAuction, hotBidder, hotChannel, cold, withID int64
	personIDs, auctionIDs := map[int64]bool{}, map[int64]bool{}
	maxTS := int64(0)
	for i, e := range events {
		ts := e.DateTime()
		if ts < maxTS-cfg.OutOfOrderness.Milliseconds() {
			t.Fatalf("event %d at %d is late: an earlier event was at %d", i, ts, maxTS)
		}
		maxTS = max(maxTS, ts)
		switch e.Type {
		case PersonEvent:
			persons++
			personIDs[e.Person.ID] = true
			if p := e.Person; len(p.CreditCard) != 19 || !strings.HasSuffix(p.EmailAddress, ".com") || p.Name == "" {
				t.Fatalf("bad person %+v", p)
			}
		case AuctionEvent:
			auctions++
			a := e.Auction
			auctionIDs[a.ID] = true
			if a.Expires <= a.DateTime || a.Reserve <= a.InitialBid || a.Category < 10 || a.Category > 14 || a.Seller < FirstPersonID {
				t.Fatalf("bad auction %+v", a)
			}
		case BidEvent:
			bids++
			b := e.Bid
			if b.Price < 100 || b.Price > 100_000_000 || b.Auction < FirstAuctionID || b.Bidder < FirstPersonID {
				t.Fatalf("bad bid %+v", b)
			}
			if b.Auction%100 == 0 {
				hotAuction++
			}
			if b.Bidder%100 == 1 {
				hotBidder++
			}
			if !strings.HasPrefix(b.Channel, "channel-") {
				hotChannel++
			} else {
				cold++
				if strings.Contains(b.URL, "&channel_id=") {
					withID++
				}
			}
			if len(strings.Split(b.URL, "/")) != 7 || len(b.Extra) < 54 || len(b.Extra) > 81 {
				t.Fatalf("bad bid %+v", b)
			}
		}
	}
	if persons*50 != n || auctions*50 != 3*n || bids*50 != 46*n {
		t.Errorf("%d persons, %d auctions, %d bids: want 1 : 3 : 46", persons, auctions, bids)
	}
	// Ids are dense: person and auction i exist for every i.
	for id := range int64(persons) {
		if !personIDs[FirstPersonID+id] {
			t.Fatalf("no person %d", FirstPersonID+id)
		}
	}
	for id := range int64(auctions) {
		if !auctionIDs[FirstAuctionID+id] {
			t.Fatalf("no auction %d", FirstAuctionID+id)
		}
	}
	near := func(what string, got, of int64, want float64) {
		if f := float64(got) / float64(of); f < want-0.03 || f > want+0.03 {
			t.Errorf("%s: %.3f, want %.2f", what, f, want)
		}
	}
	near("bids on hot auctions", hotAuction, bids, 0.5)
	near("bids of hot bidders", hotBidder, bids, 0.75)
	near("bids through hot channels", hotChannel, bids, 0.5)
	near("cold channel URLs with a channel id", withID, cold, 0.9)
	if d := gen.MaxOutOfOrderness(); d <= 0 || d > cfg.OutOfOrderness {
		t.Errorf("MaxOutOfOrderness %v, config %v", d, cfg.OutOfOrderness)
	}
	if span := time.Duration(maxTS-cfg.BaseTime) * time.Millisecond; span < 49*time.Second || span > 50*time.Second {
		t.Errorf("50k events at 1000/s span %v", span)
	}
}

func TestGeneratorDeterminism(t *testing.T) {
	cfg := testConfig()
	cfg.Events = 2000
	a, b := testGenerator(t, cfg), testGenerator(t, cfg)
	ea := a.Events(0, a.Config().Events)
	if !reflect.DeepEqual(ea, b.Events(0, b.Config().Events)) {
		t.Fatal("equal configs give different events")
	}
	// Any position can be generated alone.
	for _, i := range []int64{0, 1, 17, 999, 1999} {
		if got := a.Event(i); !reflect.DeepEqual(got, ea[i]) {
			t.Errorf("Event(%d) = %v, want %v", i, got, ea[i])
		}
	}
	cfg.Seed++
	c := testGenerator(t, cfg)
	if reflect.DeepEqual(ea, c.Events(0, c.Config().Events)) {
		t.Error("another seed gives the same events")
	}
	// Without disorder, events are in event-time order.
	cfg.OutOfOrderness = -1
	d := testGenerator(t, cfg)
	if d.MaxOutOfOrderness() != 0 {
		t.Errorf("ordered stream: MaxOutOfOrderness %v", d.MaxOutOfOrderness())
	}
	ed := d.Events(0, d.Config().Events)
	if !slices.IsSortedFunc(ed, func(x, y Event) int { return int(x.DateTime() - y.DateTime()) }) {
		t.Error("ordered stream out of order")
	}
	if !big.NewInt(groupMultiplier).ProbablyPrime(20) || groupMultiplier <= maxGroup {
		t.Errorf("groupMultiplier %d must be a prime above maxGroup", groupMultiplier)
	}
}

// readSplits reads every split of src for the given parallelism, at most
// limit events per split.
func readSplits(t *testing.T, src *Source, parallelism int, limit int) [][]Event {
	t.Helper()
	ctx := context.Background()
	splits, err := src.Splits(ctx, dag.SplitContext{Parallelism: parallelism})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]Event
	for _, sp := range splits {
		r, err := src.OpenSplit(ctx, dag.ReaderContext{}, sp)
		if err != nil {
			t.Fatal(err)
		}
		var evs []Event
		for len(evs) < limit {
			var b dag.Batch[Event]
			n, err := r.ReadBatch(ctx, &b, 100)
			if n != b.Len() || len(b.TS) != n {
				t.Fatalf("ReadBatch returned %d for %d events, %d timestamps", n, b.Len(), len(b.TS))
			}
			for i, e := range b.Vals {
				if b.TS[i] != e.DateTime() {
					t.Fatalf("timestamp %d of %v", b.TS[i], e)
				}
			}
			evs = append(evs, b.Vals...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, evs)
		r.Close()
	}
	return out
}

func TestSourceSplits(t *testing.T) {
	cfg := testConfig()
	cfg.Events = 10_007
	gen := testGenerator(t, cfg)
	want := gen.Events(0, gen.Config().Events)
	for _, p := range []int{1, 3} {
		splits := readSplits(t, gen.Source(), p, 1<<30)
		if len(splits) < 2*p {
			t.Errorf("parallelism %d: %d splits", p, len(splits))
		}
		if got := slices.Concat(splits...); !reflect.DeepEqual(got, want) {
			t.Errorf("parallelism %d: the splits in order are not the stream", p)
		}
	}
	// Unbounded: split i of p holds positions i, i+p, …
	cfg.Events = 0
	ub := testGenerator(t, cfg)
	if ub.Source().Bounded() || !gen.Source().Bounded() {
		t.Error("Bounded() does not follow Config.Events")
	}
	for i, evs := range readSplits(t, ub.Source(), 3, 300) {
		for j, e := range evs {
			if w := ub.Event(int64(i + 3*j)); !reflect.DeepEqual(e, w) {
				t.Fatalf("unbounded split %d event %d: %v, want %v", i, j, e, w)
			}
		}
	}
	// Splits of one stream do not open in another.
	splits, _ := gen.Source().Splits(context.Background(), dag.SplitContext{Parallelism: 2})
	if _, err := ub.Source().OpenSplit(context.Background(), dag.ReaderContext{}, splits[0]); err == nil {
		t.Error("a bounded split opened in an unbounded source")
	}
	if _, err := gen.Source().OpenSplit(context.Background(), dag.ReaderContext{}, dag.Split{ID: "x", Data: []byte{1, 2}}); err == nil {
		t.Error("corrupt split data opened")
	}
}

func TestSourceRate(t *testing.T) {
	cfg := testConfig()
	cfg.Events, cfg.Rate = 0, 2000
	gen := testGenerator(t, cfg)
	splits, err := gen.Source().Splits(context.Background(), dag.SplitContext{Parallelism: 2})
	if err != nil {
		t.Fatal(err)
	}
	r, err := gen.Source().OpenSplit(context.Background(), dag.ReaderContext{}, splits[0])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	n := 0
	for {
		var b dag.Batch[Event]
		k, err := r.ReadBatch(ctx, &b, 1024)
		n += k
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatal(err)
			}
			break
		}
	}
	// 1000 events/s for this split: about 300 in 300 ms.
	want := time.Since(start).Seconds() * 1000
	if float64(n) < want*0.5 || float64(n) > want*1.5+110 {
		t.Errorf("read %d events in %v at 1000/s", n, time.Since(start))
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Events: -1}, "events -1"},
		{Config{EventRate: -5}, "event rate -5"},
		{Config{Rate: -1}, "rate -1"},
		{Config{OutOfOrderness: time.Microsecond}, "whole number of milliseconds"},
		{Config{HotAuctionRatio: -1}, "hot auction ratio -1"},
	} {
		if _, err := NewGenerator(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.cfg, err, c.want)
		}
	}
}

func TestCoders(t *testing.T) {
	gen := testGenerator(t, testConfig())
	check := func(name string, enc func([]byte) []byte, dec func([]byte) (any, int, error), want any) {
		t.Helper()
		b := enc([]byte("prefix"))[len("prefix"):]
		got, n, err := dec(append(b, "trailing"...))
		if err != nil || n != len(b) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: decoded %v, %d of %d bytes, %v; want %v", name, got, n, len(b), err, want)
		}
		for i := range len(b) - 1 { // every truncation fails cleanly
			if _, _, err := dec(b[:i]); err == nil {
				t.Fatalf("%s: truncated to %d of %d bytes: no error", name, i, len(b))
			}
		}
	}
	for i := range int64(200) {
		e := gen.Event(i)
		check("event", func(d []byte) []byte { return EventCoder{}.Append(d, e) },
			func(s []byte) (any, int, error) { return EventCoder{}.Decode(s) }, e)
		switch e.Type {
		case BidEvent:
			check("bid", func(d []byte) []byte { return BidCoder{}.Append(d, e.Bid) },
				func(s []byte) (any, int, error) { return BidCoder{}.Decode(s) }, e.Bid)
			r := Q7Row{e.Bid.Auction, e.Bid.Bidder, e.Bid.Price, e.Bid.DateTime, e.Bid.Extra}
			c := q7Candidate{Start: -10_000, AtEnd: i%2 == 0, Bid: r}
			check("q7 candidate", func(d []byte) []byte { return q7CandidateCoder{}.Append(d, c) },
				func(s []byte) (any, int, error) { return q7CandidateCoder{}.Decode(s) }, c)
		case AuctionEvent:
			check("auction", func(d []byte) []byte { return AuctionCoder{}.Append(d, *e.Auction) },
				func(s []byte) (any, int, error) { return AuctionCoder{}.Decode(s) }, *e.Auction)
		case PersonEvent:
			p := *e.Person
			check("person", func(d []byte) []byte { return PersonCoder{}.Append(d, p) },
				func(s []byte) (any, int, error) { return PersonCoder{}.Decode(s) }, p)
			qp := q3Person{ID: p.ID, Name: p.Name, City: p.City, State: p.State}
			check("q3 person", func(d []byte) []byte { return q3PersonCoder{}.Append(d, qp) },
				func(s []byte) (any, int, error) { return q3PersonCoder{}.Decode(s) }, qp)
		}
	}
	if _, _, err := (EventCoder{}).Decode([]byte{9, 1, 2}); !errors.Is(err, dag.ErrCorruptRecord) {
		t.Errorf("unknown event type: %v", err)
	}
}

func TestSmallFunctions(t *testing.T) {
	for h := range 24 {
		ts := time.Date(2024, 3, 1, h, 59, 59, 0, time.UTC).UnixMilli()
		want := map[bool]string{true: "dayTime", false: "otherTime"}[h >= 8 && h <= 18]
		if h <= 6 || h >= 20 {
			want = "nightTime"
		}
		if got := bidTimeType(ts); got != want {
			t.Errorf("hour %d: %s, want %s", h, got, want)
		}
	}
	for _, c := range []struct {
		url  string
		i    int
		want string
	}{
		{"https://www.nexmark.com/ab/cd/ef/item.htm?query=1", 3, "ab"},
		{"https://www.nexmark.com/ab/cd/ef/item.htm?query=1", 5, "ef"},
		{"https://www.nexmark.com/ab/cd/ef/item.htm?query=1", 6, "item.htm?query=1"},
		{"https://www.nexmark.com/ab/cd/ef/item.htm?query=1", 7, ""},
		{"a", 0, "a"},
	} {
		if got := splitIndex(c.url, '/', c.i); got != c.want {
			t.Errorf("splitIndex(%q, %d) = %q, want %q", c.url, c.i, got, c.want)
		}
	}
	re := channelIDPattern()
	for _, url := range []string{"channel_id=5", "x?a=1&channel_id=77&b=2", "x?xchannel_id=1", "x?a=&channel_id=&c", "x",
		"xchannel_id=1&channel_id=2", "channel_id=1&channel_id=2", "&channel_id=x&channel_id=y", "a&channel_id", "channel_id="} {
		want, wantOK := refChannelID(url)
		var full string
		m := re.FindStringSubmatchIndex(url)
		if m != nil {
			full = url[m[4]:m[5]]
		}
		got, ok := extract(re, url)
		if (m != nil) != wantOK || full != want || ok != wantOK || got != want {
			t.Errorf("channel id of %q: regexp %q, extract %q %v, reference %q %v", url, full, got, ok, want, wantOK)
		}
	}
	if id, ok := bigChannelID("FaceBook"); !ok || id != "2" {
		t.Errorf("bigChannelID(FaceBook) = %q %v", id, ok)
	}
	if id, ok := bigChannelID("channel-1"); ok || id != "" {
		t.Errorf("bigChannelID(channel-1) = %q %v", id, ok)
	}
	if got := fmt.Sprint(floorDiv(-1, 10), floorDiv(-10, 10), floorDiv(9, 10)); got != "-1 -1 0" {
		t.Errorf("floorDiv: %s", got)
	}
}

// TestSourcePosition reads part of each split, reopens the split at its
// Position and reads on: the events are those of an uninterrupted read,
// bounded and unbounded.
func TestSourcePosition(t *testing.T) {
	ctx := context.Background()
	for _, events := range []int64{5_003, 0} {
		cfg := testConfig()
		cfg.Events = events
		gen := testGenerator(t, cfg)
		splits, err := gen.Source().Splits(ctx, dag.SplitContext{Parallelism: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, sp := range splits {
			read := func(sp dag.Split, limit int) ([]Event, dag.Split, bool) {
				r, err := gen.Source().OpenSplit(ctx, dag.ReaderContext{}, sp)
				if err != nil {
					t.Fatalf("events %d split %s: %v", events, sp.ID, err)
				}
				defer r.Close()
				var got []Event
				for len(got) < limit {
					var b dag.Batch[Event]
					_, err := r.ReadBatch(ctx, &b, 97)
					got = append(got, b.Vals...)
					if err == io.EOF {
						return got, dag.Split{}, true
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				pos, err := r.(dag.PositionedReader).Position()
				if err != nil {
					t.Fatal(err)
				}
				if pos.ID != sp.ID {
					t.Fatalf("Position changed the split id %s to %s", sp.ID, pos.ID)
				}
				return got, pos, false
			}
			want, _, _ := read(sp, 1000)
			first, pos, done := read(sp, 300)
			if !done {
				rest, _, _ := read(pos, 1000-len(first))
				first = append(first, rest...)
			}
			if n := min(len(first), len(want)); !reflect.DeepEqual(first[:n], want[:n]) || len(first) < len(want) && events > 0 {
				t.Fatalf("events %d split %s: resumed read differs from an uninterrupted one", events, sp.ID)
			}
		}
	}
}
