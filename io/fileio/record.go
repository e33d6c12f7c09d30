package fileio

import (
	"fmt"
	"strconv"
	"strings"
)

// RecordError describes a record that could not be parsed.
type RecordError struct {
	// Path is the file the record is in.
	Path string
	// Offset is the byte offset of the record's first byte in the file
	// (in the decompressed stream for compressed files).
	Offset int64
	// Line is the 1-based line number of the record in the file, or 0 if
	// unknown (only readers of a file's first split count lines).
	Line int64
	// Field is the 1-based field (CSV) where parsing failed, 0 if the
	// problem is not tied to one field.
	Field int
	// Record is the start of the offending line, truncated.
	Record string
	// Err is the underlying problem.
	Err error
}

const maxRecordSnippet = 120

func newRecordError(path string, off, line int64, rec []byte, err error) *RecordError {
	snip := string(rec)
	if len(rec) > maxRecordSnippet {
		snip = string(rec[:maxRecordSnippet]) + "..."
	}
	return &RecordError{Path: path, Offset: off, Line: line, Record: snip, Err: err}
}

// Error returns "fileio: PATH:OFFSET (line N): field F: problem; record: "...".
func (e *RecordError) Error() string {
	var b strings.Builder
	b.WriteString("fileio: ")
	b.WriteString(e.Path)
	b.WriteByte(':')
	b.WriteString(strconv.FormatInt(e.Offset, 10))
	if e.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	b.WriteString(": ")
	if e.Field > 0 {
		fmt.Fprintf(&b, "field %d: ", e.Field)
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	fmt.Fprintf(&b, "; record: %q", e.Record)
	return b.String()
}

// Unwrap returns the underlying problem.
func (e *RecordError) Unwrap() error { return e.Err }

// BadRecordCounter is implemented by the split readers of the CSV and
// JSON Lines sources: BadRecords returns how many bad records the reader
// skipped so far (see WithSkipBadRecords).
type BadRecordCounter interface {
	BadRecords() int64
}

// Progress is implemented by the split readers of the file sources:
// Progress returns how many bytes of the split were consumed and the
// split's size in bytes. For compressed files both count compressed bytes
// of the whole file. It is cheap and may be called between ReadBatch
// calls from the reading goroutine.
type Progress interface {
	Progress() (done, total int64)
}

// badRecords applies the skip-bad-records policy of one reader.
type badRecords struct {
	max     int // -1 unlimited
	n       int64
	onBad   func(*RecordError)
	splitID string
}

// handle returns nil if the bad record e is skipped, or the error that
// fails the read.
func (b *badRecords) handle(e *RecordError) error {
	if b.max == 0 {
		return e
	}
	b.n++
	if b.max > 0 && b.n > int64(b.max) {
		return fmt.Errorf("fileio: %w in split %s: %d exceeds the limit of %d; last: %w",
			errTooManyBad, b.splitID, b.n, b.max, e)
	}
	if b.onBad != nil {
		b.onBad(e)
	}
	return nil
}

// Fatal reports that retrying cannot fix a bad record: the engine fails
// the job at once instead of restarting the task (see dag.IsFatal).
func (e *RecordError) Fatal() bool { return true }
