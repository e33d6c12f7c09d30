package dag_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/testkit"
)

func TestBufferTimeout(t *testing.T) {
	for _, tc := range []struct {
		set, want time.Duration
		err       bool
	}{
		{0, dag.DefaultBufferTimeout, false},
		{time.Millisecond, time.Millisecond, false},
		{-time.Millisecond, 0, true},
	} {
		g := dag.New("bt", dag.Config{BufferTimeout: tc.set})
		dag.ToSink(dag.FromSource(g, "src", &testkit.SliceSource[int]{Items: []int{1}}, nil), "out", testkit.NewCollector[int]())
		plan, err := g.Build()
		if tc.err {
			if !errors.Is(err, dag.ErrInvalid) || !strings.Contains(err.Error(), "buffer timeout -1ms") {
				t.Errorf("BufferTimeout %s: error %v, want one naming the buffer timeout", tc.set, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("BufferTimeout %s: %v", tc.set, err)
		}
		if got := plan.Config.EffectiveBufferTimeout(); got != tc.want {
			t.Errorf("BufferTimeout %s: effective %s, want %s", tc.set, got, tc.want)
		}
	}
}
