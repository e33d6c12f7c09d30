// Package job is the backfill-then-stream example job: keyed event-time
// tumbling-window totals over a day of history files followed by a Kafka
// topic, read by one hybrid source, written by the transactional file
// sink. It is shared by the example command, its tests and the test job
// binary of the real-process tests (internal/testjobs/backfill).
package job

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/io/fileio"
	"github.com/dagflow/dagflow/io/hybrid"
	"github.com/dagflow/dagflow/io/kafka"
)

// Event is one input record, a JSON line in the history files and a JSON
// value in the topic.
type Event struct {
	Key    string `json:"key"`
	TS     int64  `json:"ts"` // event time, Unix ms
	Amount int64  `json:"amount"`
}

// EventTime returns e's event time.
func EventTime(e Event) int64 { return e.TS }

// EventCoder encodes events on network edges.
var EventCoder = dag.CoderFunc(
	func(dst []byte, e Event) []byte {
		dst = dag.StringCoder{}.Append(dst, e.Key)
		dst = binary.AppendVarint(dst, e.TS)
		return binary.AppendVarint(dst, e.Amount)
	},
	func(src []byte) (Event, int, error) {
		k, n, err := dag.StringCoder{}.Decode(src)
		if err != nil {
			return Event{}, 0, err
		}
		ts, a := binary.Varint(src[n:])
		if a <= 0 {
			return Event{}, 0, dag.ErrCorruptRecord
		}
		v, b := binary.Varint(src[n+a:])
		if b <= 0 {
			return Event{}, 0, dag.ErrCorruptRecord
		}
		return Event{Key: k, TS: ts, Amount: v}, n + a + b, nil
	})

// Total is a window's aggregate.
type Total struct{ Sum, Count int64 }

