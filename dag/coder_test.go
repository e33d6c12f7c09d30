package dag_test

import (
	"context"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/dag/engine"
)

func roundTrip[T any](t *testing.T, vals ...T) {
	t.Helper()
	c := dag.CoderFor[T]()
	if c == nil {
		t.Fatalf("no coder for %T", *new(T))
	}
	var buf []byte
	for _, v := range vals {
		buf = c.Append(buf, v)
	}
	for i, want := range vals {
		got, n, err := c.Decode(buf)
		if err != nil {
			t.Fatalf("%T value %d: %v", want, i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%T value %d: got %v, want %v", want, i, got, want)
		}
		buf = buf[n:]
	}
	if len(buf) != 0 {
		t.Fatalf("%T: %d bytes left", *new(T), len(buf))
	}
}

type point struct{ X, Y int }

func (p point) MarshalBinary() ([]byte, error) { return []byte{byte(p.X), byte(p.Y)}, nil }
func (p *point) UnmarshalBinary(b []byte) error {
	if len(b) != 2 {
		return errors.New("point: want 2 bytes")
	}
	p.X, p.Y = int(b[0]), int(b[1])
	return nil
}

func TestBuiltinCoders(t *testing.T) {
	roundTrip(t, "", "a", "héllo wörld", string(make([]byte, 300)))
	roundTrip(t, []byte{}, []byte{1, 2, 3})
	roundTrip(t, true, false)
	roundTrip(t, int64(0), int64(-1), int64(math.MaxInt64), int64(math.MinInt64))
	roundTrip(t, 0, -5, 1<<40)
	roundTrip(t, int8(-128), int8(127))
	roundTrip(t, uint64(math.MaxUint64), uint64(0))
	roundTrip(t, uint8(255))
	roundTrip(t, 3.25, math.Inf(-1))
	roundTrip(t, float32(1.5))
	roundTrip(t, dag.KV[string, int64]{Key: "k", Value: 3})
	roundTrip(t, dag.KV[int, dag.KV[string, bool]]{Key: 1, Value: dag.KV[string, bool]{Key: "x", Value: true}})
	roundTrip(t, dag.Optional[string]{}, dag.Optional[string]{V: "v", Set: true})
	roundTrip(t, point{1, 2})
	if dag.CoderFor[struct{ A chan int }]() != nil {
		t.Error("coder for a type that cannot have one")
	}
	if dag.CoderFor[dag.KV[string, chan int]]() != nil {
		t.Error("coder for a KV whose value has none")
	}
}

func TestCoderErrorsOnTruncation(t *testing.T) {
	c := dag.CoderFor[dag.KV[string, int64]]()
	buf := c.Append(nil, dag.KV[string, int64]{Key: "hello", Value: 1 << 50})
	for i := 0; i < len(buf); i++ {
		if _, _, err := c.Decode(buf[:i]); !errors.Is(err, dag.ErrCorruptRecord) {
			t.Fatalf("truncated to %d bytes: err = %v", i, err)
		}
	}
}

func TestKeyGroupRanges(t *testing.T) {
	for _, maxP := range []int{1, 7, 128} {
		for p := 1; p <= maxP && p <= 20; p++ {
			owned := make([]int, maxP)
			for s := 0; s < p; s++ {
				from, to := engine.KeyGroupRange(s, maxP, p)
				for kg := from; kg < to; kg++ {
					owned[kg]++
					if got := engine.SubtaskForKeyGroup(kg, maxP, p); got != s {
						t.Fatalf("max %d p %d: key group %d in range of %d but owned by %d", maxP, p, kg, s, got)
					}
				}
			}
			for kg, n := range owned {
				if n != 1 {
					t.Fatalf("max %d p %d: key group %d owned %d times", maxP, p, kg, n)
				}
			}
		}
	}
}

// collectSink receives buffers from an encoder.
type collectSink struct{ bufs map[int][][]byte }

func (c *collectSink) Send(_ context.Context, ch int, buf []byte) error {
	c.bufs[ch] = append(c.bufs[ch], append([]byte(nil), buf...))
	return nil
}

func (c *collectSink) SendBroadcast(_ context.Context, buf []byte) error {
	c.bufs[-1] = append(c.bufs[-1], append([]byte(nil), buf...))
	return nil
}

func TestEncoderPartitionsByKeyGroup(t *testing.T) {
	g := dag.New("j", dag.Config{Parallelism: 3, MaxParallelism: 16})
	s := dag.FromSource(g, "src", stubSource[string]{true}, nil)
	c := dag.Aggregate(dag.KeyBy(s, ident), dag.Agg[string, int64, int64]{
		Zero: func() int64 { return 0 }, Add: func(n int64, _ string) int64 { return n + 1 },
		Result: func(n int64) int64 { return n }}, dag.Name("count"))
	dag.ToSink(c, "out", stubSink[dag.KV[string, int64]]{})
	p, err := g.Build()
	if err != nil {
		t.Fatal(err)
	}
	var shuffle int = -1
	for _, e := range p.Edges {
		if !e.Chained {
			shuffle = e.ID
		}
	}
	enc, err := p.Engine().NewEncoder(shuffle, engine.EncoderSpec{Channels: 3, BufferSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := p.Engine().NewDecoder(shuffle)
	if err != nil {
		t.Fatal(err)
	}
	var b dag.Batch[string]
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h", "a", "b"}
	for i, k := range keys {
		b.Append(k, int64(1000+i))
	}
	sink := &collectSink{bufs: map[int][][]byte{}}
	if err := enc.Encode(context.Background(), &b, sink); err != nil {
		t.Fatal(err)
	}
	if err := enc.Flush(context.Background(), sink); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	total := 0
	for ch, bufs := range sink.bufs {
		for _, buf := range bufs {
			out, err := dec.Decode(buf)
			if err != nil {
				t.Fatal(err)
			}
			ob := out.(*dag.Batch[string])
			for i, k := range ob.Vals {
				total++
				if prev, ok := seen[k]; ok && prev != ch {
					t.Errorf("key %q on channels %d and %d", k, prev, ch)
				}
				seen[k] = ch
				if ob.TS[i] < 1000 || ob.TS[i] >= 1000+int64(len(keys)) {
					t.Errorf("timestamp %d lost in transit", ob.TS[i])
				}
			}
		}
	}
	if total != len(keys) {
		t.Errorf("decoded %d records, want %d", total, len(keys))
	}
}

func FuzzDecodeFrame(f *testing.F) {
	c := dag.CoderFor[dag.KV[string, int64]]()
	f.Add(c.Append([]byte{engine.FrameData, 2}, dag.KV[string, int64]{Key: "x", Value: 9}))
	f.Add([]byte{engine.FrameData})
	f.Add([]byte{engine.FrameData, 0xff, 0xff})
	g := dag.New("j", dag.Config{Parallelism: 2})
	s := dag.FromSource(g, "src", stubSource[string]{true}, nil)
	agg := dag.Aggregate(dag.KeyBy(s, ident), countAgg())
	dag.ToSink(agg, "out", stubSink[dag.KV[string, int64]]{})
	p, err := g.Build()
	if err != nil {
		f.Fatal(err)
	}
	var shuffle int
	for _, e := range p.Edges {
		if !e.Chained {
			shuffle = e.ID
		}
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		dec, err := p.Engine().NewDecoder(shuffle)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = dec.Decode(buf) // must not panic or hang
		_, _ = engine.DecodeWatermark(buf)
	})
}
