package dag

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dagflow/dagflow/dag/engine"
)

// This file tests operator checkpoints: every stateful operator is run on
// a seeded random input without interruption, and again with a snapshot
// at a random point, serialized while the old instances keep processing
// (so -race checks the copy-on-write), restored into fresh instances at
// the same or another parallelism (key groups split by KeyGroupRange) and
// continued; the combined output must equal the uninterrupted run's.

const snMaxPar = 16

// snRec is the test record; it has a coder (MarshalBinary).
type snRec struct {
	K string
	V int64
}

func (r snRec) MarshalBinary() ([]byte, error) {
	return binary.AppendVarint(StringCoder{}.Append(nil, r.K), r.V), nil
}

func (r *snRec) UnmarshalBinary(b []byte) error {
	k, n, err := StringCoder{}.Decode(b)
	if err != nil {
		return err
	}
	v, m := binary.Varint(b[n:])
	if m <= 0 || n+m != len(b) {
		return errors.New("bad snRec")
	}
	r.K, r.V = k, v
	return nil
}

func snKey(r snRec) string { return r.K }

// memWriter is an engine.StateWriter keeping the blobs in memory.
type memWriter struct {
	kgs map[int][]byte
	ops [][]byte
}

func (w *memWriter) KeyGroup(kg int, data []byte) error {
	if w.kgs == nil {
		w.kgs = make(map[int][]byte)
	}
	if _, dup := w.kgs[kg]; dup {
		return fmt.Errorf("key group %d written twice", kg)
	}
	w.kgs[kg] = slices.Clone(data)
	return nil
}

func (w *memWriter) Operator(data []byte) error {
	w.ops = append(w.ops, slices.Clone(data))
	return nil
}

// memStore is an in-memory KeyedStore: a map with sorted scans.
type memStore struct {
	m      map[string][]byte
	writes int // Set calls
}

func newMemStore() *memStore { return &memStore{m: make(map[string][]byte)} }

func (s *memStore) Get(key, dst []byte) ([]byte, bool, error) {
	v, ok := s.m[string(key)]
	if !ok {
		return dst, false, nil
	}
	return append(dst, v...), true, nil
}

func (s *memStore) Set(key, value []byte) error {
	s.writes++
	s.m[string(key)] = slices.Clone(value)
	return nil
}

func (s *memStore) Delete(key []byte) error {
	delete(s.m, string(key))
	return nil
}

