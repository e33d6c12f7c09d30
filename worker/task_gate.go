package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/shuffle"
)

// gateMsg is one buffer (or the end) of an input channel.
type gateMsg struct {
	ch  *inChan
	buf []byte
	err error
}

type inChan struct {
	gate    int // index in deployment Inputs
	input   int
	spec    InputChannel
	r       shuffle.Reader
	wm      int64
	idle    bool
	ended   bool
	release chan struct{}
	// blocking channels read a finished producer's result: no barriers
	// come on them; consumed buffers are checkpointed instead (skip is
	// what a restored attempt skips).
	blocking bool
	key      string
	consumed int64
	skip     int64
	// idx is the channel's index in the task's gate channels (and in
	// its aligner).
	idx int
}

// runGate reads all network inputs until they end.
func (t *task) runGate(ctx context.Context) error {
	head := t.nodes[0]
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	decoders := make([]engine.EdgeDecoder, len(t.dep.Inputs))
	// Channels still open per consumer input index: several gates (a
	// union) may feed one input, which ends when all of them ended.
	remaining := make(map[int]int)
	for _, g := range t.dep.Inputs {
		remaining[g.Input] += 0
	}
	var chans []*inChan
	for gi, g := range t.dep.Inputs {
		dec, err := t.plan.Engine().NewDecoder(g.Edge)
		if err != nil {
			return err
		}
		decoders[gi] = dec
		for _, c := range g.Channels {
			svc, err := t.w.resolver.Resolve(c.Location)
			if err != nil {
				for _, ch := range chans {
					ch.r.Close()
				}
				return &InputError{Partition: c.Partition, Location: c.Location, Err: err}
			}
			from, to := g.Range(c)
			c.From, c.To = from, to
			r, err := svc.OpenReader(ctx, c.Partition, from, to)
			if err != nil {
				for _, ch := range chans {
					ch.r.Close()
				}
				return &InputError{Partition: c.Partition, Location: c.Location, Err: err}
			}
			ic := &inChan{idx: len(chans), gate: gi, input: g.Input, spec: c, r: r, wm: dag.MinTime, release: make(chan struct{}),
				blocking: g.Blocking, key: fmt.Sprintf("%d/%d", g.Edge, c.Partition.Producer)}
			if rs := t.dep.Restore; rs != nil && g.Blocking {
				ic.skip = rs.InputOffsets[ic.key]
				ic.consumed = ic.skip
			}
			chans = append(chans, ic)
			remaining[g.Input]++
		}
	}
	t.gateChans = chans
	blocking := make([]bool, len(chans))
	for i, c := range chans {
		blocking[i] = c.blocking
	}
	t.align = newAligner(blocking, t.lastBarrier)
	msgs := make(chan gateMsg, len(chans))
	done := make(chan struct{})
	var readers sync.WaitGroup
	defer func() {
		cancel()
		close(done)
		readers.Wait() // Next returns once ctx is cancelled
		for _, ch := range chans {
			ch.r.Close()
		}
	}()
	for _, ch := range chans {
		readers.Add(1)
		go func(ch *inChan) {
			defer readers.Done()
			for {
				buf, err := ch.r.Next(ctx)
				if err == nil && ch.skip > 0 {
					ch.skip-- // consumed before the restored checkpoint
					continue
				}
				select {
				case msgs <- gateMsg{ch: ch, buf: buf, err: err}:
				case <-done:
					return
				}
				if err != nil {
					return
				}
				select {
				case <-ch.release:
				case <-done:
					return
				}
			}
		}(ch)
	}
	// Inputs with no channels end at once.
	for _, input := range sortedInputs(remaining) {
		if remaining[input] == 0 {
			if err := head.op.EndInput(ctx, input); err != nil {
				return err
			}
		}
	}
	open := len(chans)
	curWM := dag.MinTime
	flushTick := time.NewTicker(t.bufferTimeout())
	defer flushTick.Stop()
	var timer *time.Timer
	for open > 0 {
		var timerC <-chan time.Time
		if next, err := t.timers(ctx); err != nil {
			return err
		} else if next != dag.MaxTime {
			d := time.Duration(next-t.w.nowMillis()) * time.Millisecond
			if timer == nil {
				timer = time.NewTimer(d)
				defer timer.Stop()
			} else {
				timer.Reset(d)
			}
			timerC = timer.C
		}
		var m gateMsg
		select {
		case m = <-msgs:
		case <-flushTick.C:
			if err := t.flushOutputs(ctx); err != nil {
				return err
			}
			continue
		case <-timerC:
			continue
		case b := <-t.triggers:
			if err := t.onGateTrigger(ctx, b, chans); err != nil {
				return err
			}
			continue
		case id := <-t.notices:
			if err := t.notify(ctx, id); err != nil {
				return err
			}
			continue
		case <-ctx.Done():
			return ctx.Err()
		}
		ch := m.ch
		if m.err != nil {
			if !errors.Is(m.err, io.EOF) {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return &InputError{Partition: ch.spec.Partition, Location: ch.spec.Location, Err: m.err}
			}
			ch.ended, ch.wm = true, dag.MaxTime
			open--
			if err := t.advanceWatermark(ctx, chans, &curWM); err != nil {
				return err
			}
			if err := t.applyAlign(ctx, t.align.End(ch.idx), chans); err != nil {
				return err
			}
			if remaining[ch.input]--; remaining[ch.input] == 0 {
				if err := head.op.EndInput(ctx, ch.input); err != nil {
					return fmt.Errorf("%s: %w", head.name, err)
				}
			}
			continue
		}
		if len(m.buf) > 0 && m.buf[0] == engine.FrameBarrier {
			if err := t.onBarrier(ctx, ch, m.buf, chans); err != nil {
				return err
			}
			continue // onBarrier releases the channel
		}
		if err := t.align.Data(ch.idx); err != nil {
			return err
		}
		if err := t.handleBuffer(ctx, head, ch, decoders[ch.gate], m.buf, chans, &curWM); err != nil {
			return err
		}
		if ch.blocking {
			ch.consumed++
		}
		ch.release <- struct{}{}
	}
	return nil
}

