package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dagflow/dagflow/dag"
)

func TestSplitCodecRoundTrip(t *testing.T) {
	for _, st := range []SplitState{
		{TopicPartition{"t", 0}, 0, noStop},
		{TopicPartition{"orders.v2", 17}, 123456789, 123456999},
		{TopicPartition{"ü", 1<<31 - 1}, 1 << 60, noStop},
	} {
		got, err := DecodeSplit(st.Encode())
		if err != nil || got != st {
			t.Errorf("round trip of %+v: got %+v, %v", st, got, err)
		}
	}
	for _, bad := range [][]byte{nil, {2}, {1, 5, 'a'}, append(SplitState{TopicPartition{"t", 1}, 1, 2}.Encode(), 0)} {
		if _, err := DecodeSplit(bad); err == nil {
			t.Errorf("DecodeSplit(%q) succeeded", bad)
		}
	}
}

func FuzzDecodeSplit(f *testing.F) {
	f.Add(SplitState{TopicPartition{"t", 3}, 10, 20}.Encode())
	f.Add(SplitState{TopicPartition{"topic", 0}, 0, noStop}.Encode())
	f.Add([]byte{1, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := DecodeSplit(data)
		if err != nil {
			return
		}
		again, err := DecodeSplit(st.Encode())
		if err != nil || again != st {
			t.Fatalf("re-decode of %+v: %+v, %v", st, again, err)
		}
	})
}

func TestStartPositions(t *testing.T) {
	brokers := newFake(t, 2, "events")
	// partition 0: 10 records at ts 1000..1009; partition 1: 5 at 2000..
	produce(t, brokers, "events", 0, 1000, vals(0, 0, 10)...)
	produce(t, brokers, "events", 1, 2000, vals(1, 0, 5)...)
	ctx := context.Background()
	if err := func() error {
		cl, err := newAdminClient(brokers, nil)
		if err != nil {
			return err
		}
		defer cl.Close()
		return commitOffsets(ctx, cl, "g1", map[TopicPartition]int64{{"events", 0}: 7})
	}(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		opt  SourceOption
		want []string
	}{
		{"earliest", StartEarliest(), append(vals(0, 0, 10), vals(1, 0, 5)...)},
		{"timestamp", StartAt(time.UnixMilli(1008)), append(vals(0, 8, 2), vals(1, 0, 5)...)},
		{"timestamp-past-end", StartAt(time.UnixMilli(5000)), nil},
		{"offsets", StartOffsets(map[TopicPartition]int64{{"events", 1}: 3}), append(vals(0, 0, 10), vals(1, 3, 2)...)},
		{"committed", StartCommitted("g1"), append(vals(0, 7, 3), vals(1, 0, 5)...)},
		{"latest", StartLatest(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := NewSource(brokers, String, Topics("events"), tc.opt, BoundedAtEnd())
			got := readSplits(t, src, rc0, mustSplits(t, src), -1)
			if !slices.Equal(sorted(got), sorted(tc.want)) {
				t.Fatalf("got %v\nwant %v", sorted(got), sorted(tc.want))
			}
		})
	}

	// SplitsFrom overrides the configured start.
	src0 := NewSource(brokers, String, Topics("events"), StartLatest(), BoundedAtEnd())
	from, err := src0.SplitsFrom(ctx, time.UnixMilli(1009))
	if err != nil {
		t.Fatal(err)
	}
	if got := readSplits(t, src0, rc0, from, -1); !slices.Equal(sorted(got), sorted(append(vals(0, 9, 1), vals(1, 0, 5)...))) {
		t.Fatalf("SplitsFrom: got %v", got)
	}

	// Latest, unbounded: only records produced after Splits.
	src := NewSource(brokers, String, Topics("events"), StartLatest())
	splits := mustSplits(t, src)
	produce(t, brokers, "events", 1, 3000, "new-a", "new-b")
	got := readSplits(t, src, rc0, splits, 2)
	if !slices.Equal(sorted(got), []string{"new-a", "new-b"}) {
		t.Fatalf("latest: got %v", got)
	}
}

