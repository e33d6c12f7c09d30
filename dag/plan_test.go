package dag_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/dag"
)

// stubSource is a minimal source for plan tests.
type stubSource[T any] struct{ bounded bool }

func (s stubSource[T]) Bounded() bool { return s.bounded }
func (s stubSource[T]) Splits(context.Context, dag.SplitContext) ([]dag.Split, error) {
	return nil, nil
}
func (s stubSource[T]) OpenSplit(context.Context, dag.ReaderContext, dag.Split) (dag.SplitReader[T], error) {
	return nil, io.EOF
}

type stubSink[T any] struct{}

func (stubSink[T]) NewWriter(context.Context, dag.SinkContext) (dag.SinkWriter[T], error) {
	return nil, nil
}
func (stubSink[T]) Committer() dag.Committer { return nil }

type noCoder struct{ A int }

func ident(s string) string { return s }

func countAgg() dag.Agg[string, int64, int64] {
	return dag.Agg[string, int64, int64]{
		Zero: func() int64 { return 0 }, Add: func(n int64, _ string) int64 { return n + 1 },
		Merge: func(a, b int64) int64 { return a + b }, Result: func(n int64) int64 { return n },
	}
}

func TestValidationErrors(t *testing.T) {
	tests := []struct {
		name  string
		build func() *dag.Graph
		want  []string
	}{
		{"parallelism zero", func() *dag.Graph {
			g := dag.New("j", dag.Config{})
			s := dag.FromSource(g, "src", stubSource[string]{true}, nil)
			dag.ToSink(dag.Map(s, ident, dag.Parallelism(0), dag.Name("m")), "out", stubSink[string]{})
			return g
		}, []string{`vertex 1 (map "m"): parallelism 0: must be at least 1`}},
		{"blocking edge from unbounded", func() *dag.Graph {
			g := dag.New("j", dag.Config{})
			s := dag.FromSource(g, "kafka", stubSource[string]{false}, nil)
			dag.ToSink(dag.Map(s.Blocking(), ident, dag.Name("m")), "out", stubSink[string]{})
			return g
		}, []string{`blocking edge from unbounded vertex 0 (source "kafka")`}},
		{"unbounded source in batch mode", func() *dag.Graph {
			g := dag.New("j", dag.Config{Mode: dag.BatchMode})
			s := dag.FromSource(g, "kafka", stubSource[string]{false}, nil)
			dag.ToSink(s, "out", stubSink[string]{})
			return g
		}, []string{`vertex 0 (source "kafka"): unbounded source in batch execution mode`}},
		{"missing coder across network edge", func() *dag.Graph {
			g := dag.New("j", dag.Config{Parallelism: 2})
			s := dag.FromSource(g, "src", stubSource[string]{true}, nil)
			m := dag.Map(s, func(string) noCoder { return noCoder{} }, dag.Name("parse"))
			dag.ToSink(m.Rebalance(), "out", stubSink[noCoder]{}, dag.Parallelism(1))
			return g
		}, []string{`vertex 1 (map "parse"): output type dag_test.noCoder has no coder but crosses a network edge to vertex 2 (sink "out")`}},
		{"forward with unequal parallelism", func() *dag.Graph {
			g := dag.New("j", dag.Config{Parallelism: 2})
			s := dag.FromSource(g, "src", stubSource[string]{true}, nil)
			dag.ToSink(s.Forward(), "out", stubSink[string]{}, dag.Parallelism(3))
			return g
		}, []string{`forward edge from vertex 0 (source "src") needs equal parallelism (2 != 3)`}},
		{"unconsumed output", func() *dag.Graph {
			g := dag.New("j", dag.Config{})
			s := dag.FromSource(g, "src", stubSource[string]{true}, nil)
			dag.Map(s, ident, dag.Name("dangling"))
			dag.ToSink(s, "out", stubSink[string]{})
			return g
		}, []string{`vertex 1 (map "dangling"): output is not consumed`}},
		{"hash partition without key", func() *dag.Graph {
			g := dag.New("j", dag.Config{})
			s := dag.FromSource(g, "src", stubSource[string]{true}, nil)
			dag.ToSink(s.Partition(dag.Hash), "out", stubSink[string]{})
			return g
		}, []string{`hash partitioning needs a key`}},
		{"keyed parallelism above max", func() *dag.Graph {
			g := dag.New("j", dag.Config{MaxParallelism: 4})
			s := dag.FromSource(g, "src", stubSource[string]{true}, nil)
			c := dag.Aggregate(dag.KeyBy(s, ident), countAgg(), dag.Name("count"), dag.Parallelism(8))
			dag.ToSink(c, "out", stubSink[dag.KV[string, int64]]{})
			return g
		}, []string{`parallelism 8 exceeds max parallelism 4`}},
		{"nil function", func() *dag.Graph {
			g := dag.New("j", dag.Config{})
			s := dag.FromSource(g, "src", stubSource[string]{true}, nil)
			dag.ToSink(dag.Map[string, string](s, nil, dag.Name("m")), "out", stubSink[string]{})
			return g
		}, []string{`vertex 1 (map "m"): nil function`}},
		{"several errors at once", func() *dag.Graph {
			g := dag.New("j", dag.Config{})
			s := dag.FromSource(g, "src", stubSource[string]{true}, nil)
			dag.ToSink(dag.Map(s, ident, dag.Parallelism(-1), dag.Name("a")), "out", stubSink[string]{})
			dag.Map(s, ident, dag.Name("b"))
			return g
		}, []string{`"a"): parallelism -1`, `"b"): output is not consumed`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.build().Build()
			if err == nil {
				t.Fatal("Build succeeded, want an error")
			}
			if !errors.Is(err, dag.ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func wordCount(cfg dag.Config) *dag.Graph {
	g := dag.New("wc", cfg)
	s := dag.FromSource(g, "lines", stubSource[string]{true}, nil)
	w := dag.FlatMap(s, func(l string, emit func(string)) {
		for _, f := range strings.Fields(l) {
			emit(f)
		}
	}, dag.Name("tokenize"))
	c := dag.Aggregate(dag.KeyBy(w, ident), countAgg(), dag.Name("count"))
	dag.ToSink(c, "out", stubSink[dag.KV[string, int64]]{})
	return g
}

func TestPlanResolutionAndChaining(t *testing.T) {
	tests := []struct {
		mode     dag.ExecutionMode
		wantMode dag.ExchangeMode
	}{
		{dag.BatchMode, dag.Blocking},
		{dag.AutoMode, dag.Blocking},
		{dag.StreamingMode, dag.Pipelined},
	}
	for _, tt := range tests {
		p, err := wordCount(dag.Config{Parallelism: 3, Mode: tt.mode}).Build()
		if err != nil {
			t.Fatal(err)
		}
		// lines -> tokenize -> combine chained; hash shuffle; count -> sink chained.
		if len(p.Tasks) != 2 {
			t.Fatalf("%s: %d tasks, want 2: %+v", tt.mode, len(p.Tasks), p.Tasks)
		}
		if got := p.Tasks[0].Vertices; len(got) != 3 {
			t.Errorf("%s: first chain %v, want source, tokenize, combine", tt.mode, got)
		}
		var shuffles int
		for _, e := range p.Edges {
			if e.Chained {
				if e.Partitioner != dag.Forward || e.Mode != dag.Pipelined {
					t.Errorf("%s: chained edge %+v is not forward/pipelined", tt.mode, e)
				}
				continue
			}
			shuffles++
			if e.Partitioner != dag.Hash || e.Mode != tt.wantMode {
				t.Errorf("%s: shuffle edge %+v, want hash/%s", tt.mode, e, tt.wantMode)
			}
		}
		if shuffles != 1 {
			t.Errorf("%s: %d network edges, want 1", tt.mode, shuffles)
		}
	}
}

func TestFingerprintDeterministicAndSensitive(t *testing.T) {
	p1, err := wordCount(dag.Config{Parallelism: 2}).Build()
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := wordCount(dag.Config{Parallelism: 2}).Build()
	p3, _ := wordCount(dag.Config{Parallelism: 3}).Build()
	if p1.Fingerprint == "" || p1.Fingerprint != p2.Fingerprint {
		t.Errorf("same graph, fingerprints %q and %q", p1.Fingerprint, p2.Fingerprint)
	}
	if p1.Fingerprint == p3.Fingerprint {
		t.Error("different parallelism, same fingerprint")
	}
	if err := p1.Verify(p3); err == nil || !strings.Contains(err.Error(), "fingerprint mismatch") {
		t.Errorf("Verify of different plans: %v", err)
	}
	if err := p1.Verify(p2); err != nil {
		t.Errorf("Verify of equal plans: %v", err)
	}
}

func TestExplainFormats(t *testing.T) {
	p, err := wordCount(dag.Config{Parallelism: 2, Mode: dag.BatchMode}).Build()
	if err != nil {
		t.Fatal(err)
	}
	var text, dot, js bytes.Buffer
	for f, buf := range map[string]*bytes.Buffer{"text": &text, "dot": &dot, "json": &js} {
		if err := p.Explain(buf, f); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	for _, want := range []string{"2 tasks, 4 pipelined regions", `vertex 1 flatmap    "tokenize"`, "hash      blocking  network", "regions=[0,1]"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text plan lacks %q:\n%s", want, text.String())
		}
	}
	if !strings.Contains(dot.String(), "digraph") || !strings.Contains(dot.String(), "style=dashed") {
		t.Errorf("dot plan:\n%s", dot.String())
	}
	if !strings.Contains(js.String(), `"mode": "blocking"`) {
		t.Errorf("json plan lacks resolved modes:\n%s", js.String())
	}
	if err := p.Explain(io.Discard, "svg"); err == nil {
		t.Error("unknown format accepted")
	}
}
