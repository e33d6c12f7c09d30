package master

import (
	"sort"
	"time"
)

// historyEntry is a job as the job history's eviction sees it.
type historyEntry struct {
	id string
	// running: the job has not ended (ended is then meaningless).
	running bool
	ended   time.Time
}

// jobsToForget returns the ids of the jobs to forget at now, in the order
// of jobs (submission order): finished jobs that ended more than age ago,
// then, of the finished jobs left, the earliest ended beyond the keep most
// recent ones (ties broken by submission order). Running jobs are never
// forgotten. keep < 0 counts as 0; age < 0 forgets every finished job.
func jobsToForget(jobs []historyEntry, now time.Time, keep int, age time.Duration) []string {
	forget := make([]bool, len(jobs))
	var kept []int
	for i, j := range jobs {
		switch {
		case j.running:
		case now.Sub(j.ended) > age || age < 0:
			forget[i] = true
		default:
			kept = append(kept, i)
		}
	}
	keep = max(keep, 0)
	if len(kept) > keep {
		sort.SliceStable(kept, func(a, b int) bool { return jobs[kept[a]].ended.Before(jobs[kept[b]].ended) })
		for _, i := range kept[:len(kept)-keep] {
			forget[i] = true
		}
	}
	var out []string
	for i, j := range jobs {
		if forget[i] {
			out = append(out, j.id)
		}
	}
	return out
}

// forgetJobs applies the job history limits at the server's current time.
func (s *Server) forgetJobs() { s.forgetJobsAt(s.cfg.Now()) }

// forgetJobsAt forgets the finished jobs beyond the job history limits at
// now: they disappear from the job list, status and metrics (their series
// are deleted), and workers' last reports about them are dropped.
func (s *Server) forgetJobsAt(now time.Time) []string {
	s.mu.Lock()
	entries := make([]historyEntry, 0, len(s.order))
	for _, id := range s.order {
		if j, ok := s.jobs[id]; ok {
			entries = append(entries, historyEntry{id: id, running: j.final == nil, ended: j.ended})
		}
	}
	ids := jobsToForget(entries, now, s.cfg.JobHistory, s.cfg.JobHistoryAge)
	if len(ids) == 0 {
		s.mu.Unlock()
		return nil
	}
	gone := make(map[string]bool, len(ids))
	for _, id := range ids {
		gone[id] = true
		delete(s.jobs, id)
	}
	order := s.order[:0:0]
	for _, id := range s.order {
		if !gone[id] {
			order = append(order, id)
		}
	}
	s.order = order
	workers := make([]*remoteWorker, 0, len(s.workers))
	for _, w := range s.workers {
		workers = append(workers, w)
	}
	s.mu.Unlock()
	for _, id := range ids {
		s.metrics.jobs.Forget(id)
		for _, w := range workers {
			w.forget(id)
		}
		s.log.Debug("job forgotten", "job", id)
	}
	return ids
}

// forget drops what the worker reported about a job.
func (w *remoteWorker) forget(job string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.metrics, job)
	delete(w.usage, job)
}

// statuses returns the full status of every job the master knows, in
// submission order.
func (s *Server) statuses() []JobStatus {
	s.mu.Lock()
	jobs := make([]*clusterJob, 0, len(s.order))
	for _, id := range s.order {
		if j, ok := s.jobs[id]; ok {
			jobs = append(jobs, j)
		}
	}
	s.mu.Unlock()
	out := make([]JobStatus, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, s.status(j))
	}
	return out
}
