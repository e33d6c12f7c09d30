package sql

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/sql/expr"
	"github.com/dagflow/dagflow/sql/parser"
	"github.com/dagflow/dagflow/sql/row"
	"github.com/dagflow/dagflow/sql/types"
)

// rankColumn is the internal name of the rank a Top-N adds to its rows;
// SELECT * skips names starting with '$'.
const rankColumn = "$rank"

// rankItem returns the index of the item of s that is a window function
// (… OVER (…)), or -1.
func rankItem(s *parser.Select) int {
	for i, it := range s.Items {
		if c, ok := it.Expr.(*parser.Call); ok && c.Over != nil {
			return i
		}
	}
	return -1
}

// rankQuery returns the SELECT with a ROW_NUMBER() item that t reads
// (a subquery or a view) and the name its rows are qualified by.
func (p *planner) rankQuery(t parser.TableExpr) (*parser.Select, string) {
	var q parser.Query
	var name string
	switch t := t.(type) {
	case *parser.SubqueryRef:
		q, name = t.Query, t.Alias.Name
	case *parser.TableRef:
		v, ok := p.env.views[strings.ToLower(t.Name.Name)]
		if !ok {
			return nil, ""
		}
		q, name = v.Query, t.Name.Name
		if t.Alias.Name != "" {
			name = t.Alias.Name
		}
	default:
		return nil, ""
	}
	s, ok := q.(*parser.Select)
	if !ok || rankItem(s) < 0 {
		return nil, ""
	}
	return s, name
}

// rankBound finds the conjunct of where bounding the rank named rn (rn
// <= N, rn < N, rn = 1, or the same reversed) and returns N, the
// position of the bound and the other conjuncts; N is 0 if there is
// none.
func rankBound(where parser.Expr, rn, qual string) (int64, parser.Pos, []parser.Expr, error) {
	isRank := func(e parser.Expr) bool {
		c, ok := e.(*parser.ColumnRef)
		return ok && strings.EqualFold(c.Name, rn) && (c.Qualifier == "" || strings.EqualFold(c.Qualifier, qual))
	}
	intLit := func(e parser.Expr) (int64, bool) {
		l, ok := e.(*parser.Literal)
		if !ok || l.Kind != parser.LitInt {
			return 0, false
		}
		v, err := strconv.ParseInt(l.Value, 10, 64)
		return v, err == nil
	}
	flip := map[string]string{"<=": ">=", "<": ">", "=": "=", ">=": "<=", ">": "<"}
	var n int64
	var pos parser.Pos
	var rest []parser.Expr
	for _, c := range conjuncts(where, nil) {
		b, ok := c.(*parser.Binary)
		if !ok {
			rest = append(rest, c)
			continue
		}
		op, lit := b.Op, b.R
		if !isRank(b.L) {
			op, lit = flip[b.Op], b.L
			if !isRank(b.R) {
				op = ""
			}
		}
		v, isInt := intLit(lit)
		var bound int64
		switch {
		case op == "<=" && isInt:
			bound = v
		case op == "<" && isInt:
			bound = v - 1
		case op == "=" && isInt && v == 1:
			bound = 1
		case op == "=" && isInt:
			return 0, pos, nil, errAt(b.Pos, "%s = %d is not supported: a Top-N keeps the ranks up to N (%s <= N)", rn, v, rn)
		default:
			rest = append(rest, c)
			continue
		}
		if bound < 1 {
			return 0, pos, nil, errAt(b.Pos, "%s keeps no rank: the bound must be at least 1", parser.FormatExpr(b))
		}
		if n == 0 || bound < n {
			n, pos = bound, b.Pos
		}
	}
	return n, pos, rest, nil
}

