package daemon

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/dagflow/dagflow/internal/ha"
	"github.com/dagflow/dagflow/internal/rpcpb"
)

// Epoch returns the highest leader epoch the daemon has seen (0 without
// master high availability).
func (d *Daemon) Epoch() uint64 { return d.guard.Epoch() }

// masterClient returns the client of the current master.
func (d *Daemon) masterClient() rpcpb.MasterClient {
	d.mmu.Lock()
	defer d.mmu.Unlock()
	return d.master
}

// masterAddr returns the current master's address.
func (d *Daemon) masterAddr() string {
	d.mmu.Lock()
	defer d.mmu.Unlock()
	return d.cfg.Master
}

// dialMaster points the daemon at the master at addr.
func (d *Daemon) dialMaster(addr string) error {
	conn, err := grpc.NewClient(addr, d.cfg.TLS.DialOption(),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return fmt.Errorf("shuffle daemon: master address %q: %w", addr, err)
	}
	d.mmu.Lock()
	old := d.conn
	d.conn, d.master, d.cfg.Master = conn, rpcpb.NewMasterClient(conn), addr
	d.mmu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// findLeader waits for the first leading master of an HA cluster.
func (d *Daemon) findLeader(ctx context.Context) error {
	d.log.Info("waiting for a leading master")
	info, err := d.cfg.Leaders.WaitLeader(ctx, 0)
	if err != nil {
		return fmt.Errorf("shuffle daemon: find the leading master: %w", err)
	}
	d.guard.Observe(info.Epoch)
	d.cfg.Master = info.Address
	return nil
}

// followLeaders registers the daemon with every new leading master until
// ctx ends. Its partitions stay: the new leader recovers the jobs under
// their old ids and lists them as running, so the reaper keeps them.
func (d *Daemon) followLeaders(ctx context.Context) {
	defer d.reaperWG.Done()
	ha.Follow(ctx, d.cfg.Leaders, d.guard, d.log, time.Second, func(ctx context.Context, info ha.Info) error {
		if err := d.dialMaster(info.Address); err != nil {
			return err
		}
		return d.announce(ctx, info.Address)
	})
}
