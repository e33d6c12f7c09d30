package datagen

import (
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dagflow/dagflow/dag"
)

type rec struct {
	Index int64
	R     uint64
	F     float64
}

func genRec(i int64, rnd *rand.Rand) rec { return rec{i, rnd.Uint64(), rnd.Float64()} }

// readAll reads every split in order with batches of at most max records.
func readAll[T any](t *testing.T, src dag.Source[T], parallelism, max int) ([]T, []int64) {
	t.Helper()
	ctx := context.Background()
	splits, err := src.Splits(ctx, dag.SplitContext{Parallelism: parallelism})
	if err != nil {
		t.Fatal(err)
	}
	var vals []T
	var ts []int64
	for _, sp := range splits {
		r, err := src.OpenSplit(ctx, dag.ReaderContext{}, sp)
		if err != nil {
			t.Fatal(err)
		}
		var b dag.Batch[T]
		for {
			b.Reset()
			n, err := r.ReadBatch(ctx, &b, max)
			if n != b.Len() || n > max {
				t.Fatalf("ReadBatch returned %d for a batch of %d (max %d)", n, b.Len(), max)
			}
			vals = append(vals, b.Vals...)
			ts = append(ts, b.TS...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				t.Fatal("bounded reader returned no records without EOF")
			}
		}
		r.Close()
	}
	return vals, ts
}

func TestCountAndDeterminism(t *testing.T) {
	const n = 1000
	var ref []rec
	for _, p := range []int{1, 2, 7} {
		for _, max := range []int{1, 13, 1024} {
			got, ts := readAll[rec](t, New(genRec, Count(n), Seed(42)), p, max)
			if len(got) != n {
				t.Fatalf("p=%d: %d records, want %d", p, len(got), n)
			}
			for _, x := range ts {
				if x != dag.MinTime {
					t.Fatalf("timestamp %d without Timestamps option", x)
				}
			}
			slices.SortFunc(got, func(a, b rec) int { return int(a.Index - b.Index) })
			for i, r := range got {
				if r.Index != int64(i) {
					t.Fatalf("p=%d: index %d at position %d", p, r.Index, i)
				}
			}
			if ref == nil {
				ref = got
			} else if !reflect.DeepEqual(got, ref) {
				t.Fatalf("p=%d max=%d: records differ from parallelism 1", p, max)
			}
		}
	}
	other, _ := readAll[rec](t, New(genRec, Count(n), Seed(43)), 1, 100)
	same := 0
	for i := range other {
		if other[i].R == ref[i].R {
			same++
		}
	}
	if same > 2 {
		t.Fatalf("seed 43 reproduces %d values of seed 42", same)
	}
	seen := map[uint64]bool{}
	for _, r := range ref {
		seen[r.R] = true
	}
	if len(seen) < n-1 {
		t.Fatalf("only %d distinct random values for %d records", len(seen), n)
	}
}

func TestSplitLayout(t *testing.T) {
	ctx := context.Background()
	splits, err := New(genRec, Count(3)).Splits(ctx, dag.SplitContext{Parallelism: 7})
	if err != nil || len(splits) != 3 {
		t.Fatalf("3 records over 7 subtasks: %d splits, %v", len(splits), err)
	}
	var total int64
	for _, s := range splits {
		total += s.Weight
	}
	if total != 3 {
		t.Fatalf("weights add up to %d", total)
	}
	if splits, err := New(genRec, Count(0)).Splits(ctx, dag.SplitContext{Parallelism: 2}); err != nil || len(splits) != 0 {
		t.Fatalf("Count(0): %d splits, %v", len(splits), err)
	}
	big := int64(1) << 62
	splits, err = New(genRec, Count(big)).Splits(ctx, dag.SplitContext{Parallelism: 3})
	if err != nil || len(splits) != 3 || splits[0].Weight+splits[1].Weight+splits[2].Weight != big {
		t.Fatalf("huge count: %+v %v", splits, err)
	}
	if !New(genRec, Count(1)).Bounded() || New(genRec).Bounded() {
		t.Fatal("Bounded is wrong")
	}
}

func TestUnboundedInterleaves(t *testing.T) {
	ctx := context.Background()
	for _, p := range []int{1, 3} {
		src := New(genRec, Seed(7))
		splits, err := src.Splits(ctx, dag.SplitContext{Parallelism: p})
		if err != nil || len(splits) != p {
			t.Fatalf("%d splits, %v", len(splits), err)
		}
		var got []rec
		for _, sp := range splits {
			r, err := src.OpenSplit(ctx, dag.ReaderContext{}, sp)
			if err != nil {
				t.Fatal(err)
			}
			var b dag.Batch[rec]
			n, err := r.ReadBatch(ctx, &b, 300/p)
			if err != nil || n != 300/p {
				t.Fatalf("unbounded ReadBatch = %d, %v", n, err)
			}
			got = append(got, b.Vals...)
		}
		slices.SortFunc(got, func(a, b rec) int { return int(a.Index - b.Index) })
		ref, _ := readAll[rec](t, New(genRec, Seed(7), Count(300)), 1, 1000)
		if !reflect.DeepEqual(got, ref) {
			t.Fatalf("p=%d: unbounded records differ from bounded ones with the same indices", p)
		}
	}
}

