package scheduler

import "sort"

// Region is a pipelined region: a set of tasks connected by pipelined
// exchanges that must run at the same time, and therefore are deployed,
// failed over and restarted together. Regions talk to each other only through
// blocking results.
//
// Region IDs are dense and ordered by each region's first task, where tasks
// are ordered by (Vertex, Subtask); so the same Topology always yields the
// same regions with the same IDs.
type Region struct {
	// ID is the region's index in the slice ComputeRegions and
	// Scheduler.Regions return.
	ID int
	// Tasks are the region's execution vertices, ordered by (Vertex, Subtask).
	Tasks []TaskID
	// Vertices are the IDs of the task vertices with at least one subtask in
	// the region, ascending.
	Vertices []int
	// Inputs are the IDs of the regions whose blocking results this region
	// consumes, ascending. The region is deployed only once those results
	// exist.
	Inputs []int
	// Outputs are the IDs of the regions consuming this region's blocking
	// results, ascending.
	Outputs []int
}

// ComputeRegions validates topo and returns its pipelined regions, without
// building a Scheduler. It is what `dagctl plan` prints.
//
// The algorithm: (1) union the execution vertices joined by pipelined edges
// (pointwise: subtask i with subtask i; all-to-all: every producer with every
// consumer); (2) build the graph of those components over blocking edges;
// (3) merge every strongly connected component of that graph (for example
// A→B blocking next to A→C→B pipelined) so the region graph is a DAG.
// Blocking edges that end up inside a region are consumed within it.
func ComputeRegions(topo Topology) ([]Region, error) {
	if err := topo.Validate(); err != nil {
		return nil, err
	}
	return buildPlan(topo).exportRegions(), nil
}

// VertexRegions maps every vertex of topo to the IDs of the regions holding
// its subtasks, ascending; regions must come from ComputeRegions(topo) or
// Scheduler.Regions.
func VertexRegions(topo Topology, regions []Region) [][]int {
	out := make([][]int, len(topo.Vertices))
	for _, r := range regions {
		for _, v := range r.Vertices {
			if v >= 0 && v < len(out) {
				out[v] = append(out[v], r.ID)
			}
		}
	}
	return out
}

// plan is the immutable execution-vertex view of a valid Topology. Tasks are
// addressed by a dense index: offset[v] + subtask.
type plan struct {
	topo      Topology
	offset    []int    // vertex → index of its subtask 0
	ids       []TaskID // task index → TaskID
	regionOf  []int    // task index → region ID
	producers [][]int  // task index → tasks whose blocking results it reads
	consumers [][]int  // task index → tasks reading its blocking results
	regions   []regionPlan
}

// regionPlan is the precomputed shape of one region.
type regionPlan struct {
	tasks    []int          // ascending task indices
	vertices []int          // ascending vertex IDs
	inputs   []int          // producer tasks in other regions whose results it needs, ascending
	in, out  []int          // producer / consumer region IDs, ascending
	groups   [][]int        // tasks grouped by subtask index, to co-locate pipelines in one slot
	demand   []vertexDemand // slots needed per vertex (one subtask of a vertex per slot)
}

// vertexDemand is the number of a region's tasks of one vertex.
type vertexDemand struct{ vertex, count int }

func buildPlan(topo Topology) *plan {
	p := &plan{topo: topo, offset: make([]int, len(topo.Vertices))}
	for i, v := range topo.Vertices {
		p.offset[i] = len(p.ids)
		for s := 0; s < v.Parallelism; s++ {
			p.ids = append(p.ids, TaskID{Vertex: i, Subtask: s})
		}
	}
	n := len(p.ids)
	p.producers = make([][]int, n)
	p.consumers = make([][]int, n)

	// (1) Components over pipelined edges.
	uf := newUnionFind(n)
	for _, e := range topo.Edges {
		if e.Mode == Blocking {
			p.eachPair(e, func(from, to int) {
				p.consumers[from] = append(p.consumers[from], to)
				p.producers[to] = append(p.producers[to], from)
			})
			continue
		}
		if e.Pattern == Pointwise {
			for s := 0; s < topo.Vertices[e.From].Parallelism; s++ {
				uf.union(p.offset[e.From]+s, p.offset[e.To]+s)
			}
			continue
		}
		first := p.offset[e.From]
		for s := 0; s < topo.Vertices[e.From].Parallelism; s++ {
			uf.union(first, p.offset[e.From]+s)
		}
		for s := 0; s < topo.Vertices[e.To].Parallelism; s++ {
			uf.union(first, p.offset[e.To]+s)
		}
	}
	for i := range p.producers {
		p.producers[i] = sortedUnique(p.producers[i])
		p.consumers[i] = sortedUnique(p.consumers[i])
	}
	comp := denseLabels(n, uf.find)

	// (2) Component graph over blocking edges, (3) merge its cycles.
	ncomp := 0
	for _, c := range comp {
		ncomp = max(ncomp, c+1)
	}
	adj := make([][]int, ncomp)
	for from := 0; from < n; from++ {
		for _, to := range p.consumers[from] {
			if comp[from] != comp[to] {
				adj[comp[from]] = append(adj[comp[from]], comp[to])
			}
		}
	}
	for c := range adj {
		adj[c] = sortedUnique(adj[c])
	}
	scc := stronglyConnected(adj)
	p.regionOf = denseLabels(n, func(i int) int { return scc[comp[i]] })

	p.buildRegions()
	return p
}

