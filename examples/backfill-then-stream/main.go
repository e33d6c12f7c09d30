// Command backfill-then-stream computes keyed event-time window totals
// over a day of history files and then, without a gap or a duplicate,
// over a Kafka topic: one hybrid source (io/hybrid) reads the files and
// switches to the topic at the first record after the files' largest
// event time. Output lines are "key<TAB>window_start_ms<TAB>sum<TAB>count",
// committed by the transactional file sink.
//
//	go run ./examples/backfill-then-stream
//	go run ./examples/backfill-then-stream --brokers kafka:9092 --topic events \
//	    --history 'hdfs://nn:8020/events/2024-05-01/*.jsonl' --output /data/totals \
//	    --checkpoint-dir hdfs://nn:8020/checkpoints
//
// Without --brokers it is a self-contained demo: it writes a generated day
// of history (24 hourly files) unless --history is given, starts an
// in-process Kafka (kfake) whose topic holds the last hour of the history
// again (the switch must skip it) and a producer goroutine that appends
// --live-events newer events while the job runs. Once the job has read
// every produced event it is stopped with a drain savepoint, which fires
// the last windows, so the demo terminates. With --brokers the job reads
// the real topic unbounded until it is cancelled (Ctrl-C; output of
// completed checkpoints stays committed) or, on a cluster, stopped with
// `dagctl stop --drain`. Input lines/values are JSON
// {"key":"k1","ts":1714521600000,"amount":12}.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/examples/backfill-then-stream/job"
	"github.com/dagflow/dagflow/internal/embedded"
	"github.com/dagflow/dagflow/io/fileio"
	"github.com/dagflow/dagflow/io/filesystem"
	"github.com/dagflow/dagflow/master"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	job        job.Config
	history    string
	brokers    string
	liveEvents int64
	keys       int
	demoDir    string
}

// demoStart is the start of the generated day of history (UTC midnight).
var demoStart = time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)

const demoStep = 2 * time.Second // one generated event every 2 s of event time

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("backfill-then-stream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.history, "history", "", "comma-separated history files, globs or directories of JSON lines, local or hdfs:// (default: a generated day)")
	fs.StringVar(&c.brokers, "brokers", "", "comma-separated Kafka bootstrap brokers (default: an in-process demo cluster)")
	fs.StringVar(&c.job.Topic, "topic", "events", "Kafka topic of the live events")
	fs.StringVar(&c.job.Output, "output", "", "output directory (default: a new temporary directory)")
	fs.DurationVar(&c.job.Window, "window", 10*time.Minute, "tumbling window size (event time)")
	fs.DurationVar(&c.job.OutOfOrderness, "out-of-orderness", 5*time.Second, "tolerated event-time disorder")
	fs.IntVar(&c.job.Parallelism, "parallelism", 2, "parallelism")
	fs.StringVar(&c.job.Checkpoint.Dir, "checkpoint-dir", "", "checkpoint directory URI, file:// or hdfs:// (default: in memory, embedded runs only)")
	fs.DurationVar(&c.job.Checkpoint.Interval, "checkpoint-interval", 2*time.Second, "checkpoint interval while streaming")
	fs.DurationVar(&c.job.Checkpoint.BackfillInterval, "backfill-checkpoint-interval", 30*time.Second, "checkpoint interval while the history is read")
	fs.Int64Var(&c.liveEvents, "live-events", 3000, "demo: events the producer appends after the history")
	fs.IntVar(&c.keys, "keys", 8, "demo: distinct keys")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.job.Parallelism < 1 || c.liveEvents < 0 || c.keys < 1 {
		return c, errors.New("--parallelism and --keys must be positive, --live-events not negative")
	}
	c.job.History = splitList(c.history)
	c.job.Brokers = splitList(c.brokers)
	if len(c.job.Brokers) > 0 && len(c.job.History) == 0 {
		return c, errors.New("--history is required with --brokers")
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, err)
		return 2
	}
	if c.job.Output == "" {
		if c.job.Output, err = os.MkdirTemp("", "backfill-then-stream-"); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		c.job.Output = filepath.Join(c.job.Output, "totals")
	}
	if len(c.job.Brokers) > 0 {
		err = runStream(ctx, c)
	} else {
		err = runDemo(ctx, c, stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "window totals in %s\n", c.job.Output)
	return 0
}

