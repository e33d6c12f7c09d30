package protocol

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/shuffle"
)

func TestStatusWireRoundTrip(t *testing.T) {
	part := shuffle.PartitionID{Job: "j", Result: "e3", Producer: 2, Attempt: 1}
	tests := []struct {
		name  string
		err   error
		check func(error) bool
	}{
		{"ok", nil, func(err error) bool { return err == nil }},
		{"canceled", fmt.Errorf("run: %w", context.Canceled), func(err error) bool { return errors.Is(err, context.Canceled) }},
		{"fatal", dag.Fatal(errors.New("bad record")), dag.IsFatal},
		{"lost input", &InputError{Partition: part, Location: "w1", Err: shuffle.ErrNotExist}, func(err error) bool {
			var ie *InputError
			return errors.As(err, &ie) && ie.Partition == part && errors.Is(err, shuffle.ErrNotExist)
		}},
		{"corrupt input", &InputError{Partition: part, Err: shuffle.ErrCorrupt}, func(err error) bool { return errors.Is(err, shuffle.ErrCorrupt) }},
		{"plain", errors.New("boom"), func(err error) bool { return err != nil && !dag.IsFatal(err) && err.Error() == "boom" }},
	}
	for _, tt := range tests {
		in := TaskStatus{Job: "j", ID: TaskID{Vertex: 1, Subtask: 2}, Attempt: 3, Err: tt.err, Committables: map[int][][]byte{4: {[]byte("x")}}}
		out, err := StatusFromProto(StatusToProto(in))
		if err != nil {
			t.Fatal(err)
		}
		if out.ID != in.ID || out.Attempt != 3 || string(out.Committables[4][0]) != "x" || !tt.check(out.Err) {
			t.Errorf("%s: round trip gave %+v", tt.name, out)
		}
	}
}

func TestStatusWireCarriesExternalLocations(t *testing.T) {
	in := TaskStatus{Job: "j", ID: TaskID{Vertex: 0, Subtask: 1}, External: true, Locations: map[int]string{1: "10.0.0.5:7072"}}
	out, err := StatusFromProto(StatusToProto(in))
	if err != nil {
		t.Fatal(err)
	}
	if !out.External || out.Locations[1] != "10.0.0.5:7072" || len(out.Locations) != 1 {
		t.Fatalf("round trip gave %+v", out)
	}
}
