package sql

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/sql/expr"
	"github.com/dagflow/dagflow/sql/parser"
	"github.com/dagflow/dagflow/sql/row"
	"github.com/dagflow/dagflow/sql/types"
)

// cell is the accumulator of one aggregate (or the value of one group
// key) of one group and window.
type cell struct {
	set bool    // a value was added (SUM, MIN, MAX, group keys)
	n   int64   // values counted (COUNT, AVG)
	i   int64   // int-stored sum, minimum, maximum or key
	f   float64 // float-stored ones
	b   []byte  // VARCHAR minimum, maximum or key
}

// acc is the accumulator of a group and window: one cell per group key
// and aggregate. Add and Merge update it in place.
type acc struct{ cells []cell }

// MarshalBinary encodes the accumulator for state snapshots.
func (a acc) MarshalBinary() ([]byte, error) {
	b := binary.AppendUvarint(nil, uint64(len(a.cells)))
	for _, c := range a.cells {
		flag := byte(0)
		if c.set {
			flag = 1
		}
		b = append(b, flag)
		b = binary.AppendVarint(b, c.n)
		b = binary.AppendVarint(b, c.i)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(c.f))
		b = binary.AppendUvarint(b, uint64(len(c.b)))
		b = append(b, c.b...)
	}
	return b, nil
}

var errCorruptAcc = errors.New("sql: corrupt aggregate state")

// UnmarshalBinary decodes an accumulator encoded by MarshalBinary.
func (a *acc) UnmarshalBinary(b []byte) error {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return errCorruptAcc
	}
	b = b[k:]
	a.cells = make([]cell, n)
	for i := range a.cells {
		c := &a.cells[i]
		if len(b) < 1 {
			return errCorruptAcc
		}
		c.set, b = b[0] == 1, b[1:]
		var m int
		if c.n, m = binary.Varint(b); m <= 0 {
			return errCorruptAcc
		}
		b = b[m:]
		if c.i, m = binary.Varint(b); m <= 0 {
			return errCorruptAcc
		}
		b = b[m:]
		if len(b) < 8 {
			return errCorruptAcc
		}
		c.f, b = math.Float64frombits(binary.LittleEndian.Uint64(b)), b[8:]
		l, m := binary.Uvarint(b)
		if m <= 0 || l > uint64(len(b)-m) {
			return errCorruptAcc
		}
		if l > 0 {
			c.b = append([]byte(nil), b[m:m+int(l)]...)
		}
		b = b[m+int(l):]
	}
	if len(b) != 0 {
		return errCorruptAcc
	}
	return nil
}

// aggregator is one compiled aggregate (or group key, kind "KEY").
type aggregator struct {
	kind  string
	out   types.Type
	add   func(c *cell, r row.Row)
	merge func(a, b *cell)
	write func(b *row.Builder, i int, c *cell)
}

// newAggregator compiles kind(arg) FILTER (WHERE filter); arg is nil for
// COUNT(*), filter nil without FILTER.
func newAggregator(pos parser.Pos, kind string, arg, filter *expr.Compiled) (*aggregator, error) {
	a, err := newAggregatorOf(pos, kind, arg)
	if err != nil || filter == nil {
		return a, err
	}
	if filter.Type.Kind != types.Boolean {
		return nil, errAt(pos, "%s FILTER condition is %s, want BOOLEAN", kind, filter.Type)
	}
	add, test := a.add, filter.Int
	a.add = func(c *cell, r row.Row) {
		if v, ok := test(r); ok && v != 0 {
			add(c, r)
		}
	}
	return a, nil
}

