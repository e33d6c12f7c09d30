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
	// pred is the WHERE condition (nil: none); writers set the output
	// fields from the physical row, nil when the output is the physical
	// row itself.
	pred    func(row.Row) (int64, bool)
	writers []func(b *row.Builder, i int, r row.Row)
	// arena is set when the rows go straight to a sink, which keeps
	// none: they are then carved from arena chunks (set before the job
	// runs).
	arena bool
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

// RowWriters returns the pool of the writers a source builds its rows
// with: one per call of the source's function (Get, then Put).
func (t *Table) RowWriters() *RowWriters {
	n, f := len(t.Physical), t.fused
	return &RowWriters{pool: sync.Pool{New: func() any {
		w := &RowWriter{phys: row.NewBuilder(n), f: f}
		if f != nil && f.writers != nil {
			w.out = row.NewBuilder(len(f.schema))
		}
		return w
	}}}
}

// RowWriters is a pool of RowWriters, safe for concurrent use.
type RowWriters struct{ pool sync.Pool }

// Get returns a writer with an empty (all NULL) row.
func (p *RowWriters) Get() *RowWriter { return p.pool.Get().(*RowWriter) }

// Put returns a writer to the pool.
func (p *RowWriters) Put(w *RowWriter) { p.pool.Put(w) }

// RowWriter builds the rows of a source: set the fields of the table's
// physical row (Table.Physical) in Builder, then call Emit or Row. A
// RowWriter is not safe for concurrent use.
type RowWriter struct {
	phys  *row.Builder
	out   *row.Builder
	f     *fusion
	arena row.Arena
}

// Builder returns the builder of the physical row.
func (w *RowWriter) Builder() *row.Builder { return w.phys }

// Emit finishes the row and passes it to emit, unless the fused WHERE
// condition drops it.
func (w *RowWriter) Emit(emit func(row.Row)) {
	if r, ok := w.Row(); ok {
		emit(r)
	}
}

// Row finishes the row and returns it; ok is false when the fused WHERE
// condition drops it. The builder is empty again afterwards.
func (w *RowWriter) Row() (r row.Row, ok bool) {
	f := w.f
	if f == nil {
		return w.phys.Build(), true
	}
	in := w.phys.View()
	if f.pred != nil {
		if v, ok := f.pred(in); !ok || v == 0 {
			w.phys.Reset()
			return nil, false
		}
	}
	b := w.phys
	if f.writers != nil {
		for i, wr := range f.writers {
			wr(w.out, i, in)
		}
		w.phys.Reset()
		b = w.out
	}
	if f.arena {
		return b.BuildIn(&w.arena), true
	}
	return b.Build(), true
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

// fuse adds the lazy source of in with the projection (pred, cols) fused
// into it and returns the rows of the projection.
func (p *planner) fuse(in *rel, pred *expr.Compiled, cols []*expr.Compiled, schema types.Schema, identity bool) (dag.Stream[row.Row], *fusion, error) {
	l := in.lazy
	t := *l.t
	f := &fusion{schema: schema}
	if pred != nil {
		f.pred = pred.Int
	}
	if !identity || len(l.t.Schema) != len(l.t.Physical) {
		for _, c := range cols {
			f.writers = append(f.writers, c.Writer())
		}
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
