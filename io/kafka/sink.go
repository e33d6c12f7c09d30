package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/dagflow/dagflow/dag"
)

// SinkOption configures NewSink.
type SinkOption func(*sinkConfig)

type sinkConfig struct {
	exactlyOnce    bool
	txnPrefix      string
	poolSize       int
	txnTimeout     time.Duration
	reuseWait      time.Duration
	explicitParts  bool
	connectTimeout time.Duration
	clientOpts     []kgo.Opt
	err            error
}

func (c *sinkConfig) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("kafka: "+format, args...)
	}
}

// ExactlyOnce writes in Kafka transactions committed by the job's
// Committer when a checkpoint (or, for a bounded job, the job) completes.
// Consumers must read with read_committed to see each record once.
func ExactlyOnce() SinkOption { return func(c *sinkConfig) { c.exactlyOnce = true } }

// TransactionalIDPrefix sets the prefix of the transactional ids
// ("prefix-subtask-k"). It must be unique per sink among everything that
// writes to the cluster transactionally. Default: "dagflow-<job>-<topic>".
func TransactionalIDPrefix(p string) SinkOption {
	return func(c *sinkConfig) {
		if p == "" {
			c.fail("empty transactional id prefix")
		}
		c.txnPrefix = p
	}
}

// TransactionPoolSize is how many transactional ids each sink subtask
// rotates through (default 4): a new transaction starts on the next id
// while the previous ones wait for their checkpoint to complete. An id is
// reused only after its transaction ended; the writer waits for that.
func TransactionPoolSize(n int) SinkOption {
	return func(c *sinkConfig) {
		if n < 2 {
			c.fail("transaction pool size must be at least 2, got %d", n)
		}
		c.poolSize = n
	}
}

// TransactionTimeout is the broker-side timeout of a transaction (default
// 10 minutes, at most the broker's transaction.max.timeout.ms). A prepared
// transaction not committed within it is aborted by the broker, so it must
// exceed the checkpoint interval plus the time to complete a checkpoint.
func TransactionTimeout(d time.Duration) SinkOption {
	return func(c *sinkConfig) {
		if d < time.Second {
			c.fail("transaction timeout must be at least 1s, got %s", d)
		}
		c.txnTimeout = d
	}
}

// TransactionReuseWait bounds how long a writer waits for the transaction
// previously using a pooled id to end before failing (default 2 minutes).
func TransactionReuseWait(d time.Duration) SinkOption {
	return func(c *sinkConfig) {
		if d <= 0 {
			c.fail("transaction reuse wait must be positive, got %s", d)
		}
		c.reuseWait = d
	}
}

// ExplicitPartitions makes the sink write each record to the Partition its
// serializer set; by default the partition is chosen from the key (murmur2,
// as the Java client does) or spread when there is no key.
func ExplicitPartitions() SinkOption { return func(c *sinkConfig) { c.explicitParts = true } }

// SinkConnectTimeout bounds admin requests (fencing, committing) against
// unreachable brokers (default 30s).
func SinkConnectTimeout(d time.Duration) SinkOption {
	return func(c *sinkConfig) {
		if d <= 0 {
			c.fail("connect timeout must be positive, got %s", d)
		}
		c.connectTimeout = d
	}
}

// SinkClientOptions adds kgo options (TLS, SASL, compression, linger...)
// to every client the sink creates.
func SinkClientOptions(opts ...kgo.Opt) SinkOption {
	return func(c *sinkConfig) { c.clientOpts = append(c.clientOpts, opts...) }
}

// Sink writes records to a Kafka topic. See NewSink.
type Sink[T any] struct {
	brokers []string
	topic   string
	ser     Serializer[T]
	cfg     sinkConfig
}

var (
	_ dag.Sink[int]          = (*Sink[int])(nil)
	_ dag.StatefulSinkWriter = (*writer[int])(nil)
	_ dag.CheckpointListener = (*writer[int])(nil)
)

