package nexmark

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Config describes a Nexmark event stream. The zero value of every field
// but Events selects its default.
type Config struct {
	// Events is the number of events of a bounded stream; 0 makes the
	// stream unbounded.
	Events int64
	// Seed selects the data set: equal configs give identical streams.
	Seed uint64
	// EventRate is how fast event time advances, in events per second of
	// event time (default 10,000,000, the rate of Flink's Nexmark
	// benchmark). It does not limit how fast events are generated; see
	// Rate.
	EventRate float64
	// OutOfOrderness bounds the disorder of event time: no event has an
	// event time more than this before an event earlier in the stream.
	// The source's watermark strategy uses it, so no event is ever late.
	// Default 100ms; use a negative value for an ordered stream.
	OutOfOrderness time.Duration
	// BaseTime is the event time of the first event, Unix ms (default
	// 2023-11-14T22:13:20Z).
	BaseTime int64
	// Rate limits generation to this many events per wall-clock second,
	// shared by the source subtasks (default 0: as fast as possible).
	Rate float64

	// NumActivePeople is how many of the most recent people bid and sell
	// (default 1000).
	NumActivePeople int64
	// NumInFlightAuctions is how many of the most recent auctions receive
	// bids; it also sets the average auction length (default 100).
	NumInFlightAuctions int64
	// HotAuctionRatio: 1 - 1/HotAuctionRatio of the bids go to the
	// current hot auction (default 2).
	HotAuctionRatio int64
	// HotSellersRatio: 1 - 1/HotSellersRatio of the auctions are opened
	// by the current hot seller (default 4).
	HotSellersRatio int64
	// HotBiddersRatio: 1 - 1/HotBiddersRatio of the bids are placed by
	// the current hot bidder (default 4).
	HotBiddersRatio int64
	// AvgPersonBytes, AvgAuctionBytes and AvgBidBytes set the average size
	// of each entity; the Extra field pads to it (defaults 200, 500, 100).
	AvgPersonBytes, AvgAuctionBytes, AvgBidBytes int
}

// Defaults of Config.
const (
	DefaultEventRate      = 10_000_000
	DefaultOutOfOrderness = 100 * time.Millisecond
	DefaultBaseTime       = 1_700_000_000_000
)

// Entity proportions and id bases of the Nexmark model.
const (
	personProportion  = 1
	auctionProportion = 3
	bidProportion     = 46
	totalProportion   = personProportion + auctionProportion + bidProportion

	// FirstPersonID is the id of the first person.
	FirstPersonID = 1000
	// FirstAuctionID is the id of the first auction.
	FirstAuctionID = 1000
	// FirstCategoryID is the smallest auction category.
	FirstCategoryID = 10

	numCategories = 5
	personIDLead  = 10 // bids and auctions may name people not created yet
	auctionIDLead = 10 // bids may name auctions not created yet
	hotBatch      = 100
	numChannels   = 10_000
	// maxGroup caps the out-of-order groups (see Generator.position).
	maxGroup = 1 << 24
	// groupMultiplier is the smallest prime above maxGroup: coprime to
	// every group size, it permutes a group by multiplication.
	groupMultiplier = 16_777_259
)

func (c Config) withDefaults() Config {
	if c.EventRate == 0 {
		c.EventRate = DefaultEventRate
	}
	if c.OutOfOrderness == 0 {
		c.OutOfOrderness = DefaultOutOfOrderness
	} else if c.OutOfOrderness < 0 {
		c.OutOfOrderness = 0
	}
	if c.BaseTime == 0 {
		c.BaseTime = DefaultBaseTime
	}
	def := func(v *int64, d int64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.NumActivePeople, 1000)
	def(&c.NumInFlightAuctions, 100)
	def(&c.HotAuctionRatio, 2)
	def(&c.HotSellersRatio, 4)
	def(&c.HotBiddersRatio, 4)
	defInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defInt(&c.AvgPersonBytes, 200)
	defInt(&c.AvgAuctionBytes, 500)
	defInt(&c.AvgBidBytes, 100)
	return c
}

