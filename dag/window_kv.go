package dag

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/dagflow/dagflow/dag/engine"
)

// The Pebble backend of tumbling and sliding windows. Store keys are
//
//	key group (2) | state id (4) | window start (8, sign bit flipped) | encoded key   -> accumulator
//	key group (2) | marker id (4) | window start (8, sign bit flipped)                -> (empty)
//
// so that firing or purging a window is one prefix scan or deletion per
// key group that has entries in it, and a marker per key group and window
// lets a restored subtask find its windows with one seek per key group.
// In memory there is only the set of windows with their key groups (and,
// during one input batch, the accumulators the batch touched).

const (
	winAccStateName    = "\x00window-accumulators"
	winMarkerStateName = "\x00window-markers"
)

// windowKV is the keyed store of a window operator.
type windowKV[K comparable, A any] struct {
	shared       *kvShared
	kc           Coder[K]
	ac           Coder[A]
	hash         func(K) uint64
	maxPar       int
	from, to     int // the subtask's key groups
	accID, marID uint32
	// known holds every window with state: start -> key groups (bits,
	// relative to from) with entries.
	known map[int64][]uint64
	kbuf  []byte
	vbuf  []byte
}

func newWindowKV[K comparable, A any](oc *engine.OperatorContext, shared *kvShared, kc Coder[K], hash func(K) uint64) (*windowKV[K, A], error) {
	ac := CoderFor[A]()
	if ac == nil {
		return nil, fmt.Errorf("%w: %s: the window accumulators: type %v has no coder (give it MarshalBinary/UnmarshalBinary), which the Pebble state backend needs",
			ErrInvalid, oc.Name, typeOf[A]())
	}
	maxPar := normMaxPar(oc.MaxParallelism)
	from, to := engine.KeyGroupRange(oc.Subtask, maxPar, max(oc.Parallelism, 1))
	return &windowKV[K, A]{shared: shared, kc: kc, ac: ac, hash: hash, maxPar: maxPar, from: from, to: to,
		accID: stateID(winAccStateName), marID: stateID(winMarkerStateName), known: make(map[int64][]uint64)}, nil
}

func (w *windowKV[K, A]) kg(k K) int {
	if w.hash == nil {
		return 0
	}
	return engine.KeyGroup(w.hash(k), w.maxPar)
}

// prefix appends key group, id and window start to dst.
func winPrefix(dst []byte, kg int, id uint32, start int64) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(kg))
	dst = binary.BigEndian.AppendUint32(dst, id)
	return binary.BigEndian.AppendUint64(dst, uint64(start)^(1<<63))
}

func (w *windowKV[K, A]) accKey(kg int, start int64, k K) []byte {
	w.kbuf = w.kc.Append(winPrefix(w.kbuf[:0], kg, w.accID, start), k)
	return w.kbuf
}

// get returns the stored accumulator of k in the window at start.
func (w *windowKV[K, A]) get(start int64, k K) (A, bool) {
	var zero A
	bits := w.known[start]
	kg := w.kg(k)
	if bits == nil || kg < w.from || kg >= w.to || bits[(kg-w.from)/64]&(1<<((kg-w.from)%64)) == 0 {
		return zero, false // no entry of this key group in the window
	}
	raw, ok, err := w.shared.store.Get(w.accKey(kg, start, k), w.vbuf[:0])
	if err != nil {
		w.shared.fail("get", err)
		return zero, false
	}
	if !ok {
		return zero, false
	}
	w.vbuf = raw
	a, _, err := w.ac.Decode(raw)
	if err != nil {
		w.shared.fail("decoding a window accumulator", err)
		return zero, false
	}
	return a, true
}

