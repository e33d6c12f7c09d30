package sql

import (
	"strings"
	"sync"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/sql/expr"
	"github.com/dagflow/dagflow/sql/parser"
	"github.com/dagflow/dagflow/sql/row"
	"github.com/dagflow/dagflow/sql/types"
)

// Fusing is implemented by connectors whose Source builds every row with
// the table's RowWriters and declares its coder with Table.RowCoder. The
// planner then fuses the projection of a query reading the table (its
// computed columns, WHERE and SELECT list) into the source: the source
// builds the physical row of a record in a reused buffer and emits only
// the query's row, one row per record instead of one per operator.
type Fusing interface {
	Connector
	// FusesProjections marks the connector as Fusing.
	FusesProjections()
}

// fusion is the projection fused into a source: the rows it emits.
type fusion struct {
	schema types.Schema
	// pred is the WHERE condition (nil: none).
	pred func(row.Row) (int64, bool)
	// route tells, for every physical column, whether expressions read
	// it from the physical row, and to which output fields it is copied
	// unchanged.
	route []route
	// writers set the other output fields from the physical row.
	writers []fieldWriter
	// arena is set when the rows go straight to a sink, which keeps
	// none: they are then built in arena chunks (set before the job
	// runs).
	arena bool
}

type route struct {
	phys bool
	out  []int
}

type fieldWriter struct {
	i     int
	write func(b *row.Builder, i int, r row.Row)
}

// RowSchema returns the schema of the rows the table's source emits:
// Physical, or the output of the projection fused into the source.
func (t *Table) RowSchema() types.Schema {
	if t.fused != nil {
		return t.fused.schema
	}
	return t.Physical
}

// RowCoder returns the coder of the rows the table's source emits.
func (t *Table) RowCoder() *row.Coder { return rowCoder(t.RowSchema()) }

// NewRowWriter returns a writer of the rows of the table's source. A
// source function that runs once per subtask (dag.FlatMapEach) keeps
// one; one shared by subtasks takes them from RowWriters.
func (t *Table) NewRowWriter() *RowWriter {
	n, f := len(t.Physical), t.fused
	if f == nil { // the physical rows themselves
		f = &fusion{schema: t.Physical, route: make([]route, n)}
		for i := range f.route {
			f.route[i].out = []int{i}
		}
	}
	w := &RowWriter{phys: row.NewBuilder(n), out: row.NewBuilder(len(f.schema)), f: f}
	if f.arena {
		w.out.StartIn(&w.arena)
	}
	return w
}

// RowWriters returns a pool of the writers of the table's source, for
// source functions shared by subtasks: Get one per record, then Put it.
func (t *Table) RowWriters() *RowWriters {
	return &RowWriters{pool: sync.Pool{New: func() any { return t.NewRowWriter() }}}
}

// RowWriters is a pool of RowWriters, safe for concurrent use.
type RowWriters struct{ pool sync.Pool }

// Get returns a writer with an empty (all NULL) row.
func (p *RowWriters) Get() *RowWriter { return p.pool.Get().(*RowWriter) }

// Put returns a writer to the pool.
func (p *RowWriters) Put(w *RowWriter) { p.pool.Put(w) }

// RowWriter builds the rows of a source: set the fields of the table's
// physical row (the columns of Table.Physical, by index; unset ones are
// NULL), then call Emit or Row. Fields that the fused projection passes
// through unchanged go straight into the output row; the physical row
// only holds what its expressions read. A RowWriter is not safe for
// concurrent use.
type RowWriter struct {
	phys  *row.Builder
	out   *row.Builder
	f     *fusion
	arena row.Arena
}

// SetNull makes physical column i NULL.
func (w *RowWriter) SetNull(i int) {
	r := &w.f.route[i]
	if r.phys {
		w.phys.SetNull(i)
	}
	for _, o := range r.out {
		w.out.SetNull(o)
	}
}

// SetInt sets physical column i (BIGINT, DECIMAL unscaled, BOOLEAN 0/1,
// TIMESTAMP ms) to v.
func (w *RowWriter) SetInt(i int, v int64) {
	r := &w.f.route[i]
	if r.phys {
		w.phys.SetInt(i, v)
	}
	for _, o := range r.out {
		w.out.SetInt(o, v)
	}
}

// SetFloat sets physical column i (DOUBLE) to v.
func (w *RowWriter) SetFloat(i int, v float64) {
	r := &w.f.route[i]
	if r.phys {
		w.phys.SetFloat(i, v)
	}
	for _, o := range r.out {
		w.out.SetFloat(o, v)
	}
}

