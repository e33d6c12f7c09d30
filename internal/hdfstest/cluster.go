package hdfstest

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Options configure a Cluster.
type Options struct {
	// BlockSize is the block size the NameNode hands out as its default
	// (default 1 MiB). It must be a multiple of 512; small blocks make
	// small files multi-block.
	BlockSize int64
	// ListLimit is how many entries one getListing reply holds (default
	// 1000, like dfs.ls.limit); lower it to exercise listing pagination.
	ListLimit int
	// HA starts two NameNodes sharing one namespace, "nn1" in standby and
	// "nn2" active (see NameNodes and Failover).
	HA bool
}

// Cluster is a running NameNode (two with HA) and DataNode on loopback.
// All methods are safe for concurrent use.
type Cluster struct {
	opts      Options
	nameNodes []*nameNode
	dn        *dataNode
	handlers  map[string]handler

	mu        sync.Mutex
	root      *inode
	open      map[uint64]*inode // files under construction by id
	nextID    uint64
	nextBlock uint64
	safeMode  bool
	denied    []string
	resets    map[string]int // method → calls to answer by closing the connection
	ops       Ops
}

// Start starts a cluster. ctx is only checked before starting; the
// cluster runs until Close.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.BlockSize == 0 {
		opts.BlockSize = 1 << 20
	}
	if opts.BlockSize < 0 || opts.BlockSize%chunkSize != 0 {
		return nil, fmt.Errorf("hdfstest: block size %d is not a positive multiple of %d", opts.BlockSize, chunkSize)
	}
	if opts.ListLimit <= 0 {
		opts.ListLimit = 1000
	}
	c := &Cluster{
		opts:      opts,
		dn:        newDataNode(),
		open:      make(map[uint64]*inode),
		nextID:    16385, // HDFS numbers inodes from 16385 (the root)
		nextBlock: 1 << 30,
		ops:       make(Ops),
	}
	c.root = &inode{id: c.nextID, dir: true, children: make(map[string]*inode), perm: 0o755, owner: "hdfs", mtime: now(), atime: now()}
	c.initHandlers()
	names := []string{"nn"}
	if opts.HA {
		names = []string{"nn1", "nn2"}
	}
	for i, name := range names {
		nn := &nameNode{name: name}
		nn.srv = newServer(func(conn net.Conn) { c.serveRPC(nn, conn) })
		nn.active.Store(i == len(names)-1)
		c.nameNodes = append(c.nameNodes, nn)
	}
	for _, s := range c.servers() {
		if err := s.Start(); err != nil {
			c.Close()
			return nil, fmt.Errorf("hdfstest: %w", err)
		}
	}
	return c, nil
}

