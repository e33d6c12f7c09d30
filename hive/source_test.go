package hive_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/hive"
	"github.com/dagflow/dagflow/internal/hivetest"
	"github.com/dagflow/dagflow/io/filesystem"
)

func TestPartitionPruning(t *testing.T) {
	forEachCatalog(t, func(t *testing.T, cat hive.Catalog, ms *hivetest.Metastore, wh string) {
		for _, format := range []hive.Format{hive.FormatParquet, hive.FormatText} {
			name := "default.pruned_" + string(format)
			createTable(t, cat, name, format, []string{"v bigint"}, []string{"dt string", "hr int"})
			var rows []hive.Row
			for d := 1; d <= 3; d++ {
				for h := 0; h < 4; h++ {
					for i := 0; i < 5; i++ {
						rows = append(rows, hive.Row{int64(d*100 + h*10 + i), "2024-01-0" + itoa(d), int32(h)})
					}
				}
			}
			writeRows(t, hive.Sink(cat, name), rows[:30], rows[30:])
			cfs := &countingFS{FileSystem: filesystem.Local{}}
			reg := filesystem.NewRegistry()
			reg.Register("file", cfs)
			pred := hive.And(hive.Eq("dt", "2024-01-02"), hive.Ge("hr", 2))
			var byNames int
			if ms != nil {
				byNames = ms.Calls("get_partitions_by_names")
			}
			got := readAll(t, hive.Source(cat, name, hive.Where(pred), hive.WithRegistry(reg), hive.Columns("hr", "v")), 2)
			var want []hive.Row
			for _, r := range rows {
				if r[1] == "2024-01-02" && r[2].(int32) >= 2 {
					want = append(want, hive.Row{r[2], r[0]})
				}
			}
			equalRows(t, got, want)
			for _, p := range []string{"dt=2024-01-01", "dt=2024-01-03", "hr=0", "hr=1"} {
				if touched := cfs.touched(p); len(touched) > 0 {
					t.Errorf("%s: pruned partition %s was listed or opened: %q", format, p, touched)
				}
			}
			if len(cfs.touched("dt=2024-01-02/hr=3")) == 0 {
				t.Errorf("%s: selected partition never read", format)
			}
			if ms != nil && ms.Calls("get_partitions_by_names") != byNames+1 {
				t.Errorf("get_partitions_by_names calls: %d, want %d", ms.Calls("get_partitions_by_names"), byNames+1)
			}
			// Or / In / Not / Lt
			got = readAll(t, hive.Source(cat, name, hive.Where(hive.Or(hive.In("dt", "2024-01-01", "2024-01-03"), hive.Not(hive.Lt("hr", 3)))), hive.Columns("dt")), 1)
			if len(got) != 5*4*2+5 {
				t.Errorf("%s: Or/In/Not selected %d rows, want %d", format, len(got), 45)
			}
		}
	})
}

