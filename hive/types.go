package hive

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
)

// Kind is the kind of a Hive type.
type Kind uint8

// Hive type kinds supported by this package.
const (
	Boolean Kind = iota + 1
	TinyInt
	SmallInt
	Int
	BigInt
	Float
	Double
	Decimal
	String
	Varchar
	Char
	Binary
	Date
	Timestamp
	Array
	Map
	Struct
)

var kindNames = map[string]Kind{
	"boolean": Boolean, "tinyint": TinyInt, "smallint": SmallInt, "int": Int, "integer": Int,
	"bigint": BigInt, "float": Float, "double": Double, "decimal": Decimal, "numeric": Decimal,
	"string": String, "varchar": Varchar, "char": Char, "binary": Binary, "date": Date,
	"timestamp": Timestamp, "array": Array, "map": Map, "struct": Struct,
}

// Field is a named member of a struct type.
type Field struct {
	Name string
	Type *Type
}

// Type is a parsed Hive type.
type Type struct {
	Kind Kind
	// Precision and Scale of decimal (default decimal(10,0)).
	Precision, Scale int32
	// Length of varchar and char.
	Length int
	// Elem is the element type of an array, the value type of a map.
	Elem *Type
	// Key is the key type of a map.
	Key *Type
	// Fields of a struct.
	Fields []Field
}

// String returns the Hive spelling of the type.
func (t *Type) String() string {
	switch t.Kind {
	case Decimal:
		return fmt.Sprintf("decimal(%d,%d)", t.Precision, t.Scale)
	case Varchar:
		return fmt.Sprintf("varchar(%d)", t.Length)
	case Char:
		return fmt.Sprintf("char(%d)", t.Length)
	case Array:
		return "array<" + t.Elem.String() + ">"
	case Map:
		return "map<" + t.Key.String() + "," + t.Elem.String() + ">"
	case Struct:
		var b strings.Builder
		b.WriteString("struct<")
		for i, f := range t.Fields {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(f.Name + ":" + f.Type.String())
		}
		b.WriteByte('>')
		return b.String()
	}
	for n, k := range kindNames {
		if k == t.Kind && n != "integer" && n != "numeric" {
			return n
		}
	}
	return fmt.Sprintf("Kind(%d)", t.Kind)
}

// ErrUnsupportedType is matched (errors.Is) by errors about Hive types
// this package cannot read or write (e.g. uniontype, interval).
var ErrUnsupportedType = fmt.Errorf("unsupported Hive type")

// ParseType parses a Hive type string such as "int", "decimal(10,2)",
// "map<string,array<int>>" or "struct<a:int,b:string>".
func ParseType(s string) (*Type, error) {
	p := typeParser{s: strings.ToLower(s)}
	t, err := p.parse()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("bad Hive type %q: unexpected %q at offset %d", s, p.s[p.i:], p.i)
	}
	return t, nil
}

type typeParser struct {
	s string
	i int
}

func (p *typeParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *typeParser) ident() string {
	p.space()
	j := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '$' {
			p.i++
			continue
		}
		break
	}
	return p.s[j:p.i]
}

func (p *typeParser) expect(c byte) error {
	p.space()
	if p.i >= len(p.s) || p.s[p.i] != c {
		return fmt.Errorf("bad Hive type %q: expected %q at offset %d", p.s, c, p.i)
	}
	p.i++
	return nil
}

func (p *typeParser) peek(c byte) bool {
	p.space()
	return p.i < len(p.s) && p.s[p.i] == c
}

func (p *typeParser) number() (int, error) {
	p.space()
	j := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	n, err := strconv.Atoi(p.s[j:p.i])
	if err != nil {
		return 0, fmt.Errorf("bad Hive type %q: expected a number at offset %d", p.s, j)
	}
	return n, nil
}

