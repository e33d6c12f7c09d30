package yarntest

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dagflow/dagflow/internal/hadooprpc"
	"github.com/dagflow/dagflow/internal/yarn"
	pb "github.com/dagflow/dagflow/internal/yarn/yarnpb"
)

// Options configure a stand-in cluster.
type Options struct {
	// Nodes is the number of NodeManagers (default 1).
	Nodes int
	// NodeMemoryMB and NodeVCores are each node's capacity (default 8192
	// and 8).
	NodeMemoryMB int64
	NodeVCores   int32
	// Queues are the known queues (default: "default").
	Queues []string
	// MaxAttempts is yarn.resourcemanager.am.max-attempts (default 2).
	MaxAttempts int32
	// HA starts two ResourceManagers sharing one state; the first is
	// active.
	HA bool
	// Dir holds node directories and the configuration (default: a
	// temporary directory of the test).
	Dir string
	// Env is added to every container's environment (after the
	// stand-in's own variables, before the launch context's).
	Env map[string]string
	// CoreSite are extra core-site.xml properties written to ConfDir (e.g.
	// fs.defaultFS).
	CoreSite map[string]string
	// Logger receives the stand-in's events (default: discarded).
	Logger *slog.Logger
}

// Cluster is a running stand-in.
type Cluster struct {
	opts    Options
	dir     string
	confDir string
	log     *slog.Logger
	started time.Time // the cluster timestamp of application ids
	// masterKey derives the passwords of the tokens the cluster issues.
	masterKey []byte

	rms   []*resourceManager
	nodes []*nodeManager

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every state change
	nextApp  int32
	apps     map[yarn.ApplicationID]*application
	closed   bool
	counters map[string]int
}

// resourceManager is one ResourceManager endpoint; with HA two share the
// cluster's state and only the active one answers.
type resourceManager struct {
	idx    int
	id     string
	client *server
	active bool // guarded by Cluster.mu
}

// StartTest starts a cluster that is closed when the test ends.
func StartTest(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	c, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// Start starts a cluster; Close stops it and its containers.
func Start(opts Options) (*Cluster, error) {
	if opts.Nodes <= 0 {
		opts.Nodes = 1
	}
	if opts.NodeMemoryMB <= 0 {
		opts.NodeMemoryMB = 8192
	}
	if opts.NodeVCores <= 0 {
		opts.NodeVCores = 8
	}
	if len(opts.Queues) == 0 {
		opts.Queues = []string{"default"}
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 2
	}
	if opts.Dir == "" {
		return nil, fmt.Errorf("yarntest: Options.Dir is required")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{
		opts: opts, dir: opts.Dir, confDir: filepath.Join(opts.Dir, "conf"), log: log,
		started: time.Now(), changed: make(chan struct{}),
		apps: make(map[yarn.ApplicationID]*application), counters: make(map[string]int),
		masterKey: make([]byte, 20),
	}
	rand.Read(c.masterKey)
	nRM := 1
	if opts.HA {
		nRM = 2
	}
	for i := range nRM {
		rm := &resourceManager{idx: i, id: "rm" + strconv.Itoa(i+1), active: i == 0}
		rm.client = newServer(func(conn net.Conn) { hadooprpc.ServeConn(context.Background(), conn, c.clientHandler(rm)) })
		if err := rm.client.Start(); err != nil {
			c.Close()
			return nil, fmt.Errorf("yarntest: %w", err)
		}
		c.rms = append(c.rms, rm)
	}
	for i := range opts.Nodes {
		nm, err := c.startNode(i)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.nodes = append(c.nodes, nm)
	}
	if err := c.writeConf(c.confDir, nil); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// ConfDir is a HADOOP_CONF_DIR for clients: yarn-site.xml names the
// ResourceManager(s); core-site.xml has Options.CoreSite.
func (c *Cluster) ConfDir() string { return c.confDir }

// Addrs are the ResourceManagers' ApplicationClientProtocol addresses.
func (c *Cluster) Addrs() []string {
	var a []string
	for _, rm := range c.rms {
		a = append(a, rm.client.Addr())
	}
	return a
}

// writeConf writes yarn-site.xml and core-site.xml to dir. sched, when
// set, are the scheduler addresses (per ResourceManager) of one attempt.
func (c *Cluster) writeConf(dir string, sched []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("yarntest: %w", err)
	}
	props := map[string]string{}
	schedAddr := func(i int) string {
		if sched != nil {
			return sched[i]
		}
		// Clients of the cluster conf have no attempt; any closed port
		// makes a misuse obvious.
		return "127.0.0.1:1"
	}
	if len(c.rms) == 1 {
		props["yarn.resourcemanager.address"] = c.rms[0].client.Addr()
		props["yarn.resourcemanager.scheduler.address"] = schedAddr(0)
	} else {
		props["yarn.resourcemanager.ha.enabled"] = "true"
		var ids string
		for i, rm := range c.rms {
			if i > 0 {
				ids += ","
			}
			ids += rm.id
			props["yarn.resourcemanager.address."+rm.id] = rm.client.Addr()
			props["yarn.resourcemanager.scheduler.address."+rm.id] = schedAddr(i)
		}
		props["yarn.resourcemanager.ha.rm-ids"] = ids
	}
	if err := yarn.WriteSite(filepath.Join(dir, "yarn-site.xml"), props); err != nil {
		return err
	}
	core := map[string]string{"hadoop.security.authentication": "simple"}
	for k, v := range c.opts.CoreSite {
		core[k] = v
	}
	return yarn.WriteSite(filepath.Join(dir, "core-site.xml"), core)
}

// Close kills every container and stops the servers.
func (c *Cluster) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	var procs []*container
	for _, a := range c.apps {
		for _, ct := range a.containers {
			procs = append(procs, ct)
		}
	}
	c.mu.Unlock()
	for _, ct := range procs {
		ct.kill()
	}
	for _, ct := range procs {
		ct.wait()
	}
	for _, rm := range c.rms {
		rm.client.Close()
	}
	c.mu.Lock()
	var scheds []*server
	for _, a := range c.apps {
		for _, at := range a.attempts {
			scheds = append(scheds, at.sched...)
		}
	}
	c.mu.Unlock()
	for _, s := range scheds {
		s.Close()
	}
	for _, n := range c.nodes {
		n.srv.Close()
		n.http.Close()
	}
}

// notifyLocked wakes waiters; c.mu must be held.
func (c *Cluster) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Wait blocks until cond (called on every state change) returns true, or
// ctx ends.
func (c *Cluster) Wait(ctx context.Context, cond func(*Cluster) bool) error {
	for {
		c.mu.Lock()
		ch := c.changed
		c.mu.Unlock()
		if cond(c) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("yarntest: waiting: %w", ctx.Err())
		case <-ch:
		}
	}
}

