package datagen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"

	"github.com/dagflow/dagflow/dag"
)

// maxIdle is how long an unbounded rate-limited reader waits for tokens
// before returning (0, nil).
const maxIdle = 100 * time.Millisecond

// Option configures New.
type Option func(*config)

type config struct {
	count int64 // -1: unbounded
	hold  bool  // unbounded after count records: readers idle
	rate  float64
	seed  uint64
	ts    any // func(int64, T) int64
	clk   clock
	err   error
}

func (c *config) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("datagen: "+format, args...)
	}
}

// Count makes the source bounded with exactly n records, indices 0..n-1.
// Without Count the source is unbounded.
func Count(n int64) Option {
	return func(c *config) {
		if n < 0 {
			c.fail("count must not be negative, got %d", n)
			return
		}
		c.count = n
	}
}

// Hold keeps a source with a Count unbounded: after its records, readers
// idle instead of ending, like a stream with no new data (a job then runs
// until it is stopped or cancelled).
func Hold() Option {
	return func(c *config) { c.hold = true }
}

// Rate limits the whole source to recordsPerSecond, shared among its
// splits in proportion to their records (bounded) or equally (unbounded).
// Each reader enforces its share with a token bucket holding at most
// 100 ms worth of records (at least one).
func Rate(recordsPerSecond float64) Option {
	return func(c *config) {
		if !(recordsPerSecond > 0) || math.IsInf(recordsPerSecond, 0) {
			c.fail("rate must be a positive number of records per second, got %v", recordsPerSecond)
			return
		}
		c.rate = recordsPerSecond
	}
}

// Seed sets the seed that, with the record index, seeds the random
// generator passed to gen (default 0).
func Seed(s uint64) Option {
	return func(c *config) { c.seed = s }
}

// Timestamps sets each record's event timestamp (Unix ms) to
// ts(index, record). Without it records carry dag.MinTime. T must be the
// source's record type; a mismatch is reported by Splits and OpenSplit.
func Timestamps[T any](ts func(index int64, v T) int64) Option {
	return func(c *config) {
		if ts != nil {
			c.ts = ts
		}
	}
}

// withClock replaces the clock (tests).
func withClock(clk clock) Option {
	return func(c *config) { c.clk = clk }
}

// clock abstracts time for the rate limiter.
type clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Source generates records. See New.
type Source[T any] struct {
	gen func(index int64, rnd *rand.Rand) T
	ts  func(index int64, v T) int64
	cfg config
}

var _ dag.Source[int] = (*Source[int])(nil)

// New returns a source of the records gen(index, rnd): bounded with
// Count(n), else unbounded. See the package documentation for
// determinism. gen is called from the reading goroutine of each split and
// must be safe for concurrent use by several splits; rnd belongs to the
// caller only for the duration of the call.
func New[T any](gen func(index int64, rnd *rand.Rand) T, opts ...Option) *Source[T] {
	s := &Source[T]{gen: gen, cfg: config{count: -1, clk: realClock{}}}
	for _, o := range opts {
		if o != nil {
			o(&s.cfg)
		}
	}
	if gen == nil {
		s.cfg.fail("nil generator function")
	}
	if s.cfg.ts != nil {
		f, ok := s.cfg.ts.(func(int64, T) int64)
		if !ok {
			var zero T
			s.cfg.fail("Timestamps function %T does not take records of the source's type %T", s.cfg.ts, zero)
		}
		s.ts = f
	}
	return s
}

// Bounded implements dag.Source: true with Count.
func (s *Source[T]) Bounded() bool { return s.cfg.count >= 0 && !s.cfg.hold }

// splitData is the encoding of dag.Split.Data.
type splitData struct {
	Start  int64   `json:"start"`
	End    int64   `json:"end"` // exclusive; -1 unbounded
	Stride int64   `json:"stride"`
	Rate   float64 `json:"rate,omitempty"` // records per second of this split
	Hold   bool    `json:"hold,omitempty"` // idle at End instead of ending
}

