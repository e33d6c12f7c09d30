// Package job is the wordcount job: its graph, tokenizer and a sample
// text generator, shared by the example command, tests and benchmarks.
package job

import (
	"math/rand/v2"
	"os"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/io/fileio"
)

// Build returns the wordcount graph: lines → words → count per word → text
// files.
func Build(input, output string, cfg dag.Config) *dag.Graph {
	g := dag.New("wordcount", cfg)
	lines := dag.FromSource(g, "lines", fileio.Lines(input), nil)
	words := dag.FlatMap(lines, Tokenize, dag.Name("tokenize"))
	counts := dag.Aggregate(dag.KeyBy(words, func(w string) string { return w }), dag.Agg[string, int64, int64]{
		Zero:   func() int64 { return 0 },
		Add:    func(n int64, _ string) int64 { return n + 1 },
		Merge:  func(a, b int64) int64 { return a + b },
		Result: func(n int64) int64 { return n },
	}, dag.Name("count"))
	dag.ToSink(counts, "output", fileio.TextSink(output, func(dst []byte, kv dag.KV[string, int64]) []byte {
		dst = append(dst, kv.Key...)
		dst = append(dst, '\t')
		return strconv.AppendInt(dst, kv.Value, 10)
	}))
	return g
}

// Tokenize emits the maximal runs of non-whitespace characters
// (unicode.IsSpace) of line, as strings.Fields splits them. Words are
// substrings of line: no allocation per word. ASCII bytes are classified by
// a table lookup; a rune is decoded only at bytes ≥ 0x80.
func Tokenize(line string, emit func(string)) {
	i := 0
	for i < len(line) {
		// Skip spaces.
		switch byteClass[line[i]] {
		case classSpace:
			i++
			continue
		case classMulti:
			if r, size := utf8.DecodeRuneInString(line[i:]); unicode.IsSpace(r) {
				i += size
				continue
			}
		}
		// A word starts at i: find its end.
		start := i
	word:
		for i < len(line) {
			switch byteClass[line[i]] {
			case classWord:
				i++
			case classSpace:
				break word
			default:
				r, size := utf8.DecodeRuneInString(line[i:])
				if unicode.IsSpace(r) {
					break word
				}
				i += size
			}
		}
		emit(line[start:i])
	}
}

// Byte classes of Tokenize.
const (
	classWord  = iota // ASCII, not a space
	classSpace        // ASCII space
	classMulti        // ≥ 0x80: starts (or continues) a multi-byte or invalid sequence
)

var byteClass = func() (t [256]uint8) {
	for c := range t {
		switch {
		case c >= utf8.RuneSelf:
			t[c] = classMulti
		case c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r':
			t[c] = classSpace
		}
	}
	return t
}()

// WriteSample writes a deterministic sample text of n lines with a
// Zipf-distributed vocabulary.
func WriteSample(path string, n int, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	z := rand.NewZipf(r, 1.2, 1, 20000)
	buf := make([]byte, 0, 1<<16)
	for i := 0; i < n; i++ {
		words := 4 + r.IntN(12)
		for j := 0; j < words; j++ {
			if j > 0 {
				buf = append(buf, ' ')
			}
			buf = appendWord(buf, z.Uint64())
		}
		buf = append(buf, '\n')
		if len(buf) > 1<<15 {
			if _, err := f.Write(buf); err != nil {
				f.Close()
				return err
			}
			buf = buf[:0]
		}
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var syllables = []string{"da", "ta", "flo", "w", "gr", "aph", "ne", "ko", "ri", "su", "me", "lo", "pi", "ra", "te", "ve"}

func appendWord(dst []byte, n uint64) []byte {
	for {
		dst = append(dst, syllables[n%uint64(len(syllables))]...)
		n /= uint64(len(syllables))
		if n == 0 {
			return dst
		}
	}
}
