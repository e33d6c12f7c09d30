package dag

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/dagflow/dagflow/dag/engine"
)

// ExchangeMode says how records cross an edge.
type ExchangeMode uint8

const (
	// Auto lets the planner decide: pipelined when the producer is
	// unbounded or the edge is pointwise, blocking for all-to-all edges of a
	// bounded producer in batch execution mode.
	Auto ExchangeMode = iota
	// Pipelined streams records to the consumer while the producer runs,
	// with back-pressure.
	Pipelined
	// Blocking fully materialises the producer's output before any consumer
	// starts.
	Blocking
)

// String returns the mode's name.
func (m ExchangeMode) String() string {
	switch m {
	case Auto:
		return "auto"
	case Pipelined:
		return "pipelined"
	case Blocking:
		return "blocking"
	}
	return fmt.Sprintf("exchange(%d)", uint8(m))
}

// Partitioner says which consumer subtask receives a record.
type Partitioner uint8

const (
	// DefaultPartitioner is Forward when producer and consumer have the
	// same parallelism and Rebalance otherwise (Hash for keyed consumers).
	DefaultPartitioner Partitioner = iota
	// Forward sends subtask i's records to consumer subtask i (equal
	// parallelism required); such edges are chained when pipelined.
	Forward
	// Hash sends each record to the subtask owning its key's key group.
	Hash
	// Rebalance distributes records round-robin.
	Rebalance
	// Broadcast sends every record to every consumer subtask.
	Broadcast
)

// String returns the partitioner's name.
func (p Partitioner) String() string {
	switch p {
	case DefaultPartitioner:
		return "default"
	case Forward:
		return "forward"
	case Hash:
		return "hash"
	case Rebalance:
		return "rebalance"
	case Broadcast:
		return "broadcast"
	}
	return fmt.Sprintf("partitioner(%d)", uint8(p))
}

// ExecutionMode selects how Auto edges are resolved for the whole job.
type ExecutionMode uint8

const (
	// AutoMode makes all-to-all edges of bounded producers blocking and
	// every other edge pipelined.
	AutoMode ExecutionMode = iota
	// BatchMode is AutoMode but fails validation for unbounded sources.
	BatchMode
	// StreamingMode makes every Auto edge pipelined.
	StreamingMode
)

