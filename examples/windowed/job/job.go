// Package job is the windowed example job: event-time tumbling-window sums
// per key over out-of-order events, with late events to a side output. It is
// shared by the example command, its tests and the benchmarks.
package job

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/io/datagen"
	"github.com/dagflow/dagflow/io/fileio"
)

// Event is one input record: a key, an event time and a value.
type Event struct {
	Key   string
	TS    int64 // Unix milliseconds
	Value int64
}

// EventCoder encodes events for network edges.
var EventCoder = dag.CoderFunc(
	func(dst []byte, e Event) []byte {
		dst = dag.StringCoder{}.Append(dst, e.Key)
		dst = binary.AppendVarint(dst, e.TS)
		return binary.AppendVarint(dst, e.Value)
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
		return Event{Key: k, TS: ts, Value: v}, n + a + b, nil
	})

// ParseCSV parses `key,event_time_unix_ms,value`.
func ParseCSV(f []string) (Event, error) {
	if len(f) != 3 {
		return Event{}, fmt.Errorf("want 3 fields key,event_time_unix_ms,value, got %d", len(f))
	}
	if f[0] == "" {
		return Event{}, errors.New("empty key")
	}
	ts, err := strconv.ParseInt(strings.TrimSpace(f[1]), 10, 64)
	if err != nil {
		return Event{}, fmt.Errorf("event_time_unix_ms %q is not an integer", f[1])
	}
	v, err := strconv.ParseInt(strings.TrimSpace(f[2]), 10, 64)
	if err != nil {
		return Event{}, fmt.Errorf("value %q is not an int64", f[2])
	}
	return Event{Key: f[0], TS: ts, Value: v}, nil
}

// GenConfig describes generated events.
type GenConfig struct {
	Events int64
	Keys   int
	// Start is the event time of the first event (Unix ms).
	Start int64
	// Step is the event-time distance between consecutive events.
	Step time.Duration
	// Disorder is the largest amount an event is shifted back in time; keep
	// it below the job's out-of-orderness and no event is late.
	Disorder time.Duration
	Seed     uint64
}

// Generated returns the event source for cfg: event i has time
// Start + i*Step - jitter(i), jitter < Disorder, all deterministic.
func Generated(cfg GenConfig) dag.Source[Event] {
	step, dis := cfg.Step.Milliseconds(), cfg.Disorder.Milliseconds()
	return datagen.New(func(i int64, r *rand.Rand) Event {
		ts := cfg.Start + i*step
		if dis > 0 {
			ts -= r.Int64N(dis)
		}
		return Event{Key: "k" + strconv.Itoa(r.IntN(cfg.Keys)), TS: ts, Value: r.Int64N(1000)}
	}, datagen.Count(cfg.Events), datagen.Seed(cfg.Seed))
}

// Config is the job's event-time configuration.
type Config struct {
	Window         time.Duration
	OutOfOrderness time.Duration
	Lateness       time.Duration
}

// Sum is a window result: key, window start, sum of values.
type Sum = dag.WindowResult[string, int64]

// Build returns the graph: events → tumbling window sums per key → sink,
// late events → lateSink.
func Build(g *dag.Graph, src dag.Source[Event], cfg Config, sink dag.Sink[Sum], lateSink dag.Sink[Event]) {
	events := dag.FromSource(g, "events", src, &dag.WatermarkStrategy[Event]{
		Timestamp:      func(e Event) int64 { return e.TS },
		OutOfOrderness: cfg.OutOfOrderness,
	}, dag.WithCoder(EventCoder))
	w := dag.Window(dag.KeyBy(events, func(e Event) string { return e.Key }),
		dag.Tumbling(cfg.Window), dag.AllowedLateness(cfg.Lateness))
	sums := dag.WindowAggregate(w, dag.Agg[Event, int64, int64]{
		Zero:   func() int64 { return 0 },
		Add:    func(s int64, e Event) int64 { return s + e.Value },
		Merge:  func(a, b int64) int64 { return a + b },
		Result: func(s int64) int64 { return s },
	}, dag.Name("window-sum"))
	dag.ToSink(sums, "output", sink)
	dag.ToSink(w.Late(), "late", lateSink)
}

// FormatSum writes `key<TAB>window_start<TAB>sum`.
func FormatSum(dst []byte, s Sum) []byte {
	dst = append(dst, s.Key...)
	dst = append(dst, '\t')
	dst = strconv.AppendInt(dst, s.Start, 10)
	dst = append(dst, '\t')
	return strconv.AppendInt(dst, s.Value, 10)
}

// FormatEvent writes an event as a CSV line.
func FormatEvent(dst []byte, e Event) []byte {
	dst = append(dst, e.Key...)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, e.TS, 10)
	dst = append(dst, ',')
	return strconv.AppendInt(dst, e.Value, 10)
}

// CSVSource reads events from CSV files.
func CSVSource(paths ...string) dag.Source[Event] { return fileio.CSV(ParseCSV, paths...) }
