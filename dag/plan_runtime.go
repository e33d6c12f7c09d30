package dag

import (
	"context"
	"fmt"

	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/scheduler"
)

// Engine returns the engine's view of the plan: the worker and the master
// use it to instantiate the user's operators, sources, sinks and coders.
// Only a plan built in this process (not one decoded from JSON) can
// instantiate them. Job authors do not need it.
func (p *Plan) Engine() engine.Plan { return planEngine{p} }

// planEngine implements engine.Plan.
type planEngine struct{ p *Plan }

// Topology implements engine.Plan.
func (pe planEngine) Topology() scheduler.Topology { return pe.p.topology() }

func (p *Plan) vertex(id int) (*vertex, error) {
	if p.g == nil {
		return nil, fmt.Errorf("dag: plan %s was decoded, not built: rebuild the graph in this process", p.Fingerprint)
	}
	if id < 0 || id >= len(p.g.vertices) {
		return nil, fmt.Errorf("dag: no vertex %d in plan", id)
	}
	return p.g.vertices[id], nil
}

// NewOperator implements engine.Plan.
func (pe planEngine) NewOperator(vertexID int) (engine.Operator, error) {
	p := pe.p
	v, err := p.vertex(vertexID)
	if err != nil {
		return nil, err
	}
	if v.newOperator == nil {
		return nil, fmt.Errorf("dag: %s is not an operator", vertexLabel(v))
	}
	return v.newOperator(), nil
}

// NewSourceInstance implements engine.Plan.
func (pe planEngine) NewSourceInstance(vertexID int) (engine.SourceInstance, error) {
	p := pe.p
	v, err := p.vertex(vertexID)
	if err != nil {
		return nil, err
	}
	if v.source == nil {
		return nil, fmt.Errorf("dag: %s is not a source", vertexLabel(v))
	}
	return v.source.newInstance(), nil
}

// Splits implements engine.Plan.
func (pe planEngine) Splits(ctx context.Context, vertexID int) ([]Split, error) {
	p := pe.p
	v, err := p.vertex(vertexID)
	if err != nil {
		return nil, err
	}
	if v.source == nil {
		return nil, fmt.Errorf("dag: %s is not a source", vertexLabel(v))
	}
	splits, err := v.source.splits(ctx, SplitContext{Parallelism: v.parallelism})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", vertexLabel(v), err)
	}
	return splits, nil
}

// Committer implements engine.Plan.
func (pe planEngine) Committer(vertexID int) (Committer, error) {
	p := pe.p
	v, err := p.vertex(vertexID)
	if err != nil {
		return nil, err
	}
	if v.sinkInfo == nil {
		return nil, fmt.Errorf("dag: %s is not a sink", vertexLabel(v))
	}
	return v.sinkInfo.committer, nil
}

// NewEncoder implements engine.Plan.
func (pe planEngine) NewEncoder(edgeID int, spec engine.EncoderSpec) (engine.EdgeEncoder, error) {
	p := pe.p
	e, err := p.edge(edgeID)
	if err != nil {
		return nil, err
	}
	pt := e.from.ports[e.fromPort]
	if pt.codec == nil {
		return nil, fmt.Errorf("dag: %s: no coder for %v", vertexLabel(e.from), pt.typ)
	}
	if spec.MaxParallelism == 0 {
		spec.MaxParallelism = p.Config.MaxParallelism
	}
	return pt.codec().newEncoder(spec, e.part, e.keyHash)
}

// NewDecoder implements engine.Plan.
func (pe planEngine) NewDecoder(edgeID int) (engine.EdgeDecoder, error) {
	p := pe.p
	e, err := p.edge(edgeID)
	if err != nil {
		return nil, err
	}
	pt := e.from.ports[e.fromPort]
	if pt.codec == nil {
		return nil, fmt.Errorf("dag: %s: no coder for %v", vertexLabel(e.from), pt.typ)
	}
	return pt.codec().newDecoder(), nil
}

func (p *Plan) edge(id int) (*edge, error) {
	if p.g == nil {
		return nil, fmt.Errorf("dag: plan %s was decoded, not built", p.Fingerprint)
	}
	if id < 0 || id >= len(p.edges) {
		return nil, fmt.Errorf("dag: no edge %d in plan", id)
	}
	return p.edges[id], nil
}

// IsDynamic implements engine.Plan.
func (pe planEngine) IsDynamic(vertexID int) bool {
	p := pe.p
	if vertexID < 0 || vertexID >= len(p.Vertices) {
		return false
	}
	return p.Vertices[vertexID].Dynamic
}

// MoreSplits implements engine.Plan.
func (pe planEngine) MoreSplits(ctx context.Context, vertexID, round int, finished []FinishedSplit) ([]Split, bool, error) {
	p := pe.p
	v, err := p.vertex(vertexID)
	if err != nil {
		return nil, false, err
	}
	d, ok := v.source.(interface{ dynamic() DynamicSource })
	if !ok || d.dynamic() == nil {
		return nil, true, nil
	}
	splits, done, err := d.dynamic().MoreSplits(ctx, SplitContext{Parallelism: v.parallelism}, round, finished)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", vertexLabel(v), err)
	}
	return splits, done, nil
}
