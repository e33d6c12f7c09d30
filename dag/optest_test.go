package dag

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/dag/engine"
)

// This file is a small harness for operator tests: it runs one operator
// instance with collecting outputs, a controllable processing-time clock,
// and numbered steps (one per call into the operator), so tests can check
// what each input caused and in which order.

// otHarness drives one operator instance.
type otHarness struct {
	t       testing.TB
	op      engine.Operator
	oc      *engine.OperatorContext
	metrics engine.Metrics
	now     int64 // processing time returned by oc.Now
	step    int   // number of the current call into the operator
	seq     int   // order of output events across ports
}

// newOTHarness returns a harness for op; add outputs with otOutput, then
// call open.
func newOTHarness(t testing.TB, op engine.Operator, batchSize int) *otHarness {
	h := &otHarness{t: t, op: op}
	h.oc = &engine.OperatorContext{
		Job: "test", Name: "op-under-test", Parallelism: 1, MaxParallelism: 128,
		BatchSize: batchSize, Metrics: &h.metrics,
		Now: func() int64 { return h.now },
	}
	return h
}

// otOutput adds the next output port, collecting records of type T.
func otOutput[T any](h *otHarness) *otCollector[T] {
	c := &otCollector[T]{h: h, port: len(h.oc.Outputs)}
	h.oc.Outputs = append(h.oc.Outputs, c)
	return c
}

func (h *otHarness) open() {
	h.t.Helper()
	if err := h.op.Open(context.Background(), h.oc); err != nil {
		h.t.Fatalf("Open: %v", err)
	}
}

// otPush feeds vals with timestamps ts to input as one batch, then
// overwrites the batch to catch operators that keep it.
func otPush[T any](h *otHarness, input int, vals []T, ts []int64) {
	h.t.Helper()
	if err := otPushErr(h, input, vals, ts); err != nil {
		h.t.Fatalf("step %d: ProcessBatch: %v", h.step, err)
	}
}

func otPushErr[T any](h *otHarness, input int, vals []T, ts []int64) error {
	if len(vals) != len(ts) {
		h.t.Fatalf("otPush: %d values, %d timestamps", len(vals), len(ts))
	}
	h.step++
	b := &Batch[T]{Vals: slices.Clone(vals), TS: slices.Clone(ts)}
	err := h.op.ProcessBatch(context.Background(), input, b)
	var zero T
	for i := range b.Vals {
		b.Vals[i], b.TS[i] = zero, -424242
	}
	return err
}

func (h *otHarness) watermark(wm int64) {
	h.t.Helper()
	h.step++
	if err := h.op.ProcessWatermark(context.Background(), wm); err != nil {
		h.t.Fatalf("step %d: ProcessWatermark(%d): %v", h.step, wm, err)
	}
}

func (h *otHarness) endInput(input int) {
	h.t.Helper()
	h.step++
	if err := h.op.EndInput(context.Background(), input); err != nil {
		h.t.Fatalf("step %d: EndInput(%d): %v", h.step, input, err)
	}
}

// processingTime sets the clock to now and fires due processing-time
// timers the way the engine does: while the next timer is due.
func (h *otHarness) processingTime(now int64) {
	h.t.Helper()
	h.now = now
	pt, ok := h.op.(engine.ProcessingTimeOperator)
	if !ok {
		h.t.Fatalf("%T does not implement ProcessingTimeOperator", h.op)
	}
	for range 1000 {
		if pt.NextProcessingTimer() > now {
			return
		}
		h.step++
		if err := pt.OnProcessingTime(context.Background(), now); err != nil {
			h.t.Fatalf("step %d: OnProcessingTime(%d): %v", h.step, now, err)
		}
	}
	h.t.Fatalf("processing-time timers due at %d keep firing", now)
}

func (h *otHarness) close() {
	h.t.Helper()
	if err := h.op.Close(); err != nil {
		h.t.Fatalf("Close: %v", err)
	}
}

// otEvent is one output record or watermark.
type otEvent[T any] struct {
	step, seq int
	isWM      bool
	wm        int64
	val       T
	ts        int64
}

// otCollector is an engine.Output that copies what it receives.
type otCollector[T any] struct {
	h       *otHarness
	port    int
	events  []otEvent[T]
	batches int
}

func (c *otCollector[T]) Emit(_ context.Context, batch any) error {
	b, ok := batch.(*Batch[T])
	switch {
	case !ok:
		return fmt.Errorf("harness port %d: got %T, want *Batch[%v]", c.port, batch, typeOf[T]())
	case len(b.Vals) != len(b.TS):
		return fmt.Errorf("harness port %d: batch of %d values and %d timestamps", c.port, len(b.Vals), len(b.TS))
	case len(b.Vals) == 0:
		return fmt.Errorf("harness port %d: empty batch", c.port)
	case c.h.oc.BatchSize > 0 && len(b.Vals) > c.h.oc.BatchSize:
		return fmt.Errorf("harness port %d: batch of %d records exceeds BatchSize %d", c.port, len(b.Vals), c.h.oc.BatchSize)
	}
	c.batches++
	for i, v := range b.Vals {
		c.h.seq++
		c.events = append(c.events, otEvent[T]{step: c.h.step, seq: c.h.seq, val: v, ts: b.TS[i]})
	}
	return nil
}

