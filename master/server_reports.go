package master

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/protocol"
	"github.com/dagflow/dagflow/internal/rpcpb"
)

// NextSplit implements rpcpb.MasterServer.
func (s *Server) NextSplit(ctx context.Context, req *rpcpb.NextSplitRequest) (*rpcpb.NextSplitResponse, error) {
	j, err := s.job(req.JobId)
	if err != nil {
		return nil, err
	}
	sr := protocol.SplitRequest{Vertex: int(req.Vertex), Subtask: int(req.Subtask), Attempt: int(req.Attempt), Checkpoint: req.Checkpoint,
		Finished: protocol.FinishedFromProto(req.Finished)}
	resp, err := j.jm.Splits().NextSplit(ctx, sr)
	if dag.IsFatal(err) {
		// The job fails: the asking task must not be retried.
		return &rpcpb.NextSplitResponse{Error: err.Error(), Fatal: true}, nil
	}
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "%v", err)
	}
	sp := resp.Split
	return &rpcpb.NextSplitResponse{Ok: resp.OK, Wait: resp.Wait, Id: sp.ID, Data: sp.Data, Weight: sp.Weight}, nil
}

// ReportCheckpoint implements rpcpb.MasterServer.
func (s *Server) ReportCheckpoint(_ context.Context, req *rpcpb.CheckpointReport) (*rpcpb.Empty, error) {
	rep, err := protocol.ReportFromProto(req)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	j, err := s.job(rep.Job)
	if err != nil {
		return nil, err
	}
	j.jm.ReportCheckpoint(rep)
	return &rpcpb.Empty{}, nil
}

// ReportTask implements rpcpb.MasterServer.
func (s *Server) ReportTask(_ context.Context, req *rpcpb.ReportTaskRequest) (*rpcpb.Empty, error) {
	st, err := protocol.StatusFromProto(req.GetStatus())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	j, err := s.job(st.Job)
	if err != nil {
		return nil, err
	}
	if st.Err != nil && !errors.Is(st.Err, context.Canceled) {
		s.metrics.taskFailures.Add(1)
	}
	j.jm.Report(st)
	return &rpcpb.Empty{}, nil
}

// ReportMetrics implements rpcpb.MasterServer.
func (s *Server) ReportMetrics(_ context.Context, req *rpcpb.ReportMetricsRequest) (*rpcpb.Empty, error) {
	rep, err := protocol.MetricsFromProto(req.GetMetrics())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	s.mu.Lock()
	_, known := s.jobs[req.JobId] // not a job the master forgot
	if w, ok := s.workers[req.Worker]; ok && known {
		w.mu.Lock()
		w.metrics[req.JobId] = rep.Vertices
		u := w.usage[req.JobId]
		u.Name = w.name
		u.BuffersInUse = rep.BuffersInUse
		u.PeakBuffersInUse = max(u.PeakBuffersInUse, rep.PeakBuffersInUse)
		u.MemoryBytes = rep.MemoryBytes
		w.usage[req.JobId] = u
		w.mu.Unlock()
	}
	s.mu.Unlock()
	return &rpcpb.Empty{}, nil
}

// ExecutorLost implements rpcpb.MasterServer.
func (s *Server) ExecutorLost(_ context.Context, req *rpcpb.ExecutorLostRequest) (*rpcpb.Empty, error) {
	j, err := s.job(req.JobId)
	if err != nil {
		return nil, err
	}
	s.log.Warn("executor lost", "job", req.JobId, "worker", req.Worker, "reason", req.Reason)
	j.jm.ExecutorLost(req.Worker)
	return &rpcpb.Empty{}, nil
}
