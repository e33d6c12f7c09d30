package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/dag/engine"
)

// splitWait is how long a source subtask waits before asking again for
// splits that are not there yet (dynamic sources).
const splitWait = 200 * time.Millisecond

// runSource reads splits until the source is exhausted. Unbounded sources
// take every split assigned to them; bounded ones one at a time.
func (t *task) runSource(ctx context.Context) error {
	head := t.nodes[0]
	out := head.oc.Outputs[0]
	bounded := t.plan.Vertices[head.vid].Bounded
	exhausted := false
	var askAfter time.Time
	lastWM, lastTick := dag.MinTime, time.Now()
	idle := false
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := t.pollControl(ctx); err != nil {
			return err
		}
		if t.drained {
			break
		}
		now := time.Now()
		if !exhausted && (t.source.OpenSplits() == 0 || !bounded) && !now.Before(askAfter) {
			resp, err := t.w.splits.NextSplit(ctx, t.dep.Job, SplitRequest{Vertex: head.vid, Subtask: t.dep.ID.Subtask,
				Attempt: t.dep.Attempt, Checkpoint: t.lastBarrier, Finished: t.finished})
			if err != nil {
				return fmt.Errorf("next split: %w", err)
			}
			t.rec.splitsDone(t.finished, t.lastBarrier)
			t.finished = nil
			switch {
			case resp.OK:
				t.rec.splitTaken(resp.Split.ID, t.lastBarrier)
				if err := t.source.AddSplit(ctx, resp.Split); err != nil {
					return err
				}
				continue
			case resp.Wait:
				askAfter = now.Add(splitWait)
			default:
				exhausted = true
			}
		}
		if t.source.OpenSplits() == 0 {
			if exhausted {
				break
			}
			// Waiting for splits: keep time moving downstream.
			if err := t.flushOutputs(ctx); err != nil {
				return err
			}
			if _, err := t.timers(ctx); err != nil {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		n, finished, err := t.source.Poll(ctx)
		if err != nil {
			return fmt.Errorf("source %s: %w", head.name, err)
		}
		t.finished = append(t.finished, finished...)
		head.metrics.RecordsIn.Add(int64(n))
		// The watermark follows every batch, so event time advances the
		// same way on every run over the same input.
		now = time.Now()
		wm, isIdle := t.source.Watermark(now.UnixMilli())
		if wm > lastWM {
			lastWM = wm
			if err := out.EmitWatermark(ctx, wm); err != nil {
				return err
			}
		} else if isIdle && !idle {
			if err := t.markIdle(ctx); err != nil {
				return err
			}
		}
		idle = isIdle
		if len(finished) > 0 || n == 0 || now.Sub(lastTick) >= t.bufferTimeout() {
			lastTick = now
			if err := t.flushOutputs(ctx); err != nil {
				return err
			}
			if _, err := t.timers(ctx); err != nil {
				return err
			}
		}
	}
	if len(t.finished) > 0 {
		// Report the last finished splits (dynamic sources need them).
		if _, err := t.w.splits.NextSplit(ctx, t.dep.Job, SplitRequest{Vertex: head.vid, Subtask: t.dep.ID.Subtask,
			Attempt: t.dep.Attempt, Checkpoint: t.lastBarrier, Finished: t.finished}); err != nil {
			return fmt.Errorf("report finished splits: %w", err)
		}
		t.rec.splitsDone(t.finished, t.lastBarrier)
		t.finished = nil
	}
	if t.drained {
		return nil // the final watermark preceded the drain savepoint
	}
	// The end of a bounded input: the final watermark fires everything.
	return out.EmitWatermark(ctx, dag.MaxTime)
}

// pollControl handles pending checkpoint triggers and notices without
// blocking.
func (t *task) pollControl(ctx context.Context) error {
	for {
		select {
		case b := <-t.triggers:
			if err := t.onSourceTrigger(ctx, b); err != nil {
				return err
			}
		case id := <-t.notices:
			if err := t.notify(ctx, id); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// onSourceTrigger injects a barrier at a source task.
func (t *task) onSourceTrigger(ctx context.Context, b engine.Barrier) error {
	if b.ID <= t.lastBarrier {
		return nil
	}
	if b.Kind == engine.KindDrainSavepoint {
		// Drain: every event-time window fires before the savepoint, and
		// the source ends after it.
		if err := t.nodes[0].oc.Outputs[0].EmitWatermark(ctx, dag.MaxTime); err != nil {
			return err
		}
		t.drained = true
	}
	return t.takeCheckpoint(ctx, b)
}