// String returns "auto", "batch" or "streaming".
func (m ExecutionMode) String() string {
	switch m {
	case AutoMode:
		return "auto"
	case BatchMode:
		return "batch"
	case StreamingMode:
		return "streaming"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// ParseExecutionMode parses "auto", "batch" or "streaming".
func ParseExecutionMode(s string) (ExecutionMode, error) {
	switch s {
	case "auto", "":
		return AutoMode, nil
	case "batch":
		return BatchMode, nil
	case "streaming":
		return StreamingMode, nil
	}
	return 0, fmt.Errorf("dag: unknown execution mode %q (want auto, batch or streaming)", s)
}

// Config holds job-wide settings.
type Config struct {
	// Parallelism is the default parallelism of operators (default 1).
	Parallelism int
	// MaxParallelism is the number of key groups, fixed for the life of
	// the job and its savepoints (default 128). Keyed operators may not
	// have a parallelism above it.
	MaxParallelism int
	// Mode resolves Auto exchange modes.
	Mode ExecutionMode
	// BatchSize is how many records a batch holds (default 1024).
	BatchSize int
	// Checkpoint configures checkpoints of the job (off when Interval is 0).
	Checkpoint CheckpointConfig
	// StateBackend keeps keyed state on the Go heap (BackendHeap, the
	// default) or in an embedded Pebble store on local disk (BackendPebble)
	// for state larger than memory.
	StateBackend string
	// BufferTimeout bounds how long encoded records may wait in a partly
	// filled buffer of a pipelined exchange before it is sent: a task
	// flushes its pipelined outputs at least this often (a full buffer,
	// a watermark or the end of input flush earlier). Smaller values cut
	// record latency at the cost of more, smaller network buffers. Zero
	// means DefaultBufferTimeout.
	BufferTimeout time.Duration `json:",omitempty"`
}

// DefaultBufferTimeout is the BufferTimeout used when Config leaves it
// zero.
const DefaultBufferTimeout = 100 * time.Millisecond

// EffectiveBufferTimeout returns BufferTimeout, or DefaultBufferTimeout
// when it is zero.
func (c Config) EffectiveBufferTimeout() time.Duration {
	if c.BufferTimeout > 0 {
		return c.BufferTimeout
	}
	return DefaultBufferTimeout
}

// State backends (Config.StateBackend).
const (
	BackendHeap   = "heap"
	BackendPebble = "pebble"
)

// CheckpointConfig configures checkpoints.
type CheckpointConfig struct {
	// Interval between checkpoints; 0 disables periodic checkpoints.
	Interval time.Duration `json:"interval,omitempty"`
	// Dir is the URI checkpoints are written under (file:// or hdfs://).
	Dir string `json:"dir,omitempty"`
	// Timeout aborts a checkpoint that has not completed (default 10m).
	Timeout time.Duration `json:"timeout,omitempty"`
	// MinPause is the least time between the end of one checkpoint and the
	// start of the next (default 0).
	MinPause time.Duration `json:"minPause,omitempty"`
	// Retain is how many completed checkpoints are kept (default 3).
	Retain int `json:"retain,omitempty"`
	// Incremental uploads only new files of incremental backends (Pebble)
	// and references the rest (default true; savepoints are always full).
	DisableIncremental bool `json:"disableIncremental,omitempty"`
	// DisableFileMerging writes every state handle to its own file instead
	// of merging small ones per worker and checkpoint.
	DisableFileMerging bool `json:"disableFileMerging,omitempty"`
	// BackfillInterval, when set, is used instead of Interval while
	// bounded phases of hybrid sources run.
	BackfillInterval time.Duration `json:"backfillInterval,omitempty"`
}

// Graph is a job under construction. Methods and the typed functions of
// this package record construction errors on the graph instead of
// panicking; Build returns them all.
type Graph struct {
	name     string
	cfg      Config
	vertices []*vertex
	errs     []error
}

// New returns an empty graph.
func New(name string, cfg Config) *Graph {
	if cfg.Parallelism == 0 {
		cfg.Parallelism = 1
	}
	if cfg.MaxParallelism == 0 {
		cfg.MaxParallelism = 128
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	return &Graph{name: name, cfg: cfg}
}

// Name returns the job name.
func (g *Graph) Name() string { return g.name }

// Config returns the job configuration with defaults applied.
func (g *Graph) Config() Config { return g.cfg }

func (g *Graph) errorf(format string, args ...any) {
	g.errs = append(g.errs, fmt.Errorf(format, args...))
}

// vertexKind names what a vertex does, for plans and errors.
type vertexKind string

// vertex is one node of the logical graph.
type vertex struct {
	id          int
	kind        vertexKind
	name        string
	parallelism int  // 0 = job default
	parSet      bool // parallelism set explicitly
	bounded     bool
	noChain     bool
	keyed       bool // consumes hash-partitioned inputs and keeps keyed state
	inputs      []*edge
	outputs     []*edge
	ports       []port // output ports: 0 main, 1.. side outputs

	// exactly one of these is set
	newOperator func() engine.Operator
	source      sourceFactory
	sinkInfo    *sinkInfo
}

// port is one output of a vertex with its element type and coder.
type port struct {
	name  string
	typ   reflect.Type
	coder any // Coder[T] of the port type, nil if none
	codec func() edgeCodec
}

type edge struct {
	from     *vertex
	fromPort int
	to       *vertex
	input    int // input index at the consumer
	mode     ExchangeMode
	part     Partitioner
	keyHash  any // func(T) uint64 for Hash edges (T = port type)
}

// edgeProps are the exchange settings a stream handle carries to the
// operator that consumes it.
type edgeProps struct {
	mode ExchangeMode
	part Partitioner
}

func (g *Graph) addVertex(kind vertexKind, name string, o opts) *vertex {
	v := &vertex{id: len(g.vertices), kind: kind, name: name}
	if o.name != "" {
		v.name = o.name
	}
	if v.name == "" {
		v.name = string(kind)
	}
	if o.parSet {
		v.parSet = true
		v.parallelism = o.parallelism
	}
	v.noChain = o.noChain
	g.vertices = append(g.vertices, v)
	return v
}

func (g *Graph) connect(src streamSrc, props edgeProps, to *vertex, input int, keyHash any) {
	e := &edge{from: src.v, fromPort: src.port, to: to, input: input, mode: props.mode, part: props.part, keyHash: keyHash}
	src.v.outputs = append(src.v.outputs, e)
	to.inputs = append(to.inputs, e)
}

// ErrInvalid is wrapped by every validation error of Build.
var ErrInvalid = errors.New("dag: invalid graph")

func vertexLabel(v *vertex) string {
	return fmt.Sprintf("vertex %d (%s %q)", v.id, v.kind, v.name)
}

// SetParallelism changes the job's default parallelism before Build (the
// cluster uses it for `dagctl submit --parallelism`).
func (g *Graph) SetParallelism(n int) { g.cfg.Parallelism = n }

// SetCheckpoint replaces the checkpoint configuration (used by the
// runtime to apply command-line settings before Build).
func (g *Graph) SetCheckpoint(c CheckpointConfig) { g.cfg.Checkpoint = c }

// SetStateBackend chooses the keyed state backend (BackendHeap or
// BackendPebble) before Build.
func (g *Graph) SetStateBackend(b string) { g.cfg.StateBackend = b }
