package parser

import (
	"strings"
	"testing"
)

func TestParseExpr(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"a + b * c", "(a + (b * c))"},
		{"(a + b) * c", "((a + b) * c)"},
		{"0.908 * price", "(0.908 * price)"},
		{"MOD(auction, 123) = 0", "(MOD(auction, 123) = 0)"},
		{"a = 1 OR b = 2 AND NOT c", "((a = 1) OR ((b = 2) AND (NOT c)))"},
		{"t.x <> -5", "(t.x <> -5)"},
		{"x != 1", "(x <> 1)"},
		{"-(a)", "(-a)"},
		{"x IS NOT NULL", "(x IS NOT NULL)"},
		{"x NOT BETWEEN 1 AND 10", "(x NOT BETWEEN 1 AND 10)"},
		{"x IN (1, 2, 3)", "(x IN (1, 2, 3))"},
		{"count(*) FILTER (WHERE price < 10)", "COUNT(*) FILTER (WHERE (price < 10))"},
		{"filter(x)", "FILTER(x)"},
		{"url NOT LIKE '%a''b%'", "(NOT (url LIKE '%a''b%'))"},
		{"a || 'x' || b", "((a || 'x') || b)"},
		{"CASE WHEN a > 1 THEN 'big' ELSE 'small' END", "CASE WHEN (a > 1) THEN 'big' ELSE 'small' END"},
		{"CASE c WHEN 1 THEN 2 END", "CASE c WHEN 1 THEN 2 END"},
		{"CAST(price AS DECIMAL(23, 3))", "CAST(price AS DECIMAL(23, 3))"},
		{"count(*)", "COUNT(*)"},
		{"COUNT(DISTINCT bidder)", "COUNT(DISTINCT bidder)"},
		{"ROW_NUMBER() OVER (PARTITION BY a, b ORDER BY price DESC, ts)", "ROW_NUMBER() OVER (PARTITION BY a, b ORDER BY price DESC, ts)"},
		{"dateTime - INTERVAL '4' SECOND", "(dateTime - INTERVAL '4' SECOND)"},
		{"INTERVAL '1' DAY", "INTERVAL '1' DAY"},
		{"`select` + \"from\"", "(select + from)"},
		{"TRUE AND NULL", "(TRUE AND NULL)"},
		{"a % 2 = 1", "((a % 2) = 1)"},
	} {
		e, err := ParseExpr(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if got := FormatExpr(e); got != c.want {
			t.Errorf("%s: got %s, want %s", c.in, got, c.want)
		}
	}
}

