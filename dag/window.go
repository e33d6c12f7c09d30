package dag

import (
	"fmt"
	"time"
)

// TimeWindow is the half-open event-time interval [Start, End) in Unix
// milliseconds. Results of a window carry the timestamp MaxTimestamp.
type TimeWindow struct {
	Start int64 // first timestamp in the window
	End   int64 // first timestamp after the window
}

// MaxTimestamp is the largest timestamp inside the window, End-1. A window
// fires when the watermark reaches it.
func (w TimeWindow) MaxTimestamp() int64 { return w.End - 1 }

// String returns "[start, end)".
func (w TimeWindow) String() string { return fmt.Sprintf("[%d, %d)", w.Start, w.End) }

// windowKind says how a WindowAssigner assigns windows.
type windowKind uint8

const (
	noWindowKind   windowKind = iota
	slidingWindows            // tumbling windows are sliding windows with slide == size
	sessionWindows
)

// WindowAssigner assigns each record to event-time windows by its
// timestamp. Build one with Tumbling, TumblingOffset, Sliding,
// SlidingOffset or Session; the zero value is invalid. An assigner built
// from invalid durations reports its error when a window operator uses it
// (the error is recorded on the graph and returned by Build).
//
// Tumbling and sliding windows are aligned to the epoch plus an offset:
// the window starts are offset + n*slide for every integer n, also for
// negative timestamps.
type WindowAssigner struct {
	kind   windowKind
	size   int64 // window length (ms); the gap for sessions
	slide  int64 // distance between window starts (ms)
	offset int64 // in [0, slide)
	err    error
}

// Tumbling returns an assigner of fixed-size, non-overlapping windows
// [n*size, (n+1)*size). size must be a positive whole number of
// milliseconds.
func Tumbling(size time.Duration) WindowAssigner { return TumblingOffset(size, 0) }

// TumblingOffset returns an assigner of tumbling windows whose starts are
// shifted by offset: [offset + n*size, offset + (n+1)*size). Only offset
// modulo size matters; it may be negative (e.g. -8h for days in UTC+8).
func TumblingOffset(size, offset time.Duration) WindowAssigner {
	s, err := windowMillis("tumbling window size", size)
	if err != nil {
		return WindowAssigner{err: err}
	}
	return newSlidingAssigner(s, s, offset)
}

// Sliding returns an assigner of windows of length size starting every
// slide: a record belongs to about size/slide windows. When slide exceeds
// size, records between windows belong to none and are dropped. Both must
// be positive whole numbers of milliseconds.
func Sliding(size, slide time.Duration) WindowAssigner { return SlidingOffset(size, slide, 0) }

// SlidingOffset returns an assigner of sliding windows whose starts are
// offset + n*slide. Only offset modulo slide matters; it may be negative.
func SlidingOffset(size, slide, offset time.Duration) WindowAssigner {
	s, err := windowMillis("sliding window size", size)
	if err != nil {
		return WindowAssigner{err: err}
	}
	sl, err := windowMillis("sliding window slide", slide)
	if err != nil {
		return WindowAssigner{err: err}
	}
	return newSlidingAssigner(s, sl, offset)
}

func newSlidingAssigner(size, slide int64, offset time.Duration) WindowAssigner {
	if offset%time.Millisecond != 0 {
		return WindowAssigner{err: fmt.Errorf("window offset %v is not a whole number of milliseconds", offset)}
	}
	return WindowAssigner{kind: slidingWindows, size: size, slide: slide, offset: floorMod(offset.Milliseconds(), slide)}
}

// Session returns an assigner of session windows per key: a record at ts
// opens the window [ts, ts+gap), and windows of the same key that overlap
// or touch merge into one session. Records of a key whose timestamps are
// at most gap apart are thus in the same session, which ends gap after its
// last record. Session windows need Agg.Merge. gap must be a positive
// whole number of milliseconds.
func Session(gap time.Duration) WindowAssigner {
	g, err := windowMillis("session gap", gap)
	if err != nil {
		return WindowAssigner{err: err}
	}
	return WindowAssigner{kind: sessionWindows, size: g, slide: g}
}

// IsSession reports whether the assigner makes merging session windows.
func (a WindowAssigner) IsSession() bool { return a.kind == sessionWindows }

// String describes the assigner, e.g. "tumbling(1m0s)".
func (a WindowAssigner) String() string {
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	switch {
	case a.err != nil:
		return "invalid(" + a.err.Error() + ")"
	case a.kind == sessionWindows:
		return fmt.Sprintf("session(%v)", ms(a.size))
	case a.kind == slidingWindows && a.size == a.slide && a.offset == 0:
		return fmt.Sprintf("tumbling(%v)", ms(a.size))
	case a.kind == slidingWindows && a.size == a.slide:
		return fmt.Sprintf("tumbling(%v, offset %v)", ms(a.size), ms(a.offset))
	case a.kind == slidingWindows && a.offset == 0:
		return fmt.Sprintf("sliding(%v, %v)", ms(a.size), ms(a.slide))
	case a.kind == slidingWindows:
		return fmt.Sprintf("sliding(%v, %v, offset %v)", ms(a.size), ms(a.slide), ms(a.offset))
	}
	return "invalid(no window assigner)"
}

// validate returns the assigner's construction error, if any.
func (a WindowAssigner) validate() error {
	if a.err != nil {
		return a.err
	}
	if a.kind == noWindowKind {
		return fmt.Errorf("no window assigner (use Tumbling, Sliding or Session)")
	}
	return nil
}

// AssignWindows appends to dst the windows that contain timestamp ts and
// returns the extended slice: the windows of tumbling and sliding
// assigners in decreasing start order, or the initial window [ts, ts+gap)
// of a session (sessions merge later, per key). Window bounds saturate at
// MinTime and MaxTime.
func (a WindowAssigner) AssignWindows(ts int64, dst []TimeWindow) []TimeWindow {
	switch a.kind {
	case sessionWindows:
		return append(dst, TimeWindow{Start: ts, End: addSat(ts, a.size)})
	case slidingWindows:
		// j is the distance from a window's start to ts.
		for j := a.startDistance(ts); j < a.size; j += a.slide {
			start := MinTime
			if ts >= MinTime+j {
				start = ts - j
			}
			dst = append(dst, TimeWindow{Start: start, End: addSat(ts, a.size-j)})
		}
	}
	return dst
}

// startDistance returns (ts - offset) mod slide: the distance from the
// start of the latest window (of any size) containing ts.
func (a WindowAssigner) startDistance(ts int64) int64 {
	m := floorMod(ts, a.slide) - a.offset // without overflowing ts-offset
	if m < 0 {
		m += a.slide
	}
	return m
}

// minTimestamp is the smallest record timestamp whose windows have
// representable starts; window operators reject smaller ones.
func (a WindowAssigner) minTimestamp() int64 {
	if a.kind == sessionWindows {
		return MinTime + 1
	}
	return MinTime + a.size + a.slide
}

// windowMillis converts a positive duration of whole milliseconds.
func windowMillis(what string, d time.Duration) (int64, error) {
	if d <= 0 || d%time.Millisecond != 0 {
		return 0, fmt.Errorf("%s %v: must be a positive whole number of milliseconds", what, d)
	}
	return d.Milliseconds(), nil
}

// floorMod returns x mod m in [0, m) for m > 0.
func floorMod(x, m int64) int64 {
	r := x % m
	if r < 0 {
		r += m
	}
	return r
}

// addSat returns a+b for b >= 0, saturating at MaxTime.
func addSat(a, b int64) int64 {
	if a > MaxTime-b {
		return MaxTime
	}
	return a + b
}
