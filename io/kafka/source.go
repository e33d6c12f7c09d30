package kafka

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dagflow/dagflow/dag"
)

// startKind says where a source starts reading.
type startKind uint8

const (
	startEarliest startKind = iota
	startLatest
	startTimestamp
	startCommitted
	startOffsets
)

// SourceOption configures NewSource.
type SourceOption func(*sourceConfig)

type sourceConfig struct {
	topics         []string
	pattern        *regexp.Regexp
	start          startKind
	startTS        int64
	group          string
	offsets        map[TopicPartition]int64
	bounded        bool
	stopTS         int64 // -1: stop at the end offsets
	readCommitted  bool
	commitGroup    string
	skipBad        bool
	deadLetter     func(ctx context.Context, r *Record, err error) error
	connectTimeout time.Duration
	pollWait       time.Duration
	clientOpts     []kgo.Opt
	err            error
}

func (c *sourceConfig) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("kafka: "+format, args...)
	}
}

// Topics sets the topics to read.
func Topics(topics ...string) SourceOption {
	return func(c *sourceConfig) { c.topics = append(c.topics, topics...) }
}

// TopicPattern reads every (non-internal) topic whose name matches the
// regular expression when the job starts. Topics created later are not
// picked up.
func TopicPattern(re string) SourceOption {
	return func(c *sourceConfig) {
		p, err := regexp.Compile(re)
		if err != nil {
			c.fail("bad topic pattern %q: %v", re, err)
			return
		}
		c.pattern = p
	}
}

// StartEarliest starts at the first retained offset of each partition
// (the default).
func StartEarliest() SourceOption { return func(c *sourceConfig) { c.start = startEarliest } }

// StartLatest starts at the end of each partition as listed when the job
// starts: only records produced afterwards are read.
func StartLatest() SourceOption { return func(c *sourceConfig) { c.start = startLatest } }

// StartAt starts at the first record whose timestamp is at or after t
// (the end of the partition if there is none).
func StartAt(t time.Time) SourceOption {
	return func(c *sourceConfig) { c.start, c.startTS = startTimestamp, t.UnixMilli() }
}

// StartCommitted starts at the offsets group committed; partitions without
// a committed offset start at the earliest offset.
func StartCommitted(group string) SourceOption {
	return func(c *sourceConfig) {
		if group == "" {
			c.fail("StartCommitted needs a group name")
		}
		c.start, c.group = startCommitted, group
	}
}

// StartOffsets starts each listed partition at its offset; the others
// start at the earliest offset.
func StartOffsets(offsets map[TopicPartition]int64) SourceOption {
	return func(c *sourceConfig) {
		for tp, o := range offsets {
			if o < 0 {
				c.fail("negative start offset %d for %s", o, tp)
			}
		}
		c.start, c.offsets = startOffsets, maps.Clone(offsets)
	}
}

// BoundedAtEnd makes the source bounded: each partition is read up to its
// end offset as listed when the job starts (the last stable offset with
// read_committed), then the split ends. A topic range can so be read as
// a batch.
func BoundedAtEnd() SourceOption { return func(c *sourceConfig) { c.bounded, c.stopTS = true, -1 } }

// BoundedAt makes the source bounded: each partition is read up to the
// first record whose timestamp is at or after t (as listed when the job
// starts; with non-monotonic record times, later records older than t are
// not read), or its end offset if there is none.
func BoundedAt(t time.Time) SourceOption {
	return func(c *sourceConfig) { c.bounded, c.stopTS = true, t.UnixMilli() }
}

// ReadUncommitted also reads records of open and aborted transactions.
// The default is read_committed.
func ReadUncommitted() SourceOption { return func(c *sourceConfig) { c.readCommitted = false } }

// CommitOffsets commits the offsets of completed checkpoints to group (for
// monitoring and StartCommitted; exactly-once restore uses the
// checkpointed positions, not these). Committed offsets may lag one
// checkpoint behind.
func CommitOffsets(group string) SourceOption {
	return func(c *sourceConfig) {
		if group == "" {
			c.fail("CommitOffsets needs a group name")
		}
		c.commitGroup = group
	}
}

