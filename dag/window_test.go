package dag

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dagflow/dagflow/dag/engine"
)

// otRec is the record type of the window tests.
type otRec struct {
	Key string
	V   int64
	ID  int
}

// otStats is an order-independent aggregate.
type otStats struct{ N, Sum, Min, Max int64 }

func otStatsOf(vs []int64) otStats {
	s := otStats{Min: math.MaxInt64, Max: math.MinInt64}
	for _, v := range vs {
		s = otStatsAdd(s, v)
	}
	return s
}

func otStatsAdd(s otStats, v int64) otStats {
	return otStats{N: s.N + 1, Sum: s.Sum + v, Min: min(s.Min, v), Max: max(s.Max, v)}
}

var otStatsAgg = Agg[otRec, otStats, otStats]{
	Zero: func() otStats { return otStats{Min: math.MaxInt64, Max: math.MinInt64} },
	Add:  func(s otStats, r otRec) otStats { return otStatsAdd(s, r.V) },
	Merge: func(a, b otStats) otStats {
		return otStats{N: a.N + b.N, Sum: a.Sum + b.Sum, Min: min(a.Min, b.Min), Max: max(a.Max, b.Max)}
	},
	Result: func(s otStats) otStats { return s },
}

func otKey(r otRec) string { return r.Key }

// otStep is one input call: a batch (on input in) or a watermark.
type otStep struct {
	isWM bool
	wm   int64
	in   int
	recs []otRec
	ts   []int64
}

// otScenario describes random input: timestamps advance by up to maxGap
// per record and are disordered by up to ooo; the watermark trails the
// largest timestamp by lag (lag < ooo makes late records).
type otScenario struct {
	name   string
	n      int
	keys   int
	start  int64
	maxGap int64
	ooo    int64
	lag    int64
	inputs int // number of inputs the batches go to (1 or 2)
}

var otScenarios = []otScenario{
	{name: "in-order", n: 400, keys: 4, start: -20_000, maxGap: 60},
	{name: "bounded-disorder", n: 400, keys: 4, start: -9_000, maxGap: 60, ooo: 800, lag: 800},
	{name: "late", n: 400, keys: 3, start: -5_000, maxGap: 60, ooo: 1500, lag: 200},
}

func otGenerate(sc otScenario, seed int64) []otStep {
	r := rand.New(rand.NewSource(seed))
	var steps []otStep
	cur, maxTS, wm := sc.start, MinTime, MinTime
	inputs := max(sc.inputs, 1)
	for id := 0; id < sc.n; {
		st := otStep{in: r.Intn(inputs)}
		for n := 1 + r.Intn(12); n > 0 && id < sc.n; n-- {
			cur += r.Int63n(sc.maxGap + 1)
			ts := cur
			if sc.ooo > 0 {
				ts -= r.Int63n(sc.ooo + 1)
			}
			st.recs = append(st.recs, otRec{Key: fmt.Sprintf("k%d", r.Intn(sc.keys)), V: r.Int63n(100) - 30, ID: id})
			st.ts = append(st.ts, ts)
			maxTS = max(maxTS, ts)
			id++
		}
		steps = append(steps, st)
		if w := maxTS - sc.lag - 1; r.Intn(10) < 7 && w > wm {
			wm = w
			steps = append(steps, otStep{isWM: true, wm: w})
		}
	}
	return append(steps, otStep{isWM: true, wm: MaxTime})
}

// otRefWindows lists the windows [offset + k*slide, +size) containing ts,
// computed independently of WindowAssigner.
func otRefWindows(ts, size, slide, offset int64) []TimeWindow {
	var out []TimeWindow
	for k := int64(math.Floor(float64(ts-offset) / float64(slide))); offset+k*slide+size > ts; k-- {
		out = append(out, TimeWindow{Start: offset + k*slide, End: offset + k*slide + size})
	}
	return out
}

