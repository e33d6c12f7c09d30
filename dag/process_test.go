package dag

import (
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/dag/engine"
)

// otStateFn exercises every kind of keyed state.
type otStateFn struct {
	count *ValueState[string, int]
	list  *ListState[string, int64]
	byMod *MapState[string, int64, int]
	sum   *ReducingState[string, int64]
}

func (f *otStateFn) Open(oc *ProcessOpenContext[string]) error {
	f.count = NewValueState[int](oc, "count")
	f.list = NewListState[int64](oc, "list")
	f.byMod = NewMapState[int64, int](oc, "by-mod")
	f.sum = NewReducingState(oc, "sum", func(a, b int64) int64 { return a + b })
	return nil
}

func (f *otStateFn) ProcessElement(ctx *ProcessContext[string, string], r otRec) error {
	if r.V < -25 { // reset the key
		f.count.Clear(ctx)
		f.list.Clear(ctx)
		f.byMod.Clear(ctx)
		f.sum.Clear(ctx)
		ctx.Emit(ctx.Key() + " reset")
		return nil
	}
	n, _ := f.count.Get(ctx)
	f.count.Set(ctx, n+1)
	f.list.Add(ctx, r.V)
	if r.V%5 == 0 {
		f.byMod.Remove(ctx, 0) // drop residue 0 instead of setting it
	} else {
		f.byMod.Put(ctx, (r.V%3+3)%3, r.ID)
	}
	f.sum.Add(ctx, r.V)
	ctx.Emit(otStateSummary(ctx.Key(), f.snapshot(ctx)))
	return nil
}

type otStateView struct {
	n    int
	list []int64
	mod  map[int64]int
	sum  int64
}

func (f *otStateFn) snapshot(ctx *ProcessContext[string, string]) otStateView {
	n, _ := f.count.Get(ctx)
	s, _ := f.sum.Get(ctx)
	m := map[int64]int{}
	for uk, uv := range f.byMod.All(ctx) {
		m[uk] = uv
	}
	return otStateView{n: n, list: f.list.Get(ctx), mod: m, sum: s}
}

func otStateSummary(k string, v otStateView) string {
	return fmt.Sprintf("%s n=%d list=%v mod=%v sum=%d", k, v.n, v.list, v.mod, v.sum)
}

func (f *otStateFn) OnTimer(*ProcessContext[string, string], Timer) error { return nil }

func otProcessHarness[T, O any](t testing.TB, newFn func() ProcessFunc[string, T, O], key func(T) string, batchSize int) (*otHarness, *otCollector[O]) {
	t.Helper()
	g := New("t", Config{})
	res := Process(KeyBy(otInput[T](g, "in"), key), newFn, Name("proc"))
	h := newOTHarness(t, otNewOperator(t, res), batchSize)
	out := otOutput[O](h)
	h.open()
	return h, out
}

func TestProcessKeyedState(t *testing.T) {
	h, out := otProcessHarness(t, func() ProcessFunc[string, otRec, string] { return &otStateFn{} }, otKey, 3)
	steps := otGenerate(otScenario{n: 300, keys: 5, start: -1000, maxGap: 20, ooo: 50, lag: 50}, 7)
	ref := map[string]*otStateView{}
	var want []otExpect
	for i, st := range steps {
		if st.isWM {
			h.watermark(st.wm)
			continue
		}
		otPush(h, 0, st.recs, st.ts)
		for j, r := range st.recs {
			s := ref[r.Key]
			if s == nil || r.V < -25 {
				s = &otStateView{mod: map[int64]int{}}
				ref[r.Key] = s
			}
			if r.V < -25 {
				want = append(want, otExpect{step: i + 1, ts: st.ts[j], val: r.Key + " reset"})
				continue
			}
			s.n++
			s.list = append(s.list, r.V)
			if r.V%5 == 0 {
				delete(s.mod, 0)
			} else {
				s.mod[(r.V%3+3)%3] = r.ID
			}
			s.sum += r.V
			want = append(want, otExpect{step: i + 1, ts: st.ts[j], val: otStateSummary(r.Key, *s)})
		}
	}
	otCheckRecords(t, "outputs", out, want)
	out.checkWatermarksLast(t)
	// In-key order is preserved.
	var got []string
	for _, v := range out.values() {
		got = append(got, v)
	}
	var wantVals []string
	for _, e := range want {
		wantVals = append(wantVals, e.val)
	}
	if !slices.Equal(got, wantVals) {
		t.Error("outputs out of order")
	}
}

