package expr

import (
	"bytes"
	"math/rand/v2"
	"regexp"
	"slices"
	"testing"
)

// randomText joins random fragments, some multi-byte, invalid or case
// sensitive in Unicode's odd ways.
func randomText(rng *rand.Rand, fragments []string, n int) []byte {
	var b []byte
	for range rng.IntN(n) {
		b = append(b, fragments[rng.IntN(len(fragments))]...)
	}
	return b
}

var foldFragments = []string{"a", "A", "z", "Z", "é", "É", "ſ", "s", "S", "K", "k", "İ", "i", "ß", "\xff", "\xe2\x82", "\uFFFD", "Σ", "σ", "ς", "0"}

// TestFoldEqual checks the in-place case folding of LOWER(x) = 'c'
// against bytes.ToLower and bytes.ToUpper.
func TestFoldEqual(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20_000 {
		s := randomText(rng, foldFragments, 6)
		var c []byte
		switch rng.IntN(3) {
		case 0:
			c = bytes.ToLower(s)
		case 1:
			c = bytes.ToUpper(s)
		default:
			c = randomText(rng, foldFragments, 6)
		}
		for _, upper := range []bool{false, true} {
			want := bytes.ToLower(s)
			if upper {
				want = bytes.ToUpper(s)
			}
			if got := foldEqual(s, c, upper); got != bytes.Equal(want, c) {
				t.Fatalf("foldEqual(%q, %q, upper=%v) = %v, want %v", s, c, upper, got, !got)
			}
		}
	}
}

// TestMatcherAgreesWithRegexp checks the literal prefilter of
// REGEXP_EXTRACT against Go's regexp on random texts.
func TestMatcherAgreesWithRegexp(t *testing.T) {
	patterns := []string{
		`(&|^)channel_id=([^&]*)`,
		`(&|^|\?)channel_id=([^&]*)`,
		`(^)id=(\d+)`,
		`^id=(\d*)`,
		`.?.?id=(.)`,
		`\bid=(\w+)`,
		`(?m)^id=(\w*)`,
		`(?i)id=(\w+)`,
		`a{0,3}id=(x|y)?$`,
		`(é|\xff)?id=`,
		`id`,
		`x*id=(.*)`,
	}
	fragments := []string{"id=", "channel_id=", "&", "?", "a", "x", "y", "1", "é", "\xff", "\n", "=", "id", "ID="}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, p := range patterns {
		re := regexp.MustCompile(p)
		m := newMatcher(re)
		for range 5_000 {
			s := randomText(rng, fragments, 10)
			if got, want := m.find(s), re.FindSubmatchIndex(s); !slices.Equal(got, want) {
				t.Fatalf("%s on %q: %v, want %v", p, s, got, want)
			}
		}
	}
	// The q21 pattern uses the prefilter and the cut search.
	if m := newMatcher(regexp.MustCompile(`(&|^)channel_id=([^&]*)`)); string(m.lit) != "channel_id=" || m.maxLead != 1 || m.mid == nil {
		t.Errorf("q21 pattern: literal %q lead %d mid %v", m.lit, m.maxLead, m.mid)
	}
}