// runStream runs against a real Kafka until ctx is cancelled (or, on a
// cluster, until the job is stopped).
func runStream(ctx context.Context, c config) error {
	_, err := dagflow.Run(ctx, job.Build(c.job), dagflow.Options{})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// runDemo runs the self-contained demo (see the command's doc).
func runDemo(ctx context.Context, c config, stdout io.Writer) error {
	gen := job.Gen{Start: demoStart.UnixMilli(), Step: demoStep, Keys: c.keys}
	perHour := int64(time.Hour / demoStep)
	historyEvents := 24 * perHour // generated history: event indices [0, historyEvents)
	histCount := historyEvents
	var overlap []job.Event
	if len(c.job.History) == 0 {
		dir, err := os.MkdirTemp("", "backfill-history-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if c.job.History, err = job.WriteFiles(dir, gen.Range(0, historyEvents), int(perHour)); err != nil {
			return err
		}
		overlap = gen.Range(historyEvents-perHour, historyEvents)
	} else {
		// The live events follow the given history's end.
		end, n, err := historyEnd(ctx, c.job.History)
		if err != nil {
			return err
		}
		gen.Start = end + demoStep.Milliseconds()
		historyEvents, histCount = 0, n
		fmt.Fprintf(stdout, "history: %d events up to %s\n", n, time.UnixMilli(end).UTC().Format(time.RFC3339))
	}
	live := gen.Range(historyEvents, historyEvents+c.liveEvents)

	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, c.job.Topic))
	if err != nil {
		return fmt.Errorf("in-process kafka: %w", err)
	}
	defer kc.Close()
	c.job.Brokers = kc.ListenAddrs()
	// The topic already retains the history's last hour: the switch skips it.
	if err := job.Produce(ctx, c.job.Brokers, c.job.Topic, overlap); err != nil {
		return err
	}
	produced := make(chan error, 1)
	go func() {
		// The live stream: appended in small chunks while the job runs.
		for i := 0; i < len(live); i += 500 {
			if err := job.Produce(ctx, c.job.Brokers, c.job.Topic, live[i:min(i+500, len(live))]); err != nil {
				produced <- err
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		produced <- nil
	}()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cluster, err := embedded.New(embedded.Config{Logger: log})
	if err != nil {
		return err
	}
	defer cluster.Close()
	plan, err := job.Build(c.job).Build()
	if err != nil {
		return err
	}
	started := make(chan *master.JobMaster, 1)
	done := make(chan error, 1)
	go func() {
		_, err := cluster.Run(ctx, plan, master.JobConfig{Logger: log, Started: func(jm *master.JobMaster) { started <- jm }})
		done <- err
	}()
	var jm *master.JobMaster
	select {
	case jm = <-started:
	case err := <-done:
		return fmt.Errorf("job ended before it started: %w", err)
	}
	// Wait until the source emitted every event (history + live), then
	// stop with a drain savepoint: the last windows fire and are committed.
	want := histCount + int64(len(live))
	lastRound, producing := -1, true
	for {
		st := jm.Status()
		for _, p := range st.Phases {
			if p.Round != lastRound {
				lastRound = p.Round
				fmt.Fprintf(stdout, "phase %d: %d splits to read\n", p.Round, p.Pending+p.Open)
			}
		}
		if !producing && read(st) >= want {
			break
		}
		select {
		case err := <-produced:
			if err != nil {
				return err
			}
			producing = false
		case err := <-done:
			return fmt.Errorf("job ended early: %v", err)
		case <-ctx.Done():
			<-done
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	spDir, err := os.MkdirTemp("", "backfill-savepoint-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(spDir)
	if _, err := jm.Savepoint(ctx, "file://"+spDir, engine.KindDrainSavepoint); err != nil {
		return fmt.Errorf("stop with drain: %w", err)
	}
	if err := <-done; err != nil {
		return err
	}
	lines, err := fileio.ReadAllLines(ctx, filesystem.Default(), c.job.Output)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "read %d history + %d live events; %d window totals\n", histCount, len(live), len(lines))
	return nil
}

// read returns how many records the source emitted.
func read(st master.JobStatus) int64 {
	for _, v := range st.Vertices {
		if v.Name == "events" {
			return v.RecordsOut
		}
	}
	return 0
}

// historyEnd returns the largest event time in the given history files
// and their event count.
func historyEnd(ctx context.Context, paths []string) (int64, int64, error) {
	src := fileio.JSONLines[job.Event](paths...)
	splits, err := src.Splits(ctx, dag.SplitContext{Parallelism: 1})
	if err != nil {
		return 0, 0, err
	}
	end, n := dag.MinTime, int64(0)
	var b dag.Batch[job.Event]
	for _, sp := range splits {
		r, err := src.OpenSplit(ctx, dag.ReaderContext{Parallelism: 1}, sp)
		if err != nil {
			return 0, 0, err
		}
		for {
			b.Reset()
			_, err := r.ReadBatch(ctx, &b, 1024)
			for _, e := range b.Vals {
				end = max(end, e.TS)
				n++
			}
			if err != nil {
				r.Close()
				if errors.Is(err, io.EOF) {
					break
				}
				return 0, 0, err
			}
		}
	}
	if n == 0 {
		return 0, 0, errors.New("the history files hold no event")
	}
	return end, n, nil
}
