package dag

import (
	"fmt"
	"math"
	"strings"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// keyHasher returns a deterministic hash for keys of type K: the same key
// hashes the same in every process, so hash partitioning and key groups
// agree across the cluster. Scalars and strings hash without allocation;
// other key types hash their Coder encoding.
func keyHasher[K comparable]() (func(K) uint64, error) {
	var zero K
	switch any(zero).(type) {
	case string:
		return func(k K) uint64 { return xxhash.Sum64String(*(*string)(unsafe.Pointer(&k))) }, nil
	case int64, uint64, int, uint:
		return func(k K) uint64 { return mix64(*(*uint64)(unsafe.Pointer(&k))) }, nil
	case int32, uint32:
		return func(k K) uint64 { return mix64(uint64(*(*uint32)(unsafe.Pointer(&k)))) }, nil
	case int16, uint16:
		return func(k K) uint64 { return mix64(uint64(*(*uint16)(unsafe.Pointer(&k)))) }, nil
	case int8, uint8, bool:
		return func(k K) uint64 { return mix64(uint64(*(*uint8)(unsafe.Pointer(&k)))) }, nil
	case float64:
		return func(k K) uint64 {
			f := *(*float64)(unsafe.Pointer(&k))
			if f == 0 { // +0 and -0 are equal keys
				f = 0
			}
			return mix64(math.Float64bits(f))
		}, nil
	}
	c := CoderFor[K]()
	if c == nil {
		return nil, fmt.Errorf("key type %T has no coder to hash it; use a scalar or string key or give the type MarshalBinary/UnmarshalBinary", zero)
	}
	return func(k K) uint64 {
		var buf [64]byte
		return xxhash.Sum64(c.Append(buf[:0], k))
	}, nil
}

// mix64 is a 64-bit finalizer (from splitmix64) so that sequential integer
// keys spread over key groups.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// keyCloner returns a function that copies a key before an operator keeps
// it in state, so string keys sliced from a large input buffer do not pin
// the buffer. For other key types it returns nil (no copy needed).
func keyCloner[K comparable]() func(K) K {
	var zero K
	if _, ok := any(zero).(string); ok {
		return func(k K) K {
			s := strings.Clone(*(*string)(unsafe.Pointer(&k)))
			return *(*K)(unsafe.Pointer(&s))
		}
	}
	return nil
}
