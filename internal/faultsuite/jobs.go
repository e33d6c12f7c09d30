package faultsuite

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

// Probe roles: where the fault point sits in the probed task.
const (
	// RoleSource probes a source: records read from its splits.
	RoleSource = "source"
	// RoleSink probes a sink fed by an exchange: records its task read
	// from that exchange.
	RoleSink = "sink"
)

// Case is one job of the suite.
type Case struct {
	// Name selects the job (Build's Params.Case).
	Name string
	// Records is the size of the generated input.
	Records int64
	// Parallelism is the job's default parallelism.
	Parallelism int
	// Probe is the head of the probed task (its name in job status, as
	// "Probe[subtask]"), and ProbeRole where in it the fault point sits.
	Probe, ProbeRole string
	// Producer is the head of the task writing the blocking results the
	// probed task reads, if any.
	Producer string
	// Faults are the faults that make sense for the job.
	Faults []Fault
	// MinAt and MaxAt bound the fault point: records read by one subtask
	// of the probed task, well inside that subtask's share of the input.
	MinAt, MaxAt int64
	// ExternalShuffle asks a cluster run to keep blocking results in the
	// shuffle daemon (dagctl submit --shuffle external).
	ExternalShuffle bool
	// Checkpoints says the job checkpoints (Params.CheckpointDir is used).
	Checkpoints bool
}

// Cases returns the suite's jobs.
func Cases() []Case {
	return []Case{
		{Name: "wordcount", Records: 60000, Parallelism: 2, Probe: "lines", ProbeRole: RoleSource,
			Faults: []Fault{FailTask, KillExecutor, KillWorker}, MinAt: 2000, MaxAt: 20000},
		{Name: "window", Records: 30000, Parallelism: 2, Probe: "events", ProbeRole: RoleSource, Checkpoints: true,
			Faults: []Fault{FailTask, KillExecutor, KillWorker}, MinAt: 3000, MaxAt: 24000},
		{Name: "pipelined", Records: 60000, Parallelism: 2, Probe: "route", ProbeRole: RoleSink,
			Faults: []Fault{FailTask, KillExecutor, KillWorker}, MinAt: 2000, MaxAt: 9000},
		{Name: "external", Records: 60000, Parallelism: 2, Probe: "route", ProbeRole: RoleSink, Producer: "numbers",
			ExternalShuffle: true, Faults: []Fault{KillShuffleDaemon, KillExecutor, KillWorker}, MinAt: 2000, MaxAt: 9000},
	}
}

// CaseNamed returns the case called name.
func CaseNamed(name string) (Case, error) {
	var names []string
	for _, c := range Cases() {
		if c.Name == name {
			return c, nil
		}
		names = append(names, c.Name)
	}
	return Case{}, fmt.Errorf("faultsuite: unknown case %q (want one of %s)", name, strings.Join(names, ", "))
}

// Params are one run's job arguments; the job binary takes them as flags
// of the same names (see Args).
type Params struct {
	Case        string
	Records     int64
	Parallelism int
	// Output is the sink's directory (a path or URI).
	Output string
	// FaultDir holds the fault point's files; FaultAt > 0 arms it.
	FaultDir string
	FaultAt  int64
	// CheckpointDir is the checkpoint directory URI of jobs that
	// checkpoint.
	CheckpointDir string
}

// Args renders p as the job binary's flags.
func (p Params) Args() []string {
	return []string{"--case", p.Case, "--records", strconv.FormatInt(p.Records, 10),
		"--parallelism", strconv.Itoa(p.Parallelism), "--output", p.Output, "--fault-dir", p.FaultDir,
		"--fault-at", strconv.FormatInt(p.FaultAt, 10), "--checkpoint-dir", p.CheckpointDir}
}

// Params returns the job arguments of plan p writing to output, with its
// fault point files in faultDir and checkpoints in checkpointDir.
func (p Plan) Params(output, faultDir, checkpointDir string) Params {
	return Params{Case: p.Case.Name, Records: p.Case.Records, Parallelism: p.Case.Parallelism, Output: output,
		FaultDir: faultDir, FaultAt: p.At, CheckpointDir: checkpointDir}
}

