package sql

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/sql/expr"
	"github.com/dagflow/dagflow/sql/parser"
	"github.com/dagflow/dagflow/sql/row"
	"github.com/dagflow/dagflow/sql/types"
)

// planner adds the plans of one script's statements to a graph.
type planner struct {
	env *Env
	g   *dag.Graph
	// sources holds the source of every table read so far: a table read
	// twice is read once.
	sources map[string]*rel
	// used holds the columns the script mentions (nil: all); sources
	// read no others.
	used map[string]bool
	// reads counts the reads of every table in the script: a table read
	// once may have a projection fused into its source.
	reads map[string]int
	n     int // numbers vertex names
	// reuse holds the window TVFs and window aggregates planned so far,
	// by their text: a script that writes one twice (Nexmark q5) reads
	// and aggregates once.
	reuse map[string]*rel
}

// rel is a planned relation: a stream of rows and its columns.
type rel struct {
	s      dag.Stream[row.Row]
	schema types.Schema
	quals  []string // the qualifier of every column
	// rowtime is the index of the event-time column (whose values are
	// the records' timestamps), or -1.
	rowtime int
	// delay is the WATERMARK's bound of disorder (ms) of the rowtime
	// column, and assigned tells that the records' timestamps already are
	// the rowtime column's values, with watermarks (window results).
	delay    int64
	assigned bool
	// win is set for a window TVF not yet aggregated: the stream holds
	// the input rows and the window columns are virtual.
	win *windowSpec
	// lazy is set for a table read whose source is not added yet (s is
	// unset): project adds it with the projection fused (fuse.go).
	lazy *lazySource
	// fused is the projection fused into the source of s, if any.
	fused *fusion
	// ordered tells that the rows are in ORDER BY order, in one subtask.
	ordered bool
	// proc is 1 + the index of the processing-time attribute (a
	// PROCTIME() column), 0 if there is none.
	proc int
	// wstart and wend are 1 + the indices of the window_start and
	// window_end columns of a window aggregate's rows (0 if not kept), and
	// wjoin the windows a join of two such results on both runs in: one
	// window per window_end, so that a window join frees its state.
	wstart, wend int
	wjoin        *windowJoinSpec
}

// windowJoinSpec is the assigner a window join of window aggregate
// results uses, and its text (both sides must have the same).
type windowJoinSpec struct {
	assigner dag.WindowAssigner
	text     string
}

// windowSpec is a window TVF: its assigner and where it was written.
type windowSpec struct {
	pos      parser.Pos
	fn       string
	assigner dag.WindowAssigner
	// n is the number of input columns (before the window columns).
	n int
	// partition holds the keys of SESSION(… PARTITION BY …): each must
	// be a group key.
	partition []parser.Expr
	// sig is the text of the TVF over a named table ("" otherwise).
	sig string
	// proc is set for a TUMBLE over a processing-time attribute, of
	// size ms: dag.Window is for event time, so procWindows runs it.
	proc bool
	size int64
	// join is the windows of a window join of the aggregate's results
	// (nil for SESSION).
	join *windowJoinSpec
}

// windowColumns are the columns a window TVF adds.
var windowColumns = []string{"window_start", "window_end", "window_time"}

func (r *rel) scope() *expr.Scope {
	if r.lazy != nil {
		return r.lazy.scope(r.quals)
	}
	n := len(r.schema)
	if r.win != nil {
		n = r.win.n
	}
	sc := &expr.Scope{N: n}
	for i, c := range r.schema[:n] {
		sc.Columns = append(sc.Columns, expr.Column{Qualifier: r.quals[i], Name: c.Name, Type: c.Type, Index: i})
	}
	return sc
}

func (r *rel) requalify(q string) *rel {
	out := *r
	out.quals = make([]string, len(r.quals))
	for i := range out.quals {
		out.quals[i] = q
	}
	return &out
}

func (p *planner) name(kind string) dag.Option {
	p.n++
	return dag.Name(fmt.Sprintf("%s-%d", kind, p.n))
}

func rowCoder(s types.Schema) *row.Coder { return row.NewCoder(s.Storages()) }

func (p *planner) compiler(sc *expr.Scope) *expr.Compiler {
	return &expr.Compiler{Scope: sc, Funcs: p.env.funcs}
}

func (p *planner) query(q parser.Query) (*rel, error) {
	switch q := q.(type) {
	case *parser.Select:
		return p.selectQuery(q)
	case *parser.Union:
		return p.union(q)
	}
	return nil, errAt(q.Position(), "unsupported query")
}

