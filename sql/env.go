package sql

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/sql/expr"
	"github.com/dagflow/dagflow/sql/parser"
	"github.com/dagflow/dagflow/sql/row"
	"github.com/dagflow/dagflow/sql/types"
)

// Connector reads and writes the rows of tables declared WITH
// ('connector' = name).
type Connector interface {
	// Source adds to g a source of the table's rows, laid out as
	// t.Physical. Errors name the bad option.
	Source(g *dag.Graph, t *Table) (dag.Stream[row.Row], error)
	// Sink returns a sink of rows laid out as t.Physical.
	Sink(t *Table) (dag.Sink[row.Row], error)
}

// Table is a table of the catalog.
type Table struct {
	// Name is the table's name as declared.
	Name string
	// Pos is where the table was declared.
	Pos parser.Pos
	// Schema is every column, physical and computed, in declared order.
	Schema types.Schema
	// Physical is the columns the connector reads and writes. A source
	// may be asked for a subset of the declared ones (projection
	// push-down), in declared order.
	Physical types.Schema
	// Declared is every physical column as declared (positional formats
	// such as CSV need it).
	Declared types.Schema
	// Options are the WITH options; keys are lower case.
	Options map[string]string
	// Rowtime is the index in Schema of the WATERMARK column, or -1.
	Rowtime int
	// WatermarkDelay is the bound of disorder of the WATERMARK, in ms.
	WatermarkDelay int64

	computed  []parser.Expr // per Schema column; nil for physical ones
	connector Connector
	fused     *fusion // the projection fused into the source (fuse.go)
}

// Option returns the value of option key, or def when it is not set.
func (t *Table) Option(key, def string) string {
	if v, ok := t.Options[strings.ToLower(key)]; ok {
		return v
	}
	return def
}

// Env is a SQL session: the catalog of tables and views, the connectors
// and the functions. Compile adds to it what a script declares. An Env is
// not safe for concurrent use.
type Env struct {
	tables     map[string]*Table
	views      map[string]*parser.CreateView
	connectors map[string]Connector
	funcs      *expr.Functions
	// Stdout receives the output of the print connector (default
	// os.Stdout).
	Stdout io.Writer
}

// NewEnv returns a session with the built-in connectors (filesystem,
// print, blackhole) and functions.
func NewEnv() *Env {
	e := &Env{
		tables:     map[string]*Table{},
		views:      map[string]*parser.CreateView{},
		connectors: map[string]Connector{},
		funcs:      expr.NewFunctions(),
		Stdout:     os.Stdout,
	}
	e.connectors["filesystem"] = filesystemConnector{}
	e.connectors["print"] = printConnector{env: e}
	e.connectors["blackhole"] = blackholeConnector{}
	e.connectors["datagen"] = datagenConnector{}
	e.connectors["kafka"] = kafkaConnector{}
	return e
}

// RegisterConnector makes a connector available as WITH ('connector' =
// name).
func (e *Env) RegisterConnector(name string, c Connector) error {
	n := strings.ToLower(name)
	if _, ok := e.connectors[n]; ok {
		return fmt.Errorf("sql: connector %q is already registered", n)
	}
	e.connectors[n] = c
	return nil
}

// RegisterFunction registers a Go scalar function.
func (e *Env) RegisterFunction(name string, u expr.UDF) error {
	return e.funcs.Register(name, u)
}

// Table returns the table named name (case-insensitive).
func (e *Env) Table(name string) (*Table, bool) {
	t, ok := e.tables[strings.ToLower(name)]
	return t, ok
}

// Job is what Compile added to a graph.
type Job struct {
	// Inserts are the sink tables written, in script order.
	Inserts []string
	// Results are the results of top-level SELECTs, in script order.
	Results []*Result
	// Explain is set when the script holds EXPLAIN: the caller prints the
	// plan of the graph instead of running it.
	Explain bool
}

// errAt formats an error at a position.
func errAt(pos parser.Pos, format string, args ...any) error {
	return fmt.Errorf("sql: line %s: %s", pos, fmt.Sprintf(format, args...))
}

