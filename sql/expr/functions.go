package expr

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dagflow/dagflow/sql/parser"
	"github.com/dagflow/dagflow/sql/row"
	"github.com/dagflow/dagflow/sql/types"
)

// Value is an argument or result of a Go UDF. Exactly the field of the
// type's storage class is meaningful (Int for BIGINT, DECIMAL, BOOLEAN
// and TIMESTAMP, Float for DOUBLE, Bytes for VARCHAR). Bytes of an
// argument are only valid during the call.
type Value struct {
	Null  bool
	Int   int64
	Float float64
	Bytes []byte
}

// UDF is a scalar Go function callable from SQL. Eval must be safe for
// concurrent use and must not keep its argument slice; a NULL argument
// gives a NULL result without calling Eval.
type UDF struct {
	Args   []types.Type
	Result types.Type
	Eval   func(args []Value) Value
	// Doc says what the function does (for EXPLAIN and docs).
	Doc string
}

// Functions is the set of scalar functions: the built-ins and the UDFs a
// job registers. It is not safe for concurrent registration.
type Functions struct {
	udfs map[string]UDF
}

// NewFunctions returns the built-in functions.
func NewFunctions() *Functions { return &Functions{udfs: map[string]UDF{}} }

// Register adds a Go UDF under name (case-insensitive). Built-in names
// and names already registered are refused.
func (f *Functions) Register(name string, u UDF) error {
	n := strings.ToUpper(name)
	if _, ok := builtins[n]; ok || IsAggregate(n) {
		return fmt.Errorf("expr: %s is a built-in function", n)
	}
	if _, ok := f.udfs[n]; ok {
		return fmt.Errorf("expr: function %s is already registered", n)
	}
	if u.Eval == nil {
		return fmt.Errorf("expr: function %s has no Eval", n)
	}
	f.udfs[n] = u
	return nil
}

// builtin compiles a call of a built-in function over compiled arguments.
type builtin struct {
	sig     string
	doc     string
	compile func(pos parser.Pos, args []*Compiled) (*Compiled, error)
}

// Builtin describes a built-in function for documentation.
type Builtin struct {
	Signature, Doc string
}

// Builtins lists the built-in scalar functions, sorted by name.
func Builtins() []Builtin {
	var out []Builtin
	for _, b := range builtins {
		out = append(out, Builtin{Signature: b.sig, Doc: b.doc})
	}
	slices.SortFunc(out, func(a, b Builtin) int { return strings.Compare(a.Signature, b.Signature) })
	return out
}

var builtins map[string]builtin

