package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/internal/pebblestate"
	"github.com/dagflow/dagflow/shuffle"
)

// takeCheckpoint snapshots the task's chain at barrier b: the barrier goes
// downstream first (behind every record emitted before it), then each
// operator captures its state synchronously, and the captured state is
// written asynchronously while the task goes on.
func (t *task) takeCheckpoint(ctx context.Context, b engine.Barrier) error {
	start := time.Now()
	t.lastBarrier = b.ID
	t.rec.barrier.Store(b.ID)
	up, err := t.w.beginCheckpoint(t, b.ID)
	if err != nil {
		t.w.finishCheckpoint(ctx, t, b.ID, nil, err)
		return nil // a checkpoint failure does not fail the task
	}
	frame := engine.EncodeBarrier(nil, b)
	for _, o := range t.outs {
		if o.spec.Mode != shuffle.Pipelined {
			continue
		}
		if err := o.flush(ctx); err != nil {
			return err
		}
		if err := o.w.WriteBroadcast(ctx, frame); err != nil {
			return fmt.Errorf("write barrier %d to %s: %w", b.ID, o.spec.Partition, err)
		}
		o.idle = false
	}
	ts := checkpoint.TaskState{Task: t.dep.ID.Vertex, Subtask: t.dep.ID.Subtask, AlignmentNanos: t.alignNanos}
	t.alignNanos = 0
	if t.dep.Inputs != nil {
		ts.InputOffsets = t.inputOffsets()
	}
	type pending struct {
		op int
		fn engine.SnapshotFunc
	}
	var fns []pending
	type storeSnap struct {
		op int
		ps *pebblestate.PendingSnapshot
	}
	var stores []storeSnap
	for _, n := range t.nodes {
		os := checkpoint.OperatorState{Vertex: n.vid}
		has := false
		if n.op == nil {
			splits, err := t.source.SnapshotSplits()
			if err != nil {
				if dag.IsFatal(err) {
					return err
				}
				t.w.finishCheckpoint(ctx, t, b.ID, nil, err)
				return nil
			}
			for _, sp := range splits {
				os.Splits = append(os.Splits, checkpoint.SplitState{Split: sp.Split, MaxTimestamp: sp.MaxTimestamp})
			}
			has = true
		}
		if n.sink != nil {
			c, err := n.sink.Prepare(ctx)
			if err != nil {
				return fmt.Errorf("prepare sink %s for checkpoint %d: %w", n.name, b.ID, err)
			}
			os.Committables = c
			has = true
		}
		// The operator first: it may write state it caches in memory to
		// its store, which is snapshotted next.
		if s, ok := n.op.(engine.Snapshotter); ok {
			fn, err := s.SnapshotState(ctx, b)
			if err != nil {
				// Capturing state fails for reasons a restart does not
				// fix (e.g. a state type without a coder).
				return dag.Fatal(fmt.Errorf("snapshot %s for checkpoint %d: %w", n.name, b.ID, err))
			}
			if fn != nil {
				fns = append(fns, pending{op: len(ts.Operators), fn: fn})
				has = true
			}
		}
		if n.store != nil {
			var ps *pebblestate.PendingSnapshot
			var err error
			if b.Kind == engine.KindCheckpoint {
				ps, err = n.store.Snapshot(ctx, b.ID, up)
			} else {
				ps, err = n.store.SnapshotFull(ctx, b.ID, up) // savepoints share nothing
			}
			if err != nil {
				t.w.finishCheckpoint(ctx, t, b.ID, nil, fmt.Errorf("snapshot state store of %s: %w", n.name, err))
				return nil
			}
			stores = append(stores, storeSnap{op: len(ts.Operators), ps: ps})
			has = true
		}
		if has {
			ts.Operators = append(ts.Operators, os)
		}
	}
	ts.SyncNanos = time.Since(start).Nanoseconds()
	ack := &TaskAck{Attempt: t.dep.Attempt}
	t.w.wg.Add(1)
	t.async.Add(1)
	go func() {
		defer t.w.wg.Done()
		defer t.async.Done()
		astart := time.Now()
		actx := context.WithoutCancel(ctx)
		for _, p := range fns {
			hw := &handleWriter{ctx: actx, up: up, os: &ts.Operators[p.op]}
			if err := t.writeState(p.fn, hw); err != nil {
				t.w.finishCheckpointWith(actx, t, b.ID, nil, fmt.Errorf("write state of vertex %d: %w", ts.Operators[p.op].Vertex, err), prepared(ts))
				var pe *PanicError
				if errors.As(err, &pe) {
					// A user coder panicked: the task fails, as it would
					// had the panic been on its own goroutine.
					t.failAsync(err)
				}
				return
			}
			ts.Bytes += hw.bytes
		}
		ts.IncrementalBytes = ts.Bytes
		for _, s := range stores {
			res, err := s.ps.Upload(actx)
			if err != nil {
				t.w.finishCheckpointWith(actx, t, b.ID, nil, fmt.Errorf("upload state store of vertex %d: %w", ts.Operators[s.op].Vertex, err), prepared(ts))
				return
			}
			res.Apply(&ts.Operators[s.op])
			ts.Bytes += res.FullBytes
			ts.IncrementalBytes += res.IncrementalBytes
		}
		ts.AsyncNanos = time.Since(astart).Nanoseconds()
		ack.State = ts
		t.w.finishCheckpoint(actx, t, b.ID, ack, nil)
	}()
	return nil
}

