// Command hive-copy copies and aggregates between Hive tables with
// dagflow, on the embedded catalog (no Hive installation needed):
//
//	go run ./examples/hive-copy [--warehouse DIR] [--rows N] [--parallelism N] [--metastore thrift://HOST:9083]
//
// It creates demo.sales (Parquet, partitioned by dt) and fills it from a
// generator (job 1, INSERT OVERWRITE), then reads the last two days of
// sales (partition pruning), sums the orders per day and customer and
// writes the totals into demo.daily_totals (text table, partitioned by
// dt, INSERT OVERWRITE of the partitions written) and, as tab-separated
// lines, into local files (job 2). Without --warehouse a new temporary
// directory is used.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/hive"
	"github.com/dagflow/dagflow/io/datagen"
	"github.com/dagflow/dagflow/io/fileio"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	warehouse, metastore string
	rows                 int64
	parallelism          int
}

func run(args []string, stdout, stderr io.Writer) int {
	var c config
	fs := flag.NewFlagSet("hive-copy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.warehouse, "warehouse", "", "warehouse directory of the embedded catalog (default: a new temporary directory)")
	fs.StringVar(&c.metastore, "metastore", "", "use this Hive Metastore instead of the embedded catalog")
	fs.Int64Var(&c.rows, "rows", 50000, "sales rows to generate")
	fs.IntVar(&c.parallelism, "parallelism", 2, "parallelism of every operator")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if c.rows < 1 || c.parallelism < 1 {
		fmt.Fprintln(stderr, "hive-copy: --rows and --parallelism must be at least 1")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := runJobs(ctx, c, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "hive-copy:", err)
		return 1
	}
	return 0
}

// days are the sales partitions the generator writes.
var days = []string{"2024-06-01", "2024-06-02", "2024-06-03", "2024-06-04"}

func runJobs(ctx context.Context, c config, stdout, stderr io.Writer) error {
	if c.warehouse == "" && c.metastore == "" {
		dir, err := os.MkdirTemp("", "dagflow-hive-copy-")
		if err != nil {
			return err
		}
		c.warehouse = filepath.Join(dir, "warehouse")
	}
	cfg := hive.Config{Warehouse: c.warehouse}
	if c.metastore != "" {
		cfg.MetastoreURIs = []string{c.metastore}
	}
	cat, err := hive.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer cat.Close()
	if err := setup(ctx, cat); err != nil {
		return err
	}
	opts := dagflow.Options{Progress: io.Discard}

	// job 1: generate the input table
	g := dag.New("hive-copy-generate", dag.Config{Parallelism: c.parallelism, Mode: dag.BatchMode})
	sales := dag.FromSource(g, "generate", datagen.New(genSale, datagen.Count(c.rows), datagen.Seed(7)), nil)
	dag.ToSink(sales, "sales", hive.Sink(cat, "demo.sales", hive.Overwrite(), hive.Compression("zstd")))
	start := time.Now()
	if _, err := dagflow.Run(ctx, g, opts); err != nil {
		return fmt.Errorf("generating demo.sales: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %d rows into demo.sales in %s\n", c.rows, time.Since(start).Round(time.Millisecond))

	// job 2: aggregate the last two days
	out := filepath.Join(filepath.Dir(cat.Warehouse()), "totals-tsv")
	if c.metastore != "" || c.warehouse == "" {
		out = filepath.Join(os.TempDir(), fmt.Sprintf("dagflow-hive-copy-totals-%d", time.Now().UnixNano()))
	}
	_ = os.RemoveAll(out)
	g = buildAggregate(cat, out, c.parallelism)
	start = time.Now()
	res, err := dagflow.Run(ctx, g, opts)
	if err != nil {
		return fmt.Errorf("aggregating: %w", err)
	}
	in, _ := res.Vertex("sales")
	fmt.Fprintf(stdout, "read %d rows of demo.sales (dt >= %s), wrote demo.daily_totals and %s in %s\n",
		in.RecordsOut, days[2], out, time.Since(start).Round(time.Millisecond))
	parts, err := cat.PartitionNames(ctx, "demo", "daily_totals")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "demo.daily_totals partitions: %s\nwarehouse: %s\n", strings.Join(parts, ", "), cat.Warehouse())
	return nil
}

// setup creates the database and tables unless they exist.
func setup(ctx context.Context, cat hive.Catalog) error {
	if err := cat.CreateDatabase(ctx, &hive.Database{Name: "demo"}); err != nil && !errors.Is(err, hive.ErrAlreadyExists) {
		return err
	}
	tables := []struct {
		name       string
		format     hive.Format
		cols, part []string
	}{
		{"demo.sales", hive.FormatParquet, []string{"order_id bigint", "customer string", "amount decimal(10,2)", "at timestamp"}, []string{"dt string"}},
		{"demo.daily_totals", hive.FormatText, []string{"customer string", "orders bigint", "total decimal(18,2)"}, []string{"dt string"}},
	}
	for _, t := range tables {
		tbl, err := hive.NewTable(t.name, t.format, t.cols, t.part)
		if err != nil {
			return err
		}
		if err := cat.CreateTable(ctx, tbl); err != nil && !errors.Is(err, hive.ErrAlreadyExists) {
			return err
		}
	}
	return nil
}

// genSale generates sale number i: (order_id, customer, amount, at, dt).
func genSale(i int64, rnd *rand.Rand) hive.Row {
	day := days[i%int64(len(days))]
	at, _ := time.Parse(time.DateOnly, day)
	return hive.Row{
		i,
		"customer-" + strconv.Itoa(rnd.IntN(20)),
		decimal128.FromI64(int64(100 + rnd.IntN(100000))), // cents: 1.00 .. 1000.99
		at.Add(time.Duration(rnd.IntN(86400)) * time.Second),
		day,
	}
}

// total is the running aggregate of one (day, customer).
type total struct{ orders, cents int64 }

func buildAggregate(cat hive.Catalog, out string, parallelism int) *dag.Graph {
	g := dag.New("hive-copy-aggregate", dag.Config{Parallelism: parallelism, Mode: dag.BatchMode})
	rows := dag.FromSource(g, "sales", hive.Source(cat, "demo.sales",
		hive.Where(hive.Ge("dt", days[2])), hive.Columns("dt", "customer", "amount")), nil)
	// key "dt|customer", value the amount in cents (scale 2)
	kv := dag.Map(rows, func(r hive.Row) dag.KV[string, int64] {
		var cents int64
		if a, ok := r[2].(decimal128.Num); ok {
			cents = int64(a.LowBits())
		}
		return dag.KV[string, int64]{Key: r[0].(string) + "|" + r[1].(string), Value: cents}
	}, dag.Name("key"))
	sums := dag.Aggregate(dag.KeyBy(kv, func(p dag.KV[string, int64]) string { return p.Key }), dag.Agg[dag.KV[string, int64], total, total]{
		Zero:   func() total { return total{} },
		Add:    func(t total, p dag.KV[string, int64]) total { return total{t.orders + 1, t.cents + p.Value} },
		Result: func(t total) total { return t },
	}, dag.Name("sum"))
	// rows of demo.daily_totals: customer, orders, total, dt (dynamic)
	out2 := dag.Map(sums, func(p dag.KV[string, total]) hive.Row {
		dt, customer, _ := strings.Cut(p.Key, "|")
		return hive.Row{customer, p.Value.orders, decimal128.FromI64(p.Value.cents), dt}
	}, dag.Name("to-row"))
	dag.ToSink(out2, "daily_totals", hive.Sink(cat, "demo.daily_totals", hive.Overwrite()))
	dag.ToSink(out2, "tsv", fileio.TextSink(out, func(dst []byte, r hive.Row) []byte {
		dst = append(dst, r[3].(string)...)
		dst = append(dst, '\t')
		dst = append(dst, r[0].(string)...)
		dst = append(dst, '\t')
		dst = strconv.AppendInt(dst, r[1].(int64), 10)
		dst = append(dst, '\t')
		return append(dst, r[2].(decimal128.Num).ToString(2)...)
	}))
	return g
}
