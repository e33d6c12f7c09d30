package fileio

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/io/filesystem"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// readSlack is how far past the end of its byte range a reader reads at a
// time while finishing its last line.
const readSlack = 64 << 10

// Results of lineScanner.step.
const (
	stLine = iota // a line is available
	stFill        // the buffer must be refilled (call fill)
	stDone        // no more lines in the split
)

// lineScanner yields the lines of one split. The lines of a byte range
// [start, end) are those whose first byte lies in it: a reader with
// start > 0 skips up to and including the first '\n' at or after
// start-1, and the last line is read to its end even past end.
//
// step and fill are separate so that callers can convert all lines found
// in the buffer before it is compacted by fill.
type lineScanner struct {
	path    string // as resolved (a local path or a URI): for messages
	file    filesystem.File
	src     io.Reader
	zdec    *zstd.Decoder
	cnt     *countingReader // compressed input, nil for plain files
	pool    *sync.Pool
	bufp    *[]byte // pooled buffer, nil once the buffer grew past it
	buf     []byte
	r, w    int   // unread bytes are buf[r:w]
	scan    int   // buf[r:scan] holds no '\n'
	pos     int64 // stream offset of buf[r]
	readPos int64 // stream offset of buf[w]
	start   int64
	end     int64
	size    int64 // bytes of the file for progress of compressed files
	skip    bool  // skipping the partial first line
	eof     bool
	done    bool
	zeros   int
	maxLine int
	counts  bool  // whether lineNo holds true line numbers
	lineNo  int64 // 1-based number of the line last returned
	lineOff int64 // stream offset of the line last returned
	err     error // sticky error reported with stDone
	// split and data are what the scanner was opened on (Position).
	split dag.Split
	data  splitData
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func openScanner(ctx context.Context, reg *filesystem.Registry, d splitData, pool *sync.Pool, maxLine int) (*lineScanner, error) {
	fsys, p, err := reg.Resolve(d.Path)
	if err != nil {
		return nil, fmt.Errorf("fileio: %w", err)
	}
	f, err := fsys.Open(ctx, p)
	if err != nil {
		return nil, accessError("read input", d.Path, err)
	}
	s := &lineScanner{
		path:    p, // the local path of a file:// URI: messages name it as the user knows it
		file:    f,
		src:     f,
		pool:    pool,
		start:   d.Start,
		end:     d.End,
		size:    d.End - d.Start,
		maxLine: maxLine,
	}
	s.bufp = pool.Get().(*[]byte)
	s.buf = *s.bufp
	if c := codecOf(d.Path); d.Whole || c != NoCompression {
		s.start, s.end = 0, math.MaxInt64
		s.counts = true
		s.cnt = &countingReader{r: f}
		switch c {
		case Gzip:
			zr, err := gzip.NewReader(s.cnt)
			if err != nil {
				s.Close()
				return nil, fmt.Errorf("fileio: reading gzip file %s: %w", d.Path, err)
			}
			s.src = zr
		case Zstd:
			zr, err := zstd.NewReader(s.cnt, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
			if err != nil {
				s.Close()
				return nil, fmt.Errorf("fileio: reading zstd file %s: %w", d.Path, err)
			}
			s.zdec = zr
			s.src = zr
		default:
			s.src = s.cnt
		}
		return s, nil
	}
	if d.Start > 0 {
		if _, err := f.Seek(d.Start-1, io.SeekStart); err != nil {
			s.Close()
			return nil, fmt.Errorf("fileio: seeking %s to offset %d: %w", d.Path, d.Start-1, err)
		}
		s.pos, s.readPos = d.Start-1, d.Start-1
		s.skip = true
	} else {
		s.counts = true
	}
	return s, nil
}

// step returns the next line as buf[lo:hi] (terminator stripped) if one is
// in the buffer, or tells the caller to fill or stop. The line stays
// valid until the next fill.
func (s *lineScanner) step() (lo, hi, st int) {
	if s.done {
		return 0, 0, stDone
	}
	if s.skip {
		if i := bytes.IndexByte(s.buf[s.r:s.w], '\n'); i >= 0 {
			s.pos += int64(i + 1)
			s.r += i + 1
			s.skip = false
		} else {
			s.pos += int64(s.w - s.r)
			s.r = s.w
			if s.eof {
				s.done = true
				return 0, 0, stDone
			}
			return 0, 0, stFill
		}
	}
	if s.pos >= s.end {
		s.done = true
		return 0, 0, stDone
	}
	if s.r == s.w {
		if s.eof {
			s.done = true
			return 0, 0, stDone
		}
		return 0, 0, stFill
	}
	if s.scan < s.r {
		s.scan = s.r
	}
	i := bytes.IndexByte(s.buf[s.scan:s.w], '\n')
	if i < 0 {
		if !s.eof {
			s.scan = s.w
			return 0, 0, stFill
		}
		// Last line of the file, without a terminator.
		lo, hi = s.r, s.w
	} else {
		lo, hi = s.r, s.scan+i
	}
	next := hi + 1
	if i < 0 {
		next = hi
	} else if hi > lo && s.buf[hi-1] == '\r' {
		hi--
	}
	if hi-lo > s.maxLine {
		s.err = s.tooLong()
		s.done = true
		return 0, 0, stDone
	}
	s.lineOff = s.pos
	s.lineNo++
	s.pos += int64(next - s.r)
	s.r = next
	s.scan = next
	return lo, hi, stLine
}

// fill compacts the buffer and reads more input. It grows the buffer for
// lines longer than it, up to maxLine.
func (s *lineScanner) fill() error {
	if s.eof {
		return nil
	}
	if s.r > 0 {
		n := copy(s.buf, s.buf[s.r:s.w])
		s.scan -= s.r
		s.w = n
		s.r = 0
	}
	if s.w == len(s.buf) {
		if len(s.buf) >= s.maxLine+2 { // room for "\r\n"
			s.err = s.tooLong()
			s.done = true
			return s.err
		}
		nb := make([]byte, min(2*len(s.buf), s.maxLine+2))
		copy(nb, s.buf[:s.w])
		s.release()
		s.buf = nb
	}
	limit := len(s.buf)
	if s.readPos < s.end {
		if rem := s.end - s.readPos; rem < int64(limit-s.w) {
			limit = s.w + int(min(rem+readSlack, int64(limit-s.w)))
		}
	} else {
		limit = min(limit, s.w+readSlack)
	}
	n, err := s.src.Read(s.buf[s.w:limit])
	s.w += n
	s.readPos += int64(n)
	switch {
	case err == io.EOF:
		s.eof = true
	case err != nil:
		return fmt.Errorf("fileio: reading %s at offset %d: %w", s.path, s.readPos, err)
	case n == 0:
		s.zeros++
		if s.zeros > 100 {
			return fmt.Errorf("fileio: reading %s at offset %d: %w", s.path, s.readPos, io.ErrNoProgress)
		}
	default:
		s.zeros = 0
	}
	return nil
}

func (s *lineScanner) tooLong() error {
	return fmt.Errorf("fileio: %s:%d: line longer than the maximum of %d bytes (see WithMaxLineLength)", s.path, s.pos, s.maxLine)
}

// next returns the next line, valid until the next call, or io.EOF.
func (s *lineScanner) next() ([]byte, error) {
	for {
		lo, hi, st := s.step()
		switch st {
		case stLine:
			return s.buf[lo:hi], nil
		case stDone:
			if s.err != nil {
				return nil, s.err
			}
			return nil, io.EOF
		}
		if err := s.fill(); err != nil {
			return nil, err
		}
	}
}

// line returns the true line number of the last line returned, or 0 if
// this scanner cannot know it.
func (s *lineScanner) line() int64 {
	if s.counts {
		return s.lineNo
	}
	return 0
}

// Progress implements Progress.
func (s *lineScanner) Progress() (done, total int64) {
	if s.cnt != nil {
		return min(s.cnt.n, s.size), s.size
	}
	done = s.pos - s.start
	if s.done {
		done = s.size
	}
	return min(max(done, 0), s.size), s.size
}

func (s *lineScanner) release() {
	if s.bufp != nil && s.pool != nil {
		s.pool.Put(s.bufp)
	}
	s.bufp = nil
}

// Close releases the file, the decompressor and the buffer.
func (s *lineScanner) Close() error {
	if s.file == nil {
		return nil
	}
	if s.zdec != nil {
		s.zdec.Close()
		s.zdec = nil
	}
	if c, ok := s.src.(io.Closer); ok && s.src != io.Reader(s.file) {
		c.Close()
	}
	err := s.file.Close()
	s.file = nil
	s.release()
	s.buf = nil
	s.done = true
	if err != nil {
		return fmt.Errorf("fileio: closing %s: %w", s.path, err)
	}
	return nil
}