// Splits implements dag.Source. A bounded source of n records gets
// min(n, parallelism) splits of contiguous index ranges; an unbounded one
// gets parallelism splits of interleaved indices.
func (s *Source[T]) Splits(ctx context.Context, sc dag.SplitContext) ([]dag.Split, error) {
	if s.cfg.err != nil {
		return nil, s.cfg.err
	}
	p := int64(max(sc.Parallelism, 1))
	var out []dag.Split
	add := func(d splitData, weight int64) error {
		data, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("datagen: encoding split: %w", err)
		}
		out = append(out, dag.Split{
			ID:     fmt.Sprintf("datagen-%d-%d-%d", d.Start, d.End, d.Stride),
			Data:   data,
			Weight: weight,
		})
		return nil
	}
	if n := s.cfg.count; n >= 0 && s.cfg.hold {
		// A held stream: interleaved indices like an unbounded one, so
		// every split's event time advances at the same pace.
		for i := int64(0); i < min(p, n); i++ {
			d := splitData{Start: i, End: n, Stride: p, Hold: true}
			if s.cfg.rate > 0 {
				d.Rate = s.cfg.rate / float64(p)
			}
			if err := add(d, (n-i+p-1)/p); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	if n := s.cfg.count; n >= 0 {
		for i := int64(0); i < p; i++ {
			// n*i/p without overflow for large n.
			lo, hi := splitPoint(n, i, p), splitPoint(n, i+1, p)
			if lo == hi {
				continue
			}
			d := splitData{Start: lo, End: hi, Stride: 1, Hold: s.cfg.hold}
			if s.cfg.rate > 0 {
				d.Rate = s.cfg.rate * float64(hi-lo) / float64(n)
			}
			if err := add(d, hi-lo); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	for i := int64(0); i < p; i++ {
		d := splitData{Start: i, End: -1, Stride: p}
		if s.cfg.rate > 0 {
			d.Rate = s.cfg.rate / float64(p)
		}
		if err := add(d, 0); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// splitPoint returns floor(n*i/p) for 0 <= i <= p without overflow.
func splitPoint(n, i, p int64) int64 {
	q, r := n/p, n%p
	return q*i + r*i/p
}

// OpenSplit implements dag.Source.
func (s *Source[T]) OpenSplit(ctx context.Context, rc dag.ReaderContext, split dag.Split) (dag.SplitReader[T], error) {
	if s.cfg.err != nil {
		return nil, s.cfg.err
	}
	var d splitData
	if err := json.Unmarshal(split.Data, &d); err != nil {
		return nil, fmt.Errorf("datagen: bad split %q: %w", split.ID, err)
	}
	if d.Start < 0 || d.Stride <= 0 || (d.End >= 0 && d.End < d.Start) || d.Rate < 0 {
		return nil, fmt.Errorf("datagen: bad split %q", split.ID)
	}
	r := &reader[T]{src: s, d: d, next: d.Start, pcg: rand.NewPCG(0, 0), id: split.ID, weight: split.Weight}
	r.rnd = rand.New(r.pcg)
	if d.Rate > 0 {
		r.bucket = &bucket{rate: d.Rate, burst: max(1, d.Rate*maxIdle.Seconds())}
	}
	return r, nil
}

type reader[T any] struct {
	id     string
	weight int64
	src    *Source[T]
	d      splitData
	next   int64 // next index
	pcg    *rand.PCG
	rnd    *rand.Rand
	bucket *bucket
}

// bucket is a token bucket.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

// take refills the bucket at now and removes up to want whole tokens.
func (b *bucket) take(now time.Time, want int) int {
	if b.last.IsZero() {
		b.last = now
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(b.burst, b.tokens+el*b.rate)
		b.last = now
	}
	n := min(want, int(b.tokens))
	b.tokens -= float64(n)
	return n
}

// until returns how long until one token is available.
func (b *bucket) until() time.Duration {
	need := 1 - b.tokens
	if need <= 0 {
		return 0
	}
	return time.Duration(need / b.rate * float64(time.Second))
}

// seed positions the generator for record index i.
func (r *reader[T]) seed(i int64) {
	s1 := splitmix(r.src.cfg.seed ^ splitmix(uint64(i)))
	r.pcg.Seed(s1, splitmix(s1^0x6a09e667f3bcc909))
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// ReadBatch implements dag.SplitReader. It appends up to max records.
// Rate limited, a bounded reader waits (honouring ctx) until it may emit
// at least one record; an unbounded one returns (0, nil) after waiting
// at most 100 ms.
func (r *reader[T]) ReadBatch(ctx context.Context, b *dag.Batch[T], max int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	bounded := r.d.End >= 0
	want := max
	if bounded {
		left := (r.d.End - r.next + r.d.Stride - 1) / r.d.Stride
		if left <= 0 {
			if r.d.Hold {
				return 0, r.src.cfg.clk.Sleep(ctx, maxIdle)
			}
			return 0, io.EOF
		}
		want = int(min(int64(want), left))
	}
	if want <= 0 {
		return 0, nil
	}
	if r.bucket != nil {
		clk := r.src.cfg.clk
		got := r.bucket.take(clk.Now(), want)
		for got == 0 {
			d := r.bucket.until()
			if !bounded {
				d = min(d, maxIdle)
			}
			if err := clk.Sleep(ctx, min(d, maxIdle)); err != nil {
				return 0, err
			}
			got = r.bucket.take(clk.Now(), want)
			if got == 0 && !bounded {
				return 0, nil
			}
		}
		want = got
	}
	for range want {
		i := r.next
		r.seed(i)
		v := r.src.gen(i, r.rnd)
		ts := dag.MinTime
		if r.src.ts != nil {
			ts = r.src.ts(i, v)
		}
		b.Append(v, ts)
		r.next += r.d.Stride
	}
	if bounded && r.next >= r.d.End && !r.d.Hold {
		return want, io.EOF
	}
	return want, nil
}

// Position implements dag.PositionedReader: the split resumes at the next
// record index.
func (r *reader[T]) Position() (dag.Split, error) {
	d := r.d
	d.Start = r.next
	data, err := json.Marshal(d)
	if err != nil {
		return dag.Split{}, fmt.Errorf("datagen: encoding split position: %w", err)
	}
	return dag.Split{ID: r.id, Data: data, Weight: r.weight}, nil
}

// Progress returns how many records of a bounded split were generated and
// the split's size; for unbounded splits it returns (generated, 0).
func (r *reader[T]) Progress() (done, total int64) {
	done = (r.next - r.d.Start) / r.d.Stride
	if r.d.End >= 0 {
		total = r.d.End - r.d.Start
	}
	return done, total
}

// Close implements dag.SplitReader.
func (r *reader[T]) Close() error { return nil }
