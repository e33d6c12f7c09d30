package master

import (
	"encoding/json"
	"io"
	"testing"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/testkit"
)

// FuzzPlanJSON feeds SubmitJob's plan decoding and checks: a plan that
// passes checkPlan must be explainable (topology, regions) without a
// panic.
func FuzzPlanJSON(f *testing.F) {
	g := dag.New("seed", dag.Config{Parallelism: 2})
	dag.ToSink(dag.FromSource(g, "src", &testkit.SliceSource[int]{Items: []int{1, 2, 3}}, nil).Rebalance(), "out", testkit.NewCollector[int]())
	p, err := g.Build()
	if err != nil {
		f.Fatal(err)
	}
	seed, err := json.Marshal(p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"tasks":[{"id":0,"parallelism":1}],"vertices":[{"id":0,"parallelism":1}],"edges":[{"id":0,"from":5,"to":0}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var plan dag.Plan
		if json.Unmarshal(b, &plan) != nil {
			return
		}
		if checkPlan(&plan) != nil {
			return
		}
		plan.Explain(io.Discard, "text")
	})
}

// FuzzSplitsJSON feeds SubmitJob's split decoding: it must fail or
// succeed, never panic, and what decodes must encode again.
func FuzzSplitsJSON(f *testing.F) {
	f.Add([]byte(`{"0":[{"id":"a","data":"eyJ4IjoxfQ=="}]}`))
	f.Add([]byte(`{"-1":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var splits map[int][]dag.Split
		if json.Unmarshal(b, &splits) != nil {
			return
		}
		if _, err := json.Marshal(splits); err != nil {
			t.Fatalf("decoded splits do not encode: %v", err)
		}
	})
}
