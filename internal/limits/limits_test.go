package limits

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
)

func TestUpload(t *testing.T) {
	tests := []struct {
		name    string
		max     int64
		chunks  []int
		failAt  int // index of the chunk that fails, -1 none
		wantErr string
	}{
		{"under", 10, []int{3, 3, 3}, -1, ""},
		{"exactly at the limit", 10, []int{5, 5}, -1, ""},
		{"one byte over across chunks", 10, []int{5, 5, 1}, 2, "upload is larger than 10 bytes (--max-upload-bytes)"},
		{"single huge chunk", 10, []int{100}, 0, "larger than 10 bytes"},
		{"no limit", 0, []int{1 << 30, 1 << 30}, -1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := NewUpload(tc.max)
			for i, n := range tc.chunks {
				err := u.Add(n)
				if i == tc.failAt {
					if err == nil || !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("chunk %d: %v, want %q matching ErrLimit", i, err, tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatalf("chunk %d: %v", i, err)
				}
			}
			if tc.failAt >= 0 {
				t.Fatal("no error")
			}
		})
	}
}

func TestReader(t *testing.T) {
	b, err := io.ReadAll(NewReader(bytes.NewReader(make([]byte, 100)), 100))
	if err != nil || len(b) != 100 {
		t.Fatalf("at the limit: %d bytes, %v", len(b), err)
	}
	_, err = io.ReadAll(NewReader(bytes.NewReader(make([]byte, 101)), 100))
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("over the limit: %v, want ErrLimit", err)
	}
}

func TestJobs(t *testing.T) {
	type op struct {
		acquire bool
		user    string
		wantErr string
	}
	tests := []struct {
		name string
		max  int
		ops  []op
		want map[string]int
	}{
		{"limit per user", 2, []op{
			{true, "alice", ""}, {true, "alice", ""}, {true, "alice", "user alice already runs 2 jobs, the limit (--max-jobs-per-user)"},
			{true, "bob", ""},
		}, map[string]int{"alice": 2, "bob": 1}},
		{"release frees a slot", 1, []op{
			{true, "alice", ""}, {false, "alice", ""}, {true, "alice", ""}, {true, "alice", "already runs 1 jobs"},
		}, map[string]int{"alice": 1}},
		{"extra release is ignored", 1, []op{
			{false, "alice", ""}, {false, "alice", ""}, {true, "alice", ""}, {true, "alice", "already runs"},
		}, map[string]int{"alice": 1}},
		{"unlimited", 0, []op{
			{true, "a", ""}, {true, "a", ""}, {true, "a", ""},
		}, map[string]int{"a": 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := NewJobs(tc.max)
			for i, o := range tc.ops {
				if !o.acquire {
					j.Release(o.user)
					continue
				}
				err := j.Acquire(o.user)
				if o.wantErr == "" && err != nil || o.wantErr != "" && (err == nil || !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), o.wantErr)) {
					t.Fatalf("op %d Acquire(%s) = %v, want %q", i, o.user, err, o.wantErr)
				}
			}
			for u, n := range tc.want {
				if got := j.Running(u); got != n {
					t.Errorf("Running(%s) = %d, want %d", u, got, n)
				}
			}
		})
	}
}

func TestJobsRestoreIgnoresLimit(t *testing.T) {
	j := NewJobs(1)
	j.Restore("a")
	j.Restore("a")
	if j.Running("a") != 2 || j.Acquire("a") == nil {
		t.Fatalf("Running = %d after two restores; Acquire must fail", j.Running("a"))
	}
}

// TestJobsConcurrent: with many goroutines racing, exactly max acquire.
func TestJobsConcurrent(t *testing.T) {
	const max, tries = 5, 64
	j := NewJobs(max)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if j.Acquire("u") == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != max || j.Running("u") != max {
		t.Fatalf("%d acquired, Running = %d; want %d", ok, j.Running("u"), max)
	}
	for range max {
		wg.Add(1)
		go func() { defer wg.Done(); j.Release("u") }()
	}
	wg.Wait()
	if j.Running("u") != 0 {
		t.Fatalf("Running = %d after releasing all", j.Running("u"))
	}
}