func (s *memStore) sortedKeys(prefix []byte) []string {
	var keys []string
	for k := range s.m {
		if strings.HasPrefix(k, string(prefix)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func (s *memStore) Scan(prefix []byte, fn func(k, v []byte) bool) error {
	for _, k := range s.sortedKeys(prefix) {
		if !fn([]byte(k), s.m[k]) {
			break
		}
	}
	return nil
}

func (s *memStore) DeletePrefix(prefix []byte) error {
	for _, k := range s.sortedKeys(prefix) {
		delete(s.m, k)
	}
	return nil
}

// snStep is one call into every instance.
type snStep struct {
	kind  byte // 'b' batch, 'w' watermark, 'p' processing time, 'e' end of input
	input int
	recs  []snRec
	ts    []int64
	t     int64 // watermark or processing time
}

// snCase describes one operator under test.
type snCase struct {
	name   string
	late   bool // the input has late records for the operator
	inputs int
	newOp  func(t testing.TB) engine.Operator
	store  bool // use the Pebble path (memStore)
}

// snOut collects the records of one output port as strings.
type snOut struct{ recs []string }

func (o *snOut) Emit(_ context.Context, batch any) error {
	b := reflect.ValueOf(batch).Elem()
	vals, ts := b.FieldByName("Vals"), b.FieldByName("TS").Interface().([]int64)
	for i := range ts {
		o.recs = append(o.recs, fmt.Sprintf("%v@%d", vals.Index(i).Interface(), ts[i]))
	}
	return nil
}

func (o *snOut) EmitWatermark(context.Context, int64) error { return nil }

// snInst is one operator instance.
type snInst struct {
	op       engine.Operator
	oc       *engine.OperatorContext
	out, lat *snOut
	metrics  engine.Metrics
	now      int64
	store    *memStore
}

func newSnInst(t testing.TB, c snCase, subtask, par int, store *memStore) *snInst {
	t.Helper()
	in := &snInst{op: c.newOp(t), out: &snOut{}, lat: &snOut{}}
	in.oc = &engine.OperatorContext{
		Job: "test", Name: c.name, Subtask: subtask, Parallelism: par, MaxParallelism: snMaxPar,
		BatchSize: 5, Outputs: []engine.Output{in.out, in.lat}, Metrics: &in.metrics,
		Now: func() int64 { return in.now },
	}
	if c.store {
		if store == nil {
			store = newMemStore()
		}
		in.store = store
		in.oc.KeyedStore = func() (engine.KeyedStore, error) { return store, nil }
	}
	if err := in.op.Open(context.Background(), in.oc); err != nil {
		t.Fatalf("%s: Open: %v", c.name, err)
	}
	return in
}

// snRun feeds steps to instances, routing records by key group.
func snRun(t testing.TB, insts []*snInst, steps []snStep) {
	t.Helper()
	ctx := context.Background()
	hash, err := keyHasher[string]()
	if err != nil {
		t.Fatal(err)
	}
	par := len(insts)
	for i, st := range steps {
		switch st.kind {
		case 'b':
			parts := make([]*Batch[snRec], par)
			for j, r := range st.recs {
				sub := engine.SubtaskForKeyGroup(engine.KeyGroup(hash(r.K), snMaxPar), snMaxPar, par)
				if parts[sub] == nil {
					parts[sub] = &Batch[snRec]{}
				}
				parts[sub].Append(r, st.ts[j])
			}
			for sub, b := range parts {
				if b == nil {
					continue
				}
				if err := insts[sub].op.ProcessBatch(ctx, st.input, b); err != nil {
					t.Fatalf("step %d: subtask %d: ProcessBatch: %v", i, sub, err)
				}
				for k := range b.Vals { // the batch is only valid during the call
					b.Vals[k] = snRec{K: "overwritten", V: -1}
				}
			}
		case 'w':
			for sub, in := range insts {
				if err := in.op.ProcessWatermark(ctx, st.t); err != nil {
					t.Fatalf("step %d: subtask %d: ProcessWatermark: %v", i, sub, err)
				}
			}
		case 'p':
			for sub, in := range insts {
				in.now = st.t
				pt, ok := in.op.(engine.ProcessingTimeOperator)
				if !ok {
					continue
				}
				for pt.NextProcessingTimer() <= st.t {
					if err := pt.OnProcessingTime(ctx, st.t); err != nil {
						t.Fatalf("step %d: subtask %d: OnProcessingTime: %v", i, sub, err)
					}
				}
			}
		case 'e':
			for sub, in := range insts {
				if err := in.op.EndInput(ctx, st.input); err != nil {
					t.Fatalf("step %d: subtask %d: EndInput: %v", i, sub, err)
				}
			}
		}
	}
}

// snResult is what a run produced.
type snResult struct {
	out, late []string
	dropped   int64
}

func (r *snResult) add(out, late []string, dropped int64) {
	r.out = append(r.out, out...)
	r.late = append(r.late, late...)
	r.dropped += dropped
}

func (r *snResult) sort() {
	slices.Sort(r.out)
	slices.Sort(r.late)
}

// snSteps generates a random input: keys with out-of-order timestamps,
// watermarks, late records, processing time.
func snSteps(rng *rand.Rand, inputs, n int) []snStep {
	var steps []snStep
	var maxTS, wm, now int64 = 1000, MinTime, 5000
	for range n {
		switch x := rng.IntN(10); {
		case x < 6:
			st := snStep{kind: 'b', input: rng.IntN(inputs)}
			for range 1 + rng.IntN(8) {
				ts := maxTS - 20 + rng.Int64N(40)
				if wm != MinTime && rng.IntN(6) == 0 {
					ts = wm - rng.Int64N(120) // late, some within the allowed lateness
				}
				maxTS = max(maxTS, ts)
				st.recs = append(st.recs, snRec{K: fmt.Sprintf("k%d", rng.IntN(12)), V: rng.Int64N(100) - 10})
				st.ts = append(st.ts, ts)
			}
			steps = append(steps, st)
			maxTS += rng.Int64N(15)
		case x < 9:
			if w := maxTS - 25; w > wm {
				wm = w
				steps = append(steps, snStep{kind: 'w', t: wm})
			}
		default:
			now += rng.Int64N(40)
			steps = append(steps, snStep{kind: 'p', t: now})
		}
	}
	steps = append(steps, snStep{kind: 'p', t: now + 1000}, snStep{kind: 'w', t: MaxTime})
	for i := range inputs {
		steps = append(steps, snStep{kind: 'e', input: i})
	}
	return steps
}

// snSnapshot snapshots every instance, serializes the captured state
// concurrently with running more steps on the old instances, and returns
// the written blobs per old subtask.
func snSnapshot(t *testing.T, insts []*snInst, more []snStep, afterSync func()) []*memWriter {
	t.Helper()
	fns := make([]engine.SnapshotFunc, len(insts))
	for i, in := range insts {
		s, ok := in.op.(engine.Snapshotter)
		if !ok {
			t.Fatalf("%T does not implement Snapshotter", in.op)
		}
		fn, err := s.SnapshotState(context.Background(), engine.Barrier{ID: 1})
		if err != nil {
			t.Fatalf("subtask %d: SnapshotState: %v", i, err)
		}
		fns[i] = fn
	}
	afterSync()
	ws := make([]*memWriter, len(insts))
	errs := make([]error, len(insts))
	var wg sync.WaitGroup
	for i, fn := range fns {
		ws[i] = &memWriter{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(ws[i])
		}()
	}
	// The old instances go on (their output is not part of the result):
	// the serialization must only see the state at the snapshot point.
	snRun(t, insts, more)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("SnapshotFunc: %v", err)
	}
	return ws
}

// snRestored returns the state of new subtask sub of par from the blobs of
// the old subtasks.
func snRestored(ws []*memWriter, sub, par int) *engine.RestoredState {
	from, to := engine.KeyGroupRange(sub, snMaxPar, par)
	st := &engine.RestoredState{KeyGroups: make(map[int][]byte)}
	for _, w := range ws {
		for kg, b := range w.kgs {
			if kg >= from && kg < to {
				st.KeyGroups[kg] = b
			}
		}
		st.Operator = append(st.Operator, w.ops...)
	}
	return st
}

// snRestoredStore copies the key groups of new subtask sub from the old
// stores, the way the engine restores the Pebble store.
func snRestoredStore(old []*snInst, sub, par int) *memStore {
	from, to := engine.KeyGroupRange(sub, snMaxPar, par)
	s := newMemStore()
	for _, in := range old {
		for k, v := range in.store.m {
			if kg := int(binary.BigEndian.Uint16([]byte(k))); kg >= from && kg < to {
				s.m[k] = slices.Clone(v)
			}
		}
	}
	return s
}

// snCheck runs c without interruption and with a snapshot at cut,
// restoring from parallelism p1 to p2, and compares the results.
func snCheck(t *testing.T, c snCase, steps []snStep, cut, p1, p2 int) snResult {
	t.Helper()
	var want snResult
	single := newSnInst(t, c, 0, 1, nil)
	snRun(t, []*snInst{single}, steps)
	want.add(single.out.recs, single.lat.recs, single.metrics.LateDropped.Load())
	want.sort()

	var got snResult
	old := make([]*snInst, p1)
	for i := range old {
		old[i] = newSnInst(t, c, i, p1, nil)
	}
	snRun(t, old, steps[:cut])
	for _, in := range old {
		got.add(in.out.recs, in.lat.recs, in.metrics.LateDropped.Load())
	}
	stores := make([]*memStore, p2)
	ws := snSnapshot(t, old, steps[cut:], func() {
		// The engine snapshots the store at the barrier, after the
		// operator's SnapshotState (which may write cached state to it).
		if c.store {
			for i := range stores {
				stores[i] = snRestoredStore(old, i, p2)
			}
		}
	})
	news := make([]*snInst, p2)
	for i := range news {
		in := newSnInst(t, c, i, p2, stores[i])
		in.now = lastNow(steps[:cut])
		if err := in.op.(engine.Snapshotter).RestoreState(context.Background(), snRestored(ws, i, p2)); err != nil {
			t.Fatalf("subtask %d of %d: RestoreState: %v", i, p2, err)
		}
		news[i] = in
	}
	snRun(t, news, steps[cut:])
	for _, in := range news {
		got.add(in.out.recs, in.lat.recs, in.metrics.LateDropped.Load())
	}
	got.sort()
	what := fmt.Sprintf("%s, snapshot after step %d of %d, parallelism %d -> %d", c.name, cut, len(steps), p1, p2)
	snDiff(t, what+": output", want.out, got.out)
	snDiff(t, what+": late output", want.late, got.late)
	if want.dropped != got.dropped {
		t.Errorf("%s: %d late records dropped, want %d", what, got.dropped, want.dropped)
	}
	if len(want.out) == 0 {
		t.Errorf("%s: the test produced no output", what)
	}
	return want
}

// snDiff reports the differences of two sorted lists.
func snDiff(t *testing.T, what string, want, got []string) {
	t.Helper()
	if slices.Equal(want, got) {
		return
	}
	var missing, extra []string
	i, j := 0, 0
	for i < len(got) || j < len(want) {
		switch {
		case j == len(want) || i < len(got) && got[i] < want[j]:
			extra = append(extra, got[i])
			i++
		case i == len(got) || want[j] < got[i]:
			missing = append(missing, want[j])
			j++
		default:
			i++
			j++
		}
	}
	t.Errorf("%s: %d records, want %d\nmissing: %s\nextra: %s", what, len(got), len(want), otHead(missing), otHead(extra))
}

func lastNow(steps []snStep) int64 {
	var now int64
	for _, s := range steps {
		if s.kind == 'p' {
			now = s.t
		}
	}
	return now
}

// snList is an accumulator with a reference (a slice): its checkpoint is
// encoded while the task is paused.
type snList []int64

func (l snList) MarshalBinary() ([]byte, error) {
	var b []byte
	for _, v := range l {
		b = binary.AppendVarint(b, v)
	}
	return b, nil
}

func (l *snList) UnmarshalBinary(b []byte) error {
	*l = nil
	for len(b) > 0 {
		v, n := binary.Varint(b)
		if n <= 0 {
			return errors.New("bad snList")
		}
		*l = append(*l, v)
		b = b[n:]
	}
	return nil
}

// snStateFn uses every kind of state and both kinds of timers.
type snStateFn struct {
	cnt  *ValueState[string, int64]
	hist *ListState[string, int64]
	last *MapState[string, int64, int64]
	sum  *ReducingState[string, int64]
}

func (f *snStateFn) Open(oc *ProcessOpenContext[string]) error {
	f.cnt = NewValueState[int64](oc, "count")
	f.hist = NewListState[int64](oc, "history")
	f.last = NewMapState[int64, int64](oc, "last-by-mod")
	f.sum = NewReducingState(oc, "sum", func(a, b int64) int64 { return a + b })
	return nil
}

func (f *snStateFn) ProcessElement(ctx *ProcessContext[string, string], r snRec) error {
	c, _ := f.cnt.Get(ctx)
	f.cnt.Set(ctx, c+1)
	f.hist.Add(ctx, r.V)
	if h := f.hist.Get(ctx); len(h) > 4 {
		f.hist.Update(ctx, h[len(h)-3:])
	}
	f.last.Put(ctx, (r.V%5+5)%5, ctx.Timestamp())
	if r.V%7 == 0 {
		f.last.Remove(ctx, ((r.V+1)%5+5)%5)
	}
	f.sum.Add(ctx, r.V)
	ctx.RegisterEventTimer(ctx.Timestamp() + 50)
	if r.V%3 == 0 {
		ctx.RegisterProcessingTimer(ctx.ProcessingTime() + 30)
	}
	if r.V%11 == 0 {
		ctx.DeleteEventTimer(ctx.Timestamp() + 50)
	}
	if r.V < 0 {
		f.cnt.Clear(ctx)
		f.last.Clear(ctx)
	}
	ctx.Emit(fmt.Sprintf("%s#%d", ctx.Key(), c+1))
	return nil
}

func (f *snStateFn) OnTimer(ctx *ProcessContext[string, string], t Timer) error {
	c, _ := f.cnt.Get(ctx)
	s, _ := f.sum.Get(ctx)
	m := maps.Collect(f.last.All(ctx))
	ctx.Emit(fmt.Sprintf("%s %v@%d cnt=%d hist=%v last=%v(%d) sum=%d", ctx.Key(), t.Domain, t.Timestamp, c, f.hist.Get(ctx), m, f.last.Len(ctx), s))
	if t.Domain == EventTime && c%2 == 0 {
		f.hist.Clear(ctx)
		f.sum.Clear(ctx)
	}
	return nil
}

func snGraph() (*Graph, Stream[snRec], Stream[snRec]) {
	g := New("snapshot-test", Config{Parallelism: 1, MaxParallelism: snMaxPar})
	return g, otInput[snRec](g, "a"), otInput[snRec](g, "b")
}

var snSum = Agg[snRec, int64, int64]{
	Zero:   func() int64 { return 0 },
	Add:    func(a int64, r snRec) int64 { return a + r.V },
	Merge:  func(a, b int64) int64 { return a + b },
	Result: func(a int64) int64 { return a },
}

func snCases() []snCase {
	join := func(k string, l, r snRec) string { return fmt.Sprintf("%s:%d/%d", k, l.V, r.V) }
	return []snCase{
		{name: "aggregate", inputs: 1, newOp: func(t testing.TB) engine.Operator {
			_, a, _ := snGraph()
			agg := snSum
			agg.Merge = nil // no combiner: the operator reads snRec
			return otNewOperator(t, Aggregate(KeyBy(a, snKey), agg))
		}},
		{name: "aggregate-slice-accumulator", inputs: 1, newOp: func(t testing.TB) engine.Operator {
			_, a, _ := snGraph()
			return otNewOperator(t, Aggregate(KeyBy(a, snKey), Agg[snRec, snList, string]{
				Zero:   func() snList { return nil },
				Add:    func(l snList, r snRec) snList { return append(l, r.V) },
				Result: func(l snList) string { return fmt.Sprint([]int64(l)) },
			}))
		}},
		{name: "tumbling-lateness-late-output", late: true, inputs: 1, newOp: func(t testing.TB) engine.Operator {
			_, a, _ := snGraph()
			w := Window(KeyBy(a, snKey), Tumbling(50*time.Millisecond), AllowedLateness(60*time.Millisecond))
			s := WindowAggregate(w, snSum)
			ToSink(w.Late(), "late", otSink[snRec]{})
			return otNewOperator(t, s)
		}},
		{name: "sliding-lateness", late: true, inputs: 1, newOp: func(t testing.TB) engine.Operator {
			_, a, _ := snGraph()
			w := Window(KeyBy(a, snKey), Sliding(60*time.Millisecond, 20*time.Millisecond), AllowedLateness(30*time.Millisecond))
			return otNewOperator(t, WindowAggregate(w, snSum))
		}},
		{name: "session-lateness-late-output", late: true, inputs: 1, newOp: func(t testing.TB) engine.Operator {
			_, a, _ := snGraph()
			w := Window(KeyBy(a, snKey), Session(15*time.Millisecond), AllowedLateness(40*time.Millisecond))
			s := WindowAggregate(w, snSum)
			ToSink(w.Late(), "late", otSink[snRec]{})
			return otNewOperator(t, s)
		}},
		{name: "window-join", late: true, inputs: 2, newOp: func(t testing.TB) engine.Operator {
			_, a, b := snGraph()
			return otNewOperator(t, WindowJoin(KeyBy(a, snKey), KeyBy(b, snKey), Sliding(40*time.Millisecond, 20*time.Millisecond), join))
		}},
		{name: "process", inputs: 1, newOp: func(t testing.TB) engine.Operator {
			_, a, _ := snGraph()
			return otNewOperator(t, Process(KeyBy(a, snKey), func() ProcessFunc[string, snRec, string] { return &snStateFn{} }))
		}},
		{name: "process-pebble", inputs: 1, store: true, newOp: func(t testing.TB) engine.Operator {
			_, a, _ := snGraph()
			return otNewOperator(t, Process(KeyBy(a, snKey), func() ProcessFunc[string, snRec, string] { return &snStateFn{} }))
		}},
		{name: "join", inputs: 2, newOp: func(t testing.TB) engine.Operator {
			_, a, b := snGraph()
			return otNewOperator(t, Join(KeyBy(a, snKey), KeyBy(b, snKey), join))
		}},
		{name: "join-pebble", inputs: 2, store: true, newOp: func(t testing.TB) engine.Operator {
			_, a, b := snGraph()
			return otNewOperator(t, Join(KeyBy(a, snKey), KeyBy(b, snKey), join))
		}},
		// Keyed operators with their state in the keyed store (after the
		// cases other tests pick by index).
		{name: "aggregate-pebble", inputs: 1, store: true, newOp: func(t testing.TB) engine.Operator {
			_, a, _ := snGraph()
			agg := snSum
			agg.Merge = nil
			return otNewOperator(t, Aggregate(KeyBy(a, snKey), agg))
		}},
		{name: "aggregate-slice-accumulator-pebble", inputs: 1, store: true, newOp: func(t testing.TB) engine.Operator {
			_, a, _ := snGraph()
			return otNewOperator(t, Aggregate(KeyBy(a, snKey), Agg[snRec, snList, string]{
				Zero:   func() snList { return nil },
				Add:    func(l snList, r snRec) snList { return append(l, r.V) },
				Result: func(l snList) string { return fmt.Sprint([]int64(l)) },
			}))
		}},
		{name: "tumbling-lateness-late-output-pebble", late: true, inputs: 1, store: true, newOp: func(t testing.TB) engine.Operator {
			_, a, _ := snGraph()
			w := Window(KeyBy(a, snKey), Tumbling(50*time.Millisecond), AllowedLateness(60*time.Millisecond))
			s := WindowAggregate(w, snSum)
			ToSink(w.Late(), "late", otSink[snRec]{})
			return otNewOperator(t, s)
		}},
		{name: "sliding-lateness-pebble", late: true, inputs: 1, store: true, newOp: func(t testing.TB) engine.Operator {
			_, a, _ := snGraph()
			w := Window(KeyBy(a, snKey), Sliding(60*time.Millisecond, 20*time.Millisecond), AllowedLateness(30*time.Millisecond))
			return otNewOperator(t, WindowAggregate(w, snSum))
		}},
		{name: "window-join-pebble", late: true, inputs: 2, store: true, newOp: func(t testing.TB) engine.Operator {
			_, a, b := snGraph()
			return otNewOperator(t, WindowJoin(KeyBy(a, snKey), KeyBy(b, snKey), Sliding(40*time.Millisecond, 20*time.Millisecond), join))
		}},
		{name: "session-lateness-late-output-pebble", late: true, inputs: 1, store: true, newOp: func(t testing.TB) engine.Operator {
			_, a, _ := snGraph()
			w := Window(KeyBy(a, snKey), Session(15*time.Millisecond), AllowedLateness(40*time.Millisecond))
			s := WindowAggregate(w, snSum)
			ToSink(w.Late(), "late", otSink[snRec]{})
			return otNewOperator(t, s)
		}},
	}
}

func TestSnapshotRestoreMatchesUninterrupted(t *testing.T) {
	seeds := 6
	if testing.Short() {
		seeds = 2
	}
	pars := [][2]int{{1, 1}, {1, 3}, {3, 2}, {2, 2}}
	for _, c := range snCases() {
		t.Run(c.name, func(t *testing.T) {
			var late int64
			for seed := range seeds {
				rng := rand.New(rand.NewPCG(uint64(seed), 99))
				steps := snSteps(rng, c.inputs, 80)
				for _, p := range pars {
					cut := rng.IntN(len(steps) - 3)
					r := snCheck(t, c, steps, cut, p[0], p[1])
					late += int64(len(r.late)) + r.dropped
				}
			}
			if c.late && late == 0 {
				t.Error("no late record reached the operator: the input does not test lateness")
			}
		})
	}
}

// TestPebbleOperatorsMatchHeap runs every operator that has a Pebble case
// both ways without interruption: the outputs, late outputs and drop
// counts are equal, and the Pebble instance keeps its state in the store.
func TestPebbleOperatorsMatchHeap(t *testing.T) {
	cases := map[string]snCase{}
	for _, c := range snCases() {
		cases[c.name] = c
	}
	for _, pc := range snCases() {
		name, ok := strings.CutSuffix(pc.name, "-pebble")
		if !ok {
			continue
		}
		hc, ok := cases[name]
		if !ok {
			t.Fatalf("%s has no heap case %s", pc.name, name)
		}
		t.Run(name, func(t *testing.T) {
			for seed := range 4 {
				rng := rand.New(rand.NewPCG(uint64(seed), 7))
				steps := snSteps(rng, pc.inputs, 80)
				run := func(c snCase) (snResult, *snInst) {
					in := newSnInst(t, c, 0, 1, nil)
					var r snResult
					// A snapshot halfway (its state is not used) writes
					// the operator's cached state to the store; the
					// output must not change.
					half := len(steps) / 2
					snRun(t, []*snInst{in}, steps[:half])
					if _, err := in.op.(engine.Snapshotter).SnapshotState(context.Background(), engine.Barrier{ID: 1}); err != nil {
						t.Fatal(err)
					}
					snRun(t, []*snInst{in}, steps[half:])
					r.add(in.out.recs, in.lat.recs, in.metrics.LateDropped.Load())
					r.sort()
					return r, in
				}
				want, _ := run(hc)
				got, in := run(pc)
				what := fmt.Sprintf("%s seed %d", pc.name, seed)
				snDiff(t, what+": output", want.out, got.out)
				snDiff(t, what+": late output", want.late, got.late)
				if want.dropped != got.dropped {
					t.Errorf("%s: %d late records dropped, want %d", what, got.dropped, want.dropped)
				}
				if len(want.out) == 0 {
					t.Errorf("%s: no output", what)
				}
				if in.store.writes == 0 {
					t.Errorf("%s: nothing was written to the keyed store", what)
				}
			}
		})
	}
}
