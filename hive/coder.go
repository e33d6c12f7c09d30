package hive

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/dagflow/dagflow/dag"
)

// RowCoder is a dag.Coder for Rows of one Schema, so that rows can cross
// network edges (KeyBy, Rebalance, ...) and live in checkpointed state.
// Create it with NewRowCoder, or with the RowCoder method of a source or
// sink.
//
// The encoding is driven by the column types: a uvarint value count, then
// per value a tag byte (NULL, value, or a value that does not fit its
// column) and the value: booleans one byte, integers zig-zag varints,
// floats and doubles their IEEE bits (little endian), decimals 16 bytes,
// strings, varchars, chars and binaries a uvarint length and the bytes,
// dates and timestamps Unix seconds (varint) and nanoseconds (uvarint),
// arrays and maps a uvarint count and their tagged elements (keys, then
// values), structs their tagged fields. Decoding needs no reflection: one
// switch on the column kind per value.
//
// Append cannot fail, so a row that does not fit the schema (wrong length,
// a value of the wrong Go type) is encoded as such and Decode reports it
// with an error naming the column; Decode never panics on malformed input
// (errors wrap dag.ErrCorruptRecord).
type RowCoder struct {
	types []*Type
	names []string
}

var _ dag.Coder[Row] = (*RowCoder)(nil)

// NewRowCoder returns the coder for rows of s.
func NewRowCoder(s Schema) *RowCoder {
	c := &RowCoder{types: make([]*Type, len(s)), names: make([]string, len(s))}
	for i, col := range s {
		c.types[i], c.names[i] = col.Type, col.Name
	}
	return c
}

// Value tags.
const (
	tagNull   = 0
	tagValue  = 1
	tagMisfit = 2 // followed by the value's Go type name
)

// Append implements dag.Coder.
func (c *RowCoder) Append(dst []byte, r Row) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(r)))
	if len(r) != len(c.types) {
		return dst // Decode reports the length mismatch
	}
	for i, v := range r {
		dst = appendValue(dst, c.types[i], v)
	}
	return dst
}

// Decode implements dag.Coder.
func (c *RowCoder) Decode(src []byte) (Row, int, error) {
	n, off := binary.Uvarint(src)
	if off <= 0 {
		return nil, 0, fmt.Errorf("%w: hive row: bad value count", dag.ErrCorruptRecord)
	}
	if n != uint64(len(c.types)) {
		return nil, 0, fmt.Errorf("%w: hive row has %d values, its schema (%v) has %d columns", dag.ErrCorruptRecord, n, c.names, len(c.types))
	}
	r := make(Row, len(c.types))
	for i, t := range c.types {
		v, m, err := decodeValue(src[off:], t)
		if err != nil {
			return nil, 0, fmt.Errorf("hive row column %q (%s): %w", c.names[i], t, err)
		}
		r[i] = v
		off += m
	}
	return r, off, nil
}

