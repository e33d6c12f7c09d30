package types

import (
	"fmt"
	"strings"

	"github.com/dagflow/dagflow/sql/parser"
)

// Kind is the kind of a SQL type.
type Kind uint8

// The kinds. Every integer type (TINYINT … BIGINT) is a BIGINT.
const (
	Null      Kind = iota // the type of the NULL literal
	Bigint                // 64-bit signed integer
	Double                // 64-bit IEEE float (FLOAT, REAL, DOUBLE)
	Decimal               // fixed point: an int64 of unscaled digits and a Scale
	Varchar               // UTF-8 text (VARCHAR, STRING, CHAR)
	Boolean               // TRUE or FALSE
	Timestamp             // milliseconds since the Unix epoch (TIMESTAMP(3), TIMESTAMP_LTZ(3))
	Interval              // a duration in milliseconds (literals only)
)

// Storage is how a value of a type is held in a row.
type Storage uint8

// The storage classes.
const (
	StoreInt   Storage = iota // int64: Bigint, Decimal, Boolean, Timestamp, Interval
	StoreFloat                // float64: Double
	StoreBytes                // variable-length bytes: Varchar
)

// Type is a SQL type. The zero value is the type of NULL.
type Type struct {
	Kind Kind
	// Precision and Scale of a DECIMAL: up to 18 digits, Scale of them
	// after the point.
	Precision, Scale int
}

// Common types.
var (
	BIGINT    = Type{Kind: Bigint}
	DOUBLE    = Type{Kind: Double}
	VARCHAR   = Type{Kind: Varchar}
	BOOLEAN   = Type{Kind: Boolean}
	TIMESTAMP = Type{Kind: Timestamp}
	INTERVAL  = Type{Kind: Interval}
)

// MaxDecimalPrecision is the largest DECIMAL precision a row holds
// exactly (an int64 holds 18 decimal digits).
const MaxDecimalPrecision = 18

// DecimalOf returns DECIMAL(p, s) with p capped at MaxDecimalPrecision.
func DecimalOf(p, s int) Type {
	return Type{Kind: Decimal, Precision: min(p, MaxDecimalPrecision), Scale: s}
}

// Storage returns how values of t are stored.
func (t Type) Storage() Storage {
	switch t.Kind {
	case Double:
		return StoreFloat
	case Varchar:
		return StoreBytes
	}
	return StoreInt
}

// Numeric reports whether t is BIGINT, DECIMAL or DOUBLE.
func (t Type) Numeric() bool { return t.Kind == Bigint || t.Kind == Decimal || t.Kind == Double }

// String returns the SQL spelling of t.
func (t Type) String() string {
	switch t.Kind {
	case Null:
		return "NULL"
	case Bigint:
		return "BIGINT"
	case Double:
		return "DOUBLE"
	case Decimal:
		return fmt.Sprintf("DECIMAL(%d, %d)", t.Precision, t.Scale)
	case Varchar:
		return "VARCHAR"
	case Boolean:
		return "BOOLEAN"
	case Timestamp:
		return "TIMESTAMP(3)"
	case Interval:
		return "INTERVAL"
	}
	return fmt.Sprintf("type(%d)", t.Kind)
}

// FromName converts a parsed type name; an unsupported type is an error
// naming its position.
func FromName(tn *parser.TypeName) (Type, error) {
	bad := func(format string, args ...any) (Type, error) {
		return Type{}, fmt.Errorf("types: line %s: %s", tn.Pos, fmt.Sprintf(format, args...))
	}
	params := func(max int) error {
		if len(tn.Params) > max {
			return fmt.Errorf("types: line %s: %s takes at most %d parameters, got %d", tn.Pos, tn.Name, max, len(tn.Params))
		}
		return nil
	}
	switch tn.Name {
	case "TINYINT", "SMALLINT", "INT", "INTEGER", "BIGINT":
		return BIGINT, params(0)
	case "FLOAT", "REAL", "DOUBLE":
		return DOUBLE, params(0)
	case "VARCHAR", "STRING", "CHAR":
		return VARCHAR, params(1)
	case "BOOLEAN", "BOOL":
		return BOOLEAN, params(0)
	case "TIMESTAMP", "TIMESTAMP_LTZ":
		if err := params(1); err != nil {
			return Type{}, err
		}
		if len(tn.Params) == 1 && tn.Params[0] != 3 {
			return bad("%s(%d) is not supported: timestamps have millisecond precision, TIMESTAMP(3)", tn.Name, tn.Params[0])
		}
		return TIMESTAMP, nil
	case "DECIMAL", "DEC", "NUMERIC":
		if err := params(2); err != nil {
			return Type{}, err
		}
		p, s := 10, 0
		if len(tn.Params) > 0 {
			p = tn.Params[0]
		}
		if len(tn.Params) > 1 {
			s = tn.Params[1]
		}
		if p < 1 || s > p || s > MaxDecimalPrecision {
			return bad("DECIMAL(%d, %d): want 1 <= precision and scale <= precision", p, s)
		}
		return DecimalOf(p, s), nil
	}
	return bad("unknown or unsupported type %s (supported: BIGINT and the other integer types, DOUBLE, DECIMAL(p, s), VARCHAR, BOOLEAN, TIMESTAMP(3))", strings.ToUpper(tn.Name))
}

// Column is a named, typed column of a schema.
type Column struct {
	Name string
	Type Type
}

// Schema is the ordered columns of a table or a query result.
type Schema []Column

// Index returns the position of the column named name (case-insensitive)
// or -1.
func (s Schema) Index(name string) int {
	for i, c := range s {
		if strings.EqualFold(c.Name, name) {
			return i
		}
	}
	return -1
}

// Storages returns the storage class of every column.
func (s Schema) Storages() []Storage {
	out := make([]Storage, len(s))
	for i, c := range s {
		out[i] = c.Type.Storage()
	}
	return out
}

// String returns "(name TYPE, …)".
func (s Schema) String() string {
	parts := make([]string, len(s))
	for i, c := range s {
		parts[i] = c.Name + " " + c.Type.String()
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
