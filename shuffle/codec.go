package shuffle

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Compression selects how Local compresses the blocks of its files.
type Compression uint8

const (
	// CompressionDefault is the zero value and means CompressionS2.
	CompressionDefault Compression = iota
	// CompressionNone stores blocks uncompressed (still checksummed).
	CompressionNone
	// CompressionS2 uses S2 (klauspost/compress/s2): fast, moderate ratio.
	CompressionS2
	// CompressionLZ4 uses the LZ4 block format (this package's own
	// encoder/decoder; klauspost/compress has no public LZ4 codec).
	CompressionLZ4
	// CompressionZstd uses zstandard (klauspost/compress/zstd) at its
	// fastest level: best ratio, most CPU.
	CompressionZstd
)

// String returns "none", "s2", "lz4" or "zstd" ("s2" for the default).
func (c Compression) String() string {
	switch c {
	case CompressionDefault, CompressionS2:
		return "s2"
	case CompressionNone:
		return "none"
	case CompressionLZ4:
		return "lz4"
	case CompressionZstd:
		return "zstd"
	}
	return fmt.Sprintf("compression(%d)", uint8(c))
}

// ParseCompression parses "none", "s2", "lz4", "zstd" (case-insensitive); the
// empty string means CompressionDefault.
func ParseCompression(s string) (Compression, error) {
	switch strings.ToLower(s) {
	case "":
		return CompressionDefault, nil
	case "none":
		return CompressionNone, nil
	case "s2":
		return CompressionS2, nil
	case "lz4":
		return CompressionLZ4, nil
	case "zstd":
		return CompressionZstd, nil
	}
	return 0, fmt.Errorf("shuffle: unknown compression %q (want none, s2, lz4 or zstd)", s)
}

// Codec ids stored in block headers.
const (
	codecNone byte = 0
	codecS2   byte = 1
	codecLZ4  byte = 2
	codecZstd byte = 3
)

func (c Compression) codecID() (byte, error) {
	switch c {
	case CompressionDefault, CompressionS2:
		return codecS2, nil
	case CompressionNone:
		return codecNone, nil
	case CompressionLZ4:
		return codecLZ4, nil
	case CompressionZstd:
		return codecZstd, nil
	}
	return 0, fmt.Errorf("shuffle: unknown compression %d", uint8(c))
}

// codecs holds the stateful parts of the codecs (zstd encoder and decoder,
// LZ4 hash tables), created on first use and shared by a service's writers
// and readers. All methods are safe for concurrent use.
type codecs struct {
	zencOnce sync.Once
	zenc     *zstd.Encoder
	zencErr  error
	zdecOnce sync.Once
	zdec     *zstd.Decoder
	zdecErr  error
	lz4      sync.Pool // *lz4Table
}

func (cs *codecs) zstdEncoder() (*zstd.Encoder, error) {
	cs.zencOnce.Do(func() {
		cs.zenc, cs.zencErr = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderCRC(false), // blocks carry a CRC32C
		)
	})
	return cs.zenc, cs.zencErr
}

func (cs *codecs) zstdDecoder() (*zstd.Decoder, error) {
	cs.zdecOnce.Do(func() {
		cs.zdec, cs.zdecErr = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxMemory(maxBlockRaw),
			zstd.WithDecodeAllCapLimit(true),
			zstd.IgnoreChecksum(true),
		)
	})
	return cs.zdec, cs.zdecErr
}

// close releases the zstd encoder and decoder.
func (cs *codecs) close() {
	cs.zencOnce.Do(func() {})
	cs.zdecOnce.Do(func() {})
	if cs.zenc != nil {
		_ = cs.zenc.Close()
	}
	if cs.zdec != nil {
		cs.zdec.Close()
	}
}

// compress appends src compressed with codec id to dst.
func (cs *codecs) compress(id byte, dst, src []byte) ([]byte, error) {
	switch id {
	case codecNone:
		return append(dst, src...), nil
	case codecS2:
		n := s2.MaxEncodedLen(len(src))
		if n < 0 {
			return nil, errors.New("block too large for s2")
		}
		start := len(dst)
		dst = grow(dst, n)
		enc := s2.Encode(dst[start:start+n], src)
		return dst[:start+len(enc)], nil
	case codecLZ4:
		t, _ := cs.lz4.Get().(*lz4Table)
		if t == nil {
			t = new(lz4Table)
		}
		dst = lz4Compress(dst, src, t)
		cs.lz4.Put(t)
		return dst, nil
	case codecZstd:
		enc, err := cs.zstdEncoder()
		if err != nil {
			return nil, err
		}
		return enc.EncodeAll(src, dst), nil
	}
	return nil, fmt.Errorf("unknown codec %d", id)
}

// decompress decodes src (codec id) into dst, reusing its capacity, and
// checks the result is exactly rawLen bytes. It never panics on bad input.
func (cs *codecs) decompress(id byte, dst, src []byte, rawLen int) ([]byte, error) {
	if cap(dst) < rawLen {
		dst = make([]byte, rawLen)
	}
	dst = dst[:rawLen]
	switch id {
	case codecS2:
		n, err := s2.DecodedLen(src)
		if err != nil {
			return nil, fmt.Errorf("s2: %w", err)
		}
		if n != rawLen {
			return nil, fmt.Errorf("s2: decoded length %d, header says %d", n, rawLen)
		}
		out, err := s2.Decode(dst, src)
		if err != nil {
			return nil, fmt.Errorf("s2: %w", err)
		}
		return out, nil
	case codecLZ4:
		if err := lz4Decompress(dst, src); err != nil {
			return nil, err
		}
		return dst, nil
	case codecZstd:
		dec, err := cs.zstdDecoder()
		if err != nil {
			return nil, err
		}
		out, err := dec.DecodeAll(src, dst[:0])
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		if len(out) != rawLen {
			return nil, fmt.Errorf("zstd: decoded length %d, header says %d", len(out), rawLen)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown codec %d", id)
}

// grow extends b by n bytes (contents of the new bytes unspecified).
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), 2*cap(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}
