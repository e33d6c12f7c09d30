package dag

import (
	"encoding/binary"
	"fmt"

	"github.com/dagflow/dagflow/dag/engine"
)

// The Pebble backend of session windows. The sessions of a key are one
// store entry
//
//	key group (2) | state id (4) | encoded key  ->  count, then per session:
//	    start, end (varints), fire and cleanup timer sequence numbers
//	    (uvarints, 0 = none), accumulator
//
// The operator's keys map is then a write-back cache of decoded session
// lists (an empty list stands for a deletion), bounded by kvCacheKeys and
// written to the store when full, at a snapshot and before the restore
// scan. Timers stay on the heap and are not checkpointed: a restore scans
// the store and pushes, for every session, the timers it names by their
// sequence numbers, as the heap backend rebuilds them from its sessions.

const sessionStateName = "\x00session-windows"

// sessionKV is the keyed store of a session window operator.
type sessionKV[K comparable, A any] struct {
	kv    *kvState[K]
	ac    Coder[A]
	clone func(K) K
	buf   []byte
}

func newSessionKV[K comparable, A any](oc *engine.OperatorContext, hash func(K) uint64) (*sessionKV[K, A], error) {
	shared, kc, err := openKeyedStore[K](oc)
	if err != nil || shared == nil {
		return nil, err
	}
	ac := CoderFor[A]()
	if ac == nil {
		return nil, fmt.Errorf("%w: %s: the session accumulators: type %v has no coder (give it MarshalBinary/UnmarshalBinary), which the Pebble state backend needs",
			ErrInvalid, oc.Name, typeOf[A]())
	}
	return &sessionKV[K, A]{ac: ac, clone: keyCloner[K](),
		kv: &kvState[K]{shared: shared, id: stateID(sessionStateName), kc: kc, hash: hash, maxPar: normMaxPar(oc.MaxParallelism)}}, nil
}

func (s *sessionKV[K, A]) encode(dst []byte, l *sessionList[A]) []byte {
	dst = appendUvarint(dst, len(l.s))
	for i := range l.s {
		x := &l.s[i]
		dst = binary.AppendVarint(binary.AppendVarint(dst, x.start), x.end)
		dst = binary.AppendUvarint(binary.AppendUvarint(dst, x.fireSeq), x.cleanSeq)
		dst = s.ac.Append(dst, x.acc)
	}
	return dst
}

func (s *sessionKV[K, A]) decode(raw []byte) ([]session[A], error) {
	r := snapReader{b: raw}
	n := r.count()
	ss := make([]session[A], 0, n)
	for range n {
		var x session[A]
		x.start, x.end = r.varint(), r.varint()
		x.fireSeq, x.cleanSeq = r.uvarint(), r.uvarint()
		x.acc = snapDecode(&r, s.ac)
		if r.err != nil {
			break
		}
		if x.end <= x.start || len(ss) > 0 && x.start <= ss[len(ss)-1].end {
			return nil, fmt.Errorf("%w: session [%d, %d) of a key overlaps or is empty", ErrCorruptRecord, x.start, x.end)
		}
		ss = append(ss, x)
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	return ss, nil
}

// load returns the stored sessions of k, or nil.
func (s *sessionKV[K, A]) load(k K) []session[A] {
	raw, ok := s.kv.get(k)
	if !ok {
		return nil
	}
	ss, err := s.decode(raw)
	if err != nil {
		s.kv.shared.fail("decoding sessions", err)
		return nil
	}
	return ss
}

// store writes the sessions of k (deletes them when there are none).
func (s *sessionKV[K, A]) store(k K, l *sessionList[A]) {
	if len(l.s) == 0 {
		s.kv.deleteExact(k)
		return
	}
	s.buf = s.encode(s.buf[:0], l)
	s.kv.set(s.kv.key(k), s.buf)
}

// scan calls fn for the sessions of every stored key.
func (s *sessionKV[K, A]) scan(fn func(K, []session[A]) error) error {
	var ferr error
	err := s.kv.shared.store.Scan(nil, func(key, val []byte) bool {
		if len(key) < 6 || binary.BigEndian.Uint32(key[2:6]) != s.kv.id {
			return true
		}
		k, _, err := s.kv.kc.Decode(key[6:])
		if err != nil {
			ferr = fmt.Errorf("decoding a key: %w", err)
			return false
		}
		ss, err := s.decode(val)
		if err != nil {
			ferr = err
			return false
		}
		if s.clone != nil {
			k = s.clone(k)
		}
		ferr = fn(k, ss)
		return ferr == nil
	})
	if err != nil {
		return err
	}
	return ferr
}

func (s *sessionKV[K, A]) err(opName string) error {
	if s.kv.shared.err != nil {
		return fmt.Errorf("dag: %s: %w", opName, s.kv.shared.err)
	}
	return nil
}