// TestPositionedReaders reads part of every split, reopens from Position
// and checks that the rows continue exactly.
func TestPositionedReaders(t *testing.T) {
	forEachCatalog(t, func(t *testing.T, cat hive.Catalog, _ *hivetest.Metastore, wh string) {
		for _, format := range []hive.Format{hive.FormatParquet, hive.FormatText} {
			name := "default.pos_" + string(format)
			createTable(t, cat, name, format, []string{"v bigint", "s string"}, nil)
			var rows []hive.Row
			for i := 0; i < 3000; i++ {
				rows = append(rows, hive.Row{int64(i), strings.Repeat("z", i%13)})
			}
			writeRows(t, hive.Sink(cat, name, hive.RowGroupRows(700)), rows)
			src := hive.Source(cat, name, hive.SplitSize(4096))
			ctx := context.Background()
			splits, err := src.Splits(ctx, dag.SplitContext{Parallelism: 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(splits) < 4 {
				t.Fatalf("%s: %d splits, want several", format, len(splits))
			}
			var got []hive.Row
			for _, sp := range splits {
				r, err := src.OpenSplit(ctx, dag.ReaderContext{}, sp)
				if err != nil {
					t.Fatal(err)
				}
				b := &dag.Batch[hive.Row]{}
				_, err = r.ReadBatch(ctx, b, 3)
				if err != nil && !errors.Is(err, io.EOF) {
					t.Fatal(err)
				}
				first := len(b.Vals)
				pos, err := r.(dag.PositionedReader).Position()
				if err != nil {
					t.Fatal(err)
				}
				r.Close()
				got = append(got, b.Vals...)
				r, err = src.OpenSplit(ctx, dag.ReaderContext{}, pos)
				if err != nil {
					t.Fatal(err)
				}
				for {
					_, err := r.ReadBatch(ctx, b, 100)
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				r.Close()
				got = append(got, b.Vals[first:]...)
			}
			equalRows(t, got, rows)
		}
	})
}

func TestSourceErrors(t *testing.T) {
	forEachCatalog(t, func(t *testing.T, cat hive.Catalog, _ *hivetest.Metastore, wh string) {
		ctx := context.Background()
		createTable(t, cat, "default.e", hive.FormatParquet, []string{"a int", "b string"}, []string{"p string"})
		cases := []struct {
			src  dag.Source[hive.Row]
			want []string
		}{
			{hive.Source(cat, "default.nope"), []string{"default.nope", "not found"}},
			{hive.Source(cat, "nodb.t"), []string{"nodb", "not found"}},
			{hive.Source(cat, "default.e", hive.WithSchema("a int", "b bigint", "p string")), []string{"default.e", "schema mismatch", "b bigint"}},
			{hive.Source(cat, "default.e", hive.WithSchema("a int")), []string{"default.e", "schema mismatch", `"b"`}},
			{hive.Source(cat, "default.e", hive.Columns("zz")), []string{"default.e", `"zz"`}},
			{hive.Source(cat, "default.e", hive.Where(hive.Eq("a", 1))), []string{"default.e", `"a"`, "not a partition column"}},
		}
		for _, c := range cases {
			_, err := c.src.Splits(ctx, dag.SplitContext{Parallelism: 1})
			if err == nil {
				t.Errorf("no error, want %q", c.want)
				continue
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		}
		if _, err := cat.Table(ctx, "default", "nope"); !errors.Is(err, hive.ErrNotFound) {
			t.Errorf("missing table: %v, want ErrNotFound", err)
		}
		if _, err := cat.Database(ctx, "nodb"); !errors.Is(err, hive.ErrNotFound) {
			t.Errorf("missing database: %v, want ErrNotFound", err)
		}
		// unsupported type: a table defined elsewhere with a uniontype column
		bad, _ := hive.NewTable("default.u", hive.FormatParquet, []string{"a int"}, nil)
		bad.Columns = append(bad.Columns, hive.Column{Name: "un", Type: "uniontype<int,string>"})
		if err := cat.CreateTable(ctx, bad); err == nil || !strings.Contains(err.Error(), `"un"`) || !errors.Is(err, hive.ErrUnsupportedType) {
			t.Errorf("unsupported type: %v", err)
		}
		if _, err := hive.TableSchema(bad); err == nil || !strings.Contains(err.Error(), `column "un"`) {
			t.Errorf("TableSchema: %v", err)
		}
		// a Parquet file whose column type does not fit the table
		tbl := createTable(t, cat, "default.mism", hive.FormatParquet, []string{"a string"}, nil)
		writeRows(t, hive.Sink(cat, "default.mism"), []hive.Row{{"x"}})
		tbl.Columns[0].Type = "int"
		if err := cat.AlterTable(ctx, tbl); err != nil {
			t.Fatal(err)
		}
		_, err := tryReadAll(hive.Source(cat, "default.mism"), 1)
		if err == nil || !strings.Contains(err.Error(), `column "a"`) || !strings.Contains(err.Error(), filepath.Base(tbl.Storage.Location)) {
			t.Errorf("file type mismatch: %v", err)
		}
	})
}
