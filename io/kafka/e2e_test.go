package kafka

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
)

// TestEndToEndWordCount runs a job on the embedded cluster: a bounded
// Kafka source → keyed count → exactly-once Kafka sink, and compares the
// committed output with an independent count.
func TestEndToEndWordCount(t *testing.T) {
	brokers := newFake(t, 4, "words", "counts-batch", "counts-stream")
	rnd := rand.New(rand.NewPCG(7, 7))
	want := map[string]int64{}
	for p := int32(0); p < 4; p++ {
		ws := make([]string, 500)
		for i := range ws {
			ws[i] = fmt.Sprintf("w%d", rnd.IntN(60))
			want[strings.ToUpper(ws[i])]++
		}
		produce(t, brokers, "words", p, 0, ws...)
	}
	ser := func(dst *Record, kv dag.KV[string, int64]) error {
		dst.Key = []byte(kv.Key)
		dst.Value = strconv.AppendInt([]byte(kv.Key+"\t"), kv.Value, 10)
		return nil
	}
	for _, tc := range []struct {
		mode  dag.ExecutionMode
		topic string
	}{{dag.BatchMode, "counts-batch"}, {dag.StreamingMode, "counts-stream"}} {
		t.Run(tc.topic, func(t *testing.T) {
			g := dag.New("kafka-wc", dag.Config{Parallelism: 2, MaxParallelism: 16, Mode: tc.mode})
			words := dag.FromSource(g, "words", NewSource(brokers, String, Topics("words"), BoundedAtEnd()), nil)
			upper := dag.Map(words, strings.ToUpper, dag.Name("upper"))
			counts := dag.Aggregate(dag.KeyBy(upper, func(w string) string { return w }), dag.Agg[string, int64, int64]{
				Zero:   func() int64 { return 0 },
				Add:    func(n int64, _ string) int64 { return n + 1 },
				Merge:  func(a, b int64) int64 { return a + b },
				Result: func(n int64) int64 { return n },
			}, dag.Name("count"))
			dag.ToSink(counts, "out", NewSink(brokers, tc.topic, ser, ExactlyOnce()))
			if _, err := dagflow.Run(context.Background(), g, dagflow.Options{Progress: nil,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
				t.Fatal(err)
			}
			// The last value per key is the count (streaming emits updates).
			got := map[string]int64{}
			for _, line := range readCommitted(t, brokers, tc.topic) {
				w, c, ok := strings.Cut(line, "\t")
				n, err := strconv.ParseInt(c, 10, 64)
				if !ok || err != nil {
					t.Fatalf("bad output %q", line)
				}
				if tc.mode == dag.BatchMode {
					if _, dup := got[w]; dup {
						t.Fatalf("word %q written twice", w)
					}
				}
				got[w] = max(got[w], n)
			}
			if len(got) != len(want) {
				t.Fatalf("%d words, want %d", len(got), len(want))
			}
			for w, n := range want {
				if got[w] != n {
					t.Errorf("%s: %d, want %d", w, got[w], n)
				}
			}
		})
	}
}
