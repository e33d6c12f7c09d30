package nexmark

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/sql/row"
)

// Summary is an order-independent digest of a multiset of rows: how many
// there are and the sum (mod 2^64) of their Row.Hash64. Equal multisets
// have equal summaries whatever the order or partitioning of the rows.
type Summary struct {
	Records int64
	Hash    uint64
}

// String returns "records/hash", the hash in hex.
func (s Summary) String() string { return fmt.Sprintf("%d/%016x", s.Records, s.Hash) }

// Add folds a row into the summary.
func (s *Summary) Add(r Row) {
	s.Records++
	s.Hash += r.Hash64()
}

// Merge adds another summary.
func (s *Summary) Merge(o Summary) {
	s.Records += o.Records
	s.Hash += o.Hash
}

// Summarize returns the summary of rows.
func Summarize[T Row](rows []T) Summary {
	var s Summary
	for _, r := range rows {
		s.Add(r)
	}
	return s
}

// Checksum collects the summaries a ChecksumSink's writers commit. It is
// the sink's dag.Committer: only the output of a successful job counts.
//
// Every prepared part has an id unique across processes and attempts: a
// random writer id (drawn when a subtask attempt opens its writer) and the
// writer's sequence number. Committing the same committable again (a
// retried commit) is a no-op, but a part id committed with another summary,
// or recorded twice by RecordTo, is an error: a replayed part must never
// vanish silently nor count twice.
type Checksum struct {
	mu    sync.Mutex
	parts map[PartID]Summary
	// record, when set, receives every committed part as a line
	// "writer-seq records hash"; a job that commits in another process (on
	// a cluster) reports its checksum to the driver through it.
	record string
}

// PartID identifies one prepared part: the writer (random, unique per
// subtask attempt and process) and the writer's sequence number.
type PartID struct {
	Writer uint64
	Seq    uint64
}

// String returns "writer-seq", the writer in hex.
func (p PartID) String() string { return fmt.Sprintf("%016x-%d", p.Writer, p.Seq) }

// ErrReplayedPart reports a part committed or recorded twice with
// different contents, or recorded twice.
var ErrReplayedPart = errors.New("nexmark: replayed checksum part")

// RecordTo makes Commit append every committed part to the file at path.
func (c *Checksum) RecordTo(path string) { c.record = path }

// ReadRecorded merges the parts recorded in a file by RecordTo. Every
// line is one part; a part id found twice is an error (ErrReplayedPart),
// whether or not the lines are equal: Commit records each part once.
func ReadRecorded(path string) (Summary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Summary{}, fmt.Errorf("nexmark: %w", err)
	}
	seen := map[string]int{}
	var s Summary
	text := strings.TrimSpace(string(b))
	if text == "" {
		return s, nil
	}
	for i, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		var recs int64
		var hash uint64
		ok := len(f) == 3 && strings.Contains(f[0], "-")
		if ok {
			var err1, err2 error
			recs, err1 = strconv.ParseInt(f[1], 10, 64)
			hash, err2 = strconv.ParseUint(f[2], 16, 64)
			ok = err1 == nil && err2 == nil
		}
		if !ok {
			return Summary{}, fmt.Errorf("nexmark: %s line %d: bad checksum record %q, want \"writer-seq records hash\"", path, i+1, line)
		}
		if prev, dup := seen[f[0]]; dup {
			return Summary{}, fmt.Errorf("%w: %s: part %s on lines %d and %d", ErrReplayedPart, path, f[0], prev, i+1)
		}
		seen[f[0]] = i + 1
		s.Merge(Summary{Records: recs, Hash: hash})
	}
	return s, nil
}

// Summary returns the summary of all committed rows.
func (c *Checksum) Summary() Summary {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s Summary
	for _, p := range c.parts {
		s.Merge(p)
	}
	return s
}

// Commit implements dag.Committer.
func (c *Checksum) Commit(_ context.Context, committables [][]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.parts == nil {
		c.parts = make(map[PartID]Summary)
	}
	var lines strings.Builder
	for _, b := range committables {
		id, s, err := decodePart(b)
		if err != nil {
			return err
		}
		if prev, ok := c.parts[id]; ok {
			if prev != s {
				return fmt.Errorf("%w: part %s committed as %v and as %v", ErrReplayedPart, id, prev, s)
			}
			continue // a retried commit of the same committable
		}
		c.parts[id] = s
		fmt.Fprintf(&lines, "%s %d %x\n", id, s.Records, s.Hash)
	}
	if lines.Len() == 0 {
		return nil
	}
	if c.record != "" {
		f, err := os.OpenFile(c.record, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("nexmark: record checksum: %w", err)
		}
		if _, err := f.WriteString(lines.String()); err != nil {
			f.Close()
			return fmt.Errorf("nexmark: record checksum: %w", err)
		}
		return f.Close()
	}
	return nil
}

