package master_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/testkit"
	"github.com/dagflow/dagflow/master"
	"github.com/dagflow/dagflow/shuffle"
)

// slowSink delays every batch, to back-pressure its producers.
type slowSink[T any] struct {
	*testkit.Collector[T]
	delay time.Duration
}

func (s slowSink[T]) NewWriter(ctx context.Context, sc dag.SinkContext) (dag.SinkWriter[T], error) {
	w, err := s.Collector.NewWriter(ctx, sc)
	return slowWriter[T]{w, s.delay}, err
}

type slowWriter[T any] struct {
	dag.SinkWriter[T]
	delay time.Duration
}

func (w slowWriter[T]) Write(ctx context.Context, b *dag.Batch[T]) error {
	time.Sleep(w.delay)
	return w.SinkWriter.Write(ctx, b)
}

func TestBackPressureBoundsBuffers(t *testing.T) {
	n := 200000
	items := make([]int64, n)
	for i := range items {
		items[i] = int64(i)
	}
	c := newCluster(t, 2)
	sink := slowSink[int64]{testkit.NewCollector[int64](), 2 * time.Millisecond}
	g := dag.New("bp", dag.Config{Parallelism: 2, Mode: dag.StreamingMode, BatchSize: 256})
	s := dag.FromSource(g, "src", &testkit.SliceSource[int64]{Items: items, SplitSize: 10000}, nil)
	dag.ToSink(s.Rebalance(), "sink", sink)
	plan, err := g.Build()
	if err != nil {
		t.Fatal(err)
	}
	var peak atomic.Int64
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
				if b := int64(c.BuffersInUse()); b > peak.Load() {
					peak.Store(b)
				}
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err = c.Run(ctx, plan, master.JobConfig{})
	close(done)
	if err != nil {
		t.Fatal(err)
	}
	// 2 producers x 2 consumer channels, each a bounded queue.
	limit := int64(2 * 2 * shuffle.DefaultQueueBuffers)
	if p := peak.Load(); p > limit || p == 0 {
		t.Fatalf("peak buffers in use %d, want 1..%d", p, limit)
	}
	got := sink.Committed()
	slices.Sort(got)
	if !slices.Equal(got, items) {
		t.Fatalf("sink got %d records, want %d", len(got), n)
	}
}

type order struct {
	ID, User int64
}
type user struct {
	ID   int64
	Name string
}

