package expr

import (
	"bytes"
	"regexp"
	"regexp/syntax"
	"unicode/utf8"
)

// matcher finds the leftmost match of a regular expression faster when
// every match holds a literal at a bounded distance from its start (for
// '(&|^)channel_id=([^&]*)': "channel_id=", 0 or 1 byte in). Go's regexp
// finds no literal prefix in such a pattern and tries it at every
// position of the text; the matcher looks for the literal with
// bytes.Index first: without it there is no match, and with it the
// leftmost match cannot start more than maxLead bytes before its first
// occurrence, so the search starts there.
type matcher struct {
	re *regexp.Regexp
	// lit is the literal every match holds, maxLead the most bytes a
	// match spans before it; lit is nil when the pattern has no such
	// literal.
	lit     []byte
	maxLead int
	// mid is re with ^ (beginning of text) never matching: the pattern
	// run on a suffix of the text, where ^ must not match at the cut. Nil
	// when the pattern looks behind in another way (\b, \B, multi-line
	// ^): the search then always starts at 0.
	mid *regexp.Regexp
}

func newMatcher(re *regexp.Regexp) *matcher {
	m := &matcher{re: re}
	p, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return m
	}
	lit, lead, ok := leadingLiteral(p)
	if !ok || len(lit) == 0 {
		return m
	}
	m.lit, m.maxLead = lit, lead
	if !looksBehind(p) {
		mid := cutBeginText(p)
		if r, err := regexp.Compile(mid.String()); err == nil {
			m.mid = r
		}
	}
	return m
}

// find returns re.FindSubmatchIndex(s).
func (m *matcher) find(s []byte) []int {
	if m.lit == nil {
		return m.re.FindSubmatchIndex(s)
	}
	i := bytes.Index(s, m.lit)
	if i < 0 {
		return nil
	}
	start := i - m.maxLead
	if start <= 0 || m.mid == nil {
		return m.re.FindSubmatchIndex(s)
	}
	loc := m.mid.FindSubmatchIndex(s[start:])
	for k := range loc {
		if loc[k] >= 0 {
			loc[k] += start
		}
	}
	return loc
}

// leadingLiteral finds, in a concatenation at the top of the pattern
// (through captures), the first case-sensitive literal and the most bytes
// the items before it can span; ok is false when that span is unbounded
// or no literal comes first.
func leadingLiteral(re *syntax.Regexp) (lit []byte, lead int, ok bool) {
	for re.Op == syntax.OpCapture {
		re = re.Sub[0]
	}
	items := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		items = re.Sub
	}
	for _, it := range items {
		for it.Op == syntax.OpCapture {
			it = it.Sub[0]
		}
		if it.Op == syntax.OpLiteral && it.Flags&syntax.FoldCase == 0 {
			var b []byte
			for _, r := range it.Rune {
				b = utf8.AppendRune(b, r)
			}
			return b, lead, true
		}
		w, bounded := maxWidth(it)
		if !bounded {
			return nil, 0, false
		}
		lead += w
	}
	return nil, 0, false
}

// maxWidth returns the most bytes re can match, and whether that is
// bounded.
func maxWidth(re *syntax.Regexp) (int, bool) {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary, syntax.OpNoMatch:
		return 0, true
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return utf8.UTFMax * len(re.Rune), true
		}
		n := 0
		for _, r := range re.Rune {
			n += utf8.RuneLen(r)
		}
		return n, true
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return utf8.UTFMax, true
	case syntax.OpCapture:
		return maxWidth(re.Sub[0])
	case syntax.OpConcat:
		n := 0
		for _, s := range re.Sub {
			w, ok := maxWidth(s)
			if !ok {
				return 0, false
			}
			n += w
		}
		return n, true
	case syntax.OpAlternate:
		n := 0
		for _, s := range re.Sub {
			w, ok := maxWidth(s)
			if !ok {
				return 0, false
			}
			n = max(n, w)
		}
		return n, true
	case syntax.OpQuest:
		return maxWidth(re.Sub[0])
	case syntax.OpRepeat:
		if re.Max < 0 {
			return 0, false
		}
		w, ok := maxWidth(re.Sub[0])
		return w * re.Max, ok
	}
	return 0, false // star, plus
}

// looksBehind reports whether re has an assertion about the text before
// a position other than the beginning of the text.
func looksBehind(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpBeginLine, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	}
	for _, s := range re.Sub {
		if looksBehind(s) {
			return true
		}
	}
	return false
}

// cutBeginText returns a copy of re in which ^ (beginning of text) never
// matches.
func cutBeginText(re *syntax.Regexp) *syntax.Regexp {
	if re.Op == syntax.OpBeginText {
		return &syntax.Regexp{Op: syntax.OpNoMatch}
	}
	out := *re
	out.Sub = make([]*syntax.Regexp, len(re.Sub))
	for i, s := range re.Sub {
		out.Sub[i] = cutBeginText(s)
	}
	return &out
}
