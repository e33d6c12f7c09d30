package shuffle

import (
	"context"
	"fmt"
	"io"
)

// segment is a byte range of a file made of whole blocks: one subpartition's
// slice of one region (sort-merge), or one subpartition file (baseline).
type segment struct {
	f        io.ReaderAt
	path     string
	off, end int64
}

// segSource yields the segments a reader reads, in order.
type segSource interface {
	next() (segment, bool, error)
	close()
}

// readBuf holds a reader's buffers; pooled per service so opening readers
// does not allocate in steady state.
type readBuf struct {
	r   []byte // read-ahead window
	dec []byte // decompressed block
}

// fileReader reads blocks from segments.
//
// Read pattern: segments are visited in order and each is read front to back
// with positional reads (ReadAt) of ReadSize bytes (less at the end of the
// segment; more only for a block larger than ReadSize). Every reader has its
// own read-ahead window, so several readers of one file never share a file
// offset and each issues a few large sequential reads per segment rather
// than one read per block or buffer. Within a subpartition the offsets only
// grow. Uncompressed blocks are served straight from the window; compressed
// ones are decoded into a reused buffer. Buffers returned by Next point into
// these and stay valid until the next call.
type fileReader struct {
	id   PartitionID
	b    *fileBackend
	gone *doneFlag
	src  segSource
	rb   *readBuf

	seg    segment
	inSeg  bool
	cur    int64  // file offset of the next block in seg
	win    []byte // file bytes [winOff, winOff+len(win))
	winOff int64

	raw    []byte // current block's records
	rawOff int64  // its file offset, for errors
	pos    int

	err    error // sticky
	closed bool
}

func (b *fileBackend) newFileReader(id PartitionID, gone *doneFlag, src segSource) *fileReader {
	rb, _ := b.readBufs.Get().(*readBuf)
	if rb == nil {
		rb = &readBuf{r: make([]byte, b.cfg.ReadSize)}
	}
	return &fileReader{id: id, b: b, gone: gone, src: src, rb: rb}
}

func (r *fileReader) corrupt(off int64, err error) error {
	return fmt.Errorf("%w: partition %s: %s at offset %d: %v", ErrCorrupt, r.id, r.seg.path, off, err)
}

// ensure makes file bytes [cur, cur+n) of the current segment available in
// the window, reading ahead up to ReadSize.
func (r *fileReader) ensure(n int64) error {
	if n > r.seg.end-r.cur {
		return r.corrupt(r.cur, fmt.Errorf("block of %d bytes crosses the end of its slice at offset %d", n, r.seg.end))
	}
	winEnd := r.winOff + int64(len(r.win))
	if r.win != nil && r.cur >= r.winOff && r.cur+n <= winEnd {
		return nil
	}
	keep := 0
	if r.win != nil && r.cur >= r.winOff && r.cur < winEnd {
		keep = copy(r.rb.r[:cap(r.rb.r)], r.win[r.cur-r.winOff:])
	}
	want := min(max(n, int64(r.b.cfg.ReadSize)), r.seg.end-r.cur)
	if int64(cap(r.rb.r)) < want {
		nb := make([]byte, want)
		copy(nb, r.rb.r[:keep])
		r.rb.r = nb
	}
	buf := r.rb.r[:want]
	m, err := r.seg.f.ReadAt(buf[keep:], r.cur+int64(keep))
	if m < len(buf)-keep {
		if err == nil || err == io.EOF {
			return r.corrupt(r.cur+int64(keep+m), fmt.Errorf("unexpected end of file (truncated)"))
		}
		return ioErr("read", r.id, r.seg.path, err)
	}
	r.win, r.winOff = buf, r.cur
	return nil
}

// Next implements Reader.
func (r *fileReader) Next(ctx context.Context) ([]byte, error) {
	if r.closed {
		return nil, fmt.Errorf("shuffle: partition %s: reader closed", r.id)
	}
	if r.err != nil {
		return nil, r.err
	}
	if err := r.gone.err(); err != nil {
		return nil, err
	}
	for {
		if r.pos < len(r.raw) {
			rec, np, err := nextRecord(r.raw, r.pos)
			if err != nil {
				r.err = r.corrupt(r.rawOff, err)
				return nil, r.err
			}
			r.pos = np
			return rec, nil
		}
		if !r.inSeg || r.cur >= r.seg.end {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			seg, ok, err := r.src.next()
			if err != nil {
				r.err = err
				return nil, err
			}
			if !ok {
				return nil, io.EOF
			}
			r.seg, r.inSeg, r.cur, r.win, r.winOff = seg, true, seg.off, nil, 0
			continue
		}
		if err := r.ensure(blockHeaderSize); err != nil {
			r.err = err
			return nil, err
		}
		n := int64(blockLen(r.win[r.cur-r.winOff:]))
		if err := r.ensure(n); err != nil {
			r.err = err
			return nil, err
		}
		blk := r.win[r.cur-r.winOff : r.cur-r.winOff+n]
		raw, _, err := r.b.cs.decodeBlock(r.rb.dec, blk)
		if err != nil {
			r.err = r.corrupt(r.cur, err)
			return nil, r.err
		}
		if blk[0] != codecNone {
			r.rb.dec = raw[:0]
		}
		r.raw, r.pos, r.rawOff = raw, 0, r.cur
		r.cur += n
	}
}

// Close implements Reader.
func (r *fileReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.src.close()
	rb := r.rb
	r.rb, r.win, r.raw = nil, nil, nil
	if cap(rb.r) > 2*r.b.cfg.ReadSize {
		rb.r = make([]byte, r.b.cfg.ReadSize)
	}
	if cap(rb.dec) > 4*r.b.cfg.BlockSize {
		rb.dec = nil
	}
	r.b.readBufs.Put(rb)
	return nil
}
