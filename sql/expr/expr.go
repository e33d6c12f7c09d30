package expr

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dagflow/dagflow/sql/parser"
	"github.com/dagflow/dagflow/sql/row"
	"github.com/dagflow/dagflow/sql/types"
)

// Compiled is an expression compiled for rows of one scope. Exactly the
// function of its type's storage class is set.
type Compiled struct {
	Type  types.Type
	Int   func(r row.Row) (int64, bool)
	Float func(r row.Row) (float64, bool)
	Bytes func(r row.Row) ([]byte, bool)
	// Const is set when the value does not depend on the row.
	Const bool

	// lower or upper is set for LOWER(x) or UPPER(x) of a VARCHAR x: a
	// comparison with a constant then folds case without allocating.
	fold *caseFold
}

// caseFold is LOWER(arg) (upper false) or UPPER(arg).
type caseFold struct {
	upper bool
	arg   func(row.Row) ([]byte, bool)
}

// Writer returns a function that evaluates c over r and sets field i of
// b: Write with the storage class resolved once.
func (c *Compiled) Writer() func(b *row.Builder, i int, r row.Row) {
	switch c.Type.Storage() {
	case types.StoreFloat:
		f := c.Float
		return func(b *row.Builder, i int, r row.Row) {
			if v, ok := f(r); ok {
				b.SetFloat(i, v)
			} else {
				b.SetNull(i)
			}
		}
	case types.StoreBytes:
		f := c.Bytes
		return func(b *row.Builder, i int, r row.Row) {
			if v, ok := f(r); ok {
				b.SetBytes(i, v)
			} else {
				b.SetNull(i)
			}
		}
	}
	f := c.Int
	return func(b *row.Builder, i int, r row.Row) {
		if v, ok := f(r); ok {
			b.SetInt(i, v)
		} else {
			b.SetNull(i)
		}
	}
}

// Write evaluates c over r and sets field i of b.
func (c *Compiled) Write(b *row.Builder, i int, r row.Row) {
	switch c.Type.Storage() {
	case types.StoreFloat:
		if v, ok := c.Float(r); ok {
			b.SetFloat(i, v)
			return
		}
	case types.StoreBytes:
		if v, ok := c.Bytes(r); ok {
			b.SetBytes(i, v)
			return
		}
	default:
		if v, ok := c.Int(r); ok {
			b.SetInt(i, v)
			return
		}
	}
	b.SetNull(i)
}

// Column is a column visible to expressions: its qualifier (table name or
// alias), name, type and field index in the input row.
type Column struct {
	Qualifier string
	Name      string
	Type      types.Type
	Index     int
	// Expr, when set, computes the column from the input row (a computed
	// column, or the output of a projection fused with its consumer): a
	// reference compiles to Expr instead of reading field Index, which
	// is then meaningless.
	Expr *Compiled
}

// Scope is the columns of the rows an expression reads.
type Scope struct {
	Columns []Column
	// N is the number of fields of the input rows.
	N int
}

// ScopeOf returns the scope of rows of schema s under qualifier q.
func ScopeOf(q string, s types.Schema) *Scope {
	sc := &Scope{N: len(s)}
	for i, c := range s {
		sc.Columns = append(sc.Columns, Column{Qualifier: q, Name: c.Name, Type: c.Type, Index: i})
	}
	return sc
}

// Resolve finds a column by optional qualifier and name.
func (s *Scope) Resolve(ref *parser.ColumnRef) (Column, error) {
	var found []Column
	for _, c := range s.Columns {
		if strings.EqualFold(c.Name, ref.Name) && (ref.Qualifier == "" || strings.EqualFold(c.Qualifier, ref.Qualifier)) {
			found = append(found, c)
		}
	}
	name := ref.Name
	if ref.Qualifier != "" {
		name = ref.Qualifier + "." + ref.Name
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		var names []string
		for _, c := range s.Columns {
			if c.Qualifier != "" {
				names = append(names, c.Qualifier+"."+c.Name)
			} else {
				names = append(names, c.Name)
			}
		}
		return Column{}, errorf(ref.Pos, "unknown column %s (known: %s)", name, strings.Join(names, ", "))
	}
	return Column{}, errorf(ref.Pos, "column %s is ambiguous: qualify it with a table name", name)
}

// Error is a semantic error in an expression, at a position.
type Error struct {
	Pos parser.Pos
	Msg string
}

// Error returns "line L:C: message".
func (e *Error) Error() string { return fmt.Sprintf("line %s: %s", e.Pos, e.Msg) }

func errorf(pos parser.Pos, format string, args ...any) error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// Compiler compiles expressions over one scope with a set of functions.
type Compiler struct {
	Scope *Scope
	Funcs *Functions
}

// Column compiles a read of one column of the scope.
func (c *Compiler) Column(col Column) *Compiled {
	if col.Expr != nil {
		x := *col.Expr
		return &x
	}
	return columnExpr(col, row.Layout{N: c.Scope.N})
}

