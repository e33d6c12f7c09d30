package worker

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/shuffle"
)

// lener is implemented by every *dag.Batch[T].
type lener interface{ Len() int }

// chainTarget is an operator fed by function call.
type chainTarget struct {
	node  *opNode
	input int
}

// fanout is the engine.Output of one operator port: it feeds chained
// operators directly and encodes for network edges.
type fanout struct {
	out     *atomic.Int64 // producer's RecordsOut
	chained []chainTarget
	net     []*netOutput
}

func (f *fanout) Emit(ctx context.Context, batch any) error {
	n := batch.(lener).Len()
	if n == 0 {
		return nil
	}
	f.out.Add(int64(n))
	for _, t := range f.chained {
		t.node.metrics.RecordsIn.Add(int64(n))
		if err := t.node.op.ProcessBatch(ctx, t.input, batch); err != nil {
			return err
		}
	}
	for _, o := range f.net {
		if err := o.enc.Encode(ctx, batch, o); err != nil {
			return err
		}
	}
	return nil
}

func (f *fanout) EmitWatermark(ctx context.Context, wm int64) error {
	for _, t := range f.chained {
		if err := t.node.op.ProcessWatermark(ctx, wm); err != nil {
			return err
		}
	}
	for _, o := range f.net {
		if err := o.watermark(ctx, wm); err != nil {
			return err
		}
	}
	return nil
}

// netOutput writes one network edge's partition.
type netOutput struct {
	bp     *atomic.Int64 // producer's back-pressure time
	bytes  *atomic.Int64 // producer's bytes out
	spec   OutputPartition
	enc    engine.EdgeEncoder
	w      shuffle.Writer
	frame  []byte
	lastWM int64
	idle   bool
}

// Send implements engine.BufferSink.
func (o *netOutput) Send(ctx context.Context, ch int, buf []byte) error {
	start := time.Now()
	err := o.w.Write(ctx, ch, buf)
	o.account(start, len(buf))
	return err
}

// SendBroadcast implements engine.BufferSink.
func (o *netOutput) SendBroadcast(ctx context.Context, buf []byte) error {
	start := time.Now()
	err := o.w.WriteBroadcast(ctx, buf)
	o.account(start, len(buf))
	return err
}

// account adds time a write spent waiting as back-pressure. Writes that
// return within a few microseconds found queue space.
func (o *netOutput) account(start time.Time, n int) {
	if o.bytes != nil {
		o.bytes.Add(int64(n))
	}
	if d := time.Since(start); d > 50*time.Microsecond && o.bp != nil {
		o.bp.Add(int64(d))
	}
}

func (o *netOutput) flush(ctx context.Context) error {
	return o.enc.Flush(ctx, o)
}

func (o *netOutput) watermark(ctx context.Context, wm int64) error {
	if wm <= o.lastWM && !o.idle {
		return nil
	}
	o.lastWM, o.idle = wm, false
	if err := o.flush(ctx); err != nil {
		return err
	}
	o.frame = engine.EncodeWatermark(o.frame[:0], wm)
	return o.w.WriteBroadcast(ctx, o.frame)
}

func (o *netOutput) markIdle(ctx context.Context) error {
	if o.idle {
		return nil
	}
	o.idle = true
	if err := o.flush(ctx); err != nil {
		return err
	}
	return o.w.WriteBroadcast(ctx, []byte{engine.FrameIdle})
}
