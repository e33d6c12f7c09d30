package sql

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/io/fileio"
	"github.com/dagflow/dagflow/sql/expr"
	"github.com/dagflow/dagflow/sql/row"
	"github.com/dagflow/dagflow/sql/types"
)

// FormatRow returns the text of every field of r (schema s); NULL is
// "NULL".
func FormatRow(s types.Schema, r row.Row) []string {
	l := row.Layout{N: len(s)}
	out := make([]string, len(s))
	for i, c := range s {
		if r.IsNull(i) {
			out[i] = "NULL"
			continue
		}
		switch c.Type.Storage() {
		case types.StoreFloat:
			out[i] = strconv.FormatFloat(r.Float(l.Offset(i)), 'g', -1, 64)
		case types.StoreBytes:
			out[i] = string(r.Bytes(l.Offset(i)))
		default:
			out[i] = string(expr.AppendValue(nil, c.Type, r.Int(l.Offset(i))))
		}
	}
	return out
}

// parseField sets field i of b from text (CSV): empty text is NULL.
// timestampLayouts are the text forms a TIMESTAMP column is read from,
// besides Unix milliseconds: SQL's (what FormatRow writes) and RFC 3339.
// Times without a zone are UTC.
var timestampLayouts = [...]string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02",
}

// parseTimestamp reads a TIMESTAMP field: Unix milliseconds, or one of
// timestampLayouts (truncated to milliseconds).
func parseTimestamp(text string) (int64, error) {
	if v, err := strconv.ParseInt(text, 10, 64); err == nil {
		return v, nil
	}
	for _, l := range timestampLayouts {
		if t, err := time.Parse(l, text); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("timestamp %q: want Unix milliseconds or 'YYYY-MM-DD HH:MM:SS[.fff]'", text)
}

// fieldSetter sets the fields of a row being built: a *row.Builder or a
// *RowWriter.
type fieldSetter interface {
	SetNull(i int)
	SetInt(i int, v int64)
	SetFloat(i int, v float64)
	SetString(i int, v string)
}

func parseField(b fieldSetter, i int, t types.Type, text string) error {
	if text == "" && t.Kind != types.Varchar {
		b.SetNull(i)
		return nil
	}
	switch t.Kind {
	case types.Varchar:
		b.SetString(i, text)
	case types.Double:
		v, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil {
			return err
		}
		b.SetFloat(i, v)
	case types.Boolean:
		v, err := strconv.ParseBool(strings.TrimSpace(text))
		if err != nil {
			return err
		}
		var n int64
		if v {
			n = 1
		}
		b.SetInt(i, n)
	case types.Decimal:
		v, dt, err := expr.ParseDecimal(strings.TrimSpace(text))
		if err != nil {
			return err
		}
		if dt.Scale > t.Scale {
			return fmt.Errorf("%s has more than %d decimals", text, t.Scale)
		}
		for range t.Scale - dt.Scale {
			v *= 10
		}
		b.SetInt(i, v)
	case types.Timestamp:
		v, err := parseTimestamp(strings.TrimSpace(text))
		if err != nil {
			return err
		}
		b.SetInt(i, v)
	default: // BIGINT
		v, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
		if err != nil {
			return err
		}
		b.SetInt(i, v)
	}
	return nil
}

// filesystemConnector reads and writes CSV and JSON-lines files:
// options 'path' and 'format' ('csv' or 'json').
type filesystemConnector struct{}

func fsOptions(t *Table) (path, format string, err error) {
	path, format = t.Option("path", ""), strings.ToLower(t.Option("format", ""))
	if path == "" {
		return "", "", fmt.Errorf("the filesystem connector needs a 'path' option")
	}
	if format != "csv" && format != "json" {
		return "", "", fmt.Errorf("the filesystem connector needs 'format' = 'csv' or 'json', got %q", format)
	}
	return path, format, nil
}

// FusesProjections implements Fusing.
func (filesystemConnector) FusesProjections() {}

// Source implements Connector. With a fused WHERE condition, the rows it
// drops leave the parser as nil rows, removed right after.
func (filesystemConnector) Source(g *dag.Graph, t *Table) (dag.Stream[row.Row], error) {
	path, format, err := fsOptions(t)
	if err != nil {
		return dag.Stream[row.Row]{}, err
	}
	phys := t.Physical
	writers := t.RowWriters()
	coder := dag.WithCoder[row.Row](maybeRowCoder{rowCoder(t.RowSchema())})
	var rows dag.Stream[row.Row]
	if format == "csv" {
		decl := t.Declared
		pos := make([]int, len(phys)) // the CSV field of every column read
		for i, c := range phys {
			pos[i] = decl.Index(c.Name)
		}
		parse := func(fields []string) (row.Row, error) {
			if len(fields) != len(decl) {
				return nil, fmt.Errorf("%d fields, want %d %s", len(fields), len(decl), decl)
			}
			w := writers.Get()
			defer writers.Put(w)
			for i, c := range phys {
				if err := parseField(w, i, c.Type, fields[pos[i]]); err != nil {
					w.Row() // start over
					return nil, fmt.Errorf("column %s: %w", c.Name, err)
				}
			}
			r, _ := w.Row()
			return r, nil
		}
		src := fileio.CSV(parse, path)
		if t.Option("csv.skip-header", "false") == "true" {
			src = src.With(fileio.WithSkipHeader())
		}
		rows = dag.FromSource(g, "source-"+t.Name, src, nil, coder)
	} else {
		// JSON syntax errors fail the read with the file and offset
		// (fileio); a value of the wrong type for its column is NULL.
		objs := dag.FromSource(g, "source-"+t.Name, fileio.JSONLines[map[string]json.RawMessage](path), nil)
		rows = dag.Map(objs, func(m map[string]json.RawMessage) row.Row {
			w := writers.Get()
			defer writers.Put(w)
			return jsonRow(w, phys, m)
		}, dag.Name("json-"+t.Name), coder)
	}
	if t.fused == nil || t.fused.pred == nil {
		return rows, nil
	}
	return dag.Filter(rows, func(r row.Row) bool { return r != nil }, dag.Name("where-"+t.Name),
		dag.WithCoder[row.Row](t.RowCoder())), nil
}

// maybeRowCoder codes rows that may be nil (dropped by a fused WHERE):
// a nil row is the length 0, which no valid row has.
type maybeRowCoder struct{ c *row.Coder }

func (m maybeRowCoder) Append(dst []byte, r row.Row) []byte {
	if r == nil {
		return append(dst, 0)
	}
	return m.c.Append(dst, r)
}

func (m maybeRowCoder) Decode(src []byte) (row.Row, int, error) {
	if len(src) > 0 && src[0] == 0 {
		return nil, 1, nil
	}
	return m.c.Decode(src)
}

// jsonRow converts one JSON object into a row: a missing field, or one
// whose value does not fit the column's type, is NULL.
func jsonRow(b *RowWriter, phys types.Schema, m map[string]json.RawMessage) row.Row {
	for i, c := range phys {
		raw, ok := m[c.Name]
		if !ok || string(raw) == "null" {
			continue
		}
		text := string(raw)
		if c.Type.Kind == types.Varchar {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				continue
			}
			text = s
		}
		if parseField(b, i, c.Type, text) != nil {
			b.SetNull(i)
		}
	}
	r, _ := b.Row()
	return r
}

