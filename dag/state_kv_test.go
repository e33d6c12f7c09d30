package dag

import (
	"context"
	"encoding/binary"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/dag/engine"
)

// otStoreOpenContext returns an open context whose states live in a
// memStore.
func otStoreOpenContext(t *testing.T) (*ProcessOpenContext[string], *memStore) {
	oc := otOpenContext(t)
	store := newMemStore()
	oc.reg.store = &kvShared{store: store}
	oc.reg.kc = StringCoder{}
	return oc, store
}

func TestStateHandlesInStore(t *testing.T) {
	oc, store := otStoreOpenContext(t)
	a, b := otKeyCtx("a"), otKeyCtx("b")
	v := NewValueState[float64](oc, "v")
	l := NewListState[int](oc, "l")
	m := NewMapState[string, int](oc, "m")
	r := NewReducingState(oc, "r", func(x, y string) string { return x + "+" + y })

	v.Set(a, 1.5)
	v.Set(b, 2.5)
	v.Clear(b)
	if x, ok := v.Get(a); !ok || x != 1.5 {
		t.Errorf("value %v %v", x, ok)
	}
	if _, ok := v.Get(b); ok {
		t.Error("value after Clear")
	}
	l.Add(a, 1)
	l.Add(a, 2)
	l.Update(b, []int{7, 8, 9})
	if got := l.Get(a); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("list %v", got)
	}
	if got := l.Get(b); !slices.Equal(got, []int{7, 8, 9}) {
		t.Errorf("list %v", got)
	}
	l.Update(b, nil)
	if l.Get(b) != nil {
		t.Error("list after an empty Update")
	}
	m.Put(a, "x", 1)
	m.Put(a, "y", 2)
	m.Put(a, "z", 3)
	m.Put(b, "x", 10)
	if x, ok := m.Get(a, "y"); !ok || x != 2 || !m.Contains(a, "z") || m.Contains(b, "y") || m.Len(a) != 3 {
		t.Errorf("map get %v %v, len %d", x, ok, m.Len(a))
	}
	if got := slices.Sorted(m.Keys(a)); !slices.Equal(got, []string{"x", "y", "z"}) {
		t.Errorf("keys %v", got)
	}
	m.Range(a, func(uk string, _ int) bool { m.Remove(a, uk); return true })
	if m.Len(a) != 0 || m.Len(b) != 1 {
		t.Errorf("map lens %d %d after removing a's entries", m.Len(a), m.Len(b))
	}
	r.Add(a, "1")
	r.Add(a, "2")
	if got, _ := r.Get(a); got != "1+2" {
		t.Errorf("reduced %q", got)
	}
	if len(oc.reg.errs) != 0 {
		t.Fatal(oc.reg.errs)
	}
	// Nothing on the heap; every store key starts with its key group and
	// the state's id.
	_, vkv := v.be.(*kvValues[string, float64])
	_, lkv := l.be.(*kvLists[string, int])
	_, mkv := m.be.(*kvMaps[string, string, int])
	_, rkv := r.be.(*kvValues[string, string])
	if !vkv || !lkv || !mkv || !rkv {
		t.Error("state on the heap with a keyed store")
	}
	ids := map[uint32]bool{stateID("v"): true, stateID("l"): true, stateID("m"): true, stateID("r"): true}
	if len(store.m) == 0 {
		t.Fatal("empty store")
	}
	for k := range store.m {
		kb := []byte(k)
		key, _, err := StringCoder{}.Decode(kb[6:])
		if err != nil {
			t.Fatalf("store key %q: %v", k, err)
		}
		if kg := int(binary.BigEndian.Uint16(kb)); kg != oc.reg.keyGroup(key) {
			t.Errorf("store key %q in key group %d, want %d", k, kg, oc.reg.keyGroup(key))
		}
		if !ids[binary.BigEndian.Uint32(kb[2:6])] {
			t.Errorf("store key %q has an unknown state id", k)
		}
	}
	var keys []string
	m.rangeKeys(func(k string) bool { keys = append(keys, k); return true })
	if !slices.Equal(keys, []string{"b"}) {
		t.Errorf("map state keys %v", keys)
	}
	for _, s := range oc.reg.states {
		s.clearKey("a")
	}
	if _, ok := v.Get(a); ok || l.Get(a) != nil {
		t.Error("clearKey kept entries")
	}
}

