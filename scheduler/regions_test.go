package scheduler

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// regionString renders regions compactly: "a0 b0 | a1 b1<-{0}".
func regionString(topo Topology, regions []Region) string {
	parts := make([]string, len(regions))
	for i, r := range regions {
		names := make([]string, len(r.Tasks))
		for k, id := range r.Tasks {
			names[k] = fmt.Sprintf("%s%d", topo.VertexName(id.Vertex), id.Subtask)
		}
		parts[i] = strings.Join(names, " ")
		if len(r.Inputs) > 0 {
			parts[i] += fmt.Sprintf("<-{%s}", joinInts(r.Inputs, ","))
		}
	}
	return strings.Join(parts, " | ")
}

func TestComputeRegions(t *testing.T) {
	pp := func(from, to int) Edge { return Edge{from, to, Pipelined, Pointwise} }
	pa := func(from, to int) Edge { return Edge{from, to, Pipelined, AllToAll} }
	bp := func(from, to int) Edge { return Edge{from, to, Blocking, Pointwise} }
	ba := func(from, to int) Edge { return Edge{from, to, Blocking, AllToAll} }
	for _, tc := range []struct {
		name  string
		pars  []int
		edges []Edge
		want  string
	}{
		{"single vertex", []int{3}, nil, "a0 | a1 | a2"},
		{"pointwise chain gives p regions", []int{3, 3, 3}, []Edge{pp(0, 1), pp(1, 2)},
			"a0 b0 c0 | a1 b1 c1 | a2 b2 c2"},
		{"all-to-all pipelined gives one region", []int{2, 3}, []Edge{pa(0, 1)},
			"a0 a1 b0 b1 b2"},
		{"all-to-all merges pointwise pipelines", []int{2, 2, 2}, []Edge{pp(0, 1), pa(1, 2)},
			"a0 a1 b0 b1 c0 c1"},
		{"blocking pointwise split", []int{2, 2}, []Edge{bp(0, 1)},
			"a0 | a1 | b0<-{0} | b1<-{1}"},
		{"blocking all-to-all split", []int{2, 1}, []Edge{ba(0, 1)},
			"a0 | a1 | b0<-{0,1}"},
		{"pipelined then blocking", []int{2, 2, 1}, []Edge{pp(0, 1), ba(1, 2)},
			"a0 b0 | a1 b1 | c0<-{0,1}"},
		{"blocking inside a pipelined component", []int{1, 1, 1}, []Edge{bp(0, 1), pp(0, 2), pp(2, 1)},
			"a0 b0 c0"},
		{"region cycle merged", []int{1, 1, 1}, []Edge{bp(0, 1), bp(1, 2), pp(0, 2)},
			"a0 b0 c0"},
		{"region cycle merged per subtask", []int{2, 2, 2}, []Edge{bp(0, 1), bp(1, 2), pp(0, 2)},
			"a0 b0 c0 | a1 b1 c1"},
		{"region cycle through all-to-all", []int{2, 2, 2}, []Edge{ba(0, 1), bp(1, 2), pp(0, 2)},
			"a0 a1 b0 b1 c0 c1"},
		{"mixed", []int{2, 2, 2, 1, 1}, []Edge{pp(0, 1), ba(1, 2), pa(2, 3), bp(3, 4)},
			"a0 b0 | a1 b1 | c0 c1 d0<-{0,1} | e0<-{2}"},
		{"diamond of blocking edges", []int{1, 1, 1, 1}, []Edge{bp(0, 1), bp(0, 2), bp(1, 3), bp(2, 3)},
			"a0 | b0<-{0} | c0<-{0} | d0<-{1,2}"},
		{"ids follow first task, not topological order", []int{1, 1}, []Edge{bp(1, 0)},
			"a0<-{1} | b0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topo := Topology{Vertices: chain(tc.pars...), Edges: tc.edges}
			regions, err := ComputeRegions(topo)
			if err != nil {
				t.Fatal(err)
			}
			if got := regionString(topo, regions); got != tc.want {
				t.Fatalf("regions:\n got %s\nwant %s", got, tc.want)
			}
			checkRegionInvariants(t, topo, regions)
		})
	}
}

func TestVertexRegions(t *testing.T) {
	topo := Topology{Vertices: chain(2, 2, 1), Edges: []Edge{
		{0, 1, Pipelined, Pointwise}, {1, 2, Blocking, AllToAll}}}
	regions, err := ComputeRegions(topo)
	if err != nil {
		t.Fatal(err)
	}
	got := VertexRegions(topo, regions)
	want := [][]int{{0, 1}, {0, 1}, {2}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("VertexRegions = %v, want %v", got, want)
	}
}

