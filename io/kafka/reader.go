package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dagflow/dagflow/dag"
)

// consumerKey identifies the source subtask attempt whose readers share a
// client.
type consumerKey struct{ subtask, attempt int }

// consumer is the kgo client of one source subtask attempt, shared by the
// readers of its splits. The engine calls a subtask's readers from one
// goroutine; mu also makes other callers (tests, checkpoint notifications)
// safe.
type consumer struct {
	key      consumerKey
	brokers  []string
	pollWait time.Duration

	mu    sync.Mutex
	cl    *kgo.Client
	refs  int
	parts map[TopicPartition]*partBuf
}

// partBuf holds the fetched, not yet returned records of one partition.
type partBuf struct {
	recs []*kgo.Record
	i    int
}

func (p *partBuf) empty() bool { return p.i >= len(p.recs) }

// acquire returns the subtask's consumer with st's partition added at
// st.Next.
func (s *Source[T]) acquire(key consumerKey, st SplitState) (*consumer, *partBuf, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at := map[string]map[int32]kgo.Offset{st.Topic: {st.Partition: kgo.NewOffset().At(st.Next)}}
	c := s.consumers[key]
	if c == nil {
		opts := []kgo.Opt{
			kgo.SeedBrokers(s.brokers...),
			kgo.ConsumePartitions(at),
			kgo.KeepControlRecords(),
			kgo.MaxVersions(nameVersions()),
			// Kafka's own default (kgo's is 5s): a partition added to the
			// shared client is fetched once the current long poll ends.
			kgo.FetchMaxWait(500 * time.Millisecond),
		}
		if s.cfg.readCommitted {
			opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		} else {
			opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
		}
		opts = append(opts, s.cfg.clientOpts...)
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("kafka: creating consumer for %s: %w", st.TopicPartition, err)
		}
		c = &consumer{key: key, brokers: s.brokers, pollWait: s.cfg.pollWait, cl: cl, parts: make(map[TopicPartition]*partBuf)}
		s.consumers[key] = c
	} else {
		c.mu.Lock()
		_, dup := c.parts[st.TopicPartition]
		c.mu.Unlock()
		if dup {
			return nil, nil, fmt.Errorf("kafka: partition %s is already being read by subtask %d", st.TopicPartition, key.subtask)
		}
		c.cl.AddConsumePartitions(at)
	}
	ps := &partBuf{}
	c.mu.Lock()
	c.parts[st.TopicPartition] = ps
	c.refs++
	c.mu.Unlock()
	return c, ps, nil
}

// release stops reading tp and closes the client when no reader is left.
func (s *Source[T]) release(c *consumer, tp TopicPartition) {
	s.mu.Lock()
	c.mu.Lock()
	delete(c.parts, tp)
	c.refs--
	last := c.refs == 0
	if last {
		if s.consumers[c.key] == c {
			delete(s.consumers, c.key)
		}
	}
	c.mu.Unlock()
	s.mu.Unlock()
	if last {
		c.cl.Close()
		return
	}
	c.cl.RemoveConsumePartitions(map[string][]int32{tp.Topic: {tp.Partition}})
}

// poll fetches what the client has and distributes it to the partition
// buffers. It waits up to pollWait for data unless some partition already
// has buffered records. Called with c.mu held.
func (c *consumer) poll(ctx context.Context) error {
	wait := c.pollWait
	for _, p := range c.parts {
		if !p.empty() {
			wait = 0
			break
		}
	}
	var fs kgo.Fetches
	if wait > 0 {
		pctx, cancel := context.WithTimeout(ctx, wait)
		fs = c.cl.PollFetches(pctx)
		cancel()
	} else {
		// A nil context takes what is buffered without waiting (a
		// canceled one would return at once without draining).
		fs = c.cl.PollFetches(nil)
	}
	if fs.IsClientClosed() {
		return fmt.Errorf("kafka: consumer of brokers %v closed", c.brokers)
	}
	for _, fe := range fs.Errors() {
		if errors.Is(fe.Err, context.DeadlineExceeded) || errors.Is(fe.Err, context.Canceled) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		}
		return fmt.Errorf("kafka: fetching %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
	}
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		if b := c.parts[TopicPartition{p.Topic, p.Partition}]; b != nil {
			if b.empty() {
				b.recs, b.i = b.recs[:0], 0
			}
			b.recs = append(b.recs, p.Records...)
		}
	})
	return nil
}

// reader reads one partition split.
type reader[T any] struct {
	src  *Source[T]
	id   string
	c    *consumer
	ps   *partBuf
	st   SplitState
	rec  Record
	done bool
	// pending are positions handed out by Position, oldest first, not yet
	// committed to the group.
	pending []int64
}