func newAggregatorOf(pos parser.Pos, kind string, arg *expr.Compiled) (*aggregator, error) {
	a := &aggregator{kind: kind}
	if kind == "COUNT" {
		a.out = types.BIGINT
		if arg == nil {
			a.add = func(c *cell, _ row.Row) { c.n++ }
		} else {
			isNull := nullTest(arg)
			a.add = func(c *cell, r row.Row) {
				if !isNull(r) {
					c.n++
				}
			}
		}
		a.merge = func(x, y *cell) { x.n += y.n }
		a.write = func(b *row.Builder, i int, c *cell) { b.SetInt(i, c.n) }
		return a, nil
	}
	t := arg.Type
	switch kind {
	case "SUM", "AVG":
		if !t.Numeric() {
			return nil, errAt(pos, "%s needs a number, got %s", kind, t)
		}
		if t.Kind == types.Decimal {
			t = types.DecimalOf(types.MaxDecimalPrecision, t.Scale)
		}
	case "MIN", "MAX", "KEY":
		if t.Kind == types.Null || t.Kind == types.Interval {
			return nil, errAt(pos, "%s of %s", kind, t)
		}
	default:
		return nil, errAt(pos, "unsupported aggregate %s", kind)
	}
	a.out = t
	setIf := func(c *cell) bool { was := c.set; c.set = true; return was }
	switch st := t.Storage(); {
	case st == types.StoreFloat:
		f := arg.Float
		switch kind {
		case "SUM", "AVG":
			a.add = func(c *cell, r row.Row) {
				if v, ok := f(r); ok {
					c.f += v
					c.n++
					c.set = true
				}
			}
			a.merge = func(x, y *cell) { x.f += y.f; x.n += y.n; x.set = x.set || y.set }
		default:
			better := betterFloat(kind)
			a.add = func(c *cell, r row.Row) {
				if v, ok := f(r); ok && (!setIf(c) || better(v, c.f)) {
					c.f = v
				}
			}
			a.merge = func(x, y *cell) {
				if y.set && (!x.set || better(y.f, x.f)) {
					x.f, x.set = y.f, true
				}
			}
		}
		avg := kind == "AVG"
		a.write = func(b *row.Builder, i int, c *cell) {
			switch {
			case !c.set:
				b.SetNull(i)
			case avg:
				b.SetFloat(i, c.f/float64(c.n))
			default:
				b.SetFloat(i, c.f)
			}
		}
	case st == types.StoreBytes:
		f := arg.Bytes
		better := betterBytes(kind)
		a.add = func(c *cell, r row.Row) {
			if v, ok := f(r); ok && (!setIf(c) || better(v, c.b)) {
				c.b = append(c.b[:0], v...)
			}
		}
		a.merge = func(x, y *cell) {
			if y.set && (!x.set || better(y.b, x.b)) {
				x.b, x.set = append(x.b[:0], y.b...), true
			}
		}
		a.write = func(b *row.Builder, i int, c *cell) {
			if !c.set {
				b.SetNull(i)
				return
			}
			b.SetBytes(i, c.b)
		}
	default:
		f := arg.Int
		switch kind {
		case "SUM", "AVG":
			a.add = func(c *cell, r row.Row) {
				if v, ok := f(r); ok {
					c.i += v
					c.n++
					c.set = true
				}
			}
			a.merge = func(x, y *cell) { x.i += y.i; x.n += y.n; x.set = x.set || y.set }
		default:
			better := betterInt(kind)
			a.add = func(c *cell, r row.Row) {
				if v, ok := f(r); ok && (!setIf(c) || better(v, c.i)) {
					c.i = v
				}
			}
			a.merge = func(x, y *cell) {
				if y.set && (!x.set || better(y.i, x.i)) {
					x.i, x.set = y.i, true
				}
			}
		}
		avg := kind == "AVG"
		a.write = func(b *row.Builder, i int, c *cell) {
			switch {
			case !c.set:
				b.SetNull(i)
			case avg:
				b.SetInt(i, c.i/c.n)
			default:
				b.SetInt(i, c.i)
			}
		}
	}
	return a, nil
}

func betterInt(kind string) func(v, cur int64) bool {
	switch kind {
	case "MIN":
		return func(v, cur int64) bool { return v < cur }
	case "MAX":
		return func(v, cur int64) bool { return v > cur }
	}
	return func(int64, int64) bool { return false } // KEY keeps the first
}

