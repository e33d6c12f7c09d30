package dag

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/dagflow/dagflow/dag/engine"
)

// sourceVertex is the factory a source vertex holds.
type sourceVertex[T any] struct {
	src Source[T]
	wm  WatermarkStrategy[T]
}

func (s *sourceVertex[T]) bounded() bool { return s.src.Bounded() }

func (s *sourceVertex[T]) splits(ctx context.Context, sc SplitContext) ([]Split, error) {
	return s.src.Splits(ctx, sc)
}

func (s *sourceVertex[T]) newInstance() engine.SourceInstance {
	return &sourceInstance[T]{sv: s, wm: MinTime}
}

type openSplit[T any] struct {
	id     string
	r      SplitReader[T]
	maxTS  int64
	lastAt int64 // processing time of the last record
}

// sourceInstance reads splits of one source subtask.
type sourceInstance[T any] struct {
	sv     *sourceVertex[T]
	oc     *engine.OperatorContext
	rc     ReaderContext
	splits []*openSplit[T]
	next   int
	batch  Batch[T]
	wm     int64
	ooo    int64
	idle   int64
}

func (si *sourceInstance[T]) Open(_ context.Context, oc *engine.OperatorContext) error {
	si.oc = oc
	si.rc = ReaderContext{Subtask: oc.Subtask, Parallelism: oc.Parallelism, Attempt: oc.Attempt}
	si.ooo = si.sv.wm.OutOfOrderness.Milliseconds()
	si.idle = si.sv.wm.Idleness.Milliseconds()
	return nil
}

func (si *sourceInstance[T]) AddSplit(ctx context.Context, split Split) error {
	return si.RestoreSplit(ctx, engine.SplitPosition{Split: split, MaxTimestamp: MinTime})
}

func (si *sourceInstance[T]) RestoreSplit(ctx context.Context, sp engine.SplitPosition) error {
	r, err := si.sv.src.OpenSplit(ctx, si.rc, sp.Split)
	if err != nil {
		return fmt.Errorf("open split %s: %w", sp.Split.ID, err)
	}
	si.splits = append(si.splits, &openSplit[T]{id: sp.Split.ID, r: r, maxTS: sp.MaxTimestamp, lastAt: si.oc.Now()})
	return nil
}

func (si *sourceInstance[T]) SnapshotSplits() ([]engine.SplitPosition, error) {
	out := make([]engine.SplitPosition, 0, len(si.splits))
	for _, sp := range si.splits {
		pr, ok := sp.r.(PositionedReader)
		if !ok {
			return nil, Fatal(fmt.Errorf("source %s cannot be checkpointed: the reader of split %s (%T) does not implement dag.PositionedReader", si.oc.Name, sp.id, sp.r))
		}
		split, err := pr.Position()
		if err != nil {
			return nil, fmt.Errorf("position of split %s: %w", sp.id, err)
		}
		out = append(out, engine.SplitPosition{Split: split, MaxTimestamp: sp.maxTS})
	}
	return out, nil
}

func (si *sourceInstance[T]) NotifyCheckpoint(ctx context.Context, id int64) error {
	for _, sp := range si.splits {
		if l, ok := sp.r.(CheckpointListener); ok {
			if err := l.CheckpointComplete(ctx, id); err != nil {
				return fmt.Errorf("split %s: %w", sp.id, err)
			}
		}
	}
	return nil
}

func (si *sourceInstance[T]) OpenSplits() int { return len(si.splits) }

func (si *sourceInstance[T]) Poll(ctx context.Context) (int, []FinishedSplit, error) {
	if len(si.splits) == 0 {
		return 0, nil, nil
	}
	if si.next >= len(si.splits) {
		si.next = 0
	}
	sp := si.splits[si.next]
	si.next++
	si.batch.Reset()
	n, err := sp.r.ReadBatch(ctx, &si.batch, si.oc.BatchSize)
	var finished []FinishedSplit
	if err != nil {
		if !errors.Is(err, io.EOF) {
			return 0, nil, fmt.Errorf("split %s: %w", sp.id, err)
		}
		fs := FinishedSplit{ID: sp.id}
		if fr, ok := sp.r.(FinishReporter); ok {
			fs.Report = fr.FinishReport()
		}
		finished = append(finished, fs)
		if cerr := sp.r.Close(); cerr != nil {
			return 0, nil, fmt.Errorf("close split %s: %w", sp.id, cerr)
		}
		si.remove(sp)
	}
	n = si.batch.Len()
	if n == 0 {
		return 0, finished, nil
	}
	// Readers may leave TS short; normalise.
	for len(si.batch.TS) < n {
		si.batch.TS = append(si.batch.TS, MinTime)
	}
	if f := si.sv.wm.Timestamp; f != nil {
		for i, v := range si.batch.Vals {
			si.batch.TS[i] = f(v)
		}
	}
	for _, ts := range si.batch.TS {
		if ts > sp.maxTS {
			sp.maxTS = ts
		}
	}
	sp.lastAt = si.oc.Now()
	if err := si.oc.Outputs[0].Emit(ctx, &si.batch); err != nil {
		return 0, nil, err
	}
	return n, finished, nil
}

func (si *sourceInstance[T]) remove(sp *openSplit[T]) {
	// The split's progress stays in the watermark: it never goes back.
	if wm := boundedWatermark(sp.maxTS, si.ooo); wm > si.wm && len(si.splits) == 1 {
		si.wm = wm
	}
	for i, s := range si.splits {
		if s == sp {
			si.splits = append(si.splits[:i], si.splits[i+1:]...)
			break
		}
	}
}

func (si *sourceInstance[T]) Watermark(now int64) (int64, bool) {
	if len(si.splits) == 0 {
		return si.wm, false
	}
	min, active := MaxTime, 0
	for _, sp := range si.splits {
		if si.idle > 0 && now-sp.lastAt >= si.idle {
			continue
		}
		active++
		if wm := boundedWatermark(sp.maxTS, si.ooo); wm < min {
			min = wm
		}
	}
	if active == 0 {
		return si.wm, true
	}
	if min > si.wm {
		si.wm = min
	}
	return si.wm, false
}

func (si *sourceInstance[T]) Close() error {
	var errs []error
	for _, sp := range si.splits {
		errs = append(errs, sp.r.Close())
	}
	si.splits = nil
	return errors.Join(errs...)
}

func (s *sourceVertex[T]) dynamic() DynamicSource {
	d, _ := s.src.(DynamicSource)
	return d
}
