package hive_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/hive"
	"github.com/dagflow/dagflow/internal/hdfstest"
	"github.com/dagflow/dagflow/internal/hivetest"
)

// copyJob reads sales (Where dt >= 2024-01-02), sums amount per
// customer and writes (customer, total) rows into totals, partitioned
// statically by run.
func copyJob(cat hive.Catalog) *dag.Graph {
	g := dag.New("hive-copy-test", dag.Config{Parallelism: 2, Mode: dag.BatchMode})
	rows := dag.FromSource(g, "sales", hive.Source(cat, "default.sales", hive.Where(hive.Ge("dt", "2024-01-02")), hive.Columns("customer", "amount")), nil)
	kv := dag.Map(rows, func(r hive.Row) dag.KV[string, int64] {
		return dag.KV[string, int64]{Key: r[0].(string), Value: r[1].(int64)}
	})
	sums := dag.Aggregate(dag.KeyBy(kv, func(p dag.KV[string, int64]) string { return p.Key }), dag.Agg[dag.KV[string, int64], int64, int64]{
		Zero:   func() int64 { return 0 },
		Add:    func(n int64, p dag.KV[string, int64]) int64 { return n + p.Value },
		Merge:  func(a, b int64) int64 { return a + b },
		Result: func(n int64) int64 { return n },
	})
	out := dag.Map(sums, func(p dag.KV[string, int64]) hive.Row { return hive.Row{p.Key, p.Value} })
	dag.ToSink(out, "totals", hive.Sink(cat, "default.totals", hive.StaticPartition("run", "1")))
	return g
}

func runCopyJob(t *testing.T, cat hive.Catalog, salesLoc, totalsLoc string) {
	ctx := context.Background()
	sales, _ := hive.NewTable("default.sales", hive.FormatParquet, []string{"customer string", "amount bigint"}, []string{"dt string"})
	sales.Storage.Location = salesLoc
	totals, _ := hive.NewTable("default.totals", hive.FormatText, []string{"customer string", "total bigint"}, []string{"run int"})
	totals.Storage.Location = totalsLoc
	for _, tb := range []*hive.Table{sales, totals} {
		if err := cat.CreateTable(ctx, tb); err != nil {
			t.Fatal(err)
		}
	}
	var in [][]hive.Row
	want := map[string]int64{}
	for d := 1; d <= 3; d++ {
		var rows []hive.Row
		for i := 0; i < 200; i++ {
			c := "c" + itoa(i%7)
			rows = append(rows, hive.Row{c, int64(i), "2024-01-0" + itoa(d)})
			if d >= 2 {
				want[c] += int64(i)
			}
		}
		in = append(in, rows)
	}
	writeRows(t, hive.Sink(cat, "default.sales", hive.RowGroupRows(50)), in...)
	runCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if _, err := dagflow.Run(runCtx, copyJob(cat), dagflow.Options{Progress: io.Discard}); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, hive.Source(cat, "default.totals"), 1)
	var wantRows []hive.Row
	for c, n := range want {
		wantRows = append(wantRows, hive.Row{c, n, int32(1)})
	}
	equalRows(t, got, wantRows)
	if names, _ := cat.PartitionNames(ctx, "default", "totals"); len(names) != 1 || names[0] != "run=1" {
		t.Errorf("totals partitions %q", names)
	}
}

func TestJobOnLocalTables(t *testing.T) {
	forEachCatalog(t, func(t *testing.T, cat hive.Catalog, _ *hivetest.Metastore, wh string) {
		runCopyJob(t, cat, "", "")
	})
}

func TestJobOnHDFSTables(t *testing.T) {
	t.Setenv("HADOOP_CONF_DIR", "")
	t.Setenv("HADOOP_HOME", "")
	t.Setenv("HADOOP_USER_NAME", "dagflow")
	cluster := hdfstest.StartTest(t, hdfstest.Options{BlockSize: 64 << 10})
	ms := hivetest.StartTest(t, hivetest.Options{Warehouse: cluster.URL("/warehouse")})
	cat, err := hive.Open(context.Background(), hive.Config{MetastoreURIs: []string{ms.URI()}})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	// default locations come from the metastore: hdfs://.../warehouse/...
	runCopyJob(t, cat, "", cluster.URL("/elsewhere/totals"))
	tb, _ := cat.Table(context.Background(), "default", "sales")
	if tb.Storage.Location != cluster.URL("/warehouse/sales") {
		t.Errorf("sales location %q", tb.Storage.Location)
	}
}