func (p *planner) union(u *parser.Union) (*rel, error) {
	if !u.All {
		return nil, errAt(u.Pos, "UNION without ALL (deduplication) is not supported yet: use UNION ALL")
	}
	l, err := p.query(u.Left)
	if err != nil {
		return nil, err
	}
	r, err := p.query(u.Right)
	if err != nil {
		return nil, err
	}
	if l.win != nil || r.win != nil {
		return nil, errAt(u.Pos, "UNION ALL of a window TVF needs an aggregation first")
	}
	if len(l.schema) != len(r.schema) {
		return nil, errAt(u.Pos, "UNION ALL of %d and %d columns", len(l.schema), len(r.schema))
	}
	for i := range l.schema {
		if l.schema[i].Type != r.schema[i].Type {
			return nil, errAt(u.Pos, "UNION ALL column %d (%s) is %s on the left and %s on the right",
				i+1, l.schema[i].Name, l.schema[i].Type, r.schema[i].Type)
		}
	}
	rt := -1
	if l.rowtime == r.rowtime {
		rt = l.rowtime
	}
	return &rel{s: dag.Union(l.s, r.s), schema: l.schema, quals: make([]string, len(l.schema)), rowtime: rt,
		delay: max(l.delay, r.delay), assigned: l.assigned && r.assigned}, nil
}

func (p *planner) selectQuery(s *parser.Select) (*rel, error) {
	if s.From == nil {
		return nil, errAt(s.Pos, "SELECT without FROM is not supported")
	}
	if s.Distinct || len(s.OrderBy) > 0 || s.Limit != nil {
		// DISTINCT, then ORDER BY and LIMIT, over the plain SELECT.
		plain := *s
		plain.Distinct, plain.OrderBy, plain.Limit = false, nil, nil
		r, err := p.selectQuery(&plain)
		if err != nil {
			return nil, err
		}
		if s.Distinct {
			if r.win != nil {
				return nil, errAt(s.Pos, "SELECT DISTINCT over a window TVF needs a GROUP BY window_start, window_end")
			}
			r = p.distinct(r)
		}
		if len(s.OrderBy) > 0 || s.Limit != nil {
			return p.orderLimit(s, r)
		}
		return r, nil
	}
	if err := checkFilters(s); err != nil {
		return nil, err
	}
	var in *rel
	var where parser.Expr
	var err error
	if inner, qual := p.rankQuery(s.From); inner != nil {
		in, where, err = p.topN(inner, qual, s.Where)
	} else if plainProjection(s) {
		// A projection of one table may be fused into its source.
		in, err = p.fromForSelect(s.From)
		where = s.Where
	} else {
		in, where, err = p.fromWhere(s.From, s.Where)
	}
	if err != nil {
		return nil, err
	}
	if in.win != nil || len(s.GroupBy) > 0 {
		return p.groupAggregate(s, in, where)
	}
	if s.Having != nil {
		return nil, errAt(s.Having.Position(), "HAVING without GROUP BY")
	}
	for _, it := range s.Items {
		if c := findAggregate(it.Expr); c != nil {
			return nil, errAt(c.Pos, "aggregate %s without GROUP BY (a global aggregate) is not supported yet", c.Name)
		}
	}
	return p.project(in, s.Items, where, "select")
}