// NewSink returns a sink writing to topic (serializers may route records
// to other topics) on the cluster at brokers. It is at-least-once unless
// ExactlyOnce is given. Option errors are reported by NewWriter.
func NewSink[T any](brokers []string, topic string, ser Serializer[T], opts ...SinkOption) *Sink[T] {
	s := &Sink[T]{brokers: slices.Clone(brokers), topic: topic, ser: ser, cfg: sinkConfig{
		poolSize: 4, txnTimeout: 10 * time.Minute, reuseWait: 2 * time.Minute, connectTimeout: defaultConnectTimeout,
	}}
	for _, o := range opts {
		if o != nil {
			o(&s.cfg)
		}
	}
	switch {
	case len(brokers) == 0:
		s.cfg.fail("no brokers given")
	case ser == nil:
		s.cfg.fail("nil serializer")
	case topic == "":
		s.cfg.fail("empty topic")
	}
	return s
}

// Committer implements dag.Sink: nil when at-least-once.
func (s *Sink[T]) Committer() dag.Committer {
	if !s.cfg.exactlyOnce {
		return nil
	}
	return &TxnCommitter{Brokers: s.brokers, ClientOpts: s.cfg.clientOpts, Timeout: s.cfg.connectTimeout}
}

// NewWriter implements dag.Sink.
func (s *Sink[T]) NewWriter(ctx context.Context, sc dag.SinkContext) (dag.SinkWriter[T], error) {
	if s.cfg.err != nil {
		return nil, s.cfg.err
	}
	w := &writer[T]{s: s, sc: sc}
	w.promise = w.onProduced
	// Records outlive the Write call that buffers them (they are sent
	// until Prepare flushes), so they are produced under the writer's
	// own context, not the caller's.
	w.prodCtx, w.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if !s.cfg.exactlyOnce {
		cl, err := kgo.NewClient(s.producerOpts()...)
		if err != nil {
			return nil, fmt.Errorf("kafka: creating producer for topic %s: %w", s.topic, err)
		}
		w.cl = cl
		return w, nil
	}
	w.prefix = s.cfg.txnPrefix
	if w.prefix == "" {
		w.prefix = "dagflow-" + sc.Job + "-" + s.topic
	}
	admin, err := newAdminClient(s.brokers, s.cfg.clientOpts)
	if err != nil {
		return nil, err
	}
	w.admin = admin
	return w, nil
}

func (s *Sink[T]) producerOpts() []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(s.brokers...), kgo.DefaultProduceTopic(s.topic)}
	if s.cfg.explicitParts {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	return append(opts, s.cfg.clientOpts...)
}

// TxnHandle identifies a prepared transaction: what EndTxn needs. It is
// the JSON committable of the exactly-once sink.
type TxnHandle struct {
	TxnID string `json:"txn"`
	PID   int64  `json:"pid"`
	Epoch int16  `json:"epoch"`
}

// writerState is an exactly-once writer's checkpointed state.
type writerState struct {
	Prefix      string      `json:"prefix"`
	Subtask     int         `json:"subtask"`
	Parallelism int         `json:"parallelism"`
	Pool        int         `json:"pool"`
	Next        int64       `json:"next"`
	Outstanding []TxnHandle `json:"outstanding,omitempty"`
}

// writer writes one sink subtask's records.
type writer[T any] struct {
	s       *Sink[T]
	sc      dag.SinkContext
	cl      *kgo.Client // at-least-once producer, or the current transaction's
	rec     Record
	promise func(*kgo.Record, error)
	prodCtx context.Context
	cancel  context.CancelFunc

	errMu    sync.Mutex
	firstErr error

	// exactly-once
	admin       *kgo.Client
	prefix      string
	seq         int64 // transactions started (pool index = seq mod pool)
	curID       string
	outstanding []TxnHandle // prepared, not known to be ended
	restored    []writerState
	fenced      bool
}