// Compile type-checks e and compiles it. A constant expression is
// evaluated once, here.
func (c *Compiler) Compile(e parser.Expr) (*Compiled, error) {
	x, err := c.compile(e)
	if err != nil || !x.Const {
		return x, err
	}
	return constFold(x), nil
}

// constFold evaluates a constant expression (one that reads no row) and
// returns it as a literal.
func constFold(x *Compiled) *Compiled {
	out := &Compiled{Type: x.Type, Const: true}
	switch x.Type.Storage() {
	case types.StoreFloat:
		v, ok := x.Float(nil)
		if !ok {
			return nullOf(x.Type)
		}
		out.Float = func(row.Row) (float64, bool) { return v, true }
	case types.StoreBytes:
		v, ok := x.Bytes(nil)
		if !ok {
			return nullOf(x.Type)
		}
		v = bytes.Clone(v)
		out.Bytes = func(row.Row) ([]byte, bool) { return v, true }
	default:
		v, ok := x.Int(nil)
		if !ok {
			return nullOf(x.Type)
		}
		out.Int = func(row.Row) (int64, bool) { return v, true }
	}
	return out
}

func (c *Compiler) compile(e parser.Expr) (*Compiled, error) {
	switch e := e.(type) {
	case *parser.ColumnRef:
		col, err := c.Scope.Resolve(e)
		if err != nil {
			return nil, err
		}
		return c.Column(col), nil
	case *parser.Literal:
		return literal(e)
	case *parser.IntervalLit:
		ms, err := IntervalMillis(e)
		if err != nil {
			return nil, err
		}
		return constInt(types.INTERVAL, ms), nil
	case *parser.Unary:
		x, err := c.Compile(e.X)
		if err != nil {
			return nil, err
		}
		if e.Op == "NOT" {
			if err := wantBool(e.X, x); err != nil {
				return nil, err
			}
			f := x.Int
			return &Compiled{Type: types.BOOLEAN, Const: x.Const, Int: func(r row.Row) (int64, bool) {
				v, ok := f(r)
				return 1 - v, ok
			}}, nil
		}
		switch x.Type.Kind {
		case types.Bigint, types.Decimal, types.Interval:
			f := x.Int
			return &Compiled{Type: x.Type, Const: x.Const, Int: func(r row.Row) (int64, bool) {
				v, ok := f(r)
				return -v, ok
			}}, nil
		case types.Double:
			f := x.Float
			return &Compiled{Type: x.Type, Const: x.Const, Float: func(r row.Row) (float64, bool) {
				v, ok := f(r)
				return -v, ok
			}}, nil
		}
		return nil, errorf(e.Pos, "unary minus needs a number, got %s", x.Type)
	case *parser.Binary:
		return c.binary(e)
	case *parser.IsNull:
		x, err := c.Compile(e.X)
		if err != nil {
			return nil, err
		}
		isNull := nullCheck(x)
		not := e.Not
		return &Compiled{Type: types.BOOLEAN, Const: x.Const, Int: func(r row.Row) (int64, bool) {
			return b2i(isNull(r) != not), true
		}}, nil
	case *parser.Between:
		lo := &parser.Binary{Pos: e.Pos, Op: ">=", L: e.X, R: e.Lo}
		hi := &parser.Binary{Pos: e.Pos, Op: "<=", L: e.X, R: e.Hi}
		var d parser.Expr = &parser.Binary{Pos: e.Pos, Op: "AND", L: lo, R: hi}
		if e.Not {
			d = &parser.Unary{Pos: e.Pos, Op: "NOT", X: d}
		}
		return c.Compile(d)
	case *parser.In:
		var d parser.Expr
		for _, x := range e.List {
			eq := &parser.Binary{Pos: x.Position(), Op: "=", L: e.X, R: x}
			if d == nil {
				d = eq
			} else {
				d = &parser.Binary{Pos: e.Pos, Op: "OR", L: d, R: eq}
			}
		}
		if e.Not {
			d = &parser.Unary{Pos: e.Pos, Op: "NOT", X: d}
		}
		return c.Compile(d)
	case *parser.Case:
		return c.caseExpr(e)
	case *parser.Cast:
		x, err := c.Compile(e.X)
		if err != nil {
			return nil, err
		}
		t, err := types.FromName(e.Type)
		if err != nil {
			return nil, err
		}
		return cast(e.Pos, x, t)
	case *parser.Call:
		if e.Over != nil {
			return nil, errorf(e.Pos, "%s(…) OVER (…) is only supported as a Top-N rank in a subquery, not in an expression", e.Name)
		}
		if IsAggregate(e.Name) {
			return nil, errorf(e.Pos, "aggregate %s is only allowed in the SELECT list or HAVING of a grouped query", e.Name)
		}
		args := make([]*Compiled, len(e.Args))
		for i, a := range e.Args {
			x, err := c.Compile(a)
			if err != nil {
				return nil, err
			}
			args[i] = x
		}
		if e.Star || e.Distinct {
			return nil, errorf(e.Pos, "%s takes no * or DISTINCT", e.Name)
		}
		return c.Funcs.call(e, args)
	}
	return nil, errorf(e.Position(), "unsupported expression %s", parser.FormatExpr(e))
}

