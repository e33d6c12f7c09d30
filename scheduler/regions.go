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
//
// Blocking edges are never materialised as producer/consumer task pairs
// (an N×N all-to-all edge would need N² of them). A region's blocking inputs
// are input groups instead, after Flink's consumed partition groups: the
// producer tasks of one all-to-all edge form one group shared by every
// consumer region, so N consumers of N producers cost N+N, not N².
type plan struct {
	topo     Topology
	offset   []int    // vertex → index of its subtask 0
	ids      []TaskID // task index → TaskID
	regionOf []int    // task index → region ID
	// producesResult[v]: vertex v has an outgoing blocking edge, so each
	// of its subtasks writes a blocking result.
	producesResult []bool
	// blockingOut[v]: the blocking edges v produces into.
	blockingOut [][]Edge
	regions     []regionPlan
	groups      []inputGroup
	// vertexGroups[v]: the range groups holding every subtask of v;
	// taskGroups[i]: the list groups holding task i. A task's result
	// counts towards all of them.
	vertexGroups [][]int
	taskGroups   [][]int
}

// inputGroup is a set of producer tasks whose blocking results the consumer
// regions of the group need before they may run. Its members are either the
// index range [lo, hi) (all subtasks of a vertex) or list.
type inputGroup struct {
	lo, hi int
	list   []int
	// consumers are the regions consuming the group, ascending; none of
	// them holds a member.
	consumers []int
	// producers are the regions of the members, ascending.
	producers []int
}

func (g *inputGroup) size() int {
	if g.list != nil {
		return len(g.list)
	}
	return g.hi - g.lo
}

// each calls fn for every member, ascending.
func (g *inputGroup) each(fn func(i int)) {
	if g.list != nil {
		for _, i := range g.list {
			fn(i)
		}
		return
	}
	for i := g.lo; i < g.hi; i++ {
		fn(i)
	}
}

// regionPlan is the precomputed shape of one region.
type regionPlan struct {
	tasks    []int          // ascending task indices
	vertices []int          // ascending vertex IDs
	in       []int          // input groups it consumes, ascending
	out      []int          // input groups its tasks are members of, ascending
	groups   [][]int        // tasks grouped by subtask index, to co-locate pipelines in one slot
	demand   []vertexDemand // slots needed per vertex (one subtask of a vertex per slot)
}

// vertexDemand is the number of a region's tasks of one vertex.
type vertexDemand struct{ vertex, count int }