func TestBoundedStopsAtEndOffsetsAndTimestamp(t *testing.T) {
	brokers := newFake(t, 4, "t")
	var want []string
	for p := int32(0); p < 4; p++ {
		produce(t, brokers, "t", p, int64(p)*100, vals(p, 0, 25)...)
		want = append(want, vals(p, 0, 25)...)
	}
	src := NewSource(brokers, String, Topics("t"), BoundedAtEnd())
	if !src.Bounded() {
		t.Fatal("BoundedAtEnd source is not bounded")
	}
	splits := mustSplits(t, src)
	if len(splits) != 4 {
		t.Fatalf("%d splits, want 4 (one per partition)", len(splits))
	}
	for _, sp := range splits {
		if sp.Weight != 25 {
			t.Errorf("split %s weight %d, want 25", sp.ID, sp.Weight)
		}
	}
	// Records produced after Splits are not read.
	for p := int32(0); p < 4; p++ {
		produce(t, brokers, "t", p, 10000, "late")
	}
	got := readSplits(t, src, rc0, splits, -1)
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Fatalf("bounded read: got %d records %v", len(got), sorted(got))
	}

	// Stop at a timestamp: partition p has ts p*100..p*100+24.
	src = NewSource(brokers, String, Topics("t"), BoundedAt(time.UnixMilli(110)))
	got = readSplits(t, src, rc0, mustSplits(t, src), -1)
	want = append(vals(0, 0, 25), vals(1, 0, 10)...)
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Fatalf("bounded at timestamp: got %v", sorted(got))
	}
}

func TestBoundedAndUnboundedReadTheSameRange(t *testing.T) {
	brokers := newFake(t, 3, "t")
	total := 0
	for p := int32(0); p < 3; p++ {
		produce(t, brokers, "t", p, 0, vals(p, 0, 40+int(p)*13)...)
		total += 40 + int(p)*13
	}
	bounded := NewSource(brokers, Records, Topics("t"), BoundedAtEnd())
	unbounded := NewSource(brokers, Records, Topics("t"))
	if unbounded.Bounded() {
		t.Fatal("source without bound is bounded")
	}
	key := func(rs []Record) []string {
		var out []string
		for _, r := range rs {
			out = append(out, fmt.Sprintf("%s/%d@%d=%s ts=%d", r.Topic, r.Partition, r.Offset, r.Value, r.Timestamp))
		}
		slices.Sort(out)
		return out
	}
	a := key(readSplits(t, bounded, rc0, mustSplits(t, bounded), -1))
	b := key(readSplits(t, unbounded, rc0, mustSplits(t, unbounded), total))
	if len(a) != total || !slices.Equal(a, b) {
		t.Fatalf("bounded (%d) and unbounded (%d) reads differ", len(a), len(b))
	}
}