// project plans WHERE and the SELECT list over in, fused into one
// operator; a SELECT * without WHERE adds none.
func (p *planner) project(in *rel, items []parser.SelectItem, where parser.Expr, kind string) (*rel, error) {
	sc := in.scope()
	comp := p.compiler(sc)
	var pred *expr.Compiled
	if where != nil {
		x, err := comp.Compile(where)
		if err != nil {
			return nil, err
		}
		if x.Type.Kind != types.Boolean {
			return nil, errAt(where.Position(), "WHERE condition is %s, want BOOLEAN", x.Type)
		}
		pred = x
	}
	out := &rel{rowtime: -1, delay: in.delay, assigned: in.assigned, wjoin: in.wjoin}
	var cols []*expr.Compiled
	identity := true
	for _, it := range items {
		if it.Star {
			any := false
			for _, c := range sc.Columns {
				if it.StarOf != "" && !strings.EqualFold(it.StarOf, c.Qualifier) || strings.HasPrefix(c.Name, "$") {
					continue // another table's, or internal
				}
				any = true
				x := comp.Column(c)
				if c.Index != len(cols) {
					identity = false
				}
				if c.Index == in.rowtime {
					out.rowtime = len(cols)
				}
				if c.Index == in.proc-1 {
					out.proc = len(cols) + 1
				}
				out.keepWindow(in, c.Index, len(cols))
				cols = append(cols, x)
				out.schema = append(out.schema, types.Column{Name: c.Name, Type: c.Type})
				out.quals = append(out.quals, "")
			}
			if !any {
				return nil, errAt(it.Pos, "%s.* matches no table", it.StarOf)
			}
			continue
		}
		x, err := p.compileItem(comp, it.Expr)
		if err != nil {
			return nil, err
		}
		if c, ok := it.Expr.(*parser.Call); ok && c.Name == "PROCTIME" {
			out.proc = len(cols) + 1
		}
		if x.Type.Kind == types.Interval {
			return nil, errAt(it.Pos, "an INTERVAL cannot be a column")
		}
		name := it.Alias.Name
		ref, isRef := it.Expr.(*parser.ColumnRef)
		idx := -1
		if isRef {
			c, _ := sc.Resolve(ref)
			idx = c.Index
			if name == "" {
				name = c.Name
			}
		}
		if name == "" {
			name = fmt.Sprintf("EXPR$%d", len(cols))
		}
		if idx != len(cols) {
			identity = false
		}
		if idx >= 0 && idx == in.rowtime {
			out.rowtime = len(cols)
		}
		if idx >= 0 && idx == in.proc-1 {
			out.proc = len(cols) + 1
		}
		if idx >= 0 {
			out.keepWindow(in, idx, len(cols))
		}
		if x.Type.Kind == types.Null {
			x.Type = types.BIGINT // an untyped NULL column
		}
		cols = append(cols, x)
		out.schema = append(out.schema, types.Column{Name: name, Type: x.Type})
		out.quals = append(out.quals, "")
	}
	if in.lazy != nil {
		var err error
		out.s, out.fused, err = p.fuse(in, where, pred, items, cols, out.schema)
		return out, err
	}
	if identity && len(cols) == sc.N && pred == nil {
		out.s = in.s
		return out, nil
	}
	n := len(cols)
	pool := &sync.Pool{New: func() any { return row.NewBuilder(n) }}
	build := func(r row.Row) row.Row {
		b := pool.Get().(*row.Builder)
		for i, c := range cols {
			c.Write(b, i, r)
		}
		out := b.Build()
		pool.Put(b)
		return out
	}
	coder := dag.WithCoder[row.Row](rowCoder(out.schema))
	if pred == nil {
		out.s = dag.Map(in.s, build, p.name(kind), coder)
		return out, nil
	}
	test := pred.Int
	if identity && len(cols) == sc.N {
		out.s = dag.Filter(in.s, func(r row.Row) bool {
			v, ok := test(r)
			return ok && v != 0
		}, p.name("where"), coder)
		return out, nil
	}
	out.s = dag.FlatMap(in.s, func(r row.Row, emit func(row.Row)) {
		if v, ok := test(r); ok && v != 0 {
			emit(build(r))
		}
	}, p.name(kind), coder)
	return out, nil
}

// keepWindow records that column to of r is column from of in, if that
// is in's window_start or window_end.
func (r *rel) keepWindow(in *rel, from, to int) {
	switch from {
	case in.wstart - 1:
		r.wstart = to + 1
	case in.wend - 1:
		r.wend = to + 1
	}
}

// compileItem compiles a SELECT item; PROCTIME() (the processing-time
// attribute, valid only as an item) reads the wall clock when the row is
// built.
func (p *planner) compileItem(comp *expr.Compiler, e parser.Expr) (*expr.Compiled, error) {
	c, ok := e.(*parser.Call)
	if !ok || c.Name != "PROCTIME" {
		return comp.Compile(e)
	}
	if len(c.Args) > 0 || c.Star || c.Over != nil || c.Filter != nil {
		return nil, errAt(c.Pos, "PROCTIME takes no arguments")
	}
	return &expr.Compiled{Type: types.TIMESTAMP, Int: func(row.Row) (int64, bool) { return time.Now().UnixMilli(), true }}, nil
}

// checkFilters refuses FILTER (WHERE …) on a call that is not an
// aggregate.
func checkFilters(s *parser.Select) error {
	var bad *parser.Call
	check := func(e parser.Expr) {
		walk(e, func(x parser.Expr) bool {
			if c, ok := x.(*parser.Call); ok && c.Filter != nil && (!expr.IsAggregate(c.Name) || c.Over != nil) && bad == nil {
				bad = c
			}
			return bad == nil
		})
	}
	for _, it := range s.Items {
		check(it.Expr)
	}
	check(s.Where)
	check(s.Having)
	if bad != nil {
		return errAt(bad.Pos, "FILTER (WHERE …) is only allowed on an aggregate, not on %s", bad.Name)
	}
	return nil
}

