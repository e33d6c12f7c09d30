package ha

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// ErrFenced is returned by a Term's writes after a newer leader took over:
// the epoch node moved on, so the write was refused atomically.
var ErrFenced = errors.New("ha: fenced: a newer leader has taken over")

// ErrNoLeader is returned by Leader when no master leads right now.
var ErrNoLeader = errors.New("ha: no leader elected")

// Config says where the election lives.
type Config struct {
	// Servers are the ZooKeeper servers (HOST:PORT).
	Servers []string
	// Root is the znode under which every cluster lives (default /dagflow).
	Root string
	// Cluster separates clusters sharing one ZooKeeper (default "default").
	Cluster string
	// SessionTimeout is the ZooKeeper session timeout (default 10s): a
	// leader that is silent this long loses its leadership.
	SessionTimeout time.Duration
	// Logger gets connection state changes (default slog.Default()).
	Logger *slog.Logger
}

// Info is what a leader publishes about itself.
type Info struct {
	// Epoch is the leader's epoch; every order it gives carries it.
	Epoch uint64 `json:"epoch"`
	// ID names the master process (host and pid, or --name).
	ID string `json:"id"`
	// Address is the master's gRPC address (HOST:PORT).
	Address string `json:"address"`
	// HTTP is its REST/UI address, if any.
	HTTP string `json:"http,omitempty"`
}

// ParseServers splits a connect string (HOST:PORT,HOST:PORT) and checks it.
func ParseServers(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		i := strings.LastIndex(p, ":")
		if i <= 0 || i == len(p)-1 {
			return nil, fmt.Errorf("ha: ZooKeeper server %q: want HOST:PORT", p)
		}
		if _, err := strconv.ParseUint(p[i+1:], 10, 16); err != nil {
			return nil, fmt.Errorf("ha: ZooKeeper server %q: bad port: %w", p, err)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, errors.New("ha: no ZooKeeper servers given (want HOST:PORT,...)")
	}
	return out, nil
}

// Client is a ZooKeeper session of a master, worker or client.
type Client struct {
	cfg  Config
	conn *zk.Conn
	base string
	log  *slog.Logger

	mu       sync.Mutex
	expiries []chan struct{} // closed on the next session expiry
	closed   chan struct{}
}

// Connect opens a ZooKeeper session and waits until it is established or
// ctx ends. It creates the cluster's znodes when they are missing.
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	if len(cfg.Servers) == 0 {
		return nil, errors.New("ha: no ZooKeeper servers configured")
	}
	if cfg.Root == "" {
		cfg.Root = "/dagflow"
	}
	if cfg.Cluster == "" {
		cfg.Cluster = "default"
	}
	if !strings.HasPrefix(cfg.Root, "/") || strings.Contains(cfg.Cluster, "/") {
		return nil, fmt.Errorf("ha: root %q must be absolute and cluster %q one path element", cfg.Root, cfg.Cluster)
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Client{cfg: cfg, base: path.Join(cfg.Root, cfg.Cluster), log: cfg.Logger, closed: make(chan struct{})}
	conn, events, err := zk.Connect(cfg.Servers, cfg.SessionTimeout, zk.WithLogger(zkLogger{cfg.Logger}), zk.WithLogInfo(false))
	if err != nil {
		return nil, fmt.Errorf("ha: connect to ZooKeeper %s: %w", strings.Join(cfg.Servers, ","), err)
	}
	c.conn = conn
	connected := make(chan struct{})
	go c.watchSession(events, connected)
	select {
	case <-connected:
	case <-ctx.Done():
		conn.Close()
		return nil, fmt.Errorf("ha: no ZooKeeper session with %s: %w", strings.Join(cfg.Servers, ","), ctx.Err())
	}
	for _, p := range []string{cfg.Root, c.base, c.path("election"), c.path("jobs")} {
		if err := c.ensure(p); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return c, nil
}

func (c *Client) path(elem ...string) string { return path.Join(append([]string{c.base}, elem...)...) }

// ensure creates a persistent node if it does not exist.
func (c *Client) ensure(p string) error {
	_, err := c.conn.Create(p, nil, 0, zk.WorldACL(zk.PermAll))
	if err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("ha: create %s: %w", p, err)
	}
	return nil
}