func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Events < 0 {
		bad("events %d: must not be negative", c.Events)
	}
	if !(c.EventRate > 0) || math.IsInf(c.EventRate, 0) {
		bad("event rate %v: must be a positive number of events per second", c.EventRate)
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		bad("rate %v: must be a non-negative number of events per second", c.Rate)
	}
	if c.OutOfOrderness%time.Millisecond != 0 {
		bad("out-of-orderness %v: must be a whole number of milliseconds", c.OutOfOrderness)
	}
	if c.BaseTime < 0 {
		bad("base time %d: must not be before 1970", c.BaseTime)
	}
	for _, p := range []struct {
		name string
		v    int64
	}{
		{"active people", c.NumActivePeople}, {"in-flight auctions", c.NumInFlightAuctions},
		{"hot auction ratio", c.HotAuctionRatio}, {"hot sellers ratio", c.HotSellersRatio},
		{"hot bidders ratio", c.HotBiddersRatio},
		{"average person size", int64(c.AvgPersonBytes)}, {"average auction size", int64(c.AvgAuctionBytes)},
		{"average bid size", int64(c.AvgBidBytes)},
	} {
		if p.v < 1 {
			bad("%s %d: must be positive", p.name, p.v)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("nexmark: invalid config: %w", err)
	}
	return nil
}

// Generator produces the events of a Config. Event i of the stream is a
// pure function of the config and i, so any subset of the stream can be
// generated anywhere, in any order, by any number of source subtasks.
// A Generator is immutable and safe for concurrent use.
//
// The model follows the Nexmark reference generator (see
// docs/nexmark.md): in every 50 consecutive event ids one person, three
// auctions and 46 bids; person and auction ids increase with the event id;
// bids go to a hot auction and come from a hot bidder most of the time and
// otherwise to one of the most recent auctions and from one of the most
// recently registered people; prices are log-uniform between $1 and $1M;
// half of the bids come through one of four hot channels.
type Generator struct {
	cfg        Config
	msPerEvent float64
	group      int64 // events per out-of-order group
	auctionLen int64 // events until NumInFlightAuctions more auctions exist

	letters  string // random lowercase text: substrings make strings
	words    string // random text with spaces
	names    []string
	states   []string
	cities   []string
	hot      []string // hot channels
	hotURLs  []string
	channels []string // channel names
	urls     []string // their URLs
}

// The value sets of the reference generator.
const (
	hotChannelList = "Google,Facebook,Baidu,Apple"
	usStateList    = "AZ,CA,ID,OR,WA,WY"
	usCityList     = "Phoenix,Los Angeles,San Francisco,Boise,Portland,Bend,Redmond,Seattle,Kent,Cheyenne"
	firstNameList  = "Peter,Paul,Luke,John,Saul,Vicky,Kate,Julie,Sarah,Deiter,Walter"
	lastNameList   = "Shultz,Abrams,Spencer,White,Bartels,Walton,Smith,Jones,Noris"
)

// textSize is the length of the random texts strings are cut from.
const textSize = 1 << 18

// NewGenerator validates cfg, applies defaults and prepares the tables
// the events are drawn from.
func NewGenerator(cfg Config) (*Generator, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	g := &Generator{cfg: cfg, msPerEvent: 1000 / cfg.EventRate}
	// Events of one group of positions are shuffled; a group spans less
	// than OutOfOrderness of event time (minus 1ms for rounding).
	g.group = 1
	if ooo := cfg.OutOfOrderness.Milliseconds(); ooo >= 1 {
		g.group = min(int64(float64(ooo-1)*cfg.EventRate/1000)+1, maxGroup)
	}
	g.auctionLen = cfg.NumInFlightAuctions * totalProportion / auctionProportion
	r := rng{s: mix64(cfg.Seed ^ 0x5bd1e9955bd1e995)}
	var sb strings.Builder
	sb.Grow(textSize)
	for range textSize {
		sb.WriteByte(byte('a' + r.intn(26)))
	}
	g.letters = sb.String()
	sb.Reset()
	sb.Grow(textSize)
	for range textSize {
		if r.intn(13) == 0 {
			sb.WriteByte(' ')
		} else {
			sb.WriteByte(byte('a' + r.intn(26)))
		}
	}
	g.words = sb.String()
	for _, f := range strings.Split(firstNameList, ",") {
		for _, l := range strings.Split(lastNameList, ",") {
			g.names = append(g.names, f+" "+l)
		}
	}
	g.states = strings.Split(usStateList, ",")
	g.cities = strings.Split(usCityList, ",")
	g.hot = strings.Split(hotChannelList, ",")
	for range g.hot {
		g.hotURLs = append(g.hotURLs, g.baseURL(&r))
	}
	g.channels = make([]string, numChannels)
	g.urls = make([]string, numChannels)
	for n := range numChannels {
		g.channels[n] = "channel-" + strconv.Itoa(n)
		url := g.baseURL(&r)
		if r.intn(10) > 0 {
			// The reference's Math.abs(Integer.reverse(n)), without its
			// overflow for n = 1.
			id := int64(int32(bits.Reverse32(uint32(n))))
			url += "&channel_id=" + strconv.FormatInt(max(id, -id), 10)
		}
		g.urls[n] = url
	}
	return g, nil
}

