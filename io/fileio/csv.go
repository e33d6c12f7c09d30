package fileio

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dagflow/dagflow/dag"
)

// ErrMultilineField is matched (errors.Is) by the error for a quoted CSV
// field that is not closed on its line: fields spanning lines are not
// supported, because records are found by splitting files at newlines.
var ErrMultilineField = errors.New("quoted field not terminated on its line (fields spanning lines are not supported)")

// CSVSource reads CSV files. See CSV.
type CSVSource[T any] struct {
	fileSource
	parse func(fields []string) (T, error)
}

var _ dag.Source[int] = (*CSVSource[int])(nil)

// CSV returns a bounded source that parses each line of the CSV files at
// paths with parse. Paths, splitting and compression work as for Lines.
//
// Every non-empty line is one record (empty lines, and with WithComment
// lines starting with the comment character, are skipped). Fields are
// separated by the delimiter (',' unless WithDelimiter) and may be quoted
// with '"', a doubled quote "" standing for one quote inside a quoted
// field; a quote inside an unquoted field is taken literally. A quoted
// field containing a line break cannot be read (the error matches
// ErrMultilineField). Fields are not trimmed.
//
// parse receives a slice that is reused for the next record: keep the
// strings, not the slice. A parse error, or a malformed line, fails the
// read with a *RecordError naming the file, the byte offset and (in a
// file's first split) the line number, unless WithSkipBadRecords allows
// skipping it.
//
// Options: WithDelimiter, WithComment, WithSkipHeader, WithSkipBadRecords,
// WithBadRecordHandler and those of Lines. Split readers implement
// Progress and BadRecordCounter.
func CSV[T any](parse func(fields []string) (T, error), paths ...string) *CSVSource[T] {
	return &CSVSource[T]{fileSource: newFileSource(paths, nil), parse: parse}
}

// With returns a copy of the source with opts applied.
func (s *CSVSource[T]) With(opts ...Option) *CSVSource[T] {
	return &CSVSource[T]{fileSource: s.fileSource.with(opts), parse: s.parse}
}

// Bounded implements dag.Source: files end.
func (s *CSVSource[T]) Bounded() bool { return true }

// Splits implements dag.Source.
func (s *CSVSource[T]) Splits(ctx context.Context, sc dag.SplitContext) ([]dag.Split, error) {
	if s.parse == nil {
		return nil, errors.New("fileio: CSV source needs a parse function")
	}
	return s.splits(ctx, sc)
}

// OpenSplit implements dag.Source.
func (s *CSVSource[T]) OpenSplit(ctx context.Context, rc dag.ReaderContext, split dag.Split) (dag.SplitReader[T], error) {
	if s.parse == nil {
		return nil, errors.New("fileio: CSV source needs a parse function")
	}
	sc, err := s.open(ctx, split)
	if err != nil {
		return nil, err
	}
	return &csvReader[T]{
		lineScanner: sc,
		src:         s,
		bad:         badRecords{max: s.cfg.maxBad, onBad: s.cfg.onBad, splitID: split.ID},
		skipHeader:  s.cfg.skipHeader && sc.start == 0 && sc.data.Skip == 0,
	}, nil
}

type csvReader[T any] struct {
	*lineScanner
	src        *CSVSource[T]
	bad        badRecords
	fields     []string
	scratch    []byte
	skipHeader bool
}

// BadRecords implements BadRecordCounter.
func (r *csvReader[T]) BadRecords() int64 { return r.bad.n }