// MarshalBinary gives the window accumulator a compact coder (it is
// checkpointed window state).
func (t Total) MarshalBinary() ([]byte, error) {
	return binary.AppendVarint(binary.AppendVarint(nil, t.Sum), t.Count), nil
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler.
func (t *Total) UnmarshalBinary(b []byte) error {
	s, n := binary.Varint(b)
	if n <= 0 {
		return fmt.Errorf("bad window total of %d bytes", len(b))
	}
	c, m := binary.Varint(b[n:])
	if m <= 0 {
		return fmt.Errorf("bad window total of %d bytes", len(b))
	}
	t.Sum, t.Count = s, c
	return nil
}

// Config configures the streaming job.
type Config struct {
	Name string
	// History lists the history files (JSON lines; paths, globs or
	// directories, local or hdfs://). Their files should sort in event-time
	// order (e.g. one file per hour) and hold records in time order within
	// OutOfOrderness: see docs/backfill.md.
	History []string
	// Brokers and Topic name the live stream.
	Brokers []string
	Topic   string
	// Window is the tumbling window size; OutOfOrderness the watermark's
	// tolerated disorder.
	Window, OutOfOrderness time.Duration
	Parallelism            int
	// Output is the directory the committed window lines go to.
	Output     string
	Checkpoint dag.CheckpointConfig
	// Throttle, when set, sleeps this long per 64 records after the source (the
	// real-process tests use it to keep each phase running long enough to
	// kill a worker in it). BatchSize sets the job's batch size (0: the
	// default).
	Throttle  time.Duration
	BatchSize int
	// KafkaOptions are extra options of the live source (security, a
	// bounded read).
	KafkaOptions []kafka.SourceOption
}

// throttleEvery is how many records pass between two Throttle sleeps.
const throttleEvery = 64

// Source returns the hybrid source: the history files, then the topic
// from right after the largest event time the files hold.
func Source(cfg Config) *hybrid.Source[Event] {
	hist := fileio.JSONLines[Event](cfg.History...)
	live := kafka.NewSource(cfg.Brokers, kafka.JSON[Event](), append([]kafka.SourceOption{kafka.Topics(cfg.Topic)}, cfg.KafkaOptions...)...)
	return hybrid.New[Event](hist, hybrid.ThenAfter[Event](live)).WithEventTime(EventTime)
}

// Build returns the streaming job: hybrid source → keyed tumbling window
// totals → transactional text sink.
func Build(cfg Config) *dag.Graph {
	name := cfg.Name
	if name == "" {
		name = "backfill-then-stream"
	}
	g := dag.New(name, dag.Config{Parallelism: cfg.Parallelism, Mode: dag.StreamingMode, BatchSize: cfg.BatchSize, Checkpoint: cfg.Checkpoint})
	evs := dag.FromSource(g, "events", Source(cfg), &dag.WatermarkStrategy[Event]{Timestamp: EventTime, OutOfOrderness: cfg.OutOfOrderness}, dag.WithCoder(EventCoder))
	if d := cfg.Throttle; d > 0 {
		var n atomic.Int64
		evs = dag.Map(evs, func(e Event) Event {
			if n.Add(1)%throttleEvery == 0 {
				time.Sleep(d)
			}
			return e
		}, dag.Name("throttle"), dag.WithCoder(EventCoder))
	}
	aggregate(evs, cfg.Window, cfg.Output)
	return g
}

// BuildBatch returns the reference job: the same window totals over JSON
// lines files in batch mode.
func BuildBatch(inputs []string, window time.Duration, parallelism int, output string) *dag.Graph {
	g := dag.New("backfill-reference", dag.Config{Parallelism: parallelism, Mode: dag.BatchMode})
	evs := dag.FromSource(g, "events", fileio.JSONLines[Event](inputs...), &dag.WatermarkStrategy[Event]{Timestamp: EventTime}, dag.WithCoder(EventCoder))
	aggregate(evs, window, output)
	return g
}

func aggregate(evs dag.Stream[Event], window time.Duration, output string) {
	w := dag.Window(dag.KeyBy(evs, func(e Event) string { return e.Key }), dag.Tumbling(window))
	totals := dag.WindowAggregate(w, dag.Agg[Event, Total, Total]{
		Zero:   func() Total { return Total{} },
		Add:    func(t Total, e Event) Total { return Total{t.Sum + e.Amount, t.Count + 1} },
		Merge:  func(a, b Total) Total { return Total{a.Sum + b.Sum, a.Count + b.Count} },
		Result: func(t Total) Total { return t },
	}, dag.Name("window-totals"))
	dag.ToSink(totals, "output", fileio.TextSink(output, Format))
}

// Format renders a window total as "key<TAB>window_start_ms<TAB>sum<TAB>count".
func Format(dst []byte, r dag.WindowResult[string, Total]) []byte {
	dst = append(dst, r.Key...)
	dst = append(dst, '\t')
	dst = strconv.AppendInt(dst, r.Start, 10)
	dst = append(dst, '\t')
	dst = strconv.AppendInt(dst, r.Value.Sum, 10)
	dst = append(dst, '\t')
	return strconv.AppendInt(dst, r.Value.Count, 10)
}

// Gen generates deterministic events: event i has time Start + i*Step,
// key "k<i*7 mod Keys>" and amount i mod 100 + 1.
type Gen struct {
	Start int64 // Unix ms
	Step  time.Duration
	Keys  int
}

// Event returns event i.
func (g Gen) Event(i int64) Event {
	return Event{Key: "k" + strconv.FormatInt(i*7%int64(max(g.Keys, 1)), 10), TS: g.Start + i*g.Step.Milliseconds(), Amount: i%100 + 1}
}

// Range returns events [from, to).
func (g Gen) Range(from, to int64) []Event {
	out := make([]Event, 0, max(to-from, 0))
	for i := from; i < to; i++ {
		out = append(out, g.Event(i))
	}
	return out
}

// WriteFiles writes events as JSON lines into dir, one file per perFile
// events named events-0000.jsonl, events-0001.jsonl, ... (so that names
// sort in time order), and returns the file paths.
func WriteFiles(dir string, events []Event, perFile int) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("history dir: %w", err)
	}
	var paths []string
	for f := 0; f*perFile < len(events); f++ {
		p := filepath.Join(dir, fmt.Sprintf("events-%04d.jsonl", f))
		if err := writeJSONLines(p, events[f*perFile:min((f+1)*perFile, len(events))]); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

func writeJSONLines(path string, events []Event) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("history file: %w", err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			f.Close()
			return fmt.Errorf("history file %s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("history file %s: %w", path, err)
	}
	return f.Close()
}

// Produce writes events to topic as JSON values keyed by Event.Key, with
// the Kafka record timestamp set to the event time (the hybrid source
// finds the switch offset by record timestamp).
func Produce(ctx context.Context, brokers []string, topic string, events []Event) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		return fmt.Errorf("kafka producer: %w", err)
	}
	defer cl.Close()
	const chunk = 1000
	for i := 0; i < len(events); i += chunk {
		recs := make([]*kgo.Record, 0, chunk)
		for _, e := range events[i:min(i+chunk, len(events))] {
			v, err := json.Marshal(e)
			if err != nil {
				return err
			}
			recs = append(recs, &kgo.Record{Key: []byte(e.Key), Value: v, Timestamp: time.UnixMilli(e.TS)})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("produce to %s: %w", topic, err)
		}
	}
	return nil
}