// otTwoStates declares the states named in names (value states, or list
// states for names with the prefix "list:").
type otTwoStates struct {
	names []string
	vals  []*ValueState[string, int64]
}

func (f *otTwoStates) Open(oc *ProcessOpenContext[string]) error {
	for _, n := range f.names {
		if strings.HasPrefix(n, "list:") {
			NewListState[int64](oc, strings.TrimPrefix(n, "list:"))
			continue
		}
		f.vals = append(f.vals, NewValueState[int64](oc, n))
	}
	return nil
}

func (f *otTwoStates) ProcessElement(ctx *ProcessContext[string, string], r snRec) error {
	for _, v := range f.vals {
		v.Set(ctx, r.V)
	}
	return nil
}

func (f *otTwoStates) OnTimer(*ProcessContext[string, string], Timer) error { return nil }

func newStatesOp(t *testing.T, names ...string) *processOp[string, snRec, string] {
	t.Helper()
	hash, _ := keyHasher[string]()
	op := &processOp[string, snRec, string]{keyFn: snKey, hash: hash, newFn: func() ProcessFunc[string, snRec, string] {
		return &otTwoStates{names: names}
	}}
	oc := &engine.OperatorContext{Name: "states-op", MaxParallelism: snMaxPar, Parallelism: 1, BatchSize: 8, Outputs: []engine.Output{&snOut{}}}
	if err := op.Open(context.Background(), oc); err != nil {
		t.Fatal(err)
	}
	return op
}

func TestRestoreUnknownState(t *testing.T) {
	op := newStatesOp(t, "a", "b")
	b := &Batch[snRec]{}
	b.Append(snRec{K: "x", V: 5}, 1)
	if err := op.ProcessBatch(context.Background(), 0, b); err != nil {
		t.Fatal(err)
	}
	fn, err := op.SnapshotState(context.Background(), engine.Barrier{ID: 1})
	if err != nil {
		t.Fatal(err)
	}
	var w memWriter
	if err := fn(&w); err != nil {
		t.Fatal(err)
	}
	st := snRestored([]*memWriter{&w}, 0, 1)

	err = newStatesOp(t, "a").RestoreState(context.Background(), st)
	if !errors.Is(err, ErrStateMismatch) || !strings.Contains(err.Error(), "states-op") || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("restore without state b: %v, want ErrStateMismatch naming the operator and the state", err)
	}
	st.AllowNonRestored = true
	op2 := newStatesOp(t, "a")
	if err := op2.RestoreState(context.Background(), st); err != nil {
		t.Errorf("restore allowing non-restored state: %v", err)
	}
	if v, ok := op2.reg.byName["a"].(*ValueState[string, int64]).be.(*heapValues[string, int64]).m["x"]; !ok || v != 5 {
		t.Errorf("state a after restore: %v %v", v, ok)
	}
	st.AllowNonRestored = false
	err = newStatesOp(t, "a", "list:b").RestoreState(context.Background(), st)
	if !errors.Is(err, ErrStateMismatch) || !strings.Contains(err.Error(), "value") || !strings.Contains(err.Error(), "list") {
		t.Errorf("restore of a value state into a list state: %v", err)
	}
	// Corrupt blobs fail cleanly.
	for kg, blob := range st.KeyGroups {
		bad := &engine.RestoredState{KeyGroups: map[int][]byte{kg: blob[:len(blob)-1]}}
		if err := newStatesOp(t, "a", "b").RestoreState(context.Background(), bad); !errors.Is(err, ErrCorruptRecord) {
			t.Errorf("truncated key group %d: %v, want ErrCorruptRecord", kg, err)
		}
	}
}

func TestPebbleSnapshotHoldsOnlyHeapParts(t *testing.T) {
	c := snCases()[7]
	if c.name != "process-pebble" {
		t.Fatal(c.name)
	}
	in := newSnInst(t, c, 0, 1, nil)
	rng := snTestRand(3)
	snRun(t, []*snInst{in}, snSteps(rng, 1, 40)[:30])
	fn, err := in.op.(engine.Snapshotter).SnapshotState(context.Background(), engine.Barrier{ID: 1})
	if err != nil {
		t.Fatal(err)
	}
	var w memWriter
	if err := fn(&w); err != nil {
		t.Fatal(err)
	}
	if len(in.store.m) == 0 {
		t.Fatal("no state in the store")
	}
	names := map[string]bool{}
	for _, blob := range w.kgs {
		secs, err := parseBlob(blob)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secs {
			names[s.name] = true
		}
	}
	if want := map[string]bool{secEventTimers: true, secProcTimers: true}; !maps.Equal(names, want) {
		t.Errorf("sections %q, want only timers", slices.Sorted(maps.Keys(names)))
	}
}

