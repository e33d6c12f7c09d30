package expr

import (
	"strings"
	"testing"

	"github.com/dagflow/dagflow/sql/parser"
	"github.com/dagflow/dagflow/sql/row"
	"github.com/dagflow/dagflow/sql/types"
)

var testSchema = types.Schema{
	{Name: "auction", Type: types.BIGINT},
	{Name: "price", Type: types.BIGINT},
	{Name: "channel", Type: types.VARCHAR},
	{Name: "ts", Type: types.TIMESTAMP},
	{Name: "rate", Type: types.DOUBLE},
	{Name: "missing", Type: types.BIGINT},
	{Name: "url", Type: types.VARCHAR},
}

func testRow() row.Row {
	b := row.NewBuilder(len(testSchema))
	b.SetInt(0, 246)
	b.SetInt(1, 1500)
	b.SetString(2, "Apple")
	b.SetInt(3, 1_700_000_000_123)
	b.SetFloat(4, 0.5)
	b.SetString(6, "https://x.org/a/b/c/item.htm?channel_id=42&x=1")
	return b.Build()
}

func compileTest(t *testing.T, src string, fns *Functions) (*Compiled, error) {
	t.Helper()
	e, err := parser.ParseExpr(src)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	c := &Compiler{Scope: ScopeOf("bid", testSchema), Funcs: fns}
	return c.Compile(e)
}

// text evaluates c over r and prints the value, "NULL" for NULL.
func text(c *Compiled, r row.Row) string {
	switch c.Type.Storage() {
	case types.StoreFloat:
		if _, ok := c.Float(r); !ok {
			return "NULL"
		}
	case types.StoreBytes:
		if _, ok := c.Bytes(r); !ok {
			return "NULL"
		}
	default:
		if _, ok := c.Int(r); !ok {
			return "NULL"
		}
	}
	cs, _ := cast(parser.Pos{}, c, types.VARCHAR)
	v, _ := cs.Bytes(r)
	return string(v)
}

