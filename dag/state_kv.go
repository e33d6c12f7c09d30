package dag

import (
	"encoding/binary"
	"fmt"

	"github.com/dagflow/dagflow/dag/engine"
)

// The Pebble backend of process function state: with
// OperatorContext.KeyedStore set, ValueState, ListState, MapState and
// ReducingState keep their entries in the operator instance's KeyedStore
// instead of Go maps. Store keys are
//
//	key group (2 bytes, big endian) | state id (4 bytes) | encoded key [| encoded user key]
//
// where the state id is a hash of the state's name (stateID), so it is
// stable across runs and independent of declaration order, and keys are
// encoded with their Coder (self-delimiting, so one key's prefix never
// covers another key). Values are encoded with the state's value coder; a
// list is the concatenation of its encoded elements. The engine snapshots
// and restores the store; the operator's checkpoint then only holds its
// heap parts (timers, watermark).

// kvShared is the store of one operator instance and its first error.
// State methods cannot return errors; the operator checks err after every
// call into the user function.
type kvShared struct {
	store engine.KeyedStore
	err   error
}

func (s *kvShared) fail(what string, err error) {
	if s.err == nil && err != nil {
		s.err = fmt.Errorf("keyed state store: %s: %w", what, err)
	}
}

// kvState addresses one state in the store.
type kvState[K comparable] struct {
	shared *kvShared
	id     uint32
	kc     Coder[K]
	hash   func(K) uint64
	maxPar int
	kbuf   []byte
	vbuf   []byte
}

// key returns the store key of k (valid until the next call).
func (s *kvState[K]) key(k K) []byte {
	kg := 0
	if s.hash != nil {
		kg = engine.KeyGroup(s.hash(k), s.maxPar)
	}
	b := binary.BigEndian.AppendUint16(s.kbuf[:0], uint16(kg))
	b = binary.BigEndian.AppendUint32(b, s.id)
	b = s.kc.Append(b, k)
	s.kbuf = b
	return b
}

// get returns the raw value of k (valid until the next call).
func (s *kvState[K]) get(k K) ([]byte, bool) {
	v, ok, err := s.shared.store.Get(s.key(k), s.vbuf[:0])
	if err != nil {
		s.shared.fail("get", err)
		return nil, false
	}
	if ok {
		s.vbuf = v
	}
	return v, ok
}

func (s *kvState[K]) set(key, val []byte) {
	if err := s.shared.store.Set(key, val); err != nil {
		s.shared.fail("set", err)
	}
}

func (s *kvState[K]) deleteKey(k K) {
	key := s.key(k)
	// A MapState key has entries under key+user key; a value or list
	// state has exactly key. DeletePrefix covers both: encoded keys are
	// self-delimiting, so no other key starts with these bytes.
	if err := s.shared.store.DeletePrefix(key); err != nil {
		s.shared.fail("delete", err)
	}
}

// deleteExact deletes the entry of k of a value or list state (one store
// key: cheaper than deleteKey's prefix deletion).
func (s *kvState[K]) deleteExact(k K) {
	if err := s.shared.store.Delete(s.key(k)); err != nil {
		s.shared.fail("delete", err)
	}
}

// rangeKeys calls fn for each distinct key of the state (a full scan; for
// tests and tools, not hot paths).
func (s *kvState[K]) rangeKeys(fn func(K) bool) {
	var keys []K
	seen := make(map[K]struct{})
	err := s.shared.store.Scan(nil, func(k, _ []byte) bool {
		if len(k) < 6 || binary.BigEndian.Uint32(k[2:6]) != s.id {
			return true
		}
		key, _, err := s.kc.Decode(k[6:])
		if err != nil {
			return true
		}
		if _, ok := seen[key]; !ok {
			seen[key] = struct{}{}
			keys = append(keys, key)
		}
		return true
	})
	if err != nil {
		s.shared.fail("scan", err)
		return
	}
	for _, k := range keys {
		if !fn(k) {
			return
		}
	}
}

func kvGetValue[K comparable, V any](s *kvState[K], vc Coder[V], k K) (V, bool) {
	var zero V
	raw, ok := s.get(k)
	if !ok {
		return zero, false
	}
	v, _, err := vc.Decode(raw)
	if err != nil {
		s.shared.fail("decoding a value", err)
		return zero, false
	}
	return v, true
}