// Count returns how often a method was called, or an event happened.
func (c *Cluster) Count(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counters[name]
}

// ContainerInfo describes a container for tests.
type ContainerInfo struct {
	ID       string
	Node     int
	Attempt  int32
	AM       bool
	Running  bool
	ExitCode int32
	LogDir   string
	WorkDir  string
}

// Containers lists the containers of an application (running and
// completed), in id order.
func (c *Cluster) Containers(app string) []ContainerInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.containersLocked(app)
}

func (c *Cluster) containersLocked(app string) []ContainerInfo {
	id, err := yarn.ParseApplicationID(app)
	if err != nil {
		return nil
	}
	a := c.apps[id]
	if a == nil {
		return nil
	}
	var out []ContainerInfo
	for _, ct := range a.containers {
		out = append(out, ContainerInfo{ID: ct.id.String(), Node: ct.node.idx, Attempt: ct.id.Attempt.Attempt, AM: ct.am,
			Running: ct.started && !ct.done, ExitCode: ct.exit, LogDir: ct.logDir, WorkDir: ct.workDir})
	}
	slices.SortFunc(out, func(x, y ContainerInfo) int {
		a, _ := yarn.ParseContainerID(x.ID)
		b, _ := yarn.ParseContainerID(y.ID)
		return int(a.ID - b.ID)
	})
	return out
}

// RunningContainers counts an application's running (launched, not
// completed) containers.
func (c *Cluster) RunningContainers(app string) int {
	n := 0
	for _, ct := range c.Containers(app) {
		if ct.Running {
			n++
		}
	}
	return n
}

// AppState returns an application's state, final status and diagnostics.
func (c *Cluster) AppState(app string) (state pb.YarnApplicationStateProto, final pb.FinalApplicationStatusProto, diagnostics string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, err := yarn.ParseApplicationID(app)
	if err != nil || c.apps[id] == nil {
		return 0, 0, ""
	}
	a := c.apps[id]
	return a.state, a.final, a.diagnostics
}

// Attempts returns the number of attempts an application has had.
func (c *Cluster) Attempts(app string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, err := yarn.ParseApplicationID(app)
	if err != nil || c.apps[id] == nil {
		return 0
	}
	return len(c.apps[id].attempts)
}

// Registered reports whether the current attempt of app has registered.
func (c *Cluster) Registered(app string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, err := yarn.ParseApplicationID(app)
	if err != nil || c.apps[id] == nil {
		return false
	}
	a := c.apps[id]
	return len(a.attempts) > 0 && a.attempts[len(a.attempts)-1].registered
}