// otRefSliding is a brute-force model of the event-time window operator
// with allowed lateness: it keeps every accepted record per window and
// recomputes aggregates from scratch.
func otRefSliding(steps []otStep, size, slide, offset, lateness int64) (out, late []otExpect) {
	pool := map[TimeWindow]map[string][]int64{}
	wm := MinTime
	isLate := func(t int64) bool { return wm != MinTime && t+lateness <= wm }
	result := func(step int, w TimeWindow, k string) otExpect {
		r := WindowResult[string, otStats]{Key: k, Start: w.Start, End: w.End, Value: otStatsOf(pool[w][k])}
		return otExpect{step: step, ts: w.End - 1, val: fmt.Sprint(r)}
	}
	for i, st := range steps {
		step := i + 1
		if st.isWM {
			if st.wm <= wm {
				continue
			}
			for w, keys := range pool {
				if w.End-1 > wm && w.End-1 <= st.wm {
					for k := range keys {
						out = append(out, result(step, w, k))
					}
				}
			}
			wm = st.wm
			for w := range pool {
				if st.wm == MaxTime || isLate(w.End-1) {
					delete(pool, w)
				}
			}
			continue
		}
		for j, rec := range st.recs {
			ts := st.ts[j]
			accepted := false
			for _, w := range otRefWindows(ts, size, slide, offset) {
				if isLate(w.End - 1) {
					continue
				}
				accepted = true
				if pool[w] == nil {
					pool[w] = map[string][]int64{}
				}
				pool[w][rec.Key] = append(pool[w][rec.Key], rec.V)
				if wm != MinTime && w.End-1 <= wm {
					out = append(out, result(step, w, rec.Key))
				}
			}
			if !accepted && isLate(ts) {
				late = append(late, otExpect{step: step, ts: ts, val: fmt.Sprint(rec)})
			}
		}
	}
	return out, late
}

// otRunWindow builds Window+WindowAggregate with a consumed late output
// and feeds steps.
func otRunWindow(t *testing.T, a WindowAssigner, lateness time.Duration, steps []otStep, batchSize int) (*otHarness, *otCollector[WindowResult[string, otStats]], *otCollector[otRec]) {
	t.Helper()
	g := New("t", Config{})
	w := Window(KeyBy(otInput[otRec](g, "in"), otKey), a, AllowedLateness(lateness))
	res := WindowAggregate(w, otStatsAgg, Name("win"))
	ToSink(w.Late(), "late-sink", otSink[otRec]{})
	h := newOTHarness(t, otNewOperator(t, res), batchSize)
	out := otOutput[WindowResult[string, otStats]](h)
	late := otOutput[otRec](h)
	h.open()
	for _, st := range steps {
		if st.isWM {
			h.watermark(st.wm)
		} else {
			otPush(h, 0, st.recs, st.ts)
		}
	}
	h.endInput(0)
	h.close()
	return h, out, late
}

// otCheckFireOrder checks that the results of each watermark step come in
// window-end order.
func otCheckFireOrder[K, O any](t *testing.T, out *otCollector[WindowResult[K, O]], steps []otStep) {
	t.Helper()
	prevStep, prevEnd := -1, MinTime
	for _, e := range out.records() {
		if !steps[e.step-1].isWM {
			continue
		}
		if e.step == prevStep && e.val.End < prevEnd {
			t.Errorf("step %d: window ending %d fired after window ending %d", e.step, e.val.End, prevEnd)
		}
		prevStep, prevEnd = e.step, e.val.End
	}
}

