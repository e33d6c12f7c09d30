package fileio

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/dagflow/dagflow/dag"
)

// JSONLinesSource reads JSON Lines files. See JSONLines.
type JSONLinesSource[T any] struct {
	fileSource
}

var _ dag.Source[int] = (*JSONLinesSource[int])(nil)

// JSONLines returns a bounded source that decodes each line of the files
// at paths with encoding/json into a T. Lines that are empty or hold only
// white space are skipped. Paths, splitting and compression work as for
// Lines.
//
// A line that does not decode fails the read with a *RecordError naming
// the file, the byte offset and (in a file's first split) the line
// number, unless WithSkipBadRecords allows skipping it.
//
// Options: WithSkipBadRecords, WithBadRecordHandler and those of Lines.
// Split readers implement Progress and BadRecordCounter.
func JSONLines[T any](paths ...string) *JSONLinesSource[T] {
	return &JSONLinesSource[T]{newFileSource(paths, nil)}
}

// With returns a copy of the source with opts applied.
func (s *JSONLinesSource[T]) With(opts ...Option) *JSONLinesSource[T] {
	return &JSONLinesSource[T]{s.fileSource.with(opts)}
}

// Bounded implements dag.Source: files end.
func (s *JSONLinesSource[T]) Bounded() bool { return true }

// Splits implements dag.Source.
func (s *JSONLinesSource[T]) Splits(ctx context.Context, sc dag.SplitContext) ([]dag.Split, error) {
	return s.splits(ctx, sc)
}

// OpenSplit implements dag.Source.
func (s *JSONLinesSource[T]) OpenSplit(ctx context.Context, rc dag.ReaderContext, split dag.Split) (dag.SplitReader[T], error) {
	sc, err := s.open(ctx, split)
	if err != nil {
		return nil, err
	}
	return &jsonlReader[T]{
		lineScanner: sc,
		bad:         badRecords{max: s.cfg.maxBad, onBad: s.cfg.onBad, splitID: split.ID},
	}, nil
}

type jsonlReader[T any] struct {
	*lineScanner
	bad badRecords
}

// BadRecords implements BadRecordCounter.
func (r *jsonlReader[T]) BadRecords() int64 { return r.bad.n }

// ReadBatch implements dag.SplitReader.
func (r *jsonlReader[T]) ReadBatch(ctx context.Context, b *dag.Batch[T], max int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	for n < max {
		line, err := r.next()
		if err != nil {
			return n, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var v T
		if err := json.Unmarshal(line, &v); err != nil {
			if err := r.bad.handle(newRecordError(r.path, r.lineOff, r.line(), line, err)); err != nil {
				return n, err
			}
			continue
		}
		b.Append(v, dag.MinTime)
		n++
	}
	return n, nil
}
