package parser

import (
	"strconv"
	"strings"
)

// FormatExpr prints an expression in a canonical, fully parenthesized
// form: for messages, plan descriptions and tests.
func FormatExpr(e Expr) string {
	var b strings.Builder
	formatExpr(&b, e)
	return b.String()
}

func formatList(b *strings.Builder, list []Expr) {
	for i, x := range list {
		if i > 0 {
			b.WriteString(", ")
		}
		formatExpr(b, x)
	}
}

func formatExpr(b *strings.Builder, e Expr) {
	switch e := e.(type) {
	case *ColumnRef:
		if e.Qualifier != "" {
			b.WriteString(e.Qualifier + ".")
		}
		b.WriteString(e.Name)
	case *Literal:
		if e.Kind == LitString {
			b.WriteString("'" + strings.ReplaceAll(e.Value, "'", "''") + "'")
		} else {
			b.WriteString(e.Value)
		}
	case *IntervalLit:
		b.WriteString("INTERVAL '" + e.Value + "' " + e.Unit)
	case *Binary:
		b.WriteString("(")
		formatExpr(b, e.L)
		b.WriteString(" " + e.Op + " ")
		formatExpr(b, e.R)
		b.WriteString(")")
	case *Unary:
		b.WriteString("(" + e.Op)
		if e.Op == "NOT" {
			b.WriteString(" ")
		}
		formatExpr(b, e.X)
		b.WriteString(")")
	case *IsNull:
		b.WriteString("(")
		formatExpr(b, e.X)
		if e.Not {
			b.WriteString(" IS NOT NULL)")
		} else {
			b.WriteString(" IS NULL)")
		}
	case *Between:
		b.WriteString("(")
		formatExpr(b, e.X)
		if e.Not {
			b.WriteString(" NOT")
		}
		b.WriteString(" BETWEEN ")
		formatExpr(b, e.Lo)
		b.WriteString(" AND ")
		formatExpr(b, e.Hi)
		b.WriteString(")")
	case *In:
		b.WriteString("(")
		formatExpr(b, e.X)
		if e.Not {
			b.WriteString(" NOT")
		}
		b.WriteString(" IN (")
		formatList(b, e.List)
		b.WriteString("))")
	case *Call:
		b.WriteString(e.Name + "(")
		switch {
		case e.Star:
			b.WriteString("*")
		case e.Distinct:
			b.WriteString("DISTINCT ")
			fallthrough
		default:
			formatList(b, e.Args)
		}
		b.WriteString(")")
		if e.Filter != nil {
			b.WriteString(" FILTER (WHERE ")
			formatExpr(b, e.Filter)
			b.WriteString(")")
		}
		if e.Over != nil {
			b.WriteString(" OVER (")
			if len(e.Over.PartitionBy) > 0 {
				b.WriteString("PARTITION BY ")
				formatList(b, e.Over.PartitionBy)
			}
			if len(e.Over.OrderBy) > 0 {
				if len(e.Over.PartitionBy) > 0 {
					b.WriteString(" ")
				}
				b.WriteString("ORDER BY ")
				for i, o := range e.Over.OrderBy {
					if i > 0 {
						b.WriteString(", ")
					}
					formatExpr(b, o.Expr)
					if o.Desc {
						b.WriteString(" DESC")
					}
				}
			}
			b.WriteString(")")
		}
	case *Case:
		b.WriteString("CASE")
		if e.Operand != nil {
			b.WriteString(" ")
			formatExpr(b, e.Operand)
		}
		for _, w := range e.Whens {
			b.WriteString(" WHEN ")
			formatExpr(b, w.Cond)
			b.WriteString(" THEN ")
			formatExpr(b, w.Result)
		}
		if e.Else != nil {
			b.WriteString(" ELSE ")
			formatExpr(b, e.Else)
		}
		b.WriteString(" END")
	case *Cast:
		b.WriteString("CAST(")
		formatExpr(b, e.X)
		b.WriteString(" AS " + FormatType(e.Type) + ")")
	default:
		b.WriteString("?")
	}
}

// FormatType prints a type name with its parameters: DECIMAL(23, 3).
func FormatType(t *TypeName) string {
	if t == nil {
		return "?"
	}
	s := t.Name
	for i, p := range t.Params {
		if i == 0 {
			s += "("
		} else {
			s += ", "
		}
		s += strconv.Itoa(p)
		if i == len(t.Params)-1 {
			s += ")"
		}
	}
	return s
}
