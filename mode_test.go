package dagflow

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/protocol"
	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/internal/testkit"
)

// runModeWith runs runMode with stdin holding in and returns its exit
// code and what it wrote to stderr.
func runModeWith(t *testing.T, mode protocol.Role, plan *dag.Plan, in []byte) (int, string) {
	t.Helper()
	dir := t.TempDir()
	stdin, stdout, stderr := filepath.Join(dir, "stdin"), filepath.Join(dir, "stdout"), filepath.Join(dir, "stderr")
	if err := os.WriteFile(stdin, in, 0o644); err != nil {
		t.Fatal(err)
	}
	files := make([]*os.File, 3)
	for i, p := range []string{stdin, stdout, stderr} {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files[i] = f
	}
	oldIn, oldOut, oldErr := os.Stdin, os.Stdout, os.Stderr
	os.Stdin, os.Stdout, os.Stderr = files[0], files[1], files[2]
	code := runMode(context.Background(), mode, plan)
	os.Stdin, os.Stdout, os.Stderr = oldIn, oldOut, oldErr
	b, err := os.ReadFile(stderr)
	if err != nil {
		t.Fatal(err)
	}
	return code, string(b)
}

type panicCommitSink struct{ *testkit.Collector[int64] }

func (s panicCommitSink) Committer() dag.Committer               { return s }
func (s panicCommitSink) Commit(context.Context, [][]byte) error { panic("committer bug") }
func (s panicCommitSink) Abort(context.Context, [][]byte) error  { return nil }

// panicMoreSplitsSource is a dynamic source whose second round panics.
type panicMoreSplitsSource struct{ testkit.SliceSource[int64] }

func (s *panicMoreSplitsSource) MoreSplits(context.Context, dag.SplitContext, int, []dag.FinishedSplit) ([]dag.Split, bool, error) {
	panic("dynamic enumerator bug")
}

// TestMoreSplitsModePanicIsFatal: the master runs the job binary in
// more-splits mode to enumerate the next round of a dynamic source; a
// panicking enumerator exits with ExitFatal (the job fails, no retry) and
// its stack on stderr, while a plain error exits 1 (retried).
func TestMoreSplitsModePanicIsFatal(t *testing.T) {
	plan, _ := modeTestPlan(t, &panicMoreSplitsSource{testkit.SliceSource[int64]{Items: []int64{1}}}, testkit.NewCollector[int64]())
	src := -1
	for _, v := range plan.Vertices {
		if v.Kind == "source" {
			src = v.ID
		}
	}
	if !plan.Engine().IsDynamic(src) {
		t.Fatal("test source is not dynamic")
	}
	req, err := proto.Marshal(&rpcpb.MoreSplitsRequest{Vertex: int32(src), Round: 1})
	if err != nil {
		t.Fatal(err)
	}
	code, stderr := runModeWith(t, protocol.RoleMoreSplits, plan, req)
	if code != protocol.ExitFatal {
		t.Fatalf("more-splits mode exited %d, want %d (fatal); stderr:\n%s", code, protocol.ExitFatal, stderr)
	}
	for _, want := range []string{"panic in more-splits mode: dynamic enumerator bug", "dagflow.(*panicMoreSplitsSource).MoreSplits"} {
		if !strings.Contains(stderr, want) {
			t.Fatalf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	// A request naming a vertex that is no source is a plain error.
	bad, _ := proto.Marshal(&rpcpb.MoreSplitsRequest{Vertex: 99, Round: 1})
	if code, stderr := runModeWith(t, protocol.RoleMoreSplits, plan, bad); code != 1 || !strings.Contains(stderr, "99") {
		t.Fatalf("more-splits of vertex 99 exited %d, want 1 with an error naming the vertex:\n%s", code, stderr)
	}
}

type panicSplitSource struct{ testkit.SliceSource[int64] }

func (s *panicSplitSource) Splits(context.Context, dag.SplitContext) ([]dag.Split, error) {
	panic("split enumerator bug")
}

func modeTestPlan(t *testing.T, src dag.Source[int64], sink dag.Sink[int64]) (*dag.Plan, int) {
	t.Helper()
	g := dag.New("modes", dag.Config{Parallelism: 1})
	dag.ToSink(dag.FromSource(g, "src", src, nil), "sink", sink)
	plan, err := g.Build()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range plan.Vertices {
		if v.Kind == "sink" {
			return plan, v.ID
		}
	}
	t.Fatal("plan has no sink")
	return nil, 0
}

// TestCommitModePanicFails: the master runs the job binary in commit mode
// to commit sink output; a panicking committer makes it exit with an
// error whose text (which the master puts in the job failure) carries the
// committer's stack.
func TestCommitModePanicFails(t *testing.T) {
	plan, sink := modeTestPlan(t, &testkit.SliceSource[int64]{Items: []int64{1}}, panicCommitSink{testkit.NewCollector[int64]()})
	req, err := proto.Marshal(&rpcpb.CommitRequest{Vertex: int32(sink), Action: rpcpb.CommitRequest_ACTION_COMMIT, Committables: [][]byte{[]byte("x")}})
	if err != nil {
		t.Fatal(err)
	}
	code, stderr := runModeWith(t, protocol.RoleCommit, plan, req)
	if code == 0 {
		t.Fatal("commit mode succeeded although the committer panicked")
	}
	for _, want := range []string{"panic in commit mode: committer bug", "dagflow.panicCommitSink.Commit"} {
		if !strings.Contains(stderr, want) {
			t.Fatalf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// TestPlanModeSplitPanicFails: the driver enumerates splits in plan mode
// (dagctl submit); a panicking enumerator fails the submission with its
// stack.
func TestPlanModeSplitPanicFails(t *testing.T) {
	plan, _ := modeTestPlan(t, &panicSplitSource{}, testkit.NewCollector[int64]())
	code, stderr := runModeWith(t, protocol.RolePlan, plan, nil)
	if code == 0 {
		t.Fatal("plan mode succeeded although the split enumerator panicked")
	}
	for _, want := range []string{"panic in plan mode: split enumerator bug", "dagflow.(*panicSplitSource).Splits"} {
		if !strings.Contains(stderr, want) {
			t.Fatalf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}