// baseURL returns a random item URL with three short directories.
func (g *Generator) baseURL(r *rng) string {
	var b strings.Builder
	b.WriteString("https://www.nexmark.com/")
	for range 3 {
		for range 3 + r.intn(2) {
			if r.intn(13) == 0 {
				b.WriteByte('_')
			} else {
				b.WriteByte(byte('a' + r.intn(26)))
			}
		}
		b.WriteByte('/')
	}
	b.WriteString("item.htm?query=1")
	return b.String()
}

// Config returns the configuration with defaults applied.
func (g *Generator) Config() Config { return g.cfg }

// MaxOutOfOrderness is the largest amount of event time by which an event
// can precede an event before it in the stream; at most
// Config.OutOfOrderness.
func (g *Generator) MaxOutOfOrderness() time.Duration {
	if g.group <= 1 {
		return 0
	}
	return time.Duration(math.Ceil(float64(g.group-1)*g.msPerEvent)) * time.Millisecond
}

// Event returns event i (0-based) of the stream. For a bounded stream i
// must be below Config.Events.
func (g *Generator) Event(i int64) Event {
	var e Event
	g.fill(&e, i)
	return e
}

// Events returns events [from, to) of the stream, for tests and reference
// implementations.
func (g *Generator) Events(from, to int64) []Event {
	out := make([]Event, 0, max(to-from, 0))
	for i := from; i < to; i++ {
		out = append(out, g.Event(i))
	}
	return out
}

// position returns the event id at stream position i. Positions are
// shuffled within groups of g.group, so event time is out of order by
// less than a group's span but the ids (and so the data) of a bounded
// stream do not depend on the grouping.
func (g *Generator) position(i int64) int64 {
	if g.group <= 1 {
		return i
	}
	base := i / g.group * g.group
	size := g.group
	if n := g.cfg.Events; n > 0 && base+size > n {
		size = n - base // the last group of a bounded stream
	}
	return base + int64(uint64(i-base)*groupMultiplier%uint64(size))
}

// timestamp returns the event time of event id e.
func (g *Generator) timestamp(e int64) int64 {
	return g.cfg.BaseTime + int64(float64(e)*g.msPerEvent)
}

// fill sets *ev to event i of the stream.
func (g *Generator) fill(ev *Event, i int64) {
	e := g.position(i)
	r := rng{s: mix64(g.cfg.Seed+0x9e3779b97f4a7c15) ^ uint64(e)*0xd1342543de82ef95}
	ts := g.timestamp(e)
	switch off := e % totalProportion; {
	case off < personProportion:
		*ev = Event{Type: PersonEvent, Person: g.person(e, ts, &r)}
	case off < personProportion+auctionProportion:
		*ev = Event{Type: AuctionEvent, Auction: g.auction(e, ts, &r)}
	default:
		*ev = Event{Type: BidEvent}
		g.bid(&ev.Bid, e, ts, &r)
	}
}

// lastPerson returns the id (base 0) of the newest person at event id e.
func lastPerson(e int64) int64 {
	epoch, off := e/totalProportion, e%totalProportion
	return epoch*personProportion + min(off, personProportion-1)
}

// lastAuction returns the id (base 0) of the newest auction at event id
// e: the auction of e itself if e is an auction.
func lastAuction(e int64) int64 {
	epoch, off := e/totalProportion, e%totalProportion
	switch {
	case off < personProportion:
		return (epoch-1)*auctionProportion + auctionProportion - 1
	case off >= personProportion+auctionProportion:
		return epoch*auctionProportion + auctionProportion - 1
	}
	return epoch*auctionProportion + off - personProportion
}

// activePerson returns a random recent person (base 0), possibly one not
// registered yet.
func (g *Generator) activePerson(e int64, r *rng) int64 {
	n := lastPerson(e) + 1
	active := min(n, g.cfg.NumActivePeople)
	return n - active + r.int63n(active+personIDLead)
}

// activeAuction returns a random in-flight auction (base 0), possibly one
// not opened yet.
func (g *Generator) activeAuction(e int64, r *rng) int64 {
	last := lastAuction(e)
	first := max(last-g.cfg.NumInFlightAuctions, 0)
	return first + r.int63n(last-first+1+auctionIDLead)
}

// price returns a log-uniform price in cents between 100 and 10^8.
func price(r *rng) int64 {
	return int64(math.Round(math.Exp(r.float64()*6*math.Ln10) * 100))
}

