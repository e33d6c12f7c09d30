package dag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/dagflow/dagflow/dag/engine"
)

// This file holds the binary layout of operator state snapshots, shared by
// every stateful operator.
//
// A key group blob (StateWriter.KeyGroup) and an operator blob
// (StateWriter.Operator) have the same self-describing layout:
//
//	magic 'd' 'S', version (1 byte)
//	uvarint number of sections
//	per section:
//	  name   (uvarint length + bytes)  state name; internal names start with 0x00
//	  kind   (1 byte)                  what the entries are (stateKind)
//	  count  (uvarint)                 number of entries
//	  length (uvarint) + payload       the entries, encoded with the state's coders
//
// A section's payload is framed by its length, so a reader can skip a
// state it does not know (when non-restored state is allowed). Entry
// layouts per kind are documented at the stateKind constants. Keys and
// values are encoded with their Coder (self-delimiting); timestamps are
// zig-zag varints.

const (
	snapMagic0  byte = 'd'
	snapMagic1  byte = 'S'
	snapVersion byte = 1
)

// stateKind says what the entries of a snapshot section are.
type stateKind byte

const (
	// kindValue: key, value.
	kindValue stateKind = 1
	// kindList: key, uvarint n, n values.
	kindList stateKind = 2
	// kindMap: key, uvarint n, n (user key, user value).
	kindMap stateKind = 3
	// kindReducing: key, value.
	kindReducing stateKind = 4
	// kindTimers: key, varint timestamp; in firing order per key group.
	kindTimers stateKind = 5
	// kindAccumulators: key, accumulator (Aggregate, Reduce).
	kindAccumulators stateKind = 6
	// kindWindowAccs: varint window start, key, accumulator.
	kindWindowAccs stateKind = 7
	// kindSessions: key, uvarint n, n (varint start, varint end, accumulator).
	kindSessions stateKind = 8
	// kindJoinCells: varint window start, key, uvarint nl, nl left
	// records, uvarint nr, nr right records.
	kindJoinCells stateKind = 9
	// kindWatermark: varint watermark (operator state, one entry).
	kindWatermark stateKind = 10
	// kindPartials: key, accumulator (operator state of a combiner).
	kindPartials stateKind = 11
)

