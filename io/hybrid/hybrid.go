package hybrid

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dagflow/dagflow/dag"
)

// End describes where the phases before a new one ended: it is computed
// from the finish reports of their splits.
type End struct {
	// Phase is the phase that just ended (the new one is Phase+1).
	Phase int
	// MaxEventTime is the largest event time (Unix ms) any split of the
	// earlier phases read, dag.MinTime if they read no record.
	MaxEventTime int64
	// Records is how many records the earlier phases emitted.
	Records int64
	// Splits is how many splits the earlier phases finished.
	Splits int
}

// StartFunc computes the splits of a phase from where the earlier phases
// ended. It also returns the phase's start time: records of the phase
// whose event time is below it are dropped (they belong to an earlier
// phase); dag.MinTime keeps every record. It runs where the engine
// enumerates splits (driver or master) and must be a deterministic
// function of its arguments and the external system's data.
type StartFunc func(ctx context.Context, sc dag.SplitContext, end End) (splits []dag.Split, start int64, err error)

// Seeker is a source that can start at a point in time, like
// *kafka.Source (SplitsFrom: the first record at or after t in every
// partition).
type Seeker[T any] interface {
	dag.Source[T]
	SplitsFrom(ctx context.Context, t time.Time) ([]dag.Split, error)
}

// Next is a phase that follows the first one; build it with Then,
// ThenAt, ThenAfter or ThenFunc.
type Next[T any] struct {
	src   dag.Source[T]
	start StartFunc
	desc  string
}

// Then reads src's own splits (as src.Splits enumerates them, when the
// phase starts) after the previous phase, keeping every record.
func Then[T any](src dag.Source[T]) Next[T] {
	return Next[T]{src: src, desc: "then", start: func(ctx context.Context, sc dag.SplitContext, _ End) ([]dag.Split, int64, error) {
		splits, err := src.Splits(ctx, sc)
		return splits, dag.MinTime, err
	}}
}

// ThenAt starts src at the fixed time t: its splits begin at the first
// record at or after t, and records with an event time before t are
// dropped.
func ThenAt[T any](src Seeker[T], t time.Time) Next[T] {
	ms := t.UnixMilli()
	return Next[T]{src: src, desc: "at " + t.UTC().Format(time.RFC3339Nano), start: func(ctx context.Context, _ dag.SplitContext, _ End) ([]dag.Split, int64, error) {
		splits, err := src.SplitsFrom(ctx, time.UnixMilli(ms))
		return splits, ms, err
	}}
}

// ThenAfter starts src right after the largest event time the earlier
// phases read (max+1 ms): no record is read twice and none is lost, given
// that the earlier phases hold every record up to their largest event
// time and src every record after it. Records of src with an event time
// at or before that maximum are dropped. When the earlier phases read no
// record at all, src starts where it is configured to (src.Splits) and
// keeps every record.
func ThenAfter[T any](src Seeker[T]) Next[T] {
	return Next[T]{src: src, desc: "after", start: func(ctx context.Context, sc dag.SplitContext, end End) ([]dag.Split, int64, error) {
		if end.Records == 0 {
			splits, err := src.Splits(ctx, sc)
			return splits, dag.MinTime, err
		}
		if end.MaxEventTime == dag.MinTime {
			return nil, 0, fmt.Errorf("hybrid: phase %d read %d records but none had an event time: give the hybrid source an event time function (WithEventTime) or use a reader that sets timestamps", end.Phase, end.Records)
		}
		start := end.MaxEventTime + 1
		splits, err := src.SplitsFrom(ctx, time.UnixMilli(start))
		return splits, start, err
	}}
}

// ThenFunc starts src where fn says (see StartFunc).
func ThenFunc[T any](src dag.Source[T], fn StartFunc) Next[T] {
	return Next[T]{src: src, start: fn, desc: "func"}
}

// Source is a hybrid source: phases read one after the other. It
// implements dag.Source and dag.DynamicSource.
type Source[T any] struct {
	phases    []Next[T]
	eventTime func(T) int64
	err       error
}

var (
	_ dag.Source[int]        = (*Source[int])(nil)
	_ dag.DynamicSource      = (*Source[int])(nil)
	_ dag.PositionedReader   = (*reader[int])(nil)
	_ dag.FinishReporter     = (*reader[int])(nil)
	_ dag.CheckpointListener = (*reader[int])(nil)
)