// Abort implements dag.Committer: aborted parts were never counted.
func (c *Checksum) Abort(context.Context, [][]byte) error { return nil }

// A committable is the writer id (8 bytes), the sequence number
// (uvarint), the record count (varint) and the hash (8 bytes).
func encodePart(id PartID, s Summary) []byte {
	b := binary.LittleEndian.AppendUint64(nil, id.Writer)
	b = binary.AppendUvarint(b, id.Seq)
	b = binary.AppendVarint(b, s.Records)
	return binary.LittleEndian.AppendUint64(b, s.Hash)
}

func decodePart(b []byte) (PartID, Summary, error) {
	bad := fmt.Errorf("nexmark: corrupt checksum committable of %d bytes", len(b))
	if len(b) < 8 {
		return PartID{}, Summary{}, bad
	}
	id := PartID{Writer: binary.LittleEndian.Uint64(b)}
	b = b[8:]
	seq, n := binary.Uvarint(b)
	if n <= 0 {
		return PartID{}, Summary{}, bad
	}
	id.Seq = seq
	recs, m := binary.Varint(b[n:])
	if m <= 0 || len(b) != n+m+8 {
		return PartID{}, Summary{}, bad
	}
	return id, Summary{Records: recs, Hash: binary.LittleEndian.Uint64(b[n+m:])}, nil
}

// ChecksumSink is a dag.Sink that keeps nothing but the Summary of the
// rows it receives (no disk, no per-row allocation): the output of a
// benchmark query.
type ChecksumSink[T Row] struct {
	c *Checksum
}

var _ dag.Sink[Bid] = ChecksumSink[Bid]{}

// NewChecksumSink returns a sink summarizing into a new Checksum.
func NewChecksumSink[T Row]() ChecksumSink[T] { return ChecksumSink[T]{c: &Checksum{}} }

// Checksum returns the sink's committed summary.
func (s ChecksumSink[T]) Checksum() *Checksum { return s.c }

// NewWriter implements dag.Sink.
// Each writer draws a random 64-bit id, so that part ids are unique across
// subtasks, attempts and processes (a sequence number alone restarts in
// every process).
func (s ChecksumSink[T]) NewWriter(context.Context, dag.SinkContext) (dag.SinkWriter[T], error) {
	return newChecksumWriter(s.c, T.Hash64)
}

// Committer implements dag.Sink.
func (s ChecksumSink[T]) Committer() dag.Committer { return s.c }

// newChecksumWriter returns a writer summarizing records with hash.
func newChecksumWriter[T any](c *Checksum, hash func(T) uint64) (*checksumWriter[T], error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("nexmark: checksum writer id: %w", err)
	}
	return &checksumWriter[T]{c: c, id: binary.LittleEndian.Uint64(b[:]), hash: hash}, nil
}

type checksumWriter[T any] struct {
	c    *Checksum
	id   uint64 // random writer id
	seq  uint64 // parts prepared
	s    Summary
	hash func(T) uint64
}

func (w *checksumWriter[T]) Write(_ context.Context, b *dag.Batch[T]) error {
	for i := range b.Vals {
		w.s.Hash += w.hash(b.Vals[i])
	}
	w.s.Records += int64(len(b.Vals))
	return nil
}

// Prepare hands over what was written since the last Prepare.
func (w *checksumWriter[T]) Prepare(context.Context) ([][]byte, error) {
	w.seq++
	part := encodePart(PartID{Writer: w.id, Seq: w.seq}, w.s)
	w.s = Summary{}
	return [][]byte{part}, nil
}

func (w *checksumWriter[T]) Abort(context.Context) error { w.s = Summary{}; return nil }
func (w *checksumWriter[T]) Close() error                { return nil }

// rowChecksumSink is the ChecksumSink of SQL rows (SQLConnector).
type rowChecksumSink struct {
	c    *Checksum
	hash func(row.Row) uint64
}

// NewWriter implements dag.Sink.
func (s rowChecksumSink) NewWriter(context.Context, dag.SinkContext) (dag.SinkWriter[row.Row], error) {
	return newChecksumWriter(s.c, s.hash)
}

// Committer implements dag.Sink.
func (s rowChecksumSink) Committer() dag.Committer { return s.c }