func betterFloat(kind string) func(v, cur float64) bool {
	switch kind {
	case "MIN":
		return func(v, cur float64) bool { return v < cur }
	case "MAX":
		return func(v, cur float64) bool { return v > cur }
	}
	return func(float64, float64) bool { return false }
}

func betterBytes(kind string) func(v, cur []byte) bool {
	switch kind {
	case "MIN":
		return func(v, cur []byte) bool { return bytes.Compare(v, cur) < 0 }
	case "MAX":
		return func(v, cur []byte) bool { return bytes.Compare(v, cur) > 0 }
	}
	return func([]byte, []byte) bool { return false }
}

func nullTest(x *expr.Compiled) func(row.Row) bool {
	switch x.Type.Storage() {
	case types.StoreFloat:
		return func(r row.Row) bool { _, ok := x.Float(r); return !ok }
	case types.StoreBytes:
		return func(r row.Row) bool { _, ok := x.Bytes(r); return !ok }
	}
	return func(r row.Row) bool { _, ok := x.Int(r); return !ok }
}

// keyFunc returns the grouping key of a row: the keys' values encoded
// into a string (a NULL key is its own group).
func keyFunc(keys []*expr.Compiled) func(row.Row) string {
	return func(r row.Row) string {
		var stack [64]byte
		buf := stack[:0]
		for _, k := range keys {
			switch k.Type.Storage() {
			case types.StoreFloat:
				v, ok := k.Float(r)
				if !ok {
					buf = append(buf, 0)
					continue
				}
				buf = binary.LittleEndian.AppendUint64(append(buf, 1), math.Float64bits(v))
			case types.StoreBytes:
				v, ok := k.Bytes(r)
				if !ok {
					buf = append(buf, 0)
					continue
				}
				buf = binary.AppendUvarint(append(buf, 1), uint64(len(v)))
				buf = append(buf, v...)
			default:
				v, ok := k.Int(r)
				if !ok {
					buf = append(buf, 0)
					continue
				}
				buf = binary.LittleEndian.AppendUint64(append(buf, 1), uint64(v))
			}
		}
		return string(buf)
	}
}