// New returns a source reading first, then each of then in turn. Every
// source but the last must be bounded. The first source's splits are read
// as first.Splits enumerates them.
func New[T any](first dag.Source[T], then ...Next[T]) *Source[T] {
	s := &Source[T]{phases: append([]Next[T]{{src: first, desc: "first", start: func(ctx context.Context, sc dag.SplitContext, _ End) ([]dag.Split, int64, error) {
		if first == nil {
			return nil, 0, errors.New("hybrid: phase 0 has no source")
		}
		splits, err := first.Splits(ctx, sc)
		return splits, dag.MinTime, err
	}}}, then...)}
	for i, p := range s.phases {
		switch {
		case p.src == nil:
			s.err = errors.Join(s.err, fmt.Errorf("hybrid: phase %d has no source", i))
		case p.start == nil:
			s.err = errors.Join(s.err, fmt.Errorf("hybrid: phase %d has no start (build it with Then, ThenAt, ThenAfter or ThenFunc)", i))
		case i < len(s.phases)-1 && !p.src.Bounded():
			s.err = errors.Join(s.err, fmt.Errorf("hybrid: phase %d (%T) is unbounded: only the last phase may be", i, p.src))
		}
	}
	return s
}

// WithEventTime returns a copy of s whose readers take each record's event
// time from fn instead of the timestamp the inner reader set. The event
// times decide the reports (ThenAfter) and which records of a phase are
// dropped as belonging to an earlier one. It does not replace the job's
// dag.WatermarkStrategy.Timestamp, which still assigns the records'
// timestamps downstream.
func (s *Source[T]) WithEventTime(fn func(T) int64) *Source[T] {
	c := *s
	c.eventTime = fn
	return &c
}

// Phases returns the number of phases.
func (s *Source[T]) Phases() int { return len(s.phases) }

// Bounded implements dag.Source: the last phase decides.
func (s *Source[T]) Bounded() bool {
	last := s.phases[len(s.phases)-1].src
	return last == nil || last.Bounded()
}

// Splits implements dag.Source: the splits of phase 0.
func (s *Source[T]) Splits(ctx context.Context, sc dag.SplitContext) ([]dag.Split, error) {
	if s.err != nil {
		return nil, s.err
	}
	return s.phaseSplits(ctx, sc, 0, End{MaxEventTime: dag.MinTime})
}

// MoreSplits implements dag.DynamicSource: round r holds the splits of
// phase r, started from the End of phases 0..r-1 computed from finished.
func (s *Source[T]) MoreSplits(ctx context.Context, sc dag.SplitContext, round int, finished []dag.FinishedSplit) ([]dag.Split, bool, error) {
	if s.err != nil {
		return nil, false, s.err
	}
	if round <= 0 || round >= len(s.phases) {
		return nil, true, nil
	}
	end, err := EndOf(finished, round)
	if err != nil {
		return nil, false, err
	}
	splits, err := s.phaseSplits(ctx, sc, round, end)
	if err != nil {
		return nil, false, err
	}
	return splits, round == len(s.phases)-1, nil
}

func (s *Source[T]) phaseSplits(ctx context.Context, sc dag.SplitContext, phase int, end End) ([]dag.Split, error) {
	p := s.phases[phase]
	inner, start, err := p.start(ctx, sc, end)
	if err != nil {
		return nil, fmt.Errorf("hybrid: splits of phase %d (%T, %s): %w", phase, p.src, p.desc, err)
	}
	out := make([]dag.Split, len(inner))
	for i, sp := range inner {
		st := SplitState{Phase: phase, Start: start, MaxEventTime: dag.MinTime, InnerID: sp.ID, Inner: sp.Data}
		out[i] = dag.Split{ID: st.ID(), Data: st.Encode(), Weight: sp.Weight}
	}
	return out, nil
}

// Report is the finish report of a hybrid split (JSON in
// dag.FinishedSplit.Report).
type Report struct {
	Phase        int    `json:"phase"`
	MaxEventTime int64  `json:"maxEventTime"`
	Records      int64  `json:"records"`
	Inner        []byte `json:"inner,omitempty"` // the inner reader's report
}

// EndOf summarizes the reports of the splits of phases before phase.
func EndOf(finished []dag.FinishedSplit, phase int) (End, error) {
	end := End{Phase: phase - 1, MaxEventTime: dag.MinTime}
	for _, f := range finished {
		var r Report
		if err := json.Unmarshal(f.Report, &r); err != nil {
			return End{}, fmt.Errorf("hybrid: bad finish report of split %s: %w", f.ID, err)
		}
		if r.Phase >= phase {
			continue
		}
		end.Splits++
		end.Records += r.Records
		end.MaxEventTime = max(end.MaxEventTime, r.MaxEventTime)
	}
	return end, nil
}

