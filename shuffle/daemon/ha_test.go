package daemon_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow/internal/ha"
	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/master"
	"github.com/dagflow/dagflow/shuffle"
	"github.com/dagflow/dagflow/shuffle/daemon"
)

// leaderBoard is a LeaderSource the test publishes leaders on.
type leaderBoard struct {
	mu      sync.Mutex
	cur     ha.Info
	changed chan struct{}
}

func newLeaderBoard() *leaderBoard { return &leaderBoard{changed: make(chan struct{})} }

func (l *leaderBoard) WaitLeader(ctx context.Context, after uint64) (ha.Info, error) {
	for {
		l.mu.Lock()
		cur, ch := l.cur, l.changed
		l.mu.Unlock()
		if cur.Epoch > after {
			return cur, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ha.Info{}, ctx.Err()
		}
	}
}

func (l *leaderBoard) publish(info ha.Info) {
	l.mu.Lock()
	l.cur = info
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// haMaster is an in-process master leading with epoch.
func haMaster(t *testing.T, epoch uint64) (*master.Server, *lockedBuffer) {
	t.Helper()
	var log lockedBuffer
	s, err := master.NewServer(master.ServerConfig{Listen: "127.0.0.1:0", Dir: t.TempDir(), FailureTimeout: 2 * time.Second,
		Epoch: epoch, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, &log
}

// waitRegistered waits until a master logged the daemon's registration.
func waitRegistered(t *testing.T, log *lockedBuffer, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(log.String(), `msg="shuffle daemon registered"`) || !strings.Contains(log.String(), "addr="+addr) {
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not register:\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDaemonFollowsLeaders starts a shuffle daemon in an HA cluster: it
// registers with the first leader, then with the next one once published,
// and from then on refuses the deposed leader's release order while the
// new leader's is obeyed and reads (no epoch) keep working.
func TestDaemonFollowsLeaders(t *testing.T) {
	m1, log1 := haMaster(t, 1)
	m2, log2 := haMaster(t, 2)
	board := newLeaderBoard()
	board.publish(ha.Info{Epoch: 1, Address: m1.Addr()})
	f := start(t, daemon.Config{Leaders: board, FailureTimeout: 2 * time.Second})
	waitRegistered(t, log1, f.d.Addr())
	if f.d.Epoch() != 1 {
		t.Fatalf("epoch %d after the first leader, want 1", f.d.Epoch())
	}
	keep := shuffle.PartitionID{Job: "job-keep", Result: "e", Producer: 0}
	drop := shuffle.PartitionID{Job: "job-drop", Result: "e", Producer: 0}
	want := f.produce(keep, 2)
	f.produce(drop, 2)
	for _, id := range []shuffle.PartitionID{keep, drop} {
		if err := f.adopt(id); err != nil {
			t.Fatal(err)
		}
	}

	board.publish(ha.Info{Epoch: 2, Address: m2.Addr()})
	waitRegistered(t, log2, f.d.Addr())
	if f.d.Epoch() != 2 {
		t.Fatalf("epoch %d after the second leader, want 2", f.d.Epoch())
	}

	release := func(epoch uint64, job string) error {
		conn, err := grpc.NewClient(f.d.Addr(), append(ha.EpochDialOptions(epoch), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, err = rpcpb.NewShuffleDaemonClient(conn).ReleaseJob(context.Background(), &rpcpb.JobRef{JobId: job})
		return err
	}
	if err := release(1, keep.Job); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("release from the deposed leader: %v, want FailedPrecondition", err)
	}
	if err := release(2, drop.Job); err != nil {
		t.Fatalf("release from the leader: %v", err)
	}
	jobs := f.d.Jobs()
	if len(jobs) != 1 || jobs[0].Job != keep.Job {
		t.Fatalf("jobs held after the releases: %v, want only %s", jobs, keep.Job)
	}
	got, err := f.read(keep, 2)
	if err != nil {
		t.Fatalf("read after the leader change: %v", err)
	}
	for s := range want {
		if len(got[s]) != len(want[s]) {
			t.Fatalf("subpartition %d: %d buffers, want %d", s, len(got[s]), len(want[s]))
		}
		for i := range want[s] {
			if string(got[s][i]) != string(want[s][i]) {
				t.Fatalf("subpartition %d buffer %d differs", s, i)
			}
		}
	}
}
