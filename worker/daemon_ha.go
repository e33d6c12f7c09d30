package worker

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/dagflow/dagflow/internal/ha"
	"github.com/dagflow/dagflow/internal/rpcpb"
)

// LeaderSource says which master leads an HA cluster (ha.Client
// implements it).
type LeaderSource interface {
	// WaitLeader blocks until a leader with an epoch above after is
	// published, and returns it.
	WaitLeader(ctx context.Context, after uint64) (ha.Info, error)
}

// masterClient returns the client of the current master.
func (d *Daemon) masterClient() rpcpb.MasterClient {
	d.mmu.Lock()
	defer d.mmu.Unlock()
	return d.master
}

// dialMaster points the daemon at the master at addr.
func (d *Daemon) dialMaster(addr string) error {
	conn, err := grpc.NewClient(addr, d.cfg.TLS.DialOption())
	if err != nil {
		return fmt.Errorf("worker: master address %q: %w", addr, err)
	}
	d.mmu.Lock()
	old := d.conn
	d.conn, d.master = conn, rpcpb.NewMasterClient(conn)
	d.mmu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// register registers the worker with the master at addr and joins its
// gossip.
func (d *Daemon) register(ctx context.Context, addr string) error {
	resp, err := d.masterClient().RegisterWorker(ctx, &rpcpb.RegisterWorkerRequest{
		Name: d.cfg.Name, Address: d.addr, Slots: int32(d.cfg.Slots), GossipAddress: d.member.Address(),
	}, grpc.WaitForReady(true))
	if err != nil {
		return fmt.Errorf("worker: cannot register with master at %s: %w", addr, err)
	}
	if err := d.member.Join(resp.GossipAddress); err != nil {
		return fmt.Errorf("worker: join the gossip of master %s: %w", addr, err)
	}
	return nil
}

// followLeaders registers the worker with every new leading master until
// the daemon closes.
func (d *Daemon) followLeaders() {
	for {
		info, err := d.cfg.Leaders.WaitLeader(d.ctx, d.guard.Epoch())
		if err != nil {
			if d.ctx.Err() != nil {
				return
			}
			d.log.Warn("finding the leading master", "err", err)
			select {
			case <-d.ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		if !d.guard.Observe(info.Epoch) {
			continue // an older leader's late announcement
		}
		d.log.Info("new leading master", "master", info.Address, "epoch", info.Epoch)
		if err := d.dialMaster(info.Address); err != nil {
			d.log.Error("dial the new leader", "err", err)
			continue
		}
		d.mmu.Lock()
		d.cfg.Master = info.Address
		d.mmu.Unlock()
		for attempt := 0; ; attempt++ {
			ctx, cancel := context.WithTimeout(d.ctx, d.cfg.RegisterTimeout)
			err := d.register(ctx, info.Address)
			if err == nil {
				err = d.reconcile(ctx, info.Address, info.Epoch)
			}
			cancel()
			if err == nil || d.ctx.Err() != nil {
				break
			}
			d.log.Warn("register with the new leader", "attempt", attempt, "err", err)
			if d.guard.Epoch() != info.Epoch {
				break // a newer leader already
			}
			select {
			case <-d.ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

// leaderChanged runs when a newer leader is first seen. The executors keep
// running: once the worker registered with the new leader, it points them
// at it and reports their tasks (reconcile), and the leader continues the
// jobs with them or tells the worker which to stop.
func (d *Daemon) leaderChanged(old, epoch uint64) {
	if old == 0 {
		return // the first leader this worker sees
	}
	d.mu.Lock()
	n := len(d.executors)
	d.mu.Unlock()
	d.log.Info("leader changed: executors keep running", "epoch", epoch, "executors", n)
}

// reconcile points every executor at the leader at addr and reports their
// tasks to it; it stops the executors of the jobs the leader does not
// continue.
func (d *Daemon) reconcile(ctx context.Context, addr string, epoch uint64) error {
	d.mu.Lock()
	procs := make([]*executorProc, 0, len(d.executors))
	for _, p := range d.executors {
		procs = append(procs, p)
	}
	d.mu.Unlock()
	rep := &rpcpb.WorkerTasks{Worker: d.cfg.Name}
	for _, p := range procs {
		tasks, err := p.follow.Follow(ctx, &rpcpb.FollowRequest{MasterAddress: addr, Epoch: epoch})
		if err != nil {
			// Its tasks are not reported: the leader restarts them.
			d.log.Warn("point an executor at the new leader", "job", p.job, "err", err)
			continue
		}
		tasks.JobId, tasks.ExecutorAddress = p.job, p.addr
		rep.Executors = append(rep.Executors, tasks)
	}
	d.mmu.Lock()
	conn := d.conn
	d.mmu.Unlock()
	resp, err := rpcpb.NewReconcileClient(conn).ReportTasks(ctx, rep, grpc.WaitForReady(true))
	if err != nil {
		return fmt.Errorf("worker: report tasks to master %s: %w", addr, err)
	}
	for _, job := range resp.Release {
		d.mu.Lock()
		p, ok := d.executors[job]
		delete(d.executors, job)
		d.mu.Unlock()
		if ok {
			d.log.Info("the new leader does not continue the job: stopping its executor", "job", job)
			d.stop(p)
		}
	}
	return nil
}
