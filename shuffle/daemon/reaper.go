package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/dagflow/dagflow/internal/rpcpb"
)

// reapLoop runs Reap every ReapInterval until ctx is done.
func (d *Daemon) reapLoop(ctx context.Context) {
	defer d.reaperWG.Done()
	t := time.NewTicker(d.cfg.ReapInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if _, err := d.Reap(rctx); err != nil {
				d.log.Warn("reaper", "err", err)
			}
			cancel()
		}
	}
}

// Reap runs one pass of the orphan reaper and returns the jobs whose
// partitions it deleted. A job is stale when nobody touched its partitions
// for the TTL; the master is asked about stale jobs only, and a stale job
// survives while the master lists it in a non-terminal state (its touch
// time is then renewed). When the master cannot be asked, nothing is
// deleted and the error says why. Without a master, stale jobs are deleted.
// Staged files older than the TTL and release tombstones older than the
// TTL are deleted in every pass.
func (d *Daemon) Reap(ctx context.Context) ([]string, error) {
	now := d.cfg.Now()
	d.sweepStaging(now)
	d.mu.Lock()
	var stale []string
	for id, j := range d.jobs {
		if now.Sub(j.touched) >= d.cfg.TTL {
			stale = append(stale, id)
		}
	}
	for id, at := range d.released {
		if now.Sub(at) >= d.cfg.TTL {
			delete(d.released, id)
		}
	}
	d.mu.Unlock()
	if len(stale) == 0 {
		return nil, nil
	}
	sort.Strings(stale)
	var states map[string]string
	if d.cfg.Jobs != nil {
		var err error
		if states, err = d.cfg.Jobs.JobStates(ctx); err != nil {
			return nil, fmt.Errorf("shuffle daemon %s: keeping the partitions of %d idle jobs: cannot ask the master %s: %w",
				d.cfg.Name, len(stale), d.masterAddr(), err)
		}
	}
	var deleted []string
	var errs []error
	for _, job := range stale {
		if st, ok := states[job]; ok && !terminal(st) {
			d.log.Debug("reaper: idle job still running on the master", "job", job, "state", st)
			d.mu.Lock()
			if j := d.jobs[job]; j != nil {
				j.touched = now
			}
			d.mu.Unlock()
			continue
		}
		d.mu.Lock()
		j := d.jobs[job]
		still := j != nil && now.Sub(j.touched) >= d.cfg.TTL // not touched while we asked
		d.mu.Unlock()
		if !still {
			continue
		}
		why := "orphan: unknown to the master"
		switch {
		case d.cfg.Jobs == nil:
			why = "idle for the TTL (no master to ask)"
		case states[job] != "":
			why = "orphan: job " + states[job]
		}
		if err := d.release(ctx, job, why); err != nil {
			errs = append(errs, err)
			continue
		}
		deleted = append(deleted, job)
	}
	return deleted, errors.Join(errs...)
}

// terminal reports whether a master job state is final.
func terminal(state string) bool {
	switch state {
	case "finished", "failed", "canceled":
		return true
	}
	return false
}

// sweepStaging deletes staged files not modified for the TTL (written by
// producers that died before adopting them) and then empty directories
// as old.
func (d *Daemon) sweepStaging(now time.Time) {
	var dirs []string
	_ = filepath.WalkDir(d.stagingDir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || path == d.stagingDir {
			return nil
		}
		if e.IsDir() {
			dirs = append(dirs, path)
			return nil
		}
		if fi, err := e.Info(); err == nil && now.Sub(fi.ModTime()) >= d.cfg.TTL {
			if err := os.Remove(path); err == nil {
				d.log.Info("reaper: deleted an abandoned staged file", "file", path, "modified", fi.ModTime())
			}
		}
		return nil
	})
	// Deepest first; Remove fails on directories that are not empty.
	for i := len(dirs) - 1; i >= 0; i-- {
		if fi, err := os.Stat(dirs[i]); err == nil && now.Sub(fi.ModTime()) >= d.cfg.TTL {
			_ = os.Remove(dirs[i])
		}
	}
}

// masterJobs asks the current master's ListJobs.
type masterJobs struct{ mc func() rpcpb.MasterClient }

// JobStates implements JobLister.
func (m masterJobs) JobStates(ctx context.Context) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	doc, err := m.mc().ListJobs(ctx, &rpcpb.ListJobsRequest{})
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(doc.GetJobs()))
	for _, j := range doc.GetJobs() {
		out[j.GetId()] = j.GetState()
	}
	return out, nil
}
