package remote_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"

	"github.com/dagflow/dagflow/shuffle"
	"github.com/dagflow/dagflow/shuffle/remote"
)

// wireCounter is a client stats handler counting received payload bytes
// as they crossed the wire.
type wireCounter struct{ bytes atomic.Int64 }

func (w *wireCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (w *wireCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (w *wireCounter) HandleConn(context.Context, stats.ConnStats) {}
func (w *wireCounter) HandleRPC(_ context.Context, s stats.RPCStats) {
	if in, ok := s.(*stats.InPayload); ok {
		w.bytes.Add(int64(in.WireLength))
	}
}

// TestLargeBuffers moves buffers of tens of MiB (chunked on the wire) with
// and without compression, pipelined and blocking.
func TestLargeBuffers(t *testing.T) {
	ctx := testCtx(t)
	random := make([]byte, 20<<20) // incompressible
	_, _ = rand.NewChaCha8([32]byte{1}).Read(random)
	text := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog 0123456789\n"), 150_000) // ~8 MiB
	bufs := [][]byte{random, {}, text, []byte("small")}
	for _, comp := range []remote.Compression{remote.CompressionNone, remote.CompressionS2} {
		for _, mode := range []shuffle.Mode{shuffle.Pipelined, shuffle.Blocking} {
			t.Run(comp.String()+"/"+mode.String(), func(t *testing.T) {
				mem := shuffle.NewMemory(shuffle.MemoryConfig{QueueBuffers: 2})
				defer mem.Close()
				s := startServer(t, mem, remote.ServerOptions{})
				c := dial(t, s.addr, remote.ClientOptions{Compression: comp, Window: 2})
				id := shuffle.PartitionID{Job: "j", Result: mode.String()}
				w, err := mem.CreateWriter(ctx, id, shuffle.WriterOptions{Mode: mode, Subpartitions: 1})
				if err != nil {
					t.Fatal(err)
				}
				write := func() error {
					for _, b := range bufs {
						if err := w.Write(ctx, 0, b); err != nil {
							return err
						}
					}
					return w.Commit(ctx)
				}
				done := make(chan error, 1)
				if mode == shuffle.Pipelined {
					go func() { done <- write() }()
				} else {
					done <- write()
				}
				r, err := c.OpenReader(ctx, id, 0, 1)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				for i, want := range bufs {
					got, err := r.Next(ctx)
					if err != nil {
						t.Fatalf("buffer %d: %v", i, err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("buffer %d: got %d bytes, want %d", i, len(got), len(want))
					}
				}
				if _, err := r.Next(ctx); err != io.EOF {
					t.Fatalf("want io.EOF, got %v", err)
				}
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestMaxBufferBytes: a buffer larger than the client accepts fails the
// reader instead of growing its memory without bound.
func TestMaxBufferBytes(t *testing.T) {
	ctx := testCtx(t)
	mem := shuffle.NewMemory(shuffle.MemoryConfig{})
	defer mem.Close()
	s := startServer(t, mem, remote.ServerOptions{ChunkBytes: 64 << 10})
	id := shuffle.PartitionID{Job: "j", Result: "r"}
	writeBlocking(t, mem, id, 1, 1<<20)
	for _, comp := range []remote.Compression{remote.CompressionNone, remote.CompressionS2} {
		c := dial(t, s.addr, remote.ClientOptions{MaxBufferBytes: 256 << 10, Compression: comp})
		r, err := c.OpenReader(ctx, id, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Next(ctx)
		wantContains(t, err, "MaxBufferBytes")
		r.Close()
	}
}

// TestCompressionOnTheWire checks that S2 shrinks compressible buffers on
// the wire, that a server refusing compression sends them as they are, and
// that incompressible buffers are not inflated.
func TestCompressionOnTheWire(t *testing.T) {
	ctx := testCtx(t)
	const n, size = 64, 32 << 10
	record := []byte("word\x00\x00\x00\x07 ")
	text := bytes.Repeat(record, size/len(record)+1)[:size]
	random := make([]byte, size)
	_, _ = rand.NewChaCha8([32]byte{2}).Read(random)
	for _, tc := range []struct {
		name      string
		data      []byte
		comp      remote.Compression
		refuse    bool
		maxFactor float64 // wire bytes / payload bytes
		minFactor float64
	}{
		{"none", text, remote.CompressionNone, false, 1.01, 0.99},
		{"s2-text", text, remote.CompressionS2, false, 0.2, 0},
		{"s2-refused", text, remote.CompressionS2, true, 1.01, 0.99},
		{"s2-random", random, remote.CompressionS2, false, 1.01, 0.99},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := shuffle.NewMemory(shuffle.MemoryConfig{})
			defer mem.Close()
			s := startServer(t, mem, remote.ServerOptions{DisableCompression: tc.refuse})
			wc := &wireCounter{}
			c := dial(t, s.addr, remote.ClientOptions{Compression: tc.comp, DialOptions: []grpc.DialOption{grpc.WithStatsHandler(wc)}})
			id := shuffle.PartitionID{Job: "j", Result: "r"}
			w, err := mem.CreateWriter(ctx, id, shuffle.WriterOptions{Mode: shuffle.Blocking, Subpartitions: 1})
			if err != nil {
				t.Fatal(err)
			}
			for range n {
				if err := w.Write(ctx, 0, tc.data); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			r, err := c.OpenReader(ctx, id, 0, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			start := wc.bytes.Load()
			for i := range n {
				b, err := r.Next(ctx)
				if err != nil || !bytes.Equal(b, tc.data) {
					t.Fatalf("buffer %d: %v", i, err)
				}
			}
			if _, err := r.Next(ctx); err != io.EOF {
				t.Fatalf("want io.EOF, got %v", err)
			}
			factor := float64(wc.bytes.Load()-start) / float64(n*size)
			t.Logf("wire bytes / payload bytes = %.3f", factor)
			if factor > tc.maxFactor || factor < tc.minFactor {
				t.Fatalf("wire bytes / payload bytes = %.3f, want %.2f..%.2f", factor, tc.minFactor, tc.maxFactor)
			}
		})
	}
}
