package dag

import (
	"encoding"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"reflect"

	"github.com/dagflow/dagflow/dag/engine"
)

// Coder encodes values of T to bytes and back. Encodings must be
// self-delimiting (Decode reports how many bytes it used) and deterministic
// (equal values encode equally: keys are hashed from their encoding).
type Coder[T any] interface {
	// Append appends the encoding of v to dst.
	Append(dst []byte, v T) []byte
	// Decode decodes one value from the front of src and returns it and
	// the number of bytes consumed. Malformed input returns an error,
	// never a panic.
	Decode(src []byte) (T, int, error)
}

// ErrCorruptRecord is wrapped by coders on malformed input.
var ErrCorruptRecord = engine.ErrCorruptRecord

// CoderFor returns the built-in coder for T, or nil when T has none:
// strings, []byte, bool, all integer and float kinds, KV and WindowResult
// of such types, and types implementing encoding.BinaryMarshaler with a
// pointer receiver implementing encoding.BinaryUnmarshaler.
func CoderFor[T any]() Coder[T] {
	var zero T
	var c any
	switch any(zero).(type) {
	case string:
		c = StringCoder{}
	case []byte:
		c = BytesCoder{}
	case bool:
		c = BoolCoder{}
	case int64:
		c = VarintCoder[int64]{}
	case int:
		c = VarintCoder[int]{}
	case int32:
		c = VarintCoder[int32]{}
	case int16:
		c = VarintCoder[int16]{}
	case int8:
		c = VarintCoder[int8]{}
	case uint64:
		c = UvarintCoder[uint64]{}
	case uint:
		c = UvarintCoder[uint]{}
	case uint32:
		c = UvarintCoder[uint32]{}
	case uint16:
		c = UvarintCoder[uint16]{}
	case uint8:
		c = UvarintCoder[uint8]{}
	case float64:
		c = Float64Coder{}
	case float32:
		c = Float32Coder{}
	case struct{}:
		c = emptyCoder{}
	case composite:
		c = any(zero).(composite).coder()
	default:
		if reflect.PointerTo(reflect.TypeFor[T]()).Implements(reflect.TypeFor[encoding.BinaryUnmarshaler]()) &&
			reflect.TypeFor[T]().Implements(reflect.TypeFor[encoding.BinaryMarshaler]()) {
			c = binaryCoder[T]{}
		}
	}
	if c == nil {
		return nil
	}
	// A composite whose parts lack coders returns a typed nil.
	tc, ok := c.(Coder[T])
	if !ok || reflect.ValueOf(c).Kind() == reflect.Pointer && reflect.ValueOf(c).IsNil() {
		return nil
	}
	return tc
}

// composite types know how to build their coder from their parts.
type composite interface{ coder() any }

// StringCoder encodes a string as a uvarint length and its bytes.
type StringCoder struct{}

// Append implements Coder.
func (StringCoder) Append(dst []byte, v string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	return append(dst, v...)
}

// Decode implements Coder.
func (StringCoder) Decode(src []byte) (string, int, error) {
	n, k := binary.Uvarint(src)
	if k <= 0 || uint64(len(src)-k) < n {
		return "", 0, fmt.Errorf("%w: string length", ErrCorruptRecord)
	}
	return string(src[k : k+int(n)]), k + int(n), nil
}

// BytesCoder encodes a byte slice as a uvarint length and its bytes.
type BytesCoder struct{}

// Append implements Coder.
func (BytesCoder) Append(dst []byte, v []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	return append(dst, v...)
}

// Decode implements Coder. The result is a copy.
func (BytesCoder) Decode(src []byte) ([]byte, int, error) {
	n, k := binary.Uvarint(src)
	if k <= 0 || uint64(len(src)-k) < n {
		return nil, 0, fmt.Errorf("%w: bytes length", ErrCorruptRecord)
	}
	out := make([]byte, n)
	copy(out, src[k:])
	return out, k + int(n), nil
}

// BoolCoder encodes a bool as one byte.
type BoolCoder struct{}

// Append implements Coder.
func (BoolCoder) Append(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// Decode implements Coder.
func (BoolCoder) Decode(src []byte) (bool, int, error) {
	if len(src) < 1 || src[0] > 1 {
		return false, 0, fmt.Errorf("%w: bool", ErrCorruptRecord)
	}
	return src[0] == 1, 1, nil
}

// Signed is the set of signed integer types.
type Signed interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64
}

