// Package reload polls files that daemons re-read while running (token
// files, gossip key files): one loop, one rule for logging a broken file
// once rather than at every poll.
package reload

import (
	"context"
	"time"
)

// DefaultInterval is the polling interval when none is given.
const DefaultInterval = 10 * time.Second

// Poll calls reload every interval (0: DefaultInterval) until ctx ends.
// reload reports whether the files changed and the error that kept the
// previous contents in force. failed is called with each new error, not
// again while the same error repeats; applied after each change taken
// without error. after, if not nil, is called after each attempt that
// found a change, with its error, except for a repeated error.
func Poll(ctx context.Context, interval time.Duration, reload func() (bool, error), failed func(error), applied func(), after func(error)) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	lastErr := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := reload()
		switch {
		case err != nil && err.Error() == lastErr:
			continue
		case err != nil:
			lastErr = err.Error()
			failed(err)
		case changed:
			lastErr = ""
			applied()
		default:
			lastErr = ""
		}
		if changed && after != nil {
			after(err)
		}
	}
}
