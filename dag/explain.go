package dag

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/dagflow/dagflow/scheduler"
)

// MarshalText implements encoding.TextMarshaler.
func (m ExchangeMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *ExchangeMode) UnmarshalText(b []byte) error {
	for _, c := range []ExchangeMode{Auto, Pipelined, Blocking} {
		if c.String() == string(b) {
			*m = c
			return nil
		}
	}
	return fmt.Errorf("dag: unknown exchange mode %q", b)
}

// MarshalText implements encoding.TextMarshaler.
func (p Partitioner) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Partitioner) UnmarshalText(b []byte) error {
	for _, c := range []Partitioner{DefaultPartitioner, Forward, Hash, Rebalance, Broadcast} {
		if c.String() == string(b) {
			*p = c
			return nil
		}
	}
	return fmt.Errorf("dag: unknown partitioner %q", b)
}

// MarshalText implements encoding.TextMarshaler.
func (m ExecutionMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *ExecutionMode) UnmarshalText(b []byte) error {
	v, err := ParseExecutionMode(string(b))
	*m = v
	return err
}

// topology returns the scheduler's view of the plan: one task vertex per
// operator chain and one edge per network edge.
func (p *Plan) topology() scheduler.Topology {
	var t scheduler.Topology
	for _, pt := range p.Tasks {
		t.Vertices = append(t.Vertices, scheduler.Vertex{ID: pt.ID, Name: pt.Name, Parallelism: pt.Parallelism, Bounded: pt.Bounded})
	}
	for _, e := range p.Edges {
		if e.Chained {
			continue
		}
		se := scheduler.Edge{From: p.Vertices[e.From].Task, To: p.Vertices[e.To].Task, Mode: scheduler.Pipelined, Pattern: scheduler.AllToAll}
		if e.Mode == Blocking {
			se.Mode = scheduler.Blocking
		}
		if e.Partitioner == Forward {
			se.Pattern = scheduler.Pointwise
		}
		t.Edges = append(t.Edges, se)
	}
	return t
}

// Explain writes the plan for people: format "text" lists tasks (operator
// chains) with their vertices, parallelism and pipelined regions, and
// every edge with its exchange mode and partitioner; "dot" draws it for
// Graphviz; "json" is the serialized plan.
func (p *Plan) Explain(w io.Writer, format string) error {
	topo := p.topology()
	regions, err := scheduler.ComputeRegions(topo)
	if err != nil {
		return err
	}
	vr := scheduler.VertexRegions(topo, regions)
	regionList := func(task int) string {
		var s []string
		for _, r := range vr[task] {
			s = append(s, fmt.Sprint(r))
		}
		if len(s) > 6 {
			s = append(s[:3], "…", s[len(s)-1])
		}
		return strings.Join(s, ",")
	}
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	case "dot":
		fmt.Fprintf(w, "digraph %q {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n", p.Job)
		for _, t := range p.Tasks {
			fmt.Fprintf(w, "  subgraph cluster_t%d {\n    label=%q;\n    style=rounded;\n", t.ID,
				fmt.Sprintf("task %d: %s ×%d, regions %s", t.ID, t.Name, t.Parallelism, regionList(t.ID)))
			for _, vid := range t.Vertices {
				v := p.Vertices[vid]
				fmt.Fprintf(w, "    v%d [label=%q];\n", v.ID, fmt.Sprintf("%s\n%s (p=%d)", v.Name, v.Kind, v.Parallelism))
			}
			fmt.Fprintf(w, "  }\n")
		}
		for _, e := range p.Edges {
			style := "solid"
			if e.Mode == Blocking {
				style = "dashed"
			}
			label := fmt.Sprintf("%s/%s", e.Partitioner, e.Mode)
			if e.Chained {
				label = "chained"
			}
			fmt.Fprintf(w, "  v%d -> v%d [label=%q, style=%s];\n", e.From, e.To, label, style)
		}
		_, err := fmt.Fprintln(w, "}")
		return err
	case "text", "":
		fmt.Fprintf(w, "job %q  parallelism=%d  max-parallelism=%d  mode=%s  fingerprint=%s\n",
			p.Job, p.Config.Parallelism, p.Config.MaxParallelism, p.Config.Mode, p.Fingerprint)
		fmt.Fprintf(w, "%d tasks, %d pipelined regions\n", len(p.Tasks), len(regions))
		for _, t := range p.Tasks {
			b := "bounded"
			if !t.Bounded {
				b = "unbounded"
			}
			fmt.Fprintf(w, "task %d %q  parallelism=%d  %s  regions=[%s]\n", t.ID, t.Name, t.Parallelism, b, regionList(t.ID))
			for _, vid := range t.Vertices {
				v := p.Vertices[vid]
				fmt.Fprintf(w, "  vertex %d %-10s %q", v.ID, v.Kind, v.Name)
				if len(v.Ports) > 0 {
					fmt.Fprintf(w, " -> %s", v.Ports[0].Type)
				}
				fmt.Fprintln(w)
			}
		}
		fmt.Fprintln(w, "edges:")
		for _, e := range p.Edges {
			kind := "network"
			if e.Chained {
				kind = "chained"
			}
			fmt.Fprintf(w, "  %d -> %d  %-9s %-9s %s\n", e.From, e.To, e.Partitioner, e.Mode, kind)
		}
		return nil
	}
	return fmt.Errorf("dag: unknown explain format %q (want text, dot or json)", format)
}
