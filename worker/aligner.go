package worker

import (
	"fmt"

	"github.com/dagflow/dagflow/dag/engine"
)

// aligner decides checkpoint barrier alignment over a task's input
// channels. It is pure bookkeeping: the task feeds it what arrived
// (a barrier, the end of a channel, data, a trigger from the master) and
// it answers which channels to hold or release and when alignment
// completed; it has no goroutines, clocks or I/O.
//
// A barrier is aligned once it arrived on every live pipelined channel:
// a channel that delivered it is held (read no further) until then.
// Blocking channels carry no barriers and ended channels none any more,
// so neither is waited for. A barrier older than the alignment in
// progress or than the last completed one is stale and passes; a newer
// one aborts the alignment in progress (its checkpoint was abandoned
// upstream) and starts its own.
type aligner struct {
	blocking []bool
	ended    []bool
	held     []bool
	last     int64           // id of the last barrier aligned (or restored)
	pending  *engine.Barrier // the alignment in progress
}

// alignStep is the aligner's answer to one event.
type alignStep struct {
	// Hold: keep the channel that delivered the barrier blocked.
	Hold bool
	// Release lists held channels to unblock now, in ascending order.
	Release []int
	// Started: a new alignment began (for Barrier).
	Started bool
	// Complete: the barrier in Barrier is aligned; the task takes its
	// checkpoint before releasing the channels in Release.
	Complete bool
	// Barrier is the barrier that started or completed alignment.
	Barrier engine.Barrier
	// Aborted is the id of an alignment abandoned for a newer barrier
	// (0: none).
	Aborted int64
}

// newAligner returns an aligner over channels whose blocking flags are
// given; last is the id of the checkpoint the task restored from (0: none).
func newAligner(blocking []bool, last int64) *aligner {
	n := len(blocking)
	return &aligner{blocking: blocking, ended: make([]bool, n), held: make([]bool, n), last: last}
}

// Last returns the id of the last barrier aligned (or restored).
func (a *aligner) Last() int64 { return a.last }

// Pending returns the barrier being aligned, if any.
func (a *aligner) Pending() (engine.Barrier, bool) {
	if a.pending == nil {
		return engine.Barrier{}, false
	}
	return *a.pending, true
}

// Barrier feeds barrier b arriving on channel ch.
func (a *aligner) Barrier(ch int, b engine.Barrier) alignStep {
	if a.blocking[ch] || b.ID <= a.last || (a.pending != nil && b.ID < a.pending.ID) {
		return alignStep{} // stale: the channel goes on
	}
	var st alignStep
	if a.pending != nil && b.ID > a.pending.ID {
		st.Aborted = a.pending.ID
		st.Release = a.releaseAll()
		a.pending = nil
	}
	if a.pending == nil {
		a.pending = &b
		st.Started, st.Barrier = true, b
	}
	a.held[ch] = true
	st.Hold = true
	a.complete(&st)
	return st
}

// Trigger feeds a checkpoint trigger from the master, sent to a task
// whose producers finished: the alignment completes once the remaining
// live channels delivered the barrier or ended.
func (a *aligner) Trigger(b engine.Barrier) alignStep {
	if b.ID <= a.last || (a.pending != nil && b.ID <= a.pending.ID) {
		return alignStep{}
	}
	var st alignStep
	if a.pending != nil {
		st.Aborted = a.pending.ID
		st.Release = a.releaseAll()
	}
	a.pending = &b
	st.Started, st.Barrier = true, b
	a.complete(&st)
	return st
}

// End feeds the end of channel ch. An ended channel reads nothing more,
// so it is never in Release.
func (a *aligner) End(ch int) alignStep {
	a.ended[ch] = true
	a.held[ch] = false
	var st alignStep
	a.complete(&st)
	return st
}

// Data feeds data arriving on channel ch: a held channel must deliver
// nothing until it is released.
func (a *aligner) Data(ch int) error {
	if a.held[ch] {
		return fmt.Errorf("worker: data on channel %d held for the alignment of barrier %d", ch, a.pending.ID)
	}
	return nil
}

// complete ends the alignment in progress if every live pipelined
// channel is held.
func (a *aligner) complete(st *alignStep) {
	if a.pending == nil {
		return
	}
	for i := range a.held {
		if !a.blocking[i] && !a.ended[i] && !a.held[i] {
			return
		}
	}
	st.Complete, st.Barrier = true, *a.pending
	a.last = a.pending.ID
	a.pending = nil
	st.Release = append(st.Release, a.releaseAll()...)
}

func (a *aligner) releaseAll() []int {
	var out []int
	for i, h := range a.held {
		if h {
			a.held[i] = false
			out = append(out, i)
		}
	}
	return out
}