// groupAggregate plans SELECT … FROM in [WHERE where] GROUP BY keys
// [HAVING]. Over a window TVF the GROUP BY must hold window_start and
// window_end: one final row per group and window, when the watermark
// passes its end. Otherwise the aggregation is continuous (dag.Aggregate):
// on a bounded input one final row per group; on an unbounded one, after
// every input batch, the new row of every group the batch changed (an
// upsert keyed by the group keys).
func (p *planner) groupAggregate(s *parser.Select, in *rel, where parser.Expr) (*rel, error) {
	sc := in.scope()
	comp := p.compiler(sc)
	isWindowCol := func(e parser.Expr) string {
		c, ok := e.(*parser.ColumnRef)
		if !ok || in.win == nil {
			return ""
		}
		for _, w := range windowColumns {
			if strings.EqualFold(c.Name, w) && (c.Qualifier == "" || in.quals[len(in.quals)-1] != "" && strings.EqualFold(c.Qualifier, in.quals[len(in.quals)-1])) {
				return w
			}
		}
		return ""
	}
	// Group keys: GROUP BY items other than the window columns.
	var keyExprs []parser.Expr
	hasWin := map[string]bool{}
	for _, g := range s.GroupBy {
		if w := isWindowCol(g); w != "" {
			hasWin[w] = true
			continue
		}
		if findAggregate(g) != nil {
			return nil, errAt(g.Position(), "aggregate in GROUP BY")
		}
		keyExprs = append(keyExprs, g)
	}
	if in.win != nil && (!hasWin["window_start"] || !hasWin["window_end"]) {
		return nil, errAt(s.Pos, "a query over %s must GROUP BY window_start, window_end (and optionally keys)", in.win.fn)
	}
	// sameKey finds the group key an expression is, or -1.
	sameKey := func(e parser.Expr) int {
		if ref, ok := e.(*parser.ColumnRef); ok {
			c, err := sc.Resolve(ref)
			if err != nil {
				return -1
			}
			for i, k := range keyExprs {
				if kr, ok := k.(*parser.ColumnRef); ok {
					if kc, err := sc.Resolve(kr); err == nil && kc.Index == c.Index {
						return i
					}
				}
			}
			return -1
		}
		f := parser.FormatExpr(e)
		for i, k := range keyExprs {
			if parser.FormatExpr(k) == f {
				return i
			}
		}
		return -1
	}
	var partition []parser.Expr
	if in.win != nil {
		partition = in.win.partition
	}
	for _, k := range partition {
		if sameKey(k) < 0 {
			return nil, errAt(k.Position(), "SESSION partition key %s must be in GROUP BY", parser.FormatExpr(k))
		}
	}
	var aggCalls []*parser.Call
	aggIndex := map[string]int{}
	var rwErr error
	rw := func(e parser.Expr) parser.Expr {
		return rewrite(e, func(x parser.Expr) parser.Expr {
			if w := isWindowCol(x); w != "" {
				return &parser.ColumnRef{Pos: x.Position(), Name: w}
			}
			if i := sameKey(x); i >= 0 {
				return &parser.ColumnRef{Pos: x.Position(), Name: fmt.Sprintf("$k%d", i)}
			}
			if c, ok := x.(*parser.Call); ok && expr.IsAggregate(c.Name) && c.Over == nil {
				if c.Distinct {
					rwErr = errAt(c.Pos, "%s(DISTINCT …) is not supported yet", c.Name)
				}
				f := parser.FormatExpr(c)
				i, ok := aggIndex[f]
				if !ok {
					i = len(aggCalls)
					aggIndex[f] = i
					aggCalls = append(aggCalls, c)
				}
				return &parser.ColumnRef{Pos: x.Position(), Name: fmt.Sprintf("$a%d", i)}
			}
			if c, ok := x.(*parser.ColumnRef); ok && rwErr == nil {
				rwErr = errAt(c.Pos, "column %s is neither grouped nor aggregated", parser.FormatExpr(c))
			}
			return nil
		})
	}
	items := make([]parser.SelectItem, 0, len(s.Items))
	for i, it := range s.Items {
		if it.Star {
			return nil, errAt(it.Pos, "SELECT * in a grouped query")
		}
		out := it
		if out.Alias.Name == "" {
			if ref, ok := it.Expr.(*parser.ColumnRef); ok {
				out.Alias = parser.Ident{Pos: ref.Pos, Name: ref.Name}
			} else {
				out.Alias = parser.Ident{Pos: it.Pos, Name: fmt.Sprintf("EXPR$%d", i)}
			}
		}
		out.Expr = rw(it.Expr)
		items = append(items, out)
	}
	having := rw(s.Having)
	if rwErr != nil {
		return nil, rwErr
	}
	// The same aggregation of the same window TVF is planned once.
	sig := ""
	if in.win != nil && in.win.sig != "" {
		var b strings.Builder
		fmt.Fprintf(&b, "agg|%s|WHERE %s|BY", in.win.sig, parser.FormatExpr(where))
		for _, k := range keyExprs {
			b.WriteString(" " + parser.FormatExpr(k))
		}
		for _, c := range aggCalls {
			b.WriteString(" " + parser.FormatExpr(c))
		}
		sig = b.String()
		if r, ok := p.reuse[sig]; ok {
			return p.project(r, items, having, "select")
		}
	}
	// Compile keys and aggregates over the input rows.
	var aggs []*aggregator
	var keys []*expr.Compiled
	post := &rel{rowtime: -1}
	for i, k := range keyExprs {
		x, err := comp.Compile(k)
		if err != nil {
			return nil, err
		}
		a, err := newAggregator(k.Position(), "KEY", x, nil)
		if err != nil {
			return nil, err
		}
		keys, aggs = append(keys, x), append(aggs, a)
		post.schema = append(post.schema, types.Column{Name: fmt.Sprintf("$k%d", i), Type: a.out})
	}
	for i, c := range aggCalls {
		var arg *expr.Compiled
		switch {
		case c.Star && c.Name == "COUNT":
		case c.Star || len(c.Args) != 1:
			return nil, errAt(c.Pos, "%s takes one argument", c.Name)
		default:
			x, err := comp.Compile(c.Args[0])
			if err != nil {
				return nil, err
			}
			arg = x
		}
		var filter *expr.Compiled
		if c.Filter != nil {
			x, err := comp.Compile(c.Filter)
			if err != nil {
				return nil, err
			}
			filter = x
		}
		a, err := newAggregator(c.Pos, c.Name, arg, filter)
		if err != nil {
			return nil, err
		}
		aggs = append(aggs, a)
		post.schema = append(post.schema, types.Column{Name: fmt.Sprintf("$a%d", i), Type: a.out})
	}
	cellSchema := post.schema
	if in.win != nil {
		for _, w := range windowColumns {
			post.schema = append(post.schema, types.Column{Name: w, Type: types.TIMESTAMP})
		}
		if !in.win.proc {
			post.rowtime = len(post.schema) - 1 // window_time
			post.assigned = true                // results carry End-1 as timestamp
			post.wstart, post.wend, post.wjoin = len(cellSchema)+1, len(cellSchema)+2, in.win.join
		}
	}
	post.quals = make([]string, len(post.schema))

	// Filter, key and window the input.
	src := in.s
	if where != nil && in.win == nil {
		filtered, err := p.filterRel(in, []parser.Expr{where})
		if err != nil {
			return nil, err
		}
		src = filtered.s
	}
	if where != nil && in.win != nil {
		base := *in
		base.win = nil
		base.schema, base.quals = in.schema[:in.win.n], in.quals[:in.win.n]
		items := make([]parser.SelectItem, 0, in.win.n)
		for i := range in.win.n {
			items = append(items, parser.SelectItem{Pos: s.Pos, Expr: &parser.ColumnRef{Pos: s.Pos, Qualifier: base.quals[i], Name: base.schema[i].Name}})
		}
		filtered, err := p.project(&base, items, where, "where")
		if err != nil {
			return nil, err
		}
		src = filtered.s
	}
	nc := len(aggs)
	pool := &sync.Pool{New: func() any { return row.NewBuilder(nc) }}
	agg := dag.Agg[row.Row, acc, row.Row]{
		Zero: func() acc { return acc{cells: make([]cell, nc)} },
		Add: func(a acc, r row.Row) acc {
			for i, g := range aggs {
				g.add(&a.cells[i], r)
			}
			return a
		},
		Merge: func(a, b acc) acc {
			for i, g := range aggs {
				g.merge(&a.cells[i], &b.cells[i])
			}
			return a
		},
		Result: func(a acc) row.Row {
			b := pool.Get().(*row.Builder)
			for i, g := range aggs {
				g.write(b, i, &a.cells[i])
			}
			r := b.Build()
			pool.Put(b)
			return r
		},
	}
	keyed := dag.KeyBy(src, keyFunc(keys))
	if in.win == nil {
		kept := dag.Agg[row.Row, acc, keptRow]{Zero: agg.Zero, Add: agg.Add, Merge: agg.Merge,
			Result: func(a acc) keptRow { return keptRow(agg.Result(a)) }}
		updates := dag.Aggregate(keyed, kept, p.name("group-by"), dag.WithCoder[dag.KV[string, keptRow]](kvRowCoder{rowCoder(cellSchema)}))
		post.s = dag.Map(updates, func(kv dag.KV[string, keptRow]) row.Row { return row.Row(kv.Value) }, p.name("group-rows"),
			dag.WithCoder[row.Row](rowCoder(cellSchema)))
		return p.project(post, items, having, "select")
	}
	if in.win.proc {
		write := func(b *row.Builder, a acc) {
			for i, g := range aggs {
				g.write(b, i, &a.cells[i])
			}
		}
		size, pn := in.win.size, len(post.schema)
		post.s = dag.Process(keyed, func() dag.ProcessFunc[string, row.Row, row.Row] {
			return &procWindows{size: size, agg: agg, write: write, b: row.NewBuilder(pn)}
		}, p.name("proctime-tumble"), dag.WithCoder[row.Row](rowCoder(post.schema)))
		if sig != "" {
			p.reuse[sig] = post
		}
		return p.project(post, items, having, "select")
	}
	results := dag.WindowAggregate(dag.Window(keyed, in.win.assigner), agg, p.name(strings.ToLower(in.win.fn)),
		dag.WithCoder(dag.WindowResultCoder[string, row.Row](dag.StringCoder{}, rowCoder(cellSchema))))
	cl := row.Layout{N: nc}
	pn := len(post.schema)
	postPool := &sync.Pool{New: func() any { return row.NewBuilder(pn) }}
	storages := cellSchema.Storages()
	post.s = dag.Map(results, func(w dag.WindowResult[string, row.Row]) row.Row {
		b := postPool.Get().(*row.Builder)
		for i, st := range storages {
			switch {
			case w.Value.IsNull(i):
			case st == types.StoreBytes:
				b.SetBytes(i, w.Value.Bytes(cl.Offset(i)))
			default:
				b.SetInt(i, w.Value.Int(cl.Offset(i))) // float bits copy unchanged
			}
		}
		b.SetInt(nc, w.Start)
		b.SetInt(nc+1, w.End)
		b.SetInt(nc+2, w.End-1)
		r := b.Build()
		postPool.Put(b)
		return r
	}, p.name("window-rows"), dag.WithCoder[row.Row](rowCoder(post.schema)))
	if sig != "" {
		p.reuse[sig] = post
	}
	return p.project(post, items, having, "select")
}

