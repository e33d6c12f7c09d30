package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dagflow/dagflow/dag"
)

// newFake starts an in-process cluster with topics of partitions each.
func newFake(t testing.TB, partitions int32, topics ...string) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// produce writes values to topic/partition with timestamps ts0, ts0+1, ...
// (ms), and returns the records as "value".
func produce(t testing.TB, brokers []string, topic string, partition int32, ts0 int64, values ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: topic, Partition: partition, Value: []byte(v), Key: []byte(v),
			Timestamp: time.UnixMilli(ts0 + int64(i))}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// vals returns n values "p<partition>-<i>" starting at i0.
func vals(partition int32, i0, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("p%d-%d", partition, i0+i)
	}
	return out
}

// readSplits opens the splits as one subtask and reads them round-robin
// (as the engine does) until every split ended (bounded) or want records
// were read. It fails the test if that takes longer than a generous
// safety limit (not a timing assertion: the limit only stops a hang).
func readSplits[T any](t testing.TB, src *Source[T], rc dag.ReaderContext, splits []dag.Split, want int) []T {
	t.Helper()
	ctx := context.Background()
	var readers []dag.SplitReader[T]
	for _, sp := range splits {
		r, err := src.OpenSplit(ctx, rc, sp)
		if err != nil {
			t.Fatal(err)
		}
		readers = append(readers, r)
	}
	defer func() {
		for _, r := range readers {
			r.Close()
		}
	}()
	var out []T
	var b dag.Batch[T]
	deadline := time.Now().Add(30 * time.Second)
	for len(readers) > 0 && (want < 0 || len(out) < want) {
		if time.Now().After(deadline) {
			t.Fatalf("read %d records, still waiting (want %d)", len(out), want)
		}
		for i := 0; i < len(readers); i++ {
			b.Reset()
			n, err := readers[i].ReadBatch(ctx, &b, 7)
			if n != b.Len() {
				t.Fatalf("ReadBatch returned %d but appended %d", n, b.Len())
			}
			out = append(out, b.Vals...)
			if errors.Is(err, io.EOF) {
				readers[i].Close()
				readers = slices.Delete(readers, i, i+1)
				i--
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

func mustSplits[T any](t testing.TB, src *Source[T]) []dag.Split {
	t.Helper()
	sp, err := src.Splits(context.Background(), dag.SplitContext{Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

var rc0 = dag.ReaderContext{Subtask: 0, Parallelism: 1}