// wrap prefixes errors of packages expr and types.
func wrap(err error) error {
	if err == nil {
		return nil
	}
	if strings.HasPrefix(err.Error(), "sql: ") {
		return err
	}
	return fmt.Errorf("sql: %w", err)
}

// Compile parses script and adds its statements to g: tables and views to
// the catalog, and the plans of INSERT INTO and SELECT statements to g.
// Nothing is added to the catalog when the script has an error.
func (e *Env) Compile(g *dag.Graph, script string) (*Job, error) {
	stmts, err := parser.Parse(script)
	if err != nil {
		return nil, fmt.Errorf("sql: %w", err)
	}
	// Type-check on a scratch graph first, reading every column, so that
	// errors list whole tables; then plan on g with sources reading only
	// the columns the script uses.
	if _, _, err := e.plan(dag.New("check", g.Config()), stmts, nil); err != nil {
		return nil, err
	}
	job, work, err := e.plan(g, stmts, usedColumns(stmts, e.views))
	if err != nil {
		return nil, err
	}
	e.tables, e.views = work.tables, work.views
	return job, nil
}

// plan plans stmts on a copy of the catalog, which it returns: a failed
// script leaves e unchanged.
func (e *Env) plan(g *dag.Graph, stmts []parser.Statement, used map[string]bool) (*Job, *Env, error) {
	work := *e
	work.tables = copyMap(e.tables)
	work.views = copyMap(e.views)
	p := &planner{env: &work, g: g, sources: map[string]*rel{}, used: used, reads: tableReads(stmts, e.views)}
	job := &Job{}
	for _, s := range stmts {
		if err := p.statement(s, job); err != nil {
			return nil, nil, wrap(err)
		}
	}
	return job, &work, nil
}