// OpenSplit implements dag.Source: it opens the split with the source of
// its phase, positioned where the split says.
func (s *Source[T]) OpenSplit(ctx context.Context, rc dag.ReaderContext, split dag.Split) (dag.SplitReader[T], error) {
	st, err := DecodeSplit(split.Data)
	if err != nil {
		return nil, fmt.Errorf("hybrid: split %s: %w", split.ID, err)
	}
	if st.Phase >= len(s.phases) {
		return nil, fmt.Errorf("hybrid: split %s belongs to phase %d but the source has %d phases", split.ID, st.Phase, len(s.phases))
	}
	src := s.phases[st.Phase].src
	in, err := src.OpenSplit(ctx, rc, dag.Split{ID: st.InnerID, Data: st.Inner, Weight: split.Weight})
	if err != nil {
		return nil, err
	}
	return &reader[T]{inner: in, st: st, eventTime: s.eventTime, weight: split.Weight}, nil
}

// reader wraps the reader of a phase's split.
type reader[T any] struct {
	inner     dag.SplitReader[T]
	st        SplitState
	eventTime func(T) int64
	weight    int64
}

// ReadBatch implements dag.SplitReader: it reads from the inner reader,
// drops records before the phase's start and tracks the largest event
// time.
func (r *reader[T]) ReadBatch(ctx context.Context, b *dag.Batch[T], max int) (int, error) {
	from := len(b.Vals)
	_, err := r.inner.ReadBatch(ctx, b, max)
	for len(b.TS) < len(b.Vals) {
		b.TS = append(b.TS, dag.MinTime)
	}
	keep := from
	for i := from; i < len(b.Vals); i++ {
		et := b.TS[i]
		if r.eventTime != nil {
			et = r.eventTime(b.Vals[i])
		}
		if r.st.Start != dag.MinTime && et < r.st.Start {
			continue // an earlier phase's record
		}
		if et > r.st.MaxEventTime {
			r.st.MaxEventTime = et
		}
		if keep != i {
			b.Vals[keep], b.TS[keep] = b.Vals[i], b.TS[i]
		}
		keep++
	}
	if keep < len(b.Vals) {
		clear(b.Vals[keep:])
		b.Vals, b.TS = b.Vals[:keep], b.TS[:keep]
	}
	r.st.Records += int64(keep - from)
	return keep - from, err
}

// Position implements dag.PositionedReader: the inner position wrapped
// with the phase and the progress so far.
func (r *reader[T]) Position() (dag.Split, error) {
	pr, ok := r.inner.(dag.PositionedReader)
	if !ok {
		return dag.Split{}, fmt.Errorf("hybrid: the reader of split %s of phase %d (%T) does not implement dag.PositionedReader", r.st.InnerID, r.st.Phase, r.inner)
	}
	in, err := pr.Position()
	if err != nil {
		return dag.Split{}, err
	}
	st := r.st
	st.InnerID, st.Inner = in.ID, in.Data
	return dag.Split{ID: st.ID(), Data: st.Encode(), Weight: r.weight}, nil
}

// FinishReport implements dag.FinishReporter.
func (r *reader[T]) FinishReport() []byte {
	rep := Report{Phase: r.st.Phase, MaxEventTime: r.st.MaxEventTime, Records: r.st.Records}
	if fr, ok := r.inner.(dag.FinishReporter); ok {
		rep.Inner = fr.FinishReport()
	}
	b, _ := json.Marshal(rep) // cannot fail: plain fields
	return b
}

// CheckpointComplete implements dag.CheckpointListener by delegating.
func (r *reader[T]) CheckpointComplete(ctx context.Context, id int64) error {
	if l, ok := r.inner.(dag.CheckpointListener); ok {
		return l.CheckpointComplete(ctx, id)
	}
	return nil
}

// BadRecords returns the inner reader's count of skipped bad records, if
// it keeps one.
func (r *reader[T]) BadRecords() int64 {
	if br, ok := r.inner.(interface{ BadRecords() int64 }); ok {
		return br.BadRecords()
	}
	return 0
}

// Close implements dag.SplitReader.
func (r *reader[T]) Close() error { return r.inner.Close() }