// SkipBadRecords skips records the deserializer rejects (counted in
// Metrics().Skipped) instead of failing the job. The default fails the job
// with an error naming the topic, partition and offset.
func SkipBadRecords() SourceOption {
	return func(c *sourceConfig) { c.skipBad, c.deadLetter = true, nil }
}

// DeadLetter passes records the deserializer rejects to fn (e.g. to
// produce them to a dead-letter topic) and counts them in
// Metrics().DeadLettered; an error from fn fails the job. fn runs on the
// reading goroutine; r is only valid during the call.
func DeadLetter(fn func(ctx context.Context, r *Record, err error) error) SourceOption {
	return func(c *sourceConfig) {
		if fn == nil {
			c.fail("nil dead-letter function")
			return
		}
		c.deadLetter, c.skipBad = fn, false
	}
}

// ConnectTimeout bounds how long Splits retries unreachable brokers before
// failing with an error naming them (default 30s).
func ConnectTimeout(d time.Duration) SourceOption {
	return func(c *sourceConfig) {
		if d <= 0 {
			c.fail("connect timeout must be positive, got %s", d)
			return
		}
		c.connectTimeout = d
	}
}

// PollWait is the longest an unbounded reader waits for records before
// returning an empty batch (default 50ms; the engine expects ~100ms at
// most).
func PollWait(d time.Duration) SourceOption {
	return func(c *sourceConfig) {
		if d <= 0 {
			c.fail("poll wait must be positive, got %s", d)
			return
		}
		c.pollWait = d
	}
}

// ClientOptions adds kgo options (TLS, SASL, fetch sizes...) to every
// client the source creates.
func ClientOptions(opts ...kgo.Opt) SourceOption {
	return func(c *sourceConfig) { c.clientOpts = append(c.clientOpts, opts...) }
}

// SourceMetrics counts what a source did in this process.
type SourceMetrics struct {
	// Records is the number of records returned.
	Records int64
	// Skipped is the number of records the deserializer rejected and
	// SkipBadRecords skipped.
	Skipped int64
	// DeadLettered is the number of records handed to DeadLetter.
	DeadLettered int64
}

// Source reads Kafka topics. See NewSource.
type Source[T any] struct {
	brokers []string
	deser   Deserializer[T]
	cfg     sourceConfig

	records, skipped, deadLettered atomic.Int64

	mu        sync.Mutex
	consumers map[consumerKey]*consumer
}

var (
	_ dag.Source[int]        = (*Source[int])(nil)
	_ dag.PositionedReader   = (*reader[int])(nil)
	_ dag.CheckpointListener = (*reader[int])(nil)
)

// NewSource returns a source reading the topics set with Topics or
// TopicPattern from the cluster at brokers, turning records into T with
// deser. Without BoundedAtEnd or BoundedAt it is unbounded. Option errors
// are reported by Splits.
func NewSource[T any](brokers []string, deser Deserializer[T], opts ...SourceOption) *Source[T] {
	s := &Source[T]{
		brokers:   slices.Clone(brokers),
		deser:     deser,
		cfg:       sourceConfig{readCommitted: true, stopTS: -1, connectTimeout: defaultConnectTimeout, pollWait: 50 * time.Millisecond},
		consumers: make(map[consumerKey]*consumer),
	}
	for _, o := range opts {
		if o != nil {
			o(&s.cfg)
		}
	}
	switch {
	case len(brokers) == 0:
		s.cfg.fail("no brokers given")
	case deser == nil:
		s.cfg.fail("nil deserializer")
	case len(s.cfg.topics) == 0 && s.cfg.pattern == nil:
		s.cfg.fail("no topics: use Topics or TopicPattern")
	case len(s.cfg.topics) > 0 && s.cfg.pattern != nil:
		s.cfg.fail("both Topics and TopicPattern given")
	}
	return s
}

// Metrics returns the source's counters (summed over its readers in this
// process).
func (s *Source[T]) Metrics() SourceMetrics {
	return SourceMetrics{Records: s.records.Load(), Skipped: s.skipped.Load(), DeadLettered: s.deadLettered.Load()}
}

// Bounded implements dag.Source.
func (s *Source[T]) Bounded() bool { return s.cfg.bounded }

// Splits implements dag.Source: one split per partition, with the start
// (and, when bounded, stop) offsets resolved now, in topic and partition
// order.
func (s *Source[T]) Splits(ctx context.Context, _ dag.SplitContext) ([]dag.Split, error) {
	states, err := s.SplitStates(ctx)
	if err != nil {
		return nil, err
	}
	return encodeSplits(states), nil
}

