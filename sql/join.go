package sql

import (
	"slices"
	"sync"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/sql/expr"
	"github.com/dagflow/dagflow/sql/parser"
	"github.com/dagflow/dagflow/sql/row"
	"github.com/dagflow/dagflow/sql/types"
)

// keptRow is a row held in keyed state: row.Row with the binary
// marshalling the state backends (heap snapshots, Pebble) need.
type keptRow row.Row

// MarshalBinary returns the row's bytes.
func (r keptRow) MarshalBinary() ([]byte, error) { return r, nil }

// UnmarshalBinary sets the row to a copy of b.
func (r *keptRow) UnmarshalBinary(b []byte) error {
	*r = append(keptRow(nil), b...)
	return nil
}

// conjuncts splits e on AND.
func conjuncts(e parser.Expr, out []parser.Expr) []parser.Expr {
	if e == nil {
		return out
	}
	if b, ok := e.(*parser.Binary); ok && b.Op == "AND" {
		return conjuncts(b.R, conjuncts(b.L, out))
	}
	return append(out, e)
}

// and joins conjuncts back into one expression (nil if none).
func and(es []parser.Expr) parser.Expr {
	var out parser.Expr
	for _, e := range es {
		if out == nil {
			out = e
			continue
		}
		out = &parser.Binary{Pos: e.Position(), Op: "AND", L: out, R: e}
	}
	return out
}

// Sides of a join an expression reads.
const (
	sideNone  = 0
	sideLeft  = 1
	sideRight = 2
	sideBoth  = 3
)

// sideOf tells which side of a join of nl left columns e reads; an
// unresolvable column counts as both, so that its error is reported
// where the whole condition is compiled.
func sideOf(sc *expr.Scope, nl int, e parser.Expr) int {
	side := sideNone
	walk(e, func(x parser.Expr) bool {
		switch x := x.(type) {
		case *parser.ColumnRef:
			c, err := sc.Resolve(x)
			switch {
			case err != nil:
				side = sideBoth
			case c.Index < nl:
				side |= sideLeft
			default:
				side |= sideRight
			}
		case *parser.Call:
			if x.Over != nil || expr.IsAggregate(x.Name) {
				side = sideBoth
			}
		}
		return true
	})
	return side
}

// filterRel keeps the rows of in for which cond holds (cond is nil:
// in unchanged), keeping in's columns, qualifiers and time attribute.
func (p *planner) filterRel(in *rel, conds []parser.Expr) (*rel, error) {
	if len(conds) == 0 {
		return in, nil
	}
	out, err := p.project(in, []parser.SelectItem{{Pos: conds[0].Position(), Star: true}}, and(conds), "where")
	if err != nil {
		return nil, err
	}
	out.quals = in.quals
	return out, nil
}

