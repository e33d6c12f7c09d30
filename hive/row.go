package hive

import (
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow/decimal128"
)

// Row is one table row: values in the order of its Schema. A NULL is nil;
// other values have the Go type of their column's Hive type:
//
//	boolean bool; tinyint int8; smallint int16; int int32; bigint int64;
//	float float32; double float64; decimal(p,s) decimal128.Num (unscaled,
//	scale from the type); string, varchar, char string; binary []byte;
//	date time.Time (UTC midnight); timestamp time.Time (UTC);
//	array<T> []any; map<K,V> []MapEntry; struct<...> []any (one value
//	per field, in field order).
type Row = []any

// MapEntry is one key/value pair of a Hive map value. Maps are slices of
// entries so that their order (and so written files) is deterministic.
type MapEntry struct {
	Key, Value any
}

// SchemaColumn is one column of a row schema.
type SchemaColumn struct {
	Name string
	Type *Type
	// Partition is set for partition columns.
	Partition bool
}

// Schema describes the values of a Row.
type Schema []SchemaColumn

// Index returns the position of the named column (case-insensitive), or
// -1.
func (s Schema) Index(name string) int {
	for i, c := range s {
		if strings.EqualFold(c.Name, name) {
			return i
		}
	}
	return -1
}

// Names returns the column names.
func (s Schema) Names() []string {
	out := make([]string, len(s))
	for i, c := range s {
		out[i] = c.Name
	}
	return out
}

// TableSchema returns the schema of SELECT * on t: data columns, then
// partition columns. An unsupported type is an error naming the table and
// column.
func TableSchema(t *Table) (Schema, error) {
	s := make(Schema, 0, len(t.Columns)+len(t.PartitionKeys))
	for i, c := range append(append([]Column(nil), t.Columns...), t.PartitionKeys...) {
		typ, err := ParseType(c.Type)
		if err != nil {
			return nil, fmt.Errorf("hive: table %s column %q: %w", t.FullName(), c.Name, err)
		}
		part := i >= len(t.Columns)
		if part && typ.Kind >= Array {
			return nil, fmt.Errorf("hive: table %s partition column %q: %w: partition keys must be primitive, got %s",
				t.FullName(), c.Name, ErrUnsupportedType, c.Type)
		}
		s = append(s, SchemaColumn{Name: strings.ToLower(c.Name), Type: typ, Partition: part})
	}
	return s, nil
}

// CheckValue reports whether v is a valid value (or nil) of type t,
// recursively.
func CheckValue(t *Type, v any) error {
	if v == nil {
		return nil
	}
	ok := false
	switch t.Kind {
	case Boolean:
		_, ok = v.(bool)
	case TinyInt:
		_, ok = v.(int8)
	case SmallInt:
		_, ok = v.(int16)
	case Int:
		_, ok = v.(int32)
	case BigInt:
		_, ok = v.(int64)
	case Float:
		_, ok = v.(float32)
	case Double:
		_, ok = v.(float64)
	case Decimal:
		_, ok = v.(decimal128.Num)
	case String, Varchar, Char:
		_, ok = v.(string)
	case Binary:
		_, ok = v.([]byte)
	case Date, Timestamp:
		_, ok = v.(time.Time)
	case Array:
		var a []any
		if a, ok = v.([]any); ok {
			for i, e := range a {
				if err := CheckValue(t.Elem, e); err != nil {
					return fmt.Errorf("element %d: %w", i, err)
				}
			}
		}
	case Map:
		var m []MapEntry
		if m, ok = v.([]MapEntry); ok {
			for i, e := range m {
				if e.Key == nil {
					return fmt.Errorf("entry %d: NULL map key", i)
				}
				if err := CheckValue(t.Key, e.Key); err != nil {
					return fmt.Errorf("entry %d key: %w", i, err)
				}
				if err := CheckValue(t.Elem, e.Value); err != nil {
					return fmt.Errorf("entry %d value: %w", i, err)
				}
			}
		}
	case Struct:
		var a []any
		if a, ok = v.([]any); ok {
			if len(a) != len(t.Fields) {
				return fmt.Errorf("struct value has %d fields, type %s has %d", len(a), t, len(t.Fields))
			}
			for i, e := range a {
				if err := CheckValue(t.Fields[i].Type, e); err != nil {
					return fmt.Errorf("field %s: %w", t.Fields[i].Name, err)
				}
			}
		}
	}
	if !ok {
		return fmt.Errorf("value of Go type %T does not fit Hive type %s (want %s)", v, t, t.GoType())
	}
	return nil
}

// DateOf returns the date value of y-m-d.
func DateOf(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// MustDecimal parses a decimal literal for type decimal(p,s); it is meant
// for tests and examples and returns the zero value on bad input.
func MustDecimal(s string, p, scale int32) decimal128.Num {
	n, err := decimal128.FromString(s, p, scale)
	if err != nil {
		return decimal128.Num{}
	}
	return n
}
