package parser

// Statement is a parsed statement: *CreateTable, *CreateView, *Insert,
// *QueryStatement or *Explain.
type Statement interface {
	Position() Pos
	stmt()
}

// CreateTable is CREATE TABLE name (columns, WATERMARK …) WITH (options).
type CreateTable struct {
	Pos       Pos
	Name      Ident
	Columns   []ColumnDef
	Watermark *Watermark // nil without a WATERMARK clause
	Options   []Option
}

// ColumnDef is a physical column (Type set) or a computed column
// (Computed set).
type ColumnDef struct {
	Name     Ident
	Type     *TypeName
	Computed Expr
}

// Watermark is WATERMARK FOR Column AS Expr.
type Watermark struct {
	Pos    Pos
	Column Ident
	Expr   Expr
}

// Option is one 'key' = 'value' of a WITH clause.
type Option struct {
	Pos        Pos
	Key, Value string
}

// TypeName is a SQL type as written: BIGINT, VARCHAR(10), DECIMAL(23, 3),
// TIMESTAMP(3) …; Name is upper case.
type TypeName struct {
	Pos    Pos
	Name   string
	Params []int
}

// CreateView is CREATE VIEW name AS query.
type CreateView struct {
	Pos   Pos
	Name  Ident
	Query Query
}

// Insert is INSERT INTO table query.
type Insert struct {
	Pos   Pos
	Table Ident
	Query Query
}

// QueryStatement is a query on its own (SELECT …, … UNION ALL …).
type QueryStatement struct {
	Query Query
}

// Explain is EXPLAIN statement.
type Explain struct {
	Pos       Pos
	Statement Statement
}

func (s *CreateTable) Position() Pos    { return s.Pos }
func (s *CreateView) Position() Pos     { return s.Pos }
func (s *Insert) Position() Pos         { return s.Pos }
func (s *QueryStatement) Position() Pos { return s.Query.Position() }
func (s *Explain) Position() Pos        { return s.Pos }
func (*CreateTable) stmt()              {}
func (*CreateView) stmt()               {}
func (*Insert) stmt()                   {}
func (*QueryStatement) stmt()           {}
func (*Explain) stmt()                  {}

// Query is *Select or *Union.
type Query interface {
	Position() Pos
	query()
}

// Select is SELECT [DISTINCT] items FROM from [WHERE] [GROUP BY] [HAVING]
// [ORDER BY] [LIMIT].
type Select struct {
	Pos      Pos
	Distinct bool
	Items    []SelectItem
	From     TableExpr // nil without FROM
	Where    Expr
	GroupBy  []Expr
	Having   Expr
	OrderBy  []OrderItem
	Limit    Expr
}

// SelectItem is expr [AS alias], * or qualifier.*.
type SelectItem struct {
	Pos   Pos
	Expr  Expr  // nil for a star
	Alias Ident // empty without AS
	Star  bool
	// StarOf qualifies a star (t.*); empty for a bare *.
	StarOf string
}

// OrderItem is expr [ASC|DESC].
type OrderItem struct {
	Expr Expr
	Desc bool
}

// Union is Left UNION [ALL] Right.
type Union struct {
	Pos         Pos
	Left, Right Query
	All         bool
}

func (q *Select) Position() Pos { return q.Pos }
func (q *Union) Position() Pos  { return q.Pos }
func (*Select) query()          {}
func (*Union) query()           {}

// TableExpr is *TableRef, *SubqueryRef, *WindowTVF or *Join.
type TableExpr interface {
	Position() Pos
	tableExpr()
}

// TableRef is a table or view by name, with an optional alias.
type TableRef struct {
	Name  Ident
	Alias Ident
}

// SubqueryRef is (query) [AS] alias.
type SubqueryRef struct {
	Pos   Pos
	Query Query
	Alias Ident
}

// WindowTVF is TABLE(TUMBLE|HOP|SESSION|CUMULATE(TABLE t,
// DESCRIPTOR(col), args…)) [AS alias].
type WindowTVF struct {
	Pos     Pos
	Func    string // upper case
	Table   TableExpr
	TimeCol Ident
	// PartitionBy holds the keys of SESSION(TABLE t PARTITION BY k, …).
	PartitionBy []Expr
	Args        []Expr
	Alias       Ident
}

