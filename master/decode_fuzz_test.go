package master

import (
	"encoding/json"
	"io"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/protocol"
	"github.com/dagflow/dagflow/internal/rpcpb"
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

// FuzzSplitsProto feeds SubmitJob's split decoding (a protobuf
// SubmitJobRequest from an untrusted client): it must fail or succeed,
// never panic, and what decodes must encode again to the same splits.
func FuzzSplitsProto(f *testing.F) {
	seed, err := proto.Marshal(&rpcpb.SubmitJobRequest{Splits: []*rpcpb.SourceSplits{
		{Vertex: 0, Splits: []*rpcpb.Split{{Id: "a", Data: []byte(`{"x":1}`), Weight: 3}}}, {Vertex: 2}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	dup, _ := proto.Marshal(&rpcpb.SubmitJobRequest{Splits: []*rpcpb.SourceSplits{{Vertex: 1}, {Vertex: 1}}})
	f.Add(dup)
	neg, _ := proto.Marshal(&rpcpb.SubmitJobRequest{Splits: []*rpcpb.SourceSplits{{Vertex: -1}}})
	f.Add(neg)
	f.Add([]byte{0x52, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var req rpcpb.SubmitJobRequest
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		splits, err := protocol.SourceSplitsFromProto(req.Splits)
		if err != nil {
			return
		}
		again, err := protocol.SourceSplitsFromProto(protocol.SourceSplitsToProto(splits))
		if err != nil {
			t.Fatalf("decoded splits do not decode again: %v", err)
		}
		if len(again) != len(splits) {
			t.Fatalf("round trip changed the sources: %d, want %d", len(again), len(splits))
		}
		for v, ss := range splits {
			if len(again[v]) != len(ss) {
				t.Fatalf("round trip changed the splits of vertex %d", v)
			}
		}
	})
}
