package fileio

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/dagflow/dagflow/dag"
)

// benchFile writes ~size bytes of log-like lines (~80 bytes each).
func benchFile(b *testing.B, size int) string {
	b.Helper()
	buf := make([]byte, 0, size+100)
	for i := 0; len(buf) < size; i++ {
		buf = append(buf, "2024-01-01T00:00:00Z INFO request id="...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, " path=/api/v1/items status=200 bytes="...)
		buf = strconv.AppendInt(buf, int64(i%4096), 10)
		buf = append(buf, '\n')
	}
	p := filepath.Join(b.TempDir(), "bench.txt")
	writeFile(b, p, buf)
	return p
}

func BenchmarkLines(b *testing.B) {
	const size = 32 << 20
	p := benchFile(b, size)
	src := Lines(p).With(WithSplitSize(size))
	ctx := context.Background()
	splits, err := src.Splits(ctx, dag.SplitContext{Parallelism: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	var batch dag.Batch[string]
	for b.Loop() {
		lines := 0
		for _, sp := range splits {
			r, err := src.OpenSplit(ctx, dag.ReaderContext{}, sp)
			if err != nil {
				b.Fatal(err)
			}
			for {
				batch.Reset()
				n, err := r.ReadBatch(ctx, &batch, dag.DefaultBatchSize)
				lines += n
				if err != nil {
					break
				}
			}
			r.Close()
		}
		if lines == 0 {
			b.Fatal("no lines")
		}
	}
}

func BenchmarkCSVSink(b *testing.B) {
	ctx := context.Background()
	batch := &dag.Batch[int]{}
	for i := range dag.DefaultBatchSize {
		batch.Append(i*7919, dag.MinTime)
	}
	sink := CSVSink(b.TempDir(), func(v int) []string {
		return []string{strconv.Itoa(v), "some text, with a comma", "plain"}
	})
	w, err := sink.NewWriter(ctx, dag.SinkContext{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*dag.DefaultBatchSize)/b.Elapsed().Seconds(), "records/s")
}
