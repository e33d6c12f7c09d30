package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// TightBufferSize is the read buffer of TightWordCount.
const TightBufferSize = 1 << 20

// TightWordCount is the tight single-threaded word count the engine is
// measured against: it reads the file in TightBufferSize chunks, splits
// words on bytes (a table lookup per ASCII byte; a rune is decoded only for
// bytes ≥ 0x80), counts them in a map keyed by string(b) without
// allocating per word, and writes word<TAB>count lines to output.
//
// The map holds a pointer to each count: m[string(b)]++ would be shorter,
// but Go (as of 1.26) elides the []byte-to-string copy only for lookups, so
// ++ on a map[string]int64 allocates the key on every word (ten times
// slower here), while the lookup p := m[string(b)] does not allocate. A word is a maximal run of non-whitespace characters
// (unicode.IsSpace), as in the wordcount job, so both compute the same
// counts. It returns the number of lines read.
func TightWordCount(input, output string) (int64, string, error) {
	f, err := os.Open(input)
	if err != nil {
		return 0, "", fmt.Errorf("bench: %w", err)
	}
	defer f.Close()
	counts, lines, err := TightCount(f, TightBufferSize)
	if err != nil {
		return 0, "", fmt.Errorf("bench: %s: %w", input, err)
	}
	o, err := os.Create(output)
	if err != nil {
		return 0, "", fmt.Errorf("bench: %w", err)
	}
	w := bufio.NewWriterSize(o, 1<<18)
	var buf []byte
	for k, v := range counts {
		buf = append(buf[:0], k...)
		buf = append(buf, '\t')
		buf = strconv.AppendInt(buf, v, 10)
		buf = append(buf, '\n')
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		o.Close()
		return 0, "", fmt.Errorf("bench: %w", err)
	}
	if err := o.Close(); err != nil {
		return 0, "", fmt.Errorf("bench: %w", err)
	}
	return lines, fmt.Sprintf("%d words", len(counts)), nil
}

// byte classes of TightCount.
const (
	clsWord  = 0 // ASCII non-space
	clsSpace = 1 // ASCII space other than '\n'
	clsLF    = 2 // '\n'
	clsMulti = 3 // ≥ 0x80: part of a multi-byte (or invalid) sequence
)

var tightClass = func() (t [256]uint8) {
	for c := range t {
		switch {
		case c == '\n':
			t[c] = clsLF
		case c >= utf8.RuneSelf:
			t[c] = clsMulti
		case c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r':
			t[c] = clsSpace
		}
	}
	return t
}()

// TightCount counts the words of r, reading bufSize bytes at a time, and
// returns the counts and the number of lines (a final line without '\n'
// counts). A word longer than bufSize grows the buffer.
func TightCount(r io.Reader, bufSize int) (map[string]int64, int64, error) {
	if bufSize < utf8.UTFMax {
		bufSize = utf8.UTFMax
	}
	buf := make([]byte, bufSize)
	counts := make(map[string]*int64)
	count := func(w []byte) {
		p := counts[string(w)] // no allocation
		if p == nil {
			p = new(int64)
			counts[string(w)] = p
		}
		*p++
	}
	var lines int64
	carry := 0           // buf[:carry] holds the unfinished word or rune of the last read
	carryIsWord := false // buf[:carry] starts a word (else it is an incomplete rune)
	midLine := false     // the last byte read was not '\n'
	for {
		n, err := io.ReadFull(r, buf[carry:])
		eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !eof {
			return nil, 0, err
		}
		data := buf[:carry+n]
		if n > 0 {
			midLine = data[len(data)-1] != '\n'
		}
		start := -1 // start of the current word
		if carryIsWord {
			start = 0
		}
		i := 0
		for i < len(data) {
			switch tightClass[data[i]] {
			case clsWord:
				if start < 0 {
					start = i
				}
				i++
				continue
			case clsLF:
				lines++
			case clsMulti:
				if !eof && !utf8.FullRune(data[i:]) {
					goto refill
				}
				r, size := utf8.DecodeRune(data[i:])
				if !unicode.IsSpace(r) {
					if start < 0 {
						start = i
					}
					i += size
					continue
				}
				if start >= 0 {
					count(data[start:i])
					start = -1
				}
				i += size
				continue
			}
			// a space
			if start >= 0 {
				count(data[start:i])
				start = -1
			}
			i++
		}
		if eof {
			if start >= 0 {
				count(data[start:])
			}
			if midLine {
				lines++
			}
			m := make(map[string]int64, len(counts))
			for w, p := range counts {
				m[w] = *p
			}
			return m, lines, nil
		}
	refill:
		// Keep the unfinished word (or the incomplete rune at i) for the
		// next read.
		carryIsWord = start >= 0
		if start < 0 {
			start = i
		}
		carry = copy(buf, data[start:])
		if carry == len(buf) {
			buf = append(buf, make([]byte, len(buf))...)
		}
	}
}
