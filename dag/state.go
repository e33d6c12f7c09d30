package dag

import (
	"fmt"
	"iter"
	"maps"
	"strings"

	"github.com/cespare/xxhash/v2"

	"github.com/dagflow/dagflow/dag/engine"
)

// Keyed state of process functions (Process, CoProcess, Join).
//
// State is checkpointed. With the heap backend (the default) every state
// lives in Go maps; a checkpoint copies the top-level maps (copy-on-write
// for MapState's per-key maps) while the task is paused and serializes the
// copy afterwards, on another goroutine, while processing goes on. With the
// Pebble backend (OperatorContext.KeyedStore set) every state lives in the
// operator instance's on-disk store, which the engine snapshots itself;
// only timers and the watermark are on the heap then.
//
// Either way state is written per key group (KeyGroup of the key's hash
// modulo the job's MaxParallelism): on restore, with the same or another
// parallelism, each subtask receives exactly the key groups of its
// KeyGroupRange, so state follows its keys when a job is rescaled. Values
// are encoded with the built-in coder of their type (CoderFor): state
// value types need one to be checkpointed. Treat values held in state as
// immutable: Set a new value instead of modifying one in place (values
// containing pointers, slices or maps are encoded while the task is paused
// so that later changes cannot leak into a checkpoint, which makes their
// checkpoints slower).

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
	stateKind() stateKind
	// rangeKeys calls fn for every key with an entry until fn returns
	// false.
	rangeKeys(fn func(K) bool)
	// clearKey drops the entry of k.
	clearKey(k K)
	// capture captures the heap state for a checkpoint (synchronous phase)
	// and returns the function that serializes it, or nil when there is
	// nothing to write (empty, or kept in the store).
	capture(sc *snapCtx[K]) (func(*keyedSnapshot) error, error)
	// restore loads one section of a checkpoint.
	restore(sc *snapCtx[K], s section) error
	// bind moves the state into a keyed store.
	bind(kv *kvState[K])
	// missingCoder names the part of the state without a coder ("" if
	// none): a state in a keyed store encodes every entry.
	missingCoder() string
}

// stateRegistry holds the keyed state of one operator instance.
type stateRegistry[K comparable] struct {
	hash   func(K) uint64 // deterministic key hash (nil if the key has none)
	maxPar int
	states []keyedState[K]
	byName map[string]keyedState[K]
	errs   []error
	// store is the keyed store of the Pebble backend; nil on the heap.
	store *kvShared
	kc    Coder[K]
	ids   map[uint32]string
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
	case strings.HasPrefix(name, "\x00"):
		r.errs = append(r.errs, fmt.Errorf("%s state name %q: names cannot start with a 0 byte", s.stateKind(), name))
		return
	case r.byName[name] != nil:
		r.errs = append(r.errs, fmt.Errorf("duplicate state name %q (%s state and %s state)", name, r.byName[name].stateKind(), s.stateKind()))
		return
	}
	r.byName[name] = s
	r.states = append(r.states, s)
	if r.store != nil {
		if what := s.missingCoder(); what != "" {
			r.errs = append(r.errs, fmt.Errorf("%s state %q: %s has no coder (give it MarshalBinary/UnmarshalBinary), which the Pebble state backend needs", s.stateKind(), name, what))
			return
		}
		id := stateID(name)
		if other, ok := r.ids[id]; ok {
			r.errs = append(r.errs, fmt.Errorf("state names %q and %q have the same store id %08x; rename one", other, name, id))
			return
		}
		if r.ids == nil {
			r.ids = make(map[uint32]string)
		}
		r.ids[id] = name
		s.bind(&kvState[K]{shared: r.store, id: id, kc: r.kc, hash: r.hash, maxPar: normMaxPar(r.maxPar)})
	}
}

// stateID is the store id of a state: a hash of its name, so that it is
// stable across runs whatever the order in which states are declared.
func stateID(name string) uint32 { return uint32(xxhash.Sum64String(name) >> 32) }

