package master

import (
	"context"
	"sync"
	"time"

	"github.com/dagflow/dagflow/internal/auth"
	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/scheduler"
)

// DefaultReconcileWait is the default of ServerConfig.ReconcileWait.
const DefaultReconcileWait = 15 * time.Second

// taskReports are the task attempts workers reported to this leader after
// a master failover (the Reconcile service), by worker.
type taskReports struct {
	mu       sync.Mutex
	byWorker map[string]*rpcpb.WorkerTasks
	// changed is closed and replaced on every report.
	changed chan struct{}
	// recovered is set once RecoverJobs decided about every job: later
	// reports of jobs this leader does not run are answered with their
	// release.
	recovered bool
}

// reconcileService serves the Reconcile service of a Server.
type reconcileService struct {
	rpcpb.UnimplementedReconcileServer
	s *Server
}

// ReportTasks implements rpcpb.ReconcileServer: a worker that registered
// with this leader reports its executors' attempts.
func (r reconcileService) ReportTasks(ctx context.Context, req *rpcpb.WorkerTasks) (*rpcpb.ReportTasksResponse, error) {
	if err := auth.CheckNodeName(ctx, req.Worker); err != nil {
		return nil, err
	}
	s := r.s
	s.reports.mu.Lock()
	s.reports.byWorker[req.Worker] = req
	close(s.reports.changed)
	s.reports.changed = make(chan struct{})
	recovered := s.reports.recovered
	s.reports.mu.Unlock()
	s.log.Info("worker reported its tasks", "worker", req.Worker, "executors", len(req.Executors))
	resp := &rpcpb.ReportTasksResponse{}
	if recovered {
		// Recovery is over: jobs it did not continue here are done with.
		for _, ex := range req.Executors {
			if !s.runs(ex.JobId) {
				resp.Release = append(resp.Release, ex.JobId)
			}
		}
	}
	return resp, nil
}

// waitReports waits until the workers reported every task of the jobs
// (want: tasks per job), at most s.cfg.ReconcileWait.
func (s *Server) waitReports(ctx context.Context, want map[string]int) {
	wait := s.cfg.ReconcileWait
	if wait == 0 {
		wait = DefaultReconcileWait
	}
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for {
		s.reports.mu.Lock()
		got := make(map[string]int)
		for _, wt := range s.reports.byWorker {
			for _, ex := range wt.Executors {
				got[ex.JobId] += len(ex.Tasks)
			}
		}
		changed := s.reports.changed
		s.reports.mu.Unlock()
		all := true
		for id, n := range want {
			if got[id] < n {
				all = false
			}
		}
		if all {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-timeout.C:
			s.log.Warn("not every task of the recovered jobs was reported in time", "wait", wait, "reported", got, "want", want)
			return
		case <-changed:
		}
	}
}

// adoption builds the adoption of job id from the reports, and names the
// workers that reported tasks of it (nil, nil: none did).
func (s *Server) adoption(id string) (*Adoption, []string) {
	s.reports.mu.Lock()
	defer s.reports.mu.Unlock()
	var ad Adoption
	var workers []string
	for _, name := range sortedNames(s.reports.byWorker) {
		wt := s.reports.byWorker[name]
		for _, ex := range wt.Executors {
			if ex.JobId != id {
				continue
			}
			workers = append(workers, name)
			for _, t := range ex.Tasks {
				ad.Tasks = append(ad.Tasks, adoptedTask(name, ex.ExecutorAddress, t))
			}
		}
	}
	if len(workers) == 0 {
		return nil, nil
	}
	return &ad, workers
}

func adoptedTask(worker, location string, t *rpcpb.ReportedTask) AdoptedTask {
	st := scheduler.Running
	if t.Finished {
		st = scheduler.Finished
	}
	a := AdoptedTask{AdoptedTask: scheduler.AdoptedTask{Task: scheduler.TaskID{Vertex: int(t.Vertex), Subtask: int(t.Subtask)},
		Attempt: int(t.Attempt), Worker: worker, Slot: int(t.Slot), State: st, External: t.External},
		Location: location, LastBarrier: t.LastBarrier}
	if len(t.Locations) > 0 {
		a.OutLocs = make(map[int]string, len(t.Locations))
		for e, loc := range t.Locations {
			a.OutLocs[int(e)] = loc
		}
	}
	for _, sp := range t.Splits {
		a.Splits = append(a.Splits, AdoptedSplit{ID: sp.Id, Tag: sp.Tag, Done: sp.Done, DoneTag: sp.DoneTag})
	}
	if len(t.Committables) > 0 {
		a.Committables = make(map[int][][]byte, len(t.Committables))
		for _, c := range t.Committables {
			a.Committables[int(c.Vertex)] = c.Items
		}
	}
	return a
}

// releaseReported stops the executors of job on the workers that reported
// its tasks, before the job restarts: their attempts must not write on.
func (s *Server) releaseReported(job string, workers []string) {
	for _, name := range workers {
		s.mu.Lock()
		w := s.workers[name]
		s.mu.Unlock()
		if w == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if _, err := w.client.ReleaseJob(ctx, &rpcpb.JobRef{JobId: job}); err != nil {
			s.log.Warn("stop the reported tasks of a job that restarts", "job", job, "worker", name, "err", err)
		}
		cancel()
	}
}

// releaseUnknown stops, after recovery, the executors of jobs that workers
// reported and this leader does not run.
func (s *Server) releaseUnknown() {
	s.reports.mu.Lock()
	s.reports.recovered = true
	release := make(map[string][]string)
	for name, wt := range s.reports.byWorker {
		for _, ex := range wt.Executors {
			if !s.runs(ex.JobId) {
				release[ex.JobId] = append(release[ex.JobId], name)
			}
		}
	}
	s.reports.mu.Unlock()
	for job, workers := range release {
		s.log.Info("workers run a job this leader does not continue: stopping it", "job", job, "workers", workers)
		s.releaseReported(job, workers)
	}
}

// runs says whether job is running on this master.
func (s *Server) runs(job string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[job]
	return ok && j.final == nil
}