// otTimerFn registers, deduplicates and deletes timers.
type otTimerFn struct{}

func (otTimerFn) Open(*ProcessOpenContext[string]) error { return nil }

func (otTimerFn) ProcessElement(ctx *ProcessContext[string, string], r otRec) error {
	ts := ctx.Timestamp()
	ctx.RegisterEventTimer(ts + 10)
	ctx.RegisterEventTimer(ts + 10) // duplicate
	ctx.RegisterEventTimer(ts + 1000)
	ctx.DeleteEventTimer(ts + 1000)
	ctx.DeleteEventTimer(ts + 77) // not registered
	if r.V == 1 {
		ctx.RegisterEventTimer(ctx.Watermark()) // in the past: fires at the next watermark
	}
	return nil
}

func (otTimerFn) OnTimer(ctx *ProcessContext[string, string], t Timer) error {
	if t.Domain != EventTime || t.Timestamp != ctx.Timestamp() {
		return fmt.Errorf("timer %+v, ctx timestamp %d", t, ctx.Timestamp())
	}
	ctx.Emit(fmt.Sprintf("%s@%d wm=%d", ctx.Key(), t.Timestamp, ctx.Watermark()))
	if ctx.Key() == "b" && t.Timestamp == 15 {
		ctx.RegisterEventTimer(16) // due in the same advance
	}
	return nil
}

func TestProcessEventTimers(t *testing.T) {
	h, out := otProcessHarness(t, func() ProcessFunc[string, otRec, string] { return otTimerFn{} }, otKey, 100)
	otPush(h, 0, []otRec{{Key: "a"}, {Key: "b"}, {Key: "a"}, {Key: "a"}}, []int64{0, 5, 0, 20}) // step 1: a@10 b@15 a@30
	h.watermark(12)                                                                             // step 2: a@10
	otPush(h, 0, []otRec{{Key: "c", V: 1}}, []int64{14})                                        // step 3: c@24, c@12 (past)
	h.watermark(16)                                                                             // step 4: c@12 b@15 b@16
	h.watermark(MaxTime)                                                                        // step 5: c@24 a@30
	h.endInput(0)
	want := []otExpect{
		{step: 2, ts: 10, val: "a@10 wm=12"},
		{step: 4, ts: 12, val: "c@12 wm=16"},
		{step: 4, ts: 15, val: "b@15 wm=16"},
		{step: 4, ts: 16, val: "b@16 wm=16"},
		{step: 5, ts: 24, val: fmt.Sprintf("c@24 wm=%d", MaxTime)},
		{step: 5, ts: 30, val: fmt.Sprintf("a@30 wm=%d", MaxTime)},
	}
	otCheckRecords(t, "timers", out, want)
	var order []string
	for _, e := range out.records() {
		order = append(order, e.val)
	}
	var wantOrder []string
	for _, e := range want {
		wantOrder = append(wantOrder, e.val)
	}
	if !slices.Equal(order, wantOrder) {
		t.Errorf("timer order %v, want %v", order, wantOrder)
	}
	out.checkWatermarksLast(t)
	if got := out.watermarks(); !slices.Equal(got, []int64{12, 16, MaxTime}) {
		t.Errorf("watermarks %v", got)
	}
}

// otTimerOp asks otFuncTimers to register or delete an event timer.
type otTimerOp struct {
	Del bool
	TS  int64
}

// otFuncTimers registers or deletes the event timer a record names and
// emits the key of every timer that fires.
type otFuncTimers struct{}

func (otFuncTimers) Open(*ProcessOpenContext[string]) error { return nil }
func (otFuncTimers) ProcessElement(ctx *ProcessContext[string, string], kv KV[string, otTimerOp]) error {
	if kv.Value.Del {
		ctx.DeleteEventTimer(kv.Value.TS)
	} else {
		ctx.RegisterEventTimer(kv.Value.TS)
	}
	return nil
}
func (otFuncTimers) OnTimer(ctx *ProcessContext[string, string], t Timer) error {
	ctx.Emit(ctx.Key())
	return nil
}