func (c *Client) watchSession(events <-chan zk.Event, connected chan struct{}) {
	once := false
	for ev := range events {
		if ev.Type != zk.EventSession {
			continue
		}
		switch ev.State {
		case zk.StateHasSession:
			if !once {
				once = true
				close(connected)
			}
			c.log.Debug("zookeeper session", "state", "has-session", "server", ev.Server)
		case zk.StateExpired:
			c.log.Warn("zookeeper session expired")
			c.mu.Lock()
			exp := c.expiries
			c.expiries = nil
			c.mu.Unlock()
			for _, ch := range exp {
				close(ch)
			}
		case zk.StateDisconnected:
			c.log.Warn("zookeeper disconnected", "server", ev.Server)
		}
	}
}

// nextExpiry returns a channel closed when the current session expires.
func (c *Client) nextExpiry() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan struct{})
	c.expiries = append(c.expiries, ch)
	return ch
}

// Close ends the session: a leader's ephemeral nodes vanish at once, so a
// standby takes over without waiting for the session timeout.
func (c *Client) Close() {
	select {
	case <-c.closed:
		return
	default:
	}
	close(c.closed)
	c.conn.Close()
}

// Term is one leadership: it lasts until Lost is closed.
type Term struct {
	c      *Client
	Epoch  uint64
	node   string
	epochV int32 // version of the epoch node this term set
	lost   chan struct{}
	once   sync.Once
}

// Lost is closed when the leadership ends: the session expired, the
// candidate node vanished, or the term resigned.
func (t *Term) Lost() <-chan struct{} { return t.lost }

func (t *Term) lose() { t.once.Do(func() { close(t.lost) }) }

// Campaign enters the election and blocks until this process leads or ctx
// ends. On winning it increments the epoch; the new leader then starts
// serving and announces itself with Publish. The returned term ends when
// leadership is lost.
func (c *Client) Campaign(ctx context.Context) (*Term, error) {
	expired := c.nextExpiry()
	node, err := c.conn.Create(c.path("election", candidatePrefix), nil, zk.FlagEphemeral|zk.FlagSequence, zk.WorldACL(zk.PermAll))
	if err != nil {
		return nil, fmt.Errorf("ha: enter election: %w", err)
	}
	name := path.Base(node)
	for {
		var children []string
		err := c.retry(ctx, expired, func() (err error) {
			children, _, err = c.conn.Children(c.path("election"))
			return err
		})
		if err != nil {
			return nil, c.leave(node, fmt.Errorf("ha: list candidates: %w", err))
		}
		lead, watch, err := Order(children, name)
		if err != nil {
			return nil, c.leave(node, err)
		}
		if lead {
			break
		}
		var ok bool
		var ch <-chan zk.Event
		err = c.retry(ctx, expired, func() (err error) {
			ok, _, ch, err = c.conn.ExistsW(c.path("election", watch))
			return err
		})
		if err != nil {
			return nil, c.leave(node, fmt.Errorf("ha: watch candidate %s: %w", watch, err))
		}
		if !ok {
			continue
		}
		select {
		case <-ch:
		case <-expired:
			return nil, errors.New("ha: ZooKeeper session expired while waiting to lead")
		case <-ctx.Done():
			return nil, c.leave(node, ctx.Err())
		}
	}
	t := &Term{c: c, node: node, lost: make(chan struct{})}
	if err := t.bumpEpoch(ctx, expired); err != nil {
		return nil, c.leave(node, err)
	}
	go t.watch(expired)
	c.log.Info("elected leader", "epoch", t.Epoch, "node", name)
	return t, nil
}

// leave removes a candidate node after a failed campaign.
func (c *Client) leave(node string, err error) error {
	_ = c.conn.Delete(node, -1)
	return err
}

// transient reports whether a ZooKeeper call failed only because the
// connection dropped: the session may survive a reconnect (ZooKeeper ends
// it only when it times out), so the call is worth trying again.
func transient(err error) bool {
	return errors.Is(err, zk.ErrConnectionClosed) || errors.Is(err, zk.ErrNoServer)
}