// IsAggregate reports whether name is an aggregate function.
func IsAggregate(name string) bool {
	switch strings.ToUpper(name) {
	case "COUNT", "SUM", "MIN", "MAX", "AVG":
		return true
	}
	return false
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func nullCheck(x *Compiled) func(row.Row) bool {
	switch x.Type.Storage() {
	case types.StoreFloat:
		f := x.Float
		return func(r row.Row) bool { _, ok := f(r); return !ok }
	case types.StoreBytes:
		f := x.Bytes
		return func(r row.Row) bool { _, ok := f(r); return !ok }
	}
	f := x.Int
	return func(r row.Row) bool { _, ok := f(r); return !ok }
}

func wantBool(e parser.Expr, x *Compiled) error {
	if x.Type.Kind != types.Boolean && x.Type.Kind != types.Null {
		return errorf(e.Position(), "%s is %s, want BOOLEAN", parser.FormatExpr(e), x.Type)
	}
	return nil
}

func columnExpr(col Column, l row.Layout) *Compiled {
	i, off := col.Index, l.Offset(col.Index)
	c := &Compiled{Type: col.Type}
	switch col.Type.Storage() {
	case types.StoreFloat:
		c.Float = func(r row.Row) (float64, bool) { return r.Float(off), !r.IsNull(i) }
	case types.StoreBytes:
		c.Bytes = func(r row.Row) ([]byte, bool) {
			if r.IsNull(i) {
				return nil, false
			}
			return r.Bytes(off), true
		}
	default:
		c.Int = func(r row.Row) (int64, bool) { return r.Int(off), !r.IsNull(i) }
	}
	return c
}

func constInt(t types.Type, v int64) *Compiled {
	return &Compiled{Type: t, Const: true, Int: func(row.Row) (int64, bool) { return v, true }}
}

func nullOf(t types.Type) *Compiled {
	return &Compiled{Type: t, Const: true,
		Int:   func(row.Row) (int64, bool) { return 0, false },
		Float: func(row.Row) (float64, bool) { return 0, false },
		Bytes: func(row.Row) ([]byte, bool) { return nil, false },
	}
}

func literal(e *parser.Literal) (*Compiled, error) {
	switch e.Kind {
	case parser.LitInt:
		v, err := strconv.ParseInt(e.Value, 10, 64)
		if err != nil {
			return nil, errorf(e.Pos, "integer literal %s out of range", e.Value)
		}
		return constInt(types.BIGINT, v), nil
	case parser.LitDecimal:
		v, t, err := ParseDecimal(e.Value)
		if err != nil {
			return nil, errorf(e.Pos, "%v", err)
		}
		return constInt(t, v), nil
	case parser.LitString:
		b := []byte(e.Value)
		return &Compiled{Type: types.VARCHAR, Const: true, Bytes: func(row.Row) ([]byte, bool) { return b, true }}, nil
	case parser.LitBool:
		return constInt(types.BOOLEAN, b2i(e.Value == "TRUE")), nil
	}
	return nullOf(types.Type{}), nil
}

// ParseDecimal parses a decimal literal into its unscaled value and type.
func ParseDecimal(s string) (int64, types.Type, error) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	if len(digits) > types.MaxDecimalPrecision {
		return 0, types.Type{}, fmt.Errorf("decimal literal %s has more than %d digits", s, types.MaxDecimalPrecision)
	}
	var v int64
	for _, d := range intPart + frac {
		v = v*10 + int64(d-'0')
	}
	if neg {
		v = -v
	}
	return v, types.DecimalOf(max(len(digits), len(frac), 1), len(frac)), nil
}

// IntervalMillis returns the length of an interval literal in
// milliseconds.
func IntervalMillis(e *parser.IntervalLit) (int64, error) {
	unit := map[string]int64{"DAY": 86_400_000, "HOUR": 3_600_000, "MINUTE": 60_000, "SECOND": 1000, "MILLISECOND": 1}[e.Unit]
	v, err := strconv.ParseInt(strings.TrimSpace(e.Value), 10, 64)
	if unit == 0 || err != nil || v < 0 || v > math.MaxInt64/unit {
		return 0, errorf(e.Pos, "unsupported interval %s: want INTERVAL 'n' DAY|HOUR|MINUTE|SECOND|MILLISECOND with a whole n >= 0", parser.FormatExpr(e))
	}
	return v * unit, nil
}

