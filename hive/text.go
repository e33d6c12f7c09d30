package hive

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow/decimal128"
)

// textFormat is Hive's LazySimpleSerDe text encoding: one row per line,
// fields separated by separators[0] (default \x01); nested values at depth
// L use separators[L] between items (and separators[L+1] between a map
// key and its value); NULL is serialization.null.format (default \N).
// There is no escaping (Hive's default): values must not contain the
// separators or line breaks.
type textFormat struct {
	seps []byte
	null []byte
}

const textNesting = 8

// newTextFormat reads the SerDe parameters Hive uses: field.delim (or
// serialization.format), collection.delim (and Hive's historical spelling
// colelction.delim), mapkey.delim, serialization.null.format, line.delim.
func newTextFormat(params map[string]string) (textFormat, error) {
	f := textFormat{seps: make([]byte, textNesting), null: []byte(`\N`)}
	for i := range f.seps {
		f.seps[i] = byte(i + 1)
	}
	get := func(def byte, keys ...string) byte {
		for _, k := range keys {
			if v, ok := params[k]; ok && v != "" {
				if n, err := strconv.ParseInt(v, 10, 8); err == nil {
					return byte(n)
				}
				return v[0]
			}
		}
		return def
	}
	f.seps[0] = get(1, "field.delim", "serialization.format")
	f.seps[1] = get(2, "collection.delim", "colelction.delim")
	f.seps[2] = get(3, "mapkey.delim")
	if v, ok := params["serialization.null.format"]; ok {
		f.null = []byte(v)
	}
	if v, ok := params["line.delim"]; ok && v != "\n" && v != "10" {
		return f, fmt.Errorf("line.delim %q is not supported (only \\n)", v)
	}
	return f, nil
}

func (f textFormat) sep(level int) byte {
	if level < len(f.seps) {
		return f.seps[level]
	}
	return byte(level + 1)
}

// appendRow appends the text of vals (typed by types) and a line break.
func (f textFormat) appendRow(dst []byte, types []*Type, vals []any) []byte {
	for i, v := range vals {
		if i > 0 {
			dst = append(dst, f.seps[0])
		}
		dst = f.appendValue(dst, types[i], v, 1)
	}
	return append(dst, '\n')
}

func (f textFormat) appendValue(dst []byte, t *Type, v any, level int) []byte {
	if v == nil {
		return append(dst, f.null...)
	}
	switch t.Kind {
	case Boolean:
		return strconv.AppendBool(dst, v.(bool))
	case TinyInt:
		return strconv.AppendInt(dst, int64(v.(int8)), 10)
	case SmallInt:
		return strconv.AppendInt(dst, int64(v.(int16)), 10)
	case Int:
		return strconv.AppendInt(dst, int64(v.(int32)), 10)
	case BigInt:
		return strconv.AppendInt(dst, v.(int64), 10)
	case Float:
		return appendJavaFloat(dst, float64(v.(float32)), 32)
	case Double:
		return appendJavaFloat(dst, v.(float64), 64)
	case Decimal:
		return append(dst, v.(decimal128.Num).ToString(t.Scale)...)
	case String, Varchar, Char:
		return append(dst, v.(string)...)
	case Binary:
		b := v.([]byte)
		return base64.StdEncoding.AppendEncode(dst, b)
	case Date:
		return v.(time.Time).UTC().AppendFormat(dst, time.DateOnly)
	case Timestamp:
		return appendTimestamp(dst, v.(time.Time))
	case Array:
		for i, e := range v.([]any) {
			if i > 0 {
				dst = append(dst, f.sep(level))
			}
			dst = f.appendValue(dst, t.Elem, e, level+1)
		}
		return dst
	case Map:
		for i, e := range v.([]MapEntry) {
			if i > 0 {
				dst = append(dst, f.sep(level))
			}
			dst = f.appendValue(dst, t.Key, e.Key, level+2)
			dst = append(dst, f.sep(level+1))
			dst = f.appendValue(dst, t.Elem, e.Value, level+2)
		}
		return dst
	case Struct:
		for i, e := range v.([]any) {
			if i > 0 {
				dst = append(dst, f.sep(level))
			}
			dst = f.appendValue(dst, t.Fields[i].Type, e, level+1)
		}
		return dst
	}
	return dst
}

// appendTimestamp writes "yyyy-MM-dd HH:mm:ss[.fffffffff]" (fraction
// without trailing zeros, omitted when zero) as Hive does.
func appendTimestamp(dst []byte, t time.Time) []byte {
	t = t.UTC()
	dst = t.AppendFormat(dst, time.DateTime)
	if ns := t.Nanosecond(); ns != 0 {
		frac := strconv.AppendInt(nil, int64(ns)+1e9, 10)[1:]
		frac = bytes.TrimRight(frac, "0")
		dst = append(dst, '.')
		dst = append(dst, frac...)
	}
	return dst
}

