package ha

import (
	"errors"
	"fmt"
	"testing"

	"github.com/go-zookeeper/zk"
)

// TestTransient checks which ZooKeeper errors a campaign tries again: a
// dropped connection (the session may survive it), not an answer.
func TestTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{zk.ErrConnectionClosed, true},
		{fmt.Errorf("read: %w", zk.ErrConnectionClosed), true},
		{zk.ErrNoServer, true},
		{zk.ErrNoNode, false},
		{zk.ErrNodeExists, false},
		{zk.ErrBadVersion, false},
		{zk.ErrSessionExpired, false},
		{zk.ErrClosing, false},
		{errors.New("other"), false},
		{nil, false},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
