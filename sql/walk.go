package sql

import "github.com/dagflow/dagflow/sql/parser"

// walk calls fn on e and, while fn returns true, on its subexpressions.
func walk(e parser.Expr, fn func(parser.Expr) bool) {
	if e == nil || !fn(e) {
		return
	}
	switch e := e.(type) {
	case *parser.Binary:
		walk(e.L, fn)
		walk(e.R, fn)
	case *parser.Unary:
		walk(e.X, fn)
	case *parser.IsNull:
		walk(e.X, fn)
	case *parser.Between:
		walk(e.X, fn)
		walk(e.Lo, fn)
		walk(e.Hi, fn)
	case *parser.In:
		walk(e.X, fn)
		for _, x := range e.List {
			walk(x, fn)
		}
	case *parser.Call:
		for _, x := range e.Args {
			walk(x, fn)
		}
		walk(e.Filter, fn)
	case *parser.Case:
		walk(e.Operand, fn)
		for _, w := range e.Whens {
			walk(w.Cond, fn)
			walk(w.Result, fn)
		}
		walk(e.Else, fn)
	case *parser.Cast:
		walk(e.X, fn)
	}
}

// rewrite returns e with every subexpression for which fn returns a
// replacement replaced (top-down: a replaced node is not descended into).
func rewrite(e parser.Expr, fn func(parser.Expr) parser.Expr) parser.Expr {
	if e == nil {
		return nil
	}
	if r := fn(e); r != nil {
		return r
	}
	rw := func(x parser.Expr) parser.Expr { return rewrite(x, fn) }
	switch e := e.(type) {
	case *parser.Binary:
		return &parser.Binary{Pos: e.Pos, Op: e.Op, L: rw(e.L), R: rw(e.R)}
	case *parser.Unary:
		return &parser.Unary{Pos: e.Pos, Op: e.Op, X: rw(e.X)}
	case *parser.IsNull:
		return &parser.IsNull{Pos: e.Pos, X: rw(e.X), Not: e.Not}
	case *parser.Between:
		return &parser.Between{Pos: e.Pos, X: rw(e.X), Lo: rw(e.Lo), Hi: rw(e.Hi), Not: e.Not}
	case *parser.In:
		l := make([]parser.Expr, len(e.List))
		for i, x := range e.List {
			l[i] = rw(x)
		}
		return &parser.In{Pos: e.Pos, X: rw(e.X), List: l, Not: e.Not}
	case *parser.Call:
		c := *e
		c.Args = make([]parser.Expr, len(e.Args))
		for i, x := range e.Args {
			c.Args[i] = rw(x)
		}
		return &c
	case *parser.Case:
		c := &parser.Case{Pos: e.Pos, Operand: rw(e.Operand), Else: rw(e.Else)}
		for _, w := range e.Whens {
			c.Whens = append(c.Whens, parser.When{Cond: rw(w.Cond), Result: rw(w.Result)})
		}
		return c
	case *parser.Cast:
		return &parser.Cast{Pos: e.Pos, X: rw(e.X), Type: e.Type}
	}
	return e
}
