package scheduler

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// chain builds vertices named a, b, c, ... with the given parallelisms, all
// bounded.
func chain(pars ...int) []Vertex {
	vs := make([]Vertex, len(pars))
	for i, p := range pars {
		vs[i] = Vertex{ID: i, Name: string(rune('a' + i)), Parallelism: p, Bounded: true}
	}
	return vs
}

func TestValidate(t *testing.T) {
	unbounded := chain(1, 1)
	unbounded[0].Bounded = false
	badID := chain(1, 1)
	badID[1].ID = 5
	for _, tc := range []struct {
		name string
		topo Topology
		want string // substring of the error; "" means valid
	}{
		{"ok", Topology{Vertices: chain(2, 2), Edges: []Edge{{0, 1, Pipelined, Pointwise}}}, ""},
		{"empty", Topology{}, "no vertices"},
		{"bad vertex id", Topology{Vertices: badID}, `vertex "b" at index 1 has ID 5`},
		{"zero parallelism", Topology{Vertices: chain(1, 0)}, "vertex 1 (b) has parallelism 0"},
		{"edge out of range", Topology{Vertices: chain(1), Edges: []Edge{{0, 3, Pipelined, AllToAll}}},
			"edge 0 (a -> v3): references a vertex outside 0..0"},
		{"negative edge", Topology{Vertices: chain(1), Edges: []Edge{{-1, 0, Pipelined, AllToAll}}},
			"edge 0 (v-1 -> a)"},
		{"unknown mode", Topology{Vertices: chain(1, 1), Edges: []Edge{{0, 1, ExchangeMode(7), AllToAll}}},
			"unknown exchange mode 7"},
		{"unknown pattern", Topology{Vertices: chain(1, 1), Edges: []Edge{{0, 1, Blocking, Pattern(9)}}},
			"unknown pattern 9"},
		{"pointwise unequal", Topology{Vertices: chain(2, 3), Edges: []Edge{{0, 1, Pipelined, Pointwise}}},
			"edge 0 (a -> b): pointwise edge needs equal parallelism, got 2 and 3"},
		{"blocking from unbounded", Topology{Vertices: unbounded, Edges: []Edge{{0, 1, Blocking, AllToAll}}},
			"edge 0 (a -> b): blocking edge from unbounded vertex a"},
		{"pipelined from unbounded", Topology{Vertices: unbounded, Edges: []Edge{{0, 1, Pipelined, AllToAll}}}, ""},
		{"self loop", Topology{Vertices: chain(1), Edges: []Edge{{0, 0, Pipelined, AllToAll}}},
			"cycle through vertices a -> a"},
		{"cycle", Topology{Vertices: chain(1, 1, 1), Edges: []Edge{
			{0, 1, Pipelined, AllToAll}, {1, 2, Blocking, AllToAll}, {2, 1, Pipelined, AllToAll}}},
			"cycle through vertices b -> c -> b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.topo.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
			if !errors.Is(err, ErrInvalidTopology) {
				t.Fatalf("error %v does not wrap ErrInvalidTopology", err)
			}
			if _, err := New(tc.topo, Config{}); err == nil {
				t.Fatal("New accepted an invalid topology")
			}
			if _, err := ComputeRegions(tc.topo); err == nil {
				t.Fatal("ComputeRegions accepted an invalid topology")
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	topo := Topology{Vertices: chain(1)}
	for _, cfg := range []Config{
		{Restart: FixedDelay(-1, time.Second)},
		{Restart: FixedDelay(1, -time.Second)},
		{Restart: ExponentialBackoff(time.Second, time.Minute, 0.5, 3)},
		{Restart: RestartStrategy{Kind: 42}},
		{SlotWaitTimeout: -time.Second},
	} {
		if _, err := New(topo, cfg); err == nil {
			t.Errorf("New accepted config %+v", cfg)
		}
	}
}

func TestRestartDelays(t *testing.T) {
	for _, tc := range []struct {
		r    RestartStrategy
		want []time.Duration // delays of restarts 1, 2, ...
		max  int             // last allowed restart
	}{
		{NoRestart(), nil, 0},
		{FixedDelay(3, 2*time.Second), []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second}, 3},
		{ExponentialBackoff(time.Second, 10*time.Second, 3, 5),
			[]time.Duration{time.Second, 3 * time.Second, 9 * time.Second, 10 * time.Second, 10 * time.Second}, 5},
		{ExponentialBackoff(100*time.Millisecond, 0, 1.5, 3),
			[]time.Duration{100 * time.Millisecond, 150 * time.Millisecond, 225 * time.Millisecond}, 3},
	} {
		for n := 1; n <= len(tc.want); n++ {
			if got := tc.r.delay(n); got != tc.want[n-1] {
				t.Errorf("%s: delay(%d) = %s, want %s", tc.r, n, got, tc.want[n-1])
			}
		}
		for n := 1; n <= tc.max+1; n++ {
			if got, want := tc.r.allows(n), n <= tc.max; got != want {
				t.Errorf("%s: allows(%d) = %v, want %v", tc.r, n, got, want)
			}
		}
	}
	// Huge attempt counts neither overflow nor exceed the cap.
	r := ExponentialBackoff(time.Second, time.Hour, 10, 1000)
	if got := r.delay(1000); got != time.Hour {
		t.Errorf("delay(1000) = %s, want 1h", got)
	}
}
