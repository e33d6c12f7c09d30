package bench_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/bench"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/examples/wordcount/job"
)

// Run with: go test ./bench -run '^$' -bench . -benchtime 3x [-cpuprofile cpu.out]
// The Baseline* and Tight benchmarks are the plain Go programs on the same
// input; the ratio of ns/op is the engine's overhead.

func wordInput(b *testing.B) (string, int64) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "words.txt")
	if err := job.WriteSample(path, 500_000, 42); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return path, st.Size()
}

func BenchmarkWordCountBaseline(b *testing.B) {
	in, size := wordInput(b)
	out := filepath.Join(b.TempDir(), "out.txt")
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := bench.BaselineWordCount(in, out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWordCountTight is the tight loop of issue 20 part 4, which the
// wordcount job at parallelism 2 is measured against.
func BenchmarkWordCountTight(b *testing.B) {
	in, size := wordInput(b)
	out := filepath.Join(b.TempDir(), "out.txt")
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := bench.TightWordCount(in, out); err != nil {
			b.Fatal(err)
		}
	}
}

func benchmarkWordCount(b *testing.B, mode dag.ExecutionMode) {
	in, size := wordInput(b)
	dir := b.TempDir()
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out := filepath.Join(dir, "out", string(rune('a'+i%26)), mode.String())
		os.RemoveAll(out)
		g := job.Build(in, out, dag.Config{Parallelism: 2, Mode: mode})
		if _, err := dagflow.Run(context.Background(), g, dagflow.Options{Logger: slog.New(slog.DiscardHandler)}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWordCountStreaming(b *testing.B) { benchmarkWordCount(b, dag.StreamingMode) }
func BenchmarkWordCountBatch(b *testing.B)     { benchmarkWordCount(b, dag.BatchMode) }

func BenchmarkWindowedBaseline(b *testing.B) {
	in := filepath.Join(b.TempDir(), "events.csv")
	if err := bench.WriteEvents(in, 500_000); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := bench.BaselineWindowed(in); err != nil {
			b.Fatal(err)
		}
	}
}