func TestEval(t *testing.T) {
	fns := NewFunctions()
	if err := fns.Register("twice", UDF{Args: []types.Type{types.BIGINT}, Result: types.BIGINT,
		Eval: func(a []Value) Value { return Value{Int: 2 * a[0].Int} }}); err != nil {
		t.Fatal(err)
	}
	r := testRow()
	for _, c := range []struct{ src, want, typ string }{
		{"auction", "246", "BIGINT"},
		{"bid.price + 1", "1501", "BIGINT"},
		{"0.908 * price", "1362.000", "DECIMAL(18, 3)"},
		{"price / 7", "214", "BIGINT"},
		{"price / 0", "NULL", "BIGINT"},
		{"MOD(auction, 123) = 0", "TRUE", "BOOLEAN"},
		{"auction % 100", "46", "BIGINT"},
		{"rate * 2", "1", "DOUBLE"},
		{"1.5 + price", "1501.5", "DECIMAL(18, 1)"},
		{"price > 1000 AND channel = 'Apple'", "TRUE", "BOOLEAN"},
		{"missing > 1 OR channel = 'Apple'", "TRUE", "BOOLEAN"},
		{"missing > 1 AND channel = 'Apple'", "NULL", "BOOLEAN"},
		{"missing > 1 AND channel = 'Google'", "FALSE", "BOOLEAN"},
		{"missing IS NULL AND price IS NOT NULL", "TRUE", "BOOLEAN"},
		{"missing + 1", "NULL", "BIGINT"},
		{"price BETWEEN 1000 AND 1500", "TRUE", "BOOLEAN"},
		{"channel IN ('Google', 'Apple')", "TRUE", "BOOLEAN"},
		{"channel NOT LIKE 'A%e'", "FALSE", "BOOLEAN"},
		{"channel LIKE '_pp%'", "TRUE", "BOOLEAN"},
		{"CASE WHEN price > 10000 THEN 'high' WHEN price > 1000 THEN 'mid' ELSE 'low' END", "mid", "VARCHAR"},
		{"CASE channel WHEN 'Apple' THEN 1 WHEN 'Google' THEN 2.5 END", "1.0", "DECIMAL(18, 1)"},
		{"CASE WHEN price < 0 THEN 1 END", "NULL", "BIGINT"},
		{"ts - INTERVAL '1' SECOND", "2023-11-14 22:13:19.123", "TIMESTAMP(3)"},
		{"CAST(ts AS BIGINT)", "1700000000123", "BIGINT"},
		{"HOUR(ts)", "22", "BIGINT"},
		{"DATE_FORMAT(ts, 'yyyy-MM-dd')", "2023-11-14", "VARCHAR"},
		{"DATE_FORMAT(ts, 'yyyy/MM/dd HH:mm:ss')", "2023/11/14 22:13:20", "VARCHAR"},
		{"CAST('17' AS BIGINT) + 1", "18", "BIGINT"},
		{"CAST(price AS DECIMAL(10, 2))", "1500.00", "DECIMAL(10, 2)"},
		{"UPPER(channel) || '-' || LOWER(channel)", "APPLE-apple", "VARCHAR"},
		{"CHAR_LENGTH(channel)", "5", "BIGINT"},
		{"SUBSTRING(channel, 2, 3)", "ppl", "VARCHAR"},
		{"COALESCE(missing, price)", "1500", "BIGINT"},
		{"SPLIT_INDEX(url, '/', 3)", "a", "VARCHAR"},
		{"REGEXP_EXTRACT(url, '(&|^|\\?)channel_id=([^&]*)', 2)", "42", "VARCHAR"},
		{"CONCAT(channel, '!')", "Apple!", "VARCHAR"},
		{"ABS(-price)", "1500", "BIGINT"},
		{"twice(price)", "3000", "BIGINT"},
		{"-0.5 * 2", "-1.0", "DECIMAL(18, 1)"},
		// Constants on either side, folded constants, NULL operands.
		{"1000 < price", "TRUE", "BOOLEAN"},
		{"1500 <= price AND 1500 >= price AND 1500 = price AND NOT 1500 <> price", "TRUE", "BOOLEAN"},
		{"price > 1000 * 2 - 501", "TRUE", "BOOLEAN"},
		{"0.908 * price > 1362", "FALSE", "BOOLEAN"},
		{"0.908 * price >= 1362", "TRUE", "BOOLEAN"},
		{"2 * price - 1", "2999", "BIGINT"},
		{"10 - price", "-1490", "BIGINT"},
		{"price - NULL", "NULL", "BIGINT"},
		{"NULL * price", "NULL", "BIGINT"},
		{"missing = 3", "NULL", "BOOLEAN"},
		{"3 = missing", "NULL", "BOOLEAN"},
		{"price = NULL", "NULL", "BOOLEAN"},
		{"rate < 1", "TRUE", "BOOLEAN"},
		{"1 > rate", "TRUE", "BOOLEAN"},
		{"rate = 0.5", "TRUE", "BOOLEAN"},
		{"MOD(price, 0)", "NULL", "BIGINT"},
		{"MOD(price, -1)", "0", "BIGINT"},
		{"channel < 'B' AND 'B' > channel AND channel <> 'B'", "TRUE", "BOOLEAN"},
		{"'x' || 'y' = 'xy'", "TRUE", "BOOLEAN"},
		{"UPPER('ab') || channel", "ABApple", "VARCHAR"},
		// LOWER/UPPER compared with a constant fold case in place.
		{"LOWER(channel) = 'apple'", "TRUE", "BOOLEAN"},
		{"LOWER(channel) = 'Apple'", "FALSE", "BOOLEAN"},
		{"'apple' = lower(channel)", "TRUE", "BOOLEAN"},
		{"UPPER(channel) <> 'APPLE'", "FALSE", "BOOLEAN"},
		{"lower(channel) IN ('google', 'apple')", "TRUE", "BOOLEAN"},
		{"LOWER(channel) = 'appl'", "FALSE", "BOOLEAN"},
		{"LOWER(channel) = 'apples'", "FALSE", "BOOLEAN"},
		{"LOWER(url) = NULL", "NULL", "BOOLEAN"},
		{"REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2)", "NULL", "VARCHAR"},
		{"REGEXP_EXTRACT(url, '(&|\\?)channel_id=([^&]*)', 2)", "42", "VARCHAR"},
		{"REGEXP_EXTRACT(url, 'x=(\\d)')", "x=1", "VARCHAR"},
	} {
		cmp, err := compileTest(t, c.src, fns)
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
			continue
		}
		if got := text(cmp, r); got != c.want || cmp.Type.String() != c.typ {
			t.Errorf("%s = %s %s, want %s %s", c.src, got, cmp.Type, c.want, c.typ)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"nope + 1", "line 1:1: unknown column nope (known: bid.auction, bid.price"},
		{"x.price", "line 1:1: unknown column x.price"},
		{"channel + 1", "line 1:9: operator + needs numbers, got VARCHAR and BIGINT"},
		{"price = 'a'", "line 1:7: cannot compare BIGINT with VARCHAR"},
		{"price AND TRUE", "line 1:1: price is BIGINT, want BOOLEAN"},
		{"NOPE(1)", "line 1:1: unknown function NOPE"},
		{"MOD(1)", "MOD takes 2 arguments, got 1"},
		{"UPPER(price)", "UPPER argument 1 is BIGINT, want VARCHAR"},
		{"COUNT(*)", "aggregate COUNT is only allowed"},
		{"CASE WHEN TRUE THEN 1 ELSE 'x' END", "branches have incompatible types"},
		{"channel LIKE channel", "LIKE needs a constant pattern"},
		{"CAST(ts AS DOUBLE)", "cannot cast TIMESTAMP(3) to DOUBLE"},
		{"CAST(price AS TIMESTAMP(6))", "TIMESTAMP(6) is not supported"},
		{"INTERVAL '1.5' SECOND", "unsupported interval"},
		{"REGEXP_EXTRACT(url, '(', 1)", "REGEXP_EXTRACT: error parsing regexp"},
		{"ROW_NUMBER() OVER (ORDER BY price)", "only supported as a Top-N rank"},
		{"99999999999999999999", "integer literal 99999999999999999999 out of range"},
	} {
		_, err := compileTest(t, c.src, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %s", c.src, err, c.want)
		}
	}
}

func TestRegister(t *testing.T) {
	fns := NewFunctions()
	u := UDF{Result: types.BIGINT, Eval: func([]Value) Value { return Value{} }}
	if err := fns.Register("mod", u); err == nil {
		t.Error("registered over a built-in")
	}
	if err := fns.Register("f", u); err != nil {
		t.Fatal(err)
	}
	if err := fns.Register("F", u); err == nil {
		t.Error("registered twice")
	}
	if len(Builtins()) < 10 {
		t.Errorf("only %d built-ins", len(Builtins()))
	}
}

func TestLike(t *testing.T) {
	for _, c := range []struct {
		s, p string
		want bool
	}{
		{"", "", true}, {"", "%", true}, {"a", "_", true}, {"ab", "a%b", true}, {"axxb", "a%b", true},
		{"axxbc", "a%b", false}, {"abcabd", "%ab_", true}, {"abc", "abc%%", true}, {"ab", "abc", false},
	} {
		if got := matchLike([]byte(c.s), c.p); got != c.want {
			t.Errorf("%q LIKE %q = %v", c.s, c.p, got)
		}
	}
}
