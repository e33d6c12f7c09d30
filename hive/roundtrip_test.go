package hive_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/dagflow/dagflow/hive"
	"github.com/dagflow/dagflow/internal/hivetest"
)

var allTypeCols = []string{
	"b boolean", "ti tinyint", "si smallint", "i int", "bi bigint", "f float", "d double",
	"dec decimal(10,2)", "s string", "vc varchar(10)", "c char(3)", "bin binary", "dt date", "t timestamp",
	"arr array<int>", "m map<string,bigint>", "st struct<x:int,y:string>",
}

func allTypeRow(i int) hive.Row {
	if i%5 == 4 {
		return hive.Row{nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil}
	}
	return hive.Row{
		i%2 == 0, int8(i), int16(-i * 100), int32(i * 1000), int64(i) << 40, float32(i) + 0.5, float64(i) / 3,
		hive.MustDecimal("123.45", 10, 2), strings.Repeat("x", i), "v", "abc", []byte{byte(i), 0, 255},
		hive.DateOf(2024, 1, 1+i), ts("2024-01-02 03:04:05.123456789").Add(time.Duration(i) * time.Millisecond),
		[]any{int32(i), nil, int32(-1)}, []hive.MapEntry{{Key: "k", Value: int64(i)}, {Key: "n", Value: nil}},
		[]any{int32(i), "y"},
	}
}

func TestParquetPartitionedRoundTrip(t *testing.T) {
	forEachCatalog(t, func(t *testing.T, cat hive.Catalog, _ *hivetest.Metastore, wh string) {
		createTable(t, cat, "default.all_types", hive.FormatParquet, allTypeCols, []string{"ds string", "hr int"})
		var want []hive.Row
		var subtasks [][]hive.Row
		for s := 0; s < 3; s++ {
			var rows []hive.Row
			for i := 0; i < 25; i++ {
				r := append(allTypeRow(i), "2024-01-0"+string(rune('1'+i%2)), int32(s))
				rows = append(rows, r)
				want = append(want, r)
			}
			subtasks = append(subtasks, rows)
		}
		writeRows(t, hive.Sink(cat, "default.all_types", hive.RowGroupRows(10)), subtasks...)
		names, err := cat.PartitionNames(context.Background(), "default", "all_types")
		if err != nil {
			t.Fatal(err)
		}
		if len(names) != 6 || names[0] != "ds=2024-01-01/hr=0" {
			t.Fatalf("partitions %q", names)
		}
		equalRows(t, readAll(t, hive.Source(cat, "default.all_types"), 2), want)
	})
}

// TestParquetReadByArrow checks the files the sink writes with Arrow's own
// Parquet reader, independently of the table source.
func TestParquetReadByArrow(t *testing.T) {
	forEachCatalog(t, func(t *testing.T, cat hive.Catalog, _ *hivetest.Metastore, wh string) {
		for _, codec := range []string{"snappy", "zstd"} {
			name := "default.arrow_" + codec
			tbl := createTable(t, cat, name, hive.FormatParquet, []string{"id bigint", "name string", "price decimal(10,2)", "at timestamp", "tags array<string>"}, nil)
			var rows []hive.Row
			for i := 0; i < 100; i++ {
				rows = append(rows, hive.Row{int64(i), "n" + string(rune('a'+i%26)), hive.MustDecimal("9.99", 10, 2),
					ts("2024-05-06 07:08:09").Add(time.Duration(i) * time.Second), []any{"a", "b"}})
			}
			writeRows(t, hive.Sink(cat, name, hive.Compression(codec)), rows)
			files, _ := filepath.Glob(filepath.Join(tbl.Storage.Location, "part-*"))
			if len(files) != 1 || !strings.HasSuffix(files[0], "."+codec+".parquet") {
				t.Fatalf("files %q", files)
			}
			f, err := os.Open(files[0])
			if err != nil {
				t.Fatal(err)
			}
			pr, err := file.NewParquetReader(f)
			if err != nil {
				t.Fatal(err)
			}
			if cc, err := pr.MetaData().RowGroup(0).ColumnChunk(0); err != nil {
				t.Fatal(err)
			} else if got := cc.Compression().String(); got != strings.ToUpper(codec) {
				t.Errorf("compression %s, want %s", got, codec)
			}
			fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
			if err != nil {
				t.Fatal(err)
			}
			table, err := fr.ReadTable(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if table.NumRows() != 100 || table.NumCols() != 5 {
				t.Fatalf("table %d rows %d cols", table.NumRows(), table.NumCols())
			}
			ids := table.Column(0).Data().Chunk(0).(*array.Int64)
			names := table.Column(1).Data().Chunk(0).(*array.String)
			prices := table.Column(2).Data().Chunk(0).(*array.Decimal128)
			ats := table.Column(3).Data().Chunk(0).(*array.Timestamp)
			if ids.Value(42) != 42 || names.Value(3) != "nd" || prices.Value(0).ToString(2) != "9.99" {
				t.Errorf("values: %d %q %s", ids.Value(42), names.Value(3), prices.Value(0).ToString(2))
			}
			if got := ats.Value(1).ToTime(ats.DataType().(*arrow.TimestampType).Unit); !got.Equal(ts("2024-05-06 07:08:10")) {
				t.Errorf("timestamp %v", got)
			}
			if table.Schema().Field(0).Name != "id" {
				t.Errorf("schema %s", table.Schema())
			}
			table.Release()
			pr.Close()
		}
	})
}
