package dag

import (
	"slices"
	"testing"
)

// TestFlatMapEachOneFunctionPerSubtask: every operator instance gets its
// own function, whose scratch state is not shared.
func TestFlatMapEachOneFunctionPerSubtask(t *testing.T) {
	g := New("each", Config{})
	calls := 0
	s := FlatMapEach(otInput[int](g, "in"), func() func(int, func(int)) {
		calls++
		seen := 0 // per-instance state
		return func(v int, emit func(int)) {
			seen++
			emit(v*10 + seen)
		}
	})
	for range 2 {
		h := newOTHarness(t, otNewOperator(t, s), 2)
		out := otOutput[int](h)
		h.open()
		otPush(h, 0, []int{1, 2, 3}, []int64{1, 2, 3})
		h.close()
		if got := out.values(); !slices.Equal(got, []int{11, 22, 33}) {
			t.Errorf("instance output %v, want [11 22 33]", got)
		}
	}
	if calls != 2 {
		t.Errorf("newFn called %d times for 2 instances", calls)
	}
	bad := New("bad", Config{})
	FlatMapEach[int, int](otInput[int](bad, "in"), nil)
	if otGraphErr(bad) == nil {
		t.Error("nil newFn accepted")
	}
}