// text returns a random substring of src of length n.
func text(src string, n int, r *rng) string {
	if n <= 0 {
		return ""
	}
	n = min(n, len(src))
	off := r.intn(len(src) - n + 1)
	return src[off : off+n]
}

// nextString returns a random string of 3 to maxLen-1 letters and spaces,
// trimmed.
func (g *Generator) nextString(maxLen int, r *rng) string {
	return strings.TrimSpace(text(g.words, 3+r.intn(maxLen-3), r))
}

// extra pads an entity of size bytes to about avg bytes on average.
func (g *Generator) extra(size, avg int, r *rng) string {
	if size > avg {
		return ""
	}
	avg -= size
	delta := int(math.Round(float64(avg) * 0.2))
	n := avg - delta
	if delta > 0 {
		n += r.intn(2 * delta)
	}
	return text(g.letters, n, r)
}

func (g *Generator) person(e, ts int64, r *rng) *Person {
	p := &Person{ID: lastPerson(e) + FirstPersonID, DateTime: ts}
	p.Name = g.names[r.intn(len(g.names))]
	var b [32]byte
	email := append(b[:0], g.nextString(7, r)...)
	email = append(email, '@')
	email = append(email, g.nextString(5, r)...)
	p.EmailAddress = string(append(email, ".com"...))
	cc := b[:0]
	for i := range 4 {
		if i > 0 {
			cc = append(cc, ' ')
		}
		n := r.intn(10000)
		cc = append(cc, byte('0'+n/1000), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10))
	}
	p.CreditCard = string(cc)
	p.City = g.cities[r.intn(len(g.cities))]
	p.State = g.states[r.intn(len(g.states))]
	size := 8 + len(p.Name) + len(p.EmailAddress) + len(p.CreditCard) + len(p.City) + len(p.State)
	p.Extra = g.extra(size, g.cfg.AvgPersonBytes, r)
	return p
}

func (g *Generator) auction(e, ts int64, r *rng) *Auction {
	a := &Auction{ID: lastAuction(e) + FirstAuctionID, DateTime: ts}
	if r.int63n(g.cfg.HotSellersRatio) > 0 {
		a.Seller = lastPerson(e) / hotBatch * hotBatch // the first person of the latest batch
	} else {
		a.Seller = g.activePerson(e, r)
	}
	a.Seller += FirstPersonID
	a.Category = FirstCategoryID + r.int63n(numCategories)
	a.InitialBid = price(r)
	// Auctions last on average as long as it takes to open
	// NumInFlightAuctions more auctions.
	horizon := g.timestamp(e+g.auctionLen) - ts
	a.Expires = ts + 1 + r.int63n(max(2*horizon, 1))
	a.ItemName = g.nextString(20, r)
	a.Description = g.nextString(100, r)
	a.Reserve = a.InitialBid + price(r)
	size := 8 + len(a.ItemName) + len(a.Description) + 8 + 8 + 8 + 8 + 8
	a.Extra = g.extra(size, g.cfg.AvgAuctionBytes, r)
	return a
}

func (g *Generator) bid(b *Bid, e, ts int64, r *rng) {
	if r.int63n(g.cfg.HotAuctionRatio) > 0 {
		b.Auction = lastAuction(e) / hotBatch * hotBatch // the first auction of the latest batch
	} else {
		b.Auction = g.activeAuction(e, r)
	}
	b.Auction += FirstAuctionID
	if r.int63n(g.cfg.HotBiddersRatio) > 0 {
		b.Bidder = lastPerson(e)/hotBatch*hotBatch + 1 // the second person: hot sellers do not bid
	} else {
		b.Bidder = g.activePerson(e, r)
	}
	b.Bidder += FirstPersonID
	b.Price = price(r)
	if r.intn(2) > 0 {
		i := r.intn(len(g.hot))
		b.Channel, b.URL = g.hot[i], g.hotURLs[i]
	} else {
		n := r.intn(numChannels)
		b.Channel, b.URL = g.channels[n], g.urls[n]
	}
	b.DateTime = ts
	b.Extra = g.extra(32, g.cfg.AvgBidBytes, r)
}

// rng is a splitmix64 generator; every event seeds its own.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// intn returns a number in [0, n) for n > 0.
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int(hi)
}

// int63n returns a number in [0, n) for n > 0.
func (r *rng) int63n(n int64) int64 {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int64(hi)
}

// float64 returns a number in [0, 1).
func (r *rng) float64() float64 { return float64(r.next()>>11) * 0x1p-53 }

func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
