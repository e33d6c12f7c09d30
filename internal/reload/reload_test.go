package reload

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestPollLogsEachErrorOnce drives Poll through a scripted series of
// reload results and checks which callbacks ran.
func TestPollLogsEachErrorOnce(t *testing.T) {
	type step struct {
		changed bool
		err     error
	}
	bad, worse := errors.New("bad line 3"), errors.New("bad line 4")
	script := []step{
		{false, nil},  // nothing changed
		{true, nil},   // applied
		{true, bad},   // new error
		{true, bad},   // same error: silent
		{true, worse}, // another error
		{true, nil},   // fixed: applied
		{true, bad},   // the first error again is new after a success
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []string
	i := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		Poll(ctx, time.Millisecond, func() (bool, error) {
			if i == len(script) {
				cancel()
				return false, nil
			}
			s := script[i]
			i++
			return s.changed, s.err
		}, func(err error) { got = append(got, "failed "+err.Error()) },
			func() { got = append(got, "applied") },
			func(err error) { got = append(got, "after "+errString(err)) })
	}()
	<-done
	want := []string{
		"applied", "after nil",
		"failed bad line 3", "after bad line 3",
		"failed bad line 4", "after bad line 4",
		"applied", "after nil",
		"failed bad line 3", "after bad line 3",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("callbacks:\n got %q\nwant %q", got, want)
	}
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}