// appendJavaFloat formats like Java's Float/Double.toString, which Hive
// uses: "1.0", "0.001", "1.0E7", "1.5E-4", "NaN", "Infinity".
func appendJavaFloat(dst []byte, v float64, bits int) []byte {
	switch {
	case math.IsNaN(v):
		return append(dst, "NaN"...)
	case math.IsInf(v, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(v, -1):
		return append(dst, "-Infinity"...)
	}
	a := math.Abs(v)
	if v == 0 || a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(v, 'f', -1, bits)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		if v == 0 && math.Signbit(v) {
			s = "-0.0"
		}
		return append(dst, s...)
	}
	s := strconv.FormatFloat(v, 'E', -1, bits) // 1.5E-04, 1E+07
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	dst = append(dst, mant...)
	dst = append(dst, 'E')
	return strconv.AppendInt(dst, int64(e), 10)
}

// splitFields cuts line at sep into at most n fields (extra separators
// stay in the last field, as Hive ignores extra fields only after n).
func splitFields(line []byte, sep byte, dst [][]byte) [][]byte {
	dst = dst[:0]
	for {
		i := bytes.IndexByte(line, sep)
		if i < 0 {
			return append(dst, line)
		}
		dst = append(dst, line[:i])
		line = line[i+1:]
	}
}

// parseValue decodes one field. Like Hive, text that does not parse as
// the column's type reads as NULL.
func (f textFormat) parseValue(b []byte, t *Type, level int) any {
	if bytes.Equal(b, f.null) {
		return nil
	}
	switch t.Kind {
	case String, Varchar, Char:
		return string(b)
	case Binary:
		out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
		n, err := base64.StdEncoding.Decode(out, b)
		if err != nil {
			return append([]byte(nil), b...)
		}
		return out[:n]
	case Array:
		if len(b) == 0 {
			return []any{}
		}
		items := bytes.Split(b, []byte{f.sep(level)})
		out := make([]any, len(items))
		for i, it := range items {
			out[i] = f.parseValue(it, t.Elem, level+1)
		}
		return out
	case Map:
		if len(b) == 0 {
			return []MapEntry{}
		}
		items := bytes.Split(b, []byte{f.sep(level)})
		out := make([]MapEntry, 0, len(items))
		for _, it := range items {
			k, v, _ := bytes.Cut(it, []byte{f.sep(level + 1)})
			key := f.parseValue(k, t.Key, level+2)
			if key == nil {
				continue
			}
			out = append(out, MapEntry{Key: key, Value: f.parseValue(v, t.Elem, level+2)})
		}
		return out
	case Struct:
		items := bytes.Split(b, []byte{f.sep(level)})
		out := make([]any, len(t.Fields))
		for i := range t.Fields {
			if i < len(items) {
				out[i] = f.parseValue(items[i], t.Fields[i].Type, level+1)
			}
		}
		return out
	}
	v, err := parsePrimitive(string(b), t)
	if err != nil {
		return nil
	}
	return v
}

// parsePrimitive parses the text form of a primitive value (also used for
// partition values).
func parsePrimitive(s string, t *Type) (any, error) {
	switch t.Kind {
	case Boolean:
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("bad boolean %q", s)
	case TinyInt, SmallInt, Int, BigInt:
		bits := map[Kind]int{TinyInt: 8, SmallInt: 16, Int: 32, BigInt: 64}[t.Kind]
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, bits)
		if err != nil {
			return nil, err
		}
		switch t.Kind {
		case TinyInt:
			return int8(n), nil
		case SmallInt:
			return int16(n), nil
		case Int:
			return int32(n), nil
		}
		return n, nil
	case Float:
		x, err := strconv.ParseFloat(javaFloatText(s), 32)
		return float32(x), err
	case Double:
		return strconv.ParseFloat(javaFloatText(s), 64)
	case Decimal:
		n, err := decimal128.FromString(strings.TrimSpace(s), t.Precision, t.Scale)
		if err != nil {
			return nil, err
		}
		return n, nil
	case String, Varchar, Char:
		return s, nil
	case Binary:
		return []byte(s), nil
	case Date:
		return time.Parse(time.DateOnly, strings.TrimSpace(s))
	case Timestamp:
		s = strings.TrimSpace(s)
		for _, layout := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", time.DateOnly} {
			if ts, err := time.Parse(layout, s); err == nil {
				return ts, nil
			}
		}
		return nil, fmt.Errorf("bad timestamp %q", s)
	}
	return nil, fmt.Errorf("%w %s for a primitive value", ErrUnsupportedType, t)
}

func javaFloatText(s string) string {
	s = strings.TrimSpace(s)
	switch s {
	case "Infinity":
		return "+Inf"
	case "-Infinity":
		return "-Inf"
	}
	return s
}
