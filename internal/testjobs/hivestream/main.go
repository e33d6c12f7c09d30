// Command hivestream is a test job for the streaming Hive sink under
// failures: an unbounded, rate-limited stream of generated events (it
// idles after --events records, like a topic with no new data) is turned
// into Hive rows, rebalanced over a network edge (rows travel with the
// hive.RowCoder) and written by the Hive table sink into a Parquet table
// partitioned by event hour (dt, hr), committing each partition (catalog
// entry and _SUCCESS) once the watermark passed its end. The catalog is
// the embedded one on --warehouse; the job creates the table if needed.
//
// Event i has id i, k i%7, v "e<i>" and the event time Base + i seconds;
// Expected computes the same rows.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/hive"
	"github.com/dagflow/dagflow/io/datagen"
)

// base is the event time of event 0.
var base = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

type event struct {
	ID int64
	TS int64
}

func main() {
	n := flag.Int64("events", 40000, "events to generate (one per second of event time)")
	rate := flag.Float64("rate", 5000, "events per second (all subtasks)")
	warehouse := flag.String("warehouse", "", "warehouse directory of the embedded catalog")
	table := flag.String("table", "default.events", "table to write (created if missing)")
	par := flag.Int("parallelism", 2, "source parallelism")
	sinkPar := flag.Int("sink-parallelism", 3, "sink parallelism")
	interval := flag.Duration("checkpoint-interval", 300*time.Millisecond, "checkpoint interval")
	ckdir := flag.String("checkpoint-dir", "", "checkpoint directory URI")
	flag.Parse()
	if *warehouse == "" {
		fmt.Fprintln(os.Stderr, "hivestream: --warehouse is required")
		os.Exit(2)
	}
	if err := run(*n, *rate, *warehouse, *table, *par, *sinkPar, *interval, *ckdir); err != nil {
		fmt.Fprintln(os.Stderr, "hivestream:", err)
		os.Exit(1)
	}
}

func run(n int64, rate float64, warehouse, table string, par, sinkPar int, interval time.Duration, ckdir string) error {
	ctx := context.Background()
	// Every process of the job (driver, executors, committer) opens the
	// catalog: it builds the same graph, whose sink schema comes from it.
	cat, err := hive.Open(ctx, hive.Config{Warehouse: warehouse})
	if err != nil {
		return err
	}
	defer cat.Close()
	tbl, err := hive.NewTable(table, hive.FormatParquet,
		[]string{"id bigint", "k int", "v string", "ts timestamp"}, []string{"dt string", "hr string"})
	if err != nil {
		return err
	}
	if err := cat.CreateTable(ctx, tbl); err != nil && !errors.Is(err, hive.ErrAlreadyExists) {
		return err
	}
	sink := hive.Sink(cat, table, hive.CommitOnWatermark("$dt $hr:00:00", time.Hour),
		hive.CommitPolicy("metastore", "success-file"), hive.RowGroupRows(1024))
	rc, err := sink.RowCoder(ctx)
	if err != nil {
		return err
	}
	g := dag.New("hivestream", dag.Config{Parallelism: par, Mode: dag.StreamingMode, BatchSize: 256,
		Checkpoint: dag.CheckpointConfig{Interval: interval, Dir: ckdir}})
	src := datagen.New(func(i int64, _ *rand.Rand) event { return event{ID: i, TS: base + i*1000} },
		datagen.Count(n), datagen.Hold(), datagen.Rate(rate))
	evs := dag.FromSource(g, "events", src, &dag.WatermarkStrategy[event]{Timestamp: func(e event) int64 { return e.TS }},
		dag.WithCoder(dag.JSONCoder[event]()))
	rows := dag.Map(evs, Row, dag.Name("to-row"), dag.WithCoder[hive.Row](rc))
	dag.ToSink(rows.Rebalance(), "table", sink, dag.Parallelism(sinkPar))
	_, err = dagflow.Run(ctx, g, dagflow.Options{})
	return err
}

// Row is the table row of event e: id, k, v, ts, then the dynamic
// partition values dt and hr.
func Row(e event) hive.Row {
	t := time.UnixMilli(e.TS).UTC()
	return hive.Row{e.ID, int32(e.ID % 7), "e" + strconv.FormatInt(e.ID, 10), t, t.Format("2006-01-02"), t.Format("15")}
}