func FuzzRestoreState(f *testing.F) {
	c := snCases()[6]
	in := newSnInst(f, c, 0, 1, nil)
	snRun(f, []*snInst{in}, snSteps(snTestRand(1), 1, 30)[:25])
	fn, err := in.op.(engine.Snapshotter).SnapshotState(context.Background(), engine.Barrier{})
	if err != nil {
		f.Fatal(err)
	}
	var w memWriter
	if err := fn(&w); err != nil {
		f.Fatal(err)
	}
	for _, b := range w.kgs {
		f.Add(b)
	}
	f.Add(w.ops[0])
	f.Add([]byte{})
	f.Add([]byte{snapMagic0, snapMagic1, snapVersion, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := newSnInst(t, c, 0, 1, nil)
		st := &engine.RestoredState{KeyGroups: map[int][]byte{3: data}, Operator: [][]byte{data}}
		_ = in.op.(engine.Snapshotter).RestoreState(context.Background(), st) // must not panic
	})
}

func snTestRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 7)) }

func TestCombineSnapshotSplitsPartials(t *testing.T) {
	newOp := func(sub, par int) *combineOp[string, snRec, int64] {
		op := &combineOp[string, snRec, int64]{key: snKey, agg: Agg[snRec, int64, int64]{Zero: snSum.Zero, Add: snSum.Add, Merge: snSum.Merge}}
		oc := &engine.OperatorContext{Name: "combine", Subtask: sub, Parallelism: par, Bounded: true, BatchSize: 8, Outputs: []engine.Output{&snOut{}}}
		if err := op.Open(context.Background(), oc); err != nil {
			t.Fatal(err)
		}
		return op
	}
	var ws []*memWriter
	for sub := range 3 {
		op := newOp(sub, 3)
		b := &Batch[snRec]{}
		b.Append(snRec{K: "a", V: int64(sub + 1)}, 1)
		b.Append(snRec{K: "b", V: 10}, 1)
		if err := op.ProcessBatch(context.Background(), 0, b); err != nil {
			t.Fatal(err)
		}
		fn, err := op.SnapshotState(context.Background(), engine.Barrier{})
		if err != nil {
			t.Fatal(err)
		}
		w := &memWriter{}
		if err := fn(w); err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	sums := map[string]int64{}
	for sub := range 2 {
		op := newOp(sub, 2)
		if err := op.RestoreState(context.Background(), snRestored(ws, sub, 2)); err != nil {
			t.Fatal(err)
		}
		for k, v := range op.partials() {
			sums[k] += v
		}
	}
	if want := map[string]int64{"a": 6, "b": 30}; !maps.Equal(sums, want) {
		t.Errorf("restored partials %v, want %v", sums, want)
	}
}

// TestStoreStateWithoutCoder checks that a state whose values have no
// coder is refused with an error naming it when it lives in a keyed store
// (where every entry is encoded), instead of failing at the first write.
func TestStoreStateWithoutCoder(t *testing.T) {
	type noCoder struct{ p *int }
	cases := []struct {
		name    string
		declare func(oc *ProcessOpenContext[string])
		want    string
	}{
		{"value", func(oc *ProcessOpenContext[string]) { NewValueState[noCoder](oc, "v") }, `value state "v": type dag.noCoder`},
		{"list", func(oc *ProcessOpenContext[string]) { NewListState[noCoder](oc, "l") }, `list state "l": type dag.noCoder`},
		{"map key", func(oc *ProcessOpenContext[string]) { NewMapState[noCoder, int](oc, "m") }, `map state "m": type dag.noCoder`},
		{"map value", func(oc *ProcessOpenContext[string]) { NewMapState[int, noCoder](oc, "m") }, `map state "m": type dag.noCoder`},
		{"reducing", func(oc *ProcessOpenContext[string]) {
			NewReducingState(oc, "r", func(a, _ noCoder) noCoder { return a })
		}, `reducing state "r": type dag.noCoder`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			oc, _ := otStoreOpenContext(t)
			tc.declare(oc)
			if len(oc.reg.errs) != 1 || !strings.Contains(oc.reg.errs[0].Error(), tc.want) {
				t.Fatalf("errors %v, want one containing %q", oc.reg.errs, tc.want)
			}
		})
	}
}