// writeState runs an operator's snapshot function, which encodes state
// with the user's coders: a panic there becomes a *PanicError of the task.
func (t *task) writeState(fn engine.SnapshotFunc, w engine.StateWriter) error {
	return t.userCall(func() error { return fn(w) })
}

// inputOffsets returns buffers consumed per blocking input channel. It is
// only called from the task goroutine, which owns the counters.
func (t *task) inputOffsets() map[string]int64 {
	if t.gateChans == nil {
		return nil
	}
	var m map[string]int64
	for _, c := range t.gateChans {
		if !c.blocking || c.consumed == 0 {
			continue
		}
		if m == nil {
			m = make(map[string]int64)
		}
		m[c.key] = c.consumed
	}
	return m
}

// restore loads the task's state from a checkpoint after its operators
// opened.
func (t *task) restore(ctx context.Context, r *TaskRestore) error {
	st, err := t.w.storageFor(t.dep.Job, t.plan)
	if err != nil {
		return err
	}
	for _, n := range t.nodes {
		vr := r.Vertices[n.vid]
		if vr == nil {
			continue
		}
		if n.op == nil {
			for _, ss := range vr.Splits {
				if err := t.source.RestoreSplit(ctx, engine.SplitPosition{Split: ss.Split, MaxTimestamp: ss.MaxTimestamp}); err != nil {
					return err
				}
			}
			continue
		}
		s, ok := n.op.(engine.Snapshotter)
		if !ok {
			if len(vr.KeyGroups)+len(vr.Operator) > 0 && !r.AllowNonRestored {
				return dag.Fatal(fmt.Errorf("%s has state in the checkpoint but its operator keeps none (allow non-restored state to drop it)", n.name))
			}
			continue
		}
		rs, err := readRestored(ctx, st, vr, r.AllowNonRestored)
		if err != nil {
			return &RestoreError{Checkpoint: r.Checkpoint, Err: fmt.Errorf("%s: %w", n.name, err)}
		}
		if err := s.RestoreState(ctx, rs); err != nil {
			return fmt.Errorf("%s: %w", n.name, err)
		}
	}
	return nil
}

// prepared returns what the task's sinks prepared at a barrier, by vertex:
// a declined checkpoint hands it to the master, which commits it later.
func prepared(ts checkpoint.TaskState) map[int][][]byte {
	var m map[int][][]byte
	for _, os := range ts.Operators {
		if len(os.Committables) > 0 {
			if m == nil {
				m = make(map[int][][]byte)
			}
			m[os.Vertex] = os.Committables
		}
	}
	return m
}
