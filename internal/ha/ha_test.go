package ha_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/dagflow/dagflow/internal/ha"
	"github.com/dagflow/dagflow/internal/zktest"
)

func connect(t *testing.T, e *zktest.Ensemble, cluster string) *ha.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := ha.Connect(ctx, ha.Config{Servers: e.Servers(), Cluster: cluster, SessionTimeout: 4 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestElectionFailoverAndFencing(t *testing.T) {
	e := zktest.Start(t, 1)
	a := connect(t, e, "fence")
	b := connect(t, e, "fence")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	ta, err := a.Campaign(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Leader(); !errors.Is(err, ha.ErrNoLeader) {
		t.Fatalf("leader before publish: %v, want ErrNoLeader", err)
	}
	if err := ta.Publish(ha.Info{ID: "a", Address: "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	if ta.Epoch != 1 {
		t.Fatalf("first epoch = %d, want 1", ta.Epoch)
	}
	if info, err := b.Leader(); err != nil || info.ID != "a" || info.Epoch != 1 {
		t.Fatalf("leader seen by b = %+v, %v", info, err)
	}
	if err := ta.Put("job-1", []byte("v1")); err != nil {
		t.Fatal(err)
	}

	won := make(chan *ha.Term, 1)
	go func() {
		tb, err := b.Campaign(ctx)
		if err != nil {
			t.Error(err)
		} else if err := tb.Publish(ha.Info{ID: "b", Address: "127.0.0.1:2"}); err != nil {
			t.Error(err)
		}
		won <- tb
	}()
	select {
	case <-won:
		t.Fatal("b leads while a still does")
	case <-time.After(500 * time.Millisecond):
	}

	// Depose a without closing its session (as if it were partitioned):
	// remove its candidate node from the outside.
	admin, _, err := zk.Connect(e.Servers(), 4*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	kids, _, err := admin.Children("/dagflow/fence/election")
	if err != nil || len(kids) != 2 {
		t.Fatalf("candidates = %v, %v", kids, err)
	}
	first, _, _ := ha.Order(kids, kids[0])
	victim := kids[0]
	if !first {
		victim = kids[1]
	}
	if err := admin.Delete("/dagflow/fence/election/"+victim, -1); err != nil {
		t.Fatal(err)
	}
	var tb *ha.Term
	select {
	case tb = <-won:
	case <-ctx.Done():
		t.Fatal("b never led")
	}
	if tb.Epoch != 2 {
		t.Fatalf("second epoch = %d, want 2", tb.Epoch)
	}
	select {
	case <-ta.Lost():
	case <-ctx.Done():
		t.Fatal("a never noticed it lost the leadership")
	}
	// The deposed leader's writes are refused.
	if err := ta.Put("job-1", []byte("stale")); !errors.Is(err, ha.ErrFenced) {
		t.Fatalf("deposed leader's put: %v, want ErrFenced", err)
	}
	if err := ta.Publish(ha.Info{ID: "a", Address: "127.0.0.1:1"}); !errors.Is(err, ha.ErrFenced) {
		t.Fatalf("deposed leader's publish: %v, want ErrFenced", err)
	}
	if err := tb.Put("job-1", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	jobs, err := a.Jobs()
	if err != nil || string(jobs["job-1"]) != "v2" {
		t.Fatalf("jobs = %q, %v", jobs, err)
	}
	info, err := a.WaitLeader(ctx, 1)
	if err != nil || info.ID != "b" || info.Epoch != 2 {
		t.Fatalf("WaitLeader = %+v, %v", info, err)
	}
	if err := tb.Delete("job-1"); err != nil {
		t.Fatal(err)
	}
	if jobs, _ := a.Jobs(); len(jobs) != 0 {
		t.Fatalf("jobs after delete = %q", jobs)
	}
}

func TestClosedLeaderHandsOver(t *testing.T) {
	e := zktest.Start(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	clients := []*ha.Client{connect(t, e, "chain"), connect(t, e, "chain"), connect(t, e, "chain")}
	terms := make(chan *ha.Term, 3)
	for i, c := range clients {
		go func() {
			tm, err := c.Campaign(ctx)
			if err != nil {
				return
			}
			if err := tm.Publish(ha.Info{ID: string(rune('a' + i)), Address: "127.0.0.1:1"}); err != nil {
				t.Error(err)
			}
			terms <- tm
		}()
	}
	var last uint64
	for range 3 {
		var tm *ha.Term
		select {
		case tm = <-terms:
		case <-ctx.Done():
			t.Fatal("no leader")
		}
		if tm.Epoch <= last {
			t.Fatalf("epoch %d after %d", tm.Epoch, last)
		}
		last = tm.Epoch
		if err := tm.Resign(); err != nil {
			t.Fatal(err)
		}
	}
	if last != 3 {
		t.Fatalf("last epoch = %d, want 3", last)
	}
}

func TestLeaderSurvivesZooKeeperRestart(t *testing.T) {
	e := zktest.Start(t, 1)
	c := connect(t, e, "restart")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tm, err := c.Campaign(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.Restart(0)
	// The session outlives a quick server restart (it is in the server's
	// log), so the term holds and fenced writes work once reconnected.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := tm.Put("j", []byte("x"))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("put after restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case <-tm.Lost():
		t.Fatal("leadership lost across a ZooKeeper restart")
	default:
	}
}

func TestParseServers(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"a:1", 1, false}, {"a:1, b:2", 2, false}, {"", 0, true}, {"a", 0, true}, {"a:x", 0, true}, {"a:", 0, true},
	} {
		got, err := ha.ParseServers(tt.in)
		if (err != nil) != tt.wantErr || len(got) != tt.want {
			t.Errorf("ParseServers(%q) = %v, %v", tt.in, got, err)
		}
	}
}