// set stores the accumulator of k in the window at start, and the
// window's marker of k's key group when it is the first entry there.
func (w *windowKV[K, A]) set(start int64, k K, a A) {
	kg := w.kg(k)
	if kg < w.from || kg >= w.to {
		w.shared.fail("set", fmt.Errorf("key group %d outside the subtask's [%d, %d)", kg, w.from, w.to))
		return
	}
	bs := w.known[start]
	if bs == nil {
		bs = make([]uint64, (w.to-w.from+63)/64)
		w.known[start] = bs
	}
	if i, bit := (kg-w.from)/64, uint64(1)<<((kg-w.from)%64); bs[i]&bit == 0 {
		bs[i] |= bit
		if err := w.shared.store.Set(winPrefix(w.kbuf[:0], kg, w.marID, start), nil); err != nil {
			w.shared.fail("set", err)
			return
		}
	}
	w.vbuf = w.ac.Append(w.vbuf[:0], a)
	if err := w.shared.store.Set(w.accKey(kg, start, k), w.vbuf); err != nil {
		w.shared.fail("set", err)
	}
}

// keyGroups calls fn for each key group with entries in the window.
func (w *windowKV[K, A]) keyGroups(start int64, fn func(kg int) bool) {
	for i, word := range w.known[start] {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			word &^= 1 << b
			if !fn(w.from + i*64 + b) {
				return
			}
		}
	}
}

// rangeWindow calls fn for every entry of the window at start until fn
// returns false. fn must not modify the store.
func (w *windowKV[K, A]) rangeWindow(start int64, fn func(K, A) bool) {
	var prefix []byte
	w.keyGroups(start, func(kg int) bool {
		prefix = winPrefix(prefix[:0], kg, w.accID, start)
		cont := true
		err := w.shared.store.Scan(prefix, func(key, val []byte) bool {
			k, _, err := w.kc.Decode(key[len(prefix):])
			if err != nil {
				w.shared.fail("decoding a key", err)
				cont = false
				return false
			}
			a, _, err := w.ac.Decode(val)
			if err != nil {
				w.shared.fail("decoding a window accumulator", err)
				cont = false
				return false
			}
			cont = fn(k, a)
			return cont
		})
		if err != nil {
			w.shared.fail("scan", err)
			return false
		}
		return cont
	})
}

// purge deletes the window at start.
func (w *windowKV[K, A]) purge(start int64) {
	var prefix []byte
	w.keyGroups(start, func(kg int) bool {
		prefix = winPrefix(prefix[:0], kg, w.accID, start)
		if err := w.shared.store.DeletePrefix(prefix); err != nil {
			w.shared.fail("delete", err)
			return false
		}
		if err := w.shared.store.Delete(winPrefix(prefix[:0], kg, w.marID, start)); err != nil {
			w.shared.fail("delete", err)
			return false
		}
		return true
	})
	delete(w.known, start)
}

// load finds the windows of the store (after a restore) from their
// markers and calls fn for each new one.
func (w *windowKV[K, A]) load(fn func(start int64)) {
	var prefix []byte
	for kg := w.from; kg < w.to; kg++ {
		prefix = binary.BigEndian.AppendUint16(prefix[:0], uint16(kg))
		prefix = binary.BigEndian.AppendUint32(prefix, w.marID)
		err := w.shared.store.Scan(prefix, func(key, _ []byte) bool {
			if len(key) != len(prefix)+8 {
				w.shared.fail("scan", fmt.Errorf("%w: window marker of %d bytes", ErrCorruptRecord, len(key)))
				return false
			}
			start := int64(binary.BigEndian.Uint64(key[len(prefix):]) ^ (1 << 63))
			bs := w.known[start]
			if bs == nil {
				bs = make([]uint64, (w.to-w.from+63)/64)
				w.known[start] = bs
				fn(start)
			}
			bs[(kg-w.from)/64] |= 1 << ((kg - w.from) % 64)
			return true
		})
		if err != nil {
			w.shared.fail("scan", err)
			return
		}
	}
}

func (w *windowKV[K, A]) err(opName string) error {
	if w.shared.err != nil {
		return fmt.Errorf("dag: %s: %w", opName, w.shared.err)
	}
	return nil
}
