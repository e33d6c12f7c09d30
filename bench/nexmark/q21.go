package nexmark

import (
	"regexp"
	"strings"

	"github.com/dagflow/dagflow/dag"
)

// Q21Row is a bid with the id of its channel.
type Q21Row struct {
	Auction   int64
	Bidder    int64
	Price     int64
	Channel   string
	ChannelID string
}

// Q21 adds a channel id to the bids: a fixed id for the four big
// channels, otherwise the channel_id parameter of the URL, found with a
// regular expression; bids without either are dropped.
//
//	SELECT auction, bidder, price, channel,
//	    CASE WHEN lower(channel) = 'apple' THEN '0'
//	         WHEN lower(channel) = 'google' THEN '1'
//	         WHEN lower(channel) = 'facebook' THEN '2'
//	         WHEN lower(channel) = 'baidu' THEN '3'
//	         ELSE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) END AS channel_id
//	FROM bid
//	WHERE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) IS NOT NULL
//	   OR lower(channel) IN ('apple', 'google', 'facebook', 'baidu')
func Q21(events dag.Stream[Event]) dag.Stream[Q21Row] {
	channelID := channelIDPattern() // safe for concurrent use
	return dag.FlatMap(events, func(e Event, emit func(Q21Row)) {
		b := &e.Bid
		if e.Type != BidEvent {
			return
		}
		id, ok := bigChannelID(b.Channel)
		if !ok {
			if id, ok = extract(channelID, b.URL); !ok {
				return
			}
		}
		emit(Q21Row{Auction: b.Auction, Bidder: b.Bidder, Price: b.Price, Channel: b.Channel, ChannelID: id})
	}, dag.Name("q21"))
}

// channelIDPattern is the regular expression of Q21; group 2 is the id.
func channelIDPattern() *regexp.Regexp { return regexp.MustCompile(`(&|^)channel_id=([^&]*)`) }

// extract is REGEXP_EXTRACT(url, re, 2) for the pattern of
// channelIDPattern. Go's regexp finds no literal to skip ahead to in this
// pattern and tries it at every position of the URL; extract finds the
// first "channel_id=" at the start or after an '&' and runs the
// expression from there, which yields the same (leftmost) match.
func extract(re *regexp.Regexp, url string) (string, bool) {
	for off := 0; ; {
		i := strings.Index(url[off:], "channel_id=")
		if i < 0 {
			return "", false
		}
		if i += off; i == 0 || url[i-1] == '&' {
			s := url[max(i-1, 0):]
			m := re.FindStringSubmatchIndex(s)
			if m == nil || m[4] < 0 {
				return "", false
			}
			return s[m[4]:m[5]], true
		}
		off = i + 1
	}
}

// bigChannelID returns the id of one of the four big channels, whatever
// the case of its name.
func bigChannelID(channel string) (string, bool) {
	switch {
	case strings.EqualFold(channel, "apple"):
		return "0", true
	case strings.EqualFold(channel, "google"):
		return "1", true
	case strings.EqualFold(channel, "facebook"):
		return "2", true
	case strings.EqualFold(channel, "baidu"):
		return "3", true
	}
	return "", false
}

// Hash64 implements Row.
func (r Q21Row) Hash64() uint64 {
	var h hasher
	h.int(r.Auction)
	h.int(r.Bidder)
	h.int(r.Price)
	h.str(r.Channel)
	h.str(r.ChannelID)
	return h.sum()
}