// TestKeyedCachesSpillToStore drives the decoded-state caches in front of
// the keyed store past their bound: a value state and an aggregate over
// 3 × kvCacheKeys keys keep at most kvCacheKeys of them in memory, write
// the others to the store before any snapshot, read them back correctly,
// and after a snapshot the store alone holds every value, deletions
// included.
func TestKeyedCachesSpillToStore(t *testing.T) {
	n := 3 * kvCacheKeys
	key := func(i int) string { return "k" + strconv.Itoa(i) }

	t.Run("value-state", func(t *testing.T) {
		oc, store := otStoreOpenContext(t)
		v := NewValueState[int](oc, "v")
		for i := range n {
			v.Set(otKeyCtx(key(i)), i)
		}
		be := v.be.(*kvValues[string, int])
		if len(be.cache) > kvCacheKeys || store.writes == 0 {
			t.Fatalf("%d keys cached (bound %d), %d store writes before a snapshot", len(be.cache), kvCacheKeys, store.writes)
		}
		for i := range n {
			ctx := otKeyCtx(key(i))
			if got, ok := v.Get(ctx); !ok || got != i {
				t.Fatalf("Get(%s) = %d, %v; want %d", key(i), got, ok, i)
			}
			switch i % 3 {
			case 0:
				v.Clear(ctx)
			case 1:
				v.Set(ctx, -i)
			}
		}
		if _, err := v.capture(newSnapCtx[string]("test", nil, 1)); err != nil {
			t.Fatal(err)
		}
		if len(be.cache) != 0 {
			t.Fatalf("%d keys still cached after a snapshot", len(be.cache))
		}
		// The store alone: decode every entry.
		got := map[string]int{}
		for k, raw := range store.m {
			sk, _, err := StringCoder{}.Decode([]byte(k)[6:])
			if err != nil {
				t.Fatal(err)
			}
			x, _, err := CoderFor[int]().Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			got[sk] = x
		}
		want := map[string]int{}
		for i := range n {
			switch i % 3 {
			case 1:
				want[key(i)] = -i
			case 2:
				want[key(i)] = i
			}
		}
		if !maps.Equal(got, want) {
			t.Fatalf("store holds %d values, want %d (first keys differ or values do)", len(got), len(want))
		}
	})

	t.Run("aggregate", func(t *testing.T) {
		c := snCase{name: "aggregate-pebble", inputs: 1, store: true, newOp: func(t testing.TB) engine.Operator {
			_, a, _ := snGraph()
			agg := snSum
			agg.Merge = nil
			return otNewOperator(t, Aggregate(KeyBy(a, snKey), agg))
		}}
		in := newSnInst(t, c, 0, 1, nil)
		op := in.op.(*aggregateOp[string, snRec, int64, int64])
		ctx := context.Background()
		for round := range 2 {
			for lo := 0; lo < n; lo += 1000 {
				b := &Batch[snRec]{}
				for i := lo; i < min(lo+1000, n); i++ {
					b.Append(snRec{K: key(i), V: int64(i)}, int64(round))
				}
				if err := op.ProcessBatch(ctx, 0, b); err != nil {
					t.Fatal(err)
				}
			}
			if len(op.acc) > kvCacheKeys || in.store.writes == 0 {
				t.Fatalf("round %d: %d keys cached (bound %d), %d store writes before a snapshot", round, len(op.acc), kvCacheKeys, in.store.writes)
			}
		}
		if _, err := op.SnapshotState(ctx, engine.Barrier{ID: 1}); err != nil {
			t.Fatal(err)
		}
		if len(op.acc) != 0 {
			t.Fatalf("%d keys still cached after a snapshot", len(op.acc))
		}
		seen := 0
		op.kv.rangeAll(func(k string, a int64) bool {
			i, err := strconv.Atoi(strings.TrimPrefix(k, "k"))
			if err != nil || a != 2*int64(i) {
				t.Fatalf("key %q: sum %d in the store, want twice its number", k, a)
			}
			seen++
			return true
		})
		if seen != n {
			t.Fatalf("%d keys in the store, want %d", seen, n)
		}
	})
}
