package bench_test

import (
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/dagflow/dagflow/shuffle"
	"github.com/dagflow/dagflow/shuffle/remote"
)

// Run with: go test ./bench -run '^$' -bench Exchange -benchtime 2s
//
// BenchmarkExchange measures raw exchange throughput of one pipelined
// subpartition: a producer goroutine writes 32 KiB buffers of encoded
// word/count records and a consumer reads them, either in the same process
// (the in-memory queue) or through a loopback gRPC shuffle server and
// client, with and without S2 on the wire. MB/s counts payload bytes.

const exchangeBufferSize = 32 << 10

// wordCountBuffers builds n buffers of about size bytes laid out like the
// engine's data frames: a frame kind byte, then records of (timestamp delta
// uvarint, word length uvarint, word, count uvarint), words drawn from a
// Zipf-distributed vocabulary.
func wordCountBuffers(n, size int) [][]byte {
	rng := rand.New(rand.NewPCG(42, 7))
	const letters = "etaoinshrdlcumwfgypbvkjxqz"
	vocab := make([]string, 20000)
	for i := range vocab {
		w := make([]byte, 2+rng.IntN(9))
		for j := range w {
			w[j] = letters[min(int(rng.ExpFloat64()*6), len(letters)-1)]
		}
		vocab[i] = string(w)
	}
	zipf := rand.NewZipf(rng, 1.1, 1, uint64(len(vocab)-1))
	bufs := make([][]byte, n)
	for i := range bufs {
		b := make([]byte, 0, size)
		b = append(b, 0) // data frame
		for {
			w := vocab[zipf.Uint64()]
			if len(b)+3*binary.MaxVarintLen64+len(w) > size {
				break
			}
			b = binary.AppendUvarint(b, uint64(rng.IntN(4)))
			b = binary.AppendUvarint(b, uint64(len(w)))
			b = append(b, w...)
			b = binary.AppendUvarint(b, uint64(1+rng.IntN(1000)))
		}
		bufs[i] = b
	}
	return bufs
}

func BenchmarkExchange(b *testing.B) {
	bufs := wordCountBuffers(64, exchangeBufferSize)
	var total int
	for _, x := range bufs {
		total += len(x)
	}
	avg := int64(total / len(bufs))
	cases := []struct {
		name   string
		remote bool
		opts   remote.ClientOptions
	}{
		{name: "memory"},
		{name: "grpc", remote: true},
		{name: "grpc-s2", remote: true, opts: remote.ClientOptions{Compression: remote.CompressionS2}},
		{name: "grpc-window32", remote: true, opts: remote.ClientOptions{Window: 32}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			mem := shuffle.NewMemory(shuffle.MemoryConfig{})
			defer mem.Close()
			var reader shuffle.Service = mem
			if tc.remote {
				lis, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				gs := remote.NewGRPCServer()
				srv := remote.NewServer(mem, remote.ServerOptions{})
				srv.Register(gs)
				go func() { _ = gs.Serve(lis) }()
				defer gs.Stop()
				c, err := remote.Dial(ctx, lis.Addr().String(), tc.opts)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				reader = c
			}
			id := shuffle.PartitionID{Job: "bench", Result: "r"}
			w, err := mem.CreateWriter(ctx, id, shuffle.WriterOptions{Mode: shuffle.Pipelined, Subpartitions: 1})
			if err != nil {
				b.Fatal(err)
			}
			r, err := reader.OpenReader(ctx, id, 0, 1)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			b.SetBytes(avg)
			b.ReportAllocs()
			b.ResetTimer()
			done := make(chan error, 1)
			go func() {
				for i := range b.N {
					if err := w.Write(ctx, 0, bufs[i%len(bufs)]); err != nil {
						done <- err
						return
					}
				}
				done <- w.Commit(ctx)
			}()
			for i := range b.N {
				buf, err := r.Next(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if len(buf) != len(bufs[i%len(bufs)]) {
					b.Fatalf("buffer %d: %d bytes, want %d", i, len(buf), len(bufs[i%len(bufs)]))
				}
			}
			if _, err := r.Next(ctx); err != io.EOF {
				b.Fatalf("want io.EOF, got %v", err)
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
