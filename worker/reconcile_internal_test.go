package worker

import (
	"reflect"
	"testing"

	"github.com/dagflow/dagflow/dag"
)

// TestTaskRecordSplits checks what a source attempt reports about the
// splits it took: the barrier it had processed when it asked for each, and
// when it reported each read to the end.
func TestTaskRecordSplits(t *testing.T) {
	var r taskRecord
	r.splitTaken("a", 0)
	r.splitTaken("b", 2)
	r.splitsDone(nil, 3)
	r.splitsDone([]dag.FinishedSplit{{ID: "a"}, {ID: "unknown"}}, 4)
	r.splitsDone([]dag.FinishedSplit{{ID: "a"}}, 9) // already done: unchanged
	want := []TakenSplit{{ID: "a", Tag: 0, Done: true, DoneTag: 4}, {ID: "b", Tag: 2}}
	if !reflect.DeepEqual(r.splits, want) {
		t.Errorf("splits %+v, want %+v", r.splits, want)
	}
}
