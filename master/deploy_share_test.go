package master

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/testkit"
	"github.com/dagflow/dagflow/scheduler"
	"github.com/dagflow/dagflow/worker"
)

// TestDeploymentSharesAllToAllChannels checks the descriptor sharing of
// all-to-all edges: consumers get the same channel slice, each gate its own
// subpartition; a producer's new attempt yields a new slice with the new
// attempt and location, and leaves the slice handed out before unchanged.
func TestDeploymentSharesAllToAllChannels(t *testing.T) {
	g := dag.New("share", dag.Config{Parallelism: 3, Mode: dag.BatchMode})
	src := dag.FromSource(g, "src", &testkit.SliceSource[int]{Items: []int{1, 2, 3}}, nil)
	sum := dag.Reduce(dag.KeyBy(src, func(v int) int { return v }), func(a, b int) int { return a + b })
	dag.ToSink(sum, "out", testkit.NewCollector[dag.KV[int, int]]())
	plan, err := g.Build()
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Tasks) != 2 {
		t.Fatalf("plan has %d tasks, want producer and consumer", len(plan.Tasks))
	}
	jm, err := NewJobMaster(context.Background(), plan, PlanCode{Plan: plan}, nil,
		JobConfig{ID: "j", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	prod, cons := plan.Tasks[0].ID, plan.Tasks[1].ID
	for i := 0; i < 3; i++ {
		jm.exec[scheduler.TaskID{Vertex: prod, Subtask: i}] = &execution{attempt: 0, location: fmt.Sprintf("w%d", i)}
		jm.execVersion[prod]++
	}
	show := func(chans []worker.InputChannel) (out string) {
		for _, c := range chans {
			out += fmt.Sprintf("%d@%s#%d ", c.Partition.Producer, c.Location, c.Partition.Attempt)
		}
		return out
	}
	deploy := func(sub int) (from, to int, chans []worker.InputChannel) {
		dep := jm.deployment(scheduler.Deploy{Task: scheduler.TaskID{Vertex: cons, Subtask: sub}})
		if len(dep.Inputs) != 1 {
			t.Fatalf("consumer %d has %d input gates, want 1", sub, len(dep.Inputs))
		}
		gate := dep.Inputs[0]
		return gate.SubpartitionFrom, gate.SubpartitionTo, gate.Channels
	}
	from0, to0, chans0 := deploy(0)
	from2, to2, chans2 := deploy(2)
	if from0 != 0 || to0 != 1 || from2 != 2 || to2 != 3 {
		t.Errorf("subpartition ranges [%d,%d) and [%d,%d), want [0,1) and [2,3)", from0, to0, from2, to2)
	}
	const want = "0@w0#0 1@w1#0 2@w2#0 "
	if show(chans0) != want || show(chans2) != want {
		t.Errorf("channels %q and %q, want %q", show(chans0), show(chans2), want)
	}
	if &chans0[0] != &chans2[0] {
		t.Errorf("consumers got separate channel slices, want one shared slice")
	}

	// Producer 1 reruns and writes to an external service.
	eid := plan.Tasks[cons].Inputs[0]
	jm.exec[scheduler.TaskID{Vertex: prod, Subtask: 1}] = &execution{attempt: 1, location: "w1", outLocs: map[int]string{eid: "svc"}}
	jm.execVersion[prod]++
	const want1 = "0@w0#0 1@svc#1 2@w2#0 "
	_, _, chans1 := deploy(1)
	if show(chans1) != want1 {
		t.Errorf("after the rerun, channels %q, want %q", show(chans1), want1)
	}
	if show(chans0) != want {
		t.Errorf("the slice handed out before the rerun changed to %q", show(chans0))
	}
	if _, _, again := deploy(0); show(again) != want1 {
		t.Errorf("redeployed consumer 0 reads %q, want %q", show(again), want1)
	}
}
