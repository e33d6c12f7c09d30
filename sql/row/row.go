package row

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/sql/types"
)

// Row is one binary row. Its layout (the number of fields and which are
// variable-length) is known from its schema, not stored in it.
type Row []byte

// Layout gives the byte offsets of the fields of rows of n fields.
type Layout struct {
	N int
}

// NullBytes returns the size of the null bit set.
func (l Layout) NullBytes() int { return (l.N + 7) / 8 }

// Offset returns the offset of field i's 8-byte slot.
func (l Layout) Offset(i int) int { return l.NullBytes() + 8*i }

// FixedSize returns the size of the null bits and fixed-width part.
func (l Layout) FixedSize() int { return l.NullBytes() + 8*l.N }

// IsNull reports whether field i is NULL.
func (r Row) IsNull(i int) bool { return r[i>>3]&(1<<(i&7)) != 0 }

// Int returns the int64 in the slot at off (Layout.Offset).
func (r Row) Int(off int) int64 { return int64(binary.LittleEndian.Uint64(r[off:])) }

// Float returns the float64 in the slot at off.
func (r Row) Float(off int) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(r[off:])) }

// Bytes returns the variable-length field whose slot is at off. The
// result aliases the row.
func (r Row) Bytes(off int) []byte {
	s := binary.LittleEndian.Uint64(r[off:])
	start, n := uint32(s), uint32(s>>32)
	return r[start : start+n : start+n]
}

// Builder assembles rows of one layout in one reused buffer: the null
// bits and fixed-width part first, then the bytes of variable-length
// fields in the order they are set. Setting a field writes its slot in
// place; Build and Append copy the finished row out.
type Builder struct {
	l Layout
	// buf is the row being built: fixed part, then variable part.
	buf []byte
	// empty is the fixed part of a row whose fields are all NULL.
	empty []byte
}

// NewBuilder returns a builder of rows of n fields, all NULL.
func NewBuilder(n int) *Builder {
	l := Layout{N: n}
	b := &Builder{l: l, empty: make([]byte, l.FixedSize()), buf: make([]byte, l.FixedSize(), l.FixedSize()+64)}
	for i := 0; i < n; i++ {
		b.empty[i>>3] |= 1 << (i & 7)
	}
	b.Reset()
	return b
}

// Layout returns the builder's layout.
func (b *Builder) Layout() Layout { return b.l }

// Reset makes every field NULL.
func (b *Builder) Reset() {
	b.buf = b.buf[:len(b.empty)]
	copy(b.buf, b.empty)
}

func (b *Builder) setNotNull(i int) { b.buf[i>>3] &^= 1 << (i & 7) }

// SetNull makes field i NULL. Each field is set at most once per row.
func (b *Builder) SetNull(i int) {
	b.buf[i>>3] |= 1 << (i & 7)
	binary.LittleEndian.PutUint64(b.buf[b.l.Offset(i):], 0)
}

// SetInt sets field i to v.
func (b *Builder) SetInt(i int, v int64) {
	b.setNotNull(i)
	binary.LittleEndian.PutUint64(b.buf[b.l.Offset(i):], uint64(v))
}

// SetFloat sets field i to v.
func (b *Builder) SetFloat(i int, v float64) {
	b.setNotNull(i)
	binary.LittleEndian.PutUint64(b.buf[b.l.Offset(i):], math.Float64bits(v))
}

// SetBytes sets variable-length field i to a copy of v.
func (b *Builder) SetBytes(i int, v []byte) {
	b.setNotNull(i)
	binary.LittleEndian.PutUint64(b.buf[b.l.Offset(i):], uint64(len(b.buf))|uint64(len(v))<<32)
	b.buf = append(b.buf, v...)
}

// SetString sets variable-length field i to a copy of v.
func (b *Builder) SetString(i int, v string) {
	b.setNotNull(i)
	binary.LittleEndian.PutUint64(b.buf[b.l.Offset(i):], uint64(len(b.buf))|uint64(len(v))<<32)
	b.buf = append(b.buf, v...)
}

// View returns the row built so far without copying it: it aliases the
// builder and is valid until the builder's next change.
func (b *Builder) View() Row { return b.buf }

// Size returns the size in bytes of the row built so far.
func (b *Builder) Size() int { return len(b.buf) }