func TestTimestampsAreRecordTimes(t *testing.T) {
	brokers := newFake(t, 1, "t")
	produce(t, brokers, "t", 0, 5000, "a", "b")
	src := NewSource(brokers, String, Topics("t"), BoundedAtEnd())
	sp := mustSplits(t, src)
	r, err := src.OpenSplit(context.Background(), rc0, sp[0])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var b dag.Batch[string]
	for {
		_, err := r.ReadBatch(context.Background(), &b, 10)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(b.TS, []int64{5000, 5001}) || !slices.Equal(b.Vals, []string{"a", "b"}) {
		t.Fatalf("got %v %v", b.Vals, b.TS)
	}
}

func TestPositionRoundTrip(t *testing.T) {
	brokers := newFake(t, 2, "t")
	produce(t, brokers, "t", 0, 0, vals(0, 0, 50)...)
	produce(t, brokers, "t", 1, 0, vals(1, 0, 30)...)
	ctx := context.Background()
	for _, bounded := range []bool{true, false} {
		t.Run(fmt.Sprint("bounded=", bounded), func(t *testing.T) {
			opts := []SourceOption{Topics("t")}
			if bounded {
				opts = append(opts, BoundedAtEnd())
			}
			src := NewSource(brokers, String, opts...)
			splits := mustSplits(t, src)
			var got []string
			// Read a few batches from every split, take positions, close
			// (a "crash" right after a checkpoint), then resume.
			var positions []dag.Split
			for _, sp := range splits {
				r, err := src.OpenSplit(ctx, rc0, sp)
				if err != nil {
					t.Fatal(err)
				}
				var b dag.Batch[string]
				for b.Len() < 12 {
					if _, err := r.ReadBatch(ctx, &b, 5); err != nil {
						t.Fatal(err)
					}
				}
				got = append(got, b.Vals...)
				pos, err := r.(dag.PositionedReader).Position()
				if err != nil {
					t.Fatal(err)
				}
				if pos.ID != sp.ID {
					t.Fatalf("position id %s, want %s", pos.ID, sp.ID)
				}
				st, _ := DecodeSplit(pos.Data)
				if st.Next != int64(b.Len()) {
					t.Fatalf("position next %d after reading %d records", st.Next, b.Len())
				}
				positions = append(positions, pos)
				r.Close()
			}
			got = append(got, readSplits(t, src, rc0, positions, 80-len(got))...)
			want := append(vals(0, 0, 50), vals(1, 0, 30)...)
			if !slices.Equal(sorted(got), sorted(want)) {
				t.Fatalf("resumed read has gaps or duplicates: %d records", len(got))
			}
		})
	}
}

// TestRescale reads 4 partitions with 2 subtasks, assigning split i to
// subtask i mod parallelism as the master does (each subtask's readers
// share one client), checkpoints the positions midway, and resumes them
// with 3 subtasks: every record is read exactly once.
func TestRescale(t *testing.T) {
	brokers := newFake(t, 4, "t")
	var want []string
	for p := int32(0); p < 4; p++ {
		produce(t, brokers, "t", p, 0, vals(p, 0, 20+int(p))...)
		want = append(want, vals(p, 0, 20+int(p))...)
	}
	ctx := context.Background()
	assign := func(splits []dag.Split, sub, par int) []dag.Split {
		var mine []dag.Split
		for i, sp := range splits {
			if i%par == sub {
				mine = append(mine, sp)
			}
		}
		return mine
	}
	for _, bounded := range []bool{true, false} {
		opts := []SourceOption{Topics("t")}
		if bounded {
			opts = append(opts, BoundedAtEnd())
		}
		src := NewSource(brokers, String, opts...)
		splits := mustSplits(t, src)
		var got []string
		var positions []dag.Split
		for sub := 0; sub < 2; sub++ {
			rc := dag.ReaderContext{Subtask: sub, Parallelism: 2}
			for _, sp := range assign(splits, sub, 2) {
				r, err := src.OpenSplit(ctx, rc, sp)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				var b dag.Batch[string]
				for b.Len() < 9 {
					if _, err := r.ReadBatch(ctx, &b, 3); err != nil {
						t.Fatal(err)
					}
				}
				got = append(got, b.Vals...)
				pos, err := r.(dag.PositionedReader).Position()
				if err != nil {
					t.Fatal(err)
				}
				positions = append(positions, pos)
			}
		}
		// Resume the checkpointed positions with parallelism 3.
		for sub := 0; sub < 3; sub++ {
			mine := assign(positions, sub, 3)
			left := -1
			if !bounded {
				left = 0
				for _, sp := range mine {
					st, err := DecodeSplit(sp.Data)
					if err != nil {
						t.Fatal(err)
					}
					left += 20 + int(st.Partition) - int(st.Next)
				}
			}
			got = append(got, readSplits(t, src, dag.ReaderContext{Subtask: sub, Parallelism: 3, Attempt: 1}, mine, left)...)
		}
		if !slices.Equal(sorted(got), sorted(want)) {
			t.Fatalf("bounded=%v: %d records, want %d exactly once", bounded, len(got), len(want))
		}
	}
}

func TestUnboundedReaderWithoutDataReturns(t *testing.T) {
	brokers := newFake(t, 2, "empty")
	src := NewSource(brokers, String, Topics("empty"))
	ctx := context.Background()
	var readers []dag.SplitReader[string]
	for _, sp := range mustSplits(t, src) {
		r, err := src.OpenSplit(ctx, rc0, sp)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		readers = append(readers, r)
	}
	var b dag.Batch[string]
	for i := 0; i < 3; i++ {
		for _, r := range readers {
			if n, err := r.ReadBatch(ctx, &b, 10); n != 0 || err != nil {
				t.Fatalf("empty partition: %d, %v", n, err)
			}
		}
	}
}

func TestSharedClientInterleavesSplits(t *testing.T) {
	brokers := newFake(t, 3, "t")
	src := NewSource(brokers, String, Topics("t"))
	splits := mustSplits(t, src)
	for p := int32(0); p < 3; p++ {
		produce(t, brokers, "t", p, 0, vals(p, 0, 100)...)
	}
	got := readSplits(t, src, rc0, splits, 300)
	if len(got) != 300 || len(src.consumers) != 0 {
		t.Fatalf("read %d, %d consumers left", len(got), len(src.consumers))
	}
	if src.Metrics().Records != 300 {
		t.Fatalf("metrics %+v", src.Metrics())
	}
}

func TestMissingTopicAndPattern(t *testing.T) {
	brokers := newFake(t, 1, "present", "other")
	src := NewSource(brokers, String, Topics("present", "absent"))
	_, err := src.Splits(context.Background(), dag.SplitContext{Parallelism: 1})
	if err == nil || !strings.Contains(err.Error(), `"absent"`) {
		t.Fatalf("missing topic: %v", err)
	}
	src = NewSource(brokers, String, TopicPattern("^pre"), BoundedAtEnd())
	splits := mustSplits(t, src)
	if len(splits) != 1 || splits[0].ID != "kafka:present:0" {
		t.Fatalf("pattern splits %v", splits)
	}
	src = NewSource(brokers, String, TopicPattern("^nothing"))
	if _, err := src.Splits(context.Background(), dag.SplitContext{}); err == nil || !strings.Contains(err.Error(), "^nothing") {
		t.Fatalf("pattern without match: %v", err)
	}
	for _, bad := range []*Source[string]{
		NewSource(nil, String, Topics("t")),
		NewSource(brokers, String),
		NewSource(brokers, String, TopicPattern("(")),
		NewSource[string](brokers, nil, Topics("t")),
	} {
		if _, err := bad.Splits(context.Background(), dag.SplitContext{}); err == nil {
			t.Error("bad configuration accepted")
		}
	}
}

func TestUnreachableBrokers(t *testing.T) {
	addr := "127.0.0.1:1" // nothing listens on port 1
	src := NewSource([]string{addr}, String, Topics("t"), ConnectTimeout(300*time.Millisecond))
	_, err := src.Splits(context.Background(), dag.SplitContext{Parallelism: 1})
	if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("unreachable broker: %v", err)
	}
}