func TestWindowSlidingMatchesReference(t *testing.T) {
	assigners := []struct {
		a                   WindowAssigner
		size, slide, offset int64
	}{
		{Tumbling(time.Second), 1000, 1000, 0},
		{TumblingOffset(time.Second, 250*time.Millisecond), 1000, 1000, 250},
		{TumblingOffset(time.Second, -130*time.Millisecond), 1000, 1000, -130},
		{Sliding(time.Second, 300*time.Millisecond), 1000, 300, 0},
		{SlidingOffset(time.Second, 250*time.Millisecond, 100*time.Millisecond), 1000, 250, 100},
		{Sliding(500*time.Millisecond, 700*time.Millisecond), 500, 700, 0}, // gaps between windows
	}
	for _, as := range assigners {
		for _, lateness := range []time.Duration{0, 700 * time.Millisecond} {
			for _, sc := range otScenarios {
				t.Run(fmt.Sprintf("%v/lateness=%v/%s", as.a, lateness, sc.name), func(t *testing.T) {
					for seed := int64(1); seed <= 2; seed++ {
						steps := otGenerate(sc, seed)
						h, out, late := otRunWindow(t, as.a, lateness, steps, 5)
						wantOut, wantLate := otRefSliding(steps, as.size, as.slide, as.offset, lateness.Milliseconds())
						otCheckRecords(t, "results", out, wantOut)
						otCheckRecords(t, "late records", late, wantLate)
						out.checkWatermarksLast(t)
						otCheckFireOrder(t, out, steps)
						if got := h.metrics.LateDropped.Load(); got != 0 {
							t.Errorf("LateDropped = %d with a late output", got)
						}
						if sc.name == "late" && lateness == 0 && len(wantLate) == 0 {
							t.Errorf("scenario made no late records")
						}
						if t.Failed() {
							t.Fatalf("seed %d", seed)
						}
					}
				})
			}
		}
	}
}

func TestAssignWindows(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		a    WindowAssigner
		ts   int64
		want []TimeWindow
	}{
		{Tumbling(10 * ms), 0, []TimeWindow{{0, 10}}},
		{Tumbling(10 * ms), 9, []TimeWindow{{0, 10}}},
		{Tumbling(10 * ms), -1, []TimeWindow{{-10, 0}}},
		{Tumbling(10 * ms), -10, []TimeWindow{{-10, 0}}},
		{Tumbling(10 * ms), -11, []TimeWindow{{-20, -10}}},
		{TumblingOffset(10*ms, 3*ms), 2, []TimeWindow{{-7, 3}}},
		{TumblingOffset(10*ms, 3*ms), 3, []TimeWindow{{3, 13}}},
		{TumblingOffset(10*ms, -3*ms), 7, []TimeWindow{{7, 17}}},
		{TumblingOffset(10*ms, 13*ms), -8, []TimeWindow{{-17, -7}}},
		{Sliding(10*ms, 5*ms), 7, []TimeWindow{{5, 15}, {0, 10}}},
		{Sliding(10*ms, 5*ms), -5, []TimeWindow{{-5, 5}, {-10, 0}}},
		{Sliding(10*ms, 3*ms), 0, []TimeWindow{{0, 10}, {-3, 7}, {-6, 4}, {-9, 1}}},
		{Sliding(5*ms, 10*ms), 7, nil},
		{Sliding(5*ms, 10*ms), -6, []TimeWindow{{-10, -5}}},
		{SlidingOffset(10*ms, 5*ms, 2*ms), 1, []TimeWindow{{-3, 7}, {-8, 2}}},
		{Session(10 * ms), -4, []TimeWindow{{-4, 6}}},
		{Tumbling(10 * ms), MaxTime, []TimeWindow{{MaxTime - MaxTime%10, MaxTime}}},
		{Tumbling(10 * ms), MinTime + 1, []TimeWindow{{MinTime, MinTime + 8}}},
		{Sliding(10*ms, 5*ms), MinTime + 6, []TimeWindow{{MinTime + 3, MinTime + 13}, {MinTime, MinTime + 8}}},
		{Session(10 * ms), MaxTime - 3, []TimeWindow{{MaxTime - 3, MaxTime}}},
	}
	for _, tt := range tests {
		got := tt.a.AssignWindows(tt.ts, nil)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%v.AssignWindows(%d) = %v, want %v", tt.a, tt.ts, got, tt.want)
		}
	}
	// Brute force over a range of timestamps, sizes and offsets.
	for size := int64(1); size <= 7; size++ {
		for slide := int64(1); slide <= 9; slide++ {
			for offset := int64(-11); offset <= 11; offset += 4 {
				a := SlidingOffset(time.Duration(size)*ms, time.Duration(slide)*ms, time.Duration(offset)*ms)
				for ts := int64(-40); ts <= 40; ts++ {
					got := a.AssignWindows(ts, nil)
					if want := otRefWindows(ts, size, slide, offset); !slices.Equal(got, want) {
						t.Fatalf("%v.AssignWindows(%d) = %v, want %v", a, ts, got, want)
					}
				}
			}
		}
	}
}

