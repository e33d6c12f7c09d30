package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/dagflow/dagflow/internal/ha"
	"github.com/dagflow/dagflow/master"
	"github.com/dagflow/dagflow/worker"
)

// haOptions are the master's high-availability flags.
type haOptions struct {
	mode           string
	dir            string
	sessionTimeout time.Duration
}

func addHAFlags(f *pflag.FlagSet, o *haOptions) {
	f.StringVar(&o.mode, "ha", "", "high availability: zookeeper (with --zk and --ha-dir) runs this master as a leader or standby")
	f.StringVar(&o.dir, "ha-dir", "", "with --ha: directory (URI, e.g. hdfs://nn:8020/dagflow/ha) all masters share for job binaries, plans and submissions")
	f.DurationVar(&o.sessionTimeout, "zk-session-timeout", 10*time.Second, "with --ha: ZooKeeper session timeout; a leader silent this long is replaced")
}

// haConfig is the ZooKeeper configuration of the global --zk and
// --ha-cluster flags.
func (a *app) haConfig(timeout time.Duration) (ha.Config, error) {
	servers, err := ha.ParseServers(a.zk)
	if err != nil {
		return ha.Config{}, usageErrorf("--zk %q: %v", a.zk, err)
	}
	return ha.Config{Servers: servers, Cluster: a.haCluster, SessionTimeout: timeout, Logger: a.log}, nil
}

// findLeader sets the master address to the HA cluster's leader.
func (a *app) findLeader(ctx context.Context) error {
	cfg, err := a.haConfig(10 * time.Second)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := ha.Connect(cctx, cfg)
	if err != nil {
		return unreachable(err)
	}
	defer c.Close()
	info, err := c.WaitLeader(cctx, 0)
	if err != nil {
		return unreachable(fmt.Errorf("no leading master in ZooKeeper %s (cluster %s): %w", a.zk, a.haCluster, err))
	}
	a.master = info.Address
	return nil
}

// leaderSource returns the worker's way to find leaders: ZooKeeper with
// --zk, nothing with --master.
func (a *app) leaderSource(ctx context.Context) (worker.LeaderSource, func(), error) {
	if a.zk == "" || a.master != "" {
		return nil, func() {}, nil
	}
	cfg, err := a.haConfig(10 * time.Second)
	if err != nil {
		return nil, nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := ha.Connect(cctx, cfg)
	if err != nil {
		return nil, nil, failed(err)
	}
	return c, c.Close, nil
}

// runHAMaster runs a master as a candidate of the HA cluster: it waits as
// a standby until it leads, then serves with the new leader epoch,
// recovers the jobs its predecessor accepted, and exits when it loses the
// leadership (a supervisor restarts it as a standby).
func (a *app) runHAMaster(parent context.Context, cfg master.ServerConfig, o haOptions) error {
	if o.mode != "zookeeper" {
		return usageErrorf("--ha %q: the only high-availability service is zookeeper", o.mode)
	}
	if a.zk == "" {
		return usageErrorf("--ha zookeeper needs --zk HOST:PORT,...")
	}
	if o.dir == "" {
		return usageErrorf("--ha zookeeper needs --ha-dir: the directory every master shares")
	}
	if cfg.StorageDir != "" && cfg.StorageDir != strings.TrimRight(o.dir, "/") {
		return usageErrorf("--storage-dir %s and --ha-dir %s differ: with --ha the storage directory is --ha-dir", cfg.StorageDir, o.dir)
	}
	cfg.StorageDir = strings.TrimRight(o.dir, "/")
	zcfg, err := a.haConfig(o.sessionTimeout)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	zc, err := ha.Connect(cctx, zcfg)
	cancel()
	if err != nil {
		return unreachable(err)
	}
	defer zc.Close()
	a.log.Info("standby: waiting for leadership", "zk", a.zk, "cluster", a.haCluster)
	term, err := zc.Campaign(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return failed(err)
	}
	cfg.Epoch = term.Epoch
	cfg.JobStore = term
	s, err := master.NewServer(cfg)
	if err != nil {
		_ = term.Resign()
		return failed(err)
	}
	host, _ := os.Hostname()
	if err := term.Publish(ha.Info{ID: fmt.Sprintf("%s-%d", host, os.Getpid()), Address: s.Addr(), HTTP: s.HTTPAddr()}); err != nil {
		s.Close()
		return failed(err)
	}
	a.ready(fmt.Sprintf("master leading (epoch %d) on %s (REST %s)", term.Epoch, s.Addr(), s.HTTPAddr()),
		map[string]any{"daemon": "master", "addr": s.Addr(), "http": s.HTTPAddr(), "epoch": term.Epoch})
	records, err := zc.Jobs()
	if err != nil {
		a.log.Error("read the jobs to recover", "err", err)
	} else {
		// Without jobs to recover it still tells the workers to stop the
		// executors of jobs nobody continues.
		if len(records) > 0 {
			a.log.Info("recovering jobs of the previous leader", "jobs", len(records))
		}
		if err := s.RecoverJobs(ctx, records); err != nil {
			a.log.Error("some jobs were not recovered", "err", err)
		}
	}
	select {
	case <-ctx.Done():
		// Shutting down: hand the jobs to a standby.
		s.Close()
		_ = term.Resign()
		return nil
	case <-term.Lost():
		// Another master leads now (or may: the session expired). Stop
		// at once; the jobs are the new leader's.
		a.log.Error("lost the leadership: exiting", "epoch", term.Epoch)
		return failed(errors.New("lost the leadership to another master"))
	}
}
