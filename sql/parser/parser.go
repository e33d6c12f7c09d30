package parser

import (
	"fmt"
	"strconv"
	"strings"
)

// maxDepth bounds the nesting of expressions and queries, so that hostile
// input cannot exhaust the stack.
const maxDepth = 200

// reserved words cannot be bare names or aliases.
var reserved = map[string]bool{
	"SELECT": true, "FROM": true, "WHERE": true, "GROUP": true, "BY": true, "HAVING": true, "ORDER": true,
	"LIMIT": true, "UNION": true, "ALL": true, "JOIN": true, "ON": true, "INNER": true, "LEFT": true,
	"RIGHT": true, "FULL": true, "CROSS": true, "AS": true, "AND": true, "OR": true, "NOT": true,
	"CASE": true, "WHEN": true, "THEN": true, "ELSE": true, "END": true, "IS": true, "NULL": true,
	"IN": true, "BETWEEN": true, "LIKE": true, "INSERT": true, "INTO": true, "CREATE": true, "TABLE": true,
	"VIEW": true, "WITH": true, "WATERMARK": true, "FOR": true, "EXPLAIN": true, "DISTINCT": true,
	"OVER": true, "PARTITION": true, "TRUE": true, "FALSE": true, "INTERVAL": true, "CAST": true,
	"OUTER": true, "DESCRIPTOR": true, "ASC": true, "DESC": true,
}

// parser holds the tokens of a script and the read position.
type parser struct {
	toks  []token
	i     int
	depth int
}

// bail carries a syntax error up the recursive descent.
type bail struct{ err *Error }

// Parse parses a script of statements separated by semicolons.
func Parse(src string) (stmts []Statement, err error) {
	toks, lerr := lex(src)
	if lerr != nil {
		return nil, lerr
	}
	p := &parser{toks: toks}
	defer func() {
		if r := recover(); r != nil {
			b, ok := r.(bail)
			if !ok {
				panic(r)
			}
			stmts, err = nil, b.err
		}
	}()
	for {
		for p.acceptOp(";") {
		}
		if p.peek().kind == tEOF {
			return stmts, nil
		}
		stmts = append(stmts, p.statement())
		if p.peek().kind != tEOF && !p.isOp(";") {
			p.fail("\";\" or end of input after the statement")
		}
	}
}

