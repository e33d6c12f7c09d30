// Package testkit holds in-memory sources and sinks for tests of the
// engine: a bounded slice source with splits, an unbounded gated source,
// and a two-phase collecting sink that exposes only committed records.
// They implement the public dag interfaces, so the engine under test takes
// its real code paths.
package testkit

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dagflow/dagflow/dag"
)

// SliceSource is a bounded source over a slice, split into chunks.
type SliceSource[T any] struct {
	Items []T
	// TS optionally gives each item's timestamp (same length as Items).
	TS []int64
	// SplitSize is items per split (default: len/4, at least 1).
	SplitSize int
	// Delay, when set, sleeps before every batch (to slow a source down).
	Delay time.Duration
	// FailAt, when > 0, makes the reader panic once at this item index,
	// counted by Fails.
	FailAt int
	Fails  *atomic.Int32
	// MaxFails bounds how many attempts FailAt kills (default 1).
	MaxFails int32
	// Hold makes the source unbounded: after its items, readers idle
	// instead of ending.
	Hold bool
}

// Bounded implements dag.Source.
func (s *SliceSource[T]) Bounded() bool { return !s.Hold }

// Splits implements dag.Source.
func (s *SliceSource[T]) Splits(context.Context, dag.SplitContext) ([]dag.Split, error) {
	size := s.SplitSize
	if size <= 0 {
		size = max(1, len(s.Items)/4)
	}
	var out []dag.Split
	for start := 0; start < len(s.Items); start += size {
		end := min(start+size, len(s.Items))
		data := binary.AppendUvarint(binary.AppendUvarint(nil, uint64(start)), uint64(end))
		out = append(out, dag.Split{ID: strconv.Itoa(start), Data: data, Weight: int64(end - start)})
	}
	return out, nil
}

// OpenSplit implements dag.Source.
func (s *SliceSource[T]) OpenSplit(_ context.Context, _ dag.ReaderContext, sp dag.Split) (dag.SplitReader[T], error) {
	start, n := binary.Uvarint(sp.Data)
	end, m := binary.Uvarint(sp.Data[n:])
	if n <= 0 || m <= 0 {
		return nil, fmt.Errorf("testkit: bad split %q", sp.ID)
	}
	return &sliceReader[T]{s: s, id: sp.ID, pos: int(start), end: int(end)}, nil
}

type sliceReader[T any] struct {
	s        *SliceSource[T]
	id       string
	pos, end int
}

// Position implements dag.PositionedReader.
func (r *sliceReader[T]) Position() (dag.Split, error) {
	data := binary.AppendUvarint(binary.AppendUvarint(nil, uint64(r.pos)), uint64(r.end))
	return dag.Split{ID: r.id, Data: data, Weight: int64(r.end - r.pos)}, nil
}

func (r *sliceReader[T]) ReadBatch(_ context.Context, b *dag.Batch[T], max int) (int, error) {
	if r.s.Delay > 0 {
		time.Sleep(r.s.Delay)
	}
	n := 0
	for r.pos < r.end && n < max {
		if r.s.FailAt > 0 && r.pos == r.s.FailAt && r.s.Fails != nil {
			limit := r.s.MaxFails
			if limit == 0 {
				limit = 1
			}
			if r.s.Fails.Load() < limit {
				r.s.Fails.Add(1)
				panic(fmt.Sprintf("testkit: injected failure at item %d", r.pos))
			}
		}
		ts := dag.MinTime
		if r.s.TS != nil {
			ts = r.s.TS[r.pos]
		}
		b.Append(r.s.Items[r.pos], ts)
		r.pos++
		n++
	}
	if r.pos >= r.end {
		if r.s.Hold {
			if n == 0 {
				time.Sleep(20 * time.Millisecond) // an idle stream
			}
			return n, nil
		}
		return n, io.EOF
	}
	return n, nil
}

func (r *sliceReader[T]) Close() error { return nil }

// Collector is a two-phase sink keeping committed records in memory.
type Collector[T any] struct {
	mu        sync.Mutex
	pending   map[string][]T
	committed []T
	seq       int
	commits   int
	aborts    int
}

// NewCollector returns an empty collector.
func NewCollector[T any]() *Collector[T] {
	return &Collector[T]{pending: make(map[string][]T)}
}

// Committed returns the committed records.
func (c *Collector[T]) Committed() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]T(nil), c.committed...)
}

// Pending returns how many prepared, uncommitted record sets exist.
func (c *Collector[T]) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// NewWriter implements dag.Sink.
func (c *Collector[T]) NewWriter(context.Context, dag.SinkContext) (dag.SinkWriter[T], error) {
	return &collectWriter[T]{c: c}, nil
}

// Committer implements dag.Sink.
func (c *Collector[T]) Committer() dag.Committer { return collectCommitter[T]{c} }

type collectWriter[T any] struct {
	c   *Collector[T]
	buf []T
}

func (w *collectWriter[T]) Write(_ context.Context, b *dag.Batch[T]) error {
	w.buf = append(w.buf, b.Vals...)
	return nil
}

func (w *collectWriter[T]) Prepare(context.Context) ([][]byte, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	w.c.seq++
	id := strconv.Itoa(w.c.seq)
	w.c.pending[id] = w.buf
	w.buf = nil
	return [][]byte{[]byte(id)}, nil
}

func (w *collectWriter[T]) Abort(context.Context) error { w.buf = nil; return nil }
func (w *collectWriter[T]) Close() error                { return nil }

type collectCommitter[T any] struct{ c *Collector[T] }

func (cc collectCommitter[T]) Commit(_ context.Context, ids [][]byte) error {
	cc.c.mu.Lock()
	defer cc.c.mu.Unlock()
	for _, id := range ids {
		if recs, ok := cc.c.pending[string(id)]; ok {
			cc.c.committed = append(cc.c.committed, recs...)
			delete(cc.c.pending, string(id))
		}
	}
	cc.c.commits++
	return nil
}

func (cc collectCommitter[T]) Abort(_ context.Context, ids [][]byte) error {
	cc.c.mu.Lock()
	defer cc.c.mu.Unlock()
	for _, id := range ids {
		delete(cc.c.pending, string(id))
	}
	cc.c.aborts++
	return nil
}

// SortedStrings formats values with fmt and sorts them, for comparisons.
func SortedStrings[T any](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmt.Sprint(v)
	}
	sort.Strings(out)
	return out
}
