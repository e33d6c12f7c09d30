package master

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/auth"
	"github.com/dagflow/dagflow/internal/netaddr"
	"github.com/dagflow/dagflow/internal/protocol"
	"github.com/dagflow/dagflow/internal/rpcpb"
)

// RegisterWorker implements rpcpb.MasterServer.
func (s *Server) RegisterWorker(ctx context.Context, req *rpcpb.RegisterWorkerRequest) (*rpcpb.RegisterWorkerResponse, error) {
	if err := auth.CheckNodeName(ctx, req.Name); err != nil {
		return nil, err
	}
	if req.Name == "" || req.Address == "" || req.Slots < 1 {
		return nil, status.Errorf(codes.InvalidArgument, "register worker: need a name, an address and at least one slot")
	}
	if err := netaddr.Dialable(req.Address); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "register worker %s: %v", req.Name, err)
	}
	if err := s.checkGossip(req.GossipAddress); err != nil {
		return nil, status.Errorf(codes.PermissionDenied, "register worker %s: %v", req.Name, err)
	}
	conn, err := grpc.NewClient(req.Address, append(s.epochDialOptions(), s.cfg.TLS.DialOption(),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))...)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "worker address %q: %v", req.Address, err)
	}
	w := &remoteWorker{s: s, name: req.Name, addr: req.Address, gossip: req.GossipAddress, slots: int(req.Slots), conn: conn,
		client: rpcpb.NewWorkerClient(conn), metrics: make(map[string][]protocol.VertexMetrics),
		usage: make(map[string]WorkerUsage)}
	s.mu.Lock()
	_, known := s.workers[req.Name]
	s.mu.Unlock()
	if known {
		s.workerLost(req.Name) // a restarted worker lost everything it had
	}
	s.mu.Lock()
	s.workers[req.Name] = w
	s.mu.Unlock()
	// Running jobs may use the new worker (their pool was fixed at
	// submission, plus workers that joined since).
	s.mu.Lock()
	var jms []*JobMaster
	for _, j := range s.jobs {
		if j.jm != nil && j.final == nil {
			jms = append(jms, j.jm)
		}
	}
	s.mu.Unlock()
	for _, jm := range jms {
		jm.WorkerJoined(w)
	}
	s.log.Info("worker registered", "worker", req.Name, "addr", req.Address, "slots", req.Slots)
	s.updateProvider()
	return &rpcpb.RegisterWorkerResponse{GossipAddress: s.member.Address()}, nil
}

// workerLost is called by membership when a worker stops gossiping.
func (s *Server) workerLost(name string) {
	s.mu.Lock()
	w, ok := s.workers[name]
	if ok {
		delete(s.workers, name)
	}
	var jms []*JobMaster
	for _, j := range s.jobs {
		if j.jm != nil && j.final == nil {
			jms = append(jms, j.jm)
		}
	}
	s.mu.Unlock()
	if !ok {
		return
	}
	s.log.Warn("worker lost", "worker", name)
	s.metrics.workersLost.Add(1)
	for _, jm := range jms {
		jm.WorkerLost(name)
	}
	w.conn.Close()
	s.updateProvider()
}

// remoteWorker is a worker daemon seen from the master.
type remoteWorker struct {
	s      *Server
	name   string
	addr   string
	gossip string // memberlist address of this incarnation
	slots  int
	conn   *grpc.ClientConn
	client rpcpb.WorkerClient

	mu      sync.Mutex
	metrics map[string][]protocol.VertexMetrics
	usage   map[string]WorkerUsage
}

// Usage returns what the worker last reported about a job.
func (w *remoteWorker) Usage(job string) (WorkerUsage, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	u, ok := w.usage[job]
	return u, ok
}

func (w *remoteWorker) Name() string { return w.name }
func (w *remoteWorker) Slots() int   { return w.slots }

func (w *remoteWorker) Prepare(ctx context.Context, job string) (string, error) {
	j, err := w.s.job(job)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	resp, err := w.client.PrepareJob(ctx, &rpcpb.PrepareJobRequest{JobId: job, Binary: j.binary, Args: j.args,
		Env: j.env, Fingerprint: j.plan.Fingerprint, MasterAddress: w.s.Addr()})
	if err != nil {
		if status.Code(err) == codes.FailedPrecondition {
			return "", dag.Fatal(fmt.Errorf("worker %s: %s", w.name, status.Convert(err).Message()))
		}
		return "", fmt.Errorf("worker %s: %s", w.name, status.Convert(err).Message())
	}
	return resp.ExecutorAddress, nil
}

func (w *remoteWorker) Deploy(ctx context.Context, dep protocol.TaskDeployment) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := w.client.DeployTask(ctx, &rpcpb.DeployTaskRequest{Deployment: protocol.DeploymentToProto(dep)})
	if err != nil {
		return fmt.Errorf("deploy on worker %s: %s", w.name, status.Convert(err).Message())
	}
	return nil
}

// TriggerCheckpoint implements CheckpointGateway.
func (w *remoteWorker) TriggerCheckpoint(ctx context.Context, tr protocol.CheckpointTrigger) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := w.client.TriggerCheckpoint(ctx, protocol.TriggerToProto(tr)); err != nil {
		return fmt.Errorf("trigger checkpoint on worker %s: %s", w.name, status.Convert(err).Message())
	}
	return nil
}

// NotifyCheckpoint implements CheckpointGateway.
func (w *remoteWorker) NotifyCheckpoint(job string, id int64) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w.client.NotifyCheckpoint(ctx, &rpcpb.CheckpointNotice{JobId: job, Id: id})
	}()
}

func (w *remoteWorker) Cancel(job string, id protocol.TaskID, attempt int) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w.client.CancelTask(ctx, &rpcpb.CancelTaskRequest{JobId: job, Task: int32(id.Vertex), Subtask: int32(id.Subtask), Attempt: int32(attempt)})
	}()
}

func (w *remoteWorker) Metrics(job string) []protocol.VertexMetrics {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.metrics[job]
}

func sortedStatusNames(m map[string]*remoteWorker) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
