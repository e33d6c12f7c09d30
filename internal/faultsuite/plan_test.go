package faultsuite_test

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/internal/faultsuite"
)

func TestNewPlansIsSeededAndCoversEveryFault(t *testing.T) {
	cases := faultsuite.Cases()
	for seed := uint64(0); seed < 200; seed++ {
		a, err := faultsuite.NewPlans(seed, cases)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := faultsuite.NewPlans(seed, cases)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d gave two different plans:\n%v\n%v", seed, a, b)
		}
		used := map[faultsuite.Fault]bool{}
		for i, p := range a {
			if p.Case.Name != cases[i].Name {
				t.Fatalf("seed %d: plan %d is for %s, want %s", seed, i, p.Case.Name, cases[i].Name)
			}
			if p.At < p.Case.MinAt || p.At > p.Case.MaxAt {
				t.Errorf("seed %d: %s: fault at %d, outside %d..%d", seed, p.Case.Name, p.At, p.Case.MinAt, p.Case.MaxAt)
			}
			allowed := false
			for _, f := range p.Case.Faults {
				allowed = allowed || f == p.Fault
			}
			if !allowed {
				t.Errorf("seed %d: %s got %s, which it does not allow", seed, p.Case.Name, p.Fault)
			}
			used[p.Fault] = true
		}
		if len(used) != len(faultsuite.Faults()) {
			t.Errorf("seed %d uses only %v", seed, used)
		}
	}
	a, _ := faultsuite.NewPlans(1, cases)
	b, _ := faultsuite.NewPlans(2, cases)
	c, _ := faultsuite.NewPlans(3, cases)
	if reflect.DeepEqual(a, b) && reflect.DeepEqual(b, c) {
		t.Error("seeds 1, 2 and 3 gave the same plans")
	}
}

func TestNewPlansRejectsBadCases(t *testing.T) {
	tests := []struct {
		name string
		c    faultsuite.Case
		want string
	}{
		{"no faults", faultsuite.Case{Name: "x", MinAt: 1, MaxAt: 2}, `case "x": needs faults`},
		{"zero point", faultsuite.Case{Name: "y", Faults: []faultsuite.Fault{faultsuite.FailTask}, MaxAt: 2}, "0 < MinAt <= MaxAt (got 1 faults, 0..2)"},
		{"empty range", faultsuite.Case{Name: "z", Faults: []faultsuite.Fault{faultsuite.FailTask}, MinAt: 5, MaxAt: 4}, "5..4"},
	}
	for _, tt := range tests {
		if _, err := faultsuite.NewPlans(1, []faultsuite.Case{tt.c}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestSeedFromEnvironment(t *testing.T) {
	tests := []struct {
		env     string
		want    uint64
		wantErr string
	}{
		{"42", 42, ""},
		{" 7 ", 7, ""},
		{"-1", 0, `DAGFLOW_FAULT_SEED="-1" is not an unsigned integer`},
		{"abc", 0, `DAGFLOW_FAULT_SEED="abc"`},
	}
	for _, tt := range tests {
		t.Setenv(faultsuite.SeedEnv, tt.env)
		got, err := faultsuite.Seed()
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want %q", tt.env, err, tt.wantErr)
			}
		case err != nil || got != tt.want:
			t.Errorf("%q: seed %d, %v; want %d", tt.env, got, err, tt.want)
		}
	}
}

func TestCompareLinesCountsDuplicates(t *testing.T) {
	want := map[string]int{"a": 1, "b": 2}
	tests := []struct {
		name string
		got  []string
		diff string // "" for equal
	}{
		{"equal", []string{"b", "a", "b"}, ""},
		{"missing", []string{"a", "b"}, `"b": 1 times, want 2`},
		{"duplicate", []string{"a", "a", "b", "b"}, `"a": 2 times, want 1`},
		{"extra", []string{"a", "b", "b", "c"}, `"c": 1 times, want 0`},
		{"empty", nil, "output has 0 lines, want 3"},
	}
	for _, tt := range tests {
		err := faultsuite.CompareLines(tt.got, want)
		if tt.diff == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.diff) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.diff)
		}
	}
}

func TestCheckMidInput(t *testing.T) {
	src := faultsuite.Case{Name: "s", Probe: "src", ProbeRole: faultsuite.RoleSource}
	sink := faultsuite.Case{Name: "k", Probe: "route", ProbeRole: faultsuite.RoleSink}
	later := []faultsuite.Count{{Subtask: 1, Attempt: 1, Read: 500}, {Subtask: 0, Attempt: 1, Read: 90}}
	tests := []struct {
		name   string
		c      faultsuite.Case
		r      faultsuite.Reached
		counts []faultsuite.Count
		want   string // "" for ok
	}{
		{"source inside split", src, faultsuite.Reached{Vertex: "src", Read: 10, SplitDone: 10, SplitTotal: 100}, nil, ""},
		{"source at split end", src, faultsuite.Reached{Vertex: "src", Read: 100, SplitDone: 100, SplitTotal: 100}, nil, "not inside a split"},
		{"source unknown progress", src, faultsuite.Reached{Vertex: "src", Read: 100}, nil, "not inside a split"},
		{"nothing read", src, faultsuite.Reached{Vertex: "src", SplitTotal: 100}, nil, "had read nothing"},
		{"other vertex", src, faultsuite.Reached{Vertex: "route", Read: 1}, nil, `reached by "route", want "src"`},
		{"sink mid input", sink, faultsuite.Reached{Vertex: "route", Subtask: 1, Read: 100}, later, ""},
		{"sink read all", sink, faultsuite.Reached{Vertex: "route", Subtask: 0, Read: 90}, later, "had read 90 records at the fault point, all of its 90"},
		{"sink no later attempt", sink, faultsuite.Reached{Vertex: "route", Subtask: 2, Read: 5}, later, "no later attempt of route[2]"},
		{"sink own attempt only", sink, faultsuite.Reached{Vertex: "route", Subtask: 1, Attempt: 1, Read: 5}, later[:1], "no later attempt"},
	}
	for _, tt := range tests {
		err := faultsuite.CheckMidInput(tt.c, tt.r, tt.counts)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

// TestExpectedIsIndependentArithmetic spot-checks Expected against sums
// worked out by hand for tiny inputs.
func TestExpectedIsIndependentArithmetic(t *testing.T) {
	wc, err := faultsuite.Expected("wordcount", 2)
	if err != nil {
		t.Fatal(err)
	}
	// Lines "w0 w0 x0 alpha" and "w1 w1 x1 alpha".
	want := map[string]int{"w0\t2": 1, "x0\t1": 1, "w1\t2": 1, "x1\t1": 1, "alpha\t2": 1}
	if !reflect.DeepEqual(wc, want) {
		t.Errorf("wordcount over 2 lines: %v, want %v", wc, want)
	}
	win, err := faultsuite.Expected("window", 1001)
	if err != nil {
		t.Fatal(err)
	}
	// Key 0 in window 0 holds events 0, 8, ..., 992 (125 events); event
	// 1000 (key 0) opens window 1000.
	var sum int64
	for i := int64(0); i < 1000; i += 8 {
		sum += i%97 + 1
	}
	if line := "0\t0\t" + strconv.FormatInt(sum, 10) + "\t125"; win[line] != 1 {
		t.Errorf("window output lacks %q: %v", line, win)
	}
	if line := "0\t1000\t" + strconv.FormatInt(1000%97+1, 10) + "\t1"; win[line] != 1 {
		t.Errorf("window output lacks %q", line)
	}
	if _, err := faultsuite.Expected("nope", 1); err == nil {
		t.Error("unknown case accepted")
	}
}
