package worker

import "runtime/metrics"

// runtimeMemory returns the bytes the Go runtime of this process holds
// from the operating system (runtime/metrics /memory/classes/total:bytes).
func runtimeMemory() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
