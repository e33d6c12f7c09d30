package dag_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/dagflow/dagflow/dag"
)

type optIn struct{ fatal bool }

func (o optIn) Error() string { return "opt-in" }
func (o optIn) Fatal() bool   { return o.fatal }

func TestIsFatal(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{base, false},
		{dag.Fatal(base), true},
		{fmt.Errorf("task: %w", dag.Fatal(base)), true},
		{fmt.Errorf("read: %w", optIn{true}), true},
		{fmt.Errorf("read: %w", optIn{false}), false},
	}
	for _, tt := range tests {
		if got := dag.IsFatal(tt.err); got != tt.want {
			t.Errorf("IsFatal(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	if dag.Fatal(nil) != nil {
		t.Error("Fatal(nil) != nil")
	}
	if !errors.Is(dag.Fatal(base), base) {
		t.Error("Fatal does not unwrap")
	}
}
