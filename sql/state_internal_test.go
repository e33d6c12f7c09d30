package sql

import (
	"bytes"
	"testing"

	"github.com/dagflow/dagflow/sql/row"
)

// FuzzStateDecoders: the decoders of the planner's accumulators (read
// back from checkpoints and the combiner's records) reject bad bytes with
// an error, never a panic, and what they accept encodes to bytes that
// decode to the same value.
func FuzzStateDecoders(f *testing.F) {
	a, _ := acc{cells: []cell{{set: true, n: 3, i: -7, f: 1.5, b: []byte("xy")}, {}}}.MarshalBinary()
	tr, _ := topRows{rows: []row.Row{row.Row("abc"), row.Row("")}}.MarshalBinary()
	f.Add(a)
	f.Add(tr)
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var x, x2 acc
		if x.UnmarshalBinary(b) == nil {
			e1, _ := x.MarshalBinary()
			if err := x2.UnmarshalBinary(e1); err != nil {
				t.Fatalf("acc: %x re-encoded as %x: %v", b, e1, err)
			}
			if e2, _ := x2.MarshalBinary(); !bytes.Equal(e1, e2) {
				t.Errorf("acc: %x and %x differ", e1, e2)
			}
		}
		var y, y2 topRows
		if y.UnmarshalBinary(b) == nil {
			e1, _ := y.MarshalBinary()
			if err := y2.UnmarshalBinary(e1); err != nil {
				t.Fatalf("topRows: %x re-encoded as %x: %v", b, e1, err)
			}
			if e2, _ := y2.MarshalBinary(); !bytes.Equal(e1, e2) {
				t.Errorf("topRows: %x and %x differ", e1, e2)
			}
		}
	})
}
