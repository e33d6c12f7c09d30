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

// leaderChanged runs when a newer leader is first seen: the executors run
// the previous leader's task attempts, which the new leader restarts from
// their latest checkpoint, so they stop now instead of writing on.
func (d *Daemon) leaderChanged(old, epoch uint64) {
	if old == 0 {
		return // the first leader this worker sees
	}
	d.mu.Lock()
	procs := make([]*executorProc, 0, len(d.executors))
	for job, p := range d.executors {
		procs = append(procs, p)
		delete(d.executors, job)
	}
	d.mu.Unlock()
	if len(procs) > 0 {
		d.log.Warn("leader changed: stopping the previous leader's executors", "epoch", epoch, "executors", len(procs))
	}
	for _, p := range procs {
		d.stop(p)
	}
}
