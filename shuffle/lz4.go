package shuffle

import (
	"fmt"

	"github.com/pierrec/lz4/v4"
)

// lz4Table is the reusable state of the LZ4 block compressor.
type lz4Table = lz4.Compressor

// lz4Compress appends the LZ4 block encoding of src to dst. When src does
// not compress, it appends more than len(src) bytes so that the caller stores
// the block raw.
func lz4Compress(dst, src []byte, t *lz4Table) []byte {
	start := len(dst)
	bound := lz4.CompressBlockBound(len(src))
	dst = grow(dst, bound)
	n, err := t.CompressBlock(src, dst[start:start+bound])
	if err != nil || n == 0 || n >= len(src) {
		// Incompressible: signal "not smaller" to the caller.
		dst = append(dst[:start], src...)
		return append(dst, 0)
	}
	return dst[:start+n]
}

// lz4Decompress decodes the LZ4 block src into dst, which must be exactly
// the decoded size. It never panics on bad input.
func lz4Decompress(dst, src []byte) error {
	if len(dst) == 0 {
		// The library's assembly decoder must not see an empty destination
		// (it faults); the only valid empty block is a zero token.
		if len(src) == 1 && src[0] == 0 {
			return nil
		}
		return fmt.Errorf("lz4: %d bytes of input for an empty block", len(src))
	}
	n, err := lz4.UncompressBlock(src, dst)
	if err != nil {
		return fmt.Errorf("lz4: %w", err)
	}
	if n != len(dst) {
		return fmt.Errorf("lz4: decoded %d bytes, header says %d", n, len(dst))
	}
	return nil
}
