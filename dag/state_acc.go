package dag

import (
	"encoding/binary"
	"fmt"

	"github.com/dagflow/dagflow/dag/engine"
)

// Keyed operators other than process functions (Aggregate, Reduce,
// windows, joins) keep their per-key state in the operator instance's
// KeyedStore when the Pebble backend gives them one
// (OperatorContext.KeyedStore): the same layout as process state (see
// state_kv.go), one internal state id per kind of entry. They use their
// Go maps as a write-back cache of the keys one input batch touches, so
// the store is read and written once per key and batch, and the heap
// holds at most a batch's keys.

// openKeyedStore opens the operator's keyed store when the Pebble backend
// is on, or returns nil (heap state). K needs a coder then.
func openKeyedStore[K comparable](oc *engine.OperatorContext) (*kvShared, Coder[K], error) {
	if oc.KeyedStore == nil {
		return nil, nil, nil
	}
	kc := CoderFor[K]()
	if kc == nil {
		return nil, nil, fmt.Errorf("%w: %s: the key type %v has no coder, which the Pebble state backend needs", ErrInvalid, oc.Name, typeOf[K]())
	}
	store, err := oc.KeyedStore()
	if err != nil {
		return nil, nil, fmt.Errorf("dag: %s: opening the keyed state store: %w", oc.Name, err)
	}
	if store == nil {
		return nil, nil, fmt.Errorf("dag: %s: the keyed state store is nil", oc.Name)
	}
	return &kvShared{store: store}, kc, nil
}

// kvValueStore is one internal value-per-key state of an operator in its
// keyed store.
type kvValueStore[K comparable, V any] struct {
	kv *kvState[K]
	vc Coder[V]
}

// newKVValueStore binds the internal state name (see stateID) of an
// operator to shared, or returns an error when V has no coder.
func newKVValueStore[K comparable, V any](oc *engine.OperatorContext, shared *kvShared, kc Coder[K], hash func(K) uint64, name string) (*kvValueStore[K, V], error) {
	vc := CoderFor[V]()
	if vc == nil {
		return nil, fmt.Errorf("%w: %s: %s: type %v has no coder (give it MarshalBinary/UnmarshalBinary), which the Pebble state backend needs",
			ErrInvalid, oc.Name, name, typeOf[V]())
	}
	return &kvValueStore[K, V]{vc: vc,
		kv: &kvState[K]{shared: shared, id: stateID(name), kc: kc, hash: hash, maxPar: normMaxPar(oc.MaxParallelism)}}, nil
}

func (s *kvValueStore[K, V]) get(k K) (V, bool) { return kvGetValue(s.kv, s.vc, k) }
func (s *kvValueStore[K, V]) set(k K, v V)      { kvSetValue(s.kv, s.vc, k, v) }
func (s *kvValueStore[K, V]) del(k K)           { s.kv.deleteExact(k) }

// rangeAll calls fn for every entry of the state, in store order, until
// fn returns false. fn must not modify the store.
func (s *kvValueStore[K, V]) rangeAll(fn func(K, V) bool) {
	id := s.kv.id
	err := s.kv.shared.store.Scan(nil, func(key, val []byte) bool {
		if len(key) < 6 || binary.BigEndian.Uint32(key[2:6]) != id {
			return true
		}
		k, _, err := s.kv.kc.Decode(key[6:])
		if err != nil {
			s.kv.shared.fail("decoding a key", err)
			return false
		}
		v, _, err := s.vc.Decode(val)
		if err != nil {
			s.kv.shared.fail("decoding a value", err)
			return false
		}
		return fn(k, v)
	})
	if err != nil {
		s.kv.shared.fail("scan", err)
	}
}
