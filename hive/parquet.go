package hive

import (
	"fmt"
	"math"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
)

// arrowSchema is the Arrow schema of the data columns of a table.
func arrowSchema(cols Schema) *arrow.Schema {
	fs := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fs[i] = arrow.Field{Name: c.Name, Type: c.Type.Arrow(), Nullable: true}
	}
	return arrow.NewSchema(fs, nil)
}

// appendArrow appends v (checked with CheckValue) to b, a builder of
// t.Arrow().
func appendArrow(b array.Builder, t *Type, v any) {
	if v == nil {
		b.AppendNull()
		return
	}
	switch t.Kind {
	case Boolean:
		b.(*array.BooleanBuilder).Append(v.(bool))
	case TinyInt:
		b.(*array.Int8Builder).Append(v.(int8))
	case SmallInt:
		b.(*array.Int16Builder).Append(v.(int16))
	case Int:
		b.(*array.Int32Builder).Append(v.(int32))
	case BigInt:
		b.(*array.Int64Builder).Append(v.(int64))
	case Float:
		b.(*array.Float32Builder).Append(v.(float32))
	case Double:
		b.(*array.Float64Builder).Append(v.(float64))
	case Decimal:
		b.(*array.Decimal128Builder).Append(v.(decimal128.Num))
	case String, Varchar, Char:
		b.(*array.StringBuilder).Append(v.(string))
	case Binary:
		b.(*array.BinaryBuilder).Append(v.([]byte))
	case Date:
		b.(*array.Date32Builder).Append(arrow.Date32FromTime(v.(time.Time)))
	case Timestamp:
		b.(*array.TimestampBuilder).Append(arrow.Timestamp(v.(time.Time).UnixNano()))
	case Array:
		lb := b.(*array.ListBuilder)
		lb.Append(true)
		for _, e := range v.([]any) {
			appendArrow(lb.ValueBuilder(), t.Elem, e)
		}
	case Map:
		mb := b.(*array.MapBuilder)
		mb.Append(true)
		for _, e := range v.([]MapEntry) {
			appendArrow(mb.KeyBuilder(), t.Key, e.Key)
			appendArrow(mb.ItemBuilder(), t.Elem, e.Value)
		}
	case Struct:
		sb := b.(*array.StructBuilder)
		sb.Append(true)
		for i, e := range v.([]any) {
			appendArrow(sb.FieldBuilder(i), t.Fields[i].Type, e)
		}
	}
}

// getter returns the value at row i of an Arrow array as a Row value.
type getter func(i int) any

