package nexmark

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/dagflow/dagflow/dag"
)

// Source is a dag.Source of a generator's events. Readers set each
// record's timestamp to its event time.
//
// A bounded stream is cut into splits of consecutive positions, handed
// out in stream order, so a source subtask that reads several splits
// never goes back in event time and no event is late however splits are
// assigned. An unbounded stream gets one split per source subtask, split
// i holding positions i, i+p, i+2p…: all subtasks advance through event
// time together.
type Source struct {
	g *Generator
}

var _ dag.Source[Event] = (*Source)(nil)

// Source returns a dag.Source of the generator's events.
func (g *Generator) Source() *Source { return &Source{g: g} }

// WatermarkStrategy returns the strategy for the generator's events: the
// reader's timestamps and the configured out-of-orderness, which bounds
// the generated disorder, so no event is late.
func (g *Generator) WatermarkStrategy() *dag.WatermarkStrategy[Event] {
	return &dag.WatermarkStrategy[Event]{OutOfOrderness: g.cfg.OutOfOrderness}
}

// Read adds a source vertex named "events" reading gen's events to graph,
// with the generator's watermark strategy and EventCoder.
func Read(graph *dag.Graph, gen *Generator, options ...dag.Option) dag.Stream[Event] {
	options = append([]dag.Option{dag.WithCoder[Event](EventCoder{})}, options...)
	return dag.FromSource(graph, "events", gen.Source(), gen.WatermarkStrategy(), options...)
}

// Bounded implements dag.Source: true when Config.Events is set.
func (s *Source) Bounded() bool { return s.g.cfg.Events > 0 }

// Split sizes of a bounded stream: about four splits per subtask, so
// subtasks finish together, but no more positions per split than the
// event time a window of the queries spans at the default rate.
const (
	minSplit = 1024
	maxSplit = 1 << 18
)

// splitData is what a split holds: positions start, start+stride, … up
// to end (exclusive; -1 unbounded), generated at up to rate events/s.
type splitData struct {
	start, stride, end int64
	rate               float64
}

func (d splitData) encode() []byte {
	b := binary.AppendVarint(nil, d.start)
	b = binary.AppendVarint(b, d.stride)
	b = binary.AppendVarint(b, d.end)
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(d.rate))
}

func decodeSplit(b []byte) (splitData, error) {
	var d splitData
	var vals [3]int64
	for i := range vals {
		v, n := binary.Varint(b)
		if n <= 0 {
			return d, fmt.Errorf("nexmark: corrupt split data")
		}
		vals[i], b = v, b[n:]
	}
	if len(b) != 8 {
		return d, fmt.Errorf("nexmark: corrupt split data")
	}
	d = splitData{start: vals[0], stride: vals[1], end: vals[2], rate: math.Float64frombits(binary.LittleEndian.Uint64(b))}
	if d.start < 0 || d.stride < 1 || d.end < -1 || d.end >= 0 && d.end < d.start || !(d.rate >= 0) {
		return d, fmt.Errorf("nexmark: invalid split %+v", d)
	}
	return d, nil
}

// Splits implements dag.Source.
func (s *Source) Splits(_ context.Context, sc dag.SplitContext) ([]dag.Split, error) {
	p := int64(max(sc.Parallelism, 1))
	rate := s.g.cfg.Rate / float64(p)
	var out []dag.Split
	add := func(d splitData, weight int64) {
		out = append(out, dag.Split{ID: fmt.Sprintf("nexmark-%d-%d", d.start, d.stride), Data: d.encode(), Weight: weight})
	}
	if n := s.g.cfg.Events; n > 0 {
		size := min(max((n+4*p-1)/(4*p), minSplit), maxSplit)
		for start := int64(0); start < n; start += size {
			end := min(start+size, n)
			add(splitData{start: start, stride: 1, end: end, rate: rate}, end-start)
		}
		return out, nil
	}
	for i := range p {
		add(splitData{start: i, stride: p, end: -1, rate: rate}, 0)
	}
	return out, nil
}

// OpenSplit implements dag.Source.
func (s *Source) OpenSplit(_ context.Context, _ dag.ReaderContext, split dag.Split) (dag.SplitReader[Event], error) {
	d, err := decodeSplit(split.Data)
	if err != nil {
		return nil, fmt.Errorf("split %s: %w", split.ID, err)
	}
	if n := s.g.cfg.Events; n > 0 && (d.end < 0 || d.end > n) || n == 0 && d.end >= 0 {
		return nil, fmt.Errorf("nexmark: split %s does not belong to a stream of %d events", split.ID, n)
	}
	return &reader{g: s.g, split: split, d: d, next: d.start}, nil
}

// maxWait bounds how long a rate-limited reader sleeps in one call.
const maxWait = 100 * time.Millisecond

// reader generates the positions of one split.
type reader struct {
	g       *Generator
	split   dag.Split
	d       splitData
	next    int64
	start   time.Time // rate limiting: when the first batch was read
	emitted int64     // rate limiting: events since start
}

// ReadBatch implements dag.SplitReader.
func (r *reader) ReadBatch(ctx context.Context, b *dag.Batch[Event], max int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	want := int64(max)
	if r.d.end >= 0 {
		left := (r.d.end - r.next + r.d.stride - 1) / r.d.stride
		if left <= 0 {
			return 0, io.EOF
		}
		want = min(want, left)
	}
	if r.d.rate > 0 {
		allowed, wait := r.allowed(time.Now())
		if allowed <= 0 {
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-t.C:
				return 0, nil
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		want = min(want, allowed)
	}
	n := len(b.Vals)
	b.Vals = slices.Grow(b.Vals, int(want))[:n+int(want)]
	b.TS = slices.Grow(b.TS, int(want))[:n+int(want)]
	for k := n; k < len(b.Vals); k++ {
		r.g.fill(&b.Vals[k], r.next)
		b.TS[k] = b.Vals[k].DateTime()
		r.next += r.d.stride
	}
	r.emitted += want
	if r.d.end >= 0 && r.next >= r.d.end {
		return int(want), io.EOF
	}
	return int(want), nil
}

// allowed returns how many events the rate allows now, or how long to
// wait for the next one. Credit unused for more than maxWait is dropped.
func (r *reader) allowed(now time.Time) (int64, time.Duration) {
	if r.start.IsZero() {
		r.start = now
	}
	elapsed := now.Sub(r.start).Seconds()
	burst := int64(r.d.rate*maxWait.Seconds()) + 1
	due := int64(elapsed*r.d.rate) + 1
	if due-r.emitted > burst {
		r.emitted = due - burst
	}
	if n := due - r.emitted; n > 0 {
		return n, 0
	}
	wait := time.Duration((float64(r.emitted)/r.d.rate - elapsed) * float64(time.Second))
	return 0, min(max(wait, time.Millisecond), maxWait)
}

var _ dag.PositionedReader = (*reader)(nil)

// Position implements dag.PositionedReader: the split resumes at the next
// position, so a checkpointed job restores its sources exactly.
func (r *reader) Position() (dag.Split, error) {
	sp := r.split
	d := r.d
	d.start = r.next
	if d.end >= 0 && d.start > d.end {
		d.start = d.end
	}
	sp.Data = d.encode()
	return sp, nil
}

// Close implements dag.SplitReader.
func (r *reader) Close() error { return nil }
