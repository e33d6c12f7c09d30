package hive

import (
	"fmt"
	"strings"
)

// Predicate selects partitions by their partition column values. Build
// one with Eq, In, Lt, Le, Gt, Ge, And, Or and Not; values are compared
// by the partition column's type (numerically for integer keys, as text
// otherwise, which orders ISO dates correctly). A predicate on a column
// that is not a partition key is an error naming it.
type Predicate interface {
	// eval reports whether the partition with these values (by lower-case
	// key) is selected.
	eval(vals map[string]string, types map[string]*Type) (bool, error)
	columns(dst []string) []string
	// String returns the predicate in Hive filter syntax.
	String() string
}

type cmpOp string

type cmpPred struct {
	col  string
	op   cmpOp
	vals []string
}

func lit(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}

// Eq selects partitions whose column col equals v.
func Eq(col string, v any) Predicate { return cmpPred{strings.ToLower(col), "=", []string{lit(v)}} }

// Lt selects partitions whose column col is less than v.
func Lt(col string, v any) Predicate { return cmpPred{strings.ToLower(col), "<", []string{lit(v)}} }

// Le selects partitions whose column col is at most v.
func Le(col string, v any) Predicate { return cmpPred{strings.ToLower(col), "<=", []string{lit(v)}} }

// Gt selects partitions whose column col is greater than v.
func Gt(col string, v any) Predicate { return cmpPred{strings.ToLower(col), ">", []string{lit(v)}} }

// Ge selects partitions whose column col is at least v.
func Ge(col string, v any) Predicate { return cmpPred{strings.ToLower(col), ">=", []string{lit(v)}} }

// In selects partitions whose column col is one of vs.
func In(col string, vs ...any) Predicate {
	p := cmpPred{col: strings.ToLower(col), op: "in"}
	for _, v := range vs {
		p.vals = append(p.vals, lit(v))
	}
	return p
}

func (p cmpPred) columns(dst []string) []string { return append(dst, p.col) }

func (p cmpPred) String() string {
	q := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }
	if p.op == "in" {
		parts := make([]string, len(p.vals))
		for i, v := range p.vals {
			parts[i] = q(v)
		}
		return p.col + " in (" + strings.Join(parts, ", ") + ")"
	}
	return p.col + " " + string(p.op) + " " + q(p.vals[0])
}

func (p cmpPred) eval(vals map[string]string, types map[string]*Type) (bool, error) {
	v, ok := vals[p.col]
	if !ok {
		return false, fmt.Errorf("predicate %s: %q is not a partition column", p, p.col)
	}
	t := types[p.col]
	for _, want := range p.vals {
		c, err := compare(v, want, t)
		if err != nil {
			return false, fmt.Errorf("predicate %s: %w", p, err)
		}
		var r bool
		switch p.op {
		case "=", "in":
			r = c == 0
		case "<":
			r = c < 0
		case "<=":
			r = c <= 0
		case ">":
			r = c > 0
		case ">=":
			r = c >= 0
		}
		if r {
			return true, nil
		}
	}
	return false, nil
}

// compare compares a partition value with a literal by type t. The
// default partition (NULL) is never equal to or ordered with anything.
func compare(v, lit string, t *Type) (int, error) {
	if v == DefaultPartitionName {
		return 2, nil // matches no comparison
	}
	switch t.Kind {
	case TinyInt, SmallInt, Int, BigInt:
		a, err := parsePrimitive(v, &Type{Kind: BigInt})
		if err != nil {
			return 2, nil
		}
		b, err := parsePrimitive(lit, &Type{Kind: BigInt})
		if err != nil {
			return 0, fmt.Errorf("literal %q is not an integer", lit)
		}
		x, y := a.(int64), b.(int64)
		switch {
		case x < y:
			return -1, nil
		case x > y:
			return 1, nil
		}
		return 0, nil
	}
	return strings.Compare(v, lit), nil
}

type boolPred struct {
	op    string
	preds []Predicate
}

// And selects partitions every ps selects.
func And(ps ...Predicate) Predicate { return boolPred{"and", ps} }

// Or selects partitions any of ps selects.
func Or(ps ...Predicate) Predicate { return boolPred{"or", ps} }

// Not selects the partitions p does not select.
func Not(p Predicate) Predicate { return boolPred{"not", []Predicate{p}} }

func (b boolPred) columns(dst []string) []string {
	for _, p := range b.preds {
		dst = p.columns(dst)
	}
	return dst
}

func (b boolPred) String() string {
	if b.op == "not" {
		return "not (" + b.preds[0].String() + ")"
	}
	parts := make([]string, len(b.preds))
	for i, p := range b.preds {
		parts[i] = "(" + p.String() + ")"
	}
	return strings.Join(parts, " "+b.op+" ")
}

func (b boolPred) eval(vals map[string]string, types map[string]*Type) (bool, error) {
	switch b.op {
	case "not":
		r, err := b.preds[0].eval(vals, types)
		return !r, err
	case "and":
		for _, p := range b.preds {
			if r, err := p.eval(vals, types); err != nil || !r {
				return false, err
			}
		}
		return true, nil
	}
	for _, p := range b.preds {
		if r, err := p.eval(vals, types); err != nil || r {
			return r, err
		}
	}
	return false, nil
}
