package master

import (
	"slices"
	"testing"
	"time"
)

func TestJobsToForget(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	done := func(id string, endedMin int) historyEntry { return historyEntry{id: id, ended: at(endedMin)} }
	running := func(id string) historyEntry { return historyEntry{id: id, running: true} }
	tests := []struct {
		name   string
		jobs   []historyEntry
		now    time.Time
		keep   int
		age    time.Duration
		forget []string
	}{
		{"nothing", nil, at(0), 10, time.Hour, nil},
		{"within limits", []historyEntry{done("a", 0), running("b"), done("c", 5)}, at(30), 2, time.Hour, nil},
		{"running jobs are never forgotten", []historyEntry{running("a"), running("b")}, at(1e6), -1, -time.Hour, nil},
		{"age: strictly older than the limit", []historyEntry{done("a", 0), done("b", 1), done("c", 2)}, at(61), 10, time.Hour, []string{"a"}},
		{"count keeps the most recently ended", []historyEntry{done("a", 5), done("b", 1), running("c"), done("d", 3)}, at(10), 2, time.Hour, []string{"b"}},
		{"count ties: earlier submitted goes first", []historyEntry{done("a", 1), done("b", 1), done("c", 1)}, at(2), 1, time.Hour, []string{"a", "b"}},
		{"keep 0 forgets every finished job", []historyEntry{done("a", 1), running("b"), done("c", 2)}, at(2), 0, time.Hour, []string{"a", "c"}},
		{"negative keep is 0", []historyEntry{done("a", 1), running("b")}, at(2), -1, time.Hour, []string{"a"}},
		{"negative age forgets as soon as ended", []historyEntry{done("a", 2), running("b")}, at(2), 10, -1, []string{"a"}},
		{"age then count", []historyEntry{done("a", 0), done("b", 50), done("c", 55), done("d", 40), running("e")}, at(100), 2, time.Hour, []string{"a", "d"}},
		{"result in submission order", []historyEntry{done("a", 9), done("b", 1), done("c", 2)}, at(10), 1, time.Hour, []string{"b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := jobsToForget(tt.jobs, tt.now, tt.keep, tt.age)
			if !slices.Equal(got, tt.forget) {
				t.Errorf("jobsToForget = %v, want %v", got, tt.forget)
			}
		})
	}
}

func TestCheckpointResult(t *testing.T) {
	tests := []struct {
		st   CheckpointStats
		want string
	}{
		{CheckpointStats{Status: "completed"}, CheckpointCompleted},
		{CheckpointStats{Status: "aborted", Reason: "timed out after 10m0s"}, CheckpointExpired},
		{CheckpointStats{Status: "aborted", Reason: "task {1 0} declined: no state backend"}, CheckpointDeclined},
		{CheckpointStats{Status: "aborted", Reason: "a worker was lost"}, CheckpointAborted},
		{CheckpointStats{Status: "aborted", Reason: "job ended"}, CheckpointAborted},
	}
	for _, tt := range tests {
		if got := CheckpointResult(tt.st); got != tt.want {
			t.Errorf("CheckpointResult(%+v) = %q, want %q", tt.st, got, tt.want)
		}
	}
}