var pow10 = func() [19]int64 {
	var p [19]int64
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// asDecimal returns x's value as a decimal of scale s (x is BIGINT or
// DECIMAL with scale <= s).
func asDecimal(x *Compiled, s int) func(row.Row) (int64, bool) {
	from := 0
	if x.Type.Kind == types.Decimal {
		from = x.Type.Scale
	}
	if from == s {
		return x.Int
	}
	f, m := x.Int, pow10[s-from]
	return func(r row.Row) (int64, bool) {
		v, ok := f(r)
		return v * m, ok
	}
}

// asFloat returns x's value as a float64.
func asFloat(x *Compiled) func(row.Row) (float64, bool) {
	switch x.Type.Kind {
	case types.Double:
		return x.Float
	case types.Decimal:
		f, d := x.Int, float64(pow10[x.Type.Scale])
		return func(r row.Row) (float64, bool) {
			v, ok := f(r)
			return float64(v) / d, ok
		}
	}
	f := x.Int
	return func(r row.Row) (float64, bool) {
		v, ok := f(r)
		return float64(v), ok
	}
}

func (c *Compiler) binary(e *parser.Binary) (*Compiled, error) {
	l, err := c.Compile(e.L)
	if err != nil {
		return nil, err
	}
	r, err := c.Compile(e.R)
	if err != nil {
		return nil, err
	}
	switch e.Op {
	case "AND", "OR":
		if err := wantBool(e.L, l); err != nil {
			return nil, err
		}
		if err := wantBool(e.R, r); err != nil {
			return nil, err
		}
		return logic(e.Op == "AND", l, r), nil
	case "+", "-", "*", "/", "%":
		return arith(e, l, r)
	case "=", "<>", "<", ">", "<=", ">=":
		return compare(e, l, r)
	case "||":
		if l.Type.Kind != types.Varchar && l.Type.Kind != types.Null || r.Type.Kind != types.Varchar && r.Type.Kind != types.Null {
			return nil, errorf(e.Pos, "|| needs VARCHAR operands, got %s and %s", l.Type, r.Type)
		}
		lf, rf := bytesOf(l), bytesOf(r)
		return &Compiled{Type: types.VARCHAR, Const: l.Const && r.Const, Bytes: func(x row.Row) ([]byte, bool) {
			a, ok1 := lf(x)
			b, ok2 := rf(x)
			if !ok1 || !ok2 {
				return nil, false
			}
			out := make([]byte, 0, len(a)+len(b))
			return append(append(out, a...), b...), true
		}}, nil
	case "LIKE":
		return like(e, l, r)
	}
	return nil, errorf(e.Pos, "unsupported operator %s", e.Op)
}

func bytesOf(x *Compiled) func(row.Row) ([]byte, bool) {
	if x.Bytes != nil {
		return x.Bytes
	}
	return func(row.Row) ([]byte, bool) { return nil, false }
}

func intOf(x *Compiled) func(row.Row) (int64, bool) {
	if x.Int != nil {
		return x.Int
	}
	return func(row.Row) (int64, bool) { return 0, false }
}

// logic is AND or OR in three-valued logic.
func logic(and bool, l, r *Compiled) *Compiled {
	lf, rf := intOf(l), intOf(r)
	k := l.Const && r.Const
	if and {
		return &Compiled{Type: types.BOOLEAN, Const: k, Int: func(x row.Row) (int64, bool) {
			a, ok1 := lf(x)
			if ok1 && a == 0 {
				return 0, true
			}
			b, ok2 := rf(x)
			if ok2 && b == 0 {
				return 0, true
			}
			return 1, ok1 && ok2
		}}
	}
	return &Compiled{Type: types.BOOLEAN, Const: k, Int: func(x row.Row) (int64, bool) {
		a, ok1 := lf(x)
		if ok1 && a != 0 {
			return 1, true
		}
		b, ok2 := rf(x)
		if ok2 && b != 0 {
			return 1, true
		}
		return 0, ok1 && ok2
	}}
}

func arith(e *parser.Binary, l, r *Compiled) (*Compiled, error) {
	lt, rt := l.Type, r.Type
	if lt.Kind == types.Null {
		lt = rt
	}
	if rt.Kind == types.Null {
		rt = lt
	}
	// Timestamps and intervals: ts ± interval, interval ± interval.
	if lt.Kind == types.Timestamp && rt.Kind == types.Interval && (e.Op == "+" || e.Op == "-") ||
		lt.Kind == types.Interval && rt.Kind == types.Interval && (e.Op == "+" || e.Op == "-") {
		return intArith(e.Op, lt, withType(l, lt), withType(r, rt)), nil
	}
	if !lt.Numeric() || !rt.Numeric() {
		return nil, errorf(e.Pos, "operator %s needs numbers, got %s and %s", e.Op, l.Type, r.Type)
	}
	l, r = withType(l, lt), withType(r, rt)
	switch {
	case lt.Kind == types.Double || rt.Kind == types.Double || e.Op == "/" && (lt.Kind == types.Decimal || rt.Kind == types.Decimal):
		return floatArith(e.Op, toFloat(l), toFloat(r)), nil
	case lt.Kind == types.Decimal || rt.Kind == types.Decimal:
		ls, rs := lt.Scale, rt.Scale
		lp, rp := lt.Precision, rt.Precision
		if lt.Kind == types.Bigint {
			lp = 18
		}
		if rt.Kind == types.Bigint {
			rp = 18
		}
		if e.Op == "*" {
			t := types.DecimalOf(lp+rp, ls+rs)
			if ls+rs > types.MaxDecimalPrecision {
				return nil, errorf(e.Pos, "DECIMAL product scale %d exceeds %d", ls+rs, types.MaxDecimalPrecision)
			}
			return intArith("*", t, l, r), nil
		}
		s := max(ls, rs)
		t := types.DecimalOf(max(lp-ls, rp-rs)+s+1, s)
		return intArith(e.Op, t, toDecimal(l, s), toDecimal(r, s)), nil
	}
	return intArith(e.Op, types.BIGINT, l, r), nil
}

// toDecimal returns x (BIGINT or DECIMAL of scale <= s) as a DECIMAL of
// scale s, constant when x is.
func toDecimal(x *Compiled, s int) *Compiled {
	if x.Type.Kind == types.Null {
		return nullOf(types.DecimalOf(18, s))
	}
	out := &Compiled{Type: types.DecimalOf(18, s), Const: x.Const, Int: asDecimal(x, s)}
	if out.Const {
		return constFold(out)
	}
	return out
}

// toFloat returns x (a number) as a DOUBLE, constant when x is.
func toFloat(x *Compiled) *Compiled {
	if x.Type.Kind == types.Null {
		return nullOf(types.DOUBLE)
	}
	out := &Compiled{Type: types.DOUBLE, Const: x.Const, Float: asFloat(x)}
	if out.Const {
		return constFold(out)
	}
	return out
}

// isConstNull reports whether x is a constant NULL.
func isConstNull(x *Compiled) bool {
	if !x.Const {
		return false
	}
	switch x.Type.Storage() {
	case types.StoreFloat:
		_, ok := x.Float(nil)
		return !ok
	case types.StoreBytes:
		_, ok := x.Bytes(nil)
		return !ok
	}
	_, ok := intOf(x)(nil)
	return !ok
}

func withType(x *Compiled, t types.Type) *Compiled {
	if x.Type.Kind == types.Null {
		return nullOf(t)
	}
	return x
}

// intArith is l op r on int-stored values of type t; a constant NULL
// operand makes the result a constant NULL, and a constant operand of +,
// - or * is read once.
func intArith(op string, t types.Type, l, r *Compiled) *Compiled {
	lf, rf := intOf(l), intOf(r)
	out := &Compiled{Type: t, Const: l.Const && r.Const}
	if isConstNull(r) || isConstNull(l) {
		return nullOf(t)
	}
	switch {
	case r.Const && !l.Const && (op == "+" || op == "-" || op == "*"):
		v, _ := rf(nil)
		switch op {
		case "+":
			out.Int = func(x row.Row) (int64, bool) { a, ok := lf(x); return a + v, ok }
		case "-":
			out.Int = func(x row.Row) (int64, bool) { a, ok := lf(x); return a - v, ok }
		default:
			out.Int = func(x row.Row) (int64, bool) { a, ok := lf(x); return a * v, ok }
		}
		return out
	case l.Const && !r.Const && (op == "+" || op == "*"):
		v, _ := lf(nil)
		if op == "+" {
			out.Int = func(x row.Row) (int64, bool) { b, ok := rf(x); return v + b, ok }
		} else {
			out.Int = func(x row.Row) (int64, bool) { b, ok := rf(x); return v * b, ok }
		}
		return out
	}
	switch op {
	case "+":
		out.Int = func(x row.Row) (int64, bool) {
			a, ok1 := lf(x)
			b, ok2 := rf(x)
			return a + b, ok1 && ok2
		}
	case "-":
		out.Int = func(x row.Row) (int64, bool) {
			a, ok1 := lf(x)
			b, ok2 := rf(x)
			return a - b, ok1 && ok2
		}
	case "*":
		out.Int = func(x row.Row) (int64, bool) {
			a, ok1 := lf(x)
			b, ok2 := rf(x)
			return a * b, ok1 && ok2
		}
	case "/":
		out.Int = func(x row.Row) (int64, bool) {
			a, ok1 := lf(x)
			b, ok2 := rf(x)
			if !ok1 || !ok2 || b == 0 || a == math.MinInt64 && b == -1 {
				return 0, false // division by zero is NULL
			}
			return a / b, true
		}
	default:
		out.Int = func(x row.Row) (int64, bool) {
			a, ok1 := lf(x)
			b, ok2 := rf(x)
			if !ok1 || !ok2 || b == 0 {
				return 0, false // MOD by zero is NULL
			}
			if b == -1 {
				return 0, true
			}
			return a % b, true
		}
	}
	return out
}

func floatArith(op string, l, r *Compiled) *Compiled {
	lf, rf := l.Float, r.Float
	out := &Compiled{Type: types.DOUBLE, Const: l.Const && r.Const}
	switch op {
	case "+":
		out.Float = func(x row.Row) (float64, bool) {
			a, ok1 := lf(x)
			b, ok2 := rf(x)
			return a + b, ok1 && ok2
		}
	case "-":
		out.Float = func(x row.Row) (float64, bool) {
			a, ok1 := lf(x)
			b, ok2 := rf(x)
			return a - b, ok1 && ok2
		}
	case "*":
		out.Float = func(x row.Row) (float64, bool) {
			a, ok1 := lf(x)
			b, ok2 := rf(x)
			return a * b, ok1 && ok2
		}
	case "/":
		out.Float = func(x row.Row) (float64, bool) {
			a, ok1 := lf(x)
			b, ok2 := rf(x)
			return a / b, ok1 && ok2
		}
	default:
		out.Float = func(x row.Row) (float64, bool) {
			a, ok1 := lf(x)
			b, ok2 := rf(x)
			return math.Mod(a, b), ok1 && ok2
		}
	}
	return out
}

// flipped is the comparison operator with its operands swapped.
var flipped = map[string]string{"=": "=", "<>": "<>", "<": ">", ">": "<", "<=": ">=", ">=": "<="}

func compare(e *parser.Binary, l, r *Compiled) (*Compiled, error) {
	lt, rt := l.Type, r.Type
	if lt.Kind == types.Null {
		lt = rt
	}
	if rt.Kind == types.Null {
		rt = lt
	}
	l, r = withType(l, lt), withType(r, rt)
	op := e.Op
	if l.Const && !r.Const {
		l, r, op = r, l, flipped[op]
	}
	out := &Compiled{Type: types.BOOLEAN, Const: l.Const && r.Const}
	switch {
	case lt.Kind == types.Null:
		return nullOf(types.BOOLEAN), nil
	case lt.Numeric() && rt.Numeric():
		if lt.Kind == types.Double || rt.Kind == types.Double {
			out.Int = cmpOrdered(op, toFloat(l), toFloat(r), (*Compiled).floatFn)
			return out, nil
		}
		s := max(lt.Scale, rt.Scale)
		out.Int = cmpOrdered(op, toDecimal(l, s), toDecimal(r, s), (*Compiled).intFn)
		return out, nil
	case lt.Kind == rt.Kind && lt.Kind == types.Varchar:
		out.Int = cmpBytes(op, l, r)
		return out, nil
	case lt.Kind == rt.Kind:
		out.Int = cmpOrdered(op, l, r, (*Compiled).intFn)
		return out, nil
	}
	return nil, errorf(e.Pos, "cannot compare %s with %s", l.Type, r.Type)
}

func (c *Compiled) intFn() func(row.Row) (int64, bool)     { return c.Int }
func (c *Compiled) floatFn() func(row.Row) (float64, bool) { return c.Float }

// cmpOrdered compiles l op r for numbers; a constant r is read once. The
// result is FALSE and not ok when either side is NULL.
func cmpOrdered[T int64 | float64](op string, l, r *Compiled, fn func(*Compiled) func(row.Row) (T, bool)) func(row.Row) (int64, bool) {
	lf, rf := fn(l), fn(r)
	if r.Const {
		v, ok := rf(nil)
		if !ok {
			return func(row.Row) (int64, bool) { return 0, false }
		}
		switch op {
		case "=":
			return func(x row.Row) (int64, bool) { a, ok := lf(x); return b2i(ok && a == v), ok }
		case "<>":
			return func(x row.Row) (int64, bool) { a, ok := lf(x); return b2i(ok && a != v), ok }
		case "<":
			return func(x row.Row) (int64, bool) { a, ok := lf(x); return b2i(ok && a < v), ok }
		case ">":
			return func(x row.Row) (int64, bool) { a, ok := lf(x); return b2i(ok && a > v), ok }
		case "<=":
			return func(x row.Row) (int64, bool) { a, ok := lf(x); return b2i(ok && a <= v), ok }
		default:
			return func(x row.Row) (int64, bool) { a, ok := lf(x); return b2i(ok && a >= v), ok }
		}
	}
	var test func(a, b T) bool
	switch op {
	case "=":
		test = func(a, b T) bool { return a == b }
	case "<>":
		test = func(a, b T) bool { return a != b }
	case "<":
		test = func(a, b T) bool { return a < b }
	case ">":
		test = func(a, b T) bool { return a > b }
	case "<=":
		test = func(a, b T) bool { return a <= b }
	default:
		test = func(a, b T) bool { return a >= b }
	}
	return func(x row.Row) (int64, bool) {
		a, ok1 := lf(x)
		b, ok2 := rf(x)
		ok := ok1 && ok2
		return b2i(ok && test(a, b)), ok
	}
}

// cmpBytes compiles l op r for strings (byte-wise order). LOWER(x) or
// UPPER(x) compared for equality with a constant folds case without
// building the folded string.
func cmpBytes(op string, l, r *Compiled) func(row.Row) (int64, bool) {
	lf, rf := l.Bytes, r.Bytes
	if r.Const {
		c, ok := rf(nil)
		if !ok {
			return func(row.Row) (int64, bool) { return 0, false }
		}
		if f := l.fold; f != nil && (op == "=" || op == "<>") {
			arg, upper, want := f.arg, f.upper, op == "="
			return func(x row.Row) (int64, bool) {
				s, ok := arg(x)
				return b2i(ok && foldEqual(s, c, upper) == want), ok
			}
		}
		switch op {
		case "=":
			return func(x row.Row) (int64, bool) { s, ok := lf(x); return b2i(ok && bytes.Equal(s, c)), ok }
		case "<>":
			return func(x row.Row) (int64, bool) { s, ok := lf(x); return b2i(ok && !bytes.Equal(s, c)), ok }
		}
	}
	var test func(c int) bool
	switch op {
	case "=":
		test = func(c int) bool { return c == 0 }
	case "<>":
		test = func(c int) bool { return c != 0 }
	case "<":
		test = func(c int) bool { return c < 0 }
	case ">":
		test = func(c int) bool { return c > 0 }
	case "<=":
		test = func(c int) bool { return c <= 0 }
	default:
		test = func(c int) bool { return c >= 0 }
	}
	return func(x row.Row) (int64, bool) {
		a, ok1 := lf(x)
		b, ok2 := rf(x)
		ok := ok1 && ok2
		return b2i(ok && test(bytes.Compare(a, b))), ok
	}
}

// foldEqual reports whether bytes.ToLower(s) (upper: bytes.ToUpper(s))
// equals c, without allocating: s is mapped rune by rune as bytes.Map
// does (an invalid byte is U+FFFD) and compared with c as it goes.
func foldEqual(s, c []byte, upper bool) bool {
	var enc [utf8.UTFMax]byte
	for i := 0; i < len(s); {
		r, w := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, w = utf8.DecodeRune(s[i:])
		}
		i += w
		if upper {
			r = unicode.ToUpper(r)
		} else {
			r = unicode.ToLower(r)
		}
		if r < utf8.RuneSelf {
			if len(c) == 0 || c[0] != byte(r) {
				return false
			}
			c = c[1:]
			continue
		}
		n := utf8.EncodeRune(enc[:], r)
		if len(c) < n || string(c[:n]) != string(enc[:n]) {
			return false
		}
		c = c[n:]
	}
	return len(c) == 0
}

