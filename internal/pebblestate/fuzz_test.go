package pebblestate

import (
	"testing"

	"github.com/dagflow/dagflow/internal/checkpoint"
)

// FuzzInputFromState decodes arbitrary backend metadata: it must never
// panic, and what it accepts must be a usable key group range.
func FuzzInputFromState(f *testing.F) {
	f.Add([]byte(`{"format":"pebble/1","kgFrom":0,"kgTo":128,"instance":"ab"}`))
	f.Add([]byte(`{"format":"pebble/1","kgFrom":64,"kgTo":32}`))
	f.Add([]byte(`{"format":"pebble/1","kgFrom":0,"kgTo":70000}`))
	f.Add([]byte(`{"format":"rocks"}`))
	f.Add([]byte(`null`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, meta []byte) {
		in, err := InputFromState(checkpoint.OperatorState{BackendMeta: meta})
		if err != nil {
			return
		}
		if in.KeyGroupFrom < 0 || in.KeyGroupTo > maxKeyGroups || in.KeyGroupFrom >= in.KeyGroupTo {
			t.Fatalf("accepted key group range [%d, %d)", in.KeyGroupFrom, in.KeyGroupTo)
		}
	})
}