func kvSetValue[K comparable, V any](s *kvState[K], vc Coder[V], k K, v V) {
	s.vbuf = vc.Append(s.vbuf[:0], v)
	s.set(s.key(k), s.vbuf)
}

func kvGetList[K comparable, V any](s *kvState[K], vc Coder[V], k K) []V {
	raw, ok := s.get(k)
	if !ok {
		return nil
	}
	var out []V
	for len(raw) > 0 {
		v, n, err := vc.Decode(raw)
		if err != nil || n <= 0 {
			s.shared.fail("decoding a list", fmt.Errorf("%w: list element", ErrCorruptRecord))
			return out
		}
		out = append(out, v)
		raw = raw[n:]
	}
	return out
}

func kvAddList[K comparable, V any](s *kvState[K], vc Coder[V], k K, v V) {
	if a, ok := s.shared.store.(engine.KeyedStoreAppender); ok {
		// A list is the concatenation of its elements: append in place.
		s.vbuf = vc.Append(s.vbuf[:0], v)
		if err := a.Append(s.key(k), s.vbuf); err != nil {
			s.shared.fail("append", err)
		}
		return
	}
	raw, _ := s.get(k) // in s.vbuf, or nil
	s.vbuf = vc.Append(raw, v)
	s.set(s.key(k), s.vbuf)
}

func kvSetList[K comparable, V any](s *kvState[K], vc Coder[V], k K, vs []V) {
	b := s.vbuf[:0]
	for _, v := range vs {
		b = vc.Append(b, v)
	}
	s.vbuf = b
	if len(vs) == 0 {
		s.deleteExact(k)
		return
	}
	s.set(s.key(k), b)
}

// mapKey returns the store key of (k, uk).
func kvMapKey[K, UK comparable](s *kvState[K], ukc Coder[UK], k K, uk UK) []byte {
	b := ukc.Append(s.key(k), uk)
	s.kbuf = b
	return b
}

func kvMapGet[K, UK comparable, UV any](s *kvState[K], ukc Coder[UK], uvc Coder[UV], k K, uk UK) (UV, bool) {
	var zero UV
	raw, ok, err := s.shared.store.Get(kvMapKey(s, ukc, k, uk), s.vbuf[:0])
	if err != nil {
		s.shared.fail("get", err)
		return zero, false
	}
	if !ok {
		return zero, false
	}
	s.vbuf = raw
	v, _, err := uvc.Decode(raw)
	if err != nil {
		s.shared.fail("decoding a map value", err)
		return zero, false
	}
	return v, true
}

func kvMapPut[K, UK comparable, UV any](s *kvState[K], ukc Coder[UK], uvc Coder[UV], k K, uk UK, uv UV) {
	key := kvMapKey(s, ukc, k, uk)
	s.vbuf = uvc.Append(s.vbuf[:0], uv)
	s.set(key, s.vbuf)
}

func kvMapRemove[K, UK comparable](s *kvState[K], ukc Coder[UK], k K, uk UK) {
	if err := s.shared.store.Delete(kvMapKey(s, ukc, k, uk)); err != nil {
		s.shared.fail("delete", err)
	}
}

func kvMapLen[K comparable](s *kvState[K], k K) int {
	n := 0
	if err := s.shared.store.Scan(s.key(k), func(_, _ []byte) bool { n++; return true }); err != nil {
		s.shared.fail("scan", err)
	}
	return n
}

// kvMapRange reads the entries of k first, so that fn may modify the
// state (the store must not change during a Scan).
func kvMapRange[K, UK comparable, UV any](s *kvState[K], ukc Coder[UK], uvc Coder[UV], k K, fn func(UK, UV) bool) {
	prefix := s.key(k)
	var uks []UK
	var uvs []UV
	err := s.shared.store.Scan(prefix, func(key, val []byte) bool {
		uk, _, err := ukc.Decode(key[len(prefix):])
		if err != nil {
			s.shared.fail("decoding a map key", err)
			return false
		}
		uv, _, err := uvc.Decode(val)
		if err != nil {
			s.shared.fail("decoding a map value", err)
			return false
		}
		uks, uvs = append(uks, uk), append(uvs, uv)
		return true
	})
	if err != nil {
		s.shared.fail("scan", err)
		return
	}
	for i := range uks {
		if !fn(uks[i], uvs[i]) {
			return
		}
	}
}
