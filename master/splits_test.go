package master

import (
	"context"
	"testing"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/internal/protocol"
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
	held := map[int]string{}
	next := func(sub, attempt int) (string, bool) {
		req := protocol.SplitRequest{Vertex: 0, Subtask: sub, Attempt: attempt}
		if id, ok := held[sub]; ok {
			req.Finished = []dag.FinishedSplit{{ID: id}}
			delete(held, sub)
		}
		resp, err := sc.NextSplit(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.OK {
			got[resp.Split.ID]++
			held[sub] = resp.Split.ID
		}
		return resp.Split.ID, resp.OK
	}
	next(0, 0)
	next(1, 0)
	next(0, 0) // subtask 0 finished its first split
	if p := sc.Progress(); p.Done != 1 || p.Total != 5 {
		t.Fatalf("progress %+v, want 1/5 done", p)
	}
	// Subtask 0 restarts from scratch: both its splits go back and are
	// read again.
	delete(held, 0)
	next(0, 1)
	for {
		if _, ok := next(0, 1); !ok {
			break
		}
	}
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
	if _, err := sc.NextSplit(ctx, protocol.SplitRequest{Vertex: 0, Subtask: 0, Attempt: 0}); err == nil {
		t.Error("stale attempt got a split")
	}
}

// TestSplitsRestoreFromCheckpoint checks the coordinator's state at a
// checkpoint and the rewind of a subtask restored from it: splits taken
// after the barrier go back, splits taken before stay with the reader.
func TestSplitsRestoreFromCheckpoint(t *testing.T) {
	ctx := context.Background()
	sc, err := newSC(t, splitPlan(t, 50, true)) // splits 0,10,20,30,40; p=2
	if err != nil {
		t.Fatal(err)
	}
	take := func(sub, attempt int, ckpt int64, finished ...string) string {
		req := protocol.SplitRequest{Vertex: 0, Subtask: sub, Attempt: attempt, Checkpoint: ckpt}
		for _, f := range finished {
			req.Finished = append(req.Finished, dag.FinishedSplit{ID: f})
		}
		resp, err := sc.NextSplit(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Split.ID
	}
	a := take(0, 0, 0)    // before checkpoint 1
	b := take(1, 0, 0)    // before checkpoint 1
	c := take(0, 0, 1, a) // after subtask 0 processed barrier 1
	md := &checkpoint.Metadata{}
	sc.snapshot(1, md)
	pend := md.PendingSplits[0]
	// At checkpoint 1: a and b were taken (in the readers' state); c was
	// taken after the barrier, so it is pending with the 2 never taken.
	if len(pend) != 3 || pend[0].ID != c && pend[1].ID != c && pend[2].ID != c {
		t.Fatalf("pending at checkpoint 1 = %v, want %s and the two untaken splits", pend, c)
	}
	// Subtask 0 restores from checkpoint 1: c goes back, a stays read.
	got := take(0, 1, 1)
	if got != c {
		t.Errorf("restored subtask got %s first, want %s back", got, c)
	}
	_ = b
}

func newSC(t *testing.T, p *dag.Plan) (*SplitCoordinator, error) {
	return NewSplitCoordinator(context.Background(), p, PlanCode{p})
}