// like compiles LIKE with a constant pattern: % any run, _ one byte.
func like(e *parser.Binary, l, r *Compiled) (*Compiled, error) {
	if l.Type.Kind != types.Varchar || r.Type.Kind != types.Varchar {
		return nil, errorf(e.Pos, "LIKE needs VARCHAR operands, got %s and %s", l.Type, r.Type)
	}
	if !r.Const {
		return nil, errorf(e.Pos, "LIKE needs a constant pattern")
	}
	pat, _ := r.Bytes(nil)
	pattern := string(pat)
	lf := l.Bytes
	return &Compiled{Type: types.BOOLEAN, Int: func(x row.Row) (int64, bool) {
		s, ok := lf(x)
		return b2i(ok && matchLike(s, pattern)), ok
	}}, nil
}

func matchLike(s []byte, p string) bool {
	// Iterative wildcard matching with backtracking to the last %.
	si, pi, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '_' || p[pi] == s[si]) && p[pi] != '%':
			si++
			pi++
		case pi < len(p) && p[pi] == '%':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '%' {
		pi++
	}
	return pi == len(p)
}

func (c *Compiler) caseExpr(e *parser.Case) (*Compiled, error) {
	var conds, results []*Compiled
	for _, w := range e.Whens {
		cond := w.Cond
		if e.Operand != nil {
			cond = &parser.Binary{Pos: w.Cond.Position(), Op: "=", L: e.Operand, R: w.Cond}
		}
		cc, err := c.Compile(cond)
		if err != nil {
			return nil, err
		}
		if err := wantBool(cond, cc); err != nil {
			return nil, err
		}
		rc, err := c.Compile(w.Result)
		if err != nil {
			return nil, err
		}
		conds, results = append(conds, cc), append(results, rc)
	}
	var els *Compiled
	if e.Else != nil {
		x, err := c.Compile(e.Else)
		if err != nil {
			return nil, err
		}
		els = x
	}
	all := append([]*Compiled(nil), results...)
	if els != nil {
		all = append(all, els)
	}
	t, err := commonType(e.Pos, all)
	if err != nil {
		return nil, err
	}
	for i := range results {
		if results[i], err = cast(e.Pos, results[i], t); err != nil {
			return nil, err
		}
	}
	if els == nil {
		els = nullOf(t)
	} else if els, err = cast(e.Pos, els, t); err != nil {
		return nil, err
	}
	pick := func(x row.Row) *Compiled {
		for i, cc := range conds {
			if v, ok := cc.Int(x); ok && v != 0 {
				return results[i]
			}
		}
		return els
	}
	out := &Compiled{Type: t}
	switch t.Storage() {
	case types.StoreFloat:
		out.Float = func(x row.Row) (float64, bool) { return pick(x).Float(x) }
	case types.StoreBytes:
		out.Bytes = func(x row.Row) ([]byte, bool) { return pick(x).Bytes(x) }
	default:
		out.Int = func(x row.Row) (int64, bool) { return pick(x).Int(x) }
	}
	return out, nil
}