func (p *typeParser) parse() (*Type, error) {
	name := p.ident()
	if name == "" {
		return nil, fmt.Errorf("bad Hive type %q: expected a type name at offset %d", p.s, p.i)
	}
	k, ok := kindNames[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnsupportedType, p.s)
	}
	t := &Type{Kind: k}
	switch k {
	case Decimal:
		t.Precision, t.Scale = 10, 0
		if p.peek('(') {
			p.i++
			n, err := p.number()
			if err != nil {
				return nil, err
			}
			t.Precision = int32(n)
			if p.peek(',') {
				p.i++
				if n, err = p.number(); err != nil {
					return nil, err
				}
				t.Scale = int32(n)
			}
			if err := p.expect(')'); err != nil {
				return nil, err
			}
		}
		if t.Precision < 1 || t.Precision > 38 || t.Scale < 0 || t.Scale > t.Precision {
			return nil, fmt.Errorf("bad Hive type %q: decimal precision must be 1..38 and scale 0..precision", p.s)
		}
	case Varchar, Char:
		if err := p.expect('('); err != nil {
			return nil, err
		}
		n, err := p.number()
		if err != nil {
			return nil, err
		}
		t.Length = n
		if err := p.expect(')'); err != nil {
			return nil, err
		}
	case Array:
		if err := p.expect('<'); err != nil {
			return nil, err
		}
		e, err := p.parse()
		if err != nil {
			return nil, err
		}
		t.Elem = e
		if err := p.expect('>'); err != nil {
			return nil, err
		}
	case Map:
		if err := p.expect('<'); err != nil {
			return nil, err
		}
		k, err := p.parse()
		if err != nil {
			return nil, err
		}
		if k.Kind >= Array {
			return nil, fmt.Errorf("bad Hive type %q: map keys must be primitive", p.s)
		}
		if err := p.expect(','); err != nil {
			return nil, err
		}
		v, err := p.parse()
		if err != nil {
			return nil, err
		}
		t.Key, t.Elem = k, v
		if err := p.expect('>'); err != nil {
			return nil, err
		}
	case Struct:
		if err := p.expect('<'); err != nil {
			return nil, err
		}
		for {
			n := p.ident()
			if n == "" {
				return nil, fmt.Errorf("bad Hive type %q: expected a field name at offset %d", p.s, p.i)
			}
			if err := p.expect(':'); err != nil {
				return nil, err
			}
			ft, err := p.parse()
			if err != nil {
				return nil, err
			}
			t.Fields = append(t.Fields, Field{Name: n, Type: ft})
			if p.peek(',') {
				p.i++
				continue
			}
			break
		}
		if err := p.expect('>'); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Arrow returns the Arrow type used for t in Parquet files. Timestamps are
// nanosecond timestamps (written as INT96, the encoding Hive 2.3–4.x
// reads), dates are date32.
func (t *Type) Arrow() arrow.DataType {
	switch t.Kind {
	case Boolean:
		return arrow.FixedWidthTypes.Boolean
	case TinyInt:
		return arrow.PrimitiveTypes.Int8
	case SmallInt:
		return arrow.PrimitiveTypes.Int16
	case Int:
		return arrow.PrimitiveTypes.Int32
	case BigInt:
		return arrow.PrimitiveTypes.Int64
	case Float:
		return arrow.PrimitiveTypes.Float32
	case Double:
		return arrow.PrimitiveTypes.Float64
	case Decimal:
		return &arrow.Decimal128Type{Precision: t.Precision, Scale: t.Scale}
	case String, Varchar, Char:
		return arrow.BinaryTypes.String
	case Binary:
		return arrow.BinaryTypes.Binary
	case Date:
		return arrow.FixedWidthTypes.Date32
	case Timestamp:
		return &arrow.TimestampType{Unit: arrow.Nanosecond}
	case Array:
		return arrow.ListOfField(arrow.Field{Name: "element", Type: t.Elem.Arrow(), Nullable: true})
	case Map:
		return arrow.MapOf(t.Key.Arrow(), t.Elem.Arrow())
	case Struct:
		fs := make([]arrow.Field, len(t.Fields))
		for i, f := range t.Fields {
			fs[i] = arrow.Field{Name: f.Name, Type: f.Type.Arrow(), Nullable: true}
		}
		return arrow.StructOf(fs...)
	}
	return arrow.Null
}

// GoType names the Go type of values of t in a Row.
func (t *Type) GoType() string {
	switch t.Kind {
	case Boolean:
		return "bool"
	case TinyInt:
		return "int8"
	case SmallInt:
		return "int16"
	case Int:
		return "int32"
	case BigInt:
		return "int64"
	case Float:
		return "float32"
	case Double:
		return "float64"
	case Decimal:
		return "decimal128.Num"
	case String, Varchar, Char:
		return "string"
	case Binary:
		return "[]byte"
	case Date, Timestamp:
		return "time.Time"
	case Array, Struct:
		return "[]any"
	case Map:
		return "[]hive.MapEntry"
	}
	return "?"
}