// SplitStates resolves the partitions and their offsets (see Splits).
func (s *Source[T]) SplitStates(ctx context.Context) ([]SplitState, error) {
	return s.splitStates(ctx, s.cfg.start, s.cfg.startTS)
}

// SplitsFrom returns the splits starting at the first record at or after
// t in every partition, whatever the configured start (the stop offsets
// are resolved as configured). A source that switches to Kafka at a time
// known only at run time (a hybrid source) uses it.
func (s *Source[T]) SplitsFrom(ctx context.Context, t time.Time) ([]dag.Split, error) {
	states, err := s.splitStates(ctx, startTimestamp, t.UnixMilli())
	if err != nil {
		return nil, err
	}
	return encodeSplits(states), nil
}

func encodeSplits(states []SplitState) []dag.Split {
	out := make([]dag.Split, 0, len(states))
	for _, st := range states {
		var w int64
		if st.Bounded() {
			w = st.Stop - st.Next
		}
		out = append(out, dag.Split{ID: st.ID(), Data: st.Encode(), Weight: w})
	}
	return out
}

func (s *Source[T]) splitStates(ctx context.Context, start startKind, startTS int64) ([]SplitState, error) {
	if s.cfg.err != nil {
		return nil, s.cfg.err
	}
	cl, err := newAdminClient(s.brokers, s.cfg.clientOpts)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	to := s.cfg.connectTimeout
	parts, err := partitionsOf(ctx, cl, s.brokers, to, s.cfg.topics, s.cfg.pattern)
	if err != nil {
		return nil, err
	}
	rc := s.cfg.readCommitted
	var offsets map[TopicPartition]int64
	switch start {
	case startLatest:
		offsets, err = listOffsets(ctx, cl, s.brokers, to, parts, listLatest, rc)
	case startTimestamp:
		offsets, err = listOffsets(ctx, cl, s.brokers, to, parts, startTS, rc)
	default:
		offsets, err = listOffsets(ctx, cl, s.brokers, to, parts, listEarliest, rc)
	}
	if err != nil {
		return nil, err
	}
	switch start {
	case startCommitted:
		committed, err := committedOffsets(ctx, cl, s.brokers, to, s.cfg.group, parts)
		if err != nil {
			return nil, err
		}
		maps.Copy(offsets, committed)
	case startOffsets:
		for tp, o := range s.cfg.offsets {
			if _, ok := offsets[tp]; !ok {
				return nil, fmt.Errorf("kafka: start offset given for %s, which is not read", tp)
			}
			offsets[tp] = o
		}
	}
	var stop map[TopicPartition]int64
	if s.cfg.bounded {
		ts := listLatest
		if s.cfg.stopTS >= 0 {
			ts = s.cfg.stopTS
		}
		if stop, err = listOffsets(ctx, cl, s.brokers, to, parts, ts, rc); err != nil {
			return nil, err
		}
	}
	var out []SplitState
	for _, t := range sortedTopics(parts) {
		for _, p := range parts[t] {
			tp := TopicPartition{t, p}
			st := SplitState{TopicPartition: tp, Next: offsets[tp], Stop: noStop}
			if stop != nil {
				st.Stop = max(stop[tp], st.Next)
			}
			out = append(out, st)
		}
	}
	return out, nil
}

// OpenSplit implements dag.Source. Readers of the same subtask attempt
// share one client.
func (s *Source[T]) OpenSplit(ctx context.Context, rc dag.ReaderContext, split dag.Split) (dag.SplitReader[T], error) {
	if s.cfg.err != nil {
		return nil, s.cfg.err
	}
	st, err := DecodeSplit(split.Data)
	if err != nil {
		return nil, fmt.Errorf("kafka: split %s: %w", split.ID, err)
	}
	r := &reader[T]{src: s, st: st, id: split.ID}
	if st.Bounded() && st.Next >= st.Stop {
		r.done = true
		return r, nil
	}
	c, ps, err := s.acquire(consumerKey{rc.Subtask, rc.Attempt}, st)
	if err != nil {
		return nil, err
	}
	r.c, r.ps = c, ps
	return r, nil
}
