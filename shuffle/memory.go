package shuffle

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Defaults of MemoryConfig.
const (
	DefaultQueueBuffers         = 16
	DefaultPendingReaderTimeout = 30 * time.Second
)

// MemoryConfig configures pipelined partitions (in Memory and in Local) and
// the in-memory blocking partitions of Memory.
type MemoryConfig struct {
	// QueueBuffers is the capacity, in buffers, of each pipelined
	// subpartition queue: the producer's credit per consumer channel.
	// Zero means DefaultQueueBuffers.
	QueueBuffers int
	// PendingReaderTimeout bounds how long a reader opened for an unknown
	// partition waits for a pipelined writer before Next returns
	// ErrNotExist. Zero means DefaultPendingReaderTimeout.
	PendingReaderTimeout time.Duration
}

func (c MemoryConfig) withDefaults() MemoryConfig {
	if c.QueueBuffers <= 0 {
		c.QueueBuffers = DefaultQueueBuffers
	}
	if c.PendingReaderTimeout <= 0 {
		c.PendingReaderTimeout = DefaultPendingReaderTimeout
	}
	return c
}

// Memory is a Service that keeps everything in memory: pipelined partitions
// as bounded queues, blocking partitions as retained copies of the buffers
// (for tests and small jobs).
type Memory struct {
	c *core
}

// NewMemory returns an in-memory Service. The concrete type is *Memory.
func NewMemory(cfg MemoryConfig) Service {
	return newMemory(cfg)
}

func newMemory(cfg MemoryConfig) *Memory {
	return &Memory{c: newCore(cfg, memBackend{})}
}

// CreateWriter implements Service.
func (m *Memory) CreateWriter(ctx context.Context, id PartitionID, opts WriterOptions) (Writer, error) {
	return m.c.createWriter(ctx, id, opts)
}

// OpenReader implements Service.
func (m *Memory) OpenReader(ctx context.Context, id PartitionID, from, to int) (Reader, error) {
	return m.c.openReader(ctx, id, from, to)
}

// Stat implements Service. Bytes equals RawBytes and Files is 0.
func (m *Memory) Stat(ctx context.Context, id PartitionID) (Stat, error) {
	return m.c.stat(ctx, id)
}

// Release implements Service.
func (m *Memory) Release(ctx context.Context, job string) error {
	return m.c.release(ctx, job)
}

// Close implements Service.
func (m *Memory) Close() error {
	return m.c.close()
}

// BuffersInUse reports how many pipelined buffers are queued or held by
// readers. A writer blocked by back-pressure on a single subpartition shows
// QueueBuffers of them.
func (m *Memory) BuffersInUse() int {
	return int(m.c.pool.inUse.Load())
}

// memBackend keeps blocking partitions in memory.
type memBackend struct{}

func (memBackend) createBlocking(_ context.Context, id PartitionID, subs int, _ *doneFlag) (stagedWriter, error) {
	return &memWriter{id: id, subs: make([][][]byte, subs)}, nil
}

func (memBackend) releaseJob(string) error { return nil }

func (memBackend) close() error { return nil }

// memChunk is the allocation unit of memWriter: small buffers are copied
// into shared chunks instead of one allocation each.
const memChunk = 256 << 10

type memWriter struct {
	id      PartitionID
	subs    [][][]byte // per subpartition, the buffers in order (broadcasts shared)
	chunk   []byte
	raw     int64
	buffers int64
}

func (w *memWriter) store(buf []byte) []byte {
	if len(buf) > memChunk/4 {
		return append([]byte(nil), buf...)
	}
	if cap(w.chunk)-len(w.chunk) < len(buf) {
		w.chunk = make([]byte, 0, memChunk)
	}
	off := len(w.chunk)
	w.chunk = append(w.chunk, buf...)
	return w.chunk[off:len(w.chunk):len(w.chunk)]
}

func (w *memWriter) write(sub int, buf []byte) error {
	w.subs[sub] = append(w.subs[sub], w.store(buf))
	w.raw += int64(len(buf))
	w.buffers++
	return nil
}

func (w *memWriter) writeBroadcast(buf []byte) error {
	b := w.store(buf)
	for s := range w.subs {
		w.subs[s] = append(w.subs[s], b)
	}
	w.raw += int64(len(buf))
	w.buffers++
	return nil
}

func (w *memWriter) finish(context.Context) error { return nil }

func (w *memWriter) publish() (committedPart, error) {
	return &memPart{id: w.id, subs: w.subs, st: Stat{
		Bytes: w.raw, RawBytes: w.raw, Buffers: w.buffers, Subpartitions: len(w.subs),
	}}, nil
}

func (w *memWriter) abort() { w.subs, w.chunk = nil, nil }

type memPart struct {
	id   PartitionID
	subs [][][]byte
	st   Stat
	gone doneFlag
}

func (p *memPart) open(_ context.Context, from, to int) (Reader, error) {
	if err := p.gone.err(); err != nil {
		return nil, err
	}
	if to > len(p.subs) {
		return nil, fmt.Errorf("shuffle: partition %s: subpartitions [%d,%d) out of range (%d subpartitions)", p.id, from, to, len(p.subs))
	}
	return &memReader{p: p, sub: from, to: to}, nil
}

func (p *memPart) stat() Stat { return p.st }

func (p *memPart) remove(err error) error {
	p.gone.set(err)
	return nil
}

// memReader reads a committed in-memory partition. It returns copies so a
// caller scribbling on a returned buffer cannot damage later re-reads.
type memReader struct {
	p       *memPart
	sub, to int
	i       int
	buf     []byte
	closed  bool
}

func (r *memReader) Next(ctx context.Context) ([]byte, error) {
	if r.closed {
		return nil, fmt.Errorf("shuffle: partition %s: reader closed", r.p.id)
	}
	if err := r.p.gone.err(); err != nil {
		return nil, err
	}
	for r.sub < r.to {
		if r.i < len(r.p.subs[r.sub]) {
			b := r.p.subs[r.sub][r.i]
			r.i++
			r.buf = append(r.buf[:0], b...)
			return r.buf, nil
		}
		r.sub, r.i = r.sub+1, 0
	}
	return nil, io.EOF
}

func (r *memReader) Close() error {
	r.closed = true
	r.buf = nil
	return nil
}