func TestUnionBroadcastJoinAndProcess(t *testing.T) {
	// Event-time records: orders and users, joined per 1s window, plus a
	// union and a broadcast edge, plus a keyed process with state.
	var orders []order
	var ots []int64
	var users []user
	var uts []int64
	for i := int64(0); i < 3000; i++ {
		orders = append(orders, order{ID: i, User: i % 50})
		ots = append(ots, 1000+i*3)
	}
	for u := int64(0); u < 50; u++ {
		for w := int64(0); w < 10; w++ { // one user record per window
			users = append(users, user{ID: u, Name: fmt.Sprintf("u%d", u)})
			uts = append(uts, 1000+w*1000+u)
		}
	}
	orderCoder := dag.CoderFunc(func(dst []byte, o order) []byte {
		return dag.VarintCoder[int64]{}.Append(dag.VarintCoder[int64]{}.Append(dst, o.ID), o.User)
	}, func(src []byte) (order, int, error) {
		id, n, err := dag.VarintCoder[int64]{}.Decode(src)
		if err != nil {
			return order{}, 0, err
		}
		u, m, err := dag.VarintCoder[int64]{}.Decode(src[n:])
		return order{id, u}, n + m, err
	})
	userCoder := dag.CoderFunc(func(dst []byte, u user) []byte {
		return dag.StringCoder{}.Append(dag.VarintCoder[int64]{}.Append(dst, u.ID), u.Name)
	}, func(src []byte) (user, int, error) {
		id, n, err := dag.VarintCoder[int64]{}.Decode(src)
		if err != nil {
			return user{}, 0, err
		}
		name, m, err := dag.StringCoder{}.Decode(src[n:])
		return user{id, name}, n + m, err
	})
	for _, mode := range []dag.ExecutionMode{dag.BatchMode, dag.StreamingMode} {
		t.Run(mode.String(), func(t *testing.T) {
			c := newCluster(t, 2)
			g := dag.New("mix", dag.Config{Parallelism: 2, Mode: mode})
			o1 := dag.FromSource(g, "orders-a", &testkit.SliceSource[order]{Items: orders[:1500], TS: ots[:1500], SplitSize: 200}, nil, dag.WithCoder(orderCoder))
			o2 := dag.FromSource(g, "orders-b", &testkit.SliceSource[order]{Items: orders[1500:], TS: ots[1500:], SplitSize: 200}, nil, dag.WithCoder(orderCoder))
			us := dag.FromSource(g, "users", &testkit.SliceSource[user]{Items: users, TS: uts, SplitSize: 100}, nil, dag.WithCoder(userCoder))
			all := dag.Union(o1, o2)
			joined := dag.WindowJoin(dag.KeyBy(all, func(o order) int64 { return o.User }), dag.KeyBy(us, func(u user) int64 { return u.ID }),
				dag.Tumbling(time.Second), func(k int64, o order, u user) string { return fmt.Sprintf("%d:%s", o.ID, u.Name) }, dag.Name("join"))
			joinSink := testkit.NewCollector[string]()
			dag.ToSink(joined, "join-sink", joinSink)
			// Broadcast to 3 sink subtasks: every record three times.
			bcSink := testkit.NewCollector[order]()
			dag.ToSink(o1.Broadcast(), "bc-sink", bcSink, dag.Parallelism(3))
			// Keyed process: running count per user, emitted at the end via an event-time timer.
			counts := dag.Process(dag.KeyBy(all, func(o order) int64 { return o.User }), func() dag.ProcessFunc[int64, order, dag.KV[int64, int64]] {
				return &countProc{}
			}, dag.Name("count"))
			countSink := testkit.NewCollector[dag.KV[int64, int64]]()
			dag.ToSink(counts, "count-sink", countSink)
			plan, err := g.Build()
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if _, err := c.Run(ctx, plan, master.JobConfig{}); err != nil {
				t.Fatal(err)
			}
			// Each order joins the one user record of its user in its window.
			if got := len(joinSink.Committed()); got != len(orders) {
				t.Errorf("join produced %d records, want %d", got, len(orders))
			}
			if got := len(bcSink.Committed()); got != 3*1500 {
				t.Errorf("broadcast delivered %d records, want %d", got, 3*1500)
			}
			cs := countSink.Committed()
			if len(cs) != 50 {
				t.Fatalf("process emitted %d counts, want 50", len(cs))
			}
			for _, kv := range cs {
				if kv.Value != 60 {
					t.Errorf("user %d: count %d, want 60", kv.Key, kv.Value)
				}
			}
		})
	}
}

// countProc counts orders per user and emits the count when the input
// ends (an event-time timer at the end of time).
type countProc struct {
	n *dag.ValueState[int64, int64]
}

func (p *countProc) Open(oc *dag.ProcessOpenContext[int64]) error {
	p.n = dag.NewValueState[int64](oc, "n")
	return nil
}

func (p *countProc) ProcessElement(ctx *dag.ProcessContext[int64, dag.KV[int64, int64]], o order) error {
	n, _ := p.n.Get(ctx)
	p.n.Set(ctx, n+1)
	ctx.RegisterEventTimer(dag.MaxTime - 1)
	return nil
}

func (p *countProc) OnTimer(ctx *dag.ProcessContext[int64, dag.KV[int64, int64]], t dag.Timer) error {
	n, _ := p.n.Get(ctx)
	ctx.Emit(dag.KV[int64, int64]{Key: ctx.Key(), Value: n})
	return nil
}