// Unsigned is the set of unsigned integer types.
type Unsigned interface {
	~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

// VarintCoder encodes signed integers as zig-zag varints.
type VarintCoder[T Signed] struct{}

// Append implements Coder.
func (VarintCoder[T]) Append(dst []byte, v T) []byte { return binary.AppendVarint(dst, int64(v)) }

// Decode implements Coder.
func (VarintCoder[T]) Decode(src []byte) (T, int, error) {
	v, k := binary.Varint(src)
	if k <= 0 || int64(T(v)) != v {
		return 0, 0, fmt.Errorf("%w: varint", ErrCorruptRecord)
	}
	return T(v), k, nil
}

// UvarintCoder encodes unsigned integers as varints.
type UvarintCoder[T Unsigned] struct{}

// Append implements Coder.
func (UvarintCoder[T]) Append(dst []byte, v T) []byte { return binary.AppendUvarint(dst, uint64(v)) }

// Decode implements Coder.
func (UvarintCoder[T]) Decode(src []byte) (T, int, error) {
	v, k := binary.Uvarint(src)
	if k <= 0 || uint64(T(v)) != v {
		return 0, 0, fmt.Errorf("%w: uvarint", ErrCorruptRecord)
	}
	return T(v), k, nil
}

// Float64Coder encodes a float64 as 8 little-endian bytes.
type Float64Coder struct{}

// Append implements Coder.
func (Float64Coder) Append(dst []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
}

// Decode implements Coder.
func (Float64Coder) Decode(src []byte) (float64, int, error) {
	if len(src) < 8 {
		return 0, 0, fmt.Errorf("%w: float64", ErrCorruptRecord)
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(src)), 8, nil
}

// Float32Coder encodes a float32 as 4 little-endian bytes.
type Float32Coder struct{}

// Append implements Coder.
func (Float32Coder) Append(dst []byte, v float32) []byte {
	return binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
}

// Decode implements Coder.
func (Float32Coder) Decode(src []byte) (float32, int, error) {
	if len(src) < 4 {
		return 0, 0, fmt.Errorf("%w: float32", ErrCorruptRecord)
	}
	return math.Float32frombits(binary.LittleEndian.Uint32(src)), 4, nil
}

type emptyCoder struct{}

func (emptyCoder) Append(dst []byte, _ struct{}) []byte     { return dst }
func (emptyCoder) Decode(src []byte) (struct{}, int, error) { return struct{}{}, 0, nil }
func (c binaryCoder[T]) Append(dst []byte, v T) []byte      { return c.append(dst, v) }
func (c binaryCoder[T]) Decode(src []byte) (T, int, error)  { return c.decode(src) }
func (c jsonCoder[T]) Append(dst []byte, v T) []byte        { return c.append(dst, v) }
func (c jsonCoder[T]) Decode(src []byte) (T, int, error)    { return c.decode(src) }
func (c funcCoder[T]) Append(dst []byte, v T) []byte        { return c.enc(dst, v) }
func (c funcCoder[T]) Decode(src []byte) (T, int, error)    { return c.dec(src) }

// binaryCoder frames encoding.BinaryMarshaler output with a length.
type binaryCoder[T any] struct{}

func (binaryCoder[T]) append(dst []byte, v T) []byte {
	b, err := any(v).(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		// Coders cannot fail on encode; a marshaler that fails encodes an
		// empty value that fails on decode with a clear error.
		b = nil
	}
	return BytesCoder{}.Append(dst, b)
}

func (binaryCoder[T]) decode(src []byte) (T, int, error) {
	var v T
	n, k := binary.Uvarint(src)
	if k <= 0 || uint64(len(src)-k) < n {
		return v, 0, fmt.Errorf("%w: binary length", ErrCorruptRecord)
	}
	if err := any(&v).(encoding.BinaryUnmarshaler).UnmarshalBinary(src[k : k+int(n)]); err != nil {
		return v, 0, fmt.Errorf("%w: %v", ErrCorruptRecord, err)
	}
	return v, k + int(n), nil
}

// JSONCoder returns a coder that encodes T with encoding/json. It is
// convenient but slow; prefer a hand-written Coder on hot paths.
func JSONCoder[T any]() Coder[T] { return jsonCoder[T]{} }

type jsonCoder[T any] struct{}

func (jsonCoder[T]) append(dst []byte, v T) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		b = nil
	}
	return BytesCoder{}.Append(dst, b)
}

func (jsonCoder[T]) decode(src []byte) (T, int, error) {
	var v T
	n, k := binary.Uvarint(src)
	if k <= 0 || uint64(len(src)-k) < n {
		return v, 0, fmt.Errorf("%w: json length", ErrCorruptRecord)
	}
	if err := json.Unmarshal(src[k:k+int(n)], &v); err != nil {
		return v, 0, fmt.Errorf("%w: %v", ErrCorruptRecord, err)
	}
	return v, k + int(n), nil
}

// CoderFunc builds a Coder from two functions.
func CoderFunc[T any](enc func(dst []byte, v T) []byte, dec func(src []byte) (T, int, error)) Coder[T] {
	return funcCoder[T]{enc: enc, dec: dec}
}

type funcCoder[T any] struct {
	enc func([]byte, T) []byte
	dec func([]byte) (T, int, error)
}

// KV is a key-value pair, the output of keyed aggregations.
type KV[K, V any] struct {
	Key   K
	Value V
}

func (KV[K, V]) coder() any {
	kc, vc := CoderFor[K](), CoderFor[V]()
	if kc == nil || vc == nil {
		return (*kvCoder[K, V])(nil)
	}
	return &kvCoder[K, V]{k: kc, v: vc}
}

// KVCoder returns a coder for KV[K, V] from coders of its parts.
func KVCoder[K, V any](k Coder[K], v Coder[V]) Coder[KV[K, V]] { return &kvCoder[K, V]{k: k, v: v} }

type kvCoder[K, V any] struct {
	k Coder[K]
	v Coder[V]
}

func (c *kvCoder[K, V]) Append(dst []byte, kv KV[K, V]) []byte {
	return c.v.Append(c.k.Append(dst, kv.Key), kv.Value)
}

func (c *kvCoder[K, V]) Decode(src []byte) (KV[K, V], int, error) {
	var kv KV[K, V]
	k, n, err := c.k.Decode(src)
	if err != nil {
		return kv, 0, err
	}
	v, m, err := c.v.Decode(src[n:])
	if err != nil {
		return kv, 0, err
	}
	kv.Key, kv.Value = k, v
	return kv, n + m, nil
}