// findAggregate returns the first aggregate call in e, or nil.
func findAggregate(e parser.Expr) *parser.Call {
	var found *parser.Call
	walk(e, func(x parser.Expr) bool {
		if c, ok := x.(*parser.Call); ok && expr.IsAggregate(c.Name) && c.Over == nil && found == nil {
			found = c
		}
		return found == nil
	})
	return found
}

// fromWhere plans FROM t for a query with condition where, and returns
// what of where is still to apply (a join takes its part).
// plainProjection tells whether s only projects and filters the rows of
// one table or view: no join, GROUP BY, HAVING or aggregate, so the projection may be fused
// into the source of the table it reads.
func plainProjection(s *parser.Select) bool {
	if _, table := s.From.(*parser.TableRef); !table {
		return false
	}
	if len(s.GroupBy) > 0 || s.Having != nil {
		return false
	}
	for _, it := range s.Items {
		if findAggregate(it.Expr) != nil {
			return false
		}
	}
	return true
}

func (p *planner) fromWhere(t parser.TableExpr, where parser.Expr) (*rel, parser.Expr, error) {
	if j, ok := t.(*parser.Join); ok {
		return p.join(j, where)
	}
	r, err := p.from(t)
	return r, where, err
}

func (p *planner) from(t parser.TableExpr) (*rel, error) {
	switch t := t.(type) {
	case *parser.TableRef:
		q := t.Name.Name
		if t.Alias.Name != "" {
			q = t.Alias.Name
		}
		if v, ok := p.env.views[strings.ToLower(t.Name.Name)]; ok {
			r, err := p.query(v.Query)
			if err != nil {
				return nil, err
			}
			return r.requalify(q), nil
		}
		tab, ok := p.env.Table(t.Name.Name)
		if !ok {
			return nil, errAt(t.Name.Pos, "unknown table or view %s", t.Name.Name)
		}
		r, err := p.source(tab, t.Name.Pos)
		if err != nil {
			return nil, err
		}
		return r.requalify(q), nil
	case *parser.SubqueryRef:
		r, err := p.query(t.Query)
		if err != nil {
			return nil, err
		}
		return r.requalify(t.Alias.Name), nil
	case *parser.WindowTVF:
		return p.windowTVF(t)
	case *parser.Join:
		r, rest, err := p.join(t, nil)
		if err != nil {
			return nil, err
		}
		return p.filterRel(r, conjuncts(rest, nil))
	}
	return nil, errAt(t.Position(), "unsupported FROM clause")
}

// source plans the read of a table: the connector's source, computed
// columns and the watermark.
func (p *planner) source(t *Table, pos parser.Pos) (*rel, error) {
	key := strings.ToLower(t.Name)
	if r, ok := p.sources[key]; ok {
		return r, nil
	}
	t = prune(t, p.used)
	s, err := t.connector.Source(p.g, t)
	if err != nil {
		return nil, errAt(pos, "table %s (declared at %s): %v", t.Name, t.Pos, err)
	}
	r := &rel{s: s, schema: t.Physical, quals: make([]string, len(t.Physical)), rowtime: -1}
	// Computed columns, or declared order differing from the physical.
	reorder := len(t.Schema) != len(t.Physical)
	for i, c := range t.Schema {
		if t.computed[i] == nil && t.Physical.Index(c.Name) != i {
			reorder = true
		}
	}
	if reorder {
		items := make([]parser.SelectItem, len(t.Schema))
		for i, c := range t.Schema {
			e := t.computed[i]
			if e == nil {
				e = &parser.ColumnRef{Pos: t.Pos, Name: c.Name}
			}
			items[i] = parser.SelectItem{Pos: t.Pos, Expr: e, Alias: parser.Ident{Name: c.Name}}
		}
		if r, err = p.project(r, items, nil, "computed-"+t.Name); err != nil {
			return nil, err
		}
	}
	// Timestamps and watermarks are assigned where a window needs them
	// (windowTVF): queries without windows skip the operator.
	r.rowtime, r.delay = t.Rowtime, t.WatermarkDelay
	p.sources[key] = r
	return r, nil
}

