package sql

import "testing"

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