// appendValue appends v, tagged, as a value of t.
func appendValue(dst []byte, t *Type, v any) []byte {
	if v == nil {
		return append(dst, tagNull)
	}
	switch t.Kind {
	case Boolean:
		if x, ok := v.(bool); ok {
			if x {
				return append(dst, tagValue, 1)
			}
			return append(dst, tagValue, 0)
		}
	case TinyInt:
		if x, ok := v.(int8); ok {
			return binary.AppendVarint(append(dst, tagValue), int64(x))
		}
	case SmallInt:
		if x, ok := v.(int16); ok {
			return binary.AppendVarint(append(dst, tagValue), int64(x))
		}
	case Int:
		if x, ok := v.(int32); ok {
			return binary.AppendVarint(append(dst, tagValue), int64(x))
		}
	case BigInt:
		if x, ok := v.(int64); ok {
			return binary.AppendVarint(append(dst, tagValue), x)
		}
	case Float:
		if x, ok := v.(float32); ok {
			return binary.LittleEndian.AppendUint32(append(dst, tagValue), math.Float32bits(x))
		}
	case Double:
		if x, ok := v.(float64); ok {
			return binary.LittleEndian.AppendUint64(append(dst, tagValue), math.Float64bits(x))
		}
	case Decimal:
		if x, ok := v.(decimal128.Num); ok {
			dst = binary.LittleEndian.AppendUint64(append(dst, tagValue), x.LowBits())
			return binary.LittleEndian.AppendUint64(dst, uint64(x.HighBits()))
		}
	case String, Varchar, Char:
		if x, ok := v.(string); ok {
			return append(binary.AppendUvarint(append(dst, tagValue), uint64(len(x))), x...)
		}
	case Binary:
		if x, ok := v.([]byte); ok {
			return append(binary.AppendUvarint(append(dst, tagValue), uint64(len(x))), x...)
		}
	case Date, Timestamp:
		if x, ok := v.(time.Time); ok {
			dst = binary.AppendVarint(append(dst, tagValue), x.Unix())
			return binary.AppendUvarint(dst, uint64(x.Nanosecond()))
		}
	case Array:
		if x, ok := v.([]any); ok {
			dst = binary.AppendUvarint(append(dst, tagValue), uint64(len(x)))
			for _, e := range x {
				dst = appendValue(dst, t.Elem, e)
			}
			return dst
		}
	case Map:
		if x, ok := v.([]MapEntry); ok {
			dst = binary.AppendUvarint(append(dst, tagValue), uint64(len(x)))
			for _, e := range x {
				dst = appendValue(dst, t.Key, e.Key)
				dst = appendValue(dst, t.Elem, e.Value)
			}
			return dst
		}
	case Struct:
		if x, ok := v.([]any); ok && len(x) == len(t.Fields) {
			dst = append(dst, tagValue)
			for i, e := range x {
				dst = appendValue(dst, t.Fields[i].Type, e)
			}
			return dst
		}
	}
	// Does not fit: Decode reports it (the Go type name costs reflection,
	// but only on this error path).
	name := fmt.Sprintf("%T", v)
	if x, ok := v.([]any); ok && t.Kind == Struct {
		name = fmt.Sprintf("[]any of %d fields", len(x))
	}
	return append(binary.AppendUvarint(append(dst, tagMisfit), uint64(len(name))), name...)
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{dag.ErrCorruptRecord}, args...)...)
}

// uvarint decodes a uvarint at the front of src.
func uvarint(src []byte) (uint64, int, error) {
	v, n := binary.Uvarint(src)
	if n <= 0 {
		return 0, 0, corrupt("bad uvarint")
	}
	return v, n, nil
}

func varint(src []byte) (int64, int, error) {
	v, n := binary.Varint(src)
	if n <= 0 {
		return 0, 0, corrupt("bad varint")
	}
	return v, n, nil
}

// lengthPrefixed decodes a uvarint length and that many bytes.
func lengthPrefixed(src []byte) ([]byte, int, error) {
	l, n, err := uvarint(src)
	if err != nil {
		return nil, 0, err
	}
	if l > uint64(len(src)-n) {
		return nil, 0, corrupt("length %d beyond the %d bytes left", l, len(src)-n)
	}
	return src[n : n+int(l)], n + int(l), nil
}