// retry runs fn, again while it fails with a transient error, until the
// session expires, ctx ends or the client closes. Only idempotent calls
// go through it (reads, and writes whose lost answer the caller detects).
func (c *Client) retry(ctx context.Context, expired <-chan struct{}, fn func() error) error {
	for {
		err := fn()
		if err == nil || !transient(err) {
			return err
		}
		c.log.Warn("zookeeper call failed: retrying", "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-expired:
			return err
		case <-c.closed:
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// bumpEpoch increments the epoch with a compare-and-set. A write whose
// answer was lost to a dropped connection is detected when it is tried
// again (the node exists, or its version moved on), and the epoch is then
// incremented once more: epochs stay unique and increasing.
func (t *Term) bumpEpoch(ctx context.Context, expired <-chan struct{}) error {
	c := t.c
	p := c.path("epoch")
	for {
		var data []byte
		var st *zk.Stat
		err := c.retry(ctx, expired, func() (err error) {
			data, st, err = c.conn.Get(p)
			return err
		})
		if errors.Is(err, zk.ErrNoNode) {
			err = c.retry(ctx, expired, func() error {
				_, err := c.conn.Create(p, []byte("1"), 0, zk.WorldACL(zk.PermAll))
				return err
			})
			if err == nil {
				t.Epoch, t.epochV = 1, 0
				return nil
			}
			if errors.Is(err, zk.ErrNodeExists) {
				continue
			}
			return fmt.Errorf("ha: create epoch: %w", err)
		}
		if err != nil {
			return fmt.Errorf("ha: read epoch: %w", err)
		}
		cur, err := strconv.ParseUint(string(data), 10, 64)
		if err != nil {
			return fmt.Errorf("ha: epoch node %s holds %q: %w", p, data, err)
		}
		var st2 *zk.Stat
		err = c.retry(ctx, expired, func() (err error) {
			st2, err = c.conn.Set(p, []byte(strconv.FormatUint(cur+1, 10)), st.Version)
			return err
		})
		if errors.Is(err, zk.ErrBadVersion) {
			continue
		}
		if err != nil {
			return fmt.Errorf("ha: write epoch: %w", err)
		}
		t.Epoch, t.epochV = cur+1, st2.Version
		return nil
	}
}

// watch ends the term when the session expires or the candidate node
// vanishes.
func (t *Term) watch(expired <-chan struct{}) {
	for {
		ok, _, ch, err := t.c.conn.ExistsW(t.node)
		if err == nil && !ok {
			t.c.log.Warn("leadership lost", "epoch", t.Epoch, "reason", "candidate node gone")
			t.lose()
			return
		}
		if err != nil {
			// Disconnected: the session (and the node) may well survive a
			// reconnect; only its expiry ends the term.
			select {
			case <-time.After(100 * time.Millisecond):
				continue
			case <-expired:
				t.c.log.Warn("leadership lost", "epoch", t.Epoch, "reason", "session expired")
				t.lose()
				return
			case <-t.c.closed:
				t.lose()
				return
			}
		}
		select {
		case <-ch:
		case <-expired:
			t.c.log.Warn("leadership lost", "epoch", t.Epoch, "reason", "session expired")
			t.lose()
			return
		case <-t.lost:
			return
		case <-t.c.closed:
			t.lose()
			return
		}
	}
}

// Publish announces the leader (info.Epoch is set to the term's epoch) to
// clients, workers and daemons waiting in WaitLeader. It is fenced: a
// deposed leader cannot publish.
func (t *Term) Publish(info Info) error {
	info.Epoch = t.Epoch
	data, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("ha: publish leader: %w", err)
	}
	p := t.c.path("leader")
	// A previous leader's node lingers until its session expires; the
	// election already says it is gone, so replace it.
	ops := []any{&zk.CreateRequest{Path: p, Data: data, Acl: zk.WorldACL(zk.PermAll), Flags: zk.FlagEphemeral}}
	if ok, _, err := t.c.conn.Exists(p); err != nil {
		return fmt.Errorf("ha: publish leader: %w", err)
	} else if ok {
		ops = append([]any{&zk.DeleteRequest{Path: p, Version: -1}}, ops...)
	}
	if _, err := t.c.conn.Multi(t.fence(ops...)...); err != nil {
		return fmt.Errorf("ha: publish leader: %w", fenceErr(err))
	}
	return nil
}

// Resign gives up leadership: a standby takes over at once.
func (t *Term) Resign() error {
	defer t.lose()
	// The leader node may not have been published yet.
	_ = t.c.conn.Delete(t.c.path("leader"), -1)
	if err := t.c.conn.Delete(t.node, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
		return fmt.Errorf("ha: resign: %w", err)
	}
	return nil
}

func (t *Term) fence(ops ...any) []any {
	return append([]any{&zk.CheckVersionRequest{Path: t.c.path("epoch"), Version: t.epochV}}, ops...)
}

func fenceErr(err error) error {
	if errors.Is(err, zk.ErrBadVersion) {
		return ErrFenced
	}
	return err
}

// Put writes a job's pointer record, fenced by the term's epoch.
func (t *Term) Put(job string, data []byte) error {
	if err := checkName(job); err != nil {
		return err
	}
	p := t.c.path("jobs", job)
	_, st, err := t.c.conn.Exists(p)
	if err != nil {
		return fmt.Errorf("ha: put %s: %w", job, err)
	}
	var op any = &zk.SetDataRequest{Path: p, Data: data, Version: -1}
	if st == nil || st.Czxid == 0 {
		op = &zk.CreateRequest{Path: p, Data: data, Acl: zk.WorldACL(zk.PermAll)}
	}
	if _, err := t.c.conn.Multi(t.fence(op)...); err != nil {
		return fmt.Errorf("ha: put %s: %w", job, fenceErr(err))
	}
	return nil
}

// Delete removes a job's pointer record, fenced by the term's epoch.
func (t *Term) Delete(job string) error {
	if err := checkName(job); err != nil {
		return err
	}
	if _, err := t.c.conn.Multi(t.fence(&zk.DeleteRequest{Path: t.c.path("jobs", job), Version: -1})...); err != nil {
		if errors.Is(err, zk.ErrNoNode) {
			return nil
		}
		return fmt.Errorf("ha: delete %s: %w", job, fenceErr(err))
	}
	return nil
}

// Jobs returns every job pointer record by job id.
func (c *Client) Jobs() (map[string][]byte, error) {
	names, _, err := c.conn.Children(c.path("jobs"))
	if err != nil {
		return nil, fmt.Errorf("ha: list jobs: %w", err)
	}
	out := make(map[string][]byte, len(names))
	for _, n := range names {
		data, _, err := c.conn.Get(c.path("jobs", n))
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("ha: read job %s: %w", n, err)
		}
		out[n] = data
	}
	return out, nil
}

// Leader returns the current leader, or ErrNoLeader.
func (c *Client) Leader() (Info, error) {
	data, _, err := c.conn.Get(c.path("leader"))
	if errors.Is(err, zk.ErrNoNode) {
		return Info{}, ErrNoLeader
	}
	if err != nil {
		return Info{}, fmt.Errorf("ha: read leader: %w", err)
	}
	return decodeInfo(data)
}

func decodeInfo(data []byte) (Info, error) {
	var info Info
	if err := json.Unmarshal(data, &info); err != nil {
		return Info{}, fmt.Errorf("ha: leader node holds %q: %w", data, err)
	}
	if info.Address == "" || info.Epoch == 0 {
		return Info{}, fmt.Errorf("ha: leader node holds %q: no address or epoch", data)
	}
	return info, nil
}

// WaitLeader blocks until a leader with an epoch above after is published
// (after 0: any leader), or ctx ends.
func (c *Client) WaitLeader(ctx context.Context, after uint64) (Info, error) {
	for {
		data, _, ch, err := c.conn.GetW(c.path("leader"))
		if errors.Is(err, zk.ErrNoNode) {
			var ok bool
			ok, _, ch, err = c.conn.ExistsW(c.path("leader"))
			if err == nil && ok {
				continue
			}
		} else if err == nil {
			if info, derr := decodeInfo(data); derr == nil && info.Epoch > after {
				return info, nil
			}
		}
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			// Disconnected: retry after a pause.
			ch = nil
		}
		var retry <-chan time.Time
		if ch == nil {
			retry = time.After(200 * time.Millisecond)
		}
		select {
		case <-ch:
		case <-retry:
		case <-ctx.Done():
			return Info{}, fmt.Errorf("ha: waiting for a leader: %w", ctx.Err())
		case <-c.closed:
			return Info{}, errors.New("ha: client closed")
		}
	}
}

func checkName(job string) error {
	if job == "" || strings.ContainsAny(job, "/\x00") || job == "." || job == ".." {
		return fmt.Errorf("ha: bad job id %q", job)
	}
	return nil
}

// zkLogger routes the ZooKeeper client's log lines to slog.
type zkLogger struct{ log *slog.Logger }

func (l zkLogger) Printf(format string, args ...any) {
	l.log.Debug("zookeeper: " + fmt.Sprintf(format, args...))
}
