package restore

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/checkpoint"
)

// plan is one keyed source task "src" (vertex 0) of parallelism par with
// max parallelism 8.
func plan(par int, name string) *dag.Plan {
	return &dag.Plan{Job: "j", Config: dag.Config{MaxParallelism: 8},
		Vertices: []dag.PlanVertex{{ID: 0, Name: name, Parallelism: par}},
		Tasks:    []dag.PlanTask{{ID: 0, Vertices: []int{0}, Parallelism: par}}}
}

func kgs(groups ...int) []checkpoint.KeyGroupHandle {
	var out []checkpoint.KeyGroupHandle
	for _, g := range groups {
		out = append(out, checkpoint.KeyGroupHandle{KeyGroup: g})
	}
	return out
}

func splits(ids ...string) []checkpoint.SplitState {
	var out []checkpoint.SplitState
	for _, id := range ids {
		out = append(out, checkpoint.SplitState{Split: dag.Split{ID: id}})
	}
	return out
}

// metadata: src ran with parallelism 2; subtask 0 held key groups 0-3 and
// splits a, c; subtask 1 key groups 4-7 and split b.
func metadata() *checkpoint.Metadata {
	return &checkpoint.Metadata{Version: checkpoint.FormatVersion, ID: 9, MaxParallelism: 8,
		Parallelism: map[int]int{0: 2}, VertexNames: map[int]string{0: "src"},
		Tasks: []checkpoint.TaskState{
			{Task: 0, Subtask: 0, Operators: []checkpoint.OperatorState{{Vertex: 0, KeyGroups: kgs(0, 1, 2, 3), Splits: splits("a", "c")}}},
			{Task: 0, Subtask: 1, Operators: []checkpoint.OperatorState{{Vertex: 0, KeyGroups: kgs(4, 5, 6, 7), Splits: splits("b")}}},
		}}
}

func TestForRedistributes(t *testing.T) {
	tests := []struct {
		name     string
		par, sub int
		kgs      []checkpoint.KeyGroupHandle
		splits   []checkpoint.SplitState
	}{
		// Same parallelism: a subtask keeps its own key groups and splits.
		{"same parallelism 0", 2, 0, kgs(0, 1, 2, 3), splits("a", "c")},
		{"same parallelism 1", 2, 1, kgs(4, 5, 6, 7), splits("b")},
		// Scale out to 3: key group g goes to g*3/8; splits a, c, b
		// (checkpoint order) round-robin.
		{"scale out 0", 3, 0, kgs(0, 1, 2), splits("a")},
		{"scale out 1", 3, 1, kgs(3, 4, 5), splits("c")},
		{"scale out 2", 3, 2, kgs(6, 7), splits("b")},
		// Scale in to 1: everything.
		{"scale in", 1, 0, kgs(0, 1, 2, 3, 4, 5, 6, 7), splits("a", "c", "b")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := For(metadata(), plan(tc.par, "src"), 0, tc.sub)
			if r == nil || r.Checkpoint != 9 || r.Finished {
				t.Fatalf("For = %+v, want the state of checkpoint 9, not finished", r)
			}
			vr := r.Vertices[0]
			if vr == nil {
				t.Fatalf("no state for vertex 0")
			}
			if !reflect.DeepEqual(vr.KeyGroups, tc.kgs) {
				t.Errorf("key groups = %v, want %v", vr.KeyGroups, tc.kgs)
			}
			if !reflect.DeepEqual(vr.Splits, tc.splits) {
				t.Errorf("splits = %v, want %v", vr.Splits, tc.splits)
			}
		})
	}
}

func TestForTaskNotInCheckpoint(t *testing.T) {
	md := metadata()
	md.Tasks = md.Tasks[:1] // subtask 1 had not started
	if r := For(md, plan(2, "src"), 0, 1); r != nil {
		t.Fatalf("For = %+v, want nil (start fresh)", r)
	}
	md.Tasks[0].Finished = true
	if r := For(md, plan(2, "src"), 0, 0); r == nil || !r.Finished {
		t.Fatalf("For = %+v, want a finished task", r)
	}
}

func TestCheck(t *testing.T) {
	old := metadata()
	old.Version = checkpoint.FormatVersion + 1
	tests := []struct {
		name     string
		md       *checkpoint.Metadata
		plan     *dag.Plan
		allow    bool
		wantErr  string
		wantNone bool
	}{
		{name: "same job", md: metadata(), plan: plan(3, "src"), wantNone: true},
		{name: "renamed vertex", md: metadata(), plan: plan(2, "other"), wantErr: `state of vertex 0 ("src") that job j does not have`},
		{name: "renamed vertex allowed", md: metadata(), plan: plan(2, "other"), allow: true, wantNone: true},
		{name: "format version", md: old, plan: plan(2, "src"), wantErr: "format version"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.md, tc.plan, tc.allow)
			if tc.wantNone {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !dag.IsFatal(err) {
				t.Fatalf("Check = %v, want a fatal error containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestMemoryStoreSavepointRoundTrip writes a savepoint of a job without a
// checkpoint directory to real files and loads it back.
func TestMemoryStoreSavepointRoundTrip(t *testing.T) {
	ctx := context.Background()
	st, err := NewStore(&dag.Plan{Job: "j"}, "j-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	md := metadata()
	md.Job = "j-1"
	if err := st.Complete(ctx, md); err != nil {
		t.Fatal(err)
	}
	loc, err := st.WriteSavepoint(ctx, md, "file://"+filepath.ToSlash(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadSnapshot(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != md.ID || len(got.Tasks) != 2 || got.Tasks[1].Operators[0].Splits[0].Split.ID != "b" {
		t.Fatalf("loaded %+v, want checkpoint 9 with both subtasks", got)
	}
	if _, err := LoadSnapshot(ctx, "file://"+filepath.ToSlash(t.TempDir())+"/missing"); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("LoadSnapshot of a missing directory: %v, want an error naming it", err)
	}
}