// commonType is the type CASE and COALESCE branches are cast to.
func commonType(pos parser.Pos, xs []*Compiled) (types.Type, error) {
	var t types.Type
	for _, x := range xs {
		u := x.Type
		switch {
		case u.Kind == types.Null:
		case t.Kind == types.Null:
			t = u
		case t == u:
		case t.Numeric() && u.Numeric():
			switch {
			case t.Kind == types.Double || u.Kind == types.Double:
				t = types.DOUBLE
			default:
				s := max(t.Scale, u.Scale)
				t = types.DecimalOf(18, s)
			}
		default:
			return t, errorf(pos, "branches have incompatible types %s and %s", t, u)
		}
	}
	return t, nil
}

// cast converts x to t.
func cast(pos parser.Pos, x *Compiled, t types.Type) (*Compiled, error) {
	from := x.Type
	switch {
	case from == t:
		return x, nil
	case from.Kind == types.Null:
		return nullOf(t), nil
	case t.Kind == types.Double && from.Numeric():
		return &Compiled{Type: t, Const: x.Const, Float: asFloat(x)}, nil
	case t.Kind == types.Decimal && (from.Kind == types.Bigint || from.Kind == types.Decimal):
		if from.Kind == types.Decimal && from.Scale > t.Scale {
			f, d := x.Int, pow10[from.Scale-t.Scale]
			return &Compiled{Type: t, Const: x.Const, Int: func(r row.Row) (int64, bool) {
				v, ok := f(r)
				return v / d, ok
			}}, nil
		}
		return &Compiled{Type: t, Const: x.Const, Int: asDecimal(x, t.Scale)}, nil
	case t.Kind == types.Bigint && from.Kind == types.Decimal:
		f, d := x.Int, pow10[from.Scale]
		return &Compiled{Type: t, Const: x.Const, Int: func(r row.Row) (int64, bool) {
			v, ok := f(r)
			return v / d, ok
		}}, nil
	case t.Kind == types.Bigint && from.Kind == types.Double:
		f := x.Float
		return &Compiled{Type: t, Const: x.Const, Int: func(r row.Row) (int64, bool) {
			v, ok := f(r)
			return int64(v), ok && !math.IsNaN(v)
		}}, nil
	case t.Kind == types.Bigint && from.Kind == types.Timestamp, t.Kind == types.Timestamp && from.Kind == types.Bigint:
		return &Compiled{Type: t, Const: x.Const, Int: x.Int}, nil
	case t.Kind == types.Varchar:
		fmtf := formatter(from)
		return &Compiled{Type: t, Const: x.Const, Bytes: func(r row.Row) ([]byte, bool) { return fmtf(x, r) }}, nil
	case from.Kind == types.Varchar && (t.Kind == types.Bigint || t.Kind == types.Double):
		f := x.Bytes
		if t.Kind == types.Bigint {
			return &Compiled{Type: t, Const: x.Const, Int: func(r row.Row) (int64, bool) {
				s, ok := f(r)
				if !ok {
					return 0, false
				}
				v, err := strconv.ParseInt(strings.TrimSpace(string(s)), 10, 64)
				return v, err == nil
			}}, nil
		}
		return &Compiled{Type: t, Const: x.Const, Float: func(r row.Row) (float64, bool) {
			s, ok := f(r)
			if !ok {
				return 0, false
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(string(s)), 64)
			return v, err == nil
		}}, nil
	}
	return nil, errorf(pos, "cannot cast %s to %s", from, t)
}

