package shuffle

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// pipeState is the life cycle of a pipelined partition.
type pipeState uint8

const (
	pipePending   pipeState = iota // readers wait, no writer yet
	pipeOpen                       // writer attached
	pipeCommitted                  // writer committed; readers drain then EOF
	pipeFailed                     // aborted, released or closed: see pipe.err
)

// pipe is a pipelined partition: one bounded FIFO queue of pbufs per
// subpartition. The producer blocks while the queue it writes to is full
// (credit-based back-pressure with QueueBuffers credits per subpartition).
// No goroutines are involved: the writer and the readers hand buffers over
// under mu and wake each other through capacity-1 channels.
type pipe struct {
	id       PartitionID
	pool     *bufPool
	capacity int

	mu      sync.Mutex
	state   pipeState
	err     error     // terminal error once pipeFailed
	subs    []pipeSub // while pending: grown to the largest range claimed
	readers []*pipeReader
	wake    chan struct{} // wakes the (single) writer
}

type pipeSub struct {
	q       []*pbuf // ring of capacity entries, allocated on first use
	head, n int
	rd      *pipeReader // reader consuming this subpartition
	claimed bool        // a reader opened it (it is consumed once)
	gone    bool        // its reader closed: writes are dropped
}

func newPipe(id PartitionID, pool *bufPool, capacity int) *pipe {
	return &pipe{id: id, pool: pool, capacity: capacity, wake: make(chan struct{}, 1)}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (p *pipe) rangeErr(from, to, n int) error {
	return fmt.Errorf("shuffle: partition %s: subpartitions [%d,%d) out of range (%d subpartitions)", p.id, from, to, n)
}

// attachWriter turns a pending pipe into an open one with n subpartitions.
// Called with p.mu held.
func (p *pipe) attachWriterLocked(n int) {
	p.state = pipeOpen
	if len(p.subs) > n {
		for _, r := range p.readers {
			if r.to > n && r.err == nil {
				r.err = p.rangeErr(r.from, r.to, n)
			}
		}
		p.subs = p.subs[:n:n]
	}
	for len(p.subs) < n {
		p.subs = append(p.subs, pipeSub{})
	}
	for _, r := range p.readers {
		if r.err != nil {
			for s := r.from; s < min(r.to, n); s++ {
				p.subs[s].rd, p.subs[s].gone = nil, true
			}
		}
		signal(r.notify)
	}
}

// attachReader claims subpartitions [from,to). Called with p.mu held.
func (p *pipe) attachReaderLocked(from, to int, pendingTimeout time.Duration) (*pipeReader, error) {
	switch p.state {
	case pipeFailed:
		return nil, p.err
	case pipePending:
		for len(p.subs) < to {
			p.subs = append(p.subs, pipeSub{})
		}
	default:
		if to > len(p.subs) {
			return nil, p.rangeErr(from, to, len(p.subs))
		}
	}
	for s := from; s < to; s++ {
		if p.subs[s].claimed {
			return nil, fmt.Errorf("%w: partition %s: pipelined subpartition %d was already consumed by another reader", ErrNotExist, p.id, s)
		}
	}
	r := &pipeReader{p: p, from: from, to: to, notify: make(chan struct{}, 1)}
	if p.state == pipePending {
		r.deadline = time.Now().Add(pendingTimeout)
	}
	for s := from; s < to; s++ {
		p.subs[s].claimed = true
		p.subs[s].rd = r
	}
	p.readers = append(p.readers, r)
	return r, nil
}

// drainLocked drops the queued buffers of sub.
func (p *pipe) drainLocked(sub *pipeSub) {
	for sub.n > 0 {
		pb := sub.q[sub.head]
		sub.q[sub.head] = nil
		sub.head = (sub.head + 1) % p.capacity
		sub.n--
		p.pool.unref(pb)
	}
}

// fail ends the partition with err (abort, release, close). Queued buffers are
// dropped; waiting readers and the writer wake up and see err. It is a no-op
// on a partition that already failed.
func (p *pipe) fail(err error) {
	p.mu.Lock()
	if p.state == pipeFailed {
		p.mu.Unlock()
		return
	}
	p.state, p.err = pipeFailed, err
	for i := range p.subs {
		p.drainLocked(&p.subs[i])
	}
	for _, r := range p.readers {
		signal(r.notify)
	}
	p.mu.Unlock()
	signal(p.wake)
}

// commit marks the end of the data. Readers see io.EOF after draining.
func (p *pipe) commit() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != pipeOpen {
		if p.state == pipeFailed {
			return p.err
		}
		return fmt.Errorf("shuffle: partition %s: commit in state %d", p.id, p.state)
	}
	p.state = pipeCommitted
	for _, r := range p.readers {
		signal(r.notify)
	}
	return nil
}