func TestProcessEventTimersRandom(t *testing.T) {
	// Random registrations and deletions against a brute-force set.
	type tk struct {
		key string
		ts  int64
	}
	r := rand.New(rand.NewSource(3))
	h, out := otProcessHarness(t, func() ProcessFunc[string, KV[string, otTimerOp], string] { return otFuncTimers{} },
		func(kv KV[string, otTimerOp]) string { return kv.Key }, 7)
	live := map[tk]bool{}
	var want []otExpect
	wm := int64(-1000)
	for range 300 {
		var batch []KV[string, otTimerOp]
		var ts []int64
		for n := r.Intn(12); n > 0; n-- {
			o := otTimerOp{Del: r.Intn(3) == 0, TS: wm + 1 + r.Int63n(60)}
			k := fmt.Sprintf("k%d", r.Intn(4))
			batch = append(batch, KV[string, otTimerOp]{Key: k, Value: o})
			ts = append(ts, wm+1)
			if o.Del {
				delete(live, tk{k, o.TS})
			} else {
				live[tk{k, o.TS}] = true
			}
		}
		if len(batch) > 0 {
			otPush(h, 0, batch, ts)
		}
		wm += r.Int63n(20)
		h.watermark(wm)
		for d := range live {
			if d.ts <= wm {
				want = append(want, otExpect{step: h.step, ts: d.ts, val: d.key})
				delete(live, d)
			}
		}
	}
	h.watermark(MaxTime)
	for d := range live {
		want = append(want, otExpect{step: h.step, ts: d.ts, val: d.key})
	}
	otCheckRecords(t, "fired timers", out, want)
	recs := out.records()
	for i := 1; i < len(recs); i++ {
		if recs[i].step == recs[i-1].step && recs[i].ts < recs[i-1].ts {
			t.Fatalf("step %d: timer %d fired after %d", recs[i].step, recs[i].ts, recs[i-1].ts)
		}
	}
	op := h.op.(*processOp[string, KV[string, otTimerOp], string])
	if n := op.event.heap.len(); n != 0 || op.event.count() != 0 {
		t.Errorf("%d heap entries, %d live timers left", n, op.event.count())
	}
}

// otProcTimerFn uses processing-time timers.
type otProcTimerFn struct{ rearmed map[string]bool }

func (f *otProcTimerFn) Open(*ProcessOpenContext[string]) error {
	f.rearmed = map[string]bool{}
	return nil
}

func (f *otProcTimerFn) ProcessElement(ctx *ProcessContext[string, string], r otRec) error {
	if r.V < 0 {
		ctx.DeleteProcessingTimer(-r.V)
		return nil
	}
	ctx.RegisterProcessingTimer(ctx.ProcessingTime() + 100)
	return nil
}

func (f *otProcTimerFn) OnTimer(ctx *ProcessContext[string, string], t Timer) error {
	if t.Domain != ProcessingTime {
		return fmt.Errorf("timer %+v", t)
	}
	ctx.Emit(fmt.Sprintf("%s@%d now=%d", ctx.Key(), t.Timestamp, ctx.ProcessingTime()))
	if !f.rearmed[ctx.Key()] {
		f.rearmed[ctx.Key()] = true
		ctx.RegisterProcessingTimer(ctx.ProcessingTime()) // due, but fires in the next call
	}
	return nil
}

