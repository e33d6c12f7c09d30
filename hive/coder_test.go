package hive_test

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/hive"
	"github.com/dagflow/dagflow/internal/hivetest"
)

func allTypeSchema(t testing.TB) hive.Schema {
	t.Helper()
	tbl, err := hive.NewTable("default.all", hive.FormatParquet, allTypeCols, []string{"p string"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := hive.TableSchema(tbl)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRowCoderRoundTrip(t *testing.T) {
	s := allTypeSchema(t)
	c := hive.NewRowCoder(s)
	var buf []byte
	var want []hive.Row
	for i := 0; i < 12; i++ {
		r := append(allTypeRow(i), "p"+itoa(i))
		want = append(want, r)
		buf = c.Append(buf, r)
	}
	// Extremes.
	ext := hive.Row{true, int8(-128), int16(32767), int32(-2147483648), int64(-1) << 63, float32(-0.0), 1e308,
		hive.MustDecimal("-99999999.99", 10, 2), "", "", "", []byte{}, hive.DateOf(1, 1, 1),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), []any{}, []hive.MapEntry{},
		[]any{nil, nil}, nil}
	want = append(want, ext)
	buf = c.Append(buf, ext)
	off := 0
	for i, w := range want {
		got, n, err := c.Decode(buf[off:])
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("row %d:\ngot  %#v\nwant %#v", i, got, w)
		}
		// Deterministic: decoding and encoding again gives the same bytes.
		if again := c.Append(nil, got); string(again) != string(buf[off:off+n]) {
			t.Fatalf("row %d: re-encoding differs", i)
		}
		off += n
	}
	if off != len(buf) {
		t.Fatalf("decoded %d of %d bytes", off, len(buf))
	}
}

func TestRowCoderMismatch(t *testing.T) {
	s := hive.Schema{{Name: "id", Type: mustType(t, "bigint")}, {Name: "tags", Type: mustType(t, "array<int>")},
		{Name: "st", Type: mustType(t, "struct<a:int,b:string>")}}
	c := hive.NewRowCoder(s)
	for _, tc := range []struct {
		name string
		row  hive.Row
		want []string
	}{
		{"short row", hive.Row{int64(1)}, []string{"1 values", "3 columns"}},
		{"wrong type", hive.Row{int32(1), nil, nil}, []string{`column "id"`, "int32", "bigint"}},
		{"wrong element", hive.Row{int64(1), []any{int32(1), "x"}, nil}, []string{`column "tags"`, "element 1", "string"}},
		{"wrong struct", hive.Row{int64(1), nil, []any{int32(1)}}, []string{`column "st"`, "1 fields"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := c.Decode(c.Append(nil, tc.row))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	// Truncations are corrupt records, never panics.
	b := c.Append(nil, hive.Row{int64(7), []any{int32(1), nil}, []any{int32(2), "hello"}})
	for i := 0; i < len(b); i++ {
		if _, _, err := c.Decode(b[:i]); !errors.Is(err, dag.ErrCorruptRecord) {
			t.Errorf("truncated at %d: %v", i, err)
		}
	}
}

func mustType(t testing.TB, s string) *hive.Type {
	t.Helper()
	typ, err := hive.ParseType(s)
	if err != nil {
		t.Fatal(err)
	}
	return typ
}

func FuzzRowCoderDecode(f *testing.F) {
	s := allTypeSchema(f)
	c := hive.NewRowCoder(s)
	for i := 0; i < 6; i++ {
		f.Add(c.Append(nil, append(allTypeRow(i), "p")))
	}
	f.Add([]byte{18, 2, 5, 'h', 'e', 'l', 'l', 'o'})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, n, err := c.Decode(b)
		if err != nil {
			return
		}
		if n > len(b) || len(r) != len(s) {
			t.Fatalf("decoded %d values from %d of %d bytes", len(r), n, len(b))
		}
		// A decoded row encodes and decodes to itself.
		r2, _, err := c.Decode(c.Append(nil, r))
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("re-decode: %v\n%#v\n%#v", err, r, r2)
		}
	})
}

// TestKeyedAggregationOverRows shuffles Hive rows of every column type
// by key in a parallel job: the rows cross network (hash) edges encoded
// by the RowCoder, and the keyed aggregation checks every row it gets
// against the row that was written.
func TestKeyedAggregationOverRows(t *testing.T) {
	forEachCatalog(t, func(t *testing.T, cat hive.Catalog, _ *hivetest.Metastore, wh string) {
		ctx := context.Background()
		createTable(t, cat, "default.src", hive.FormatParquet, allTypeCols, []string{"p string"})
		createTable(t, cat, "default.dst", hive.FormatText, []string{"k string", "n bigint", "bad bigint"}, nil)
		keyOf := func(r hive.Row) string {
			if r[8] == nil {
				return "nulls"
			}
			return "k" + itoa(len(r[8].(string))%5)
		}
		var in [][]hive.Row
		want := map[string]int64{}
		for part := 0; part < 3; part++ {
			var rows []hive.Row
			for i := 0; i < 400; i++ {
				r := append(allTypeRow(i), "p"+itoa(part))
				rows = append(rows, r)
				want[keyOf(r)]++
			}
			in = append(in, rows)
		}
		writeRows(t, hive.Sink(cat, "default.src", hive.RowGroupRows(100)), in...)

		src := hive.Source(cat, "default.src")
		rc, err := src.RowCoder(ctx)
		if err != nil {
			t.Fatal(err)
		}
		g := dag.New("hive-keyed", dag.Config{Parallelism: 3, Mode: dag.BatchMode})
		rows := dag.FromSource(g, "src", src, nil, dag.WithCoder[hive.Row](rc))
		type acc = dag.KV[int64, int64] // rows, rows that differ from what was written
		sums := dag.Aggregate(dag.KeyBy(rows, keyOf), dag.Agg[hive.Row, acc, acc]{
			Zero: func() acc { return acc{} },
			Add: func(a acc, r hive.Row) acc {
				a.Key++
				i := 4 // the all-NULL row
				if r[3] != nil {
					i = int(r[3].(int32) / 1000)
				}
				if len(r) != 18 || !reflect.DeepEqual(r[:17], allTypeRow(i)) || !strings.HasPrefix(r[17].(string), "p") {
					a.Value++
				}
				return a
			},
			Result: func(a acc) acc { return a },
		}) // no Merge: every row crosses the shuffle
		out := dag.Map(sums, func(kv dag.KV[string, acc]) hive.Row { return hive.Row{kv.Key, kv.Value.Key, kv.Value.Value} })
		dag.ToSink(out, "dst", hive.Sink(cat, "default.dst"))
		runCtx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if _, err := dagflow.Run(runCtx, g, dagflow.Options{Progress: io.Discard}); err != nil {
			t.Fatal(err)
		}
		var wantRows []hive.Row
		for k, n := range want {
			wantRows = append(wantRows, hive.Row{k, n, int64(0)})
		}
		equalRows(t, readAll(t, hive.Source(cat, "default.dst"), 1), wantRows)
	})
}

// TestRowCoderIsRequired: rows crossing a network edge without a coder
// fail validation, naming the vertex.
func TestRowCoderIsRequired(t *testing.T) {
	g := dag.New("no-coder", dag.Config{Parallelism: 2})
	rows := dag.FromSource(g, "src", hive.Source(nil, "default.x"), nil)
	dag.ToSink(rows.Rebalance(), "out", hive.Sink(nil, "default.y"), dag.Parallelism(3))
	if _, err := g.Build(); err == nil || !strings.Contains(err.Error(), "src") {
		t.Fatalf("build without a row coder: %v", err)
	}
}
