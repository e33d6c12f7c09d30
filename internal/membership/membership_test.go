package membership

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dagflow/dagflow/internal/netaddr"
)

func TestDeadMemberDetected(t *testing.T) {
	var mu sync.Mutex
	left := map[string]bool{}
	joined := map[string]bool{}
	master, err := Start(Config{Name: "master", BindAddr: "127.0.0.1", FailureTimeout: time.Second,
		OnLeave: func(n, _ string) { mu.Lock(); left[n] = true; mu.Unlock() },
		OnJoin:  func(n string) { mu.Lock(); joined[n] = true; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	w, err := Start(Config{Name: "w1", BindAddr: "127.0.0.1", FailureTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Join(master.Address()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return joined["w1"] })
	// Stop gossiping without leaving: as if the process froze or died.
	if err := w.ml.Shutdown(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return left["w1"] })
	t.Logf("dead member detected after %s", time.Since(start))
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWildcardBindAdvertisesRoutableAddress binds members to wildcards
// and checks that what they gossip is a specific address others join.
func TestWildcardBindAdvertisesRoutableAddress(t *testing.T) {
	for _, tt := range []struct{ bind, advertise string }{
		{"0.0.0.0", ""}, {"::", ""}, {"", ""}, {"0.0.0.0", "127.0.0.1"}, {"::", "localhost"},
	} {
		var mu sync.Mutex
		joined := map[string]bool{}
		a, err := Start(Config{Name: "a", BindAddr: tt.bind, Advertise: tt.advertise, FailureTimeout: time.Second,
			OnJoin: func(n string) { mu.Lock(); joined[n] = true; mu.Unlock() }})
		if err != nil {
			if tt.bind == "::" {
				t.Logf("bind %q: %v (no IPv6 here)", tt.bind, err)
				continue
			}
			t.Fatalf("bind %q: %v", tt.bind, err)
		}
		host, _, err := net.SplitHostPort(a.Address())
		if err != nil || netaddr.IsWildcard(host) {
			t.Errorf("bind %q advertise %q: member address %q is not specific (%v)", tt.bind, tt.advertise, a.Address(), err)
		}
		if tt.advertise == "127.0.0.1" && host != "127.0.0.1" {
			t.Errorf("bind %q advertise %q: member address %q", tt.bind, tt.advertise, a.Address())
		}
		b, err := Start(Config{Name: "b", BindAddr: "127.0.0.1", FailureTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Join(a.Address()); err != nil {
			t.Errorf("bind %q: join %s: %v", tt.bind, a.Address(), err)
		} else {
			waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return joined["b"] })
		}
		b.Close()
		a.Close()
	}
}

func TestBadAdvertise(t *testing.T) {
	for _, adv := range []string{"0.0.0.0", "no-such-host.invalid"} {
		if m, err := Start(Config{Name: "a", BindAddr: "0.0.0.0", Advertise: adv}); err == nil {
			m.Close()
			t.Errorf("advertise %q: no error", adv)
		} else if !strings.Contains(err.Error(), adv) {
			t.Errorf("advertise %q: error %v does not name it", adv, err)
		}
	}
}