// Sink implements Connector.
func (filesystemConnector) Sink(t *Table) (dag.Sink[row.Row], error) {
	path, format, err := fsOptions(t)
	if err != nil {
		return nil, err
	}
	phys := t.Physical
	if format == "csv" {
		return fileio.CSVSink(path, func(r row.Row) []string { return FormatRow(phys, r) }), nil
	}
	return fileio.TextSink(path, func(dst []byte, r row.Row) []byte { return appendJSONRow(dst, phys, r) }), nil
}

// appendJSONRow appends r as a JSON object (without a line break).
func appendJSONRow(dst []byte, s types.Schema, r row.Row) []byte {
	dst = append(dst, '{')
	for i, f := range FormatRow(s, r) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendQuote(dst, s[i].Name)
		dst = append(dst, ':')
		switch {
		case r.IsNull(i):
			dst = append(dst, "null"...)
		case s[i].Type.Kind == types.Varchar || s[i].Type.Kind == types.Timestamp:
			q, _ := json.Marshal(f)
			dst = append(dst, q...)
		case s[i].Type.Kind == types.Boolean:
			dst = append(dst, strings.ToLower(f)...)
		default:
			dst = append(dst, f...)
		}
	}
	return append(dst, '}')
}

// printConnector writes rows as lines "+I[a, b, …]" to Env.Stdout; it
// reads nothing.
type printConnector struct{ env *Env }

// Source implements Connector.
func (printConnector) Source(*dag.Graph, *Table) (dag.Stream[row.Row], error) {
	return dag.Stream[row.Row]{}, fmt.Errorf("the print connector is a sink only")
}

