package shuffle

import (
	"encoding/binary"
	"errors"
)

// This file implements the LZ4 *block* format (no frame): a sequence of
//
//	token | [literal length bytes] | literals | offset (u16 LE) | [match length bytes]
//
// where the token's high nibble is the literal length and its low nibble the
// match length minus 4, a nibble of 15 continuing in following bytes (255
// each, the first byte < 255 ending). The last sequence has literals only.
// The encoder keeps the format's end rules: the last 5 bytes are literals and
// the last match starts at least 12 bytes before the end. It is a greedy
// single-probe hash encoder: modest ratio, high speed. The output is
// checked against klauspost/compress's LZ4-to-S2 converter in the tests.

const (
	lz4MinMatch     = 4
	lz4HashLog      = 14
	lz4LastLiterals = 5
	lz4MFLimit      = 12
	lz4MaxOffset    = 65535
)

// lz4Table maps a hash of 4 bytes to the last position+1 they were seen at.
type lz4Table [1 << lz4HashLog]int32

func lz4Hash(v uint32) uint32 { return (v * 2654435761) >> (32 - lz4HashLog) }

func lz4AppendLen(dst []byte, v int) []byte {
	for v >= 255 {
		dst = append(dst, 255)
		v -= 255
	}
	return append(dst, byte(v))
}

func lz4AppendSeq(dst, lits []byte, off, mlen int) []byte {
	ml := mlen - lz4MinMatch
	tok := byte(min(len(lits), 15)<<4) | byte(min(ml, 15))
	dst = append(dst, tok)
	if len(lits) >= 15 {
		dst = lz4AppendLen(dst, len(lits)-15)
	}
	dst = append(dst, lits...)
	dst = append(dst, byte(off), byte(off>>8))
	if ml >= 15 {
		dst = lz4AppendLen(dst, ml-15)
	}
	return dst
}

// lz4Compress appends the LZ4 block encoding of src to dst. src must be
// shorter than 2 GiB.
func lz4Compress(dst, src []byte, t *lz4Table) []byte {
	clear(t[:])
	n := len(src)
	anchor := 0
	if n >= lz4MFLimit+1 {
		limit := n - lz4MFLimit // last position a match may start at
		maxEnd := n - lz4LastLiterals
		i := 0
		for i <= limit {
			seq := binary.LittleEndian.Uint32(src[i:])
			h := lz4Hash(seq)
			ref := int(t[h]) - 1
			t[h] = int32(i + 1)
			if ref < 0 || i-ref > lz4MaxOffset || binary.LittleEndian.Uint32(src[ref:]) != seq {
				// Skip faster through incompressible data.
				i += 1 + (i-anchor)>>6
				continue
			}
			// Extend backwards over pending literals, then forwards.
			for i > anchor && ref > 0 && src[i-1] == src[ref-1] {
				i--
				ref--
			}
			mlen := lz4MinMatch
			for i+mlen < maxEnd && src[ref+mlen] == src[i+mlen] {
				mlen++
			}
			dst = lz4AppendSeq(dst, src[anchor:i], i-ref, mlen)
			i += mlen
			anchor = i
			// Index a position inside the match to help the next search.
			if i-2 <= limit && i >= 2 {
				t[lz4Hash(binary.LittleEndian.Uint32(src[i-2:]))] = int32(i - 2 + 1)
			}
		}
	}
	lits := src[anchor:]
	dst = append(dst, byte(min(len(lits), 15)<<4))
	if len(lits) >= 15 {
		dst = lz4AppendLen(dst, len(lits)-15)
	}
	return append(dst, lits...)
}

var (
	errLZ4Truncated = errors.New("lz4: truncated block")
	errLZ4Offset    = errors.New("lz4: invalid match offset")
	errLZ4Overflow  = errors.New("lz4: output exceeds declared size")
	errLZ4Short     = errors.New("lz4: output shorter than declared size")
)

// lz4ReadLen continues a length whose nibble was 15.
func lz4ReadLen(src []byte, si, v int) (int, int, error) {
	for {
		if si >= len(src) {
			return 0, 0, errLZ4Truncated
		}
		b := src[si]
		si++
		v += int(b)
		if b != 255 {
			return v, si, nil
		}
	}
}

// lz4Decompress decodes the block src into dst, which must be exactly as
// long as the decoded data. Any malformed input is an error, never a panic
// or an out-of-bounds write.
func lz4Decompress(dst, src []byte) error {
	si, di := 0, 0
	for {
		if si >= len(src) {
			return errLZ4Truncated
		}
		tok := src[si]
		si++
		lit := int(tok >> 4)
		var err error
		if lit == 15 {
			if lit, si, err = lz4ReadLen(src, si, lit); err != nil {
				return err
			}
		}
		if lit > len(src)-si {
			return errLZ4Truncated
		}
		if lit > len(dst)-di {
			return errLZ4Overflow
		}
		copy(dst[di:], src[si:si+lit])
		si += lit
		di += lit
		if si == len(src) {
			break // the last sequence has no match
		}
		if len(src)-si < 2 {
			return errLZ4Truncated
		}
		off := int(src[si]) | int(src[si+1])<<8
		si += 2
		if off == 0 || off > di {
			return errLZ4Offset
		}
		ml := int(tok & 15)
		if ml == 15 {
			if ml, si, err = lz4ReadLen(src, si, ml); err != nil {
				return err
			}
		}
		ml += lz4MinMatch
		if ml > len(dst)-di {
			return errLZ4Overflow
		}
		if off >= ml {
			copy(dst[di:di+ml], dst[di-off:])
		} else {
			// Overlapping match: the output repeats with period off.
			// Copy doubling chunks; k stays a multiple of off.
			for k := 0; k < ml; {
				k += copy(dst[di+k:di+ml], dst[di-off:di+k])
			}
		}
		di += ml
	}
	if di != len(dst) {
		return errLZ4Short
	}
	return nil
}