func TestTimestamps(t *testing.T) {
	vals, ts := readAll[rec](t, New(genRec, Count(10), Timestamps(func(i int64, v rec) int64 { return 1000 * i })), 2, 4)
	for i := range vals {
		if ts[i] != 1000*vals[i].Index {
			t.Fatalf("record %d has timestamp %d", vals[i].Index, ts[i])
		}
	}
	_, err := New(genRec, Count(1), Timestamps(func(i int64, v string) int64 { return 0 })).Splits(context.Background(), dag.SplitContext{})
	if err == nil || !strings.Contains(err.Error(), "does not take records") {
		t.Fatalf("mismatched Timestamps: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for name, src := range map[string]*Source[rec]{
		"nil gen":   New[rec](nil, Count(1)),
		"neg count": New(genRec, Count(-1)),
		"zero rate": New(genRec, Rate(0)),
		"inf rate":  New(genRec, Rate(math.Inf(1))),
		"neg rate":  New(genRec, Rate(-3)),
	} {
		if _, err := src.Splits(context.Background(), dag.SplitContext{}); err == nil || !strings.HasPrefix(err.Error(), "datagen: ") {
			t.Errorf("%s: error %v", name, err)
		}
		if _, err := src.OpenSplit(context.Background(), dag.ReaderContext{}, dag.Split{}); err == nil {
			t.Errorf("%s: OpenSplit should fail", name)
		}
	}
	if _, err := New(genRec).OpenSplit(context.Background(), dag.ReaderContext{}, dag.Split{ID: "x", Data: []byte("nope")}); err == nil {
		t.Error("bad split data: want error")
	}
}

// fakeClock advances only when slept on or told to.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.advance(d)
	c.mu.Lock()
	c.slept += d
	c.mu.Unlock()
	return nil
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func openOnly(t *testing.T, src *Source[rec], parallelism int) dag.SplitReader[rec] {
	t.Helper()
	splits, err := src.Splits(context.Background(), dag.SplitContext{Parallelism: parallelism})
	if err != nil {
		t.Fatal(err)
	}
	r, err := src.OpenSplit(context.Background(), dag.ReaderContext{}, splits[0])
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRateUnboundedThrottled(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{now: time.Unix(1000, 0)}
	// 2 records/s over 2 splits: 1 record/s for the split read here.
	r := openOnly(t, New(genRec, Rate(2), withClock(clk)), 2)
	var b dag.Batch[rec]
	n, err := r.ReadBatch(ctx, &b, 100)
	if n != 0 || err != nil {
		t.Fatalf("throttled ReadBatch = %d, %v; want 0, nil", n, err)
	}
	if clk.slept > maxIdle {
		t.Fatalf("throttled reader waited %v, more than %v", clk.slept, maxIdle)
	}
	clk.advance(10 * time.Second) // the bucket holds at most one record
	if n, err := r.ReadBatch(ctx, &b, 100); n != 1 || err != nil {
		t.Fatalf("after 10s: %d, %v; want 1 (burst), nil", n, err)
	}

	// Long run: 1000 rec/s over 10 simulated seconds of 10 ms steps.
	clk = &fakeClock{now: time.Unix(0, 0)}
	r = openOnly(t, New(genRec, Rate(1000), withClock(clk)), 1)
	total := 0
	for range 1000 {
		b.Reset()
		n, err := r.ReadBatch(ctx, &b, 1024)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		clk.advance(10 * time.Millisecond)
	}
	elapsed := clk.Now().Sub(time.Unix(0, 0)).Seconds()
	if want := 1000 * elapsed; float64(total) > want+100 || float64(total) < want*0.9 {
		t.Fatalf("%d records in %.2f simulated seconds at 1000/s", total, elapsed)
	}
}

func TestRateBoundedWaits(t *testing.T) {
	clk := &fakeClock{now: time.Unix(0, 0)}
	got, _ := readAll[rec](t, New(genRec, Count(50), Rate(100), withClock(clk)), 1, 1024)
	if len(got) != 50 {
		t.Fatalf("%d records", len(got))
	}
	if d := clk.Now().Sub(time.Unix(0, 0)); d < 400*time.Millisecond || d > 700*time.Millisecond {
		t.Fatalf("50 records at 100/s took %v simulated", d)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := openOnly(t, New(genRec, Count(50), Rate(1), withClock(&fakeClock{})), 1)
	var b dag.Batch[rec]
	if _, err := r.ReadBatch(ctx, &b, 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestRateRealClock(t *testing.T) {
	// With the real clock a throttled unbounded reader must come back
	// quickly with (0, nil); the bound is generous to avoid flakes.
	r := openOnly(t, New(genRec, Rate(0.5)), 1)
	var b dag.Batch[rec]
	start := time.Now()
	n, err := r.ReadBatch(context.Background(), &b, 10)
	if n != 0 || err != nil {
		t.Fatalf("ReadBatch = %d, %v", n, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("throttled ReadBatch blocked for %v", d)
	}
}

func TestProgress(t *testing.T) {
	r := openOnly(t, New(genRec, Count(100)), 2)
	var b dag.Batch[rec]
	if _, err := r.ReadBatch(context.Background(), &b, 20); err != nil {
		t.Fatal(err)
	}
	p, ok := r.(interface{ Progress() (int64, int64) })
	if !ok {
		t.Fatal("no Progress")
	}
	if done, total := p.Progress(); done != 20 || total != 50 {
		t.Fatalf("Progress = %d/%d", done, total)
	}
}

func BenchmarkGenerate(b *testing.B) {
	src := New(genRec)
	r, _ := src.OpenSplit(context.Background(), dag.ReaderContext{}, mustSplit(src))
	var batch dag.Batch[rec]
	b.ReportAllocs()
	for b.Loop() {
		batch.Reset()
		r.ReadBatch(context.Background(), &batch, dag.DefaultBatchSize)
	}
	b.ReportMetric(float64(b.N*dag.DefaultBatchSize)/b.Elapsed().Seconds(), "records/s")
}

func mustSplit(src *Source[rec]) dag.Split {
	s, _ := src.Splits(context.Background(), dag.SplitContext{Parallelism: 1})
	return s[0]
}