// Sink implements Connector.
func (c printConnector) Sink(t *Table) (dag.Sink[row.Row], error) {
	return &printSink{w: c.env.Stdout, schema: t.Physical, mu: &sync.Mutex{}}, nil
}

type printSink struct {
	w      io.Writer
	schema types.Schema
	mu     *sync.Mutex
}

func (s *printSink) NewWriter(context.Context, dag.SinkContext) (dag.SinkWriter[row.Row], error) {
	return &printWriter{s: s}, nil
}
func (s *printSink) Committer() dag.Committer { return nil }

type printWriter struct{ s *printSink }

func (w *printWriter) Write(_ context.Context, b *dag.Batch[row.Row]) error {
	var buf strings.Builder
	for _, r := range b.Vals {
		buf.WriteString("+I[" + strings.Join(FormatRow(w.s.schema, r), ", ") + "]\n")
	}
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	_, err := io.WriteString(w.s.w, buf.String())
	return err
}
func (w *printWriter) Prepare(context.Context) ([][]byte, error) { return nil, nil }
func (w *printWriter) Abort(context.Context) error               { return nil }
func (w *printWriter) Close() error                              { return nil }

// blackholeConnector discards rows.
type blackholeConnector struct{}

// Source implements Connector.
func (blackholeConnector) Source(*dag.Graph, *Table) (dag.Stream[row.Row], error) {
	return dag.Stream[row.Row]{}, fmt.Errorf("the blackhole connector is a sink only")
}

// Sink implements Connector.
func (blackholeConnector) Sink(*Table) (dag.Sink[row.Row], error) { return discardSink{}, nil }

type discardSink struct{}

func (discardSink) NewWriter(context.Context, dag.SinkContext) (dag.SinkWriter[row.Row], error) {
	return discardSink{}, nil
}
func (discardSink) Committer() dag.Committer                         { return nil }
func (discardSink) Write(context.Context, *dag.Batch[row.Row]) error { return nil }
func (discardSink) Prepare(context.Context) ([][]byte, error)        { return nil, nil }
func (discardSink) Abort(context.Context) error                      { return nil }
func (discardSink) Close() error                                     { return nil }

// Result is the result of a top-level SELECT, collected in memory once the
// job succeeded (bounded ad-hoc queries; the job must run in this
// process).
type Result struct {
	Schema types.Schema
	mu     sync.Mutex
	rows   []row.Row
}

// Rows returns the committed rows, in no particular order.
func (r *Result) Rows() []row.Row {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]row.Row(nil), r.rows...)
}

// collectSink gathers rows into a Result when the job commits.
type collectSink struct{ res *Result }

func (s *collectSink) NewWriter(context.Context, dag.SinkContext) (dag.SinkWriter[row.Row], error) {
	return &collectWriter{}, nil
}
func (s *collectSink) Committer() dag.Committer { return (*collectCommitter)(s) }

type collectWriter struct{ buf []byte }

func (w *collectWriter) Write(_ context.Context, b *dag.Batch[row.Row]) error {
	for _, r := range b.Vals {
		w.buf = binary.AppendUvarint(w.buf, uint64(len(r)))
		w.buf = append(w.buf, r...)
	}
	return nil
}
func (w *collectWriter) Prepare(context.Context) ([][]byte, error) {
	if len(w.buf) == 0 {
		return nil, nil
	}
	out := w.buf
	w.buf = nil
	return [][]byte{out}, nil
}
func (w *collectWriter) Abort(context.Context) error { w.buf = nil; return nil }
func (w *collectWriter) Close() error                { return nil }

type collectCommitter collectSink

func (c *collectCommitter) Commit(_ context.Context, parts [][]byte) error {
	coder := rowCoder(c.res.Schema)
	var rows []row.Row
	for _, p := range parts {
		for len(p) > 0 {
			n, k := binary.Uvarint(p)
			if k <= 0 || uint64(len(p)-k) < n {
				return fmt.Errorf("sql: corrupt collected rows")
			}
			r := row.Row(append([]byte(nil), p[k:k+int(n)]...))
			if err := coder.Validate(r); err != nil {
				return err
			}
			rows = append(rows, r)
			p = p[k+int(n):]
		}
	}
	c.res.mu.Lock()
	defer c.res.mu.Unlock()
	c.res.rows = append(c.res.rows, rows...)
	return nil
}
func (c *collectCommitter) Abort(context.Context, [][]byte) error { return nil }
