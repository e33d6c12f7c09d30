package sql

import (
	"bytes"
	"testing"

	"github.com/dagflow/dagflow/sql/row"
)

// TestParseTimestamp: a TIMESTAMP field is read from Unix milliseconds, the
// SQL form FormatRow writes, or RFC 3339; anything else is an error.
func TestParseTimestamp(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "1767225601000", want: 1767225601000},
		{in: "2026-01-01 00:00:01", want: 1767225601000},
		{in: "2026-01-01 00:00:01.25", want: 1767225601250},
		{in: "2026-01-01 00:00:01.000", want: 1767225601000},
		{in: "2026-01-01T00:00:01Z", want: 1767225601000},
		{in: "2026-01-01T02:00:01+02:00", want: 1767225601000},
		{in: "2026-01-01", want: 1767225600000},
		{in: "-5", want: -5},
		{in: "yesterday", bad: true},
		{in: "2026-13-01 00:00:00", bad: true},
	} {
		got, err := parseTimestamp(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("parseTimestamp(%q) = %d, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseTimestamp(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

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
