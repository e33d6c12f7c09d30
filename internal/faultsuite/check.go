package faultsuite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// WaitReached waits until a task paused at the fault point of dir and
// returns where it stood. done, when it yields a value, means the job
// ended first: the point was never reached.
func WaitReached(ctx context.Context, dir string, done <-chan struct{}) (Reached, error) {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		var r Reached
		err := readJSON(filepath.Join(dir, ReachedFile), &r)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return Reached{}, err
		}
		select {
		case <-ctx.Done():
			return Reached{}, fmt.Errorf("faultsuite: no task reached the fault point in %s: %w", dir, ctx.Err())
		case <-done:
			return Reached{}, fmt.Errorf("faultsuite: the job ended before any task reached the fault point in %s", dir)
		case <-tick.C:
		}
	}
}

// Fail makes the task paused at the fault point of dir fail.
func Fail(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, FailFile), nil, 0o644); err != nil {
		return fmt.Errorf("faultsuite: %w", err)
	}
	return nil
}

// Counts returns what the probed sink's subtask attempts read in all, as
// they reported when their input ended.
func Counts(dir string) ([]Count, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "count-*.json"))
	if err != nil {
		return nil, fmt.Errorf("faultsuite: %w", err)
	}
	var out []Count
	for _, p := range paths {
		var c Count
		if err := readJSON(p, &c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// CheckMidInput checks that the probed task had read some but not all of
// its input when it paused at the fault point: a source subtask was inside
// a split; a sink subtask had read fewer records than a later attempt of
// the same subtask read in all (a keyed exchange gives every attempt of a
// subtask the same records). counts are the probed sink's Counts.
func CheckMidInput(c Case, r Reached, counts []Count) error {
	if r.Vertex != c.Probe {
		return fmt.Errorf("faultsuite: %s: the fault point was reached by %q, want %q", c.Name, r.Vertex, c.Probe)
	}
	if r.Read <= 0 {
		return fmt.Errorf("faultsuite: %s: %s[%d] had read nothing at the fault point", c.Name, r.Vertex, r.Subtask)
	}
	switch c.ProbeRole {
	case RoleSource:
		if r.SplitTotal <= 0 || r.SplitDone <= 0 || r.SplitDone >= r.SplitTotal {
			return fmt.Errorf("faultsuite: %s: %s[%d] was not inside a split at the fault point (%d of %d read)",
				c.Name, r.Vertex, r.Subtask, r.SplitDone, r.SplitTotal)
		}
	case RoleSink:
		var total int64 = -1
		for _, n := range counts {
			if n.Subtask == r.Subtask && n.Attempt != r.Attempt {
				total = max(total, n.Read)
			}
		}
		if total < 0 {
			return fmt.Errorf("faultsuite: %s: no later attempt of %s[%d] reported its input", c.Name, r.Vertex, r.Subtask)
		}
		if r.Read >= total {
			return fmt.Errorf("faultsuite: %s: %s[%d] had read %d records at the fault point, all of its %d",
				c.Name, r.Vertex, r.Subtask, r.Read, total)
		}
	default:
		return fmt.Errorf("faultsuite: %s: unknown probe role %q", c.Name, c.ProbeRole)
	}
	return nil
}

// CompareLines compares output lines with the expected multiset: every
// line must occur exactly as often as expected. The error lists the first
// differences.
func CompareLines(got []string, want map[string]int) error {
	have := map[string]int{}
	for _, l := range got {
		have[l]++
	}
	var diffs []string
	for l, n := range want {
		if have[l] != n {
			diffs = append(diffs, fmt.Sprintf("%q: %d times, want %d", l, have[l], n))
		}
	}
	for l, n := range have {
		if _, ok := want[l]; !ok {
			diffs = append(diffs, fmt.Sprintf("%q: %d times, want 0", l, n))
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	sort.Strings(diffs)
	total := 0
	for _, n := range want {
		total += n
	}
	shown := diffs[:min(len(diffs), 10)]
	return fmt.Errorf("faultsuite: output has %d lines, want %d; %d lines differ: %s",
		len(got), total, len(diffs), strings.Join(shown, "; "))
}