// Window job constants.
const (
	windowKeys   = 8
	windowSizeMs = 1000
	windowRate   = 12000 // events per second
	routeKeys    = 64
)

// Line is line i of the wordcount input.
func Line(i int64) string {
	return fmt.Sprintf("w%d w%d x%d alpha", i%997, i%13, i%101)
}

// Event is one event of the window job.
type Event struct {
	Key int64 `json:"k"`
	TS  int64 `json:"t"`
	V   int64 `json:"v"`
}

// EventAt is event i of the window job's input.
func EventAt(i int64) Event { return Event{Key: i % windowKeys, TS: i, V: i%97 + 1} }

// RouteLine is the output line of record i of the pipelined and external
// jobs.
func RouteLine(i int64) string { return fmt.Sprintf("%d\t%d", i%routeKeys, i) }

type acc struct{ Sum, N int64 }

// MarshalBinary gives the window accumulator a coder for checkpoints.
func (a acc) MarshalBinary() ([]byte, error) {
	return binary.AppendVarint(binary.AppendVarint(nil, a.Sum), a.N), nil
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler.
func (a *acc) UnmarshalBinary(b []byte) error {
	s, n := binary.Varint(b)
	if n <= 0 {
		return errors.New("faultsuite: bad accumulator")
	}
	c, m := binary.Varint(b[n:])
	if m <= 0 {
		return errors.New("faultsuite: bad accumulator")
	}
	a.Sum, a.N = s, c
	return nil
}

// Build returns the graph of job p.Case.
func Build(p Params) (*dag.Graph, error) {
	c, err := CaseNamed(p.Case)
	if err != nil {
		return nil, err
	}
	if p.Records <= 0 || p.Parallelism <= 0 || p.Output == "" {
		return nil, fmt.Errorf("faultsuite: case %s needs records > 0, parallelism > 0 and an output (got %d, %d, %q)",
			p.Case, p.Records, p.Parallelism, p.Output)
	}
	pt := &point{dir: p.FaultDir, at: p.FaultAt, vertex: c.Probe}
	switch c.Name {
	case "wordcount":
		g := dag.New("fault-wordcount", dag.Config{Parallelism: p.Parallelism, Mode: dag.BatchMode})
		lines := dag.FromSource(g, "lines", probeSource(datagen.New(func(i int64, _ *rand.Rand) string { return Line(i) },
			datagen.Count(p.Records)), pt), nil)
		words := dag.FlatMap(lines, func(l string, emit func(string)) {
			for _, w := range strings.Fields(l) {
				emit(w)
			}
		}, dag.Name("split"))
		counts := dag.Aggregate(dag.KeyBy(words, func(w string) string { return w }), dag.Agg[string, int64, int64]{
			Zero:   func() int64 { return 0 },
			Add:    func(n int64, _ string) int64 { return n + 1 },
			Merge:  func(a, b int64) int64 { return a + b },
			Result: func(n int64) int64 { return n },
		}, dag.Name("count"))
		dag.ToSink(counts, "output", fileio.TextSink(p.Output, func(dst []byte, kv dag.KV[string, int64]) []byte {
			dst = append(dst, kv.Key...)
			dst = append(dst, '\t')
			return strconv.AppendInt(dst, kv.Value, 10)
		}))
		return g, nil
	case "window":
		if p.CheckpointDir == "" {
			return nil, errors.New("faultsuite: case window needs a checkpoint directory")
		}
		g := dag.New("fault-window", dag.Config{Parallelism: p.Parallelism, Mode: dag.StreamingMode, BatchSize: 256,
			Checkpoint: dag.CheckpointConfig{Interval: 100 * time.Millisecond, Dir: p.CheckpointDir}})
		// One source subtask reads one split in order: event time only
		// grows, so no event is late and every window is exact.
		src := datagen.New(func(i int64, _ *rand.Rand) Event { return EventAt(i) }, datagen.Count(p.Records), datagen.Rate(windowRate))
		evs := dag.FromSource(g, "events", probeSource(src, pt), &dag.WatermarkStrategy[Event]{Timestamp: func(e Event) int64 { return e.TS }},
			dag.WithCoder(dag.JSONCoder[Event]()), dag.Parallelism(1))
		w := dag.Window(dag.KeyBy(evs, func(e Event) int64 { return e.Key }), dag.Tumbling(windowSizeMs*time.Millisecond))
		sums := dag.WindowAggregate(w, dag.Agg[Event, acc, acc]{
			Zero:   func() acc { return acc{} },
			Add:    func(a acc, e Event) acc { return acc{a.Sum + e.V, a.N + 1} },
			Merge:  func(a, b acc) acc { return acc{a.Sum + b.Sum, a.N + b.N} },
			Result: func(a acc) acc { return a },
		}, dag.Name("window-sum"))
		dag.ToSink(sums, "output", fileio.TextSink(p.Output, func(dst []byte, r dag.WindowResult[int64, acc]) []byte {
			return fmt.Appendf(dst, "%d\t%d\t%d\t%d", r.Key, r.Start, r.Value.Sum, r.Value.N)
		}))
		return g, nil
	case "pipelined", "external":
		mode := dag.StreamingMode // every edge pipelined
		if c.Name == "external" {
			mode = dag.BatchMode // the keyed edge is blocking
		}
		g := dag.New("fault-"+c.Name, dag.Config{Parallelism: p.Parallelism, Mode: mode})
		nums := dag.FromSource(g, "numbers", datagen.New(func(i int64, _ *rand.Rand) int64 { return i }, datagen.Count(p.Records)), nil)
		out := dag.Process(dag.KeyBy(nums, func(v int64) int64 { return v % routeKeys }),
			func() dag.ProcessFunc[int64, int64, string] { return routeFn{} }, dag.Name("route"))
		dag.ToSink(out, "output", probeSink(fileio.TextSink(p.Output, func(dst []byte, l string) []byte { return append(dst, l...) }), pt))
		return g, nil
	}
	return nil, fmt.Errorf("faultsuite: case %q has no job", c.Name)
}

// routeFn emits every record as its output line: the all-to-all keyed
// exchange in front of it is what the job tests.
type routeFn struct{}

func (routeFn) Open(*dag.ProcessOpenContext[int64]) error { return nil }

func (routeFn) ProcessElement(ctx *dag.ProcessContext[int64, string], v int64) error {
	ctx.Emit(RouteLine(v))
	return nil
}

func (routeFn) OnTimer(*dag.ProcessContext[int64, string], dag.Timer) error { return nil }

// Expected returns the output lines of case name over n input records,
// with their counts, computed without the engine.
func Expected(name string, n int64) (map[string]int, error) {
	out := map[string]int{}
	switch name {
	case "wordcount":
		counts := map[string]int64{}
		for i := int64(0); i < n; i++ {
			for _, w := range strings.Fields(Line(i)) {
				counts[w]++
			}
		}
		for w, c := range counts {
			out[w+"\t"+strconv.FormatInt(c, 10)]++
		}
	case "window":
		type kw struct{ k, w int64 }
		sums := map[kw]acc{}
		for i := int64(0); i < n; i++ {
			e := EventAt(i)
			x := kw{e.Key, e.TS / windowSizeMs * windowSizeMs}
			a := sums[x]
			sums[x] = acc{a.Sum + e.V, a.N + 1}
		}
		for x, a := range sums {
			out[fmt.Sprintf("%d\t%d\t%d\t%d", x.k, x.w, a.Sum, a.N)]++
		}
	case "pipelined", "external":
		for i := int64(0); i < n; i++ {
			out[RouteLine(i)]++
		}
	default:
		return nil, fmt.Errorf("faultsuite: unknown case %q", name)
	}
	return out, nil
}