// onBarrier handles a barrier arriving on a channel: the channel is held
// until the barrier arrived on every live pipelined channel (alignment),
// then the task takes its checkpoint and releases them all.
func (t *task) onBarrier(ctx context.Context, ch *inChan, buf []byte, chans []*inChan) error {
	b, err := engine.DecodeBarrier(buf)
	if err != nil {
		return fmt.Errorf("input %d of %s: %w", ch.input, t.name, err)
	}
	st := t.align.Barrier(ch.idx, b)
	if !st.Hold {
		ch.release <- struct{}{} // stale: the channel goes on
	}
	return t.applyAlign(ctx, st, chans)
}

// onGateTrigger starts a checkpoint at a task whose producers finished:
// it completes when the remaining channels ended.
func (t *task) onGateTrigger(ctx context.Context, b engine.Barrier, chans []*inChan) error {
	return t.applyAlign(ctx, t.align.Trigger(b), chans)
}

// applyAlign carries out an aligner step: a completed alignment takes the
// checkpoint, then held channels are released.
func (t *task) applyAlign(ctx context.Context, st alignStep, chans []*inChan) error {
	if st.Aborted != 0 {
		// A newer checkpoint overtook one that was aborted upstream.
		t.log.Debug("checkpoint alignment superseded", "old", st.Aborted, "new", st.Barrier.ID)
	}
	if st.Started {
		t.alignStart = time.Now()
	}
	var err error
	if st.Complete {
		t.alignNanos = time.Since(t.alignStart).Nanoseconds()
		err = t.takeCheckpoint(ctx, st.Barrier)
	}
	for _, i := range st.Release {
		chans[i].release <- struct{}{}
	}
	return err
}

func (t *task) handleBuffer(ctx context.Context, head *opNode, ch *inChan, dec engine.EdgeDecoder, buf []byte, chans []*inChan, curWM *int64) error {
	if len(buf) == 0 {
		return fmt.Errorf("worker: empty buffer on input %d", ch.input)
	}
	switch buf[0] {
	case engine.FrameData:
		b, err := dec.Decode(buf)
		if err != nil {
			return fmt.Errorf("decode input %d of %s: %w", ch.input, head.name, err)
		}
		ch.idle = false
		n := b.(lener).Len()
		head.metrics.RecordsIn.Add(int64(n))
		head.metrics.BytesIn.Add(int64(len(buf)))
		return head.op.ProcessBatch(ctx, ch.input, b)
	case engine.FrameWatermark:
		wm, err := engine.DecodeWatermark(buf)
		if err != nil {
			return err
		}
		ch.idle = false
		if wm > ch.wm {
			ch.wm = wm
		}
		return t.advanceWatermark(ctx, chans, curWM)
	case engine.FrameIdle:
		ch.idle = true
		return t.advanceWatermark(ctx, chans, curWM)
	case engine.FrameBarrier:
		return nil // barriers in a blocking result are not aligned
	}
	return fmt.Errorf("worker: unknown frame kind %q on input %d of %s", buf[0], ch.input, head.name)
}

// advanceWatermark recomputes the minimum watermark over active channels
// and forwards it when it advanced.
func (t *task) advanceWatermark(ctx context.Context, chans []*inChan, cur *int64) error {
	min, active := dag.MaxTime, 0
	for _, c := range chans {
		if c.idle && !c.ended {
			continue
		}
		active++
		if c.wm < min {
			min = c.wm
		}
	}
	if active == 0 {
		return t.markIdle(ctx)
	}
	if min > *cur {
		*cur = min
		return t.nodes[0].op.ProcessWatermark(ctx, min)
	}
	return nil
}

func sortedInputs(m map[int]int) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}
