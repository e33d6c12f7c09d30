package dag

import (
	"fmt"
	"iter"
)

// KeyContext scopes keyed state to a key. *ProcessContext implements it:
// state handles read and write the entry of the key being processed.
type KeyContext[K comparable] interface {
	// Key returns the current key.
	Key() K
}

// keyedState is implemented by every state of a process function. The
// registry lists them, so that a checkpoint can walk every state and split
// its entries by key group (KeyGroup of the key's hash).
type keyedState[K comparable] interface {
	stateName() string
	stateKind() string
	// rangeKeys calls fn for every key with an entry until fn returns
	// false.
	rangeKeys(fn func(K) bool)
	// clearKey drops the entry of k.
	clearKey(k K)
}

// stateRegistry holds the keyed state of one operator instance.
type stateRegistry[K comparable] struct {
	hash   func(K) uint64 // deterministic key hash (nil if the key has none)
	maxPar int
	states []keyedState[K]
	byName map[string]keyedState[K]
	errs   []error
}

func newStateRegistry[K comparable](hash func(K) uint64, maxPar int) *stateRegistry[K] {
	return &stateRegistry[K]{hash: hash, maxPar: maxPar, byName: make(map[string]keyedState[K])}
}

// register adds a state; names are unique per function.
func (r *stateRegistry[K]) register(name string, s keyedState[K]) {
	switch {
	case name == "":
		r.errs = append(r.errs, fmt.Errorf("%s state with an empty name", s.stateKind()))
		return
	case r.byName[name] != nil:
		r.errs = append(r.errs, fmt.Errorf("duplicate state name %q (%s state and %s state)", name, r.byName[name].stateKind(), s.stateKind()))
		return
	}
	r.byName[name] = s
	r.states = append(r.states, s)
}

// keyGroup returns the key group of k, the unit of keyed state
// redistribution.
func (r *stateRegistry[K]) keyGroup(k K) int {
	if r.hash == nil || r.maxPar < 1 {
		return 0
	}
	return KeyGroup(r.hash(k), r.maxPar)
}

// keyGroupsOf returns the keys of a state grouped by key group.
func (r *stateRegistry[K]) keyGroupsOf(s keyedState[K]) map[int][]K {
	groups := make(map[int][]K)
	s.rangeKeys(func(k K) bool {
		kg := r.keyGroup(k)
		groups[kg] = append(groups[kg], k)
		return true
	})
	return groups
}

// ValueState holds one value per key.
type ValueState[K comparable, V any] struct {
	name string
	m    map[K]V
}

// NewValueState declares a value state named name. Call it in
// ProcessFunc.Open; names must be unique per function.
func NewValueState[V any, K comparable](oc *ProcessOpenContext[K], name string) *ValueState[K, V] {
	s := &ValueState[K, V]{name: name, m: make(map[K]V)}
	oc.reg.register(name, s)
	return s
}

// Get returns the value of the current key and whether it is set.
func (s *ValueState[K, V]) Get(ctx KeyContext[K]) (V, bool) {
	v, ok := s.m[ctx.Key()]
	return v, ok
}

// Set sets the value of the current key.
func (s *ValueState[K, V]) Set(ctx KeyContext[K], v V) { s.m[ctx.Key()] = v }

// Clear removes the value of the current key.
func (s *ValueState[K, V]) Clear(ctx KeyContext[K]) { delete(s.m, ctx.Key()) }

func (s *ValueState[K, V]) stateName() string { return s.name }
func (s *ValueState[K, V]) stateKind() string { return "value" }
func (s *ValueState[K, V]) clearKey(k K)      { delete(s.m, k) }
func (s *ValueState[K, V]) rangeKeys(fn func(K) bool) {
	for k := range s.m {
		if !fn(k) {
			return
		}
	}
}

// ListState holds a list of values per key.
type ListState[K comparable, V any] struct {
	name string
	m    map[K][]V
}

// NewListState declares a list state named name. Call it in
// ProcessFunc.Open; names must be unique per function.
func NewListState[V any, K comparable](oc *ProcessOpenContext[K], name string) *ListState[K, V] {
	s := &ListState[K, V]{name: name, m: make(map[K][]V)}
	oc.reg.register(name, s)
	return s
}

// Get returns the list of the current key (nil when empty). The slice is
// the state itself: it is valid until the state of the key changes, and
// must not be modified (use Update).
func (s *ListState[K, V]) Get(ctx KeyContext[K]) []V { return s.m[ctx.Key()] }

// Add appends v to the list of the current key.
func (s *ListState[K, V]) Add(ctx KeyContext[K], v V) {
	k := ctx.Key()
	s.m[k] = append(s.m[k], v)
}

// Update replaces the list of the current key with a copy of vs; an empty
// vs clears it.
func (s *ListState[K, V]) Update(ctx KeyContext[K], vs []V) {
	k := ctx.Key()
	if len(vs) == 0 {
		delete(s.m, k)
		return
	}
	s.m[k] = append(s.m[k][:0:0], vs...)
}

// Clear removes the list of the current key.
func (s *ListState[K, V]) Clear(ctx KeyContext[K]) { delete(s.m, ctx.Key()) }

func (s *ListState[K, V]) stateName() string { return s.name }
func (s *ListState[K, V]) stateKind() string { return "list" }
func (s *ListState[K, V]) clearKey(k K)      { delete(s.m, k) }
func (s *ListState[K, V]) rangeKeys(fn func(K) bool) {
	for k := range s.m {
		if !fn(k) {
			return
		}
	}
}

