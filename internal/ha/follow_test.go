package ha

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

// scripted is a LeaderSource announcing a fixed sequence of leaders, then
// blocking until ctx ends.
type scripted struct{ infos chan Info }

func (s scripted) WaitLeader(ctx context.Context, after uint64) (Info, error) {
	select {
	case i := <-s.infos:
		return i, nil
	case <-ctx.Done():
		return Info{}, ctx.Err()
	}
}

// TestFollowJoinsEachNewerLeaderOnce announces leaders 1, 3, a late 2 and
// 4; joining 3 fails once. Follow joins 1, 3 (twice: the retry), skips 2
// and joins 4.
func TestFollowJoinsEachNewerLeaderOnce(t *testing.T) {
	src := scripted{make(chan Info, 4)}
	for _, e := range []uint64{1, 3, 2, 4} {
		src.infos <- Info{Epoch: e, Address: "m"}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := NewGuard(nil)
	var joined []uint64
	failed := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		Follow(ctx, src, g, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Millisecond, func(_ context.Context, i Info) error {
			joined = append(joined, i.Epoch)
			if i.Epoch == 3 && !failed {
				failed = true
				return errors.New("not serving yet")
			}
			if i.Epoch == 4 {
				cancel()
			}
			return nil
		})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not return after ctx ended")
	}
	want := []uint64{1, 3, 3, 4}
	if len(joined) != len(want) {
		t.Fatalf("joined %v, want %v", joined, want)
	}
	for i := range want {
		if joined[i] != want[i] {
			t.Fatalf("joined %v, want %v", joined, want)
		}
	}
	if g.Epoch() != 4 {
		t.Fatalf("guard epoch %d, want 4", g.Epoch())
	}
}