// Build returns the row in one new slice and resets the builder.
func (b *Builder) Build() Row {
	r := make(Row, len(b.buf))
	copy(r, b.buf)
	b.Reset()
	return r
}

// BuildIn returns the row copied into memory of the arena and resets
// the builder.
func (b *Builder) BuildIn(a *Arena) Row {
	r := a.Alloc(len(b.buf))
	copy(r, b.buf)
	b.Reset()
	return Row(r)
}

// StartIn makes the builder write its next row straight into the
// arena's memory, all NULL: FinishIn then returns it without a copy.
// Between StartIn and FinishIn, Reset starts the row over in place.
func (b *Builder) StartIn(a *Arena) {
	fs := len(b.empty)
	if len(a.chunk) < fs+64 {
		a.chunk = make([]byte, ArenaChunk)
	}
	b.buf = a.chunk[:fs:len(a.chunk)]
	copy(b.buf, b.empty)
}

// FinishIn returns the row begun with StartIn. The builder must be
// started again (StartIn) before the next row.
func (b *Builder) FinishIn(a *Arena) Row {
	n := len(b.buf)
	r := Row(b.buf[:n:n])
	if len(a.chunk) > 0 && n > 0 && &a.chunk[0] == &b.buf[0] {
		a.chunk = a.chunk[n:]
	} else {
		// The row outgrew the chunk and got its own memory: the next
		// row starts in a new chunk, not in this too short tail.
		a.chunk = nil
	}
	b.buf = nil
	return r
}

// Arena hands out row memory carved from large chunks: one allocation
// per chunk instead of one per row. A chunk is never reused: it lives as
// long as any row in it, so an arena suits rows that die young (rows on
// their way to a sink), not rows kept in state, which would pin whole
// chunks. An Arena is not safe for concurrent use; the zero value is
// ready.
type Arena struct {
	chunk []byte
}

// ArenaChunk is the size of an arena's chunks. Rows larger than a
// quarter of it get their own allocation.
const ArenaChunk = 32 << 10

// Alloc returns n bytes of zeroed arena memory.
func (a *Arena) Alloc(n int) []byte {
	if n > ArenaChunk/4 {
		return make([]byte, n)
	}
	if len(a.chunk) < n {
		a.chunk = make([]byte, ArenaChunk)
	}
	r := a.chunk[:n:n]
	a.chunk = a.chunk[n:]
	return r
}

// Coder is the dag.Coder of rows of a schema: a uvarint length and the
// row's bytes. Decode copies the row and validates it against the
// schema's storage classes.
type Coder struct {
	storages []types.Storage
}

var _ dag.Coder[Row] = (*Coder)(nil)

// NewCoder returns the coder of rows with the given storage classes.
func NewCoder(storages []types.Storage) *Coder { return &Coder{storages: storages} }

// Append implements dag.Coder.
func (c *Coder) Append(dst []byte, r Row) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(r)))
	return append(dst, r...)
}

// Decode implements dag.Coder.
func (c *Coder) Decode(src []byte) (Row, int, error) {
	n, k := binary.Uvarint(src)
	if k <= 0 || uint64(len(src)-k) < n {
		return nil, 0, fmt.Errorf("row: %w: bad length", dag.ErrCorruptRecord)
	}
	r := Row(append([]byte(nil), src[k:k+int(n)]...))
	if err := c.Validate(r); err != nil {
		return nil, 0, err
	}
	return r, k + int(n), nil
}

// Validate checks that r has the coder's layout: the fixed part is
// complete and every non-null variable-length slot lies in the row.
func (c *Coder) Validate(r Row) error {
	l := Layout{N: len(c.storages)}
	fs := l.FixedSize()
	if len(r) < fs {
		return fmt.Errorf("row: %w: %d bytes, shorter than the %d-byte fixed part", dag.ErrCorruptRecord, len(r), fs)
	}
	for i, s := range c.storages {
		if s != types.StoreBytes || r.IsNull(i) {
			continue
		}
		slot := binary.LittleEndian.Uint64(r[l.Offset(i):])
		start, n := uint64(uint32(slot)), slot>>32
		if start < uint64(fs) || start+n > uint64(len(r)) {
			return fmt.Errorf("row: %w: field %d points outside the row", dag.ErrCorruptRecord, i)
		}
	}
	return nil
}
