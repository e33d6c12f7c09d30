package membership

import (
	"sync"
	"testing"
	"time"
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