func (w *writer[T]) onProduced(r *kgo.Record, err error) {
	if err == nil {
		return
	}
	w.errMu.Lock()
	if w.firstErr == nil {
		w.firstErr = fmt.Errorf("kafka: producing to %s/%d: %w", r.Topic, r.Partition, err)
	}
	w.errMu.Unlock()
}

func (w *writer[T]) err() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.firstErr
}

// Write implements dag.SinkWriter.
func (w *writer[T]) Write(ctx context.Context, b *dag.Batch[T]) error {
	if err := w.err(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.cl == nil {
		if err := w.begin(ctx); err != nil {
			return err
		}
	}
	for i, v := range b.Vals {
		w.rec = Record{Topic: w.s.topic, Partition: -1, Key: nil, Value: nil, Headers: w.rec.Headers[:0]}
		if err := w.s.ser(&w.rec, v); err != nil {
			return dag.Fatal(fmt.Errorf("kafka: serializing record for topic %s: %w", w.s.topic, err))
		}
		kr := &kgo.Record{Topic: w.rec.Topic, Partition: w.rec.Partition, Key: w.rec.Key, Value: w.rec.Value}
		if w.s.cfg.explicitParts && kr.Partition < 0 {
			return dag.Fatal(fmt.Errorf("kafka: serializer set no partition for topic %s with ExplicitPartitions", kr.Topic))
		}
		if ts := w.rec.Timestamp; ts != 0 {
			kr.Timestamp = time.UnixMilli(ts)
		} else if i < len(b.TS) && b.TS[i] != dag.MinTime && b.TS[i] != dag.MaxTime {
			kr.Timestamp = time.UnixMilli(b.TS[i])
		}
		if len(w.rec.Headers) > 0 {
			kr.Headers = make([]kgo.RecordHeader, len(w.rec.Headers))
			for j, h := range w.rec.Headers {
				kr.Headers[j] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
			}
		}
		w.cl.Produce(w.prodCtx, kr, w.promise)
	}
	return w.err()
}

// Prepare implements dag.SinkWriter: it flushes; exactly-once, it also
// ends the writer's use of the current transaction (without committing it)
// and returns every prepared transaction not yet known to be ended.
func (w *writer[T]) Prepare(ctx context.Context) ([][]byte, error) {
	if w.cl != nil {
		if err := w.cl.Flush(ctx); err != nil {
			return nil, fmt.Errorf("kafka: flushing to topic %s: %w", w.s.topic, err)
		}
	}
	if err := w.err(); err != nil {
		return nil, err
	}
	if !w.s.cfg.exactlyOnce {
		return nil, nil
	}
	if w.cl != nil {
		pid, epoch, err := w.cl.ProducerID(ctx)
		if err != nil {
			return nil, fmt.Errorf("kafka: producer id of transaction %s: %w", w.curID, err)
		}
		// Closing the client does not end the transaction: the committer
		// does, with the producer id and epoch.
		w.cl.Close()
		w.cl = nil
		w.outstanding = append(w.outstanding, TxnHandle{TxnID: w.curID, PID: pid, Epoch: epoch})
	}
	out := make([][]byte, 0, len(w.outstanding))
	for _, h := range w.outstanding {
		b, err := json.Marshal(h)
		if err != nil {
			return nil, fmt.Errorf("kafka: encoding committable: %w", err)
		}
		out = append(out, b)
	}
	return out, nil
}

// begin starts the next transaction (exactly-once) on the next pooled id,
// after fencing lingering transactions on first use.
func (w *writer[T]) begin(ctx context.Context) error {
	if !w.s.cfg.exactlyOnce {
		return nil
	}
	if !w.fenced {
		if err := w.fenceLingering(ctx); err != nil {
			return err
		}
		w.fenced = true
	}
	id := w.txnID(w.prefix, w.sc.Subtask, int(w.seq%int64(w.s.cfg.poolSize)))
	if err := w.awaitEnded(ctx, id); err != nil {
		return err
	}
	opts := append(w.s.producerOpts(), kgo.TransactionalID(id), kgo.TransactionTimeout(w.s.cfg.txnTimeout))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka: creating transactional producer %s: %w", id, err)
	}
	if err := cl.BeginTransaction(); err != nil {
		cl.Close()
		return fmt.Errorf("kafka: beginning transaction %s: %w", id, err)
	}
	// Load the producer id now (InitProducerID fences an older producer
	// of the same id) so that a failure shows here, not at Prepare.
	if _, _, err := cl.ProducerID(ctx); err != nil {
		cl.Close()
		return fmt.Errorf("kafka: initializing transactional producer %s: %w", id, err)
	}
	w.cl, w.curID = cl, id
	w.seq++
	return nil
}

