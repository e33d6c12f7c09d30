package scheduler

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidTopology is wrapped by every error New, ComputeRegions and
// Topology.Validate return for a malformed Topology.
var ErrInvalidTopology = errors.New("scheduler: invalid topology")

// ExchangeMode says when a consumer may read what a producer writes on an
// Edge.
type ExchangeMode int

const (
	// Pipelined edges stream records while the producer runs, so producer and
	// consumer must run at the same time: they end up in one region.
	Pipelined ExchangeMode = iota
	// Blocking edges materialise the producer's whole output (its result)
	// first; the consumer starts only after the producer finished.
	Blocking
)

// String returns "pipelined" or "blocking".
func (m ExchangeMode) String() string {
	switch m {
	case Pipelined:
		return "pipelined"
	case Blocking:
		return "blocking"
	}
	return fmt.Sprintf("ExchangeMode(%d)", int(m))
}

// Pattern says which producer subtasks feed which consumer subtasks.
type Pattern int

const (
	// Pointwise connects producer subtask i to consumer subtask i only; both
	// vertices must have the same parallelism.
	Pointwise Pattern = iota
	// AllToAll connects every producer subtask to every consumer subtask
	// (a shuffle or broadcast).
	AllToAll
)

// String returns "pointwise" or "all-to-all".
func (p Pattern) String() string {
	switch p {
	case Pointwise:
		return "pointwise"
	case AllToAll:
		return "all-to-all"
	}
	return fmt.Sprintf("Pattern(%d)", int(p))
}

// Vertex is a task vertex: a chain of operators the runtime already fused,
// run as Parallelism subtasks.
type Vertex struct {
	// ID is the vertex's index in Topology.Vertices (dense, 0..n-1).
	ID int
	// Name is used in logs, failure reasons and status output. It may be
	// empty, in which case "v<ID>" is used.
	Name string
	// Parallelism is the number of subtasks (execution vertices), at least 1.
	Parallelism int
	// Bounded is true when every subtask eventually finishes on its own.
	// Only bounded vertices may produce blocking results.
	Bounded bool
}

// Edge connects two task vertices.
type Edge struct {
	// From and To are vertex IDs: the producer and the consumer.
	From, To int
	// Mode is Pipelined or Blocking.
	Mode ExchangeMode
	// Pattern is Pointwise or AllToAll.
	Pattern Pattern
}

// Topology is the job graph the scheduler works on: task vertices and the
// edges between them. It must be a DAG.
type Topology struct {
	Vertices []Vertex
	Edges    []Edge
}

// TaskID names an execution vertex (a task): one subtask of a task vertex.
type TaskID struct {
	Vertex  int
	Subtask int
}

// String formats the task as "v<vertex>[<subtask>]"; Topology.TaskName gives
// the friendlier "<name>[<subtask>]".
func (t TaskID) String() string { return fmt.Sprintf("v%d[%d]", t.Vertex, t.Subtask) }

// VertexName returns the vertex's Name, or "v<id>" when it has none or id is
// out of range.
func (t Topology) VertexName(id int) string {
	if id >= 0 && id < len(t.Vertices) && t.Vertices[id].Name != "" {
		return t.Vertices[id].Name
	}
	return fmt.Sprintf("v%d", id)
}

// TaskName formats a task as "<vertex name>[<subtask>]", e.g. "map[1]".
func (t Topology) TaskName(id TaskID) string {
	return fmt.Sprintf("%s[%d]", t.VertexName(id.Vertex), id.Subtask)
}

// NumTasks returns the number of execution vertices (the sum of all
// parallelisms).
func (t Topology) NumTasks() int {
	n := 0
	for _, v := range t.Vertices {
		n += v.Parallelism
	}
	return n
}

// Validate checks the topology and returns an error wrapping
// ErrInvalidTopology that names the offending vertex or edge: vertex IDs must
// equal their index, parallelism must be at least 1, edges must reference
// existing vertices with a known mode and pattern, pointwise edges need equal
// parallelism on both ends, blocking edges need a bounded producer, and the
// graph must be acyclic.
func (t Topology) Validate() error {
	if len(t.Vertices) == 0 {
		return fmt.Errorf("%w: no vertices", ErrInvalidTopology)
	}
	for i, v := range t.Vertices {
		if v.ID != i {
			return fmt.Errorf("%w: vertex %q at index %d has ID %d (IDs must be dense and equal their index)",
				ErrInvalidTopology, v.Name, i, v.ID)
		}
		if v.Parallelism < 1 {
			return fmt.Errorf("%w: vertex %d (%s) has parallelism %d, want at least 1",
				ErrInvalidTopology, i, t.VertexName(i), v.Parallelism)
		}
	}
	for i, e := range t.Edges {
		if err := t.validateEdge(e); err != nil {
			return fmt.Errorf("%w: edge %d (%s): %s", ErrInvalidTopology, i, t.edgeName(e), err)
		}
	}
	if cycle := t.findCycle(); cycle != nil {
		names := make([]string, len(cycle))
		for i, v := range cycle {
			names[i] = t.VertexName(v)
		}
		return fmt.Errorf("%w: cycle through vertices %s", ErrInvalidTopology, strings.Join(names, " -> "))
	}
	return nil
}

func (t Topology) edgeName(e Edge) string {
	return t.VertexName(e.From) + " -> " + t.VertexName(e.To)
}

func (t Topology) validateEdge(e Edge) error {
	n := len(t.Vertices)
	if e.From < 0 || e.From >= n || e.To < 0 || e.To >= n {
		return fmt.Errorf("references a vertex outside 0..%d", n-1)
	}
	if e.Mode != Pipelined && e.Mode != Blocking {
		return fmt.Errorf("unknown exchange mode %d", int(e.Mode))
	}
	if e.Pattern != Pointwise && e.Pattern != AllToAll {
		return fmt.Errorf("unknown pattern %d", int(e.Pattern))
	}
	from, to := t.Vertices[e.From], t.Vertices[e.To]
	if e.Pattern == Pointwise && from.Parallelism != to.Parallelism {
		return fmt.Errorf("pointwise edge needs equal parallelism, got %d and %d", from.Parallelism, to.Parallelism)
	}
	if e.Mode == Blocking && !from.Bounded {
		return fmt.Errorf("blocking edge from unbounded vertex %s (its result would never be complete)", t.VertexName(e.From))
	}
	return nil
}

// findCycle returns the vertices of one cycle (first vertex repeated at the
// end), or nil if the graph is acyclic.
func (t Topology) findCycle() []int {
	n := len(t.Vertices)
	out := make([][]int, n)
	for _, e := range t.Edges {
		out[e.From] = append(out[e.From], e.To)
	}
	const (
		white = iota
		grey
		black
	)
	color := make([]int, n)
	var stack []int
	var visit func(v int) []int
	visit = func(v int) []int {
		color[v] = grey
		stack = append(stack, v)
		for _, w := range out[v] {
			switch color[w] {
			case grey:
				for i, u := range stack {
					if u == w {
						return append(append([]int(nil), stack[i:]...), w)
					}
				}
			case white:
				if c := visit(w); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[v] = black
		return nil
	}
	for v := 0; v < n; v++ {
		if color[v] == white {
			if c := visit(v); c != nil {
				return c
			}
		}
	}
	return nil
}