// tvfSignature is the text of a window TVF over a named table, or "".
func tvfSignature(t *parser.WindowTVF) string {
	ref, ok := t.Table.(*parser.TableRef)
	if !ok {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s(TABLE %s %s PARTITION BY", t.Func, strings.ToLower(ref.Name.Name), strings.ToLower(ref.Alias.Name))
	for _, e := range t.PartitionBy {
		b.WriteString(" " + parser.FormatExpr(e))
	}
	fmt.Fprintf(&b, " DESCRIPTOR(%s)", strings.ToLower(t.TimeCol.Name))
	for _, e := range t.Args {
		b.WriteString(" " + parser.FormatExpr(e))
	}
	fmt.Fprintf(&b, ") %s", strings.ToLower(t.Alias.Name))
	return b.String()
}

func (p *planner) windowTVF(t *parser.WindowTVF) (*rel, error) {
	if t.Func == "CUMULATE" {
		return nil, errAt(t.Pos, "CUMULATE windows are not supported yet")
	}
	sig := tvfSignature(t)
	if r, ok := p.reuse["tvf|"+sig]; ok && sig != "" {
		out := *r
		return &out, nil
	}
	in, err := p.from(t.Table)
	if err != nil {
		return nil, err
	}
	if in.win != nil {
		return nil, errAt(t.Pos, "a window TVF over a window TVF")
	}
	tc, err := in.scope().Resolve(&parser.ColumnRef{Pos: t.TimeCol.Pos, Name: t.TimeCol.Name})
	if err != nil {
		return nil, err
	}
	proc := tc.Index == in.proc-1
	if tc.Index != in.rowtime && !proc {
		return nil, errAt(t.TimeCol.Pos, "DESCRIPTOR(%s) is not the time attribute of its input: declare WATERMARK FOR %s in its table, or select the time attribute unchanged", t.TimeCol.Name, t.TimeCol.Name)
	}
	var ms []int64
	for _, a := range t.Args {
		iv, ok := a.(*parser.IntervalLit)
		if !ok {
			return nil, errAt(a.Position(), "%s argument %s: want an INTERVAL literal", t.Func, parser.FormatExpr(a))
		}
		v, err := expr.IntervalMillis(iv)
		if err != nil {
			return nil, wrap(err)
		}
		if v <= 0 {
			return nil, errAt(a.Position(), "%s: intervals must be positive", t.Func)
		}
		ms = append(ms, v)
	}
	d := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	spec := &windowSpec{pos: t.Pos, fn: t.Func, n: len(in.schema)}
	want := map[string]string{"TUMBLE": "size [, offset]", "HOP": "slide, size", "SESSION": "gap"}[t.Func]
	switch {
	case t.Func == "TUMBLE" && (len(ms) == 1 || len(ms) == 2):
		off := int64(0)
		if len(ms) == 2 {
			off = ms[1]
		}
		spec.assigner = dag.TumblingOffset(d(ms[0]), d(off))
		spec.join = &windowJoinSpec{assigner: spec.assigner, text: fmt.Sprintf("TUMBLE %d %d", ms[0], off)}
	case t.Func == "HOP" && len(ms) == 2:
		if ms[1]%ms[0] != 0 {
			return nil, errAt(t.Pos, "HOP size %v is not a multiple of the slide %v", d(ms[1]), d(ms[0]))
		}
		spec.assigner = dag.Sliding(d(ms[1]), d(ms[0]))
		// A result's time, window_end - 1, lies in exactly one window of
		// the slide's size: that of its window_end.
		spec.join = &windowJoinSpec{assigner: dag.Tumbling(d(ms[0])), text: fmt.Sprintf("HOP %d %d", ms[0], ms[1])}
	case t.Func == "SESSION" && len(ms) == 1:
		spec.assigner = dag.Session(d(ms[0]))
	default:
		return nil, errAt(t.Pos, "%s takes TABLE t, DESCRIPTOR(col) and %s, got %d intervals", t.Func, want, len(ms))
	}
	if proc {
		if t.Func != "TUMBLE" || len(ms) != 1 {
			return nil, errAt(t.Pos, "over the processing-time attribute %s only TUMBLE(TABLE t, DESCRIPTOR(%s), size) is supported", t.TimeCol.Name, t.TimeCol.Name)
		}
		spec.proc, spec.size = true, ms[0]
	}
	if len(t.PartitionBy) > 0 && t.Func != "SESSION" {
		return nil, errAt(t.PartitionBy[0].Position(), "PARTITION BY is only allowed in SESSION")
	}
	spec.partition = t.PartitionBy
	out := *in
	q := ""
	if t.Alias.Name != "" {
		out = *in.requalify(t.Alias.Name)
		q = t.Alias.Name
	}
	if !in.assigned && !proc {
		off := row.Layout{N: len(in.schema)}.Offset(in.rowtime)
		ts := in.rowtime
		out.s = dag.WithTimestamps(in.s, dag.WatermarkStrategy[row.Row]{
			Timestamp: func(r row.Row) int64 {
				if r.IsNull(ts) {
					return 0
				}
				return r.Int(off)
			},
			OutOfOrderness: time.Duration(in.delay) * time.Millisecond,
		}, p.name("watermark"), dag.WithCoder[row.Row](rowCoder(in.schema)))
	}
	out.win = spec
	out.schema = slices.Clone(in.schema)
	for _, c := range windowColumns {
		out.schema = append(out.schema, types.Column{Name: c, Type: types.TIMESTAMP})
		out.quals = append(out.quals, q)
	}
	if sig != "" {
		spec.sig = sig
		if p.reuse == nil {
			p.reuse = map[string]*rel{}
		}
		saved := out
		p.reuse["tvf|"+sig] = &saved
	}
	return &out, nil
}

// insert writes r to table t, casting columns to the table's types.
func (p *planner) insert(s *parser.Insert, t *Table, r *rel) error {
	if r.win != nil {
		return errAt(s.Pos, "INSERT of a window TVF needs GROUP BY window_start, window_end")
	}
	if len(r.schema) != len(t.Physical) {
		return errAt(s.Query.Position(), "INSERT INTO %s: the query has %d columns, the table %d physical columns %s",
			t.Name, len(r.schema), len(t.Physical), t.Physical)
	}
	same := true
	items := make([]parser.SelectItem, len(r.schema))
	for i, c := range r.schema {
		want := t.Physical[i].Type
		ref := &parser.ColumnRef{Pos: s.Pos, Name: c.Name}
		var e parser.Expr = ref
		if c.Type != want {
			same = false
			if !assignable(c.Type, want) {
				return errAt(s.Query.Position(), "INSERT INTO %s: column %d (%s) is %s, the table's %s is %s",
					t.Name, i+1, c.Name, c.Type, t.Physical[i].Name, want)
			}
			e = &parser.Cast{Pos: s.Pos, X: ref, Type: typeName(want)}
		}
		items[i] = parser.SelectItem{Pos: s.Pos, Expr: e}
	}
	if !same {
		// Columns by position: rename them uniquely first.
		renamed := *r
		renamed.schema = slices.Clone(r.schema)
		for i := range renamed.schema {
			renamed.schema[i].Name = fmt.Sprintf("$%d", i)
			items[i] = parser.SelectItem{Pos: s.Pos, Expr: replaceRef(items[i].Expr, fmt.Sprintf("$%d", i))}
		}
		var err error
		if r, err = p.project(&renamed, items, nil, "cast"); err != nil {
			return err
		}
	}
	sink, err := t.connector.Sink(t)
	if err != nil {
		return errAt(s.Table.Pos, "table %s (declared at %s): %v", t.Name, t.Pos, err)
	}
	if r.fused != nil { // the sink keeps no row: arena rows
		r.fused.arena = true
	}
	p.n++
	dag.ToSink(r.s, fmt.Sprintf("sink-%s-%d", t.Name, p.n), sink, dag.WithCoder[row.Row](rowCoder(t.Physical)))
	return nil
}

// assignable reports whether INSERT casts a value of type from to to.
func assignable(from, to types.Type) bool {
	switch {
	case from.Kind == types.Null:
		return true
	case to.Kind == types.Double:
		return from.Numeric()
	case to.Kind == types.Decimal:
		return from.Kind == types.Bigint || from.Kind == types.Decimal && from.Scale <= to.Scale
	case to.Kind == types.Varchar:
		return true
	}
	return false
}

func typeName(t types.Type) *parser.TypeName {
	tn := &parser.TypeName{Name: strings.Fields(strings.Split(t.String(), "(")[0])[0]}
	if t.Kind == types.Decimal {
		tn.Params = []int{t.Precision, t.Scale}
	}
	return tn
}

func replaceRef(e parser.Expr, name string) parser.Expr {
	switch e := e.(type) {
	case *parser.ColumnRef:
		return &parser.ColumnRef{Pos: e.Pos, Name: name}
	case *parser.Cast:
		return &parser.Cast{Pos: e.Pos, X: replaceRef(e.X, name), Type: e.Type}
	}
	return e
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}
