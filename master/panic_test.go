package master_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/testkit"
	"github.com/dagflow/dagflow/master"
	"github.com/dagflow/dagflow/scheduler"
)

// panicSplitsSource is a source whose split enumerator panics.
type panicSplitsSource struct{ testkit.SliceSource[string] }

func (s *panicSplitsSource) Splits(context.Context, dag.SplitContext) ([]dag.Split, error) {
	panic("split enumerator bug")
}

// TestSplitEnumeratorPanicFailsJob: the master enumerates splits of an
// embedded job; a panic there fails the job, with the user's stack.
func TestSplitEnumeratorPanicFailsJob(t *testing.T) {
	c := newCluster(t, 1)
	sink := testkit.NewCollector[dag.KV[string, int64]]()
	src := &panicSplitsSource{testkit.SliceSource[string]{Items: words(100, 1)}}
	_, err := run(t, c, wordCountGraph(src, sink, dag.Config{Parallelism: 1, Mode: dag.BatchMode}), master.JobConfig{})
	if err == nil {
		t.Fatal("job succeeded although its split enumerator panicked")
	}
	for _, want := range []string{"split enumerator of source", "split enumerator bug", "master_test.(*panicSplitsSource).Splits"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("job error lacks %q: %v", want, err)
		}
	}
}

// panicRoundSource is a dynamic source whose second round panics.
type panicRoundSource struct{ testkit.SliceSource[string] }

func (s *panicRoundSource) MoreSplits(context.Context, dag.SplitContext, int, []dag.FinishedSplit) ([]dag.Split, bool, error) {
	panic("dynamic enumerator bug")
}

// TestDynamicSplitEnumeratorPanicFailsJob: the master enumerates the
// rounds of a dynamic source while the job runs; a panic there fails the
// job at once (no restart) instead of crashing the master.
func TestDynamicSplitEnumeratorPanicFailsJob(t *testing.T) {
	c := newCluster(t, 1)
	sink := testkit.NewCollector[dag.KV[string, int64]]()
	src := &panicRoundSource{testkit.SliceSource[string]{Items: words(100, 1), SplitSize: 50}}
	restart := scheduler.FixedDelay(5, time.Millisecond)
	res, err := run(t, c, wordCountGraph(src, sink, dag.Config{Parallelism: 1, Mode: dag.BatchMode}), master.JobConfig{Restart: &restart})
	if err == nil {
		t.Fatalf("job succeeded although its dynamic enumerator panicked (%+v)", res)
	}
	for _, want := range []string{"split enumerator of dynamic source", "dynamic enumerator bug", "master_test.(*panicRoundSource).MoreSplits"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("job error lacks %q: %v", want, err)
		}
	}
	if len(sink.Committed()) != 0 {
		t.Error("failed job committed output")
	}
}

// panicCommitter is a sink whose committer panics.
type panicCommitter struct {
	*testkit.Collector[dag.KV[string, int64]]
}

func (s panicCommitter) Committer() dag.Committer { return s }

func (s panicCommitter) Commit(context.Context, [][]byte) error { panic("committer bug") }
func (s panicCommitter) Abort(context.Context, [][]byte) error  { return nil }

// TestCommitterPanicFailsJob: the embedded runtime commits sink output in
// this process; a panicking committer fails the job with its stack.
func TestCommitterPanicFailsJob(t *testing.T) {
	c := newCluster(t, 1)
	sink := panicCommitter{testkit.NewCollector[dag.KV[string, int64]]()}
	_, err := run(t, c, wordCountGraph(&testkit.SliceSource[string]{Items: words(100, 1)}, sink, dag.Config{Parallelism: 1, Mode: dag.BatchMode}), master.JobConfig{})
	if !errors.Is(err, master.ErrJobFailed) {
		t.Fatalf("job error %v, want a job failure", err)
	}
	for _, want := range []string{"committer of sink", "committer bug", "master_test.panicCommitter.Commit"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("job error lacks %q: %v", want, err)
		}
	}
}

// boomVal is a state value whose coder panics when a checkpoint writes it
// (it holds no references, so it is encoded asynchronously).
type boomVal struct{ N int64 }

func (v boomVal) MarshalBinary() ([]byte, error) { panic("state coder bug") }
func (v *boomVal) UnmarshalBinary([]byte) error  { return nil }

type boomFn struct {
	st *dag.ValueState[string, boomVal]
}

func (f *boomFn) Open(oc *dag.ProcessOpenContext[string]) error {
	f.st = dag.NewValueState[boomVal](oc, "boom")
	return nil
}

func (f *boomFn) ProcessElement(ctx *dag.ProcessContext[string, string], w string) error {
	f.st.Set(ctx, boomVal{N: 1})
	return nil
}

func (f *boomFn) OnTimer(*dag.ProcessContext[string, string], dag.Timer) error { return nil }

// TestStateCoderPanicInSnapshotFailsTask: a panic in a state coder while
// a checkpoint is written asynchronously is a task failure: the region
// restarts per the restart strategy, and the job fails beyond it with the
// coder's stack.
func TestStateCoderPanicInSnapshotFailsTask(t *testing.T) {
	c := newCluster(t, 1)
	g := dag.New("boom", dag.Config{Parallelism: 1, Mode: dag.StreamingMode, BatchSize: 16,
		Checkpoint: dag.CheckpointConfig{Interval: 20 * time.Millisecond}})
	src := &testkit.SliceSource[string]{Items: words(200, 2), Hold: true}
	out := dag.Process(dag.KeyBy(dag.FromSource(g, "src", src, nil), func(w string) string { return w }),
		func() dag.ProcessFunc[string, string, string] { return &boomFn{} }, dag.Name("boom"))
	dag.ToSink(out, "sink", testkit.NewCollector[string]())
	restart := scheduler.FixedDelay(1, time.Millisecond)
	_, err := run(t, c, g, master.JobConfig{Restart: &restart})
	if err == nil {
		t.Fatal("job succeeded although its state coder panicked")
	}
	for _, want := range []string{"state coder bug", "master_test.boomVal.MarshalBinary", "worker.(*task).writeState"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("job error lacks %q: %v", want, err)
		}
	}
}