func init() {
	builtins = map[string]builtin{
		"MOD": {"MOD(a BIGINT, b BIGINT) BIGINT", "remainder of a / b (sign of a); NULL when b = 0", func(pos parser.Pos, a []*Compiled) (*Compiled, error) {
			if err := argTypes(pos, "MOD", a, types.Bigint, types.Bigint); err != nil {
				return nil, err
			}
			return intArith("%", types.BIGINT, a[0], a[1]), nil
		}},
		"ABS": {"ABS(x) same type", "absolute value of a number", func(pos parser.Pos, a []*Compiled) (*Compiled, error) {
			if len(a) != 1 || !a[0].Type.Numeric() {
				return nil, errorf(pos, "ABS takes one number")
			}
			if a[0].Type.Kind == types.Double {
				f := a[0].Float
				return &Compiled{Type: a[0].Type, Float: func(r row.Row) (float64, bool) {
					v, ok := f(r)
					if v < 0 {
						v = -v
					}
					return v, ok
				}}, nil
			}
			f := a[0].Int
			return &Compiled{Type: a[0].Type, Int: func(r row.Row) (int64, bool) {
				v, ok := f(r)
				if v < 0 {
					v = -v
				}
				return v, ok
			}}, nil
		}},
		"HOUR": {"HOUR(ts TIMESTAMP) BIGINT", "the hour of the day (0-23, UTC) of ts", func(pos parser.Pos, a []*Compiled) (*Compiled, error) {
			if err := argTypes(pos, "HOUR", a, types.Timestamp); err != nil {
				return nil, err
			}
			f := a[0].Int
			return &Compiled{Type: types.BIGINT, Int: func(r row.Row) (int64, bool) {
				v, ok := f(r)
				h := v / 3_600_000
				if v%3_600_000 < 0 {
					h--
				}
				if h %= 24; h < 0 {
					h += 24
				}
				return h, ok
			}}, nil
		}},
		"UPPER": {"UPPER(s VARCHAR) VARCHAR", "s in upper case", caseFunc(true)},
		"LOWER": {"LOWER(s VARCHAR) VARCHAR", "s in lower case", caseFunc(false)},
		"TRIM":  {"TRIM(s VARCHAR) VARCHAR", "s without leading and trailing white space", strFunc("TRIM", bytes.TrimSpace)},
		"CHAR_LENGTH": {"CHAR_LENGTH(s VARCHAR) BIGINT", "number of characters of s", func(pos parser.Pos, a []*Compiled) (*Compiled, error) {
			if err := argTypes(pos, "CHAR_LENGTH", a, types.Varchar); err != nil {
				return nil, err
			}
			f := a[0].Bytes
			return &Compiled{Type: types.BIGINT, Int: func(r row.Row) (int64, bool) {
				s, ok := f(r)
				return int64(utf8.RuneCount(s)), ok
			}}, nil
		}},
		"CONCAT": {"CONCAT(s VARCHAR, …) VARCHAR", "the strings joined; NULL if any is NULL", func(pos parser.Pos, a []*Compiled) (*Compiled, error) {
			if len(a) == 0 {
				return nil, errorf(pos, "CONCAT takes at least one argument")
			}
			fs := make([]func(row.Row) ([]byte, bool), len(a))
			for i, x := range a {
				if x.Type.Kind != types.Varchar {
					return nil, errorf(pos, "CONCAT argument %d is %s, want VARCHAR", i+1, x.Type)
				}
				fs[i] = x.Bytes
			}
			return &Compiled{Type: types.VARCHAR, Bytes: func(r row.Row) ([]byte, bool) {
				var out []byte
				for _, f := range fs {
					s, ok := f(r)
					if !ok {
						return nil, false
					}
					out = append(out, s...)
				}
				return out, true
			}}, nil
		}},
		"COALESCE": {"COALESCE(x, …) common type", "the first non-NULL argument", func(pos parser.Pos, a []*Compiled) (*Compiled, error) {
			t, err := commonType(pos, a)
			if err != nil || len(a) == 0 {
				return nil, errorf(pos, "COALESCE takes arguments of one type")
			}
			cs := make([]*Compiled, len(a))
			for i, x := range a {
				if cs[i], err = cast(pos, x, t); err != nil {
					return nil, err
				}
			}
			out := &Compiled{Type: t}
			switch t.Storage() {
			case types.StoreFloat:
				out.Float = func(r row.Row) (float64, bool) {
					for _, c := range cs {
						if v, ok := c.Float(r); ok {
							return v, true
						}
					}
					return 0, false
				}
			case types.StoreBytes:
				out.Bytes = func(r row.Row) ([]byte, bool) {
					for _, c := range cs {
						if v, ok := c.Bytes(r); ok {
							return v, true
						}
					}
					return nil, false
				}
			default:
				out.Int = func(r row.Row) (int64, bool) {
					for _, c := range cs {
						if v, ok := c.Int(r); ok {
							return v, true
						}
					}
					return 0, false
				}
			}
			return out, nil
		}},
		"SUBSTRING": {"SUBSTRING(s VARCHAR, start BIGINT [, len BIGINT]) VARCHAR", "len characters of s from start (from 1)", substring},
		"SUBSTR":    {"SUBSTR(s VARCHAR, start BIGINT [, len BIGINT]) VARCHAR", "SUBSTRING", substring},
		"SPLIT_INDEX": {"SPLIT_INDEX(s VARCHAR, sep VARCHAR, i BIGINT) VARCHAR", "the i-th (from 0) part of s split at sep; NULL if there is none", func(pos parser.Pos, a []*Compiled) (*Compiled, error) {
			if err := argTypes(pos, "SPLIT_INDEX", a, types.Varchar, types.Varchar, types.Bigint); err != nil {
				return nil, err
			}
			sf, df, nf := a[0].Bytes, a[1].Bytes, a[2].Int
			return &Compiled{Type: types.VARCHAR, Bytes: func(r row.Row) ([]byte, bool) {
				s, ok1 := sf(r)
				d, ok2 := df(r)
				n, ok3 := nf(r)
				if !ok1 || !ok2 || !ok3 || n < 0 || len(d) == 0 {
					return nil, false
				}
				for ; n > 0; n-- {
					i := bytes.Index(s, d)
					if i < 0 {
						return nil, false
					}
					s = s[i+len(d):]
				}
				if i := bytes.Index(s, d); i >= 0 {
					s = s[:i]
				}
				return s, true
			}}, nil
		}},
		"REGEXP_EXTRACT": {"REGEXP_EXTRACT(s VARCHAR, re VARCHAR constant [, group BIGINT constant]) VARCHAR", "the group (default 0) of the first match of re (Go RE2 syntax) in s; NULL without a match", func(pos parser.Pos, a []*Compiled) (*Compiled, error) {
			if len(a) == 2 {
				a = append(a, constInt(types.BIGINT, 0))
			}
			if err := argTypes(pos, "REGEXP_EXTRACT", a, types.Varchar, types.Varchar, types.Bigint); err != nil {
				return nil, err
			}
			if !a[1].Const || !a[2].Const {
				return nil, errorf(pos, "REGEXP_EXTRACT needs a constant pattern and group")
			}
			p, _ := a[1].Bytes(nil)
			re, err := regexp.Compile(string(p))
			if err != nil {
				return nil, errorf(pos, "REGEXP_EXTRACT: %v", err)
			}
			g, _ := a[2].Int(nil)
			if g < 0 || int(g) > re.NumSubexp() {
				return nil, errorf(pos, "REGEXP_EXTRACT: group %d out of range (the pattern has %d)", g, re.NumSubexp())
			}
			sf, find := a[0].Bytes, newMatcher(re).find
			return &Compiled{Type: types.VARCHAR, Bytes: func(r row.Row) ([]byte, bool) {
				s, ok := sf(r)
				if !ok {
					return nil, false
				}
				m := find(s)
				if m == nil || m[2*g] < 0 {
					return nil, false
				}
				return s[m[2*g]:m[2*g+1]], true
			}}, nil
		}},
	}
	builtins["DATE_FORMAT"] = builtin{"DATE_FORMAT(ts TIMESTAMP, format VARCHAR) VARCHAR",
		"ts (UTC) formatted by a constant pattern of yyyy, MM, dd, HH, mm, ss and the literal characters - : / . space T", dateFormat}
}