// checkRegionInvariants asserts what must hold for any topology: regions
// partition the tasks, pipelined edges stay inside a region, Inputs/Outputs
// match the blocking edges crossing regions, and the region graph is acyclic.
func checkRegionInvariants(t fataler, topo Topology, regions []Region) {
	t.Helper()
	regionOf := map[TaskID]int{}
	for i, r := range regions {
		if r.ID != i {
			t.Fatalf("region at index %d has ID %d", i, r.ID)
		}
		if len(r.Tasks) == 0 {
			t.Fatalf("region %d is empty", i)
		}
		for _, id := range r.Tasks {
			if _, dup := regionOf[id]; dup {
				t.Fatalf("task %s in two regions", id)
			}
			regionOf[id] = i
		}
	}
	if len(regionOf) != topo.NumTasks() {
		t.Fatalf("regions hold %d tasks, topology has %d", len(regionOf), topo.NumTasks())
	}
	// Regions are ordered by their first task.
	for i := 1; i < len(regions); i++ {
		a, b := regions[i-1].Tasks[0], regions[i].Tasks[0]
		if a.Vertex > b.Vertex || (a.Vertex == b.Vertex && a.Subtask >= b.Subtask) {
			t.Fatalf("regions %d and %d out of order", i-1, i)
		}
	}
	in := make([]map[int]bool, len(regions))
	for i := range in {
		in[i] = map[int]bool{}
	}
	for _, e := range topo.Edges {
		fp, tp := topo.Vertices[e.From].Parallelism, topo.Vertices[e.To].Parallelism
		for a := 0; a < fp; a++ {
			for b := 0; b < tp; b++ {
				if e.Pattern == Pointwise && a != b {
					continue
				}
				from, to := TaskID{Vertex: e.From, Subtask: a}, TaskID{Vertex: e.To, Subtask: b}
				rf, rt := regionOf[from], regionOf[to]
				if e.Mode == Pipelined && rf != rt {
					t.Fatalf("pipelined pair %s -> %s crosses regions %d and %d", from, to, rf, rt)
				}
				if e.Mode == Blocking && rf != rt {
					in[rt][rf] = true
				}
			}
		}
	}
	for i, r := range regions {
		var want []int
		for q := range in[i] {
			want = append(want, q)
		}
		want = sortedUnique(want)
		if fmt.Sprint(want) != fmt.Sprint(r.Inputs) {
			t.Fatalf("region %d inputs %v, want %v", i, r.Inputs, want)
		}
		for _, q := range r.Inputs {
			found := false
			for _, o := range regions[q].Outputs {
				found = found || o == i
			}
			if !found {
				t.Fatalf("region %d consumes %d but is not among its outputs %v", i, q, regions[q].Outputs)
			}
		}
	}
	// Acyclic: repeatedly remove regions without remaining inputs.
	indeg := make([]int, len(regions))
	for i, r := range regions {
		indeg[i] = len(r.Inputs)
	}
	var queue []int
	for i, d := range indeg {
		if d == 0 {
			queue = append(queue, i)
		}
	}
	seen := 0
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		seen++
		for _, o := range regions[r].Outputs {
			if indeg[o]--; indeg[o] == 0 {
				queue = append(queue, o)
			}
		}
	}
	if seen != len(regions) {
		t.Fatalf("region graph has a cycle")
	}
}

// fataler is what both *testing.T and *rapid.T offer.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// genTopology draws a valid topology: edges only go from lower to higher
// vertex IDs, pointwise only between equal parallelisms, blocking only from
// bounded vertices.
func genTopology(t *rapid.T) Topology {
	n := rapid.IntRange(1, 6).Draw(t, "vertices")
	var topo Topology
	for i := 0; i < n; i++ {
		topo.Vertices = append(topo.Vertices, Vertex{
			ID: i, Name: fmt.Sprintf("v%d", i),
			Parallelism: rapid.IntRange(1, 4).Draw(t, "parallelism"),
			Bounded:     rapid.IntRange(0, 5).Draw(t, "bounded") > 0,
		})
	}
	for to := 1; to < n; to++ {
		for from := 0; from < to; from++ {
			if !rapid.Bool().Draw(t, "edge") {
				continue
			}
			e := Edge{From: from, To: to, Pattern: AllToAll}
			if topo.Vertices[from].Parallelism == topo.Vertices[to].Parallelism && rapid.Bool().Draw(t, "pointwise") {
				e.Pattern = Pointwise
			}
			if topo.Vertices[from].Bounded && rapid.Bool().Draw(t, "blocking") {
				e.Mode = Blocking
			}
			topo.Edges = append(topo.Edges, e)
		}
	}
	return topo
}

func TestRegionProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		topo := genTopology(t)
		regions, err := ComputeRegions(topo)
		if err != nil {
			t.Fatalf("valid topology rejected: %v", err)
		}
		checkRegionInvariants(t, topo, regions)
		// Deterministic: the same topology gives the same regions.
		again, _ := ComputeRegions(topo)
		if !reflect.DeepEqual(regions, again) {
			t.Fatalf("regions differ between two computations")
		}
	})
}
