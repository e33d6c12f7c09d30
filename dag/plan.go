package dag

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Plan is a validated, resolved graph: what the engine runs. Its exported
// fields serialize to JSON; a process running the same binary rebuilds the
// graph, builds its plan and compares fingerprints before running tasks.
type Plan struct {
	Job      string       `json:"job"`
	Config   Config       `json:"config"`
	Vertices []PlanVertex `json:"vertices"`
	Edges    []PlanEdge   `json:"edges"`
	// Tasks are the operator chains: each runs as one task per subtask.
	Tasks []PlanTask `json:"tasks"`
	// Fingerprint is a hash of everything above.
	Fingerprint string `json:"fingerprint"`

	g     *Graph
	edges []*edge // by edge id
}

// PlanVertex is one operator of the plan.
type PlanVertex struct {
	ID          int    `json:"id"`
	UID         string `json:"uid"` // deterministic: position and kind
	Kind        string `json:"kind"`
	Name        string `json:"name"`
	Parallelism int    `json:"parallelism"`
	Bounded     bool   `json:"bounded"`
	Keyed       bool   `json:"keyed,omitempty"`
	// Dynamic marks a source that enumerates splits in rounds.
	Dynamic bool       `json:"dynamic,omitempty"`
	Task    int        `json:"task"`
	Ports   []PlanPort `json:"ports,omitempty"`
	Inputs  []int      `json:"inputs,omitempty"`  // edge ids
	Outputs []int      `json:"outputs,omitempty"` // edge ids
}

// PlanPort is an output port of a vertex.
type PlanPort struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Coder bool   `json:"coder"`
}

// PlanEdge is one edge of the plan with its resolved exchange.
type PlanEdge struct {
	ID          int          `json:"id"`
	From        int          `json:"from"`
	FromPort    int          `json:"fromPort"`
	To          int          `json:"to"`
	Input       int          `json:"input"`
	Mode        ExchangeMode `json:"mode"`
	Partitioner Partitioner  `json:"partitioner"`
	// Chained edges pass batches by function call inside a task.
	Chained bool `json:"chained"`
}

// PlanTask is an operator chain.
type PlanTask struct {
	ID          int    `json:"id"`
	Name        string `json:"name"`
	Vertices    []int  `json:"vertices"` // topological order; the first is the head
	Parallelism int    `json:"parallelism"`
	Bounded     bool   `json:"bounded"`
	Inputs      []int  `json:"inputs,omitempty"`  // network edges in
	Outputs     []int  `json:"outputs,omitempty"` // network edges out
}