type event struct {
	ID int `json:"id"`
}

func TestDeserializerErrorPolicies(t *testing.T) {
	brokers := newFake(t, 1, "json")
	produce(t, brokers, "json", 0, 0, `{"id":1}`, `not json`, `{"id":3}`, `{"id":`)
	ctx := context.Background()

	// Fail: the error names topic, partition and offset, and is fatal.
	src := NewSource(brokers, JSON[event](), Topics("json"), BoundedAtEnd())
	r, err := src.OpenSplit(ctx, rc0, mustSplits(t, src)[0])
	if err != nil {
		t.Fatal(err)
	}
	var b dag.Batch[event]
	for err == nil {
		_, err = r.ReadBatch(ctx, &b, 10)
	}
	r.Close()
	var fe interface{ Fatal() bool }
	if !strings.Contains(err.Error(), "topic json partition 0 offset 1") || !errors.As(err, &fe) || !fe.Fatal() {
		t.Fatalf("fail policy: %v", err)
	}

	// Skip: counted.
	src = NewSource(brokers, JSON[event](), Topics("json"), BoundedAtEnd(), SkipBadRecords())
	got := readSplits(t, src, rc0, mustSplits(t, src), -1)
	if len(got) != 2 || got[0].ID != 1 || got[1].ID != 3 || src.Metrics().Skipped != 2 {
		t.Fatalf("skip policy: %v %+v", got, src.Metrics())
	}

	// Dead letter: the callback sees the bad records.
	var dead []string
	src = NewSource(brokers, JSON[event](), Topics("json"), BoundedAtEnd(), DeadLetter(func(_ context.Context, r *Record, err error) error {
		dead = append(dead, fmt.Sprintf("%d:%s", r.Offset, r.Value))
		return nil
	}))
	got = readSplits(t, src, rc0, mustSplits(t, src), -1)
	if len(got) != 2 || !slices.Equal(dead, []string{"1:not json", `3:{"id":`}) || src.Metrics().DeadLettered != 2 {
		t.Fatalf("dead letter policy: %v %v %+v", got, dead, src.Metrics())
	}
	// A failing dead-letter callback fails the read.
	src = NewSource(brokers, JSON[event](), Topics("json"), BoundedAtEnd(), DeadLetter(func(context.Context, *Record, error) error {
		return errors.New("dlq down")
	}))
	r, _ = src.OpenSplit(ctx, rc0, mustSplits(t, src)[0])
	defer r.Close()
	for err = nil; err == nil; _, err = r.ReadBatch(ctx, &b, 10) {
	}
	if !strings.Contains(err.Error(), "dlq down") {
		t.Fatalf("failing dead letter: %v", err)
	}
}

func TestCommitOffsetsOnCheckpoint(t *testing.T) {
	brokers := newFake(t, 1, "t")
	produce(t, brokers, "t", 0, 0, vals(0, 0, 10)...)
	ctx := context.Background()
	src := NewSource(brokers, String, Topics("t"), CommitOffsets("cg"))
	r, err := src.OpenSplit(ctx, rc0, mustSplits(t, src)[0])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var b dag.Batch[string]
	for b.Len() < 4 {
		if _, err := r.ReadBatch(ctx, &b, 4); err != nil {
			t.Fatal(err)
		}
	}
	r.(dag.PositionedReader).Position() // checkpoint 1 at offset 4
	for b.Len() < 10 {
		if _, err := r.ReadBatch(ctx, &b, 10); err != nil {
			t.Fatal(err)
		}
	}
	r.(dag.PositionedReader).Position() // checkpoint 2 at offset 10, not complete
	if err := r.(dag.CheckpointListener).CheckpointComplete(ctx, 1); err != nil {
		t.Fatal(err)
	}
	src2 := NewSource(brokers, String, Topics("t"), StartCommitted("cg"), BoundedAtEnd())
	got := readSplits(t, src2, rc0, mustSplits(t, src2), -1)
	if !slices.Equal(got, vals(0, 4, 6)) {
		t.Fatalf("after committing checkpoint 1: %v", got)
	}
}