func TestProcessProcessingTimers(t *testing.T) {
	h, out := otProcessHarness(t, func() ProcessFunc[string, otRec, string] { return &otProcTimerFn{} }, otKey, 100)
	pt := h.op.(engine.ProcessingTimeOperator)
	if next := pt.NextProcessingTimer(); next != MaxTime {
		t.Errorf("NextProcessingTimer = %d without timers", next)
	}
	h.now = 1000
	otPush(h, 0, []otRec{{Key: "a"}, {Key: "b"}, {Key: "c"}}, []int64{MinTime, MinTime, MinTime}) // step 1: a,b,c@1100
	h.now = 1050
	otPush(h, 0, []otRec{{Key: "a"}, {Key: "b", V: -1100}}, []int64{1, 2}) // step 2: a@1150; b@1100 deleted
	h.processingTime(1099)
	if len(out.events) != 0 || pt.NextProcessingTimer() != 1100 {
		t.Fatalf("fired early: %v, next %d", out.events, pt.NextProcessingTimer())
	}
	h.processingTime(1100) // step 3: a@1100 c@1100 (each re-registers @1100); step 4: a@1100 c@1100 again
	h.processingTime(5000) // step 5: a@1150
	want := []otExpect{
		{step: 3, ts: 1100, val: "a@1100 now=1100"},
		{step: 3, ts: 1100, val: "c@1100 now=1100"},
		{step: 4, ts: 1100, val: "a@1100 now=1100"},
		{step: 4, ts: 1100, val: "c@1100 now=1100"},
		{step: 5, ts: 1150, val: "a@1150 now=5000"},
	}
	otCheckRecords(t, "timers", out, want)
	if next := pt.NextProcessingTimer(); next != MaxTime {
		t.Errorf("NextProcessingTimer = %d after all fired", next)
	}
}

func TestProcessStateErrors(t *testing.T) {
	tests := []struct {
		name string
		open func(oc *ProcessOpenContext[string])
		want string
	}{
		{"duplicate", func(oc *ProcessOpenContext[string]) {
			NewValueState[int](oc, "x")
			NewListState[string](oc, "x")
		}, `duplicate state name "x" (value state and list state)`},
		{"empty", func(oc *ProcessOpenContext[string]) { NewMapState[int, int](oc, "") }, "map state with an empty name"},
		{"nil reduce", func(oc *ProcessOpenContext[string]) { NewReducingState[int](oc, "r", nil) }, `reducing state "r": nil reduce function`},
	}
	for _, tt := range tests {
		g := New("t", Config{})
		res := Process(KeyBy(otInput[string](g, "in"), func(s string) string { return s }), func() ProcessFunc[string, string, string] {
			return &otOpenFn{open: tt.open}
		})
		h := newOTHarness(t, otNewOperator(t, res), 10)
		otOutput[string](h)
		err := h.op.Open(t.Context(), h.oc)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Open error %v, want %q", tt.name, err, tt.want)
		}
	}
	// An error of the function's Open is returned as is.
	boom := errors.New("boom")
	g := New("t", Config{})
	res := Process(KeyBy(otInput[string](g, "in"), func(s string) string { return s }), func() ProcessFunc[string, string, string] {
		return &otOpenFn{err: boom}
	})
	h := newOTHarness(t, otNewOperator(t, res), 10)
	otOutput[string](h)
	if err := h.op.Open(t.Context(), h.oc); !errors.Is(err, boom) {
		t.Errorf("Open error %v", err)
	}
}

type otOpenFn struct {
	open   func(oc *ProcessOpenContext[string])
	err    error
	closed *int
}

func (f *otOpenFn) Open(oc *ProcessOpenContext[string]) error {
	if f.open != nil {
		f.open(oc)
	}
	return f.err
}
func (f *otOpenFn) ProcessElement(ctx *ProcessContext[string, string], v string) error {
	for i := range 25 {
		ctx.EmitAt(fmt.Sprint(v, i), int64(i))
	}
	return nil
}
func (f *otOpenFn) OnTimer(*ProcessContext[string, string], Timer) error { return nil }
func (f *otOpenFn) Close() error {
	if f.closed != nil {
		*f.closed++
	}
	return nil
}

func TestProcessEmitBatchingAndClose(t *testing.T) {
	closed, made := 0, 0
	newFn := func() ProcessFunc[string, string, string] {
		made++
		return &otOpenFn{closed: &closed, open: func(oc *ProcessOpenContext[string]) {
			if oc.Name() != "op-under-test" || oc.MaxParallelism() != 128 || oc.Parallelism() != 1 || oc.Subtask() != 0 {
				t.Errorf("open context %s %d %d %d", oc.Name(), oc.MaxParallelism(), oc.Parallelism(), oc.Subtask())
			}
		}}
	}
	h, out := otProcessHarness(t, newFn, func(s string) string { return s }, 4)
	otPush(h, 0, []string{"x", "y"}, []int64{1, 2})
	if got := len(out.records()); got != 50 || out.batches != 13 {
		t.Errorf("%d records in %d batches, want 50 in 13", got, out.batches)
	}
	for i, e := range out.records() {
		if e.ts != int64(i%25) {
			t.Errorf("record %d: timestamp %d", i, e.ts)
		}
	}
	h.close()
	g := New("t", Config{})
	res := Process(KeyBy(otInput[string](g, "in"), func(s string) string { return s }), newFn)
	v := res.srcs[0].v
	for range 2 {
		h := newOTHarness(t, v.newOperator(), 4)
		otOutput[string](h)
		h.open()
		h.close()
	}
	if made != 3 || closed != 3 {
		t.Errorf("%d functions made, %d closed; want one per operator instance", made, closed)
	}
}