// ReadBatch implements dag.SplitReader.
func (r *csvReader[T]) ReadBatch(ctx context.Context, b *dag.Batch[T], max int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	cfg := &r.src.cfg
	n := 0
	for n < max {
		line, err := r.next()
		if err != nil {
			return n, err
		}
		if r.skipHeader {
			r.skipHeader = false
			if r.lineOff == 0 {
				continue
			}
		}
		if len(line) == 0 || (cfg.comment != 0 && line[0] == cfg.comment) {
			continue
		}
		s := string(line)
		var ferr *csvFieldError
		r.fields, r.scratch, ferr = splitCSV(s, cfg.delim, r.fields[:0], r.scratch)
		var rerr *RecordError
		if ferr != nil {
			rerr = newRecordError(r.path, r.lineOff, r.line(), line, ferr)
			rerr.Field = ferr.field
		} else {
			v, err := r.src.parse(r.fields)
			if err == nil {
				b.Append(v, dag.MinTime)
				n++
				continue
			}
			rerr = newRecordError(r.path, r.lineOff, r.line(), line, err)
		}
		if err := r.bad.handle(rerr); err != nil {
			return n, err
		}
	}
	return n, nil
}

// csvFieldError is a malformed field.
type csvFieldError struct {
	field int // 1-based
	col   int // 1-based byte column of the problem in the line
	err   error
}

func (e *csvFieldError) Error() string {
	return fmt.Sprintf("column %d: %v", e.col, e.err)
}

func (e *csvFieldError) Unwrap() error { return e.err }

// splitCSV splits line into fields appended to dst. Unquoted fields and
// quoted fields without "" escapes are substrings of line; scratch is
// reused to unescape the others.
func splitCSV(line string, delim byte, dst []string, scratch []byte) ([]string, []byte, *csvFieldError) {
	i := 0
	for {
		if i < len(line) && line[i] == '"' {
			open := i
			j := i + 1
			seg := j
			esc := false
			scratch = scratch[:0]
			for {
				k := strings.IndexByte(line[j:], '"')
				if k < 0 {
					return dst, scratch, &csvFieldError{field: len(dst) + 1, col: open + 1, err: ErrMultilineField}
				}
				k += j
				if k+1 < len(line) && line[k+1] == '"' {
					scratch = append(scratch, line[seg:k+1]...)
					esc = true
					j = k + 2
					seg = j
					continue
				}
				if esc {
					scratch = append(scratch, line[seg:k]...)
					dst = append(dst, string(scratch))
				} else {
					dst = append(dst, line[open+1:k])
				}
				i = k + 1
				break
			}
			if i == len(line) {
				return dst, scratch, nil
			}
			if line[i] != delim {
				return dst, scratch, &csvFieldError{field: len(dst), col: i + 1,
					err: fmt.Errorf("unexpected %q after closing quote (want delimiter %q)", line[i], delim)}
			}
			i++
			continue
		}
		k := strings.IndexByte(line[i:], delim)
		if k < 0 {
			return append(dst, line[i:]), scratch, nil
		}
		dst = append(dst, line[i:i+k])
		i += k + 1
	}
}

// fieldNeedsQuotes reports whether a CSV field must be quoted.
func fieldNeedsQuotes(f string, delim, comment byte, first bool) bool {
	if f == "" {
		return false
	}
	if first && comment != 0 && f[0] == comment {
		return true
	}
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case delim, '"', '\r', '\n':
			return true
		}
	}
	return false
}

// appendCSVRecord appends fields as one CSV line (with "\n") to dst,
// quoting fields that need it. A record of one empty field is written as
// `""` so that it is not read back as an empty (skipped) line. Fields
// containing line breaks are quoted as RFC 4180 demands; such files are
// valid CSV but cannot be read back by this package's CSV source.
func appendCSVRecord(dst []byte, fields []string, delim, comment byte) []byte {
	if len(fields) == 1 && fields[0] == "" {
		return append(dst, '"', '"', '\n')
	}
	for i, f := range fields {
		if i > 0 {
			dst = append(dst, delim)
		}
		if !fieldNeedsQuotes(f, delim, comment, i == 0) {
			dst = append(dst, f...)
			continue
		}
		dst = append(dst, '"')
		for {
			k := strings.IndexByte(f, '"')
			if k < 0 {
				break
			}
			dst = append(dst, f[:k+1]...)
			dst = append(dst, '"')
			f = f[k+1:]
		}
		dst = append(dst, f...)
		dst = append(dst, '"')
	}
	return append(dst, '\n')
}