func TestParseStatements(t *testing.T) {
	src := `
-- the bids of the Nexmark generator
CREATE TABLE bid (
  auction BIGINT,
  price BIGINT,
  dateTime TIMESTAMP(3),
  extra VARCHAR,
  euro AS 0.908 * price,
  WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'table' = 'bid');

CREATE VIEW cheap AS SELECT auction, price FROM bid WHERE price < 100;

/* two sinks */
INSERT INTO out1
SELECT auction, COUNT(*) AS n, window_start, window_end
FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
GROUP BY auction, window_start, window_end;

INSERT INTO out2 SELECT * FROM TABLE(HOP(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND, INTERVAL '10' SECOND)) AS w;
SELECT b.auction, a.seller FROM bid AS b JOIN auction a ON b.auction = a.id LEFT JOIN person p ON a.seller = p.id;
SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rn FROM bid) WHERE rn <= 10;
SELECT auction FROM bid UNION ALL SELECT id FROM auction;
EXPLAIN SELECT 1;
SELECT * FROM TABLE(SESSION(TABLE bid PARTITION BY bidder, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
`
	stmts, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	if len(stmts) != 9 {
		t.Fatalf("%d statements, want 9", len(stmts))
	}
	ct := stmts[0].(*CreateTable)
	if ct.Name.Name != "bid" || len(ct.Columns) != 5 || ct.Columns[4].Computed == nil ||
		FormatType(ct.Columns[2].Type) != "TIMESTAMP(3)" || ct.Watermark == nil ||
		FormatExpr(ct.Watermark.Expr) != "(dateTime - INTERVAL '4' SECOND)" ||
		len(ct.Options) != 2 || ct.Options[1] != (Option{Pos: Pos{10, 34}, Key: "table", Value: "bid"}) {
		t.Errorf("CREATE TABLE: %+v", ct)
	}
	if ct.Pos != (Pos{3, 1}) || ct.Columns[1].Name.Pos != (Pos{5, 3}) {
		t.Errorf("positions: %v %v", ct.Pos, ct.Columns[1].Name.Pos)
	}
	if v := stmts[1].(*CreateView); v.Name.Name != "cheap" || v.Query.(*Select).Where == nil {
		t.Errorf("CREATE VIEW: %+v", v)
	}
	ins := stmts[2].(*Insert)
	sel := ins.Query.(*Select)
	tvf := sel.From.(*WindowTVF)
	if ins.Table.Name != "out1" || tvf.Func != "TUMBLE" || tvf.TimeCol.Name != "dateTime" || len(tvf.Args) != 1 ||
		len(sel.GroupBy) != 3 || sel.Items[1].Alias.Name != "n" {
		t.Errorf("INSERT: %+v %+v", sel, tvf)
	}
	if tvf := stmts[3].(*Insert).Query.(*Select).From.(*WindowTVF); tvf.Func != "HOP" || len(tvf.Args) != 2 || tvf.Alias.Name != "w" {
		t.Errorf("HOP: %+v", tvf)
	}
	j := stmts[4].(*QueryStatement).Query.(*Select).From.(*Join)
	if j.Kind != "LEFT" || j.Left.(*Join).Kind != "INNER" || j.Left.(*Join).Right.(*TableRef).Alias.Name != "a" {
		t.Errorf("joins: %+v", j)
	}
	sub := stmts[5].(*QueryStatement).Query.(*Select).From.(*SubqueryRef)
	if rn := sub.Query.(*Select).Items[1]; rn.Expr.(*Call).Over == nil || rn.Alias.Name != "rn" {
		t.Errorf("ROW_NUMBER: %+v", rn)
	}
	if u := stmts[6].(*QueryStatement).Query.(*Union); !u.All {
		t.Errorf("UNION ALL: %+v", u)
	}
	if _, ok := stmts[7].(*Explain).Statement.(*QueryStatement); !ok {
		t.Errorf("EXPLAIN: %+v", stmts[7])
	}
	if s := stmts[8].(*QueryStatement).Query.(*Select).From.(*WindowTVF); s.Func != "SESSION" || len(s.PartitionBy) != 1 {
		t.Errorf("SESSION: %+v", s)
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"SELEC 1", `line 1:1: expected a statement (CREATE, INSERT, SELECT or EXPLAIN), found "SELEC"`},
		{"SELECT a FROM", "line 1:14: expected a table name, (subquery) or TABLE(window function), found end of input"},
		{"SELECT a,\n  FROM t", `line 2:3: expected an expression, found "FROM"`},
		{"SELECT (a FROM t", `line 1:11: expected ")", found "FROM"`},
		{"CREATE TABLE t (a BIGINT b INT)", `line 1:26: expected "," or ")" in the column list, found "b"`},
		{"CREATE TABLE t (a BIGINT) WITH (connector = 'x')", `line 1:33: expected an option key as a string literal ('connector'), found "connector"`},
		{"SELECT 'abc", "line 1:8: unterminated string literal"},
		{"SELECT count(*) FILTER (price > 1)", `line 1:25: expected WHERE, found "price"`},
		{"SELECT 1 SELECT 2", `line 1:10: expected ";" or end of input after the statement, found "SELECT"`},
		{"SELECT * FROM TABLE(TUMBLE(TABLE t, ts, INTERVAL '1' SECOND))", `line 1:37: expected DESCRIPTOR, found "ts"`},
		{"SELECT * FROM TABLE(SLIDE(TABLE t))", `expected a window function (TUMBLE, HOP, SESSION or CUMULATE), found "SLIDE"`},
		{"SELECT INTERVAL '1' WEEK", "expected an interval unit"},
		{"SELECT a FROM t WHERE b ? 1", "line 1:25: unexpected character '?'"},
		{"SELECT 12abc", `malformed number "12a"`},
		{"SELECT CASE END", "expected WHEN"},
		{"CREATE INDEX i", "expected TABLE or VIEW after CREATE"},
		{"SELECT " + strings.Repeat("(", 1000) + "1", "nesting deeper than 200 levels"},
		{"SELECT a /* open", "unterminated comment"},
		{"SELECT select FROM t", `expected an expression, found "select"`},
	} {
		_, err := Parse(c.in)
		if err == nil {
			t.Errorf("%q: no error, want %s", c.in, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "parser: line ") {
			t.Errorf("%q:\n got %v\nwant %s", c.in, err, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"SELECT a, b + 1 AS c FROM t WHERE x > 1.5 AND y LIKE 'a%'",
		"CREATE TABLE t (a BIGINT, b AS a * 2, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) WITH ('connector'='datagen')",
		"INSERT INTO s SELECT k, COUNT(*), window_start FROM TABLE(HOP(TABLE t, DESCRIPTOR(ts), INTERVAL '1' SECOND, INTERVAL '5' SECOND)) GROUP BY k, window_start",
		"EXPLAIN SELECT CASE WHEN a THEN 1 ELSE 2 END FROM (SELECT * FROM t) x JOIN u ON x.a = u.b UNION ALL SELECT 1",
		"SELECT ROW_NUMBER() OVER (PARTITION BY a ORDER BY b DESC) FROM t; CREATE VIEW v AS SELECT CAST(a AS VARCHAR) FROM t",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		stmts, err := Parse(src)
		if err != nil {
			var pe *Error
			if e, ok := err.(*Error); !ok || e.Pos.Line < 1 || e.Pos.Col < 1 {
				t.Fatalf("error %v (%T) has no position", err, pe)
			}
			return
		}
		for _, s := range stmts {
			if p := s.Position(); p.Line < 1 || p.Col < 1 {
				t.Fatalf("statement without a position: %+v", s)
			}
		}
	})
}
