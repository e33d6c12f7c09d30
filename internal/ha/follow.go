package ha

import (
	"context"
	"log/slog"
	"time"
)

// LeaderSource says which master leads an HA cluster (Client implements
// it).
type LeaderSource interface {
	// WaitLeader blocks until a leader with an epoch above after is
	// published, and returns it.
	WaitLeader(ctx context.Context, after uint64) (Info, error)
}

// Follow calls join with every new leader src publishes, until ctx ends:
// a worker or shuffle daemon re-registers with each new leading master.
// The guard records each leader's epoch (a late announcement of an older
// leader is skipped). A failing join is retried every retry until it
// succeeds or a newer leader is seen.
func Follow(ctx context.Context, src LeaderSource, guard *Guard, log *slog.Logger, retry time.Duration, join func(context.Context, Info) error) {
	pause := func() bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(retry):
			return true
		}
	}
	for {
		info, err := src.WaitLeader(ctx, guard.Epoch())
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("finding the leading master", "err", err)
			if !pause() {
				return
			}
			continue
		}
		if !guard.Observe(info.Epoch) {
			continue // an older leader's late announcement
		}
		log.Info("new leading master", "master", info.Address, "epoch", info.Epoch)
		for attempt := 0; ; attempt++ {
			err := join(ctx, info)
			if err == nil || ctx.Err() != nil {
				break
			}
			log.Warn("register with the new leader", "attempt", attempt, "err", err)
			if guard.Epoch() != info.Epoch || !pause() {
				break // a newer leader already, or closing
			}
		}
	}
}