// procWindows aggregates the rows of a key into tumbling windows of
// processing time: a row counts in the window of the wall-clock time it
// reaches the operator. A window is emitted when the clock passes its end,
// and every open window when a bounded input ends (the final watermark).
type procWindows struct {
	size  int64
	agg   dag.Agg[row.Row, acc, row.Row]
	write func(b *row.Builder, a acc)
	b     *row.Builder
	open  *dag.MapState[string, int64, acc] // window start -> accumulator
}

func (f *procWindows) Open(oc *dag.ProcessOpenContext[string]) error {
	f.open = dag.NewMapState[int64, acc](oc, "windows")
	return nil
}

func (f *procWindows) ProcessElement(ctx *dag.ProcessContext[string, row.Row], r row.Row) error {
	now := ctx.ProcessingTime()
	start := now - ((now%f.size)+f.size)%f.size
	a, ok := f.open.Get(ctx, start)
	if !ok {
		a = f.agg.Zero()
		ctx.RegisterProcessingTimer(start + f.size)
		ctx.RegisterEventTimer(dag.MaxTime) // the end of a bounded input
	}
	f.open.Put(ctx, start, f.agg.Add(a, r))
	return nil
}

func (f *procWindows) OnTimer(ctx *dag.ProcessContext[string, row.Row], t dag.Timer) error {
	for start, a := range f.open.All(ctx) {
		if t.Domain != dag.EventTime && start+f.size > t.Timestamp {
			continue
		}
		n := len(a.cells)
		f.write(f.b, a)
		f.b.SetInt(n, start)
		f.b.SetInt(n+1, start+f.size)
		f.b.SetInt(n+2, start+f.size-1)
		ctx.Emit(f.b.Build())
		f.open.Remove(ctx, start)
	}
	return nil
}