func (c *otCollector[T]) EmitWatermark(_ context.Context, wm int64) error {
	c.h.seq++
	c.events = append(c.events, otEvent[T]{step: c.h.step, seq: c.h.seq, isWM: true, wm: wm})
	return nil
}

// records returns the records received (no watermarks).
func (c *otCollector[T]) records() []otEvent[T] {
	var out []otEvent[T]
	for _, e := range c.events {
		if !e.isWM {
			out = append(out, e)
		}
	}
	return out
}

// values returns the values of the records received.
func (c *otCollector[T]) values() []T {
	var out []T
	for _, e := range c.records() {
		out = append(out, e.val)
	}
	return out
}

// watermarks returns the watermarks received.
func (c *otCollector[T]) watermarks() []int64 {
	var out []int64
	for _, e := range c.events {
		if e.isWM {
			out = append(out, e.wm)
		}
	}
	return out
}

// checkWatermarksLast checks that every watermark is the last event of its
// step on this port and that watermarks increase.
func (c *otCollector[T]) checkWatermarksLast(t testing.TB) {
	t.Helper()
	last := MinTime
	for i, e := range c.events {
		if !e.isWM {
			continue
		}
		if i+1 < len(c.events) && c.events[i+1].step == e.step {
			t.Errorf("step %d: watermark %d forwarded before output of the same step", e.step, e.wm)
		}
		if e.wm <= last {
			t.Errorf("step %d: watermark %d after %d", e.step, e.wm, last)
		}
		last = e.wm
	}
}

// otExpect is an expected output record of a step.
type otExpect struct {
	step int
	ts   int64
	val  string // fmt.Sprint of the value
}

func otCompareKey(e otExpect) string { return fmt.Sprintf("%06d|%d|%s", e.step, e.ts, e.val) }

// otCheckRecords compares the records of c with want as multisets per
// step.
func otCheckRecords[T any](t testing.TB, what string, c *otCollector[T], want []otExpect) {
	t.Helper()
	var got []string
	for _, e := range c.records() {
		got = append(got, otCompareKey(otExpect{step: e.step, ts: e.ts, val: fmt.Sprint(e.val)}))
	}
	var exp []string
	for _, e := range want {
		exp = append(exp, otCompareKey(e))
	}
	slices.Sort(got)
	slices.Sort(exp)
	if slices.Equal(got, exp) {
		return
	}
	var missing, extra []string
	i, j := 0, 0
	for i < len(got) || j < len(exp) {
		switch {
		case j == len(exp) || i < len(got) && got[i] < exp[j]:
			extra = append(extra, got[i])
			i++
		case i == len(got) || exp[j] < got[i]:
			missing = append(missing, exp[j])
			j++
		default:
			i++
			j++
		}
	}
	t.Errorf("%s: %d records, want %d\nmissing (step|ts|value): %s\nextra: %s", what, len(got), len(exp),
		otHead(missing), otHead(extra))
}

func otHead(s []string) string {
	if len(s) > 8 {
		return strings.Join(s[:8], "; ") + fmt.Sprintf("; ... (%d more)", len(s)-8)
	}
	return strings.Join(s, "; ")
}

// otSource is a Source stub for building graphs in tests; it is never
// read.
type otSource[T any] struct{ bounded bool }

func (s otSource[T]) Bounded() bool                                         { return s.bounded }
func (s otSource[T]) Splits(context.Context, SplitContext) ([]Split, error) { return nil, nil }
func (s otSource[T]) OpenSplit(context.Context, ReaderContext, Split) (SplitReader[T], error) {
	return nil, errors.New("otSource is not readable")
}

// otSink is a Sink stub for building graphs in tests.
type otSink[T any] struct{}

func (otSink[T]) NewWriter(context.Context, SinkContext) (SinkWriter[T], error) {
	return nil, errors.New("otSink is not writable")
}
func (otSink[T]) Committer() Committer { return nil }

// otInput returns a stream from a stub source.
func otInput[T any](g *Graph, name string) Stream[T] {
	return FromSource[T](g, name, otSource[T]{bounded: true}, nil)
}

// otNewOperator instantiates the operator producing s, failing on graph
// construction errors.
func otNewOperator[T any](t testing.TB, s Stream[T]) engine.Operator {
	t.Helper()
	if len(s.srcs) == 0 {
		t.Fatalf("invalid stream; graph errors: %v", s.g)
	}
	if err := errors.Join(s.g.errs...); err != nil {
		t.Fatalf("graph errors: %v", err)
	}
	return s.srcs[0].v.newOperator()
}

// otGraphErr returns the joined construction errors of g.
func otGraphErr(g *Graph) error { return errors.Join(g.errs...) }

// otSortedBy returns a sorted copy.
func otSortedBy[T any, C cmp.Ordered](s []T, key func(T) C) []T {
	s = slices.Clone(s)
	slices.SortStableFunc(s, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	return s
}
