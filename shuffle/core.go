package shuffle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// backend stores blocking partitions; core does everything else (the
// registry, pipelined partitions, life cycle, release).
type backend interface {
	// createBlocking starts a blocking partition. gone is set when the
	// partition is released or the service closed while it is written.
	createBlocking(ctx context.Context, id PartitionID, subs int, gone *doneFlag) (stagedWriter, error)
	// releaseJob deletes whatever storage remains for job.
	releaseJob(job string) error
	// close deletes everything the backend created.
	close() error
}

// stagedWriter writes a blocking partition to storage that stays invisible
// until publish.
type stagedWriter interface {
	write(sub int, buf []byte) error
	writeBroadcast(buf []byte) error
	// finish completes the staged data (flushes, writes the index).
	finish(ctx context.Context) error
	// publish makes finished data visible (renames) and returns it.
	publish() (committedPart, error)
	// abort deletes staged data; it is safe at any point before publish.
	abort()
}

// committedPart is a committed blocking partition.
type committedPart interface {
	open(ctx context.Context, from, to int) (Reader, error)
	stat() Stat
	// remove makes open readers fail with err and deletes the data.
	remove(err error) error
}

// doneFlag holds the first error set on it, readable without locks.
type doneFlag struct{ p atomic.Pointer[error] }

func (d *doneFlag) set(err error) { d.p.CompareAndSwap(nil, &err) }

func (d *doneFlag) err() error {
	if e := d.p.Load(); e != nil {
		return *e
	}
	return nil
}

// entry is one partition id in the registry.
type entry struct {
	mode    Mode            // 0 while only pending readers exist
	pipe    *pipe           // pipelined (or pending) partition
	pstat   *Stat           // stat of a committed pipelined partition
	writing *blockingWriter // blocking partition being written
	part    committedPart   // committed blocking partition
}

// jobState holds the partitions of one job.
type jobState struct {
	parts map[PartitionID]*entry
	modes map[string]Mode // result id -> mode, learnt from writers
}

// core implements Service on top of a backend for blocking partitions.
type core struct {
	pool    bufPool
	queue   int
	pending time.Duration
	be      backend

	mu       sync.Mutex
	closed   bool
	jobs     map[string]*jobState
	released map[string]struct{} // tombstones: readers fail fast
}

func newCore(cfg MemoryConfig, be backend) *core {
	cfg = cfg.withDefaults()
	return &core{
		queue:    cfg.QueueBuffers,
		pending:  cfg.PendingReaderTimeout,
		be:       be,
		jobs:     make(map[string]*jobState),
		released: make(map[string]struct{}),
	}
}

func (c *core) jobLocked(job string) *jobState {
	j := c.jobs[job]
	if j == nil {
		j = &jobState{parts: make(map[PartitionID]*entry), modes: make(map[string]Mode)}
		c.jobs[job] = j
	}
	return j
}

func (c *core) lookupLocked(id PartitionID) *entry {
	if j := c.jobs[id.Job]; j != nil {
		return j.parts[id]
	}
	return nil
}

func (c *core) createWriter(ctx context.Context, id PartitionID, opts WriterOptions) (Writer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.Mode != Pipelined && opts.Mode != Blocking {
		return nil, fmt.Errorf("shuffle: partition %s: invalid mode %v", id, opts.Mode)
	}
	if opts.Subpartitions < 1 {
		return nil, fmt.Errorf("shuffle: partition %s: need at least one subpartition, got %d", id, opts.Subpartitions)
	}
	n := opts.Subpartitions
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	e := c.lookupLocked(id)
	if e != nil && e.mode != 0 {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrExist, id)
	}
	delete(c.released, id.Job)
	j := c.jobLocked(id.Job)
	j.modes[id.Result] = opts.Mode
	if opts.Mode == Pipelined {
		if e == nil {
			e = &entry{pipe: newPipe(id, &c.pool, c.queue)}
			j.parts[id] = e
		}
		e.mode = Pipelined
		p := e.pipe
		p.mu.Lock()
		p.attachWriterLocked(n)
		p.mu.Unlock()
		c.mu.Unlock()
		return &pipeWriter{p: p, n: n, onDone: func(st Stat) {
			c.mu.Lock()
			e.pstat = &st
			c.mu.Unlock()
		}}, nil
	}
	var pending *pipe
	if e != nil {
		pending = e.pipe
	}
	bw := &blockingWriter{c: c, id: id, n: n}
	e = &entry{mode: Blocking, writing: bw}
	bw.e = e
	j.parts[id] = e
	c.mu.Unlock()
	if pending != nil {
		pending.fail(fmt.Errorf("%w: partition %s is blocking: open readers after commit", ErrNotExist, id))
	}
	sw, err := c.be.createBlocking(ctx, id, n, &bw.gone)
	if err != nil {
		c.mu.Lock()
		if j := c.jobs[id.Job]; j != nil && j.parts[id] == e {
			delete(j.parts, id)
		}
		c.mu.Unlock()
		return nil, err
	}
	bw.sw = sw
	return bw, nil
}

