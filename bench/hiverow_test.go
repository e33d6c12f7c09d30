package bench_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/hive"
)

// Run with:
//
//	go test ./bench -run '^$' -bench HiveRowCoder -benchtime 500x
//
// Encoding then decoding 1024 Hive rows (id bigint, k int, v string,
// ts timestamp, dt string, hr string: the rows of
// internal/testjobs/hivestream) with hive.RowCoder against the baseline
// dag.JSONCoder[hive.Row] (the generic fallback; it also loses the Go
// types: integers come back as float64, timestamps as strings). Reports
// ns/row and bytes/row.
func BenchmarkHiveRowCoder(b *testing.B) {
	tbl, err := hive.NewTable("default.events", hive.FormatParquet,
		[]string{"id bigint", "k int", "v string", "ts timestamp"}, []string{"dt string", "hr string"})
	if err != nil {
		b.Fatal(err)
	}
	schema, err := hive.TableSchema(tbl)
	if err != nil {
		b.Fatal(err)
	}
	rows := make([]hive.Row, 1024)
	t0 := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range rows {
		t := t0.Add(time.Duration(i) * time.Second)
		rows[i] = hive.Row{int64(i), int32(i % 7), "e" + strconv.Itoa(i), t, t.Format("2006-01-02"), t.Format("15")}
	}
	for _, c := range []struct {
		name  string
		coder dag.Coder[hive.Row]
	}{{"json-baseline", dag.JSONCoder[hive.Row]()}, {"rowcoder", hive.NewRowCoder(schema)}} {
		b.Run(c.name, func(b *testing.B) {
			var buf []byte
			for n := 0; n < b.N; n++ {
				buf = buf[:0]
				for _, r := range rows {
					buf = c.coder.Append(buf, r)
				}
				for off := 0; off < len(buf); {
					_, m, err := c.coder.Decode(buf[off:])
					if err != nil {
						b.Fatal(err)
					}
					off += m
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
			b.ReportMetric(float64(len(buf))/float64(len(rows)), "bytes/row")
		})
	}
}