// topN plans a Top-N or a deduplication: the outer query reads (as
// qual) the inner SELECT with a ROW_NUMBER() OVER (PARTITION BY …
// ORDER BY …) AS rn item, and the outer where bounds rn. It returns the
// inner query's rows, with rn, and the outer conjuncts still to apply.
func (p *planner) topN(s *parser.Select, qual string, where parser.Expr) (*rel, parser.Expr, error) {
	ri := rankItem(s)
	item := s.Items[ri]
	call := item.Expr.(*parser.Call)
	switch {
	case call.Name != "ROW_NUMBER":
		return nil, nil, errAt(call.Pos, "%s(…) OVER (…) is not supported yet: only ROW_NUMBER()", call.Name)
	case len(call.Args) > 0 || call.Star:
		return nil, nil, errAt(call.Pos, "ROW_NUMBER takes no arguments")
	case len(call.Over.OrderBy) == 0:
		return nil, nil, errAt(call.Over.Pos, "ROW_NUMBER() OVER (…) needs an ORDER BY")
	case item.Alias.Name == "":
		return nil, nil, errAt(item.Pos, "ROW_NUMBER() OVER (…) needs a name (AS rn) that the outer WHERE bounds")
	case len(s.GroupBy) > 0:
		return nil, nil, errAt(s.GroupBy[0].Position(), "a Top-N over GROUP BY is not supported yet")
	case s.Having != nil:
		return nil, nil, errAt(s.Having.Position(), "HAVING without GROUP BY")
	case s.Distinct:
		return nil, nil, errAt(s.Pos, "SELECT DISTINCT is not supported yet")
	case len(s.OrderBy) > 0:
		return nil, nil, errAt(s.OrderBy[0].Expr.Position(), "ORDER BY is not supported yet")
	case s.Limit != nil:
		return nil, nil, errAt(s.Limit.Position(), "LIMIT is not supported yet")
	}
	for i, it := range s.Items {
		if c, ok := it.Expr.(*parser.Call); ok && c.Over != nil && i != ri {
			return nil, nil, errAt(c.Pos, "only one ROW_NUMBER() OVER (…) per query")
		}
		if c := findAggregate(it.Expr); c != nil && i != ri {
			return nil, nil, errAt(c.Pos, "aggregate %s next to ROW_NUMBER() is not supported", c.Name)
		}
	}
	n, _, rest, err := rankBound(where, item.Alias.Name, qual)
	if err != nil {
		return nil, nil, err
	}
	if n == 0 {
		return nil, nil, errAt(call.Pos, "ROW_NUMBER() needs an outer WHERE %[1]s <= N (Top-N) or %[1]s = 1 (deduplication)", item.Alias.Name)
	}
	in, inWhere, err := p.fromWhere(s.From, s.Where)
	if err != nil {
		return nil, nil, err
	}
	if in.win != nil {
		return nil, nil, errAt(s.Pos, "a Top-N over a window TVF needs a GROUP BY window_start, window_end first (window Top-N is not supported yet)")
	}
	if in, err = p.filterRel(in, conjuncts(inWhere, nil)); err != nil {
		return nil, nil, err
	}
	comp := p.compiler(in.scope())
	var keys []*expr.Compiled
	for _, k := range call.Over.PartitionBy {
		x, err := comp.Compile(k)
		if err != nil {
			return nil, nil, err
		}
		keys = append(keys, x)
	}
	var order []func(a, b row.Row) int
	for _, o := range call.Over.OrderBy {
		x, err := comp.Compile(o.Expr)
		if err != nil {
			return nil, nil, err
		}
		if x.Type.Kind == types.Interval || x.Type.Kind == types.Null {
			return nil, nil, errAt(o.Expr.Position(), "cannot ORDER BY a value of type %s", x.Type)
		}
		order = append(order, compareBy(x, o.Desc))
	}
	// Rows equal in every ORDER BY key are ordered by their bytes, so
	// that which of them make the cut does not depend on arrival order.
	less := func(a, b row.Row) int {
		for _, c := range order {
			if d := c(a, b); d != 0 {
				return d
			}
		}
		return bytes.Compare(a, b)
	}
	top := int(min(n, 1<<20))
	agg := dag.Agg[row.Row, topRows, topRows]{
		Zero:   func() topRows { return topRows{} },
		Add:    func(t topRows, r row.Row) topRows { return t.add(r, top, less) },
		Merge:  func(t, o topRows) topRows { return t.merge(o, top, less) },
		Result: func(t topRows) topRows { return topRows{rows: slices.Clone(t.rows)} },
	}
	kind := "top-n"
	if n == 1 {
		kind = "deduplicate"
	}
	tops := dag.Aggregate(dag.KeyBy(in.s, keyFunc(keys)), agg, p.name(kind),
		dag.WithCoder(dag.CoderFor[dag.KV[string, topRows]]()))
	ranked := &rel{rowtime: -1, delay: in.delay}
	ranked.schema = append(slices.Clone(in.schema), types.Column{Name: rankColumn, Type: types.BIGINT})
	ranked.quals = append(slices.Clone(in.quals), "")
	nc := len(in.schema)
	st, lay := in.schema.Storages(), row.Layout{N: nc}
	pool := &sync.Pool{New: func() any { return row.NewBuilder(nc + 1) }}
	ranked.s = dag.FlatMap(tops, func(kv dag.KV[string, topRows], emit func(row.Row)) {
		for i, r := range kv.Value.rows {
			b := pool.Get().(*row.Builder)
			for j, s := range st {
				switch {
				case r.IsNull(j):
					b.SetNull(j)
				case s == types.StoreBytes:
					b.SetBytes(j, r.Bytes(lay.Offset(j)))
				default:
					b.SetInt(j, r.Int(lay.Offset(j)))
				}
			}
			b.SetInt(nc, int64(i+1))
			emit(b.Build())
			pool.Put(b)
		}
	}, p.name(kind+"-rows"), dag.WithCoder[row.Row](rowCoder(ranked.schema)))
	items := slices.Clone(s.Items)
	items[ri] = parser.SelectItem{Pos: item.Pos, Expr: &parser.ColumnRef{Pos: call.Pos, Name: rankColumn}, Alias: item.Alias}
	out, err := p.project(ranked, items, nil, "select")
	if err != nil {
		return nil, nil, err
	}
	return out.requalify(qual), and(rest), nil
}

