package fileio

import (
	"context"
	"io"

	"github.com/dagflow/dagflow/dag"
)

// chunkLimit bounds the bytes of lines that share one string allocation
// (see linesReader.ReadBatch), so that a retained line keeps at most this
// much memory alive.
const chunkLimit = 16 << 10

// LinesSource reads text files line by line. See Lines.
type LinesSource struct {
	fileSource
}

var _ dag.Source[string] = (*LinesSource)(nil)

// Lines returns a bounded source of the lines of the files at paths
// (files, directories or globs, see filesystem.ExpandInputs; any scheme of
// the registry set with WithRegistry).
//
// Uncompressed files are split into byte ranges (WithSplitSize); a split
// [start, end) emits every line whose first byte lies in it, so each line
// is read exactly once whatever the split size. Lines are terminated by
// "\n" or "\r\n", which are stripped; a final line without terminator is
// emitted as is. Files ending in ".gz" or ".zst" are decompressed and read
// whole as one split. Records carry dag.MinTime timestamps.
//
// Options: WithSplitSize, WithRegistry, WithBufferSize, WithMaxLineLength.
// Split readers implement Progress.
func Lines(paths ...string) *LinesSource {
	return &LinesSource{newFileSource(paths, nil)}
}

// With returns a copy of the source with opts applied.
func (s *LinesSource) With(opts ...Option) *LinesSource {
	return &LinesSource{s.fileSource.with(opts)}
}

// Bounded implements dag.Source: files end.
func (s *LinesSource) Bounded() bool { return true }

// Splits implements dag.Source.
func (s *LinesSource) Splits(ctx context.Context, sc dag.SplitContext) ([]dag.Split, error) {
	return s.splits(ctx, sc)
}

// OpenSplit implements dag.Source.
func (s *LinesSource) OpenSplit(ctx context.Context, rc dag.ReaderContext, split dag.Split) (dag.SplitReader[string], error) {
	sc, err := s.open(ctx, split)
	if err != nil {
		return nil, err
	}
	return &linesReader{lineScanner: sc}, nil
}

type linesReader struct {
	*lineScanner
	spans []int // lo, hi pairs of lines in buf not yet converted
}

// ReadBatch implements dag.SplitReader. Lines found in the buffer are
// converted with one string allocation per run of up to chunkLimit bytes
// and sliced from it.
func (r *linesReader) ReadBatch(ctx context.Context, b *dag.Batch[string], max int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	for n < max {
		lo, hi, st := r.step()
		if st == stLine {
			r.spans = append(r.spans, lo, hi)
			n++
			if hi-r.spans[0] >= chunkLimit {
				r.flush(b)
			}
			continue
		}
		r.flush(b)
		if st == stDone {
			if r.err != nil {
				return n, r.err
			}
			return n, io.EOF
		}
		if err := r.fill(); err != nil {
			return n, err
		}
	}
	r.flush(b)
	return n, nil
}

// flush appends the pending lines to b.
func (r *linesReader) flush(b *dag.Batch[string]) {
	if len(r.spans) == 0 {
		return
	}
	base := r.spans[0]
	chunk := string(r.buf[base:r.spans[len(r.spans)-1]])
	for i := 0; i < len(r.spans); i += 2 {
		b.Append(chunk[r.spans[i]-base:r.spans[i+1]-base], dag.MinTime)
	}
	r.spans = r.spans[:0]
}