// ReadBatch implements dag.SplitReader.
func (r *reader[T]) ReadBatch(ctx context.Context, b *dag.Batch[T], max int) (int, error) {
	if r.done {
		return 0, io.EOF
	}
	c := r.c
	c.mu.Lock()
	if r.ps.empty() {
		if err := c.poll(ctx); err != nil {
			c.mu.Unlock()
			return 0, err
		}
	}
	n, err := r.drain(ctx, b, max)
	c.mu.Unlock()
	if err != nil {
		return n, err
	}
	if r.st.Bounded() && r.st.Next >= r.st.Stop {
		r.finish()
		return n, io.EOF
	}
	return n, nil
}

// drain moves buffered records of the split to b. Called with c.mu held.
func (r *reader[T]) drain(ctx context.Context, b *dag.Batch[T], max int) (int, error) {
	ps, n := r.ps, 0
	for n < max && ps.i < len(ps.recs) {
		kr := ps.recs[ps.i]
		ps.recs[ps.i] = nil
		ps.i++
		if kr.Offset < r.st.Next {
			continue // already read
		}
		if r.st.Bounded() && kr.Offset >= r.st.Stop {
			r.st.Next = r.st.Stop
			ps.recs, ps.i = ps.recs[:0], 0
			break
		}
		r.st.Next = kr.Offset + 1
		if kr.Attrs.IsControl() {
			continue // transaction marker
		}
		r.rec.fill(kr)
		v, err := r.src.deser(&r.rec)
		if err != nil {
			if err := r.badRecord(ctx, err); err != nil {
				return n, err
			}
			continue
		}
		b.Append(v, r.rec.Timestamp)
		n++
	}
	if n > 0 {
		r.src.records.Add(int64(n))
	}
	return n, nil
}

// badRecord applies the error policy to the record in r.rec.
func (r *reader[T]) badRecord(ctx context.Context, err error) error {
	cfg := &r.src.cfg
	switch {
	case cfg.deadLetter != nil:
		if derr := cfg.deadLetter(ctx, &r.rec, err); derr != nil {
			return fmt.Errorf("kafka: dead-lettering record %s offset %d: %w", r.st.TopicPartition, r.rec.Offset, derr)
		}
		r.src.deadLettered.Add(1)
		return nil
	case cfg.skipBad:
		r.src.skipped.Add(1)
		return nil
	}
	return dag.Fatal(fmt.Errorf("kafka: deserializing record of topic %s partition %d offset %d: %w", r.rec.Topic, r.rec.Partition, r.rec.Offset, err))
}

// finish stops consuming the split's partition.
func (r *reader[T]) finish() {
	if r.done {
		return
	}
	r.done = true
	if r.c != nil {
		c := r.c
		r.c = nil
		r.src.release(c, r.st.TopicPartition)
	}
}

// Position implements dag.PositionedReader: the split with the offset of
// the next record to read.
func (r *reader[T]) Position() (dag.Split, error) {
	var w int64
	if r.st.Bounded() {
		w = r.st.Stop - r.st.Next
	}
	if r.src.cfg.commitGroup != "" {
		r.pending = append(r.pending, r.st.Next)
	}
	return dag.Split{ID: r.id, Data: r.st.Encode(), Weight: w}, nil
}

// State returns the split's current position.
func (r *reader[T]) State() SplitState { return r.st }

// CheckpointComplete implements dag.CheckpointListener: with CommitOffsets
// it commits the oldest position taken since the last commit (never one
// newer than a completed checkpoint).
func (r *reader[T]) CheckpointComplete(ctx context.Context, _ int64) error {
	if r.src.cfg.commitGroup == "" || len(r.pending) == 0 {
		return nil
	}
	off := r.pending[0]
	r.pending = r.pending[1:]
	var cl *kgo.Client
	if r.c != nil {
		cl = r.c.cl
	} else {
		var err error
		if cl, err = newAdminClient(r.src.brokers, r.src.cfg.clientOpts); err != nil {
			return err
		}
		defer cl.Close()
	}
	cctx, cancel := context.WithTimeout(ctx, r.src.cfg.connectTimeout)
	defer cancel()
	if err := commitOffsets(cctx, cl, r.src.cfg.commitGroup, map[TopicPartition]int64{r.st.TopicPartition: off}); err != nil {
		// Committed offsets are informational: log, do not fail the job.
		slog.WarnContext(ctx, "kafka: committing source offset failed", "partition", r.st.TopicPartition.String(), "offset", off, "err", err)
	}
	return nil
}

// Close implements dag.SplitReader.
func (r *reader[T]) Close() error {
	r.finish()
	return nil
}
