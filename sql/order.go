package sql

import (
	"slices"
	"strconv"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/sql/expr"
	"github.com/dagflow/dagflow/sql/parser"
	"github.com/dagflow/dagflow/sql/row"
)

// distinct keeps the first row of every set of equal rows of r: each
// distinct row is emitted once, on bounded and unbounded input alike.
func (p *planner) distinct(r *rel) *rel {
	sc := r.scope()
	comp := p.compiler(sc)
	keys := make([]*expr.Compiled, len(sc.Columns))
	for i, c := range sc.Columns {
		keys[i] = comp.Column(c)
	}
	out := *r
	out.rowtime = -1
	out.s = dag.Process(dag.KeyBy(r.s, keyFunc(keys)), func() dag.ProcessFunc[string, row.Row, row.Row] {
		return &firstRow{}
	}, p.name("distinct"), dag.WithCoder[row.Row](rowCoder(r.schema)))
	return &out
}

// firstRow emits the first row of every key.
type firstRow struct{ seen *dag.ValueState[string, bool] }

func (f *firstRow) Open(oc *dag.ProcessOpenContext[string]) error {
	f.seen = dag.NewValueState[bool](oc, "seen")
	return nil
}

func (f *firstRow) ProcessElement(ctx *dag.ProcessContext[string, row.Row], r row.Row) error {
	if _, ok := f.seen.Get(ctx); !ok {
		f.seen.Set(ctx, true)
		ctx.Emit(r)
	}
	return nil
}

func (f *firstRow) OnTimer(*dag.ProcessContext[string, row.Row], dag.Timer) error { return nil }

// orderLimit plans ORDER BY … [LIMIT n] (or LIMIT n alone) over r, the
// result of a SELECT: all rows meet in one subtask. With LIMIT it is a
// Top-N of the whole result (continuously updated on unbounded input);
// without, the rows are sorted when the input ends, so it needs batch
// mode. Rows equal in every ORDER BY key, and the rows LIMIT keeps
// without ORDER BY, are ordered by their bytes.
func (p *planner) orderLimit(s *parser.Select, r *rel) (*rel, error) {
	if r.win != nil {
		return nil, errAt(s.Pos, "ORDER BY or LIMIT over a window TVF needs a GROUP BY window_start, window_end first")
	}
	n := 0
	if s.Limit != nil {
		l, ok := s.Limit.(*parser.Literal)
		var v int64
		var err error
		if ok && l.Kind == parser.LitInt {
			v, err = strconv.ParseInt(l.Value, 10, 64)
		}
		if !ok || l.Kind != parser.LitInt || err != nil || v < 1 {
			return nil, errAt(s.Limit.Position(), "LIMIT %s: want a positive integer literal", parser.FormatExpr(s.Limit))
		}
		n = int(min(v, 1<<20))
	}
	if n == 0 && p.g.Config().Mode != dag.BatchMode {
		return nil, errAt(s.OrderBy[0].Expr.Position(), "ORDER BY without LIMIT needs batch mode (in streaming mode every update would re-emit the whole result)")
	}
	comp := p.compiler(r.scope())
	var order []func(a, b row.Row) int
	for _, o := range s.OrderBy {
		x, err := comp.Compile(o.Expr)
		if err != nil {
			return nil, err
		}
		order = append(order, compareBy(x, o.Desc))
	}
	less := func(a, b row.Row) int {
		for _, c := range order {
			if d := c(a, b); d != 0 {
				return d
			}
		}
		return slices.Compare(a, b)
	}
	agg := dag.Agg[row.Row, topRows, topRows]{Zero: func() topRows { return topRows{} }}
	if n > 0 {
		agg.Add = func(t topRows, x row.Row) topRows { return t.add(x, n, less) }
		agg.Merge = func(t, o topRows) topRows { return t.merge(o, n, less) }
		agg.Result = func(t topRows) topRows { return topRows{rows: slices.Clone(t.rows)} }
	} else {
		agg.Add = func(t topRows, x row.Row) topRows { t.rows = append(t.rows, x); return t }
		agg.Merge = func(t, o topRows) topRows { t.rows = append(t.rows, o.rows...); return t }
		agg.Result = func(t topRows) topRows {
			rows := slices.Clone(t.rows)
			slices.SortStableFunc(rows, less)
			return topRows{rows: rows}
		}
	}
	all := dag.Aggregate(dag.KeyBy(r.s, func(row.Row) string { return "" }), agg, p.name("order-by"),
		dag.WithCoder(dag.CoderFor[dag.KV[string, topRows]]()))
	out := *r
	out.rowtime = -1
	out.ordered = true
	out.s = dag.FlatMap(all, func(kv dag.KV[string, topRows], emit func(row.Row)) {
		for _, x := range kv.Value.rows {
			emit(x)
		}
	}, p.name("order-by-rows"), dag.Parallelism(1), dag.WithCoder[row.Row](rowCoder(r.schema)))
	return &out, nil
}