// formatter returns how CAST(… AS VARCHAR) prints values of t.
func formatter(t types.Type) func(x *Compiled, r row.Row) ([]byte, bool) {
	return func(x *Compiled, r row.Row) ([]byte, bool) {
		switch t.Storage() {
		case types.StoreFloat:
			v, ok := x.Float(r)
			return strconv.AppendFloat(nil, v, 'g', -1, 64), ok
		case types.StoreBytes:
			return x.Bytes(r)
		}
		v, ok := x.Int(r)
		if !ok {
			return nil, false
		}
		return AppendValue(nil, t, v), true
	}
}

// AppendValue appends the text of an int-stored value of type t.
func AppendValue(dst []byte, t types.Type, v int64) []byte {
	switch t.Kind {
	case types.Boolean:
		if v != 0 {
			return append(dst, "TRUE"...)
		}
		return append(dst, "FALSE"...)
	case types.Decimal:
		if t.Scale == 0 {
			return strconv.AppendInt(dst, v, 10)
		}
		if v < 0 {
			dst = append(dst, '-')
			v = -v
		}
		d := pow10[t.Scale]
		dst = strconv.AppendInt(dst, v/d, 10)
		dst = append(dst, '.')
		frac := strconv.AppendInt(nil, v%d, 10)
		for range t.Scale - len(frac) {
			dst = append(dst, '0')
		}
		return append(dst, frac...)
	case types.Timestamp:
		return appendTimestamp(dst, v)
	}
	return strconv.AppendInt(dst, v, 10)
}
