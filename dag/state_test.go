package dag

import (
	"maps"
	"slices"
	"testing"

	"github.com/dagflow/dagflow/dag/engine"
)

// otKeyCtx is a KeyContext for a fixed key.
type otKeyCtx string

func (k otKeyCtx) Key() string { return string(k) }

func otOpenContext(t *testing.T) *ProcessOpenContext[string] {
	h, err := keyHasher[string]()
	if err != nil {
		t.Fatal(err)
	}
	return &ProcessOpenContext[string]{oc: &engine.OperatorContext{MaxParallelism: 16}, reg: newStateRegistry(h, 16)}
}

func TestStateHandles(t *testing.T) {
	oc := otOpenContext(t)
	a, b := otKeyCtx("a"), otKeyCtx("b")

	v := NewValueState[float64](oc, "v")
	if _, ok := v.Get(a); ok {
		t.Error("value set before Set")
	}
	v.Set(a, 1.5)
	v.Set(b, 2.5)
	v.Clear(b)
	if x, ok := v.Get(a); !ok || x != 1.5 {
		t.Errorf("value %v %v", x, ok)
	}
	if _, ok := v.Get(b); ok {
		t.Error("value after Clear")
	}

	l := NewListState[int](oc, "l")
	l.Add(a, 1)
	l.Add(a, 2)
	in := []int{7, 8, 9}
	l.Update(b, in)
	in[0] = 100
	if got := l.Get(b); !slices.Equal(got, []int{7, 8, 9}) {
		t.Errorf("list after Update %v: Update must copy", got)
	}
	if got := l.Get(a); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("list %v", got)
	}
	l.Update(b, nil)
	if l.Get(b) != nil {
		t.Error("list after an empty Update")
	}

	m := NewMapState[string, int](oc, "m")
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
	if got := maps.Collect(m.All(b)); !maps.Equal(got, map[string]int{"x": 10}) {
		t.Errorf("all %v", got)
	}
	n := 0
	m.Range(a, func(uk string, uv int) bool { n++; return false })
	if n != 1 {
		t.Errorf("Range went on after false: %d calls", n)
	}
	m.Range(a, func(uk string, uv int) bool { m.Remove(a, uk); return true })
	heap := m.be.(*heapMaps[string, string, int])
	if m.Len(a) != 0 || len(heap.m) != 1 {
		t.Errorf("entries left after removing all: %d, keys %d", m.Len(a), len(heap.m))
	}
	m.Remove(a, "nope")
	m.Clear(b)
	if len(heap.m) != 0 {
		t.Errorf("keys left after Clear: %v", heap.m)
	}

	r := NewReducingState(oc, "r", func(x, y string) string { return x + "+" + y })
	if _, ok := r.Get(a); ok {
		t.Error("reducing state set before Add")
	}
	r.Add(a, "1")
	r.Add(a, "2")
	r.Add(a, "3")
	if got, _ := r.Get(a); got != "1+2+3" {
		t.Errorf("reduced %q", got)
	}
	r.Clear(a)
	if _, ok := r.Get(a); ok {
		t.Error("reducing state after Clear")
	}

	if len(oc.reg.errs) != 0 {
		t.Fatal(oc.reg.errs)
	}
	var names []string
	for _, s := range oc.reg.states {
		names = append(names, s.stateName()+":"+s.stateKind().String())
	}
	if want := []string{"v:value", "l:list", "m:map", "r:reducing"}; !slices.Equal(names, want) {
		t.Errorf("registry %v, want %v", names, want)
	}
}

func TestStateRegistryKeyGroups(t *testing.T) {
	oc := otOpenContext(t)
	v := NewValueState[int](oc, "v")
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	for i, k := range keys {
		v.Set(otKeyCtx(k), i)
	}
	groups := oc.reg.keyGroupsOf(v)
	n := 0
	for kg, ks := range groups {
		for _, k := range ks {
			n++
			if want := engine.KeyGroup(oc.reg.hash(k), 16); kg != want {
				t.Errorf("key %q in group %d, want %d", k, kg, want)
			}
		}
	}
	if n != len(keys) || len(groups) < 2 {
		t.Errorf("%d keys in %d groups", n, len(groups))
	}
	seen := 0
	v.rangeKeys(func(string) bool { seen++; return seen < 3 })
	if seen != 3 {
		t.Errorf("rangeKeys went on after false: %d", seen)
	}
	for _, s := range oc.reg.states {
		s.clearKey("a")
	}
	if _, ok := v.Get(otKeyCtx("a")); ok {
		t.Error("clearKey kept the entry")
	}
}