// Build validates the graph and returns its plan. Every problem found is
// reported, each naming its vertex; the error wraps ErrInvalid.
func (g *Graph) Build() (*Plan, error) {
	errs := slices.Clone(g.errs)
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	if len(g.vertices) == 0 {
		add("job %q has no vertices", g.name)
	}
	if g.cfg.Parallelism < 1 {
		add("job parallelism %d: must be at least 1", g.cfg.Parallelism)
	}
	if g.cfg.MaxParallelism < 1 {
		add("job max parallelism %d: must be at least 1", g.cfg.MaxParallelism)
	}
	if g.cfg.BufferTimeout < 0 {
		add("job buffer timeout %s: must not be negative", g.cfg.BufferTimeout)
	}
	order, err := topoOrder(g.vertices)
	if err != nil {
		errs = append(errs, err)
		return nil, errors.Join(errs...)
	}
	// Parallelism and boundedness.
	for _, v := range order {
		if !v.parSet {
			v.parallelism = g.cfg.Parallelism
		} else if v.parallelism < 1 {
			add("%s: parallelism %d: must be at least 1", vertexLabel(v), v.parallelism)
			v.parallelism = 1
		}
		if v.keyed && v.parallelism > g.cfg.MaxParallelism {
			add("%s: parallelism %d exceeds max parallelism %d of keyed state", vertexLabel(v), v.parallelism, g.cfg.MaxParallelism)
		}
		if v.source == nil {
			if len(v.inputs) == 0 {
				add("%s: has no input", vertexLabel(v))
			}
			v.bounded = true
			for _, e := range v.inputs {
				v.bounded = v.bounded && e.from.bounded
			}
		} else if !v.bounded && g.cfg.Mode == BatchMode {
			add("%s: unbounded source in batch execution mode", vertexLabel(v))
		}
		if v.sinkInfo == nil && v.source == nil && len(v.outputs) == 0 {
			add("%s: output is not consumed (end it in a sink)", vertexLabel(v))
		}
		if v.keyed {
			for _, e := range v.inputs {
				if e.part != Hash {
					add("%s: keyed operator on an unkeyed stream from %s (use KeyBy)", vertexLabel(v), vertexLabel(e.from))
				}
			}
		}
	}
	// Edges.
	for _, v := range order {
		for _, e := range v.inputs {
			resolveEdge(g, e, add)
		}
	}
	p := &Plan{Job: g.name, Config: g.cfg, g: g}
	// Chains.
	chainOf := make(map[*vertex]int)
	for _, v := range order {
		if len(v.inputs) == 1 && chainable(v.inputs[0]) {
			chainOf[v] = chainOf[v.inputs[0].from]
			t := &p.Tasks[chainOf[v]]
			t.Vertices = append(t.Vertices, v.id)
			continue
		}
		chainOf[v] = len(p.Tasks)
		p.Tasks = append(p.Tasks, PlanTask{ID: len(p.Tasks), Name: v.name, Vertices: []int{v.id}, Parallelism: v.parallelism, Bounded: v.bounded})
	}
	// Vertices and edges in id order; edge ids by (consumer order, input).
	edgeID := make(map[*edge]int)
	for _, v := range g.vertices {
		pv := PlanVertex{
			ID: v.id, UID: fmt.Sprintf("v%d-%s", v.id, v.kind), Kind: string(v.kind), Name: v.name,
			Parallelism: v.parallelism, Bounded: v.bounded, Keyed: v.keyed, Task: chainOf[v], Dynamic: isDynamic(v),
		}
		for _, pt := range v.ports {
			pv.Ports = append(pv.Ports, PlanPort{Name: pt.name, Type: pt.typ.String(), Coder: pt.codec != nil})
		}
		p.Vertices = append(p.Vertices, pv)
		for _, e := range v.inputs {
			id := len(p.Edges)
			edgeID[e] = id
			p.edges = append(p.edges, e)
			chained := chainOf[e.from] == chainOf[e.to]
			p.Edges = append(p.Edges, PlanEdge{ID: id, From: e.from.id, FromPort: e.fromPort, To: e.to.id, Input: e.input, Mode: e.mode, Partitioner: e.part, Chained: chained})
			if !chained {
				if pt := e.from.ports[e.fromPort]; pt.codec == nil {
					add("%s: output type %v has no coder but crosses a network edge to %s; set one with dag.WithCoder", vertexLabel(e.from), pt.typ, vertexLabel(e.to))
				}
				p.Tasks[chainOf[e.to]].Inputs = append(p.Tasks[chainOf[e.to]].Inputs, id)
			}
		}
	}
	for _, v := range g.vertices {
		for _, e := range v.inputs {
			p.Vertices[v.id].Inputs = append(p.Vertices[v.id].Inputs, edgeID[e])
			p.Vertices[e.from.id].Outputs = append(p.Vertices[e.from.id].Outputs, edgeID[e])
		}
	}
	for i := range p.Tasks {
		t := &p.Tasks[i]
		for _, vid := range t.Vertices {
			for _, eid := range p.Vertices[vid].Outputs {
				if !p.Edges[eid].Chained {
					t.Outputs = append(t.Outputs, eid)
				}
			}
		}
		slices.Sort(t.Outputs)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	fp, err := p.computeFingerprint()
	if err != nil {
		return nil, err
	}
	p.Fingerprint = fp
	return p, nil
}

func resolveEdge(g *Graph, e *edge, add func(string, ...any)) {
	from, to := e.from, e.to
	if e.part == DefaultPartitioner {
		switch {
		case to.keyed:
			e.part = Hash
		case from.parallelism == to.parallelism:
			e.part = Forward
		default:
			e.part = Rebalance
		}
	}
	if e.part == Forward && from.parallelism != to.parallelism {
		add("%s: forward edge from %s needs equal parallelism (%d != %d)", vertexLabel(to), vertexLabel(from), from.parallelism, to.parallelism)
	}
	switch e.mode {
	case Auto:
		switch {
		case !from.bounded, g.cfg.Mode == StreamingMode, e.part == Forward:
			e.mode = Pipelined
		default:
			e.mode = Blocking
		}
	case Blocking:
		if !from.bounded {
			add("%s: blocking edge from unbounded %s (an unbounded result never completes)", vertexLabel(to), vertexLabel(from))
		}
	}
}

// chainable reports whether e's consumer runs in its producer's task.
func chainable(e *edge) bool {
	return e.part == Forward && e.mode == Pipelined && e.from.parallelism == e.to.parallelism &&
		!e.from.noChain && !e.to.noChain && e.from.sinkInfo == nil && e.to.source == nil
}

// topoOrder sorts vertices so producers come first (Kahn's algorithm,
// stable by id) and reports cycles naming a vertex on one.
func topoOrder(vs []*vertex) ([]*vertex, error) {
	indeg := make(map[*vertex]int, len(vs))
	for _, v := range vs {
		indeg[v] += 0
		for _, e := range v.outputs {
			indeg[e.to]++
		}
	}
	var ready, order []*vertex
	for _, v := range vs {
		if indeg[v] == 0 {
			ready = append(ready, v)
		}
	}
	for len(ready) > 0 {
		slices.SortFunc(ready, func(a, b *vertex) int { return a.id - b.id })
		v := ready[0]
		ready = ready[1:]
		order = append(order, v)
		for _, e := range v.outputs {
			if indeg[e.to]--; indeg[e.to] == 0 {
				ready = append(ready, e.to)
			}
		}
	}
	if len(order) != len(vs) {
		for _, v := range vs {
			if indeg[v] > 0 {
				return nil, fmt.Errorf("%w: cycle through %s", ErrInvalid, vertexLabel(v))
			}
		}
	}
	return order, nil
}

func (p *Plan) computeFingerprint() (string, error) {
	c := *p
	c.Fingerprint = ""
	b, err := json.Marshal(&c)
	if err != nil {
		return "", fmt.Errorf("dag: encode plan: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16]), nil
}

// Verify checks that other (e.g. decoded from the master) describes the
// same job as p, as required before a process runs tasks of other.
func (p *Plan) Verify(other *Plan) error {
	if p.Fingerprint != other.Fingerprint {
		return fmt.Errorf("dag: plan fingerprint mismatch: this binary builds %s, the job was submitted with %s (different binary, arguments or configuration)", p.Fingerprint, other.Fingerprint)
	}
	return nil
}

// Graph returns the graph the plan was built from (nil for a decoded plan).
func (p *Plan) Graph() *Graph { return p.g }

func isDynamic(v *vertex) bool {
	d, ok := v.source.(interface{ dynamic() DynamicSource })
	return ok && d.dynamic() != nil
}