// checkRankView checks a view whose query has a ROW_NUMBER() item, as
// read by a query bounding the rank to 1.
func (p *planner) checkRankView(s *parser.Select, name string) error {
	item := s.Items[rankItem(s)]
	var bound parser.Expr
	if item.Alias.Name != "" {
		bound = &parser.Binary{Pos: item.Pos, Op: "<=", L: &parser.ColumnRef{Pos: item.Pos, Name: item.Alias.Name},
			R: &parser.Literal{Pos: item.Pos, Kind: parser.LitInt, Value: "1"}}
	}
	_, _, err := p.topN(s, name, bound)
	return err
}

// compareBy returns the order of rows by x: NULL first, DESC reversed.
func compareBy(x *expr.Compiled, desc bool) func(a, b row.Row) int {
	sign := 1
	if desc {
		sign = -1
	}
	switch x.Type.Storage() {
	case types.StoreFloat:
		return orderBy(x.Float, cmp.Compare[float64], sign)
	case types.StoreBytes:
		return orderBy(x.Bytes, bytes.Compare, sign)
	}
	return orderBy(x.Int, cmp.Compare[int64], sign)
}

// orderBy orders rows by the value f reads with compare, NULL first, the
// whole order multiplied by sign.
func orderBy[T any](f func(row.Row) (T, bool), compare func(a, b T) int, sign int) func(a, b row.Row) int {
	return func(a, b row.Row) int {
		av, aok := f(a)
		bv, bok := f(b)
		switch {
		case aok && bok:
			return sign * compare(av, bv)
		case aok == bok:
			return 0
		case !aok:
			return -sign
		}
		return sign
	}
}

// topRows is the accumulator of a Top-N: the best rows of a partition,
// best first, at most N.
type topRows struct{ rows []row.Row }

// add returns t with r inserted if it is among the n best.
func (t topRows) add(r row.Row, n int, order func(a, b row.Row) int) topRows {
	if len(t.rows) == n && order(r, t.rows[n-1]) >= 0 {
		return t // not better than the last kept: one comparison
	}
	i, _ := slices.BinarySearchFunc(t.rows, r, order)
	if len(t.rows) < n {
		t.rows = slices.Insert(t.rows, i, r)
		return t
	}
	copy(t.rows[i+1:], t.rows[i:n-1])
	t.rows[i] = r
	return t
}

// merge returns the n best rows of t and o.
func (t topRows) merge(o topRows, n int, order func(a, b row.Row) int) topRows {
	for _, r := range o.rows {
		t = t.add(r, n, order)
	}
	return t
}

// MarshalBinary encodes the rows for state snapshots and the combiner.
func (t topRows) MarshalBinary() ([]byte, error) {
	b := binary.AppendUvarint(nil, uint64(len(t.rows)))
	for _, r := range t.rows {
		b = binary.AppendUvarint(b, uint64(len(r)))
		b = append(b, r...)
	}
	return b, nil
}

// UnmarshalBinary decodes rows encoded by MarshalBinary.
func (t *topRows) UnmarshalBinary(b []byte) error {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return errCorruptAcc
	}
	b = b[k:]
	t.rows = make([]row.Row, 0, n)
	for range n {
		l, m := binary.Uvarint(b)
		if m <= 0 || l > uint64(len(b)-m) {
			return errCorruptAcc
		}
		t.rows = append(t.rows, row.Row(append([]byte(nil), b[m:m+int(l)]...)))
		b = b[m+int(l):]
	}
	if len(b) != 0 {
		return errCorruptAcc
	}
	return nil
}
