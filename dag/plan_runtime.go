package dag

import (
	"context"
	"fmt"
)

// The methods in this file are engine-facing: they instantiate the user's
// operators of a plan built in this process.

func (p *Plan) vertex(id int) (*vertex, error) {
	if p.g == nil {
		return nil, fmt.Errorf("dag: plan %s was decoded, not built: rebuild the graph in this process", p.Fingerprint)
	}
	if id < 0 || id >= len(p.g.vertices) {
		return nil, fmt.Errorf("dag: no vertex %d in plan", id)
	}
	return p.g.vertices[id], nil
}

// NewOperator returns a fresh operator instance of a non-source vertex.
func (p *Plan) NewOperator(vertexID int) (Operator, error) {
	v, err := p.vertex(vertexID)
	if err != nil {
		return nil, err
	}
	if v.newOperator == nil {
		return nil, fmt.Errorf("dag: %s is not an operator", vertexLabel(v))
	}
	return v.newOperator(), nil
}

// NewSourceInstance returns a fresh instance of a source vertex.
func (p *Plan) NewSourceInstance(vertexID int) (SourceInstance, error) {
	v, err := p.vertex(vertexID)
	if err != nil {
		return nil, err
	}
	if v.source == nil {
		return nil, fmt.Errorf("dag: %s is not a source", vertexLabel(v))
	}
	return v.source.newInstance(), nil
}

// Splits enumerates the splits of a source vertex.
func (p *Plan) Splits(ctx context.Context, vertexID int) ([]Split, error) {
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

// Committer returns the committer of a sink vertex (nil if none).
func (p *Plan) Committer(vertexID int) (Committer, error) {
	v, err := p.vertex(vertexID)
	if err != nil {
		return nil, err
	}
	if v.sinkInfo == nil {
		return nil, fmt.Errorf("dag: %s is not a sink", vertexLabel(v))
	}
	return v.sinkInfo.committer, nil
}

// NewEncoder returns the encoder one producer subtask uses for a network
// edge.
func (p *Plan) NewEncoder(edgeID int, spec EncoderSpec) (EdgeEncoder, error) {
	e, err := p.edge(edgeID)
	if err != nil {
		return nil, err
	}
	pt := e.from.ports[e.fromPort]
	if pt.codec == nil {
		return nil, fmt.Errorf("dag: %s: no coder for %v", vertexLabel(e.from), pt.typ)
	}
	spec.Partitioner = e.part
	if spec.MaxParallelism == 0 {
		spec.MaxParallelism = p.Config.MaxParallelism
	}
	return pt.codec().newEncoder(spec, e.keyHash)
}

// NewDecoder returns a decoder for buffers of a network edge.
func (p *Plan) NewDecoder(edgeID int) (EdgeDecoder, error) {
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

// IsDynamic reports whether a source vertex enumerates splits in rounds
// (DynamicSource).
func (p *Plan) IsDynamic(vertexID int) bool {
	if vertexID < 0 || vertexID >= len(p.Vertices) {
		return false
	}
	return p.Vertices[vertexID].Dynamic
}

// MoreSplits enumerates round of a dynamic source vertex.
func (p *Plan) MoreSplits(ctx context.Context, vertexID, round int, finished []FinishedSplit) ([]Split, bool, error) {
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