// MapState holds a map from user keys UK to values UV per key.
type MapState[K comparable, UK comparable, UV any] struct {
	name string
	m    map[K]map[UK]UV
}

// NewMapState declares a map state named name. Call it in
// ProcessFunc.Open; names must be unique per function.
func NewMapState[UK comparable, UV any, K comparable](oc *ProcessOpenContext[K], name string) *MapState[K, UK, UV] {
	s := &MapState[K, UK, UV]{name: name, m: make(map[K]map[UK]UV)}
	oc.reg.register(name, s)
	return s
}

// Get returns the value of uk for the current key and whether it exists.
func (s *MapState[K, UK, UV]) Get(ctx KeyContext[K], uk UK) (UV, bool) {
	v, ok := s.m[ctx.Key()][uk]
	return v, ok
}

// Contains reports whether uk exists for the current key.
func (s *MapState[K, UK, UV]) Contains(ctx KeyContext[K], uk UK) bool {
	_, ok := s.m[ctx.Key()][uk]
	return ok
}

// Put sets the value of uk for the current key.
func (s *MapState[K, UK, UV]) Put(ctx KeyContext[K], uk UK, uv UV) {
	k := ctx.Key()
	um := s.m[k]
	if um == nil {
		um = make(map[UK]UV)
		s.m[k] = um
	}
	um[uk] = uv
}

// Remove deletes uk for the current key.
func (s *MapState[K, UK, UV]) Remove(ctx KeyContext[K], uk UK) {
	k := ctx.Key()
	um := s.m[k]
	if um == nil {
		return
	}
	delete(um, uk)
	if len(um) == 0 {
		delete(s.m, k)
	}
}

// Len returns the number of entries of the current key.
func (s *MapState[K, UK, UV]) Len(ctx KeyContext[K]) int { return len(s.m[ctx.Key()]) }

// Range calls fn for each entry of the current key, in no particular
// order, until fn returns false. fn may Remove entries.
func (s *MapState[K, UK, UV]) Range(ctx KeyContext[K], fn func(uk UK, uv UV) bool) {
	for uk, uv := range s.m[ctx.Key()] {
		if !fn(uk, uv) {
			return
		}
	}
}

// All returns an iterator over the entries of the current key (see
// Range).
func (s *MapState[K, UK, UV]) All(ctx KeyContext[K]) iter.Seq2[UK, UV] {
	return func(yield func(UK, UV) bool) { s.Range(ctx, yield) }
}

// Keys returns an iterator over the user keys of the current key.
func (s *MapState[K, UK, UV]) Keys(ctx KeyContext[K]) iter.Seq[UK] {
	return func(yield func(UK) bool) {
		s.Range(ctx, func(uk UK, _ UV) bool { return yield(uk) })
	}
}

// Clear removes every entry of the current key.
func (s *MapState[K, UK, UV]) Clear(ctx KeyContext[K]) { delete(s.m, ctx.Key()) }

func (s *MapState[K, UK, UV]) stateName() string { return s.name }
func (s *MapState[K, UK, UV]) stateKind() string { return "map" }
func (s *MapState[K, UK, UV]) clearKey(k K)      { delete(s.m, k) }
func (s *MapState[K, UK, UV]) rangeKeys(fn func(K) bool) {
	for k := range s.m {
		if !fn(k) {
			return
		}
	}
}

// ReducingState folds the values added for a key into one with a reduce
// function.
type ReducingState[K comparable, V any] struct {
	name   string
	reduce func(a, b V) V
	m      map[K]V
}

// NewReducingState declares a reducing state named name that combines
// values with reduce. Call it in ProcessFunc.Open; names must be unique
// per function.
func NewReducingState[V any, K comparable](oc *ProcessOpenContext[K], name string, reduce func(a, b V) V) *ReducingState[K, V] {
	s := &ReducingState[K, V]{name: name, reduce: reduce, m: make(map[K]V)}
	if reduce == nil {
		oc.reg.errs = append(oc.reg.errs, fmt.Errorf("reducing state %q: nil reduce function", name))
		s.reduce = func(a, _ V) V { return a }
	}
	oc.reg.register(name, s)
	return s
}

// Add folds v into the value of the current key (the first value is kept
// as is).
func (s *ReducingState[K, V]) Add(ctx KeyContext[K], v V) {
	k := ctx.Key()
	if old, ok := s.m[k]; ok {
		v = s.reduce(old, v)
	}
	s.m[k] = v
}

// Get returns the folded value of the current key and whether any value
// was added.
func (s *ReducingState[K, V]) Get(ctx KeyContext[K]) (V, bool) {
	v, ok := s.m[ctx.Key()]
	return v, ok
}

// Clear removes the value of the current key.
func (s *ReducingState[K, V]) Clear(ctx KeyContext[K]) { delete(s.m, ctx.Key()) }

func (s *ReducingState[K, V]) stateName() string { return s.name }
func (s *ReducingState[K, V]) stateKind() string { return "reducing" }
func (s *ReducingState[K, V]) clearKey(k K)      { delete(s.m, k) }
func (s *ReducingState[K, V]) rangeKeys(fn func(K) bool) {
	for k := range s.m {
		if !fn(k) {
			return
		}
	}
}