func argTypes(pos parser.Pos, name string, a []*Compiled, want ...types.Kind) error {
	if len(a) != len(want) {
		return errorf(pos, "%s takes %d arguments, got %d", name, len(want), len(a))
	}
	for i, x := range a {
		if x.Type.Kind != want[i] {
			return errorf(pos, "%s argument %d is %s, want %s", name, i+1, x.Type, types.Type{Kind: want[i]})
		}
	}
	return nil
}

// dateFormat compiles DATE_FORMAT(ts, 'pattern'): the pattern, in
// Java's SimpleDateFormat letters, is translated once to a Go layout.
func dateFormat(pos parser.Pos, a []*Compiled) (*Compiled, error) {
	if err := argTypes(pos, "DATE_FORMAT", a, types.Timestamp, types.Varchar); err != nil {
		return nil, err
	}
	if !a[1].Const {
		return nil, errorf(pos, "DATE_FORMAT needs a constant pattern")
	}
	pat, ok := a[1].Bytes(nil)
	if !ok {
		return nullOf(types.VARCHAR), nil
	}
	var layout strings.Builder
	for p := string(pat); p != ""; {
		matched := false
		for _, f := range [...][2]string{{"yyyy", "2006"}, {"MM", "01"}, {"dd", "02"}, {"HH", "15"}, {"mm", "04"}, {"ss", "05"}} {
			if strings.HasPrefix(p, f[0]) {
				layout.WriteString(f[1])
				p, matched = p[len(f[0]):], true
				break
			}
		}
		if matched {
			continue
		}
		if !strings.ContainsRune("-:/. T", rune(p[0])) {
			return nil, errorf(pos, "DATE_FORMAT pattern %q: unsupported %q (supported: yyyy, MM, dd, HH, mm, ss and - : / . space T)", pat, p[:1])
		}
		layout.WriteByte(p[0])
		p = p[1:]
	}
	l, f := layout.String(), a[0].Int
	return &Compiled{Type: types.VARCHAR, Bytes: func(r row.Row) ([]byte, bool) {
		v, ok := f(r)
		if !ok {
			return nil, false
		}
		return time.UnixMilli(v).UTC().AppendFormat(nil, l), true
	}}, nil
}

func strFunc(name string, fn func([]byte) []byte) func(parser.Pos, []*Compiled) (*Compiled, error) {
	return func(pos parser.Pos, a []*Compiled) (*Compiled, error) {
		if err := argTypes(pos, name, a, types.Varchar); err != nil {
			return nil, err
		}
		f := a[0].Bytes
		return &Compiled{Type: types.VARCHAR, Bytes: func(r row.Row) ([]byte, bool) {
			s, ok := f(r)
			if !ok {
				return nil, false
			}
			return fn(s), true
		}}, nil
	}
}

