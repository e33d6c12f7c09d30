package faultsuite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/protocol"
)

// Files of the fault directory.
const (
	// ReachedFile is written once, by the first subtask attempt to reach
	// the fault point; it holds a Reached.
	ReachedFile = "reached.json"
	// FailFile, once it exists, makes the paused attempt fail (panic).
	FailFile = "fail"
	// pauseLimit bounds a pause, so that a runner that never injects its
	// fault fails the job instead of hanging it.
	pauseLimit = 3 * time.Minute
	pollEvery  = 5 * time.Millisecond
)

// Reached says where the probed task stood when it paused at the fault
// point.
type Reached struct {
	Vertex  string `json:"vertex"`
	Subtask int    `json:"subtask"`
	Attempt int    `json:"attempt"`
	// PID is the process running the task; Worker the worker daemon
	// that started it (empty in the embedded runtime).
	PID    int    `json:"pid"`
	Worker string `json:"worker,omitempty"`
	// Read is how many records the subtask attempt had read.
	Read int64 `json:"read"`
	// SplitDone and SplitTotal are the progress in the source split being
	// read (sources only; SplitTotal 0 when unknown).
	SplitDone  int64 `json:"splitDone,omitempty"`
	SplitTotal int64 `json:"splitTotal,omitempty"`
}

// Count is what a probed sink subtask attempt read in all, written when
// its input ended (count-<subtask>-<attempt>-<pid>.json).
type Count struct {
	Subtask int   `json:"subtask"`
	Attempt int   `json:"attempt"`
	Read    int64 `json:"read"`
}

// point is the fault point of one probed vertex in one process.
type point struct {
	dir    string
	at     int64
	vertex string
	// passed is set once this process knows the point was reached.
	passed atomic.Bool
}

func (p *point) armed() bool { return p.dir != "" && p.at > 0 && !p.passed.Load() }

// reach records r as the fault point unless another attempt got there
// first, and then pauses until ctx ends (the task was cancelled), the
// runner asks for a failure (the task panics), or pauseLimit passes.
func (p *point) reach(ctx context.Context, r Reached) error {
	p.passed.Store(true)
	r.Vertex, r.PID, r.Worker = p.vertex, os.Getpid(), os.Getenv(protocol.EnvWorker)
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("faultsuite: %w", err)
	}
	tmp, err := os.CreateTemp(p.dir, ".reached-*")
	if err != nil {
		return fmt.Errorf("faultsuite: fault point: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(data)
	if cerr := tmp.Close(); werr != nil || cerr != nil {
		return fmt.Errorf("faultsuite: fault point: %w", errors.Join(werr, cerr))
	}
	// A hard link appears complete or not at all, and only once.
	if err := os.Link(tmp.Name(), filepath.Join(p.dir, ReachedFile)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // an earlier attempt paused here: run through
		}
		return fmt.Errorf("faultsuite: fault point: %w", err)
	}
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	limit := time.NewTimer(pauseLimit)
	defer limit.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-limit.C:
			return fmt.Errorf("faultsuite: nobody injected the fault at %s[%d] within %v", p.vertex, r.Subtask, pauseLimit)
		case <-tick.C:
			if _, err := os.Stat(filepath.Join(p.dir, FailFile)); err == nil {
				panic(fmt.Sprintf("faultsuite: injected failure of %s[%d] attempt %d after %d records", p.vertex, r.Subtask, r.Attempt, r.Read))
			}
		}
	}
}

// probeSource wraps src so that its subtasks pause at the fault point.
func probeSource[T any](src dag.Source[T], p *point) dag.Source[T] {
	return &probedSource[T]{Source: src, p: p, read: map[[2]int]int64{}}
}

type probedSource[T any] struct {
	dag.Source[T]
	p    *point
	mu   sync.Mutex
	read map[[2]int]int64 // by subtask and attempt
}

func (s *probedSource[T]) add(rc dag.ReaderContext, n int) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]int{rc.Subtask, rc.Attempt}
	s.read[k] += int64(n)
	return s.read[k]
}