func TestWindowAssignerValidation(t *testing.T) {
	bad := []WindowAssigner{
		{}, Tumbling(0), Tumbling(-time.Second), Tumbling(time.Microsecond), TumblingOffset(time.Second, time.Microsecond),
		Sliding(time.Second, 0), Sliding(0, time.Second), Session(0), Session(1500 * time.Microsecond),
	}
	for _, a := range bad {
		g := New("t", Config{})
		res := WindowAggregate(Window(KeyBy(otInput[otRec](g, "in"), otKey), a), otStatsAgg)
		err := otGraphErr(g)
		if err == nil || !strings.Contains(err.Error(), `vertex 1 (window "window")`) {
			t.Errorf("%v: error %v, want one naming the window vertex", a, err)
		}
		if len(res.srcs) != 1 {
			t.Errorf("%v: no result stream", a)
		}
	}
	names := map[string]WindowAssigner{
		"tumbling(1s)":                        Tumbling(time.Second),
		"tumbling(1s, offset 750ms)":          TumblingOffset(time.Second, -250*time.Millisecond),
		"sliding(1m0s, 10s)":                  Sliding(time.Minute, 10*time.Second),
		"sliding(1m0s, 10s, offset 1s)":       SlidingOffset(time.Minute, 10*time.Second, time.Second),
		"session(30s)":                        Session(30 * time.Second),
		"invalid(no window assigner)":         {},
		"invalid(session gap 0s: must be a p": Session(0),
	}
	for want, a := range names {
		if got := a.String(); !strings.HasPrefix(got, want) {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
	if !Session(time.Second).IsSession() || Tumbling(time.Second).IsSession() {
		t.Error("IsSession")
	}
}

func TestWindowGraphErrors(t *testing.T) {
	t.Run("late before aggregate", func(t *testing.T) {
		g := New("t", Config{})
		w := Window(KeyBy(otInput[otRec](g, "in"), otKey), Tumbling(time.Second))
		if s := w.Late(); len(s.srcs) != 0 {
			t.Error("Late before aggregation returned a stream")
		}
		if err := otGraphErr(g); err == nil || !strings.Contains(err.Error(), "aggregate the window") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("session needs merge", func(t *testing.T) {
		g := New("t", Config{})
		agg := otStatsAgg
		agg.Merge = nil
		WindowAggregate(Window(KeyBy(otInput[otRec](g, "in"), otKey), Session(time.Second)), agg, Name("sessions"))
		if err := otGraphErr(g); err == nil || !strings.Contains(err.Error(), `vertex 1 (window "sessions"): session windows need Agg.Merge`) {
			t.Errorf("error %v", err)
		}
	})
	t.Run("incomplete agg", func(t *testing.T) {
		g := New("t", Config{})
		WindowAggregate(Window(KeyBy(otInput[otRec](g, "in"), otKey), Tumbling(time.Second)), Agg[otRec, int, int]{})
		WindowReduce(Window(KeyBy(otInput[int64](g, "in2"), func(v int64) int64 { return v }), Tumbling(time.Second)), nil)
		if err := otGraphErr(g); err == nil || strings.Count(err.Error(), "Agg needs Zero, Add and Result") != 2 {
			t.Errorf("error %v", err)
		}
	})
	t.Run("negative lateness", func(t *testing.T) {
		g := New("t", Config{})
		WindowAggregate(Window(KeyBy(otInput[otRec](g, "in"), otKey), Tumbling(time.Second), AllowedLateness(-time.Second)), otStatsAgg)
		if err := otGraphErr(g); err == nil || !strings.Contains(err.Error(), "allowed lateness") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("builds", func(t *testing.T) {
		g := New("t", Config{Parallelism: 2})
		in := FromSource(g, "in", otSource[otRec]{}, nil, WithCoder(JSONCoder[otRec]()))
		w := Window(KeyBy(in, otKey), Sliding(time.Second, 100*time.Millisecond), AllowedLateness(time.Second))
		res := WindowReduce(Window(KeyBy(otInput[int64](g, "nums"), func(v int64) int64 { return v % 7 }), Tumbling(time.Minute)), func(a, b int64) int64 { return a + b })
		ToSink(res, "sums", otSink[WindowResult[int64, int64]]{})
		ToSink(WindowAggregate(w, otStatsAgg), "stats", otSink[WindowResult[string, otStats]]{}, WithCoder(JSONCoder[WindowResult[string, otStats]]()))
		ToSink(w.Late(), "late", otSink[otRec]{})
		p, err := g.Build()
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, v := range p.Vertices {
			kinds = append(kinds, v.Kind)
			if v.Kind == "window" {
				if !v.Keyed || len(v.Ports) != 2 || v.Ports[0].Name != "out" || v.Ports[1].Name != "late" {
					t.Errorf("window vertex %+v", v)
				}
			}
		}
		if want := "source,source,window,sink,window,sink,sink"; strings.Join(kinds, ",") != want {
			t.Errorf("kinds %v, want %s", kinds, want)
		}
		for _, e := range p.Edges {
			if p.Vertices[e.To].Kind == "window" && e.Partitioner != Hash {
				t.Errorf("edge %+v into a window is not hash-partitioned", e)
			}
		}
	})
}

func TestWindowResultCoder(t *testing.T) {
	c := CoderFor[WindowResult[string, int64]]()
	if c == nil {
		t.Fatal("no built-in coder for WindowResult[string, int64]")
	}
	for _, r := range []WindowResult[string, int64]{
		{Key: "a", Start: 0, End: 1000, Value: 42},
		{Key: "", Start: -5000, End: -4000, Value: -1},
		{Key: "x", Start: MinTime, End: MaxTime, Value: math.MaxInt64},
		{Key: "y", Start: 10, End: 3, Value: 0},
	} {
		b := c.Append([]byte("prefix"), r)[6:]
		got, n, err := c.Decode(append(b, 0xff))
		if err != nil || n != len(b) || got != r {
			t.Errorf("round trip of %+v: %+v, %d/%d, %v", r, got, n, len(b), err)
		}
		for i := range b {
			if _, _, err := c.Decode(b[:i]); err == nil {
				t.Errorf("decoding %d of %d bytes of %+v: no error", i, len(b), r)
			}
		}
	}
	if CoderFor[WindowResult[string, chan int]]() != nil {
		t.Error("coder for a WindowResult with an uncodable value")
	}
	wc := WindowResultCoder(StringCoder{}, JSONCoder[[]int]())
	got, _, err := wc.Decode(wc.Append(nil, WindowResult[string, []int]{Key: "k", Start: 1, End: 2, Value: []int{3}}))
	if err != nil || got.Key != "k" || got.Window() != (TimeWindow{1, 2}) || len(got.Value) != 1 {
		t.Errorf("WindowResultCoder: %+v %v", got, err)
	}
}

// otWR formats an expected window result.
func otWR[K, O any](k K, start, end int64, v O) string {
	return fmt.Sprint(WindowResult[K, O]{Key: k, Start: start, End: end, Value: v})
}

func TestWindowAllowedLateness(t *testing.T) {
	// Tumbling 10ms windows, lateness 5ms; hand-computed expectations.
	sum := func(a, b otRec) otRec { return otRec{Key: a.Key, V: a.V + b.V} }
	g := New("t", Config{})
	w := Window(KeyBy(otInput[otRec](g, "in"), otKey), Tumbling(10*time.Millisecond), AllowedLateness(5*time.Millisecond))
	res := WindowReduce(w, sum)
	ToSink(w.Late(), "late", otSink[otRec]{})
	h := newOTHarness(t, otNewOperator(t, res), 100)
	out := otOutput[WindowResult[string, otRec]](h)
	late := otOutput[otRec](h)
	h.open()
	r := func(v int64) otRec { return otRec{Key: "a", V: v} }
	otPush(h, 0, []otRec{r(1), r(2), r(4)}, []int64{1, 9, 12}) // step 1
	h.watermark(9)                                             // step 2: fires [0,10) = 3
	otPush(h, 0, []otRec{r(10)}, []int64{5})                   // step 3: late but allowed: re-fires 13
	h.watermark(13)                                            // step 4: nothing due; [0,10) kept until 14
	otPush(h, 0, []otRec{r(100)}, []int64{0})                  // step 5: still allowed: 113
	h.watermark(14)                                            // step 6: purges [0,10)
	otPush(h, 0, []otRec{r(1000), r(7)}, []int64{3, 15})       // step 7: 3 is too late; 15 is on time
	h.watermark(19)                                            // step 8: fires [10,20) = 11
	otPush(h, 0, []otRec{r(50)}, []int64{14})                  // step 9: re-fires [10,20) = 61
	h.watermark(MaxTime)                                       // step 10: nothing pending
	otPush(h, 0, []otRec{r(9)}, []int64{25})                   // step 11: after the end: late
	otCheckRecords(t, "results", out, []otExpect{
		{step: 2, ts: 9, val: otWR("a", 0, 10, r(3))},
		{step: 3, ts: 9, val: otWR("a", 0, 10, r(13))},
		{step: 5, ts: 9, val: otWR("a", 0, 10, r(113))},
		{step: 8, ts: 19, val: otWR("a", 10, 20, r(11))},
		{step: 9, ts: 19, val: otWR("a", 10, 20, r(61))},
	})
	otCheckRecords(t, "late", late, []otExpect{
		{step: 7, ts: 3, val: fmt.Sprint(r(1000))},
		{step: 11, ts: 25, val: fmt.Sprint(r(9))},
	})
	if got, want := out.watermarks(), []int64{9, 13, 14, 19, MaxTime}; !slices.Equal(got, want) {
		t.Errorf("watermarks %v, want %v", got, want)
	}
	out.checkWatermarksLast(t)
	if late.watermarks() != nil {
		t.Errorf("watermarks on the late port: %v", late.watermarks())
	}
}

func TestWindowLateDroppedWithoutSideOutput(t *testing.T) {
	for _, tt := range []struct {
		a                WindowAssigner
		results, dropped int
	}{
		{Tumbling(10 * time.Millisecond), 2, 2}, // [0,10) and [10,20) fired at 20
		{Session(10 * time.Millisecond), 3, 1},  // [3,13) is late, [19,29) is not
	} {
		g := New("t", Config{})
		w := Window(KeyBy(otInput[otRec](g, "in"), otKey), tt.a)
		res := WindowAggregate(w, otStatsAgg)
		h := newOTHarness(t, otNewOperator(t, res), 100)
		out := otOutput[WindowResult[string, otStats]](h)
		late := otOutput[otRec](h) // the engine may wire an unused port
		h.open()
		otPush(h, 0, []otRec{{Key: "a", V: 1}}, []int64{5})
		h.watermark(20)
		otPush(h, 0, []otRec{{Key: "a", V: 2}, {Key: "b", V: 3}, {Key: "a", V: 4}}, []int64{3, 19, 25})
		h.watermark(MaxTime)
		h.endInput(0)
		if got := h.metrics.LateDropped.Load(); got != int64(tt.dropped) {
			t.Errorf("%v: LateDropped = %d, want %d", tt.a, got, tt.dropped)
		}
		if len(late.events) != 0 {
			t.Errorf("%v: late port got %d events", tt.a, len(late.events))
		}
		if got := len(out.records()); got != tt.results {
			t.Errorf("%v: %d results, want %d", tt.a, got, tt.results)
		}
	}
}

func TestWindowMaxTimeFiresEverythingInOrder(t *testing.T) {
	g := New("t", Config{})
	res := WindowReduce(Window(KeyBy(otInput[int64](g, "in"), func(v int64) int64 { return v % 3 }), Sliding(20*time.Millisecond, 10*time.Millisecond)),
		func(a, b int64) int64 { return a + b })
	h := newOTHarness(t, otNewOperator(t, res), 4)
	out := otOutput[WindowResult[int64, int64]](h)
	h.open()
	var vals, ts []int64
	for i := int64(0); i < 50; i++ {
		vals = append(vals, i)
		ts = append(ts, 1000-i*17) // descending, no watermark yet: nothing is late
	}
	otPush(h, 0, vals, ts)
	if len(out.events) != 0 {
		t.Fatalf("output before any watermark: %v", out.events)
	}
	h.watermark(MaxTime)
	recs := out.records()
	if len(recs) == 0 || out.batches < len(recs)/4 {
		t.Fatalf("%d results in %d batches", len(recs), out.batches)
	}
	total := int64(0)
	for i, e := range recs {
		if e.ts != e.val.End-1 || e.step != 2 {
			t.Errorf("result %+v", e)
		}
		if i > 0 && e.val.End < recs[i-1].val.End {
			t.Errorf("window ending %d after %d", e.val.End, recs[i-1].val.End)
		}
		total += e.val.Value
	}
	if want := int64(2 * 49 * 50 / 2); total != want { // each record is in 2 windows
		t.Errorf("sum of results %d, want %d", total, want)
	}
	if wms := out.watermarks(); !slices.Equal(wms, []int64{MaxTime}) || !out.events[len(out.events)-1].isWM {
		t.Errorf("watermarks %v, want MaxTime last", wms)
	}
	h.endInput(0)
	if n := len(out.events); n != len(recs)+1 {
		t.Errorf("EndInput after MaxTime emitted %d more events", n-len(recs)-1)
	}
}

func TestWindowEndInputWithoutFinalWatermark(t *testing.T) {
	g := New("t", Config{})
	res := WindowAggregate(Window(KeyBy(otInput[otRec](g, "in"), otKey), Tumbling(time.Second)), otStatsAgg)
	h := newOTHarness(t, otNewOperator(t, res), 10)
	out := otOutput[WindowResult[string, otStats]](h)
	h.open()
	otPush(h, 0, []otRec{{Key: "a", V: 1}, {Key: "b", V: 2}}, []int64{100, 2500})
	h.endInput(0)
	if got := len(out.records()); got != 2 {
		t.Errorf("%d results at EndInput, want 2", got)
	}
}

func TestWindowRecordWithoutTimestamp(t *testing.T) {
	g := New("t", Config{})
	res := WindowAggregate(Window(KeyBy(otInput[otRec](g, "in"), otKey), Tumbling(time.Second)), otStatsAgg)
	h := newOTHarness(t, otNewOperator(t, res), 10)
	otOutput[WindowResult[string, otStats]](h)
	h.open()
	if err := otPushErr(h, 0, []otRec{{Key: "a"}}, []int64{MinTime}); err == nil || !strings.Contains(err.Error(), "without an event timestamp") {
		t.Errorf("error %v", err)
	}
}

// otNopOutput discards output.
type otNopOutput struct{}

func (otNopOutput) Emit(context.Context, any) error            { return nil }
func (otNopOutput) EmitWatermark(context.Context, int64) error { return nil }

func benchmarkWindow(b *testing.B, a WindowAssigner) {
	g := New("b", Config{})
	res := WindowReduce(Window(KeyBy(otInput[int64](g, "in"), func(v int64) int64 { return v % 1000 }), a),
		func(x, y int64) int64 { return x + y })
	op := res.srcs[0].v.newOperator()
	oc := &engine.OperatorContext{BatchSize: 1024, Outputs: []engine.Output{otNopOutput{}, otNopOutput{}}, Metrics: &engine.Metrics{}}
	ctx := context.Background()
	if err := op.Open(ctx, oc); err != nil {
		b.Fatal(err)
	}
	batch := &Batch[int64]{}
	ts := int64(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 1024 {
		batch.Reset()
		for j := range 1024 {
			ts++
			batch.Append(int64(i+j)*7919, ts)
		}
		if err := op.ProcessBatch(ctx, 0, batch); err != nil {
			b.Fatal(err)
		}
		if err := op.ProcessWatermark(ctx, ts-500); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWindowTumbling(b *testing.B) { benchmarkWindow(b, Tumbling(10*time.Second)) }
func BenchmarkWindowSliding(b *testing.B)  { benchmarkWindow(b, Sliding(10*time.Second, 2*time.Second)) }
func BenchmarkWindowSession(b *testing.B)  { benchmarkWindow(b, Session(2*time.Second)) }