// caseFunc compiles LOWER (upper false) or UPPER, marked so that a
// comparison with a constant folds case in place.
func caseFunc(upper bool) func(parser.Pos, []*Compiled) (*Compiled, error) {
	name, fn := "LOWER", bytes.ToLower
	if upper {
		name, fn = "UPPER", bytes.ToUpper
	}
	plain := strFunc(name, fn)
	return func(pos parser.Pos, a []*Compiled) (*Compiled, error) {
		c, err := plain(pos, a)
		if err != nil {
			return nil, err
		}
		c.fold = &caseFold{upper: upper, arg: a[0].Bytes}
		return c, nil
	}
}

func substring(pos parser.Pos, a []*Compiled) (*Compiled, error) {
	if len(a) == 2 {
		a = append(a, constInt(types.BIGINT, 1<<62))
	}
	if err := argTypes(pos, "SUBSTRING", a, types.Varchar, types.Bigint, types.Bigint); err != nil {
		return nil, err
	}
	sf, bf, lf := a[0].Bytes, a[1].Int, a[2].Int
	return &Compiled{Type: types.VARCHAR, Bytes: func(r row.Row) ([]byte, bool) {
		s, ok1 := sf(r)
		start, ok2 := bf(r)
		n, ok3 := lf(r)
		if !ok1 || !ok2 || !ok3 || n < 0 {
			return nil, false
		}
		// Characters, not bytes: skip start-1 runes, keep n.
		i := 0
		for k := int64(1); k < start && i < len(s); k++ {
			_, size := utf8.DecodeRune(s[i:])
			i += size
		}
		j := i
		for k := int64(0); k < n && j < len(s); k++ {
			_, size := utf8.DecodeRune(s[j:])
			j += size
		}
		return s[i:j], true
	}}, nil
}

// call compiles a call of a built-in or a UDF.
func (f *Functions) call(e *parser.Call, args []*Compiled) (*Compiled, error) {
	if b, ok := builtins[e.Name]; ok {
		c, err := b.compile(e.Pos, args)
		if err != nil {
			return nil, err
		}
		// Built-ins are deterministic: of constants, they are constant.
		c.Const = true
		for _, a := range args {
			c.Const = c.Const && a.Const
		}
		return c, nil
	}
	var u UDF
	ok := false
	if f != nil {
		u, ok = f.udfs[e.Name]
	}
	if !ok {
		return nil, errorf(e.Pos, "unknown function %s", e.Name)
	}
	if len(args) != len(u.Args) {
		return nil, errorf(e.Pos, "%s takes %d arguments, got %d", e.Name, len(u.Args), len(args))
	}
	conv := make([]*Compiled, len(args))
	for i, a := range args {
		c, err := cast(e.Pos, a, u.Args[i])
		if err != nil || a.Type.Kind == types.Varchar && u.Args[i].Kind != types.Varchar {
			return nil, errorf(e.Pos, "%s argument %d is %s, want %s", e.Name, i+1, a.Type, u.Args[i])
		}
		conv[i] = c
	}
	// The argument slices are pooled: Eval must not keep its slice.
	n := len(conv)
	pool := &sync.Pool{New: func() any { s := make([]Value, n); return &s }}
	eval := func(r row.Row) (Value, bool) {
		p := pool.Get().(*[]Value)
		vals := *p
		ok := true
		for i, c := range conv {
			vals[i] = Value{}
			switch c.Type.Storage() {
			case types.StoreFloat:
				vals[i].Float, ok = c.Float(r)
			case types.StoreBytes:
				vals[i].Bytes, ok = c.Bytes(r)
			default:
				vals[i].Int, ok = c.Int(r)
			}
			if !ok {
				break
			}
		}
		var v Value
		if ok {
			v = u.Eval(vals)
		}
		clear(vals)
		pool.Put(p)
		return v, ok && !v.Null
	}
	out := &Compiled{Type: u.Result}
	switch u.Result.Storage() {
	case types.StoreFloat:
		out.Float = func(r row.Row) (float64, bool) { v, ok := eval(r); return v.Float, ok }
	case types.StoreBytes:
		out.Bytes = func(r row.Row) ([]byte, bool) { v, ok := eval(r); return v.Bytes, ok }
	default:
		out.Int = func(r row.Row) (int64, bool) { v, ok := eval(r); return v.Int, ok }
	}
	return out, nil
}

func appendTimestamp(dst []byte, ms int64) []byte {
	return time.UnixMilli(ms).UTC().AppendFormat(dst, "2006-01-02 15:04:05.000")
}