// OpenSplit implements dag.Source.
func (s *probedSource[T]) OpenSplit(ctx context.Context, rc dag.ReaderContext, sp dag.Split) (dag.SplitReader[T], error) {
	r, err := s.Source.OpenSplit(ctx, rc, sp)
	if err != nil {
		return nil, err
	}
	pr := &probedReader[T]{SplitReader: r, s: s, rc: rc}
	if _, ok := r.(dag.PositionedReader); ok {
		return positionedReader[T]{pr}, nil
	}
	return pr, nil
}

type probedReader[T any] struct {
	dag.SplitReader[T]
	s  *probedSource[T]
	rc dag.ReaderContext
}

// progress is implemented by readers that know how far into their split
// they are (io/datagen).
type progress interface{ Progress() (done, total int64) }

func (r *probedReader[T]) ReadBatch(ctx context.Context, b *dag.Batch[T], max int) (int, error) {
	n, err := r.SplitReader.ReadBatch(ctx, b, max)
	read := r.s.add(r.rc, n)
	if err != nil || read < r.s.p.at || !r.s.p.armed() {
		return n, err // the fault point is inside a split, never at its end
	}
	rep := Reached{Subtask: r.rc.Subtask, Attempt: r.rc.Attempt, Read: read}
	if pg, ok := r.SplitReader.(progress); ok {
		rep.SplitDone, rep.SplitTotal = pg.Progress()
		if rep.SplitTotal > 0 && rep.SplitDone >= rep.SplitTotal {
			return n, err
		}
	}
	if perr := r.s.p.reach(ctx, rep); perr != nil {
		return n, perr
	}
	return n, err
}

// positionedReader keeps the wrapped reader's checkpoint position.
type positionedReader[T any] struct{ *probedReader[T] }

func (r positionedReader[T]) Position() (dag.Split, error) {
	return r.SplitReader.(dag.PositionedReader).Position()
}

// probeSink wraps sink so that its subtasks pause at the fault point and
// report what they read in all.
func probeSink[T any](sink dag.Sink[T], p *point) dag.Sink[T] {
	return probedSink[T]{Sink: sink, p: p}
}

type probedSink[T any] struct {
	dag.Sink[T]
	p *point
}

// NewWriter implements dag.Sink.
func (s probedSink[T]) NewWriter(ctx context.Context, sc dag.SinkContext) (dag.SinkWriter[T], error) {
	w, err := s.Sink.NewWriter(ctx, sc)
	if err != nil {
		return nil, err
	}
	return &probedWriter[T]{SinkWriter: w, p: s.p, sc: sc}, nil
}

type probedWriter[T any] struct {
	dag.SinkWriter[T]
	p    *point
	sc   dag.SinkContext
	read int64
}

func (w *probedWriter[T]) Write(ctx context.Context, b *dag.Batch[T]) error {
	if err := w.SinkWriter.Write(ctx, b); err != nil {
		return err
	}
	w.read += int64(b.Len())
	if w.read < w.p.at || !w.p.armed() {
		return nil
	}
	return w.p.reach(ctx, Reached{Subtask: w.sc.Subtask, Attempt: w.sc.Attempt, Read: w.read})
}

func (w *probedWriter[T]) Prepare(ctx context.Context) ([][]byte, error) {
	cs, err := w.SinkWriter.Prepare(ctx)
	if err != nil || w.p.dir == "" {
		return cs, err
	}
	data, jerr := json.Marshal(Count{Subtask: w.sc.Subtask, Attempt: w.sc.Attempt, Read: w.read})
	if jerr != nil {
		return nil, fmt.Errorf("faultsuite: %w", jerr)
	}
	name := fmt.Sprintf("count-%d-%d-%d.json", w.sc.Subtask, w.sc.Attempt, os.Getpid())
	if werr := os.WriteFile(filepath.Join(w.p.dir, name), data, 0o644); werr != nil {
		return nil, fmt.Errorf("faultsuite: %w", werr)
	}
	return cs, nil
}

// readJSON decodes the JSON file at path into v.
func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("faultsuite: %s: %w", path, err)
	}
	return nil
}