func (w *writer[T]) txnID(prefix string, subtask, k int) string {
	return fmt.Sprintf("%s-%d-%d", prefix, subtask, k)
}

// awaitEnded waits until no outstanding transaction uses id.
func (w *writer[T]) awaitEnded(ctx context.Context, id string) error {
	i := slices.IndexFunc(w.outstanding, func(h TxnHandle) bool { return h.TxnID == id })
	if i < 0 {
		return nil
	}
	h := w.outstanding[i]
	deadline := time.Now().Add(w.s.cfg.reuseWait)
	for {
		open, err := txnOpen(ctx, w.admin, w.s.brokers, w.s.cfg.connectTimeout, h)
		if err != nil {
			return err
		}
		if !open {
			w.outstanding = slices.Delete(w.outstanding, i, i+1)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kafka: transaction %s (producer %d epoch %d) was not committed within %s; checkpoints are not completing (raise TransactionPoolSize or TransactionReuseWait)", h.TxnID, h.PID, h.Epoch, w.s.cfg.reuseWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// fenceLingering aborts the transactions left open on this subtask's ids
// (and on the ids of previous subtasks it takes over after a rescale) by
// a previous attempt, except those a restored checkpoint prepared, which
// the committer commits.
func (w *writer[T]) fenceLingering(ctx context.Context) error {
	keep := make(map[TxnHandle]bool)
	type owner struct {
		prefix  string
		subtask int
		pool    int
	}
	owners := []owner{{w.prefix, w.sc.Subtask, w.s.cfg.poolSize}}
	p := max(w.sc.Parallelism, 1)
	for _, st := range w.restored {
		for _, h := range st.Outstanding {
			keep[h] = true
		}
		if st.Subtask == w.sc.Subtask && st.Prefix == w.prefix {
			w.seq = st.Next
			w.outstanding = append(w.outstanding, st.Outstanding...)
			if st.Pool > w.s.cfg.poolSize {
				owners[0].pool = st.Pool
			}
		} else if st.Subtask >= p && st.Subtask%p == w.sc.Subtask || st.Prefix != w.prefix && st.Subtask == w.sc.Subtask {
			owners = append(owners, owner{st.Prefix, st.Subtask, st.Pool})
		}
	}
	for _, o := range owners {
		for k := 0; k < o.pool; k++ {
			id := w.txnID(o.prefix, o.subtask, k)
			st, err := describeTxn(ctx, w.admin, w.s.brokers, w.s.cfg.connectTimeout, id)
			if err != nil {
				return err
			}
			if st.open && keep[TxnHandle{TxnID: id, PID: st.pid, Epoch: st.epoch}] {
				continue
			}
			if !st.exists {
				continue
			}
			if err := initProducerID(ctx, w.admin, w.s.brokers, w.s.cfg.connectTimeout, id, w.s.cfg.txnTimeout); err != nil {
				return err
			}
		}
	}
	return nil
}

// SnapshotState implements dag.StatefulSinkWriter.
func (w *writer[T]) SnapshotState(context.Context) ([]byte, error) {
	if !w.s.cfg.exactlyOnce {
		return nil, nil
	}
	return json.Marshal(writerState{Prefix: w.prefix, Subtask: w.sc.Subtask, Parallelism: w.sc.Parallelism,
		Pool: w.s.cfg.poolSize, Next: w.seq, Outstanding: w.outstanding})
}

// RestoreState implements dag.StatefulSinkWriter.
func (w *writer[T]) RestoreState(_ context.Context, states [][]byte) error {
	if !w.s.cfg.exactlyOnce {
		return nil
	}
	for i, b := range states {
		if len(b) == 0 {
			continue
		}
		var st writerState
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("kafka: restoring sink writer state %d: %w", i, err)
		}
		w.restored = append(w.restored, st)
	}
	return nil
}

// CheckpointComplete implements dag.CheckpointListener: it forgets
// prepared transactions that have ended.
func (w *writer[T]) CheckpointComplete(ctx context.Context, _ int64) error {
	if !w.s.cfg.exactlyOnce || len(w.outstanding) == 0 {
		return nil
	}
	keep := w.outstanding[:0]
	for _, h := range w.outstanding {
		open, err := txnOpen(ctx, w.admin, w.s.brokers, w.s.cfg.connectTimeout, h)
		if err != nil {
			return err
		}
		if open {
			keep = append(keep, h)
		}
	}
	w.outstanding = keep
	return nil
}

// Abort implements dag.SinkWriter: the current transaction is aborted.
// Prepared transactions are left to the committer.
func (w *writer[T]) Abort(ctx context.Context) error {
	if w.cl == nil || !w.s.cfg.exactlyOnce {
		return nil
	}
	cl := w.cl
	w.cl = nil
	defer cl.Close()
	if err := cl.AbortBufferedRecords(ctx); err != nil {
		return fmt.Errorf("kafka: aborting buffered records of %s: %w", w.curID, err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		return fmt.Errorf("kafka: aborting transaction %s: %w", w.curID, err)
	}
	return nil
}

// Close implements dag.SinkWriter.
func (w *writer[T]) Close() error {
	if w.cancel != nil {
		w.cancel()
	}
	if w.cl != nil {
		w.cl.Close()
		w.cl = nil
	}
	if w.admin != nil {
		w.admin.Close()
		w.admin = nil
	}
	return nil
}

// TxnCommitter is the exactly-once sink's job-level committer. It holds no
// state: Commit and Abort send EndTxn for each TxnHandle committable, and
// both are idempotent.
type TxnCommitter struct {
	Brokers    []string
	ClientOpts []kgo.Opt
	Timeout    time.Duration
}

var _ dag.Committer = (*TxnCommitter)(nil)

// Commit implements dag.Committer.
func (c *TxnCommitter) Commit(ctx context.Context, committables [][]byte) error {
	return c.end(ctx, committables, true)
}

// Abort implements dag.Committer.
func (c *TxnCommitter) Abort(ctx context.Context, committables [][]byte) error {
	return c.end(ctx, committables, false)
}

func (c *TxnCommitter) end(ctx context.Context, committables [][]byte, commit bool) error {
	if len(committables) == 0 {
		return nil
	}
	cl, err := newAdminClient(c.Brokers, c.ClientOpts)
	if err != nil {
		return err
	}
	defer cl.Close()
	seen := make(map[TxnHandle]bool)
	var errs []error
	for _, b := range committables {
		var h TxnHandle
		if err := json.Unmarshal(b, &h); err != nil || h.TxnID == "" {
			errs = append(errs, fmt.Errorf("kafka: bad committable %q: %v", b, err))
			continue
		}
		if seen[h] {
			continue
		}
		seen[h] = true
		if err := endTxn(ctx, cl, c.Brokers, c.Timeout, h, commit); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// endTxn commits or aborts the transaction h. Ending a transaction that
// already ended the same way succeeds: the broker answers a retry as a
// success, or, once the id has moved to a newer epoch (a new transaction
// or fencing), with PRODUCER_FENCED / INVALID_PRODUCER_ID_MAPPING, which
// means h can no longer be open.
func endTxn(ctx context.Context, cl *kgo.Client, brokers []string, timeout time.Duration, h TxnHandle, commit bool) error {
	verb := "committing"
	if !commit {
		verb = "aborting"
	}
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID = h.TxnID
	req.ProducerID = h.PID
	req.ProducerEpoch = h.Epoch
	req.Commit = commit
	for attempt := 0; ; attempt++ {
		kresp, err := request(ctx, cl, brokers, timeout, req)
		if err != nil {
			return fmt.Errorf("kafka: %s transaction %s: %w", verb, h.TxnID, err)
		}
		err = kerr.ErrorForCode(kresp.(*kmsg.EndTxnResponse).ErrorCode)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, kerr.ProducerFenced), errors.Is(err, kerr.InvalidProducerIDMapping), errors.Is(err, kerr.InvalidProducerEpoch):
			return nil // ended before; the id moved on
		case errors.Is(err, kerr.InvalidTxnState):
			return fmt.Errorf("kafka: %s transaction %s (producer %d epoch %d): it already ended the other way: %w", verb, h.TxnID, h.PID, h.Epoch, err)
		case kerr.IsRetriable(err) && attempt < 50:
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		default:
			return fmt.Errorf("kafka: %s transaction %s (producer %d epoch %d): %w", verb, h.TxnID, h.PID, h.Epoch, err)
		}
	}
}

type txnState struct {
	exists, open bool
	pid          int64
	epoch        int16
}

// describeTxn returns the state of transactional id.
func describeTxn(ctx context.Context, cl *kgo.Client, brokers []string, timeout time.Duration, id string) (txnState, error) {
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{id}
	kresp, err := request(ctx, cl, brokers, timeout, req)
	if err != nil {
		return txnState{}, fmt.Errorf("kafka: describing transaction %s: %w", id, err)
	}
	for _, st := range kresp.(*kmsg.DescribeTransactionsResponse).TransactionStates {
		if st.TransactionalID != id {
			continue
		}
		if err := kerr.ErrorForCode(st.ErrorCode); err != nil {
			if errors.Is(err, kerr.TransactionalIDNotFound) {
				return txnState{}, nil
			}
			return txnState{}, fmt.Errorf("kafka: describing transaction %s: %w", id, err)
		}
		open := st.State == "Ongoing" || strings.HasPrefix(st.State, "Prepare")
		return txnState{exists: true, open: open, pid: st.ProducerID, epoch: st.ProducerEpoch}, nil
	}
	return txnState{}, nil
}

// txnOpen reports whether h is still open.
func txnOpen(ctx context.Context, cl *kgo.Client, brokers []string, timeout time.Duration, h TxnHandle) (bool, error) {
	st, err := describeTxn(ctx, cl, brokers, timeout, h.TxnID)
	if err != nil {
		return false, err
	}
	return st.open && st.pid == h.PID && st.epoch == h.Epoch, nil
}

// initProducerID bumps the epoch of id: the broker aborts its open
// transaction and fences producers using an older epoch.
func initProducerID(ctx context.Context, cl *kgo.Client, brokers []string, timeout time.Duration, id string, txnTimeout time.Duration) error {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID = kmsg.StringPtr(id)
	req.TransactionTimeoutMillis = int32(txnTimeout.Milliseconds())
	req.ProducerID, req.ProducerEpoch = -1, -1
	for attempt := 0; ; attempt++ {
		kresp, err := request(ctx, cl, brokers, timeout, req)
		if err != nil {
			return fmt.Errorf("kafka: fencing transactional id %s: %w", id, err)
		}
		err = kerr.ErrorForCode(kresp.(*kmsg.InitProducerIDResponse).ErrorCode)
		if err == nil {
			return nil
		}
		if !kerr.IsRetriable(err) || attempt >= 50 {
			return fmt.Errorf("kafka: fencing transactional id %s: %w", id, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
