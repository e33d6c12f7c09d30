package worker

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow/internal/rpcpb"
)

// TestLeaderCallGivesUpWhenStopped checks that a call to a new leader
// that does not know the job yet (NotFound after a Follow) keeps retrying
// until the executor stops, and then returns at once instead of waiting
// out masterWait: a worker stopping the executor of a job that the new
// leader restarts must not wait for its reports.
func TestLeaderCallGivesUpWhenStopped(t *testing.T) {
	l, err := newLeaderConn("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	if err := l.follow("127.0.0.1:2", 2); err != nil {
		t.Fatal(err)
	}
	var tries atomic.Int32
	notFound := func(context.Context, rpcpb.MasterClient) error {
		tries.Add(1)
		return status.Error(codes.NotFound, "job unknown")
	}
	done := make(chan error, 1)
	go func() { done <- l.call(context.Background(), notFound) }()
	for tries.Load() < 2 { // retried: the call waits for the leader
		select {
		case err := <-done:
			t.Fatalf("call returned before the executor stopped: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	l.stop()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "executor stopping") || status.Code(err) != codes.NotFound {
			t.Fatalf("call after stop: %v", err)
		}
	case <-time.After(masterWait / 2):
		t.Fatal("call still waiting for a master after the executor stopped")
	}
	// Later calls try once and give up.
	n := tries.Load()
	if err := l.call(context.Background(), notFound); err == nil || tries.Load() != n+1 {
		t.Fatalf("call after stop: %v after %d tries", err, tries.Load()-n)
	}
	// A call that succeeds still does.
	if err := l.call(context.Background(), func(context.Context, rpcpb.MasterClient) error { return nil }); err != nil {
		t.Fatal(err)
	}
}