// join plans left [INNER] JOIN right ON cond (or left, right: a CROSS
// join) with the conjuncts of the enclosing WHERE. It returns the joined
// relation and the conjuncts still to apply to its rows.
func (p *planner) join(j *parser.Join, where parser.Expr) (*rel, parser.Expr, error) {
	if j.Kind != "INNER" && j.Kind != "CROSS" {
		return nil, nil, errAt(j.Pos, "%s JOIN is not supported yet: only INNER JOIN", j.Kind)
	}
	l, err := p.from(j.Left)
	if err != nil {
		return nil, nil, err
	}
	r, err := p.from(j.Right)
	if err != nil {
		return nil, nil, err
	}
	if l.win != nil || r.win != nil {
		return nil, nil, errAt(j.Pos, "a JOIN of a window TVF needs a GROUP BY window_start, window_end on that side first")
	}
	nl := len(l.schema)
	both := &rel{rowtime: -1, delay: max(l.delay, r.delay)}
	both.schema = append(slices.Clone(l.schema), r.schema...)
	both.quals = append(slices.Clone(l.quals), r.quals...)
	sc := both.scope()
	// In an inner join ON and WHERE are alike: equalities of a left and
	// a right expression are the key; the conjuncts of one side filter it
	// before the join; the others filter the joined rows.
	var lkeys, rkeys, lconds, rconds, rest []parser.Expr
	for _, c := range conjuncts(where, conjuncts(j.On, nil)) {
		if b, ok := c.(*parser.Binary); ok && b.Op == "=" {
			ls, rs := sideOf(sc, nl, b.L), sideOf(sc, nl, b.R)
			switch {
			case ls == sideLeft && rs == sideRight:
				lkeys, rkeys = append(lkeys, b.L), append(rkeys, b.R)
				continue
			case ls == sideRight && rs == sideLeft:
				lkeys, rkeys = append(lkeys, b.R), append(rkeys, b.L)
				continue
			}
		}
		switch sideOf(sc, nl, c) {
		case sideLeft:
			lconds = append(lconds, c)
		case sideRight:
			rconds = append(rconds, c)
		default:
			rest = append(rest, c)
		}
	}
	for _, c := range rest {
		if _, err := p.compiler(sc).Compile(c); err != nil {
			return nil, nil, err // names and types are checked before the key
		}
	}
	if len(lkeys) == 0 {
		return nil, nil, errAt(j.Pos, "JOIN needs an equality of a left and a right column (in ON or WHERE): a join without one is not supported")
	}
	if l, err = p.filterRel(l, lconds); err != nil {
		return nil, nil, err
	}
	if r, err = p.filterRel(r, rconds); err != nil {
		return nil, nil, err
	}
	lc, rc := p.compiler(l.scope()), p.compiler(r.scope())
	lk := make([]*expr.Compiled, len(lkeys))
	rk := make([]*expr.Compiled, len(rkeys))
	for i := range lkeys {
		if lk[i], err = lc.Compile(lkeys[i]); err != nil {
			return nil, nil, err
		}
		if rk[i], err = rc.Compile(rkeys[i]); err != nil {
			return nil, nil, err
		}
		if lt, rt := lk[i].Type, rk[i].Type; lt.Kind != rt.Kind || lt.Kind == types.Decimal && lt.Scale != rt.Scale {
			return nil, nil, errAt(lkeys[i].Position(), "JOIN key %s is %s, %s is %s: cast one side",
				parser.FormatExpr(lkeys[i]), lt, parser.FormatExpr(rkeys[i]), rt)
		}
	}
	// Keys compare by their stored bytes, so both sides must be of one
	// kind (and scale). A NULL key matches nothing (SQL equality).
	lkey, rkey := joinKeyFunc(lk), joinKeyFunc(rk)
	ls := dag.FlatMap(l.s, func(x row.Row, emit func(dag.KV[string, keptRow])) {
		if k, ok := lkey(x); ok {
			emit(dag.KV[string, keptRow]{Key: k, Value: keptRow(x)})
		}
	}, p.name("join-left-key"), dag.WithCoder[dag.KV[string, keptRow]](kvRowCoder{rowCoder(l.schema)}))
	rs := dag.FlatMap(r.s, func(x row.Row, emit func(dag.KV[string, keptRow])) {
		if k, ok := rkey(x); ok {
			emit(dag.KV[string, keptRow]{Key: k, Value: keptRow(x)})
		}
	}, p.name("join-right-key"), dag.WithCoder[dag.KV[string, keptRow]](kvRowCoder{rowCoder(r.schema)}))
	concat := rowConcat(l.schema, r.schema)
	lkeyed := dag.KeyBy(ls, func(kv dag.KV[string, keptRow]) string { return kv.Key })
	rkeyed := dag.KeyBy(rs, func(kv dag.KV[string, keptRow]) string { return kv.Key })
	if spec := windowJoinOf(l, r, lc.Scope, rc.Scope, lkeys, rkeys); spec != nil {
		// Both sides are results of the same windows joined on
		// window_start and window_end: a window join, whose state goes
		// when the window fires.
		both.s = dag.WindowJoin(lkeyed, rkeyed, spec.assigner, func(_ string, a, b dag.KV[string, keptRow]) row.Row {
			return concat(row.Row(a.Value), row.Row(b.Value))
		}, p.name("window-join"), dag.WithCoder[row.Row](rowCoder(both.schema)))
		both.rowtime, both.assigned, both.wjoin = -1, false, nil
	} else {
		both.s = dag.CoProcess(lkeyed, rkeyed,
			func() dag.CoProcessFunc[string, dag.KV[string, keptRow], dag.KV[string, keptRow], row.Row] {
				return &joinRows{concat: concat}
			}, p.name("join"), dag.WithCoder[row.Row](rowCoder(both.schema)))
	}
	return both, and(rest), nil
}

// joinKeyFunc is keyFunc, with false for a key with a NULL part.
func joinKeyFunc(keys []*expr.Compiled) func(row.Row) (string, bool) {
	key := keyFunc(keys)
	nulls := make([]func(row.Row) bool, len(keys))
	for i, k := range keys {
		nulls[i] = nullTest(k)
	}
	return func(r row.Row) (string, bool) {
		for _, isNull := range nulls {
			if isNull(r) {
				return "", false
			}
		}
		return key(r), true
	}
}

