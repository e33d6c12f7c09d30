package master

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/internal/auth"
	"github.com/dagflow/dagflow/internal/pathpolicy"
	"github.com/dagflow/dagflow/internal/protocol"
	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/scheduler"
)

// SubmitJob implements rpcpb.MasterServer.
func (s *Server) SubmitJob(ctx context.Context, req *rpcpb.SubmitJobRequest) (*rpcpb.SubmitJobResponse, error) {
	owner := ""
	if id, ok := auth.IdentityFromContext(ctx); ok {
		owner = id.Name
	}
	id := fmt.Sprintf("%s-%s", safeJobName(req.Name), time.Now().UTC().Format("20060102-150405.000000"))
	return s.submit(ctx, req, owner, id, false, nil)
}

// submit starts job id from a submission; recovered is true when a new
// leader restarts a job its predecessor accepted (the job is already
// persisted, and workers may not have found the new leader yet), and adopt
// is then set when it continues with the attempts the workers reported (an
// error wraps scheduler.ErrNotReconciled when it cannot).
func (s *Server) submit(ctx context.Context, req *rpcpb.SubmitJobRequest, owner, id string, recovered bool, adopt *Adoption) (*rpcpb.SubmitJobResponse, error) {
	var plan dag.Plan
	if err := json.Unmarshal(req.PlanJson, &plan); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "submit: decode plan: %v", err)
	}
	if err := checkPlan(&plan); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "submit: %v", err)
	}
	splits, err := protocol.SourceSplitsFromProto(req.Splits)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "submit: decode splits: %v", err)
	}
	if _, err := s.checkDir("submit: checkpoint directory", plan.Config.Checkpoint.Dir); err != nil {
		return nil, err
	}
	if _, err := s.checkDir("submit: restore from", req.RestoreFrom); err != nil {
		return nil, err
	}
	binPath, err := s.binaryPath(req.GetBinary().GetSha256())
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(binPath); err != nil {
		if ok, _ := s.fetchBinary(ctx, binPath, req.GetBinary().GetSha256()); !ok {
			return nil, status.Errorf(codes.FailedPrecondition, "submit: binary %s was not uploaded", req.GetBinary().GetSha256())
		}
	}
	s.mu.Lock()
	var gws []WorkerGateway
	for _, name := range sortedNames(s.workers) {
		gws = append(gws, s.workers[name])
	}
	s.mu.Unlock()
	if len(gws) == 0 && s.cfg.Provider == nil && !recovered {
		return nil, status.Error(codes.FailedPrecondition, "submit: no workers are registered with the master")
	}
	if err := s.running.Acquire(owner); err != nil {
		return nil, status.Errorf(codes.ResourceExhausted, "submit: %v", err)
	}
	acquired := true
	defer func() {
		if acquired {
			s.running.Release(owner)
		}
	}()
	j := &clusterJob{id: id, name: req.Name, owner: owner, plan: &plan, binary: req.Binary, binPath: binPath, args: req.Args,
		env: req.Env, submitted: time.Now(), done: make(chan struct{})}
	code := &binaryCode{path: binPath, args: req.Args, env: req.Env, splits: splits, plan: &plan}
	// Default restarts outlast the failure detector: a task deployed to a
	// worker that just died fails fast, and the next attempts must wait
	// until the worker is declared lost.
	restart := scheduler.ExponentialBackoff(500*time.Millisecond, 10*time.Second, 2, 10)
	if s.cfg.Restart != nil {
		restart = *s.cfg.Restart
	}
	if req.MaxRestarts >= 0 {
		restart = scheduler.ExponentialBackoff(500*time.Millisecond, 10*time.Second, 2, int(req.MaxRestarts))
	}
	// The job master's logger adds the job; the daemon's component
	// attribute stays off job lines (the job's checkpoint storage sets its
	// own component).
	cfg := JobConfig{ID: id, Logger: s.cfg.Logger, Restart: &restart, SlotWaitTimeout: time.Minute, AllowNonRestored: req.AllowNonRestoredState,
		Observer: s.metrics.jobs.Observer(id), Adopt: adopt}
	if req.RestoreFrom != "" {
		md, err := LoadSnapshot(ctx, req.RestoreFrom)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "submit: %v", err)
		}
		cfg.Restore = md
	}
	jm, err := NewJobMaster(ctx, &plan, code, gws, cfg)
	if errors.Is(err, scheduler.ErrNotReconciled) {
		return nil, fmt.Errorf("submit: %w", err)
	}
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "submit: %v", err)
	}
	j.jm = jm
	if !recovered { // a recovered job's plan and submission are stored already
		if err := s.storePlan(ctx, id, req.PlanJson); err != nil {
			return nil, status.Errorf(codes.Unavailable, "submit: record plan in %s: %v", s.cfg.StorageDir, err)
		}
		if err := s.persistJob(ctx, id, owner, req); err != nil {
			return nil, status.Errorf(codes.Unavailable, "submit: %v", err)
		}
	}
	jctx, cancel := context.WithCancel(context.Background())
	j.cancel = cancel
	s.mu.Lock()
	s.jobs[id] = j
	s.order = append(s.order, id)
	s.mu.Unlock()
	s.metrics.jobsSubmitted.Add(1)
	acquired = false // released when the job ends
	go s.runJob(jctx, j)
	s.updateProvider()
	s.log.Info("job submitted", "job", id, "tasks", len(plan.Tasks))
	return &rpcpb.SubmitJobResponse{JobId: id}, nil
}