// keyGroup returns the key group of k, the unit of keyed state
// redistribution.
func (r *stateRegistry[K]) keyGroup(k K) int {
	if r.hash == nil || r.maxPar < 1 {
		return 0
	}
	return engine.KeyGroup(r.hash(k), r.maxPar)
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

// snapCtx is what state needs to write and read checkpoints.
type snapCtx[K comparable] struct {
	opName string
	kc     Coder[K]
	hash   func(K) uint64
	maxPar int
}

func newSnapCtx[K comparable](opName string, hash func(K) uint64, maxPar int) *snapCtx[K] {
	return &snapCtx[K]{opName: opName, kc: CoderFor[K](), hash: hash, maxPar: normMaxPar(maxPar)}
}

func (c *snapCtx[K]) kg(k K) int {
	if c.hash == nil {
		return 0
	}
	return engine.KeyGroup(c.hash(k), c.maxPar)
}

// check returns an error when keys cannot be written.
func (c *snapCtx[K]) check(state string) error {
	if c.kc == nil {
		return errNoCoder(c.opName, state, "the keys", typeOf[K]())
	}
	return nil
}

// captureMap captures m for a checkpoint: a shallow clone serialized
// later, or, when values have mutable references (eager), the encoded
// entries right away. appendVal encodes one value.
func captureMap[K comparable, V any](sc *snapCtx[K], name string, kind stateKind, m map[K]V, eager bool,
	appendVal func([]byte, V) []byte) (func(*keyedSnapshot) error, error) {
	if len(m) == 0 {
		return nil, nil
	}
	if err := sc.check(name); err != nil {
		return nil, err
	}
	encode := func(src map[K]V) *kgPayloads {
		p := newKGPayloads(sc.maxPar)
		for k, v := range src {
			kg := sc.kg(k)
			p.data[kg] = appendVal(sc.kc.Append(p.data[kg], k), v)
			p.counts[kg]++
		}
		return p
	}
	if eager {
		p := encode(m)
		return func(ks *keyedSnapshot) error { ks.add(name, kind, p); return nil }, nil
	}
	c := maps.Clone(m)
	return func(ks *keyedSnapshot) error { ks.add(name, kind, encode(c)); return nil }, nil
}

// Each state kind keeps its entries in a backend chosen once, when the
// state is declared (heap) or bound to the operator's keyed store (kv):
// the state's methods call it without asking which one it is.

// valueBackend keeps the entries of a ValueState or ReducingState.
type valueBackend[K comparable, V any] interface {
	get(k K) (V, bool)
	set(k K, v V)
	clearKey(k K)
	rangeKeys(fn func(K) bool)
	// capture: see keyedState.capture.
	capture(sc *snapCtx[K], name string, kind stateKind) (func(*keyedSnapshot) error, error)
}

// heapValues keeps values in a Go map.
type heapValues[K comparable, V any] struct {
	m    map[K]V
	vc   Coder[V]
	refs bool
}

func (h *heapValues[K, V]) get(k K) (V, bool) {
	v, ok := h.m[k]
	return v, ok
}
func (h *heapValues[K, V]) set(k K, v V)              { h.m[k] = v }
func (h *heapValues[K, V]) clearKey(k K)              { delete(h.m, k) }
func (h *heapValues[K, V]) rangeKeys(fn func(K) bool) { rangeMapKeys(h.m, fn) }
func (h *heapValues[K, V]) capture(sc *snapCtx[K], name string, kind stateKind) (func(*keyedSnapshot) error, error) {
	if len(h.m) == 0 {
		return nil, nil
	}
	if h.vc == nil {
		return nil, errNoCoder(sc.opName, name, "the values", typeOf[V]())
	}
	return captureMap(sc, name, kind, h.m, h.refs, h.vc.Append)
}

// kvValues keeps values in the keyed store, which the engine snapshots,
// behind a write-back cache of the decoded values (and absences) of up to
// kvCacheKeys keys: a hot key is decoded once and encoded once per
// checkpoint, not on every access. A quarter of the cache is written back
// and dropped when it is full; all of it at a snapshot (capture, which
// runs before the engine snapshots the store) and before a scan of the
// store.
type kvValues[K comparable, V any] struct {
	kv    *kvState[K]
	vc    Coder[V]
	cache map[K]kvCached[V]
	clone func(K) K
}

// kvCached is a cached value: present or absent, dirty if the store does
// not have it yet.
type kvCached[V any] struct {
	v              V
	present, dirty bool
}

func newKVValues[K comparable, V any](kv *kvState[K], vc Coder[V]) *kvValues[K, V] {
	return &kvValues[K, V]{kv: kv, vc: vc, cache: make(map[K]kvCached[V]), clone: keyCloner[K]()}
}

func (s *kvValues[K, V]) get(k K) (V, bool) {
	if e, ok := s.cache[k]; ok {
		return e.v, e.present
	}
	v, ok := kvGetValue(s.kv, s.vc, k)
	s.put(k, kvCached[V]{v: v, present: ok})
	return v, ok
}

func (s *kvValues[K, V]) set(k K, v V) { s.put(k, kvCached[V]{v: v, present: true, dirty: true}) }
func (s *kvValues[K, V]) clearKey(k K) { s.put(k, kvCached[V]{dirty: true}) }

func (s *kvValues[K, V]) put(k K, e kvCached[V]) {
	if _, ok := s.cache[k]; !ok {
		if len(s.cache) >= kvCacheKeys {
			s.evict(len(s.cache) / 4)
		}
		if s.clone != nil {
			k = s.clone(k)
		}
	}
	s.cache[k] = e
}

// flush writes the dirty cached values to the store and empties the
// cache; errors go to the store's shared error.
func (s *kvValues[K, V]) flush() {
	for k, e := range s.cache {
		s.writeBack(k, e)
	}
	clear(s.cache)
}

// evict writes back and drops n cached keys, taken in map order (random).
func (s *kvValues[K, V]) evict(n int) {
	for k, e := range s.cache {
		if n--; n < 0 {
			return
		}
		s.writeBack(k, e)
		delete(s.cache, k)
	}
}

func (s *kvValues[K, V]) writeBack(k K, e kvCached[V]) {
	switch {
	case !e.dirty:
	case e.present:
		kvSetValue(s.kv, s.vc, k, e.v)
	default:
		s.kv.deleteExact(k)
	}
}

func (s *kvValues[K, V]) rangeKeys(fn func(K) bool) {
	s.flush()
	s.kv.rangeKeys(fn)
}

func (s *kvValues[K, V]) capture(*snapCtx[K], string, stateKind) (func(*keyedSnapshot) error, error) {
	s.flush()
	if err := s.kv.shared.err; err != nil {
		return nil, err
	}
	return nil, nil
}

// rangeMapKeys calls fn for every key of m until fn returns false.
func rangeMapKeys[K comparable, V any](m map[K]V, fn func(K) bool) {
	for k := range m {
		if !fn(k) {
			return
		}
	}
}

// ValueState holds one value per key. It is checkpointed (see the package
// notes on keyed state above) as entries of key and value, per key group.
type ValueState[K comparable, V any] struct {
	name string
	be   valueBackend[K, V]
	vc   Coder[V]
}

// NewValueState declares a value state named name. Call it in
// ProcessFunc.Open; names must be unique per function (a checkpoint
// identifies state by name).
func NewValueState[V any, K comparable](oc *ProcessOpenContext[K], name string) *ValueState[K, V] {
	vc := CoderFor[V]()
	s := &ValueState[K, V]{name: name, vc: vc,
		be: &heapValues[K, V]{m: make(map[K]V), vc: vc, refs: hasMutableRefs(typeOf[V]())}}
	oc.reg.register(name, s)
	return s
}

// Get returns the value of the current key and whether it is set.
func (s *ValueState[K, V]) Get(ctx KeyContext[K]) (V, bool) { return s.be.get(ctx.Key()) }

// Set sets the value of the current key.
func (s *ValueState[K, V]) Set(ctx KeyContext[K], v V) { s.be.set(ctx.Key(), v) }

// Clear removes the value of the current key.
func (s *ValueState[K, V]) Clear(ctx KeyContext[K]) { s.clearKey(ctx.Key()) }

func (s *ValueState[K, V]) stateName() string         { return s.name }
func (s *ValueState[K, V]) missingCoder() string      { return noCoder[V](s.vc == nil) }
func (s *ValueState[K, V]) stateKind() stateKind      { return kindValue }
func (s *ValueState[K, V]) bind(kv *kvState[K])       { s.be = newKVValues(kv, s.vc) }
func (s *ValueState[K, V]) clearKey(k K)              { s.be.clearKey(k) }
func (s *ValueState[K, V]) rangeKeys(fn func(K) bool) { s.be.rangeKeys(fn) }

func (s *ValueState[K, V]) capture(sc *snapCtx[K]) (func(*keyedSnapshot) error, error) {
	return s.be.capture(sc, s.name, kindValue)
}

func (s *ValueState[K, V]) restore(sc *snapCtx[K], sec section) error {
	return restoreValues(sc, s.name, s.vc, s.be, sec)
}

// restoreValues loads a section of key and value entries into be.
func restoreValues[K comparable, V any](sc *snapCtx[K], name string, vc Coder[V], be valueBackend[K, V], sec section) error {
	if err := sc.check(name); err != nil {
		return err
	}
	if vc == nil {
		return errNoCoder(sc.opName, name, "the values", typeOf[V]())
	}
	r := snapReader{b: sec.payload}
	for range sec.count {
		k := snapDecode(&r, sc.kc)
		v := snapDecode(&r, vc)
		if r.err != nil {
			break
		}
		be.set(k, v)
	}
	return r.done()
}

// listBackend keeps the entries of a ListState.
type listBackend[K comparable, V any] interface {
	get(k K) []V
	add(k K, v V)
	// set replaces the list of k with a copy of vs (not empty).
	set(k K, vs []V)
	// appendAll appends vs to the list of k (restore).
	appendAll(k K, vs []V)
	clearKey(k K)
	rangeKeys(fn func(K) bool)
	capture(sc *snapCtx[K], name string) (func(*keyedSnapshot) error, error)
}

// heapLists keeps lists in a Go map.
type heapLists[K comparable, V any] struct {
	m    map[K][]V
	vc   Coder[V]
	refs bool
}

func (h *heapLists[K, V]) get(k K) []V { return h.m[k] }

// add appends v. Appending never writes the part of the backing array a
// checkpoint may still read: that part is within the captured length.
func (h *heapLists[K, V]) add(k K, v V)              { h.m[k] = append(h.m[k], v) }
func (h *heapLists[K, V]) set(k K, vs []V)           { h.m[k] = append(h.m[k][:0:0], vs...) }
func (h *heapLists[K, V]) appendAll(k K, vs []V)     { h.m[k] = append(h.m[k], vs...) }
func (h *heapLists[K, V]) clearKey(k K)              { delete(h.m, k) }
func (h *heapLists[K, V]) rangeKeys(fn func(K) bool) { rangeMapKeys(h.m, fn) }
func (h *heapLists[K, V]) capture(sc *snapCtx[K], name string) (func(*keyedSnapshot) error, error) {
	if len(h.m) == 0 {
		return nil, nil
	}
	if h.vc == nil {
		return nil, errNoCoder(sc.opName, name, "the values", typeOf[V]())
	}
	vc := h.vc
	return captureMap(sc, name, kindList, h.m, h.refs, func(dst []byte, vs []V) []byte {
		dst = appendUvarint(dst, len(vs))
		for _, v := range vs {
			dst = vc.Append(dst, v)
		}
		return dst
	})
}

// kvLists keeps lists in the keyed store.
type kvLists[K comparable, V any] struct {
	kv *kvState[K]
	vc Coder[V]
}

func (s *kvLists[K, V]) get(k K) []V     { return kvGetList(s.kv, s.vc, k) }
func (s *kvLists[K, V]) add(k K, v V)    { kvAddList(s.kv, s.vc, k, v) }
func (s *kvLists[K, V]) set(k K, vs []V) { kvSetList(s.kv, s.vc, k, vs) }
func (s *kvLists[K, V]) appendAll(k K, vs []V) {
	kvSetList(s.kv, s.vc, k, append(kvGetList(s.kv, s.vc, k), vs...))
}
func (s *kvLists[K, V]) clearKey(k K)              { s.kv.deleteExact(k) }
func (s *kvLists[K, V]) rangeKeys(fn func(K) bool) { s.kv.rangeKeys(fn) }
func (s *kvLists[K, V]) capture(*snapCtx[K], string) (func(*keyedSnapshot) error, error) {
	return nil, nil
}

// ListState holds a list of values per key. It is checkpointed as entries
// of key and list, per key group.
type ListState[K comparable, V any] struct {
	name string
	be   listBackend[K, V]
	vc   Coder[V]
}

// NewListState declares a list state named name. Call it in
// ProcessFunc.Open; names must be unique per function.
func NewListState[V any, K comparable](oc *ProcessOpenContext[K], name string) *ListState[K, V] {
	vc := CoderFor[V]()
	s := &ListState[K, V]{name: name, vc: vc,
		be: &heapLists[K, V]{m: make(map[K][]V), vc: vc, refs: hasMutableRefs(typeOf[V]())}}
	oc.reg.register(name, s)
	return s
}

// Get returns the list of the current key (nil when empty). The slice is
// the state itself: it is valid until the state of the key changes, and
// must not be modified (use Update). With the Pebble backend it is a
// decoded copy.
func (s *ListState[K, V]) Get(ctx KeyContext[K]) []V { return s.be.get(ctx.Key()) }

// Add appends v to the list of the current key.
func (s *ListState[K, V]) Add(ctx KeyContext[K], v V) { s.be.add(ctx.Key(), v) }

// Update replaces the list of the current key with a copy of vs; an empty
// vs clears it.
func (s *ListState[K, V]) Update(ctx KeyContext[K], vs []V) {
	k := ctx.Key()
	if len(vs) == 0 {
		s.clearKey(k)
		return
	}
	s.be.set(k, vs)
}

// Clear removes the list of the current key.
func (s *ListState[K, V]) Clear(ctx KeyContext[K]) { s.clearKey(ctx.Key()) }

func (s *ListState[K, V]) stateName() string         { return s.name }
func (s *ListState[K, V]) missingCoder() string      { return noCoder[V](s.vc == nil) }
func (s *ListState[K, V]) stateKind() stateKind      { return kindList }
func (s *ListState[K, V]) bind(kv *kvState[K])       { s.be = &kvLists[K, V]{kv: kv, vc: s.vc} }
func (s *ListState[K, V]) clearKey(k K)              { s.be.clearKey(k) }
func (s *ListState[K, V]) rangeKeys(fn func(K) bool) { s.be.rangeKeys(fn) }

func (s *ListState[K, V]) capture(sc *snapCtx[K]) (func(*keyedSnapshot) error, error) {
	return s.be.capture(sc, s.name)
}

func (s *ListState[K, V]) restore(sc *snapCtx[K], sec section) error {
	if err := sc.check(s.name); err != nil {
		return err
	}
	if s.vc == nil {
		return errNoCoder(sc.opName, s.name, "the values", typeOf[V]())
	}
	r := snapReader{b: sec.payload}
	for range sec.count {
		k := snapDecode(&r, sc.kc)
		n := r.count()
		vs := make([]V, 0, min(n, len(r.b)+1))
		for range n {
			vs = append(vs, snapDecode(&r, s.vc))
		}
		if r.err != nil {
			break
		}
		s.be.appendAll(k, vs)
	}
	return r.done()
}

// mapCell is the map of one key of a MapState. A cell whose epoch is older
// than the state's belongs to a checkpoint in progress: writers replace it
// with a copy (copy-on-write) instead of modifying it.
type mapCell[UK comparable, UV any] struct {
	m     map[UK]UV
	epoch uint64
}

// mapBackend keeps the entries of a MapState.
type mapBackend[K, UK comparable, UV any] interface {
	get(k K, uk UK) (UV, bool)
	put(k K, uk UK, uv UV)
	remove(k K, uk UK)
	size(k K) int
	rangeEntries(k K, fn func(UK, UV) bool)
	clearKey(k K)
	rangeKeys(fn func(K) bool)
	capture(sc *snapCtx[K], name string) (func(*keyedSnapshot) error, error)
}

// heapMaps keeps a Go map of user keys per key, copied on write while a
// checkpoint may read it.
type heapMaps[K, UK comparable, UV any] struct {
	m     map[K]mapCell[UK, UV] // cells by value: no extra indirection
	epoch uint64
	ukc   Coder[UK]
	uvc   Coder[UV]
	refs  bool
}

func (h *heapMaps[K, UK, UV]) get(k K, uk UK) (UV, bool) {
	v, ok := h.m[k].m[uk]
	return v, ok
}

// writable returns the map of k for writing, creating or copying it.
func (h *heapMaps[K, UK, UV]) writable(k K) map[UK]UV {
	c, ok := h.m[k]
	switch {
	case !ok:
		c = mapCell[UK, UV]{m: make(map[UK]UV), epoch: h.epoch}
		h.m[k] = c
	case c.epoch != h.epoch:
		c = mapCell[UK, UV]{m: maps.Clone(c.m), epoch: h.epoch}
		h.m[k] = c
	}
	return c.m
}

func (h *heapMaps[K, UK, UV]) put(k K, uk UK, uv UV) { h.writable(k)[uk] = uv }

func (h *heapMaps[K, UK, UV]) remove(k K, uk UK) {
	if _, ok := h.m[k].m[uk]; !ok {
		return
	}
	um := h.writable(k)
	delete(um, uk)
	if len(um) == 0 {
		delete(h.m, k)
	}
}

func (h *heapMaps[K, UK, UV]) size(k K) int { return len(h.m[k].m) }

func (h *heapMaps[K, UK, UV]) rangeEntries(k K, fn func(UK, UV) bool) {
	for uk, uv := range h.m[k].m {
		if !fn(uk, uv) {
			return
		}
	}
}

func (h *heapMaps[K, UK, UV]) clearKey(k K)              { delete(h.m, k) }
func (h *heapMaps[K, UK, UV]) rangeKeys(fn func(K) bool) { rangeMapKeys(h.m, fn) }

func (h *heapMaps[K, UK, UV]) capture(sc *snapCtx[K], name string) (func(*keyedSnapshot) error, error) {
	if len(h.m) == 0 {
		return nil, nil
	}
	if h.ukc == nil {
		return nil, errNoCoder(sc.opName, name, "the user keys", typeOf[UK]())
	}
	if h.uvc == nil {
		return nil, errNoCoder(sc.opName, name, "the user values", typeOf[UV]())
	}
	ukc, uvc := h.ukc, h.uvc
	fn, err := captureMap(sc, name, kindMap, h.m, h.refs, func(dst []byte, c mapCell[UK, UV]) []byte {
		dst = appendUvarint(dst, len(c.m))
		for uk, uv := range c.m {
			dst = uvc.Append(ukc.Append(dst, uk), uv)
		}
		return dst
	})
	// Every cell now belongs to the checkpoint: writers copy it first.
	h.epoch++
	return fn, err
}

// kvMaps keeps map entries in the keyed store.
type kvMaps[K, UK comparable, UV any] struct {
	kv  *kvState[K]
	ukc Coder[UK]
	uvc Coder[UV]
}

func (s *kvMaps[K, UK, UV]) get(k K, uk UK) (UV, bool) { return kvMapGet(s.kv, s.ukc, s.uvc, k, uk) }
func (s *kvMaps[K, UK, UV]) put(k K, uk UK, uv UV)     { kvMapPut(s.kv, s.ukc, s.uvc, k, uk, uv) }
func (s *kvMaps[K, UK, UV]) remove(k K, uk UK)         { kvMapRemove(s.kv, s.ukc, k, uk) }
func (s *kvMaps[K, UK, UV]) size(k K) int              { return kvMapLen(s.kv, k) }
func (s *kvMaps[K, UK, UV]) rangeEntries(k K, fn func(UK, UV) bool) {
	kvMapRange(s.kv, s.ukc, s.uvc, k, fn)
}
func (s *kvMaps[K, UK, UV]) clearKey(k K)              { s.kv.deleteKey(k) }
func (s *kvMaps[K, UK, UV]) rangeKeys(fn func(K) bool) { s.kv.rangeKeys(fn) }
func (s *kvMaps[K, UK, UV]) capture(*snapCtx[K], string) (func(*keyedSnapshot) error, error) {
	return nil, nil
}

// MapState holds a map from user keys UK to values UV per key. It is
// checkpointed as entries of key and map, per key group.
type MapState[K comparable, UK comparable, UV any] struct {
	name string
	be   mapBackend[K, UK, UV]
	ukc  Coder[UK]
	uvc  Coder[UV]
}

// NewMapState declares a map state named name. Call it in
// ProcessFunc.Open; names must be unique per function.
func NewMapState[UK comparable, UV any, K comparable](oc *ProcessOpenContext[K], name string) *MapState[K, UK, UV] {
	ukc, uvc := CoderFor[UK](), CoderFor[UV]()
	s := &MapState[K, UK, UV]{name: name, ukc: ukc, uvc: uvc,
		be: &heapMaps[K, UK, UV]{m: make(map[K]mapCell[UK, UV]), ukc: ukc, uvc: uvc,
			refs: hasMutableRefs(typeOf[UK]()) || hasMutableRefs(typeOf[UV]())}}
	oc.reg.register(name, s)
	return s
}

// Get returns the value of uk for the current key and whether it exists.
func (s *MapState[K, UK, UV]) Get(ctx KeyContext[K], uk UK) (UV, bool) {
	return s.be.get(ctx.Key(), uk)
}

// Contains reports whether uk exists for the current key.
func (s *MapState[K, UK, UV]) Contains(ctx KeyContext[K], uk UK) bool {
	_, ok := s.Get(ctx, uk)
	return ok
}

// Put sets the value of uk for the current key.
func (s *MapState[K, UK, UV]) Put(ctx KeyContext[K], uk UK, uv UV) { s.be.put(ctx.Key(), uk, uv) }

// Remove deletes uk for the current key.
func (s *MapState[K, UK, UV]) Remove(ctx KeyContext[K], uk UK) { s.be.remove(ctx.Key(), uk) }

// Len returns the number of entries of the current key.
func (s *MapState[K, UK, UV]) Len(ctx KeyContext[K]) int { return s.be.size(ctx.Key()) }

// Range calls fn for each entry of the current key, in no particular
// order, until fn returns false. fn may Remove entries.
func (s *MapState[K, UK, UV]) Range(ctx KeyContext[K], fn func(uk UK, uv UV) bool) {
	s.be.rangeEntries(ctx.Key(), fn)
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
func (s *MapState[K, UK, UV]) Clear(ctx KeyContext[K]) { s.clearKey(ctx.Key()) }

func (s *MapState[K, UK, UV]) stateName() string { return s.name }
func (s *MapState[K, UK, UV]) missingCoder() string {
	if w := noCoder[UK](s.ukc == nil); w != "" {
		return w
	}
	return noCoder[UV](s.uvc == nil)
}
func (s *MapState[K, UK, UV]) stateKind() stateKind { return kindMap }
func (s *MapState[K, UK, UV]) bind(kv *kvState[K]) {
	s.be = &kvMaps[K, UK, UV]{kv: kv, ukc: s.ukc, uvc: s.uvc}
}
func (s *MapState[K, UK, UV]) clearKey(k K)              { s.be.clearKey(k) }
func (s *MapState[K, UK, UV]) rangeKeys(fn func(K) bool) { s.be.rangeKeys(fn) }

func (s *MapState[K, UK, UV]) capture(sc *snapCtx[K]) (func(*keyedSnapshot) error, error) {
	return s.be.capture(sc, s.name)
}

func (s *MapState[K, UK, UV]) restore(sc *snapCtx[K], sec section) error {
	if err := sc.check(s.name); err != nil {
		return err
	}
	if s.ukc == nil || s.uvc == nil {
		return errNoCoder(sc.opName, s.name, "the user keys and values", typeOf[map[UK]UV]())
	}
	r := snapReader{b: sec.payload}
	for range sec.count {
		k := snapDecode(&r, sc.kc)
		n := r.count()
		for range n {
			uk := snapDecode(&r, s.ukc)
			uv := snapDecode(&r, s.uvc)
			if r.err != nil {
				break
			}
			s.be.put(k, uk, uv)
		}
		if r.err != nil {
			break
		}
	}
	return r.done()
}

// ReducingState folds the values added for a key into one with a reduce
// function. It is checkpointed as entries of key and folded value, per key
// group.
type ReducingState[K comparable, V any] struct {
	name   string
	reduce func(a, b V) V
	be     valueBackend[K, V]
	vc     Coder[V]
}

// NewReducingState declares a reducing state named name that combines
// values with reduce. Call it in ProcessFunc.Open; names must be unique
// per function.
func NewReducingState[V any, K comparable](oc *ProcessOpenContext[K], name string, reduce func(a, b V) V) *ReducingState[K, V] {
	vc := CoderFor[V]()
	s := &ReducingState[K, V]{name: name, reduce: reduce, vc: vc,
		be: &heapValues[K, V]{m: make(map[K]V), vc: vc, refs: hasMutableRefs(typeOf[V]())}}
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
	if old, ok := s.be.get(k); ok {
		v = s.reduce(old, v)
	}
	s.be.set(k, v)
}

// Get returns the folded value of the current key and whether any value
// was added.
func (s *ReducingState[K, V]) Get(ctx KeyContext[K]) (V, bool) { return s.be.get(ctx.Key()) }

// Clear removes the value of the current key.
func (s *ReducingState[K, V]) Clear(ctx KeyContext[K]) { s.clearKey(ctx.Key()) }

func (s *ReducingState[K, V]) stateName() string         { return s.name }
func (s *ReducingState[K, V]) missingCoder() string      { return noCoder[V](s.vc == nil) }
func (s *ReducingState[K, V]) stateKind() stateKind      { return kindReducing }
func (s *ReducingState[K, V]) bind(kv *kvState[K])       { s.be = newKVValues(kv, s.vc) }
func (s *ReducingState[K, V]) clearKey(k K)              { s.be.clearKey(k) }
func (s *ReducingState[K, V]) rangeKeys(fn func(K) bool) { s.be.rangeKeys(fn) }

func (s *ReducingState[K, V]) capture(sc *snapCtx[K]) (func(*keyedSnapshot) error, error) {
	return s.be.capture(sc, s.name, kindReducing)
}

func (s *ReducingState[K, V]) restore(sc *snapCtx[K], sec section) error {
	return restoreValues(sc, s.name, s.vc, s.be, sec)
}

// noCoder returns "type T" when missing, else "".
func noCoder[T any](missing bool) string {
	if !missing {
		return ""
	}
	return fmt.Sprintf("type %v", typeOf[T]())
}

// appendUvarint appends a non-negative int as a uvarint.
func appendUvarint(dst []byte, n int) []byte {
	for n >= 0x80 {
		dst = append(dst, byte(n)|0x80)
		n >>= 7
	}
	return append(dst, byte(n))
}
