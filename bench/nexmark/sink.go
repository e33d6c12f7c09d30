package nexmark

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dagflow/dagflow/dag"
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
// the sink's dag.Committer: only the output of a successful job counts,
// and committing the same committable twice counts it once.
type Checksum struct {
	mu    sync.Mutex
	parts map[uint64]Summary
	next  atomic.Uint64 // ids of prepared parts
	// record, when set, receives every committed part as a line
	// "id records hash"; a job that commits in another process (on a
	// cluster) reports its checksum to the driver through it.
	record string
}

// RecordTo makes Commit append every committed part to the file at path.
func (c *Checksum) RecordTo(path string) { c.record = path }

// ReadRecorded merges the parts recorded in a file by RecordTo. A line
// recorded twice (a retried commit) counts once; part ids are only unique
// within a process, so the whole line is the key.
func ReadRecorded(path string) (Summary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Summary{}, err
	}
	seen := map[string]bool{}
	var s Summary
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || seen[line] {
			continue
		}
		seen[line] = true
		recs, err1 := strconv.ParseInt(f[1], 10, 64)
		hash, err2 := strconv.ParseUint(f[2], 16, 64)
		if err1 != nil || err2 != nil {
			return Summary{}, fmt.Errorf("nexmark: bad checksum record %q in %s", line, path)
		}
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
		c.parts = make(map[uint64]Summary)
	}
	var lines strings.Builder
	for _, b := range committables {
		id, s, err := decodePart(b)
		if err != nil {
			return err
		}
		c.parts[id] = s
		fmt.Fprintf(&lines, "%d %d %x\n", id, s.Records, s.Hash)
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

func encodePart(id uint64, s Summary) []byte {
	b := binary.AppendUvarint(nil, id)
	b = binary.AppendVarint(b, s.Records)
	return binary.LittleEndian.AppendUint64(b, s.Hash)
}

func decodePart(b []byte) (uint64, Summary, error) {
	id, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, Summary{}, fmt.Errorf("nexmark: corrupt checksum committable")
	}
	recs, m := binary.Varint(b[n:])
	if m <= 0 || len(b) != n+m+8 {
		return 0, Summary{}, fmt.Errorf("nexmark: corrupt checksum committable")
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
func (s ChecksumSink[T]) NewWriter(context.Context, dag.SinkContext) (dag.SinkWriter[T], error) {
	return &checksumWriter[T]{c: s.c}, nil
}

// Committer implements dag.Sink.
func (s ChecksumSink[T]) Committer() dag.Committer { return s.c }

type checksumWriter[T Row] struct {
	c *Checksum
	s Summary
}

func (w *checksumWriter[T]) Write(_ context.Context, b *dag.Batch[T]) error {
	for i := range b.Vals {
		w.s.Hash += b.Vals[i].Hash64()
	}
	w.s.Records += int64(len(b.Vals))
	return nil
}

// Prepare hands over what was written since the last Prepare.
func (w *checksumWriter[T]) Prepare(context.Context) ([][]byte, error) {
	part := encodePart(w.c.next.Add(1), w.s)
	w.s = Summary{}
	return [][]byte{part}, nil
}

func (w *checksumWriter[T]) Abort(context.Context) error { w.s = Summary{}; return nil }
func (w *checksumWriter[T]) Close() error                { return nil }