// String names the kind as in error messages.
func (k stateKind) String() string {
	switch k {
	case kindValue:
		return "value"
	case kindList:
		return "list"
	case kindMap:
		return "map"
	case kindReducing:
		return "reducing"
	case kindTimers:
		return "timers"
	case kindAccumulators:
		return "accumulators"
	case kindWindowAccs:
		return "window accumulators"
	case kindSessions:
		return "sessions"
	case kindJoinCells:
		return "window join buffers"
	case kindWatermark:
		return "watermark"
	case kindPartials:
		return "partial accumulators"
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

// Names of internal sections. They start with a 0 byte, which user state
// names cannot.
const (
	secEventTimers = "\x00event-timers"
	secProcTimers  = "\x00processing-timers"
	secWatermark   = "\x00watermark"
	secAccs        = "\x00accumulators"
	secWindows     = "\x00windows"
	secSessions    = "\x00sessions"
	secJoin        = "\x00join-buffers"
	secPartials    = "\x00partials"
)

// displayName returns a section name for messages.
func displayName(name string) string {
	if strings.HasPrefix(name, "\x00") {
		return "internal " + name[1:]
	}
	return fmt.Sprintf("%q", name)
}

// kgPayloads collects the entries of one section per key group during
// serialization.
type kgPayloads struct {
	data   [][]byte // by key group
	counts []int
}

func newKGPayloads(maxPar int) *kgPayloads {
	return &kgPayloads{data: make([][]byte, maxPar), counts: make([]int, maxPar)}
}

// keyedSnapshot assembles key group blobs section by section.
type keyedSnapshot struct {
	maxPar   int
	blobs    [][]byte // sections by key group
	sections []int
}

func newKeyedSnapshot(maxPar int) *keyedSnapshot {
	return &keyedSnapshot{maxPar: maxPar, blobs: make([][]byte, maxPar), sections: make([]int, maxPar)}
}

// add appends the section name/kind to every key group with entries.
func (s *keyedSnapshot) add(name string, kind stateKind, p *kgPayloads) {
	for kg, n := range p.counts {
		if n == 0 {
			continue
		}
		s.blobs[kg] = appendSection(s.blobs[kg], name, kind, n, p.data[kg])
		s.sections[kg]++
		p.data[kg] = nil
	}
}

// writeTo writes the key groups with state in ascending order.
func (s *keyedSnapshot) writeTo(w engine.StateWriter) error {
	for kg, blob := range s.blobs {
		if s.sections[kg] == 0 {
			continue
		}
		out := make([]byte, 0, len(blob)+8)
		out = append(out, snapMagic0, snapMagic1, snapVersion)
		out = binary.AppendUvarint(out, uint64(s.sections[kg]))
		out = append(out, blob...)
		s.blobs[kg] = nil
		if err := w.KeyGroup(kg, out); err != nil {
			return fmt.Errorf("writing key group %d: %w", kg, err)
		}
	}
	return nil
}

func appendSection(dst []byte, name string, kind stateKind, count int, payload []byte) []byte {
	dst = StringCoder{}.Append(dst, name)
	dst = append(dst, byte(kind))
	dst = binary.AppendUvarint(dst, uint64(count))
	dst = binary.AppendUvarint(dst, uint64(len(payload)))
	return append(dst, payload...)
}

// operatorBlob is an operator (non-keyed) state blob under construction.
type operatorBlob struct {
	n   int
	buf []byte
}

func (b *operatorBlob) add(name string, kind stateKind, count int, payload []byte) {
	b.buf = appendSection(b.buf, name, kind, count, payload)
	b.n++
}

func (b *operatorBlob) bytes() []byte {
	out := append(make([]byte, 0, len(b.buf)+8), snapMagic0, snapMagic1, snapVersion)
	out = binary.AppendUvarint(out, uint64(b.n))
	return append(out, b.buf...)
}

// watermarkBlob returns an operator blob holding only wm.
func watermarkBlob(wm int64) []byte {
	var b operatorBlob
	b.add(secWatermark, kindWatermark, 1, binary.AppendVarint(nil, wm))
	return b.bytes()
}

// section is one decoded section.
type section struct {
	name    string
	kind    stateKind
	count   int
	payload []byte
}

// parseBlob splits a blob into its sections.
func parseBlob(blob []byte) ([]section, error) {
	if len(blob) < 3 || blob[0] != snapMagic0 || blob[1] != snapMagic1 {
		return nil, fmt.Errorf("%w: not an operator state blob (%d bytes)", ErrCorruptRecord, len(blob))
	}
	if blob[2] != snapVersion {
		return nil, fmt.Errorf("%w: operator state layout version %d, this build reads %d", ErrCorruptRecord, blob[2], snapVersion)
	}
	r := snapReader{b: blob[3:]}
	n := r.uvarint()
	if r.err == nil && n > uint64(len(blob)) {
		return nil, fmt.Errorf("%w: %d sections in %d bytes", ErrCorruptRecord, n, len(blob))
	}
	secs := make([]section, 0, int(n))
	for i := uint64(0); i < n && r.err == nil; i++ {
		var s section
		s.name = r.str()
		s.kind = stateKind(r.byte())
		c := r.uvarint()
		l := r.uvarint()
		if r.err != nil {
			break
		}
		if l > uint64(len(r.b)) || c > l+1 {
			return nil, fmt.Errorf("%w: section %s: %d entries in %d bytes, %d left", ErrCorruptRecord, displayName(s.name), c, l, len(r.b))
		}
		s.count, s.payload = int(c), r.b[:l]
		r.b = r.b[l:]
		secs = append(secs, s)
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last section", ErrCorruptRecord, len(r.b))
	}
	return secs, nil
}

// snapReader decodes a payload; the first error sticks.
type snapReader struct {
	b   []byte
	err error
}

func (r *snapReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated or bad %s", ErrCorruptRecord, what)
	}
}

func (r *snapReader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail("byte")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *snapReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("uvarint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a uvarint count that cannot exceed the bytes left.
func (r *snapReader) count() int {
	v := r.uvarint()
	if r.err == nil && v > uint64(len(r.b)) {
		r.fail("count")
		return 0
	}
	return int(v)
}

func (r *snapReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *snapReader) str() string {
	if r.err != nil {
		return ""
	}
	s, n, err := StringCoder{}.Decode(r.b)
	if err != nil {
		r.err = err
		return ""
	}
	r.b = r.b[n:]
	return s
}

// snapDecode decodes one value with c.
func snapDecode[T any](r *snapReader, c Coder[T]) T {
	var zero T
	if r.err != nil {
		return zero
	}
	v, n, err := c.Decode(r.b)
	if err != nil {
		r.err = err
		return zero
	}
	if n < 0 || n > len(r.b) {
		r.fail("value")
		return zero
	}
	r.b = r.b[n:]
	return v
}

// done checks that the payload was consumed exactly.
func (r *snapReader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d bytes after the last entry", ErrCorruptRecord, len(r.b))
	}
	return r.err
}

// sectionHandler restores one named section.
type sectionHandler struct {
	kind    stateKind
	restore func(s section) error
}

// restoreSections dispatches the sections of every blob to handlers, in
// ascending key group order for keyed blobs. A section without a handler
// is an error naming the operator and state unless allowNonRestored.
func restoreSections(opName string, blobs [][]byte, handlers map[string]sectionHandler, allowNonRestored bool) error {
	for i, blob := range blobs {
		secs, err := parseBlob(blob)
		if err != nil {
			return fmt.Errorf("dag: %s: restoring state blob %d: %w", opName, i, err)
		}
		for _, s := range secs {
			h, ok := handlers[s.name]
			if !ok {
				if allowNonRestored {
					continue
				}
				return fmt.Errorf("%w: %s: checkpointed %s state %s is not declared by the operator any more (allow non-restored state to drop it)",
					ErrStateMismatch, opName, s.kind, displayName(s.name))
			}
			if h.kind != s.kind {
				return fmt.Errorf("%w: %s: state %s was checkpointed as %s state, the operator now declares %s state",
					ErrStateMismatch, opName, displayName(s.name), s.kind, h.kind)
			}
			if err := h.restore(s); err != nil {
				return fmt.Errorf("dag: %s: restoring state %s: %w", opName, displayName(s.name), err)
			}
		}
	}
	return nil
}

// ErrStateMismatch is wrapped by RestoreState when a checkpoint holds state
// the operator does not declare (or declares with another kind).
var ErrStateMismatch = errors.New("dag: checkpointed state does not match the operator")

// keyGroupBlobs returns the key group blobs of st in ascending key group
// order.
func keyGroupBlobs(st *engine.RestoredState) [][]byte {
	if st == nil {
		return nil
	}
	kgs := make([]int, 0, len(st.KeyGroups))
	for kg := range st.KeyGroups {
		kgs = append(kgs, kg)
	}
	slices.Sort(kgs)
	out := make([][]byte, len(kgs))
	for i, kg := range kgs {
		out[i] = st.KeyGroups[kg]
	}
	return out
}

// restoredWatermark returns the minimum watermark over the operator blobs
// of the previous subtasks, or MinTime when there is none. At an aligned
// checkpoint every subtask of a keyed operator has seen the same
// watermarks on every channel (each upstream subtask sends its watermarks
// to all channels before the barrier), so the values are equal and the
// minimum is exact; when they differ (idle inputs, unaligned barriers) the
// minimum never treats a record as late that one of the old subtasks
// accepted, at the price of possibly firing a window again (an update, as
// with allowed lateness).
func restoredWatermark(opName string, st *engine.RestoredState, extra map[string]sectionHandler, allowNonRestored bool) (int64, error) {
	wm, seen := MaxTime, false
	h := map[string]sectionHandler{secWatermark: {kind: kindWatermark, restore: func(s section) error {
		r := snapReader{b: s.payload}
		v := r.varint()
		if err := r.done(); err != nil {
			return err
		}
		wm, seen = min(wm, v), true
		return nil
	}}}
	for name, x := range extra {
		h[name] = x
	}
	var blobs [][]byte
	if st != nil {
		blobs = st.Operator
	}
	if err := restoreSections(opName, blobs, h, allowNonRestored); err != nil {
		return MinTime, err
	}
	if !seen {
		return MinTime, nil
	}
	return wm, nil
}

// hasMutableRefs reports whether values of t can change without an
// assignment to the variable holding them (pointers, slices, maps,
// channels, functions, interfaces). A snapshot shares values of other
// types with the live state; values with references are encoded during
// the synchronous phase instead.
func hasMutableRefs(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Chan, reflect.Func, reflect.Interface, reflect.UnsafePointer:
		return true
	case reflect.Array:
		return t.Len() > 0 && hasMutableRefs(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasMutableRefs(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}

// normMaxPar returns the number of key groups to use (at least 1).
func normMaxPar(maxPar int) int {
	if maxPar < 1 {
		return 1
	}
	return maxPar
}

// errNoCoder reports a state type that cannot be checkpointed.
func errNoCoder(opName, state, what string, t reflect.Type) error {
	return fmt.Errorf("dag: %s: cannot checkpoint %s of state %s: type %v has no coder (give it MarshalBinary/UnmarshalBinary)",
		opName, what, displayName(state), t)
}
