package ha

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func TestGuard(t *testing.T) {
	var newer [][2]uint64
	g := NewGuard(func(old, n uint64) { newer = append(newer, [2]uint64{old, n}) })
	call := func(e string) error {
		ctx := context.Background()
		if e != "" {
			ctx = metadata.NewIncomingContext(ctx, metadata.Pairs(EpochHeader, e))
		}
		return g.Check(ctx)
	}
	steps := []struct {
		epoch   string
		wantErr bool
	}{
		{"", false},  // no epoch: passes
		{"2", false}, // first leader seen
		{"2", false},
		{"1", true},  // deposed leader
		{"3", false}, // newer leader
		{"2", true},
		{"x", false}, // unparsable: treated as none
	}
	for i, s := range steps {
		err := call(s.epoch)
		if (err != nil) != s.wantErr {
			t.Fatalf("step %d epoch %q: err = %v, want error %v", i, s.epoch, err, s.wantErr)
		}
		if err != nil && status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("step %d: code %v", i, status.Code(err))
		}
	}
	if g.Epoch() != 3 || len(newer) != 2 || newer[0] != [2]uint64{0, 2} || newer[1] != [2]uint64{2, 3} {
		t.Fatalf("epoch %d, newer %v", g.Epoch(), newer)
	}
}