// StartTest starts a cluster for a test and closes it when the test ends.
func StartTest(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	c, err := Start(context.Background(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

func (c *Cluster) servers() []*server {
	s := []*server{c.dn.srv}
	for _, nn := range c.nameNodes {
		s = append(s, nn.srv)
	}
	return s
}

// Close stops every server and waits for their goroutines.
func (c *Cluster) Close() {
	for _, s := range c.servers() {
		s.Close()
	}
}

// Addr returns the address (host:port) of the active NameNode.
func (c *Cluster) Addr() string {
	for _, nn := range c.nameNodes {
		if nn.active.Load() {
			return nn.srv.Addr()
		}
	}
	return c.nameNodes[0].srv.Addr()
}

// URL returns "hdfs://ADDR" + p for the active NameNode's address.
func (c *Cluster) URL(p string) string { return "hdfs://" + c.Addr() + p }

// NameNodes returns the addresses of all NameNodes in order ("nn1", "nn2"
// with HA: the first is the standby until Failover).
func (c *Cluster) NameNodes() []string {
	var out []string
	for _, nn := range c.nameNodes {
		out = append(out, nn.srv.Addr())
	}
	return out
}

// DataNodeAddr returns the DataNode's transfer address.
func (c *Cluster) DataNodeAddr() string { return c.dn.srv.Addr() }

// Failover swaps the active and standby NameNodes (HA only): calls to the
// old active one fail with StandbyException from now on.
func (c *Cluster) Failover() {
	if len(c.nameNodes) < 2 {
		return
	}
	for _, nn := range c.nameNodes {
		nn.active.Store(!nn.active.Load())
	}
}

// StopNameNode makes the NameNodes unreachable: listeners and open
// connections are closed, so clients see connection refused or reset.
// The namespace is kept for StartNameNode.
func (c *Cluster) StopNameNode() {
	for _, nn := range c.nameNodes {
		nn.srv.Stop()
	}
}

// StartNameNode brings stopped NameNodes back on their addresses.
func (c *Cluster) StartNameNode() error {
	for _, nn := range c.nameNodes {
		if err := nn.srv.Start(); err != nil {
			return fmt.Errorf("hdfstest: restarting NameNode %s: %w", nn.name, err)
		}
	}
	return nil
}

// StopDataNode stops the DataNode: its listener and every open transfer
// connection are closed. Stored blocks are kept for StartDataNode. The
// NameNode keeps handing out its location, as a real one does until it
// notices the DataNode is dead.
func (c *Cluster) StopDataNode() { c.dn.srv.Stop() }

// StartDataNode restarts a stopped (or killed) DataNode on its address.
func (c *Cluster) StartDataNode() error {
	if err := c.dn.srv.Start(); err != nil {
		return fmt.Errorf("hdfstest: restarting DataNode: %w", err)
	}
	return nil
}

// DataNodeRunning reports whether the DataNode accepts connections.
func (c *Cluster) DataNodeRunning() bool { return c.dn.srv.Running() }

// KillDataNodeAfter makes the DataNode crash once it has received n more
// data packets of writes (n >= 1): the connection of the nth packet is
// closed without acknowledging it and the DataNode stops as by
// StopDataNode. The returned channel is closed at the crash. A later call
// replaces the trigger.
func (c *Cluster) KillDataNodeAfter(n int) <-chan struct{} {
	dn := c.dn
	dn.mu.Lock()
	defer dn.mu.Unlock()
	dn.killAfter = max(n, 1)
	dn.killed = make(chan struct{})
	return dn.killed
}

// DataPackets returns how many data packets the DataNode has received.
func (c *Cluster) DataPackets() int64 {
	c.dn.mu.Lock()
	defer c.dn.mu.Unlock()
	return c.dn.packets
}

// SetSafeMode turns NameNode safe mode on or off: while on, every
// namespace mutation fails with SafeModeException.
func (c *Cluster) SetSafeMode(on bool) {
	c.mu.Lock()
	c.safeMode = on
	c.mu.Unlock()
}

// DenyPrefix makes every call on prefix or a path below it fail with
// AccessControlException (permission denied), for every user.
func (c *Cluster) DenyPrefix(prefix string) {
	c.mu.Lock()
	c.denied = append(c.denied, prefix)
	c.mu.Unlock()
}

// ResetAfterCall makes the NameNode close the connection instead of
// replying to the next n calls of method, after executing them: the
// client cannot tell whether such a call took effect, as when a NameNode
// fails mid-call.
func (c *Cluster) ResetAfterCall(method string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.resets == nil {
		c.resets = make(map[string]int)
	}
	c.resets[method] = n
}

func (c *Cluster) takeReset(method string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.resets[method] <= 0 {
		return false
	}
	c.resets[method]--
	return true
}

// AllowAll removes every DenyPrefix rule.
func (c *Cluster) AllowAll() {
	c.mu.Lock()
	c.denied = nil
	c.mu.Unlock()
}

// Ops returns how many calls of each ClientProtocol method the active
// NameNode received so far (including failed ones). Calls a standby
// NameNode rejected are counted under "standbyRejected".
func (c *Cluster) Ops() Ops {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.ops)
}

func (c *Cluster) count(method string) {
	c.mu.Lock()
	c.ops[method]++
	c.mu.Unlock()
}

// Ops counts NameNode calls by ClientProtocol method name ("create",
// "addBlock", "complete", "rename2", "delete", "mkdirs", "getListing",
// "getFileInfo", "getBlockLocations", "renewLease", ...). Missing
// methods count zero. To measure a piece of work, subtract a snapshot
// taken before it:
//
//	before := cluster.Ops()
//	runJob()
//	d := cluster.Ops().Sub(before)
//	b.ReportMetric(float64(d["create"]), "creates/op")
type Ops map[string]int64

// Sub returns o minus before, per method, leaving out zero differences.
func (o Ops) Sub(before Ops) Ops {
	d := make(Ops)
	for k, v := range o {
		if n := v - before[k]; n != 0 {
			d[k] = n
		}
	}
	return d
}

// Total sums the calls a piece of work made: every method except
// renewLease (which clients send every second while connected) and
// standby rejections.
func (o Ops) Total() int64 {
	var t int64
	for k, v := range o {
		if k != "renewLease" && k != "standbyRejected" {
			t += v
		}
	}
	return t
}

// String lists the counts sorted by method, e.g. "addBlock=2 create=2".
func (o Ops) String() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(o)) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, o[k])
	}
	return b.String()
}
