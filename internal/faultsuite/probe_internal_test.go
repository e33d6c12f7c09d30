package faultsuite

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestFaultPointPausesOnlyTheFirstAttempt: the first attempt to reach the
// point records itself and pauses until its context ends; later attempts,
// in this process or another, run through; a paused attempt asked to fail
// panics.
func TestFaultPointPausesOnlyTheFirstAttempt(t *testing.T) {
	dir := t.TempDir()
	first := &point{dir: dir, at: 10, vertex: "src"}
	ctx, cancel := context.WithCancel(context.Background())
	paused := make(chan error, 1)
	go func() { paused <- first.reach(ctx, Reached{Subtask: 1, Read: 12}) }()
	r, err := WaitReached(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Vertex != "src" || r.Subtask != 1 || r.Read != 12 || r.PID != os.Getpid() {
		t.Fatalf("reached %+v", r)
	}
	if first.armed() {
		t.Error("the point is still armed in the process that reached it")
	}
	// Another process (a fresh point over the same directory) runs through.
	if err := (&point{dir: dir, at: 10, vertex: "src"}).reach(context.Background(), Reached{Subtask: 0, Attempt: 1, Read: 11}); err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	cancel()
	if err := <-paused; !errors.Is(err, context.Canceled) {
		t.Fatalf("paused attempt ended with %v, want its context's error", err)
	}

	// A paused attempt asked to fail panics.
	dir2 := t.TempDir()
	p := &point{dir: dir2, at: 1, vertex: "route"}
	failed := make(chan any, 1)
	go func() {
		defer func() { failed <- recover() }()
		p.reach(context.Background(), Reached{Subtask: 2, Read: 3})
	}()
	if _, err := WaitReached(context.Background(), dir2, nil); err != nil {
		t.Fatal(err)
	}
	if err := Fail(dir2); err != nil {
		t.Fatal(err)
	}
	if v, _ := (<-failed).(string); !strings.Contains(v, "injected failure of route[2] attempt 0 after 3 records") {
		t.Fatalf("panic %q", v)
	}
}

// TestWaitReachedStopsWhenTheJobEnds: a job that ends without reaching the
// point is reported, not waited for.
func TestWaitReachedStopsWhenTheJobEnds(t *testing.T) {
	done := make(chan struct{})
	close(done)
	if _, err := WaitReached(context.Background(), t.TempDir(), done); err == nil || !strings.Contains(err.Error(), "ended before any task reached") {
		t.Fatalf("error %v", err)
	}
}
