package shuffle_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/dagflow/dagflow/shuffle"
)

// benchData returns buffers of 1-8 KiB of row-like, moderately compressible
// text (about 3x with fast codecs), totalling about size bytes.
func benchData(size int) [][]byte {
	rng := rand.New(rand.NewPCG(42, 42))
	cities := []string{"Berlin", "Lisbon", "Osaka", "Lagos", "Quito", "Perth", "Oslo", "Lima"}
	var bufs [][]byte
	for total := 0; total < size; {
		n := 1<<10 + rng.IntN(7<<10)
		b := make([]byte, 0, n+128)
		for len(b) < n {
			b = append(b, "id="...)
			b = strconv.AppendInt(b, rng.Int64N(1e9), 10)
			b = append(b, ",city="...)
			b = append(b, cities[rng.IntN(len(cities))]...)
			b = append(b, ",amount="...)
			b = strconv.AppendFloat(b, rng.Float64()*1e4, 'f', 2, 64)
			b = append(b, ",flag="...)
			b = strconv.AppendBool(b, rng.IntN(2) == 0)
			b = append(b, '\n')
		}
		bufs = append(bufs, b)
		total += len(b)
	}
	return bufs
}

// BenchmarkBlockingPartition writes a 64 MiB blocking partition with 100
// subpartitions, commits it, reads every subpartition back and releases it,
// for each codec and for the file-per-subpartition baseline. MB/s covers
// write + read; write-MB/s and read-MB/s split it; ratio is stored/raw.
//
//	go test ./shuffle -run '^$' -bench BlockingPartition -benchtime 3x
func BenchmarkBlockingPartition(b *testing.B) {
	const (
		total = 64 << 20
		subs  = 100
	)
	data := benchData(total)
	var raw int64
	for _, d := range data {
		raw += int64(len(d))
	}
	type variant struct {
		layout shuffle.Layout
		c      shuffle.Compression
	}
	var vs []variant
	for _, layout := range []shuffle.Layout{shuffle.LayoutSortMerge, shuffle.LayoutFilePerSubpartition} {
		for _, c := range []shuffle.Compression{shuffle.CompressionNone, shuffle.CompressionS2, shuffle.CompressionLZ4, shuffle.CompressionZstd} {
			vs = append(vs, variant{layout, c})
		}
	}
	for _, v := range vs {
		b.Run(fmt.Sprintf("%s/%s", v.layout, v.c), func(b *testing.B) {
			l, err := shuffle.NewLocal(shuffle.LocalConfig{Dir: b.TempDir(), Compression: v.c, Layout: v.layout})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			ctx := context.Background()
			b.SetBytes(raw)
			b.ReportAllocs()
			var writeTime, readTime time.Duration
			var stored int64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id := shuffle.PartitionID{Job: "bench", Result: "r", Attempt: i}
				start := time.Now()
				w, err := l.CreateWriter(ctx, id, shuffle.WriterOptions{Mode: shuffle.Blocking, Subpartitions: subs})
				if err != nil {
					b.Fatal(err)
				}
				for j, d := range data {
					if err := w.Write(ctx, (j*7919)%subs, d); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Commit(ctx); err != nil {
					b.Fatal(err)
				}
				writeTime += time.Since(start)
				start = time.Now()
				var got int64
				for s := range subs {
					r, err := l.OpenReader(ctx, id, s, s+1)
					if err != nil {
						b.Fatal(err)
					}
					for {
						buf, err := r.Next(ctx)
						if err == io.EOF {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
						got += int64(len(buf))
					}
					r.Close()
				}
				readTime += time.Since(start)
				if got != raw {
					b.Fatalf("read %d bytes, wrote %d", got, raw)
				}
				st, err := l.Stat(ctx, id)
				if err != nil {
					b.Fatal(err)
				}
				stored = st.Bytes
				if err := l.Release(ctx, id.Job); err != nil {
					b.Fatal(err)
				}
			}
			mb := float64(raw) * float64(b.N) / 1e6
			b.ReportMetric(mb/writeTime.Seconds(), "write-MB/s")
			b.ReportMetric(mb/readTime.Seconds(), "read-MB/s")
			b.ReportMetric(float64(stored)/float64(raw), "ratio")
		})
	}
}

// BenchmarkPipelined streams 4 KiB buffers through one pipelined
// subpartition from a writer to a concurrent reader (the hand-over cost of
// the bounded queue; zero allocations per buffer in steady state).
//
//	go test ./shuffle -run '^$' -bench Pipelined
func BenchmarkPipelined(b *testing.B) {
	svc := shuffle.NewMemory(shuffle.MemoryConfig{})
	defer svc.Close()
	ctx := context.Background()
	id := shuffle.PartitionID{Job: "bench", Result: "p"}
	w, err := svc.CreateWriter(ctx, id, shuffle.WriterOptions{Mode: shuffle.Pipelined, Subpartitions: 1})
	if err != nil {
		b.Fatal(err)
	}
	r, err := svc.OpenReader(ctx, id, 0, 1)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan int64)
	go func() {
		defer r.Close()
		var n int64
		for {
			buf, err := r.Next(ctx)
			if err != nil {
				done <- n
				return
			}
			n += int64(len(buf))
		}
	}()
	buf := make([]byte, 4<<10)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Write(ctx, 0, buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	if n := <-done; n != int64(b.N)*int64(len(buf)) {
		b.Fatalf("read %d bytes", n)
	}
}