// rowConcat returns a function building the row of a left row's columns
// followed by a right row's.
func rowConcat(ls, rs types.Schema) func(l, r row.Row) row.Row {
	n := len(ls) + len(rs)
	pool := &sync.Pool{New: func() any { return row.NewBuilder(n) }}
	lst, rst := ls.Storages(), rs.Storages()
	ll, rl := row.Layout{N: len(ls)}, row.Layout{N: len(rs)}
	copyCols := func(b *row.Builder, at int, st []types.Storage, lay row.Layout, x row.Row) {
		for i, s := range st {
			switch {
			case x.IsNull(i):
				b.SetNull(at + i)
			case s == types.StoreBytes:
				b.SetBytes(at+i, x.Bytes(lay.Offset(i)))
			default:
				b.SetInt(at+i, x.Int(lay.Offset(i))) // float bits copy unchanged
			}
		}
	}
	return func(l, r row.Row) row.Row {
		b := pool.Get().(*row.Builder)
		copyCols(b, 0, lst, ll, l)
		copyCols(b, len(lst), rst, rl, r)
		out := b.Build()
		pool.Put(b)
		return out
	}
}

// joinRows is a regular inner join: both sides are kept in keyed list
// state (heap or Pebble, as the job configures) and every pair of rows
// with equal keys is emitted once, when the second of the two arrives.
type joinRows struct {
	concat        func(l, r row.Row) row.Row
	lefts, rights *dag.ListState[string, keptRow]
}

func (j *joinRows) Open(oc *dag.ProcessOpenContext[string]) error {
	j.lefts = dag.NewListState[keptRow](oc, "left")
	j.rights = dag.NewListState[keptRow](oc, "right")
	return nil
}

func (j *joinRows) ProcessLeft(ctx *dag.ProcessContext[string, row.Row], l dag.KV[string, keptRow]) error {
	for _, r := range j.rights.Get(ctx) {
		ctx.Emit(j.concat(row.Row(l.Value), row.Row(r)))
	}
	j.lefts.Add(ctx, l.Value)
	return nil
}

func (j *joinRows) ProcessRight(ctx *dag.ProcessContext[string, row.Row], r dag.KV[string, keptRow]) error {
	for _, l := range j.lefts.Get(ctx) {
		ctx.Emit(j.concat(row.Row(l), row.Row(r.Value)))
	}
	j.rights.Add(ctx, r.Value)
	return nil
}

func (j *joinRows) OnTimer(*dag.ProcessContext[string, row.Row], dag.Timer) error { return nil }

// kvRowCoder encodes a dag.KV of a string key and a row, validating the
// row against its schema.
type kvRowCoder struct{ rc *row.Coder }

// Append implements dag.Coder.
func (c kvRowCoder) Append(dst []byte, kv dag.KV[string, keptRow]) []byte {
	return c.rc.Append(dag.StringCoder{}.Append(dst, kv.Key), row.Row(kv.Value))
}

// Decode implements dag.Coder.
func (c kvRowCoder) Decode(src []byte) (dag.KV[string, keptRow], int, error) {
	k, n, err := dag.StringCoder{}.Decode(src)
	if err != nil {
		return dag.KV[string, keptRow]{}, 0, err
	}
	r, m, err := c.rc.Decode(src[n:])
	if err != nil {
		return dag.KV[string, keptRow]{}, 0, err
	}
	return dag.KV[string, keptRow]{Key: k, Value: keptRow(r)}, n + m, nil
}

// windowJoinOf returns the windows of a window join when l and r are
// results of the same window aggregation and the keys equate both their
// window_start and their window_end, or nil.
func windowJoinOf(l, r *rel, lsc, rsc *expr.Scope, lkeys, rkeys []parser.Expr) *windowJoinSpec {
	if l.wjoin == nil || r.wjoin == nil || l.wjoin.text != r.wjoin.text || l.wstart == 0 || l.wend == 0 || r.wstart == 0 || r.wend == 0 {
		return nil
	}
	index := func(sc *expr.Scope, e parser.Expr) int {
		ref, ok := e.(*parser.ColumnRef)
		if !ok {
			return -1
		}
		c, err := sc.Resolve(ref)
		if err != nil {
			return -1
		}
		return c.Index
	}
	var start, end bool
	for i := range lkeys {
		li, ri := index(lsc, lkeys[i]), index(rsc, rkeys[i])
		start = start || li == l.wstart-1 && ri == r.wstart-1
		end = end || li == l.wend-1 && ri == r.wend-1
	}
	if !start || !end {
		return nil
	}
	return l.wjoin
}
