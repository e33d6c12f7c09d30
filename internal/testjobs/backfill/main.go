// Command backfill is a test job for the hybrid source on a real cluster:
// the backfill-then-stream example job (history files, then a Kafka topic
// from where they end, keyed window totals, transactional file sink) with
// a throttle so that each phase runs long enough to kill a worker in it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/examples/backfill-then-stream/job"
)

func main() {
	var cfg job.Config
	history := flag.String("history", "", "comma-separated history files (JSON lines)")
	brokers := flag.String("brokers", "", "comma-separated Kafka brokers")
	flag.StringVar(&cfg.Topic, "topic", "events", "Kafka topic")
	flag.StringVar(&cfg.Output, "output", "", "output directory")
	flag.IntVar(&cfg.Parallelism, "parallelism", 2, "parallelism")
	flag.DurationVar(&cfg.Window, "window", time.Minute, "tumbling window size")
	flag.DurationVar(&cfg.Throttle, "throttle", 0, "sleep per 64 records")
	flag.IntVar(&cfg.BatchSize, "batch-size", 64, "batch size")
	flag.DurationVar(&cfg.Checkpoint.Interval, "checkpoint-interval", 200*time.Millisecond, "checkpoint interval")
	flag.DurationVar(&cfg.Checkpoint.BackfillInterval, "backfill-checkpoint-interval", 0, "checkpoint interval while backfilling")
	flag.StringVar(&cfg.Checkpoint.Dir, "checkpoint-dir", "", "checkpoint directory URI")
	flag.Parse()
	cfg.Name = "backfill"
	cfg.History = strings.Split(*history, ",")
	cfg.Brokers = strings.Split(*brokers, ",")
	if *history == "" || *brokers == "" || cfg.Output == "" {
		fmt.Fprintln(os.Stderr, "backfill: --history, --brokers and --output are required")
		os.Exit(2)
	}
	if _, err := dagflow.Run(context.Background(), job.Build(cfg), dagflow.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
