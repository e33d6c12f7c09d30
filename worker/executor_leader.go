package worker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow/internal/rpcpb"
)

// masterWait bounds how long an executor keeps retrying a call to the
// master that fails because no master answers (or, after a leader change,
// the new leader does not know the job yet): long enough for a standby to
// take over and recover the job, short enough that an executor of a
// cluster without a master gives up.
const masterWait = 90 * time.Second

// leaderConn is an executor's connection to the current master; its worker
// daemon points it at a new leader after a master failover (Follow).
type leaderConn struct {
	dial []grpc.DialOption
	// stopped is closed when the executor shuts down: calls waiting for a
	// master give up then.
	stopped  chan struct{}
	stopOnce sync.Once

	mu       sync.Mutex
	addr     string
	epoch    uint64
	conn     *grpc.ClientConn
	client   rpcpb.MasterClient
	followed bool
}

func newLeaderConn(addr string, dial ...grpc.DialOption) (*leaderConn, error) {
	conn, err := grpc.NewClient(addr, dial...)
	if err != nil {
		return nil, fmt.Errorf("executor: master %s: %w", addr, err)
	}
	return &leaderConn{dial: dial, stopped: make(chan struct{}), addr: addr, conn: conn, client: rpcpb.NewMasterClient(conn)}, nil
}

// stop makes every call waiting for a master, now or later, give up. The
// executor stops it when it shuts down: a worker stopping the executor
// of a job that a new leader restarts must not wait for reports that no
// master will take (the new leader does not know the job until it
// restarts it, after the executor is gone).
func (l *leaderConn) stop() {
	l.stopOnce.Do(func() { close(l.stopped) })
}

// current returns the current master's client and address.
func (l *leaderConn) current() (rpcpb.MasterClient, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.client, l.addr
}

// follow switches to the leader at addr with epoch; an older epoch than
// the one followed changes nothing.
func (l *leaderConn) follow(addr string, epoch uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if epoch < l.epoch {
		return status.Errorf(codes.FailedPrecondition, "executor: leader epoch %d is older than %d", epoch, l.epoch)
	}
	l.epoch, l.followed = epoch, true
	if addr == l.addr {
		return nil
	}
	conn, err := grpc.NewClient(addr, l.dial...)
	if err != nil {
		return fmt.Errorf("executor: master %s: %w", addr, err)
	}
	old := l.conn
	l.addr, l.conn, l.client = addr, conn, rpcpb.NewMasterClient(conn)
	old.Close()
	return nil
}

// retryable says whether a failed call to the master is tried again: when
// no master answers, and after a leader change also when the new leader
// does not know the job yet (it is recovering it).
func (l *leaderConn) retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	case codes.NotFound:
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.followed
	}
	return false
}

// call runs fn against the current master, again while the failure is
// retryable, for at most masterWait or until ctx ends or the executor
// stops.
func (l *leaderConn) call(ctx context.Context, fn func(ctx context.Context, mc rpcpb.MasterClient) error) error {
	deadline := time.Now().Add(masterWait)
	wait := 100 * time.Millisecond
	for {
		mc, addr := l.current()
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := fn(cctx, mc)
		cancel()
		if err == nil {
			return nil
		}
		if !l.retryable(err) || ctx.Err() != nil {
			return fmt.Errorf("master %s: %w", addr, err)
		}
		select {
		case <-l.stopped:
			return fmt.Errorf("master %s: executor stopping: %w", addr, err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("master %s: no master answered for %s: %w", addr, masterWait, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("master %s: %w", addr, err)
		case <-l.stopped:
			return fmt.Errorf("master %s: executor stopping: %w", addr, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func (l *leaderConn) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conn.Close()
}

// Follow implements rpcpb.ExecutorReconcileServer: the worker daemon found
// a new leader; the executor's master traffic goes there from now on, and
// it returns its tasks for the new leader to adopt.
func (ex *executor) Follow(_ context.Context, req *rpcpb.FollowRequest) (*rpcpb.ExecutorTasks, error) {
	if err := ex.leader.follow(req.MasterAddress, req.Epoch); err != nil {
		return nil, err
	}
	ex.log.Info("following a new leading master", "master", req.MasterAddress, "epoch", req.Epoch)
	out := &rpcpb.ExecutorTasks{JobId: ex.cfg.Job, ExecutorAddress: ex.self}
	for _, r := range ex.w.Tasks(ex.cfg.Job) {
		out.Tasks = append(out.Tasks, TaskReportToProto(r))
	}
	return out, nil
}

// TaskReportToProto encodes a task report for the Reconcile service.
func TaskReportToProto(r TaskReport) *rpcpb.ReportedTask {
	t := &rpcpb.ReportedTask{Vertex: int32(r.ID.Vertex), Subtask: int32(r.ID.Subtask), Attempt: int32(r.Attempt), Slot: int32(r.Slot),
		Finished: r.Finished, LastBarrier: r.LastBarrier, External: r.External}
	for _, s := range r.Splits {
		t.Splits = append(t.Splits, &rpcpb.ReportedSplit{Id: s.ID, Tag: s.Tag, Done: s.Done, DoneTag: s.DoneTag})
	}
	if len(r.Locations) > 0 {
		t.Locations = make(map[int32]string, len(r.Locations))
		for e, loc := range r.Locations {
			t.Locations[int32(e)] = loc
		}
	}
	for v, items := range r.Committables {
		t.Committables = append(t.Committables, &rpcpb.SinkCommittables{Vertex: int32(v), Items: items})
	}
	return t
}