// decodeValue decodes one tagged value of t from the front of src.
func decodeValue(src []byte, t *Type) (any, int, error) {
	if len(src) == 0 {
		return nil, 0, corrupt("truncated")
	}
	switch src[0] {
	case tagNull:
		return nil, 1, nil
	case tagValue:
	case tagMisfit:
		name, _, err := lengthPrefixed(src[1:])
		if err != nil {
			return nil, 0, err
		}
		return nil, 0, fmt.Errorf("schema mismatch: value of Go type %s does not fit Hive type %s (want %s)", name, t, t.GoType())
	default:
		return nil, 0, corrupt("bad value tag %d", src[0])
	}
	b := src[1:]
	switch t.Kind {
	case Boolean:
		if len(b) < 1 || b[0] > 1 {
			return nil, 0, corrupt("bad boolean")
		}
		return b[0] == 1, 2, nil
	case TinyInt, SmallInt, Int, BigInt:
		x, n, err := varint(b)
		if err != nil {
			return nil, 0, err
		}
		var v any
		switch t.Kind {
		case TinyInt:
			if x < math.MinInt8 || x > math.MaxInt8 {
				return nil, 0, corrupt("tinyint %d out of range", x)
			}
			v = int8(x)
		case SmallInt:
			if x < math.MinInt16 || x > math.MaxInt16 {
				return nil, 0, corrupt("smallint %d out of range", x)
			}
			v = int16(x)
		case Int:
			if x < math.MinInt32 || x > math.MaxInt32 {
				return nil, 0, corrupt("int %d out of range", x)
			}
			v = int32(x)
		default:
			v = x
		}
		return v, 1 + n, nil
	case Float:
		if len(b) < 4 {
			return nil, 0, corrupt("truncated float")
		}
		return math.Float32frombits(binary.LittleEndian.Uint32(b)), 5, nil
	case Double:
		if len(b) < 8 {
			return nil, 0, corrupt("truncated double")
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), 9, nil
	case Decimal:
		if len(b) < 16 {
			return nil, 0, corrupt("truncated decimal")
		}
		return decimal128.New(int64(binary.LittleEndian.Uint64(b[8:])), binary.LittleEndian.Uint64(b)), 17, nil
	case String, Varchar, Char:
		s, n, err := lengthPrefixed(b)
		if err != nil {
			return nil, 0, err
		}
		return string(s), 1 + n, nil
	case Binary:
		s, n, err := lengthPrefixed(b)
		if err != nil {
			return nil, 0, err
		}
		return append([]byte{}, s...), 1 + n, nil
	case Date, Timestamp:
		sec, n, err := varint(b)
		if err != nil {
			return nil, 0, err
		}
		ns, m, err := uvarint(b[n:])
		if err != nil {
			return nil, 0, err
		}
		if ns >= 1e9 {
			return nil, 0, corrupt("nanoseconds %d out of range", ns)
		}
		return time.Unix(sec, int64(ns)).UTC(), 1 + n + m, nil
	case Array, Map:
		cnt, off, err := uvarint(b)
		if err != nil {
			return nil, 0, err
		}
		per := uint64(1)
		if t.Kind == Map {
			per = 2
		}
		if cnt > uint64(len(b)-off)/per { // every element takes at least its tag byte
			return nil, 0, corrupt("%d elements in %d bytes", cnt, len(b)-off)
		}
		if t.Kind == Array {
			out := make([]any, cnt)
			for i := range out {
				v, m, err := decodeValue(b[off:], t.Elem)
				if err != nil {
					return nil, 0, fmt.Errorf("element %d: %w", i, err)
				}
				out[i] = v
				off += m
			}
			return out, 1 + off, nil
		}
		out := make([]MapEntry, cnt)
		for i := range out {
			k, m, err := decodeValue(b[off:], t.Key)
			if err != nil {
				return nil, 0, fmt.Errorf("entry %d key: %w", i, err)
			}
			off += m
			v, m, err := decodeValue(b[off:], t.Elem)
			if err != nil {
				return nil, 0, fmt.Errorf("entry %d value: %w", i, err)
			}
			off += m
			out[i] = MapEntry{Key: k, Value: v}
		}
		return out, 1 + off, nil
	case Struct:
		out := make([]any, len(t.Fields))
		off := 0
		for i, f := range t.Fields {
			v, m, err := decodeValue(b[off:], f.Type)
			if err != nil {
				return nil, 0, fmt.Errorf("field %s: %w", f.Name, err)
			}
			out[i] = v
			off += m
		}
		return out, 1 + off, nil
	}
	return nil, 0, fmt.Errorf("%w %s", ErrUnsupportedType, t)
}

// RowCoder returns the coder for the rows the source produces, for
// dag.WithCoder on the source or on a stream of its rows.
func (s *TableSource) RowCoder(ctx context.Context) (*RowCoder, error) {
	sch, err := s.Schema(ctx)
	if err != nil {
		return nil, err
	}
	return NewRowCoder(sch), nil
}

// Schema returns the schema of the rows the sink takes: the table's data
// columns, then its dynamic partition columns.
func (s *TableSink) Schema(ctx context.Context) (Schema, error) {
	p, err := s.plan(ctx)
	if err != nil {
		return nil, err
	}
	out := make(Schema, 0, len(p.dataTypes)+len(p.dynTypes))
	for i, c := range p.t.Columns {
		out = append(out, SchemaColumn{Name: strings.ToLower(c.Name), Type: p.dataTypes[i]})
	}
	for i, c := range p.t.PartitionKeys[len(p.static):] {
		out = append(out, SchemaColumn{Name: strings.ToLower(c.Name), Type: p.dynTypes[i], Partition: true})
	}
	return out, nil
}

// RowCoder returns the coder for the rows the sink takes (see Schema),
// for streams of rows that cross a network edge before the sink.
func (s *TableSink) RowCoder(ctx context.Context) (*RowCoder, error) {
	sch, err := s.Schema(ctx)
	if err != nil {
		return nil, err
	}
	return NewRowCoder(sch), nil
}