// makeGetter returns a getter converting arr (as read from a Parquet
// file) to values of t, or an error when the file's type cannot hold t.
func makeGetter(arr arrow.Array, t *Type) (getter, error) {
	bad := func() (getter, error) {
		return nil, fmt.Errorf("file type %s cannot be read as Hive type %s", arr.DataType(), t)
	}
	null := func(g getter) getter {
		if arr.NullN() == 0 {
			return g
		}
		return func(i int) any {
			if arr.IsNull(i) {
				return nil
			}
			return g(i)
		}
	}
	if arr.DataType().ID() == arrow.NULL {
		return func(int) any { return nil }, nil
	}
	// integer columns: accept any integer width that fits the Hive type
	intOf := func() (func(i int) int64, bool) {
		switch a := arr.(type) {
		case *array.Int8:
			return func(i int) int64 { return int64(a.Value(i)) }, true
		case *array.Int16:
			return func(i int) int64 { return int64(a.Value(i)) }, true
		case *array.Int32:
			return func(i int) int64 { return int64(a.Value(i)) }, true
		case *array.Int64:
			return func(i int) int64 { return a.Value(i) }, true
		case *array.Uint8:
			return func(i int) int64 { return int64(a.Value(i)) }, true
		case *array.Uint16:
			return func(i int) int64 { return int64(a.Value(i)) }, true
		case *array.Uint32:
			return func(i int) int64 { return int64(a.Value(i)) }, true
		}
		return nil, false
	}
	switch t.Kind {
	case Boolean:
		a, ok := arr.(*array.Boolean)
		if !ok {
			return bad()
		}
		return null(func(i int) any { return a.Value(i) }), nil
	case TinyInt, SmallInt, Int, BigInt:
		get, ok := intOf()
		if !ok {
			return bad()
		}
		var lo, hi int64
		switch t.Kind {
		case TinyInt:
			lo, hi = math.MinInt8, math.MaxInt8
		case SmallInt:
			lo, hi = math.MinInt16, math.MaxInt16
		case Int:
			lo, hi = math.MinInt32, math.MaxInt32
		default:
			lo, hi = math.MinInt64, math.MaxInt64
		}
		k := t.Kind
		return null(func(i int) any {
			n := get(i)
			if n < lo || n > hi {
				return nil // out of range reads as NULL, as in Hive
			}
			switch k {
			case TinyInt:
				return int8(n)
			case SmallInt:
				return int16(n)
			case Int:
				return int32(n)
			}
			return n
		}), nil
	case Float:
		a, ok := arr.(*array.Float32)
		if !ok {
			return bad()
		}
		return null(func(i int) any { return a.Value(i) }), nil
	case Double:
		switch a := arr.(type) {
		case *array.Float64:
			return null(func(i int) any { return a.Value(i) }), nil
		case *array.Float32:
			return null(func(i int) any { return float64(a.Value(i)) }), nil
		}
		return bad()
	case Decimal:
		a, ok := arr.(*array.Decimal128)
		if !ok {
			return bad()
		}
		fs := a.DataType().(*arrow.Decimal128Type).Scale
		if fs > t.Scale {
			return bad()
		}
		mul := decimal128.GetScaleMultiplier(int(t.Scale - fs))
		return null(func(i int) any { return a.Value(i).Mul(mul) }), nil
	case String, Varchar, Char:
		switch a := arr.(type) {
		case *array.String:
			return null(func(i int) any { return a.Value(i) }), nil
		case *array.LargeString:
			return null(func(i int) any { return a.Value(i) }), nil
		case *array.Binary:
			return null(func(i int) any { return string(a.Value(i)) }), nil
		}
		return bad()
	case Binary:
		switch a := arr.(type) {
		case *array.Binary:
			return null(func(i int) any { return append([]byte{}, a.Value(i)...) }), nil
		case *array.String:
			return null(func(i int) any { return []byte(a.Value(i)) }), nil
		}
		return bad()
	case Date:
		a, ok := arr.(*array.Date32)
		if !ok {
			return bad()
		}
		return null(func(i int) any { return a.Value(i).ToTime().UTC() }), nil
	case Timestamp:
		a, ok := arr.(*array.Timestamp)
		if !ok {
			return bad()
		}
		unit := a.DataType().(*arrow.TimestampType).Unit
		return null(func(i int) any { return a.Value(i).ToTime(unit).UTC() }), nil
	case Array:
		a, ok := arr.(*array.List)
		if !ok {
			return bad()
		}
		elem, err := makeGetter(a.ListValues(), t.Elem)
		if err != nil {
			return nil, err
		}
		return null(func(i int) any {
			s, e := a.ValueOffsets(i)
			out := make([]any, 0, e-s)
			for j := s; j < e; j++ {
				out = append(out, elem(int(j)))
			}
			return out
		}), nil
	case Map:
		a, ok := arr.(*array.Map)
		if !ok {
			return bad()
		}
		key, err := makeGetter(a.Keys(), t.Key)
		if err != nil {
			return nil, err
		}
		item, err := makeGetter(a.Items(), t.Elem)
		if err != nil {
			return nil, err
		}
		return null(func(i int) any {
			s, e := a.ValueOffsets(i)
			out := make([]MapEntry, 0, e-s)
			for j := s; j < e; j++ {
				out = append(out, MapEntry{Key: key(int(j)), Value: item(int(j))})
			}
			return out
		}), nil
	case Struct:
		a, ok := arr.(*array.Struct)
		if !ok {
			return bad()
		}
		st := a.DataType().(*arrow.StructType)
		gets := make([]getter, len(t.Fields))
		for k, f := range t.Fields {
			idx, found := st.FieldIdx(f.Name)
			if !found {
				gets[k] = func(int) any { return nil }
				continue
			}
			g, err := makeGetter(a.Field(idx), f.Type)
			if err != nil {
				return nil, fmt.Errorf("struct field %s: %w", f.Name, err)
			}
			gets[k] = g
		}
		return null(func(i int) any {
			out := make([]any, len(gets))
			for k, g := range gets {
				out[k] = g(i)
			}
			return out
		}), nil
	}
	return bad()
}

// leafIndices appends the Parquet leaf column indices below f.
func leafIndices(dst []int, f *pqarrow.SchemaField) []int {
	if len(f.Children) == 0 {
		return append(dst, f.ColIndex)
	}
	for i := range f.Children {
		dst = leafIndices(dst, &f.Children[i])
	}
	return dst
}