func (c *core) openReader(ctx context.Context, id PartitionID, from, to int) (Reader, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if from < 0 || to <= from {
		return nil, fmt.Errorf("shuffle: partition %s: invalid subpartition range [%d,%d)", id, from, to)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	e := c.lookupLocked(id)
	if e == nil {
		if _, ok := c.released[id.Job]; ok {
			c.mu.Unlock()
			return nil, fmt.Errorf("%w: partition %s: job released", ErrNotExist, id)
		}
		if j := c.jobs[id.Job]; j != nil && j.modes[id.Result] == Blocking {
			c.mu.Unlock()
			return nil, fmt.Errorf("%w: blocking partition %s", ErrNotExist, id)
		}
		e = &entry{pipe: newPipe(id, &c.pool, c.queue)}
		c.jobLocked(id.Job).parts[id] = e
	}
	if e.mode == Blocking {
		part := e.part
		c.mu.Unlock()
		if part == nil {
			return nil, fmt.Errorf("%w: blocking partition %s is not committed", ErrNotExist, id)
		}
		return part.open(ctx, from, to)
	}
	p := e.pipe
	p.mu.Lock()
	r, err := p.attachReaderLocked(from, to, c.pending)
	p.mu.Unlock()
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (c *core) stat(ctx context.Context, id PartitionID) (Stat, error) {
	if err := ctx.Err(); err != nil {
		return Stat{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return Stat{}, ErrClosed
	}
	e := c.lookupLocked(id)
	switch {
	case e == nil:
	case e.pstat != nil:
		return *e.pstat, nil
	case e.part != nil:
		return e.part.stat(), nil
	}
	return Stat{}, fmt.Errorf("%w: no committed partition %s", ErrNotExist, id)
}

// dropped is what must be torn down for one removed entry, copied under
// core.mu.
type dropped struct {
	pipe    *pipe
	writing *blockingWriter
	part    committedPart
}

func snapshotLocked(parts map[PartitionID]*entry, out []dropped) []dropped {
	for _, e := range parts {
		out = append(out, dropped{e.pipe, e.writing, e.part})
	}
	return out
}

// dropAll ends every partition in ds with err.
func dropAll(ds []dropped, err error) error {
	var errs []error
	for _, d := range ds {
		if d.pipe != nil {
			d.pipe.fail(err)
		}
		if d.writing != nil {
			d.writing.gone.set(err)
		}
		if d.part != nil {
			if rerr := d.part.remove(err); rerr != nil {
				errs = append(errs, rerr)
			}
		}
	}
	return errors.Join(errs...)
}

func (c *core) release(ctx context.Context, job string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	var ds []dropped
	if j := c.jobs[job]; j != nil {
		ds = snapshotLocked(j.parts, nil)
	}
	delete(c.jobs, job)
	c.released[job] = struct{}{}
	c.mu.Unlock()
	err := dropAll(ds, fmt.Errorf("%w: job %s released", ErrNotExist, job))
	if berr := c.be.releaseJob(job); berr != nil {
		err = errors.Join(err, berr)
	}
	if err != nil {
		return fmt.Errorf("shuffle: release job %s: %w", job, err)
	}
	return nil
}

func (c *core) close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	var ds []dropped
	for _, j := range c.jobs {
		ds = snapshotLocked(j.parts, ds)
	}
	c.jobs = nil
	c.mu.Unlock()
	var errs []error
	if err := dropAll(ds, ErrClosed); err != nil {
		errs = append(errs, err)
	}
	if err := c.be.close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// blockingWriter wraps a backend's staged writer with the life cycle rules.
type blockingWriter struct {
	c    *core
	id   PartitionID
	e    *entry
	n    int
	sw   stagedWriter
	gone doneFlag
	done bool
}

func (w *blockingWriter) check() error {
	if w.done {
		return fmt.Errorf("shuffle: partition %s: writer already committed or aborted", w.id)
	}
	return w.gone.err()
}

// Write implements Writer.
func (w *blockingWriter) Write(ctx context.Context, sub int, buf []byte) error {
	if err := w.check(); err != nil {
		return err
	}
	if sub < 0 || sub >= w.n {
		return fmt.Errorf("shuffle: partition %s: subpartition %d out of range (%d subpartitions)", w.id, sub, w.n)
	}
	return w.sw.write(sub, buf)
}

// WriteBroadcast implements Writer.
func (w *blockingWriter) WriteBroadcast(ctx context.Context, buf []byte) error {
	if err := w.check(); err != nil {
		return err
	}
	return w.sw.writeBroadcast(buf)
}

// Commit implements Writer.
func (w *blockingWriter) Commit(ctx context.Context) error {
	if err := w.check(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := w.sw.finish(ctx); err != nil {
		return err
	}
	c := w.c
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if err := w.gone.err(); err != nil {
		c.mu.Unlock()
		return err
	}
	if c.lookupLocked(w.id) != w.e {
		c.mu.Unlock()
		return fmt.Errorf("%w: partition %s was released while being written", ErrNotExist, w.id)
	}
	part, err := w.sw.publish()
	if err != nil {
		c.mu.Unlock()
		return err
	}
	w.e.writing, w.e.part = nil, part
	c.mu.Unlock()
	w.done = true
	return nil
}

// Abort implements Writer.
func (w *blockingWriter) Abort(cause error) {
	if w.done {
		return
	}
	w.done = true
	w.sw.abort()
	c := w.c
	c.mu.Lock()
	if j := c.jobs[w.id.Job]; j != nil && j.parts[w.id] == w.e {
		delete(j.parts, w.id)
	}
	c.mu.Unlock()
}
