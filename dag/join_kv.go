package dag

import (
	"fmt"
)

// The Pebble backend of the window join: the layout of the other windows
// (see windowKV), with the buffered records of one key in one window, both
// sides, as one entry:
//
//	key group (2) | state id (4) | window start (8) | encoded key  ->  joinBuf
//
// so firing a window is a prefix scan per key group and purging it a
// prefix deletion. During an input batch the operator's wins map caches
// the entries the batch touched; they are written back at its end.

// joinBuf is the state of one key in one window: the buffered records of
// both sides.
type joinBuf[L, R any] struct {
	l []L
	r []R
}

func (joinBuf[L, R]) coder() any {
	lc, rc := CoderFor[L](), CoderFor[R]()
	if lc == nil || rc == nil {
		return (*joinBufCoder[L, R])(nil)
	}
	return &joinBufCoder[L, R]{l: lc, r: rc}
}

type joinBufCoder[L, R any] struct {
	l Coder[L]
	r Coder[R]
}

func (c *joinBufCoder[L, R]) Append(dst []byte, b joinBuf[L, R]) []byte {
	dst = appendUvarint(dst, len(b.l))
	for _, v := range b.l {
		dst = c.l.Append(dst, v)
	}
	dst = appendUvarint(dst, len(b.r))
	for _, v := range b.r {
		dst = c.r.Append(dst, v)
	}
	return dst
}

func (c *joinBufCoder[L, R]) Decode(src []byte) (joinBuf[L, R], int, error) {
	var b joinBuf[L, R]
	r := snapReader{b: src}
	n := r.count()
	b.l = make([]L, 0, n)
	for range n {
		b.l = append(b.l, snapDecode(&r, c.l))
	}
	n = r.count()
	b.r = make([]R, 0, n)
	for range n {
		b.r = append(b.r, snapDecode(&r, c.r))
	}
	if r.err != nil {
		return joinBuf[L, R]{}, 0, fmt.Errorf("%w: window join records: %w", ErrCorruptRecord, r.err)
	}
	return b, len(src) - len(r.b), nil
}