func (s *Server) runJob(ctx context.Context, j *clusterJob) {
	res, err := j.jm.Run(ctx)
	st := j.jm.Status()
	if err != nil {
		st.Reason = err.Error()
		if errors.Is(err, context.Canceled) {
			st.State = "canceled"
		} else {
			st.State = "failed"
		}
	}
	s.mu.Lock()
	j.result, j.err, j.final, j.ended = res, err, &st, s.cfg.Now()
	workers := make([]*remoteWorker, 0, len(s.workers))
	for _, w := range s.workers {
		workers = append(workers, w)
	}
	s.mu.Unlock()
	s.running.Release(j.owner)
	s.unpersistJob(j.id)
	close(j.done)
	s.releaseShuffles(j.id)
	for _, w := range workers {
		rctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		if _, err := w.client.ReleaseJob(rctx, &rpcpb.JobRef{JobId: j.id}); err != nil {
			s.log.Warn("release job on worker", "job", j.id, "worker", w.name, "err", err)
		}
		cancel()
	}
	s.log.Info("job ended", "job", j.id, "state", st.State, "err", err)
	s.forgetJobs()
	s.updateProvider()
}

func (s *Server) job(id string) (*clusterJob, error) {
	if err := pathpolicy.JobID(id); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "job %q: %v", id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no job %q", id)
	}
	return j, nil
}

// status returns a job's status (final once it ended).
func (s *Server) status(j *clusterJob) JobStatus {
	s.mu.Lock()
	final := j.final
	s.mu.Unlock()
	if final != nil {
		st := *final
		st.Submitted = j.submitted
		return st
	}
	st := j.jm.Status()
	st.Submitted = j.submitted
	return st
}

// ListJobs implements rpcpb.MasterServer.
func (s *Server) ListJobs(context.Context, *rpcpb.ListJobsRequest) (*rpcpb.JobList, error) {
	return JobListToProto(s.listJobs()), nil
}

func (s *Server) listJobs() []JobStatus {
	s.forgetJobs()
	s.mu.Lock()
	ids := append([]string(nil), s.order...)
	s.mu.Unlock()
	out := make([]JobStatus, 0, len(ids))
	for _, id := range ids {
		if j, err := s.job(id); err == nil {
			st := s.status(j)
			st.Vertices, st.Tasks = nil, nil
			out = append(out, st)
		}
	}
	return out
}

// JobStatus implements rpcpb.MasterServer.
func (s *Server) JobStatus(_ context.Context, ref *rpcpb.JobRef) (*rpcpb.JobSnapshot, error) {
	s.forgetJobs()
	j, err := s.job(ref.JobId)
	if err != nil {
		return nil, err
	}
	return JobStatusToProto(s.status(j)), nil
}

// CancelJob implements rpcpb.MasterServer.
func (s *Server) CancelJob(ctx context.Context, ref *rpcpb.JobRef) (*rpcpb.CancelJobResponse, error) {
	j, err := s.job(ref.JobId)
	if err != nil {
		return nil, err
	}
	j.cancel()
	select {
	case <-j.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(30 * time.Second):
	}
	return &rpcpb.CancelJobResponse{State: s.status(j).State}, nil
}

// JobLogs implements rpcpb.MasterServer.
func (s *Server) JobLogs(ctx context.Context, req *rpcpb.JobLogsRequest) (*rpcpb.JobLogsResponse, error) {
	if _, err := s.job(req.JobId); err != nil {
		return nil, err
	}
	s.mu.Lock()
	workers := make([]*remoteWorker, 0, len(s.workers))
	for _, n := range sortedNames(s.workers) {
		workers = append(workers, s.workers[n])
	}
	s.mu.Unlock()
	var out bytes.Buffer
	for _, w := range workers {
		resp, err := w.client.Logs(ctx, req)
		if err != nil {
			fmt.Fprintf(&out, "== worker %s: logs unavailable: %v\n", w.name, err)
			continue
		}
		if len(resp.Logs) > 0 {
			fmt.Fprintf(&out, "== worker %s\n", w.name)
			out.Write(resp.Logs)
		}
	}
	return &rpcpb.JobLogsResponse{Logs: out.Bytes()}, nil
}

