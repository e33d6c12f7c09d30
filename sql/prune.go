package sql

import (
	"strings"

	"github.com/dagflow/dagflow/sql/parser"
	"github.com/dagflow/dagflow/sql/types"
)

// usedColumns returns the lower-case names of every column a script's
// queries (and the views they may read) mention, or nil when one of them
// selects * and every column is needed. Sources read only the columns
// named somewhere (projection push-down); matching by name alone keeps
// this conservative.
func usedColumns(stmts []parser.Statement, views map[string]*parser.CreateView) map[string]bool {
	used := map[string]bool{}
	star := false
	var query func(q parser.Query)
	expr := func(e parser.Expr) {
		walk(e, func(x parser.Expr) bool {
			switch x := x.(type) {
			case *parser.ColumnRef:
				used[strings.ToLower(x.Name)] = true
			case *parser.Call:
				if x.Over != nil {
					for _, p := range x.Over.PartitionBy {
						walk(p, func(y parser.Expr) bool {
							if c, ok := y.(*parser.ColumnRef); ok {
								used[strings.ToLower(c.Name)] = true
							}
							return true
						})
					}
					for _, o := range x.Over.OrderBy {
						if c, ok := o.Expr.(*parser.ColumnRef); ok {
							used[strings.ToLower(c.Name)] = true
						}
					}
				}
			}
			return true
		})
	}
	exprs := func(es []parser.Expr) {
		for _, e := range es {
			expr(e)
		}
	}
	var table func(t parser.TableExpr)
	table = func(t parser.TableExpr) {
		switch t := t.(type) {
		case *parser.SubqueryRef:
			query(t.Query)
		case *parser.WindowTVF:
			used[strings.ToLower(t.TimeCol.Name)] = true
			exprs(t.PartitionBy)
			exprs(t.Args)
			table(t.Table)
		case *parser.Join:
			table(t.Left)
			table(t.Right)
			expr(t.On)
		}
	}
	query = func(q parser.Query) {
		switch q := q.(type) {
		case *parser.Union:
			query(q.Left)
			query(q.Right)
		case *parser.Select:
			for _, it := range q.Items {
				if it.Star {
					star = true
				}
				expr(it.Expr)
			}
			if q.From != nil {
				table(q.From)
			}
			expr(q.Where)
			exprs(q.GroupBy)
			expr(q.Having)
			for _, o := range q.OrderBy {
				expr(o.Expr)
			}
		}
	}
	var stmt func(s parser.Statement)
	stmt = func(s parser.Statement) {
		switch s := s.(type) {
		case *parser.CreateView:
			query(s.Query)
		case *parser.Insert:
			query(s.Query)
		case *parser.QueryStatement:
			query(s.Query)
		case *parser.Explain:
			stmt(s.Statement)
		}
	}
	for _, s := range stmts {
		stmt(s)
	}
	for _, v := range views {
		query(v.Query)
	}
	if star {
		return nil
	}
	return used
}

// prune returns t reduced to the columns in used, its time attribute and
// what its kept computed columns read; t itself when nothing is dropped.
func prune(t *Table, used map[string]bool) *Table {
	if used == nil {
		return t
	}
	keep := map[string]bool{}
	for i, c := range t.Schema {
		if used[strings.ToLower(c.Name)] || i == t.Rowtime {
			keep[strings.ToLower(c.Name)] = true
			if t.computed[i] != nil {
				walk(t.computed[i], func(x parser.Expr) bool {
					if r, ok := x.(*parser.ColumnRef); ok {
						keep[strings.ToLower(r.Name)] = true
					}
					return true
				})
			}
		}
	}
	if len(keep) == len(t.Schema) {
		return t
	}
	out := *t
	out.Schema, out.Physical, out.computed, out.Rowtime = nil, nil, nil, -1
	for i, c := range t.Schema {
		if !keep[strings.ToLower(c.Name)] {
			continue
		}
		if i == t.Rowtime {
			out.Rowtime = len(out.Schema)
		}
		out.Schema = append(out.Schema, c)
		out.computed = append(out.computed, t.computed[i])
	}
	for _, c := range t.Physical {
		if keep[strings.ToLower(c.Name)] {
			out.Physical = append(out.Physical, c)
		}
	}
	if len(out.Physical) == 0 { // e.g. SELECT COUNT(*): keep one column
		out.Physical = types.Schema{t.Physical[0]}
	}
	return &out
}
