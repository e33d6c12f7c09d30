package protocol

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/rpcpb"
)

// SplitsToProto converts splits to their protobuf messages.
func SplitsToProto(splits []dag.Split) []*rpcpb.Split {
	out := make([]*rpcpb.Split, len(splits))
	for i, s := range splits {
		out[i] = &rpcpb.Split{Id: s.ID, Data: s.Data, Weight: s.Weight}
	}
	return out
}

// SplitsFromProto converts protobuf splits back.
func SplitsFromProto(splits []*rpcpb.Split) []dag.Split {
	out := make([]dag.Split, len(splits))
	for i, s := range splits {
		out[i] = dag.Split{ID: s.GetId(), Data: s.GetData(), Weight: s.GetWeight()}
	}
	return out
}

// FinishedToProto converts finished-split reports to protobuf.
func FinishedToProto(fs []dag.FinishedSplit) []*rpcpb.FinishedSplit {
	out := make([]*rpcpb.FinishedSplit, len(fs))
	for i, f := range fs {
		out[i] = &rpcpb.FinishedSplit{Id: f.ID, Report: f.Report}
	}
	return out
}

// FinishedFromProto converts protobuf finished-split reports back.
func FinishedFromProto(fs []*rpcpb.FinishedSplit) []dag.FinishedSplit {
	if len(fs) == 0 {
		return nil
	}
	out := make([]dag.FinishedSplit, len(fs))
	for i, f := range fs {
		out[i] = dag.FinishedSplit{ID: f.GetId(), Report: f.GetReport()}
	}
	return out
}

// SourceSplitsToProto converts the splits of every source, ordered by
// vertex.
func SourceSplitsToProto(m map[int][]dag.Split) []*rpcpb.SourceSplits {
	out := make([]*rpcpb.SourceSplits, 0, len(m))
	for v, splits := range m {
		out = append(out, &rpcpb.SourceSplits{Vertex: int32(v), Splits: SplitsToProto(splits)})
	}
	slices.SortFunc(out, func(a, b *rpcpb.SourceSplits) int { return cmp.Compare(a.Vertex, b.Vertex) })
	return out
}

// SourceSplitsFromProto converts the splits of every source back; a
// vertex listed twice or a negative vertex is an error.
func SourceSplitsFromProto(ss []*rpcpb.SourceSplits) (map[int][]dag.Split, error) {
	m := make(map[int][]dag.Split, len(ss))
	for i, s := range ss {
		v := int(s.GetVertex())
		if v < 0 {
			return nil, fmt.Errorf("protocol: splits entry %d names vertex %d", i, v)
		}
		if _, dup := m[v]; dup {
			return nil, fmt.Errorf("protocol: splits entry %d names vertex %d again", i, v)
		}
		m[v] = SplitsFromProto(s.GetSplits())
	}
	return m, nil
}

// EncodeSubmission builds the plan role's result.
func EncodeSubmission(p *dag.Plan, splits map[int][]dag.Split) (*rpcpb.Submission, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("protocol: encode plan: %w", err)
	}
	return &rpcpb.Submission{PlanJson: b, Splits: SourceSplitsToProto(splits)}, nil
}

// DecodeSubmission decodes the plan role's result (or the same fields of
// a submit request).
func DecodeSubmission(sub *rpcpb.Submission) (*dag.Plan, map[int][]dag.Split, error) {
	var p dag.Plan
	if err := json.Unmarshal(sub.GetPlanJson(), &p); err != nil {
		return nil, nil, fmt.Errorf("protocol: decode plan: %w", err)
	}
	splits, err := SourceSplitsFromProto(sub.GetSplits())
	if err != nil {
		return nil, nil, err
	}
	return &p, splits, nil
}
