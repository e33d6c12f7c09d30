package master

import (
	"context"
	"testing"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/testkit"
)

func splitPlan(t *testing.T, n int, bounded bool) *dag.Plan {
	t.Helper()
	g := dag.New("j", dag.Config{Parallelism: 2})
	items := make([]int, n)
	var src dag.Source[int] = &testkit.SliceSource[int]{Items: items, SplitSize: 10}
	if !bounded {
		src = unbounded{src}
	}
	dag.ToSink(dag.FromSource(g, "src", src, nil), "out", testkit.NewCollector[int]())
	p, err := g.Build()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type unbounded struct{ dag.Source[int] }

func (unbounded) Bounded() bool { return false }

func TestSplitsReturnOnNewAttempt(t *testing.T) {
	ctx := context.Background()
	sc, err := newSC(t, splitPlan(t, 50, true)) // 5 splits
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	next := func(sub, attempt int) (string, bool) {
		sp, ok, err := sc.NextSplit(ctx, 0, sub, attempt)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			got[sp.ID]++
		}
		return sp.ID, ok
	}
	next(0, 0)
	next(1, 0)
	next(0, 0) // subtask 0 finished its first split
	if p := sc.Progress(); p.Done != 1 || p.Total != 5 {
		t.Fatalf("progress %+v, want 1/5 done", p)
	}
	// Subtask 0 restarts: both its splits go back and are read again.
	next(0, 1)
	for {
		if _, ok := next(0, 1); !ok {
			break
		}
	}
	sc.SubtaskFinished(0, 0, 1)
	if _, ok := next(1, 0); ok {
		t.Fatal("queue not empty")
	}
	for id, n := range got {
		if id == "0" || id == "20" {
			if n != 2 {
				t.Errorf("split %s handed out %d times, want 2 (before and after the restart)", id, n)
			}
		} else if n != 1 {
			t.Errorf("split %s handed out %d times, want 1", id, n)
		}
	}
	if p := sc.Progress(); p.Done != 5 {
		t.Errorf("progress %+v, want 5 done", p)
	}
	if _, _, err := sc.NextSplit(ctx, 0, 0, 0); err == nil {
		t.Error("stale attempt got a split")
	}
}

func TestUnboundedSplitsAreStatic(t *testing.T) {
	ctx := context.Background()
	sc, err := newSC(t, splitPlan(t, 40, false)) // 4 splits, p=2
	if err != nil {
		t.Fatal(err)
	}
	for sub, want := range map[int][]string{0: {"0", "20"}, 1: {"10", "30"}} {
		var ids []string
		for {
			sp, ok, err := sc.NextSplit(ctx, 0, sub, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			ids = append(ids, sp.ID)
		}
		if len(ids) != len(want) || ids[0] != want[0] || ids[1] != want[1] {
			t.Errorf("subtask %d got %v, want %v", sub, ids, want)
		}
	}
}

func newSC(t *testing.T, p *dag.Plan) (*SplitCoordinator, error) {
	return NewSplitCoordinator(context.Background(), p, PlanCode{p})
}