func TestProcessFuncOf(t *testing.T) {
	newFn := ProcessFuncOf(func(ctx *ProcessContext[string, int], v string) error {
		ctx.Emit(len(v))
		if v == "timer" {
			ctx.RegisterEventTimer(5)
		}
		return nil
	})
	h, out := otProcessHarness(t, newFn, func(s string) string { return s }, 10)
	otPush(h, 0, []string{"ab", "abc"}, []int64{7, 8})
	otCheckRecords(t, "out", out, []otExpect{{step: 1, ts: 7, val: "2"}, {step: 1, ts: 8, val: "3"}})
	otPush(h, 0, []string{"timer"}, []int64{1})
	h.step++
	if err := h.op.ProcessWatermark(t.Context(), 10); err == nil || !strings.Contains(err.Error(), "ProcessFuncOf") {
		t.Errorf("timer of a ProcessFuncOf function: error %v", err)
	}
	if ProcessFuncOf[string, string, int](nil) != nil {
		t.Error("ProcessFuncOf(nil) is not nil")
	}
}

func TestProcessGraph(t *testing.T) {
	g := New("t", Config{Parallelism: 2})
	in := otInput[string](g, "in")
	Process(KeyBy(in, func(s string) string { return s }), ProcessFuncOf[string, string, int](nil))
	if err := otGraphErr(g); err == nil || !strings.Contains(err.Error(), `vertex 1 (process "process"): nil function`) {
		t.Errorf("nil function: error %v", err)
	}
	g = New("t", Config{Parallelism: 2})
	res := Process(KeyBy(otInput[string](g, "in"), func(s string) string { return s }),
		ProcessFuncOf(func(ctx *ProcessContext[string, int], v string) error { return nil }), Name("p"))
	ToSink(res, "out", otSink[int]{})
	p, err := g.Build()
	if err != nil {
		t.Fatal(err)
	}
	if v := p.Vertices[1]; v.Kind != "process" || v.Name != "p" || !v.Keyed || p.Edges[v.Inputs[0]].Partitioner != Hash {
		t.Errorf("process vertex %+v", v)
	}
	if _, ok := res.srcs[0].v.newOperator().(engine.ProcessingTimeOperator); !ok {
		t.Error("the process operator does not implement ProcessingTimeOperator")
	}
}

// otCountFn counts records per key in a value state and emits the count.
type otCountFn struct{ n *ValueState[int64, int64] }

func (f *otCountFn) Open(oc *ProcessOpenContext[int64]) error {
	f.n = NewValueState[int64](oc, "n")
	return nil
}

func (f *otCountFn) ProcessElement(ctx *ProcessContext[int64, int64], v int64) error {
	n, _ := f.n.Get(ctx)
	f.n.Set(ctx, n+1)
	ctx.Emit(n)
	if n%64 == 0 {
		ctx.RegisterEventTimer(ctx.Timestamp() + 1000)
	}
	return nil
}

func (f *otCountFn) OnTimer(ctx *ProcessContext[int64, int64], t Timer) error {
	f.n.Clear(ctx)
	return nil
}

func BenchmarkProcessValueState(b *testing.B) {
	g := New("b", Config{})
	res := Process(KeyBy(otInput[int64](g, "in"), func(v int64) int64 { return v % 1000 }),
		func() ProcessFunc[int64, int64, int64] { return &otCountFn{} })
	op := res.srcs[0].v.newOperator()
	oc := &engine.OperatorContext{BatchSize: 1024, MaxParallelism: 128, Outputs: []engine.Output{otNopOutput{}}, Metrics: &engine.Metrics{}}
	ctx := b.Context()
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