// ParseExpr parses a single expression.
func ParseExpr(src string) (e Expr, err error) {
	toks, lerr := lex(src)
	if lerr != nil {
		return nil, lerr
	}
	p := &parser{toks: toks}
	defer func() {
		if r := recover(); r != nil {
			b, ok := r.(bail)
			if !ok {
				panic(r)
			}
			e, err = nil, b.err
		}
	}()
	e = p.expr()
	if p.peek().kind != tEOF {
		p.fail("end of the expression")
	}
	return e, nil
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) peekAt(k int) token {
	if p.i+k < len(p.toks) {
		return p.toks[p.i+k]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// fail stops parsing with "expected …, found …" at the current token.
func (p *parser) fail(expected string) {
	t := p.peek()
	panic(bail{&Error{t.pos, fmt.Sprintf("expected %s, found %s", expected, t)}})
}

func (p *parser) failAt(pos Pos, format string, args ...any) {
	panic(bail{&Error{pos, fmt.Sprintf(format, args...)}})
}

func (p *parser) enter() {
	p.depth++
	if p.depth > maxDepth {
		p.failAt(p.peek().pos, "nesting deeper than %d levels", maxDepth)
	}
}

func (p *parser) leave() { p.depth-- }

func isKw(t token, kw string) bool {
	return t.kind == tIdent && !t.quoted && strings.EqualFold(t.text, kw)
}

func (p *parser) isKw(kw string) bool { return isKw(p.peek(), kw) }

func (p *parser) acceptKw(kw string) bool {
	if p.isKw(kw) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expectKw(kw string) token {
	if !p.isKw(kw) {
		p.fail(kw)
	}
	return p.next()
}

func (p *parser) isOp(op string) bool {
	t := p.peek()
	return t.kind == tOp && t.text == op
}

func (p *parser) acceptOp(op string) bool {
	if p.isOp(op) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expectOp(op string) token {
	if !p.isOp(op) {
		p.fail(fmt.Sprintf("%q", op))
	}
	return p.next()
}

// ident reads a name; what says what kind of name is expected.
func (p *parser) ident(what string) Ident {
	t := p.peek()
	if t.kind != tIdent || !t.quoted && reserved[strings.ToUpper(t.text)] {
		p.fail(what)
	}
	p.i++
	return Ident{Pos: t.pos, Name: t.text}
}

func (p *parser) isIdent() bool {
	t := p.peek()
	return t.kind == tIdent && (t.quoted || !reserved[strings.ToUpper(t.text)])
}

func (p *parser) statement() Statement {
	t := p.peek()
	switch {
	case p.isKw("EXPLAIN"):
		p.next()
		// EXPLAIN PLAN FOR stmt is Flink's long form.
		if p.isKw("PLAN") && isKw(p.peekAt(1), "FOR") {
			p.i += 2
		}
		if p.isKw("EXPLAIN") {
			p.fail("a statement to explain")
		}
		return &Explain{Pos: t.pos, Statement: p.statement()}
	case p.isKw("CREATE"):
		p.next()
		switch {
		case p.isKw("TABLE"):
			p.next()
			return p.createTable(t.pos)
		case p.isKw("VIEW"):
			p.next()
			name := p.ident("a view name")
			p.expectKw("AS")
			return &CreateView{Pos: t.pos, Name: name, Query: p.query()}
		}
		p.fail("TABLE or VIEW after CREATE")
	case p.isKw("INSERT"):
		p.next()
		p.expectKw("INTO")
		name := p.ident("a table name")
		return &Insert{Pos: t.pos, Table: name, Query: p.query()}
	case p.isKw("SELECT") || p.isOp("("):
		return &QueryStatement{Query: p.query()}
	}
	p.fail("a statement (CREATE, INSERT, SELECT or EXPLAIN)")
	return nil
}

func (p *parser) createTable(pos Pos) *CreateTable {
	ct := &CreateTable{Pos: pos, Name: p.ident("a table name")}
	p.expectOp("(")
	for {
		if p.isKw("WATERMARK") {
			wpos := p.next().pos
			if ct.Watermark != nil {
				p.failAt(wpos, "a second WATERMARK clause")
			}
			p.expectKw("FOR")
			col := p.ident("the watermark's time column")
			p.expectKw("AS")
			ct.Watermark = &Watermark{Pos: wpos, Column: col, Expr: p.expr()}
		} else {
			name := p.ident("a column name or WATERMARK")
			if p.acceptKw("AS") {
				ct.Columns = append(ct.Columns, ColumnDef{Name: name, Computed: p.expr()})
			} else {
				ct.Columns = append(ct.Columns, ColumnDef{Name: name, Type: p.typeName()})
			}
		}
		if p.acceptOp(")") {
			break
		}
		if !p.acceptOp(",") {
			p.fail(`"," or ")" in the column list`)
		}
	}
	if p.acceptKw("WITH") {
		p.expectOp("(")
		for {
			k := p.peek()
			if k.kind != tString {
				p.fail("an option key as a string literal ('connector')")
			}
			p.next()
			p.expectOp("=")
			v := p.peek()
			if v.kind != tString {
				p.fail("an option value as a string literal")
			}
			p.next()
			ct.Options = append(ct.Options, Option{Pos: k.pos, Key: k.text, Value: v.text})
			if p.acceptOp(")") {
				break
			}
			if !p.acceptOp(",") {
				p.fail(`"," or ")" in the WITH options`)
			}
		}
	}
	return ct
}

// typeName reads a type: NAME [(n [, m])], with the multi-word names
// DOUBLE PRECISION, TIMESTAMP(p) WITH LOCAL TIME ZONE and TIMESTAMP_LTZ.
func (p *parser) typeName() *TypeName {
	t := p.peek()
	if t.kind != tIdent {
		p.fail("a type name")
	}
	p.next()
	tn := &TypeName{Pos: t.pos, Name: strings.ToUpper(t.text)}
	if tn.Name == "DOUBLE" {
		p.acceptKw("PRECISION")
	}
	if p.acceptOp("(") {
		for {
			n := p.peek()
			if n.kind != tNumber {
				p.fail("a type parameter (a number)")
			}
			v, err := strconv.Atoi(n.text)
			if err != nil || v < 0 || v > 1<<20 {
				p.failAt(n.pos, "bad type parameter %s", n.text)
			}
			p.next()
			tn.Params = append(tn.Params, v)
			if p.acceptOp(")") {
				break
			}
			if !p.acceptOp(",") {
				p.fail(`"," or ")" in the type parameters`)
			}
		}
	}
	if tn.Name == "TIMESTAMP" && p.isKw("WITH") && isKw(p.peekAt(1), "LOCAL") {
		p.i += 2
		p.expectKw("TIME")
		p.expectKw("ZONE")
		tn.Name = "TIMESTAMP_LTZ"
	}
	return tn
}

// query reads select [UNION [ALL] select]…
func (p *parser) query() Query {
	p.enter()
	defer p.leave()
	q := p.queryTerm()
	for p.isKw("UNION") {
		pos := p.next().pos
		all := p.acceptKw("ALL")
		if !all {
			p.acceptKw("DISTINCT")
		}
		q = &Union{Pos: pos, Left: q, Right: p.queryTerm(), All: all}
	}
	return q
}

func (p *parser) queryTerm() Query {
	if p.acceptOp("(") {
		q := p.query()
		p.expectOp(")")
		return q
	}
	return p.selectQuery()
}

func (p *parser) selectQuery() *Select {
	t := p.expectKw("SELECT")
	s := &Select{Pos: t.pos}
	if p.acceptKw("DISTINCT") {
		s.Distinct = true
	} else {
		p.acceptKw("ALL")
	}
	for {
		s.Items = append(s.Items, p.selectItem())
		if !p.acceptOp(",") {
			break
		}
	}
	if p.acceptKw("FROM") {
		s.From = p.tableExpr()
	}
	if p.acceptKw("WHERE") {
		s.Where = p.expr()
	}
	if p.isKw("GROUP") {
		p.next()
		p.expectKw("BY")
		s.GroupBy = p.exprList()
	}
	if p.acceptKw("HAVING") {
		s.Having = p.expr()
	}
	if p.isKw("ORDER") {
		p.next()
		p.expectKw("BY")
		s.OrderBy = p.orderList()
	}
	if p.acceptKw("LIMIT") {
		s.Limit = p.expr()
	}
	return s
}

func (p *parser) selectItem() SelectItem {
	t := p.peek()
	if p.acceptOp("*") {
		return SelectItem{Pos: t.pos, Star: true}
	}
	if t.kind == tIdent && p.peekAt(1).kind == tOp && p.peekAt(1).text == "." &&
		p.peekAt(2).kind == tOp && p.peekAt(2).text == "*" {
		q := p.ident("a table name")
		p.i += 2
		return SelectItem{Pos: t.pos, Star: true, StarOf: q.Name}
	}
	it := SelectItem{Pos: t.pos, Expr: p.expr()}
	if p.acceptKw("AS") {
		it.Alias = p.ident("an alias after AS")
	} else if p.isIdent() {
		it.Alias = p.ident("an alias")
	}
	return it
}

func (p *parser) exprList() []Expr {
	var out []Expr
	for {
		out = append(out, p.expr())
		if !p.acceptOp(",") {
			return out
		}
	}
}

func (p *parser) orderList() []OrderItem {
	var out []OrderItem
	for {
		it := OrderItem{Expr: p.expr()}
		if p.acceptKw("DESC") {
			it.Desc = true
		} else {
			p.acceptKw("ASC")
		}
		out = append(out, it)
		if !p.acceptOp(",") {
			return out
		}
	}
}

// tableExpr reads a FROM clause: table factors joined by JOIN … ON or
// commas (cross joins).
func (p *parser) tableExpr() TableExpr {
	p.enter()
	defer p.leave()
	left := p.tableFactor()
	for {
		pos := p.peek().pos
		kind := ""
		switch {
		case p.acceptOp(","):
			left = &Join{Pos: pos, Kind: "CROSS", Left: left, Right: p.tableFactor()}
			continue
		case p.isKw("JOIN"):
			kind = "INNER"
		case p.isKw("INNER"):
			p.next()
			kind = "INNER"
		case p.isKw("LEFT") || p.isKw("RIGHT") || p.isKw("FULL"):
			kind = strings.ToUpper(p.next().text)
			p.acceptKw("OUTER")
		case p.isKw("CROSS"):
			p.next()
			p.expectKw("JOIN")
			left = &Join{Pos: pos, Kind: "CROSS", Left: left, Right: p.tableFactor()}
			continue
		default:
			return left
		}
		p.expectKw("JOIN")
		right := p.tableFactor()
		p.expectKw("ON")
		left = &Join{Pos: pos, Kind: kind, Left: left, Right: right, On: p.expr()}
	}
}

func (p *parser) alias() Ident {
	if p.acceptKw("AS") {
		return p.ident("an alias after AS")
	}
	if p.isIdent() {
		return p.ident("an alias")
	}
	return Ident{}
}

func (p *parser) tableFactor() TableExpr {
	t := p.peek()
	switch {
	case p.isOp("("):
		p.next()
		if p.isKw("SELECT") || p.isOp("(") {
			q := p.query()
			p.expectOp(")")
			return &SubqueryRef{Pos: t.pos, Query: q, Alias: p.alias()}
		}
		te := p.tableExpr()
		p.expectOp(")")
		return te
	case p.isKw("TABLE"):
		p.next()
		p.expectOp("(")
		tvf := p.windowTVF()
		p.expectOp(")")
		tvf.Alias = p.alias()
		return tvf
	}
	name := p.ident("a table name, (subquery) or TABLE(window function)")
	return &TableRef{Name: name, Alias: p.alias()}
}

// windowTVF reads TUMBLE(TABLE t, DESCRIPTOR(col), args…) and its kin.
func (p *parser) windowTVF() *WindowTVF {
	t := p.peek()
	fn := strings.ToUpper(t.text)
	if t.kind != tIdent || fn != "TUMBLE" && fn != "HOP" && fn != "SESSION" && fn != "CUMULATE" {
		p.fail("a window function (TUMBLE, HOP, SESSION or CUMULATE)")
	}
	p.next()
	w := &WindowTVF{Pos: t.pos, Func: fn}
	p.expectOp("(")
	p.expectKw("TABLE")
	if p.isOp("(") {
		w.Table = p.tableFactor()
	} else {
		name := p.ident("a table name")
		w.Table = &TableRef{Name: name}
	}
	if p.isKw("PARTITION") {
		p.next()
		p.expectKw("BY")
		// One key, or a parenthesized list: the comma after a single key
		// separates the DESCRIPTOR argument.
		if p.acceptOp("(") {
			w.PartitionBy = p.exprList()
			p.expectOp(")")
		} else {
			w.PartitionBy = []Expr{p.expr()}
		}
	}
	p.expectOp(",")
	p.expectKw("DESCRIPTOR")
	p.expectOp("(")
	w.TimeCol = p.ident("the time column in DESCRIPTOR")
	p.expectOp(")")
	for p.acceptOp(",") {
		w.Args = append(w.Args, p.expr())
	}
	p.expectOp(")")
	return w
}

// Expressions, by increasing precedence: OR, AND, NOT, comparisons and
// predicates, ||, + -, * / %, unary -, primaries.

func (p *parser) expr() Expr {
	p.enter()
	defer p.leave()
	return p.or()
}

func (p *parser) or() Expr {
	l := p.and()
	for p.isKw("OR") {
		pos := p.next().pos
		l = &Binary{Pos: pos, Op: "OR", L: l, R: p.and()}
	}
	return l
}

func (p *parser) and() Expr {
	l := p.not()
	for p.isKw("AND") {
		pos := p.next().pos
		l = &Binary{Pos: pos, Op: "AND", L: l, R: p.not()}
	}
	return l
}

func (p *parser) not() Expr {
	if p.isKw("NOT") {
		pos := p.next().pos
		p.enter()
		defer p.leave()
		return &Unary{Pos: pos, Op: "NOT", X: p.not()}
	}
	return p.comparison()
}

func (p *parser) comparison() Expr {
	l := p.concat()
	for {
		t := p.peek()
		switch {
		case t.kind == tOp && (t.text == "=" || t.text == "<>" || t.text == "!=" || t.text == "<" ||
			t.text == ">" || t.text == "<=" || t.text == ">="):
			p.next()
			op := t.text
			if op == "!=" {
				op = "<>"
			}
			l = &Binary{Pos: t.pos, Op: op, L: l, R: p.concat()}
		case p.isKw("IS"):
			p.next()
			not := p.acceptKw("NOT")
			p.expectKw("NULL")
			l = &IsNull{Pos: t.pos, X: l, Not: not}
		case p.isKw("NOT") && (isKw(p.peekAt(1), "BETWEEN") || isKw(p.peekAt(1), "IN") || isKw(p.peekAt(1), "LIKE")):
			p.next()
			l = p.predicate(l, t.pos, true)
		case p.isKw("BETWEEN") || p.isKw("IN") || p.isKw("LIKE"):
			l = p.predicate(l, t.pos, false)
		default:
			return l
		}
	}
}

func (p *parser) predicate(x Expr, pos Pos, not bool) Expr {
	switch {
	case p.acceptKw("BETWEEN"):
		lo := p.concat()
		p.expectKw("AND")
		return &Between{Pos: pos, X: x, Lo: lo, Hi: p.concat(), Not: not}
	case p.acceptKw("IN"):
		p.expectOp("(")
		list := p.exprList()
		p.expectOp(")")
		return &In{Pos: pos, X: x, List: list, Not: not}
	}
	p.expectKw("LIKE")
	var e Expr = &Binary{Pos: pos, Op: "LIKE", L: x, R: p.concat()}
	if not {
		e = &Unary{Pos: pos, Op: "NOT", X: e}
	}
	return e
}

func (p *parser) concat() Expr {
	l := p.additive()
	for p.isOp("||") {
		pos := p.next().pos
		l = &Binary{Pos: pos, Op: "||", L: l, R: p.additive()}
	}
	return l
}

func (p *parser) additive() Expr {
	l := p.multiplicative()
	for p.isOp("+") || p.isOp("-") {
		t := p.next()
		l = &Binary{Pos: t.pos, Op: t.text, L: l, R: p.multiplicative()}
	}
	return l
}

func (p *parser) multiplicative() Expr {
	l := p.unary()
	for p.isOp("*") || p.isOp("/") || p.isOp("%") {
		t := p.next()
		l = &Binary{Pos: t.pos, Op: t.text, L: l, R: p.unary()}
	}
	return l
}

func (p *parser) unary() Expr {
	if p.isOp("-") || p.isOp("+") {
		t := p.next()
		p.enter()
		defer p.leave()
		x := p.unary()
		if t.text == "+" {
			return x
		}
		if lit, ok := x.(*Literal); ok && (lit.Kind == LitInt || lit.Kind == LitDecimal) && !strings.HasPrefix(lit.Value, "-") {
			return &Literal{Pos: t.pos, Kind: lit.Kind, Value: "-" + lit.Value}
		}
		return &Unary{Pos: t.pos, Op: "-", X: x}
	}
	return p.primary()
}

func (p *parser) primary() Expr {
	t := p.peek()
	switch t.kind {
	case tNumber:
		p.next()
		if strings.Contains(t.text, ".") {
			return &Literal{Pos: t.pos, Kind: LitDecimal, Value: t.text}
		}
		return &Literal{Pos: t.pos, Kind: LitInt, Value: t.text}
	case tString:
		p.next()
		return &Literal{Pos: t.pos, Kind: LitString, Value: t.text}
	case tOp:
		if t.text == "(" {
			p.next()
			e := p.expr()
			p.expectOp(")")
			return e
		}
		p.fail("an expression")
	case tEOF:
		p.fail("an expression")
	}
	if !t.quoted {
		switch strings.ToUpper(t.text) {
		case "TRUE", "FALSE":
			p.next()
			return &Literal{Pos: t.pos, Kind: LitBool, Value: strings.ToUpper(t.text)}
		case "NULL":
			p.next()
			return &Literal{Pos: t.pos, Kind: LitNull, Value: "NULL"}
		case "INTERVAL":
			p.next()
			v := p.peek()
			if v.kind != tString && v.kind != tNumber {
				p.fail("the interval's value as a string ('10')")
			}
			p.next()
			u := p.peek()
			unit := strings.ToUpper(u.text)
			switch unit {
			case "DAY", "HOUR", "MINUTE", "SECOND", "MILLISECOND", "DAYS", "HOURS", "MINUTES", "SECONDS":
				p.next()
				unit = strings.TrimSuffix(unit, "S")
				if unit == "MILLISECOND" {
					break
				}
				if p.acceptKw("TO") {
					to := p.peek()
					if to.kind != tIdent {
						p.fail("an interval unit after TO")
					}
					p.next()
					unit += " TO " + strings.ToUpper(to.text)
				}
			default:
				p.fail("an interval unit (DAY, HOUR, MINUTE, SECOND or MILLISECOND)")
			}
			return &IntervalLit{Pos: t.pos, Value: v.text, Unit: unit}
		case "CASE":
			return p.caseExpr()
		case "CAST":
			p.next()
			p.expectOp("(")
			x := p.expr()
			p.expectKw("AS")
			tn := p.typeName()
			p.expectOp(")")
			return &Cast{Pos: t.pos, X: x, Type: tn}
		}
	}
	if p.peekAt(1).kind == tOp && p.peekAt(1).text == "(" {
		return p.call()
	}
	name := p.ident("an expression")
	if p.isOp(".") {
		p.next()
		col := p.ident("a column name after \".\"")
		return &ColumnRef{Pos: name.Pos, Qualifier: name.Name, Name: col.Name}
	}
	return &ColumnRef{Pos: name.Pos, Name: name.Name}
}

func (p *parser) call() Expr {
	t := p.next()
	if !t.quoted && reserved[strings.ToUpper(t.text)] {
		p.failAt(t.pos, "%s is a reserved word, not a function", strings.ToUpper(t.text))
	}
	c := &Call{Pos: t.pos, Name: strings.ToUpper(t.text)}
	p.expectOp("(")
	switch {
	case p.acceptOp("*"):
		c.Star = true
	case p.isOp(")"):
	default:
		if p.acceptKw("DISTINCT") {
			c.Distinct = true
		}
		c.Args = p.exprList()
	}
	p.expectOp(")")
	if p.isKw("FILTER") && p.i+1 < len(p.toks) && p.toks[p.i+1].kind == tOp && p.toks[p.i+1].text == "(" {
		p.next()
		p.expectOp("(")
		p.expectKw("WHERE")
		c.Filter = p.expr()
		p.expectOp(")")
	}
	if p.isKw("OVER") {
		pos := p.next().pos
		p.expectOp("(")
		o := &Over{Pos: pos}
		if p.isKw("PARTITION") {
			p.next()
			p.expectKw("BY")
			o.PartitionBy = p.exprList()
		}
		if p.isKw("ORDER") {
			p.next()
			p.expectKw("BY")
			o.OrderBy = p.orderList()
		}
		p.expectOp(")")
		c.Over = o
	}
	return c
}

func (p *parser) caseExpr() Expr {
	t := p.next()
	c := &Case{Pos: t.pos}
	if p.isKw("END") {
		p.fail("WHEN")
	}
	if !p.isKw("WHEN") {
		c.Operand = p.expr()
	}
	for p.acceptKw("WHEN") {
		cond := p.expr()
		p.expectKw("THEN")
		c.Whens = append(c.Whens, When{Cond: cond, Result: p.expr()})
	}
	if len(c.Whens) == 0 {
		p.fail("WHEN")
	}
	if p.acceptKw("ELSE") {
		c.Else = p.expr()
	}
	p.expectKw("END")
	return c
}