func copyMap[V any](m map[string]V) map[string]V {
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (p *planner) statement(s parser.Statement, job *Job) error {
	switch s := s.(type) {
	case *parser.CreateTable:
		return p.env.createTable(s)
	case *parser.CreateView:
		n := strings.ToLower(s.Name.Name)
		if _, ok := p.env.tables[n]; ok {
			return errAt(s.Name.Pos, "a table named %s exists", s.Name.Name)
		}
		if _, ok := p.env.views[n]; ok {
			return errAt(s.Name.Pos, "view %s already exists", s.Name.Name)
		}
		// Check the view now, on a scratch graph, so that errors point at
		// its definition.
		check := &planner{env: p.env, g: dag.New("check", p.g.Config()), sources: map[string]*rel{}, used: p.used}
		if sel, ok := s.Query.(*parser.Select); ok && rankItem(sel) >= 0 {
			// A Top-N view: its rank is bounded where it is read.
			if err := check.checkRankView(sel, s.Name.Name); err != nil {
				return err
			}
		} else if _, err := check.query(s.Query); err != nil {
			return err
		}
		p.env.views[n] = s
		return nil
	case *parser.Insert:
		t, ok := p.env.Table(s.Table.Name)
		if !ok {
			return errAt(s.Table.Pos, "unknown table %s", s.Table.Name)
		}
		r, err := p.query(s.Query)
		if err != nil {
			return err
		}
		if err := p.insert(s, t, r); err != nil {
			return err
		}
		job.Inserts = append(job.Inserts, t.Name)
		return nil
	case *parser.QueryStatement:
		r, err := p.query(s.Query)
		if err != nil {
			return err
		}
		res := &Result{Schema: r.schema}
		p.n++
		opts := []dag.Option{dag.WithCoder[row.Row](rowCoder(r.schema))}
		if r.ordered {
			opts = append(opts, dag.Parallelism(1)) // one writer keeps the order
		}
		dag.ToSink(r.s, fmt.Sprintf("select-%d", p.n), &collectSink{res: res}, opts...)
		job.Results = append(job.Results, res)
		return nil
	case *parser.Explain:
		job.Explain = true
		return p.statement(s.Statement, job)
	}
	return errAt(s.Position(), "unsupported statement")
}

func (e *Env) createTable(s *parser.CreateTable) error {
	n := strings.ToLower(s.Name.Name)
	if _, ok := e.tables[n]; ok {
		return errAt(s.Name.Pos, "table %s already exists", s.Name.Name)
	}
	if _, ok := e.views[n]; ok {
		return errAt(s.Name.Pos, "a view named %s exists", s.Name.Name)
	}
	t := &Table{Name: s.Name.Name, Pos: s.Pos, Options: map[string]string{}, Rowtime: -1}
	seen := map[string]bool{}
	for _, c := range s.Columns {
		if seen[strings.ToLower(c.Name.Name)] {
			return errAt(c.Name.Pos, "column %s declared twice", c.Name.Name)
		}
		seen[strings.ToLower(c.Name.Name)] = true
		if c.Type != nil {
			ty, err := types.FromName(c.Type)
			if err != nil {
				return err
			}
			t.Physical = append(t.Physical, types.Column{Name: c.Name.Name, Type: ty})
		}
	}
	// Computed columns read physical columns.
	comp := &expr.Compiler{Scope: expr.ScopeOf(t.Name, t.Physical), Funcs: e.funcs}
	for _, c := range s.Columns {
		if c.Type != nil {
			t.Schema = append(t.Schema, types.Column{Name: c.Name.Name, Type: t.Physical[t.Physical.Index(c.Name.Name)].Type})
			t.computed = append(t.computed, nil)
			continue
		}
		x, err := comp.Compile(c.Computed)
		if err != nil {
			return err
		}
		if x.Type.Kind == types.Null || x.Type.Kind == types.Interval {
			return errAt(c.Computed.Position(), "computed column %s has type %s", c.Name.Name, x.Type)
		}
		t.Schema = append(t.Schema, types.Column{Name: c.Name.Name, Type: x.Type})
		t.computed = append(t.computed, c.Computed)
	}
	if len(t.Physical) == 0 {
		return errAt(s.Pos, "table %s has no physical column", t.Name)
	}
	t.Declared = t.Physical
	if w := s.Watermark; w != nil {
		i := t.Schema.Index(w.Column.Name)
		if i < 0 {
			return errAt(w.Column.Pos, "WATERMARK FOR unknown column %s", w.Column.Name)
		}
		if t.Schema[i].Type.Kind != types.Timestamp {
			return errAt(w.Column.Pos, "WATERMARK column %s is %s, want TIMESTAMP(3)", w.Column.Name, t.Schema[i].Type)
		}
		delay, ok := watermarkDelay(w)
		if !ok {
			return errAt(w.Expr.Position(), "unsupported watermark %s: want %s or %s - INTERVAL …", parser.FormatExpr(w.Expr), w.Column.Name, w.Column.Name)
		}
		t.Rowtime, t.WatermarkDelay = i, delay
	}
	for _, o := range s.Options {
		k := strings.ToLower(o.Key)
		if _, dup := t.Options[k]; dup {
			return errAt(o.Pos, "option %q set twice", o.Key)
		}
		t.Options[k] = o.Value
	}
	name, ok := t.Options["connector"]
	if !ok {
		return errAt(s.Pos, "table %s needs WITH ('connector' = …)", t.Name)
	}
	t.connector, ok = e.connectors[strings.ToLower(name)]
	if !ok {
		var known []string
		for k := range e.connectors {
			known = append(known, k)
		}
		return errAt(s.Pos, "table %s: unknown connector %q (known: %s)", t.Name, name, strings.Join(sorted(known), ", "))
	}
	e.tables[strings.ToLower(t.Name)] = t
	return nil
}

// watermarkDelay reads WATERMARK FOR c AS c [- INTERVAL …].
func watermarkDelay(w *parser.Watermark) (int64, bool) {
	same := func(x parser.Expr) bool {
		c, ok := x.(*parser.ColumnRef)
		return ok && c.Qualifier == "" && strings.EqualFold(c.Name, w.Column.Name)
	}
	if same(w.Expr) {
		return 0, true
	}
	b, ok := w.Expr.(*parser.Binary)
	if !ok || b.Op != "-" || !same(b.L) {
		return 0, false
	}
	iv, ok := b.R.(*parser.IntervalLit)
	if !ok {
		return 0, false
	}
	ms, err := expr.IntervalMillis(iv)
	return ms, err == nil
}
