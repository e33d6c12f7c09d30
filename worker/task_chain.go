package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/shuffle"
)

// build instantiates operators and wires outputs.
func (t *task) build(ctx context.Context) error {
	now := t.w.nowMillis
	for i, vid := range t.pt.Vertices {
		pv := t.plan.Vertices[vid]
		n := &opNode{vid: vid, name: pv.Name, metrics: t.w.metricsFor(t.dep.Job, vid, t.dep.ID.Subtask)}
		n.oc = &engine.OperatorContext{
			Job: t.dep.Job, Vertex: vid, Name: pv.Name, Subtask: t.dep.ID.Subtask,
			Parallelism: pv.Parallelism, MaxParallelism: t.plan.Config.MaxParallelism,
			Attempt: t.dep.Attempt, BatchSize: t.plan.Config.BatchSize, Bounded: pv.Bounded,
			Now: now, Metrics: n.metrics,
		}
		if i == 0 && pv.Kind == "source" {
			src, err := t.plan.Engine().NewSourceInstance(vid)
			if err != nil {
				return err
			}
			t.source = src
		} else {
			op, err := t.plan.Engine().NewOperator(vid)
			if err != nil {
				return err
			}
			n.op = op
			if p, ok := op.(engine.ProcessingTimeOperator); ok {
				n.pto = p
				t.ptos = append(t.ptos, n)
			}
			if s, ok := op.(engine.SinkOperator); ok {
				n.sink = s
			}
			n.oc.KeyedStore = t.keyedStoreOpener(ctx, n)
		}
		t.nodes = append(t.nodes, n)
		t.byVID[vid] = n
	}
	// Network outputs.
	netByEdge := make(map[int]*netOutput)
	for _, op := range t.dep.Outputs {
		pe := t.plan.Edges[op.Edge]
		enc, err := t.plan.Engine().NewEncoder(op.Edge, engine.EncoderSpec{
			Channels: op.Subpartitions, Subtask: t.dep.ID.Subtask, BufferSize: t.w.cfg.BufferSize,
		})
		if err != nil {
			return err
		}
		if pe.Partitioner == dag.Forward {
			enc, err = t.plan.Engine().NewEncoder(op.Edge, engine.EncoderSpec{Channels: 1, BufferSize: t.w.cfg.BufferSize})
			if err != nil {
				return err
			}
		}
		w, err := t.w.shuffle.CreateWriter(ctx, op.Partition, shuffle.WriterOptions{Mode: op.Mode, Subpartitions: op.Subpartitions})
		if err != nil {
			return fmt.Errorf("create partition %s: %w", op.Partition, err)
		}
		no := &netOutput{spec: op, enc: enc, w: w, lastWM: dag.MinTime, bp: &t.byVID[pe.From].metrics.BackPressureNanos, bytes: &t.byVID[pe.From].metrics.BytesOut}
		t.outs = append(t.outs, no)
		netByEdge[op.Edge] = no
	}
	// Ports: fan out to chained consumers and network edges.
	for _, n := range t.nodes {
		pv := t.plan.Vertices[n.vid]
		ports := len(pv.Ports)
		n.oc.Outputs = make([]engine.Output, ports)
		fans := make([]*fanout, ports)
		for p := range fans {
			fans[p] = &fanout{out: &n.metrics.RecordsOut}
			n.oc.Outputs[p] = fans[p]
		}
		for _, eid := range pv.Outputs {
			pe := t.plan.Edges[eid]
			f := fans[pe.FromPort]
			if pe.Chained {
				f.chained = append(f.chained, chainTarget{node: t.byVID[pe.To], input: pe.Input})
			} else if no, ok := netByEdge[eid]; ok {
				f.net = append(f.net, no)
			} else {
				return fmt.Errorf("worker: deployment of %s has no partition for edge %d", t.name, eid)
			}
		}
	}
	// Open tail first so consumers are ready before producers emit.
	for i := len(t.nodes) - 1; i >= 0; i-- {
		n := t.nodes[i]
		var err error
		if n.op != nil {
			err = n.op.Open(ctx, n.oc)
		} else {
			err = t.source.Open(ctx, n.oc)
		}
		if err != nil {
			return fmt.Errorf("open %s: %w", n.name, err)
		}
	}
	if r := t.dep.Restore; r != nil && !r.Finished {
		if err := t.restore(ctx, r); err != nil {
			var re *RestoreError
			if errors.As(err, &re) {
				return err
			}
			return fmt.Errorf("restore %s from checkpoint %d: %w", t.name, r.Checkpoint, err)
		}
	}
	return nil
}