// Join is Left [INNER|LEFT|RIGHT|FULL] JOIN Right ON cond.
type Join struct {
	Pos         Pos
	Kind        string // "INNER", "LEFT", "RIGHT", "FULL" or "CROSS"
	Left, Right TableExpr
	On          Expr
}

func (t *TableRef) Position() Pos    { return t.Name.Pos }
func (t *SubqueryRef) Position() Pos { return t.Pos }
func (t *WindowTVF) Position() Pos   { return t.Pos }
func (t *Join) Position() Pos        { return t.Pos }
func (*TableRef) tableExpr()         {}
func (*SubqueryRef) tableExpr()      {}
func (*WindowTVF) tableExpr()        {}
func (*Join) tableExpr()             {}

// Ident is a name with its position. Unquoted names keep their spelling;
// name resolution is case-insensitive.
type Ident struct {
	Pos  Pos
	Name string
}

// Expr is an expression node.
type Expr interface {
	Position() Pos
	expr()
}

// ColumnRef is [qualifier.]name.
type ColumnRef struct {
	Pos       Pos
	Qualifier string
	Name      string
}

// Literal kinds.
const (
	LitInt     = "INT"
	LitDecimal = "DECIMAL"
	LitString  = "STRING"
	LitBool    = "BOOL"
	LitNull    = "NULL"
)

// Literal is a constant; Value is its text (TRUE/FALSE for booleans).
type Literal struct {
	Pos   Pos
	Kind  string
	Value string
}

// IntervalLit is INTERVAL 'value' unit [TO unit]; Unit is upper case.
type IntervalLit struct {
	Pos   Pos
	Value string
	Unit  string
}

// Binary is L op R; Op is upper case for word operators (AND, OR, LIKE).
type Binary struct {
	Pos  Pos
	Op   string
	L, R Expr
}

// Unary is op X: "-", "NOT".
type Unary struct {
	Pos Pos
	Op  string
	X   Expr
}

// IsNull is X IS [NOT] NULL.
type IsNull struct {
	Pos Pos
	X   Expr
	Not bool
}

// Between is X [NOT] BETWEEN Lo AND Hi.
type Between struct {
	Pos       Pos
	X, Lo, Hi Expr
	Not       bool
}

// In is X [NOT] IN (list).
type In struct {
	Pos  Pos
	X    Expr
	List []Expr
	Not  bool
}

// Call is a function call: name(args), COUNT(*), agg(DISTINCT x),
// agg(x) FILTER (WHERE cond), and window functions with OVER.
type Call struct {
	Pos      Pos
	Name     string // upper case
	Args     []Expr
	Star     bool
	Distinct bool
	Filter   Expr // FILTER (WHERE Filter) of an aggregate, or nil
	Over     *Over
}

// Over is OVER (PARTITION BY … ORDER BY …).
type Over struct {
	Pos         Pos
	PartitionBy []Expr
	OrderBy     []OrderItem
}

// Case is CASE [operand] WHEN … THEN … [ELSE …] END.
type Case struct {
	Pos     Pos
	Operand Expr // nil for a searched CASE
	Whens   []When
	Else    Expr
}

// When is one WHEN cond THEN result.
type When struct {
	Cond, Result Expr
}

// Cast is CAST(X AS Type).
type Cast struct {
	Pos  Pos
	X    Expr
	Type *TypeName
}

func (e *ColumnRef) Position() Pos   { return e.Pos }
func (e *Literal) Position() Pos     { return e.Pos }
func (e *IntervalLit) Position() Pos { return e.Pos }
func (e *Binary) Position() Pos      { return e.Pos }
func (e *Unary) Position() Pos       { return e.Pos }
func (e *IsNull) Position() Pos      { return e.Pos }
func (e *Between) Position() Pos     { return e.Pos }
func (e *In) Position() Pos          { return e.Pos }
func (e *Call) Position() Pos        { return e.Pos }
func (e *Case) Position() Pos        { return e.Pos }
func (e *Cast) Position() Pos        { return e.Pos }
func (*ColumnRef) expr()             {}
func (*Literal) expr()               {}
func (*IntervalLit) expr()           {}
func (*Binary) expr()                {}
func (*Unary) expr()                 {}
func (*IsNull) expr()                {}
func (*Between) expr()               {}
func (*In) expr()                    {}
func (*Call) expr()                  {}
func (*Case) expr()                  {}
func (*Cast) expr()                  {}