// SetString sets physical column i (VARCHAR) to a copy of v.
func (w *RowWriter) SetString(i int, v string) {
	r := &w.f.route[i]
	if r.phys {
		w.phys.SetString(i, v)
	}
	for _, o := range r.out {
		w.out.SetString(o, v)
	}
}

// SetBytes sets physical column i (VARCHAR) to a copy of v.
func (w *RowWriter) SetBytes(i int, v []byte) {
	r := &w.f.route[i]
	if r.phys {
		w.phys.SetBytes(i, v)
	}
	for _, o := range r.out {
		w.out.SetBytes(o, v)
	}
}

// Emit finishes the row and passes it to emit, unless the fused WHERE
// condition drops it.
func (w *RowWriter) Emit(emit func(row.Row)) {
	if r, ok := w.Row(); ok {
		emit(r)
	}
}

// Row finishes the row and returns it; ok is false when the fused WHERE
// condition drops it. The writer's row is empty again afterwards.
func (w *RowWriter) Row() (r row.Row, ok bool) {
	f := w.f
	in := w.phys.View()
	if f.pred != nil {
		if v, ok := f.pred(in); !ok || v == 0 {
			w.phys.Reset()
			w.out.Reset()
			return nil, false
		}
	}
	for _, fw := range f.writers {
		fw.write(w.out, fw.i, in)
	}
	w.phys.Reset()
	if f.arena {
		r = w.out.FinishIn(&w.arena)
		w.out.StartIn(&w.arena)
		return r, true
	}
	return w.out.Build(), true
}

// lazySource is a table read not added to the graph yet: the projection
// that consumes it is fused into its source.
type lazySource struct {
	t   *Table // pruned to the columns the script uses
	pos parser.Pos
	// cols computes every column of t.Schema from the physical row.
	cols []*expr.Compiled
}

// fromForSelect plans the FROM clause of a SELECT. A table whose
// connector fuses projections and that the script reads once comes back
// lazy: project then adds its source with the projection fused.
func (p *planner) fromForSelect(from parser.TableExpr) (*rel, error) {
	ref, ok := from.(*parser.TableRef)
	if !ok || p.reads[strings.ToLower(ref.Name.Name)] != 1 {
		return p.from(from)
	}
	if _, view := p.env.views[strings.ToLower(ref.Name.Name)]; view {
		return p.from(from)
	}
	t, ok := p.env.Table(ref.Name.Name)
	if !ok {
		return p.from(from)
	}
	if _, fuses := t.connector.(Fusing); !fuses {
		return p.from(from)
	}
	if _, read := p.sources[strings.ToLower(t.Name)]; read {
		return p.from(from)
	}
	t = prune(t, p.used)
	l := &lazySource{t: t, pos: ref.Name.Pos}
	phys := expr.ScopeOf(t.Name, t.Physical)
	comp := p.compiler(phys)
	for i, c := range t.Schema {
		if e := t.computed[i]; e != nil {
			x, err := comp.Compile(e)
			if err != nil {
				return nil, err
			}
			l.cols = append(l.cols, x)
		} else {
			l.cols = append(l.cols, comp.Column(phys.Columns[t.Physical.Index(c.Name)]))
		}
	}
	q := ref.Name.Name
	if ref.Alias.Name != "" {
		q = ref.Alias.Name
	}
	r := &rel{schema: t.Schema, quals: make([]string, len(t.Schema)), rowtime: t.Rowtime, delay: t.WatermarkDelay, lazy: l}
	return r.requalify(q), nil
}

// scope returns the columns of a lazy source: each reads its physical
// field or computes its computed column from the physical row.
func (l *lazySource) scope(quals []string) *expr.Scope {
	sc := &expr.Scope{N: len(l.t.Schema)}
	for i, c := range l.t.Schema {
		sc.Columns = append(sc.Columns, expr.Column{Qualifier: quals[i], Name: c.Name, Type: c.Type, Index: i, Expr: l.cols[i]})
	}
	return sc
}