// push appends pb (whose reference the caller transfers) to subpartition s,
// waiting for space. On error the caller still owns its reference.
func (p *pipe) push(ctx context.Context, s int, pb *pbuf) error {
	for {
		p.mu.Lock()
		if p.state != pipeOpen {
			err := p.err
			if err == nil {
				err = fmt.Errorf("shuffle: partition %s: write after commit", p.id)
			}
			p.mu.Unlock()
			return err
		}
		sub := &p.subs[s]
		if sub.gone {
			p.mu.Unlock()
			p.pool.unref(pb)
			return nil
		}
		if sub.n < p.capacity {
			if sub.q == nil {
				sub.q = make([]*pbuf, p.capacity)
			}
			sub.q[(sub.head+sub.n)%p.capacity] = pb
			sub.n++
			rd := sub.rd
			p.mu.Unlock()
			if rd != nil {
				signal(rd.notify)
			}
			return nil
		}
		p.mu.Unlock()
		select {
		case <-p.wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// pipeWriter writes a pipelined partition.
type pipeWriter struct {
	p       *pipe
	n       int
	done    bool
	raw     int64
	buffers int64
	onDone  func(Stat) // records the stat of a committed partition
}

func (w *pipeWriter) check(sub int) error {
	if w.done {
		return fmt.Errorf("shuffle: partition %s: writer already committed or aborted", w.p.id)
	}
	if sub < 0 || sub >= w.n {
		return fmt.Errorf("shuffle: partition %s: subpartition %d out of range (%d subpartitions)", w.p.id, sub, w.n)
	}
	return nil
}

// Write implements Writer.
func (w *pipeWriter) Write(ctx context.Context, sub int, buf []byte) error {
	if err := w.check(sub); err != nil {
		return err
	}
	pb := w.p.pool.get(buf)
	if err := w.p.push(ctx, sub, pb); err != nil {
		w.p.pool.unref(pb)
		return err
	}
	w.raw += int64(len(buf))
	w.buffers++
	return nil
}

// WriteBroadcast implements Writer. The buffer is copied once and shared by
// all subpartition queues.
func (w *pipeWriter) WriteBroadcast(ctx context.Context, buf []byte) error {
	if err := w.check(0); err != nil {
		return err
	}
	pb := w.p.pool.get(buf)
	defer w.p.pool.unref(pb) // the writer's own reference
	for s := 0; s < w.n; s++ {
		pb.refs.Add(1)
		if err := w.p.push(ctx, s, pb); err != nil {
			pb.refs.Add(-1)
			return err
		}
	}
	w.raw += int64(len(buf))
	w.buffers++
	return nil
}

// Commit implements Writer.
func (w *pipeWriter) Commit(ctx context.Context) error {
	if w.done {
		return fmt.Errorf("shuffle: partition %s: writer already committed or aborted", w.p.id)
	}
	if err := w.p.commit(); err != nil {
		return err
	}
	w.done = true
	if w.onDone != nil {
		w.onDone(Stat{Bytes: w.raw, RawBytes: w.raw, Buffers: w.buffers, Subpartitions: w.n})
	}
	return nil
}

// Abort implements Writer.
func (w *pipeWriter) Abort(cause error) {
	if w.done {
		return
	}
	w.done = true
	err := fmt.Errorf("%w: partition %s", ErrAborted, w.p.id)
	if cause != nil {
		err = fmt.Errorf("%w: partition %s: %w", ErrAborted, w.p.id, cause)
	}
	w.p.fail(err)
}

// pipeReader reads a range of subpartitions of a pipe.
type pipeReader struct {
	p        *pipe
	from, to int
	rr       int           // round-robin cursor, relative to from
	notify   chan struct{} // wakes this reader
	deadline time.Time     // while the pipe is pending
	err      error         // reader-specific failure, guarded by p.mu
	cur      *pbuf         // buffer returned by the last Next
	closed   bool
}

// Next implements Reader.
func (r *pipeReader) Next(ctx context.Context) ([]byte, error) {
	if r.closed {
		return nil, fmt.Errorf("shuffle: partition %s: reader closed", r.p.id)
	}
	p := r.p
	if r.cur != nil {
		p.pool.unref(r.cur)
		r.cur = nil
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		var timeout <-chan time.Time
		p.mu.Lock()
		if r.err != nil {
			p.mu.Unlock()
			return nil, r.err
		}
		switch p.state {
		case pipeFailed:
			p.mu.Unlock()
			return nil, p.err
		case pipePending:
			d := time.Until(r.deadline)
			if d <= 0 {
				p.mu.Unlock()
				return nil, fmt.Errorf("%w: partition %s: no producer created it in time", ErrNotExist, p.id)
			}
			if timer == nil {
				timer = time.NewTimer(d)
			}
			timeout = timer.C
		default:
			width := r.to - r.from
			for i := 0; i < width; i++ {
				s := r.from + (r.rr+i)%width
				sub := &p.subs[s]
				if sub.n == 0 {
					continue
				}
				pb := sub.q[sub.head]
				sub.q[sub.head] = nil
				sub.head = (sub.head + 1) % p.capacity
				wasFull := sub.n == p.capacity
				sub.n--
				p.mu.Unlock()
				if wasFull {
					signal(p.wake)
				}
				r.rr = (s - r.from + 1) % width
				r.cur = pb
				return pb.data, nil
			}
			if p.state == pipeCommitted {
				p.mu.Unlock()
				return nil, io.EOF
			}
		}
		p.mu.Unlock()
		select {
		case <-r.notify:
		case <-timeout:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close implements Reader. Subpartitions closed before their end are
// consumed: what the producer still writes to them is dropped.
func (r *pipeReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	p := r.p
	p.mu.Lock()
	for s := r.from; s < min(r.to, len(p.subs)); s++ {
		sub := &p.subs[s]
		if sub.rd == r {
			sub.rd = nil
		}
		sub.gone = true
		p.drainLocked(sub)
	}
	for i, x := range p.readers {
		if x == r {
			p.readers = append(p.readers[:i], p.readers[i+1:]...)
			break
		}
	}
	p.mu.Unlock()
	if r.cur != nil {
		p.pool.unref(r.cur)
		r.cur = nil
	}
	signal(p.wake)
	return nil
}
