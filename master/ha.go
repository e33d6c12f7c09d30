package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/dagflow/dagflow/internal/ha"
	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/io/filesystems"
	"github.com/dagflow/dagflow/scheduler"
)

// JobStore keeps small pointers to running jobs for master high
// availability. Writes of a deposed leader fail (ha.Term implements it).
type JobStore interface {
	// Put records job's pointer (create or replace).
	Put(job string, data []byte) error
	// Delete forgets job.
	Delete(job string) error
}

// jobRecord is what the job store keeps per running job: who submitted it
// and where the submission lies (under the storage directory).
type jobRecord struct {
	Owner      string `json:"owner,omitempty"`
	Submission string `json:"submission"`
}

// epochDialOptions stamps the leader epoch on every order to workers and
// shuffle daemons.
func (s *Server) epochDialOptions() []grpc.DialOption { return ha.EpochDialOptions(s.cfg.Epoch) }

// submissionURI is where a job's submission is kept.
func (s *Server) submissionURI(id string) string {
	return s.cfg.StorageDir + "/jobs/" + id + "/submission.pb"
}

// persistJob writes the submission under the storage directory and the
// job's pointer to the job store, before the client learns the job id: a
// job a client was told about is never lost with the leader.
func (s *Server) persistJob(ctx context.Context, id, owner string, req *rpcpb.SubmitJobRequest) error {
	if s.cfg.JobStore == nil {
		return nil
	}
	if s.cfg.StorageDir == "" {
		return errors.New("master: high availability needs a storage directory (--ha-dir)")
	}
	data, err := proto.Marshal(req)
	if err != nil {
		return fmt.Errorf("master: encode submission of %s: %w", id, err)
	}
	uri := s.submissionURI(id)
	fsys, p, err := filesystems.Default().Resolve(uri)
	if err != nil {
		return fmt.Errorf("master: persist job %s: %w", id, err)
	}
	if err := fsys.MkdirAll(ctx, parentOf(p)); err != nil {
		return fmt.Errorf("master: persist job %s: %w", id, err)
	}
	w, err := fsys.Create(ctx, p)
	if err != nil {
		return fmt.Errorf("master: persist job %s: %w", id, err)
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return fmt.Errorf("master: persist job %s: %w", id, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("master: persist job %s: %w", id, err)
	}
	rec, _ := json.Marshal(jobRecord{Owner: owner, Submission: uri})
	if err := s.cfg.JobStore.Put(id, rec); err != nil {
		return fmt.Errorf("master: persist job %s: %w", id, err)
	}
	return nil
}

// unpersistJob forgets a job that ended, unless the master is shutting
// down: then the next leader recovers it.
func (s *Server) unpersistJob(id string) {
	if s.cfg.JobStore == nil || s.closing.Load() {
		return
	}
	if err := s.cfg.JobStore.Delete(id); err != nil {
		s.log.Warn("forget ended job in the HA store", "job", id, "err", err)
	}
}

// RecoverJobs continues the jobs a previous leader accepted and that did
// not end, with their ids. It waits a bounded time (ReconcileWait) for the
// workers to report the jobs' tasks, and continues each job with the
// attempts they run (JobConfig.Adopt). A job nobody reported, or whose
// reports cannot be continued from, restarts from its latest valid
// checkpoint when it has one, or else from its beginning (the restore
// point it was submitted with, if any): the reported attempts are stopped
// first, the reason logged and the fallback counted. records maps job ids
// to what the job store holds. Jobs that cannot be recovered are logged
// and reported; the rest still run. Afterwards, workers are told to stop
// the executors of jobs this leader does not run.
func (s *Server) RecoverJobs(ctx context.Context, records map[string][]byte) error {
	defer s.releaseUnknown()
	ids := make([]string, 0, len(records))
	for id := range records {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var errs []error
	loaded := make(map[string]*recovery)
	want := make(map[string]int)
	for _, id := range ids {
		r, err := s.loadRecovery(ctx, id, records[id])
		if err != nil {
			s.log.Error("job not recovered", "job", id, "err", err)
			s.metrics.jobsNotRecovered.Add(1)
			errs = append(errs, err)
			continue
		}
		loaded[id] = r
		want[id] = r.tasks
	}
	if len(loaded) > 0 {
		s.waitReports(ctx, want)
	}
	for _, id := range ids {
		r := loaded[id]
		if r == nil {
			continue
		}
		if err := s.recoverJob(ctx, id, r); err != nil {
			s.log.Error("job not recovered", "job", id, "err", err)
			s.metrics.jobsNotRecovered.Add(1)
			errs = append(errs, err)
			continue
		}
		s.metrics.jobsRecovered.Add(1)
	}
	return errors.Join(errs...)
}

// recovery is a job to recover: its submission, where it restarts from,
// and how many tasks it has.
type recovery struct {
	owner  string
	req    *rpcpb.SubmitJobRequest
	reason string
	tasks  int
}

func (s *Server) loadRecovery(ctx context.Context, id string, data []byte) (*recovery, error) {
	var rec jobRecord
	if err := json.Unmarshal(data, &rec); err != nil || rec.Submission == "" {
		return nil, fmt.Errorf("master: recover %s: bad job record %q: %v", id, data, err)
	}
	fsys, p, err := filesystems.Default().Resolve(rec.Submission)
	if err != nil {
		return nil, fmt.Errorf("master: recover %s: %w", id, err)
	}
	f, err := fsys.Open(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("master: recover %s: read submission: %w", id, err)
	}
	raw, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("master: recover %s: read submission %s: %w", id, rec.Submission, err)
	}
	req := &rpcpb.SubmitJobRequest{}
	if err := proto.Unmarshal(raw, req); err != nil {
		return nil, fmt.Errorf("master: recover %s: decode submission %s: %w", id, rec.Submission, err)
	}
	var plan struct {
		Config struct {
			Checkpoint struct {
				Dir string `json:"dir"`
			} `json:"checkpoint"`
		} `json:"config"`
		Tasks []struct {
			Parallelism int `json:"parallelism"`
		} `json:"tasks"`
	}
	_ = json.Unmarshal(req.PlanJson, &plan)
	r := &recovery{owner: rec.Owner, req: req, reason: "no checkpoint: from the beginning"}
	for _, t := range plan.Tasks {
		r.tasks += t.Parallelism
	}
	if dir := plan.Config.Checkpoint.Dir; dir != "" {
		jobDir := dir + "/" + id
		if _, err := LoadSnapshot(ctx, jobDir); err == nil {
			req.RestoreFrom = jobDir
			r.reason = "from its latest checkpoint"
		} else {
			s.log.Info("recovered job has no usable checkpoint", "job", id, "dir", jobDir, "err", err)
		}
	}
	return r, nil
}

func (s *Server) recoverJob(ctx context.Context, id string, r *recovery) error {
	why := "no worker reported tasks of the job"
	ad, workers := s.adoption(id)
	if ad != nil {
		_, err := s.submit(ctx, r.req, r.owner, id, true, ad)
		if err == nil {
			s.log.Info("job recovered after a leader change: its running tasks continue", "job", id, "tasks", len(ad.Tasks),
				"workers", workers, "epoch", s.cfg.Epoch)
			return nil
		}
		if !errors.Is(err, scheduler.ErrNotReconciled) {
			return fmt.Errorf("master: recover %s: %w", id, err)
		}
		why = err.Error()
		// The reported attempts must not write on beside the restart.
		s.releaseReported(id, workers)
	}
	if _, err := s.submit(ctx, r.req, r.owner, id, true, nil); err != nil {
		return fmt.Errorf("master: recover %s: %w", id, err)
	}
	s.metrics.reconcileFallbacks.Add(1)
	s.log.Warn("job recovered after a leader change: restarted", "job", id, "how", r.reason, "epoch", s.cfg.Epoch,
		"notReconciled", why)
	return nil
}