// fuse adds the lazy source of in with the projection fused into it: the
// WHERE condition where (compiled: pred) and the SELECT list items
// (compiled: cols, giving schema). It returns the projection's rows.
func (p *planner) fuse(in *rel, where parser.Expr, pred *expr.Compiled, items []parser.SelectItem, cols []*expr.Compiled, schema types.Schema) (dag.Stream[row.Row], *fusion, error) {
	l := in.lazy
	t := *l.t
	sc := in.scope()
	f := &fusion{schema: schema, route: make([]route, len(t.Physical))}
	// reads marks the physical columns e reads (through computed
	// columns).
	reads := func(e parser.Expr) {
		walk(e, func(x parser.Expr) bool {
			ref, ok := x.(*parser.ColumnRef)
			if !ok {
				return true
			}
			c, err := sc.Resolve(ref)
			if err != nil {
				return true
			}
			if ce := t.computed[c.Index]; ce != nil {
				walk(ce, func(y parser.Expr) bool {
					if r, ok := y.(*parser.ColumnRef); ok {
						if j := t.Physical.Index(r.Name); j >= 0 {
							f.route[j].phys = true
						}
					}
					return true
				})
			} else if j := t.Physical.Index(c.Name); j >= 0 {
				f.route[j].phys = true
			}
			return true
		})
	}
	if pred != nil {
		f.pred = pred.Int
		reads(where)
	}
	// Every output column is an unchanged copy of a physical column
	// (pass[i] >= 0), or computed from the physical row by expression
	// src[i] (an item, or a computed column selected by a star).
	var pass []int
	var src []parser.Expr
	for _, it := range items {
		if it.Star {
			for _, c := range sc.Columns {
				if it.StarOf != "" && !strings.EqualFold(it.StarOf, c.Qualifier) {
					continue
				}
				if ce := t.computed[c.Index]; ce != nil {
					pass, src = append(pass, -1), append(src, &parser.ColumnRef{Name: c.Name, Qualifier: c.Qualifier})
				} else {
					pass, src = append(pass, t.Physical.Index(c.Name)), append(src, nil)
				}
			}
			continue
		}
		j := -1
		if ref, ok := it.Expr.(*parser.ColumnRef); ok {
			if c, err := sc.Resolve(ref); err == nil && t.computed[c.Index] == nil {
				j = t.Physical.Index(c.Name)
			}
		}
		pass, src = append(pass, j), append(src, it.Expr)
	}
	if len(pass) != len(cols) {
		return dag.Stream[row.Row]{}, nil, errAt(l.pos, "internal error: %d columns fused, %d compiled", len(pass), len(cols))
	}
	for i, c := range cols {
		if j := pass[i]; j >= 0 && c.Type == t.Physical[j].Type {
			f.route[j].out = append(f.route[j].out, i)
			continue
		}
		f.writers = append(f.writers, fieldWriter{i: i, write: c.Writer()})
		reads(src[i])
	}
	t.fused = f
	s, err := t.connector.Source(p.g, &t)
	if err != nil {
		return dag.Stream[row.Row]{}, nil, errAt(l.pos, "table %s (declared at %s): %v", t.Name, t.Pos, err)
	}
	return s, f, nil
}

// tableReads counts how many times the statements read each table (by
// lower-case name), through the views they use.
func tableReads(stmts []parser.Statement, views map[string]*parser.CreateView) map[string]int {
	reads := map[string]int{}
	views = copyMap(views)
	var query func(q parser.Query, depth int)
	var table func(t parser.TableExpr, depth int)
	table = func(t parser.TableExpr, depth int) {
		switch t := t.(type) {
		case *parser.TableRef:
			n := strings.ToLower(t.Name.Name)
			if v, ok := views[n]; ok && depth < 32 {
				query(v.Query, depth+1)
			} else {
				reads[n]++
			}
		case *parser.SubqueryRef:
			query(t.Query, depth)
		case *parser.WindowTVF:
			table(t.Table, depth)
		case *parser.Join:
			table(t.Left, depth)
			table(t.Right, depth)
		}
	}
	query = func(q parser.Query, depth int) {
		switch q := q.(type) {
		case *parser.Union:
			query(q.Left, depth)
			query(q.Right, depth)
		case *parser.Select:
			if q.From != nil {
				table(q.From, depth)
			}
		}
	}
	var stmt func(s parser.Statement)
	stmt = func(s parser.Statement) {
		switch s := s.(type) {
		case *parser.CreateView:
			views[strings.ToLower(s.Name.Name)] = s
		case *parser.Insert:
			query(s.Query, 0)
		case *parser.QueryStatement:
			query(s.Query, 0)
		case *parser.Explain:
			stmt(s.Statement)
		}
	}
	for _, s := range stmts {
		stmt(s)
	}
	return reads
}