// SavepointResponse is where a savepoint was written (the REST API's
// answer).
type SavepointResponse struct {
	Location string `json:"location"`
}

// TriggerSavepoint implements rpcpb.MasterServer: a savepoint into
// req.Dir (default: the master's --savepoint-dir); Stop ends the job
// after it, Drain first ends its input so that every event-time window
// fires.
func (s *Server) TriggerSavepoint(ctx context.Context, req *rpcpb.SavepointRequest) (*rpcpb.SavepointResponse, error) {
	j, err := s.job(req.GetJobId())
	if err != nil {
		return nil, err
	}
	dir := req.GetDir()
	if dir == "" {
		dir = s.cfg.SavepointDir
	}
	if dir == "" {
		return nil, status.Error(codes.InvalidArgument, "savepoint: no directory given and the master has no --savepoint-dir")
	}
	if dir, err = s.checkDir("savepoint", dir); err != nil {
		return nil, err
	}
	kind := engine.KindSavepoint
	if req.GetDrain() {
		kind = engine.KindDrainSavepoint
	}
	loc, err := j.jm.Savepoint(ctx, dir, kind)
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "savepoint of job %s: %v", req.GetJobId(), err)
	}
	if req.GetStop() && !req.GetDrain() {
		j.cancel()
	}
	if req.GetStop() {
		select {
		case <-j.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &rpcpb.SavepointResponse{Location: loc}, nil
}

func safeJobName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '-'
	}, s)
	s = strings.TrimLeft(s, "-") // job ids must not start with '-'
	if s == "" {
		s = "job"
	}
	return s
}

// binaryCode runs a job's user code in child processes of the master:
// splits were enumerated by the submitting driver; commits run the job
// binary in commit mode.
type binaryCode struct {
	path      string
	args, env []string
	splits    map[int][]dag.Split
	plan      *dag.Plan
}

func (c *binaryCode) Splits(_ context.Context, vertex int) ([]dag.Split, error) {
	return c.splits[vertex], nil
}

func (c *binaryCode) HasCommitter(int) bool { return true }

func (c *binaryCode) IsDynamic(vertex int) bool {
	return c.plan != nil && c.plan.Engine().IsDynamic(vertex)
}

// MoreSplits runs the job binary to enumerate the next round of a dynamic
// source. A panic in the enumerator is fatal (protocol.RoleMoreSplits).
func (c *binaryCode) MoreSplits(ctx context.Context, vertex, round int, finished []dag.FinishedSplit) ([]dag.Split, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var resp rpcpb.MoreSplitsResponse
	req := &rpcpb.MoreSplitsRequest{Vertex: int32(vertex), Round: int32(round), Finished: protocol.FinishedToProto(finished)}
	if err := protocol.Call(ctx, c.process(), protocol.RoleMoreSplits, req, &resp); err != nil {
		return nil, false, fmt.Errorf("more splits of vertex %d: %w", vertex, err)
	}
	return protocol.SplitsFromProto(resp.Splits), resp.Done, nil
}

func (c *binaryCode) Commit(ctx context.Context, vertex int, committables [][]byte) error {
	return c.commit(ctx, vertex, rpcpb.CommitRequest_ACTION_COMMIT, committables)
}

func (c *binaryCode) Abort(ctx context.Context, vertex int, committables [][]byte) error {
	return c.commit(ctx, vertex, rpcpb.CommitRequest_ACTION_ABORT, committables)
}

func (c *binaryCode) process() protocol.Process {
	return protocol.Process{Path: c.path, Args: c.args, Env: c.env}
}

// commit runs the job binary in the commit role.
func (c *binaryCode) commit(ctx context.Context, vertex int, action rpcpb.CommitRequest_Action, committables [][]byte) error {
	if len(committables) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	req := &rpcpb.CommitRequest{Vertex: int32(vertex), Action: action, Committables: committables}
	if err := protocol.Call(ctx, c.process(), protocol.RoleCommit, req, nil); err != nil {
		return fmt.Errorf("%s of vertex %d: %w", strings.ToLower(strings.TrimPrefix(action.String(), "ACTION_")), vertex, err)
	}
	return nil
}