func buildPlan(topo Topology) *plan {
	nv := len(topo.Vertices)
	p := &plan{topo: topo, offset: make([]int, nv), producesResult: make([]bool, nv),
		blockingOut: make([][]Edge, nv), vertexGroups: make([][]int, nv)}
	for i, v := range topo.Vertices {
		p.offset[i] = len(p.ids)
		for s := 0; s < v.Parallelism; s++ {
			p.ids = append(p.ids, TaskID{Vertex: i, Subtask: s})
		}
	}
	n := len(p.ids)
	p.taskGroups = make([][]int, n)

	// (1) Components over pipelined edges.
	uf := newUnionFind(n)
	for _, e := range topo.Edges {
		if e.Mode == Blocking {
			p.producesResult[e.From] = true
			p.blockingOut[e.From] = append(p.blockingOut[e.From], e)
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
	comp := denseLabels(n, uf.find)

	// (2) Component graph over blocking edges, (3) merge its cycles. An
	// all-to-all edge links every producer component to every consumer
	// component; instead of those pairs, the graph gets one extra node per
	// such edge, producers → node → consumers, which keeps reachability and
	// so the strongly connected components of the real nodes.
	ncomp := 0
	for _, c := range comp {
		ncomp = max(ncomp, c+1)
	}
	adj := make([][]int, ncomp)
	for _, e := range topo.Edges {
		if e.Mode != Blocking {
			continue
		}
		fp, tp := topo.Vertices[e.From].Parallelism, topo.Vertices[e.To].Parallelism
		if e.Pattern == Pointwise {
			for s := 0; s < fp; s++ {
				if a, b := comp[p.offset[e.From]+s], comp[p.offset[e.To]+s]; a != b {
					adj[a] = append(adj[a], b)
				}
			}
			continue
		}
		hub := len(adj)
		adj = append(adj, nil)
		for s := 0; s < fp; s++ {
			adj[comp[p.offset[e.From]+s]] = append(adj[comp[p.offset[e.From]+s]], hub)
		}
		for s := 0; s < tp; s++ {
			adj[hub] = append(adj[hub], comp[p.offset[e.To]+s])
		}
	}
	for c := range adj {
		adj[c] = sortedUnique(adj[c])
	}
	scc := stronglyConnected(adj)
	p.regionOf = denseLabels(n, func(i int) int { return scc[comp[i]] })

	p.buildRegions()
	p.buildGroups()
	return p
}

// buildGroups builds the input groups of every blocking edge and links them
// to their consumer and producer regions. An all-to-all edge gets one range
// group, shared by every consumer region holding none of its producers; a
// consumer region holding some of them (regions merged around a cycle) gets
// a list group of the others. A pointwise edge gets a list group per
// consumer region.
func (p *plan) buildGroups() {
	for _, e := range p.topo.Edges {
		if e.Mode != Blocking {
			continue
		}
		fp, tp := p.topo.Vertices[e.From].Parallelism, p.topo.Vertices[e.To].Parallelism
		from, to := p.offset[e.From], p.offset[e.To]
		// Consumer regions in order of first appearance, with their tasks
		// for pointwise edges.
		var consumerRegions []int
		byRegion := map[int][]int{}
		for s := 0; s < tp; s++ {
			r := p.regionOf[to+s]
			if _, ok := byRegion[r]; !ok {
				consumerRegions = append(consumerRegions, r)
				byRegion[r] = nil
			}
			if e.Pattern == Pointwise {
				if prod := from + s; p.regionOf[prod] != r {
					byRegion[r] = append(byRegion[r], prod)
				}
			}
		}
		if e.Pattern == Pointwise {
			for _, r := range consumerRegions {
				if list := byRegion[r]; len(list) > 0 {
					p.addGroup(inputGroup{list: sortedUnique(list), consumers: []int{r}})
				}
			}
			continue
		}
		producerRegions := map[int]bool{}
		for s := 0; s < fp; s++ {
			producerRegions[p.regionOf[from+s]] = true
		}
		var shared []int
		for _, r := range consumerRegions {
			if !producerRegions[r] {
				shared = append(shared, r)
				continue
			}
			var list []int
			for s := 0; s < fp; s++ {
				if p.regionOf[from+s] != r {
					list = append(list, from+s)
				}
			}
			if len(list) > 0 {
				p.addGroup(inputGroup{list: list, consumers: []int{r}})
			}
		}
		if len(shared) > 0 {
			g := p.addGroup(inputGroup{lo: from, hi: from + fp, consumers: sortedUnique(shared)})
			p.vertexGroups[e.From] = append(p.vertexGroups[e.From], g)
		}
	}
	for r := range p.regions {
		rp := &p.regions[r]
		rp.in = sortedUnique(rp.in)
		rp.out = sortedUnique(rp.out)
	}
}

// addGroup registers g and returns its ID.
func (p *plan) addGroup(g inputGroup) int {
	id := len(p.groups)
	var prods []int
	g.each(func(i int) {
		prods = append(prods, p.regionOf[i])
		if g.list != nil {
			p.taskGroups[i] = append(p.taskGroups[i], id)
		}
	})
	g.producers = sortedUnique(prods)
	for _, r := range g.consumers {
		p.regions[r].in = append(p.regions[r].in, id)
	}
	for _, r := range g.producers {
		p.regions[r].out = append(p.regions[r].out, id)
	}
	p.groups = append(p.groups, g)
	return id
}

// groupsOf calls fn for every input group task i is a member of.
func (p *plan) groupsOf(i int, fn func(g int)) {
	for _, g := range p.vertexGroups[p.ids[i].Vertex] {
		fn(g)
	}
	for _, g := range p.taskGroups[i] {
		fn(g)
	}
}

// anyConsumer calls fn for every task reading task i's blocking result.
// It stops and returns true as soon as fn returns true.
func (p *plan) anyConsumer(i int, fn func(c int) bool) bool {
	id := p.ids[i]
	for _, e := range p.blockingOut[id.Vertex] {
		if e.Pattern == Pointwise {
			if fn(p.offset[e.To] + id.Subtask) {
				return true
			}
			continue
		}
		for s := 0; s < p.topo.Vertices[e.To].Parallelism; s++ {
			if fn(p.offset[e.To] + s) {
				return true
			}
		}
	}
	return false
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
		}
		sort.Ints(subtasks)
		for _, s := range subtasks {
			rp.groups = append(rp.groups, bySubtask[s])
		}
	}
}

// regionInputs returns the IDs of the regions whose blocking results region
// r consumes, ascending.
func (p *plan) regionInputs(r int) []int {
	var out []int
	for _, g := range p.regions[r].in {
		out = append(out, p.groups[g].producers...)
	}
	return sortedUnique(out)
}

// regionOutputs returns the IDs of the regions consuming region r's
// blocking results, ascending.
func (p *plan) regionOutputs(r int) []int {
	var out []int
	for _, g := range p.regions[r].out {
		out = append(out, p.groups[g].consumers...)
	}
	return sortedUnique(out)
}

func (p *plan) exportRegions() []Region {
	out := make([]Region, len(p.regions))
	for r, rp := range p.regions {
		reg := Region{
			ID:       r,
			Vertices: append([]int(nil), rp.vertices...),
			Inputs:   p.regionInputs(r),
			Outputs:  p.regionOutputs(r),
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