// eachPair calls fn for every (producer task, consumer task) pair e connects.
func (p *plan) eachPair(e Edge, fn func(from, to int)) {
	fp, tp := p.topo.Vertices[e.From].Parallelism, p.topo.Vertices[e.To].Parallelism
	if e.Pattern == Pointwise {
		for s := 0; s < fp; s++ {
			fn(p.offset[e.From]+s, p.offset[e.To]+s)
		}
		return
	}
	for a := 0; a < fp; a++ {
		for b := 0; b < tp; b++ {
			fn(p.offset[e.From]+a, p.offset[e.To]+b)
		}
	}
}

func (p *plan) buildRegions() {
	nreg := 0
	for _, r := range p.regionOf {
		nreg = max(nreg, r+1)
	}
	p.regions = make([]regionPlan, nreg)
	for i, r := range p.regionOf {
		p.regions[r].tasks = append(p.regions[r].tasks, i)
	}
	for r := range p.regions {
		rp := &p.regions[r]
		bySubtask := map[int][]int{}
		var subtasks []int
		for _, i := range rp.tasks {
			id := p.ids[i]
			if len(rp.vertices) == 0 || rp.vertices[len(rp.vertices)-1] != id.Vertex {
				rp.vertices = append(rp.vertices, id.Vertex)
				rp.demand = append(rp.demand, vertexDemand{vertex: id.Vertex})
			}
			rp.demand[len(rp.demand)-1].count++
			if _, ok := bySubtask[id.Subtask]; !ok {
				subtasks = append(subtasks, id.Subtask)
			}
			bySubtask[id.Subtask] = append(bySubtask[id.Subtask], i)
			for _, prod := range p.producers[i] {
				if q := p.regionOf[prod]; q != r {
					rp.inputs = append(rp.inputs, prod)
					rp.in = append(rp.in, q)
				}
			}
			for _, cons := range p.consumers[i] {
				if q := p.regionOf[cons]; q != r {
					rp.out = append(rp.out, q)
				}
			}
		}
		sort.Ints(subtasks)
		for _, s := range subtasks {
			rp.groups = append(rp.groups, bySubtask[s])
		}
		rp.inputs = sortedUnique(rp.inputs)
		rp.in = sortedUnique(rp.in)
		rp.out = sortedUnique(rp.out)
	}
}

func (p *plan) exportRegions() []Region {
	out := make([]Region, len(p.regions))
	for r, rp := range p.regions {
		reg := Region{
			ID:       r,
			Vertices: append([]int(nil), rp.vertices...),
			Inputs:   append([]int(nil), rp.in...),
			Outputs:  append([]int(nil), rp.out...),
		}
		for _, i := range rp.tasks {
			reg.Tasks = append(reg.Tasks, p.ids[i])
		}
		out[r] = reg
	}
	return out
}

// denseLabels renumbers label(i) for i in 0..n-1 to 0,1,2,... in order of
// first appearance, so labels are deterministic and ordered by smallest member.
func denseLabels(n int, label func(int) int) []int {
	ids := map[int]int{}
	out := make([]int, n)
	for i := 0; i < n; i++ {
		l := label(i)
		id, ok := ids[l]
		if !ok {
			id = len(ids)
			ids[l] = id
		}
		out[i] = id
	}
	return out
}

// stronglyConnected labels every node of the graph with its strongly
// connected component (Tarjan's algorithm). Labels are arbitrary but
// deterministic.
func stronglyConnected(adj [][]int) []int {
	n := len(adj)
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	label := make([]int, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	next, ncomp := 0, 0
	var visit func(v int)
	visit = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range adj[v] {
			if index[w] < 0 {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				label[w] = ncomp
				if w == v {
					break
				}
			}
			ncomp++
		}
	}
	for v := 0; v < n; v++ {
		if index[v] < 0 {
			visit(v)
		}
	}
	return label
}

type unionFind struct{ parent []int }

func newUnionFind(n int) *unionFind {
	uf := &unionFind{parent: make([]int, n)}
	for i := range uf.parent {
		uf.parent[i] = i
	}
	return uf
}

func (u *unionFind) find(x int) int {
	for u.parent[x] != x {
		u.parent[x] = u.parent[u.parent[x]]
		x = u.parent[x]
	}
	return x
}

func (u *unionFind) union(a, b int) {
	ra, rb := u.find(a), u.find(b)
	if ra < rb {
		u.parent[rb] = ra
	} else if rb < ra {
		u.parent[ra] = rb
	}
}

// sortedUnique sorts s in place and drops duplicates.
func sortedUnique(s []int) []int {
	if len(s) < 2 {
		return s
	}
	sort.Ints(s)
	out := s[:1]
	for _, v := range s[1:] {
		if v != out[len(out)-1] {
			out = append(out, v)
		}
	}
	return out
}
