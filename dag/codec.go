package dag

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/dagflow/dagflow/dag/engine"
)

// DefaultBufferSize is the size of exchange buffers.
const DefaultBufferSize = 32 << 10

// edgeCodec builds encoders and decoders for one port type.
type edgeCodec interface {
	newEncoder(spec engine.EncoderSpec, part Partitioner, keyHash any) (engine.EdgeEncoder, error)
	newDecoder() engine.EdgeDecoder
}

type codec[T any] struct{ c Coder[T] }

func (cd codec[T]) newDecoder() engine.EdgeDecoder {
	return &decoder[T]{c: cd.c}
}

func (cd codec[T]) newEncoder(spec engine.EncoderSpec, part Partitioner, keyHash any) (engine.EdgeEncoder, error) {
	if spec.BufferSize <= 0 {
		spec.BufferSize = DefaultBufferSize
	}
	if spec.Channels < 1 {
		return nil, fmt.Errorf("dag: encoder with %d channels", spec.Channels)
	}
	e := &encoder[T]{c: cd.c, spec: spec, part: part, next: spec.Subtask % spec.Channels}
	n := spec.Channels
	if part == Broadcast {
		n = 1
	}
	e.bufs = make([][]byte, n)
	e.prevTS = make([]int64, n)
	for i := range e.bufs {
		e.bufs[i] = append(make([]byte, 0, spec.BufferSize), engine.FrameData)
	}
	if part == Hash {
		h, ok := keyHash.(func(T) uint64)
		if !ok || h == nil {
			return nil, fmt.Errorf("dag: hash edge without a key function for %T", *new(T))
		}
		e.hash = h
	}
	return e, nil
}

type encoder[T any] struct {
	c      Coder[T]
	spec   engine.EncoderSpec
	part   Partitioner
	bufs   [][]byte
	prevTS []int64
	hash   func(T) uint64
	next   int
}

func (e *encoder[T]) Encode(ctx context.Context, batch any, sink engine.BufferSink) error {
	b := batch.(*Batch[T])
	n := e.spec.Channels
	for i, v := range b.Vals {
		ch := 0
		switch e.part {
		case Hash:
			kg := int(e.hash(v) % uint64(e.spec.MaxParallelism))
			ch = kg * n / e.spec.MaxParallelism
		case Rebalance:
			ch = e.next
			e.next++
			if e.next == n {
				e.next = 0
			}
		}
		buf := e.bufs[ch]
		ts := b.TS[i]
		buf = binary.AppendVarint(buf, ts-e.prevTS[ch])
		e.prevTS[ch] = ts
		buf = e.c.Append(buf, v)
		e.bufs[ch] = buf
		if len(buf) >= e.spec.BufferSize {
			if err := e.flush(ctx, ch, sink); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *encoder[T]) flush(ctx context.Context, ch int, sink engine.BufferSink) error {
	buf := e.bufs[ch]
	var err error
	if e.part == Broadcast {
		err = sink.SendBroadcast(ctx, buf)
	} else {
		err = sink.Send(ctx, ch, buf)
	}
	if cap(buf) > 4*e.spec.BufferSize { // one huge record: do not keep its buffer
		buf = make([]byte, 0, e.spec.BufferSize)
	}
	e.bufs[ch] = append(buf[:0], engine.FrameData)
	e.prevTS[ch] = 0
	return err
}

func (e *encoder[T]) Flush(ctx context.Context, sink engine.BufferSink) error {
	for ch, buf := range e.bufs {
		if len(buf) > 1 {
			if err := e.flush(ctx, ch, sink); err != nil {
				return err
			}
		}
	}
	return nil
}

type decoder[T any] struct {
	c Coder[T]
	b Batch[T]
}

func (d *decoder[T]) Decode(buf []byte) (any, error) {
	d.b.Reset()
	if len(buf) == 0 || buf[0] != engine.FrameData {
		return nil, fmt.Errorf("%w: not a data frame", ErrCorruptRecord)
	}
	p := buf[1:]
	var ts int64
	for len(p) > 0 {
		dts, k := binary.Varint(p)
		if k <= 0 {
			return nil, fmt.Errorf("%w: timestamp at offset %d", ErrCorruptRecord, len(buf)-len(p))
		}
		ts += dts
		p = p[k:]
		v, n, err := d.c.Decode(p)
		if err != nil {
			return nil, fmt.Errorf("record at offset %d: %w", len(buf)-len(p), err)
		}
		p = p[n:]
		d.b.Vals = append(d.b.Vals, v)
		d.b.TS = append(d.b.TS, ts)
	}
	return &d.b, nil
}

// addPort adds an output port of type T to v.
func addPort[T any](g *Graph, v *vertex, name string, explicit any) int {
	var c Coder[T]
	if explicit != nil {
		var ok bool
		if c, ok = explicit.(Coder[T]); !ok {
			g.errorf("%w: %s: WithCoder got %T, want a Coder[%v]", ErrInvalid, vertexLabel(v), explicit, typeOf[T]())
		}
	}
	if c == nil {
		c = CoderFor[T]()
	}
	p := port{name: name, typ: typeOf[T]()}
	if c != nil {
		p.coder = c
		p.codec = func() edgeCodec { return codec[T]{c: c} }
	}
	v.ports = append(v.ports, p)
	return len(v.ports) - 1
}
