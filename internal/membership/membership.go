// Package membership wraps hashicorp/memberlist for dagflow daemons: the
// master and every worker join one gossip cluster, and the master learns
// within a few seconds that a worker stopped gossiping, even when its TCP
// connections hang.
package membership

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/dagflow/dagflow/internal/gossipkey"
	"github.com/dagflow/dagflow/internal/netaddr"
)

// Config configures a member.
type Config struct {
	// Name must be unique in the cluster.
	Name string
	// BindAddr is the address to gossip on ("127.0.0.1" for loopback; a
	// wildcard such as "0.0.0.0", "::" or "" binds every interface).
	BindAddr string
	// Advertise is the host (an IP or a name resolving to one) other
	// members reach this one at. Empty: the bound address when BindAddr is
	// specific, else an interface address chosen by netaddr.WildcardHost
	// (never the unspecified address memberlist would gossip for "::").
	Advertise string
	// Port is the gossip port (0 picks a free one).
	Port int
	// FailureTimeout is roughly how long a silent member takes to be
	// declared dead (default 3s).
	FailureTimeout time.Duration
	// OnLeave is called (from memberlist's goroutine) with the name of a
	// member that left or was declared dead.
	OnLeave func(name, addr string)
	// OnJoin is called with the name of a member that joined.
	OnJoin func(name string)
	// Keyring, when set, encrypts gossip and refuses unencrypted or
	// foreign-key messages (see gossipkey); nil gossips in the clear.
	Keyring *memberlist.Keyring
}

// Member is this process's membership.
type Member struct {
	ml        *memberlist.Memberlist
	closeOnce sync.Once
	closeErr  error
}

type events struct{ cfg Config }

func (e events) NotifyJoin(n *memberlist.Node) {
	if e.cfg.OnJoin != nil && n.Name != e.cfg.Name {
		e.cfg.OnJoin(n.Name)
	}
}

func (e events) NotifyLeave(n *memberlist.Node) {
	if e.cfg.OnLeave != nil && n.Name != e.cfg.Name {
		e.cfg.OnLeave(n.Name, net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))))
	}
}

func (e events) NotifyUpdate(*memberlist.Node) {}

// Start creates a member; it is alone until Join.
func Start(cfg Config) (*Member, error) {
	if cfg.FailureTimeout <= 0 {
		cfg.FailureTimeout = 3 * time.Second
	}
	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.Name
	mc.BindAddr = cfg.BindAddr
	mc.BindPort = cfg.Port
	if cfg.Keyring != nil {
		gossipkey.Apply(mc, cfg.Keyring)
	}
	mc.AdvertisePort = 0
	adv, err := advertiseIP(cfg)
	if err != nil {
		return nil, err
	}
	if adv != nil {
		// memberlist replaces AdvertisePort by the bound port when
		// BindPort is 0.
		mc.AdvertiseAddr, mc.AdvertisePort = adv.String(), cfg.Port
	}
	// Probe often enough that a dead member is suspected and then declared
	// dead within about FailureTimeout.
	mc.ProbeInterval = cfg.FailureTimeout / 6
	mc.ProbeTimeout = cfg.FailureTimeout / 12
	mc.SuspicionMult = 2
	mc.GossipInterval = 100 * time.Millisecond
	mc.PushPullInterval = 5 * time.Second
	mc.Events = events{cfg}
	mc.Logger = log.New(io.Discard, "", 0)
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("membership: start %s on %s:%d: %w", cfg.Name, cfg.BindAddr, cfg.Port, err)
	}
	return &Member{ml: ml}, nil
}

// advertiseIP returns the IP to gossip, or nil to let memberlist use the
// specific address it is bound to.
func advertiseIP(cfg Config) (net.IP, error) {
	host := cfg.Advertise
	if host == "" {
		if !netaddr.IsWildcard(cfg.BindAddr) {
			return nil, nil
		}
		ifaces, _ := netaddr.InterfaceAddrs()
		return netaddr.WildcardHost(cfg.BindAddr, ifaces), nil
	}
	if ip := net.ParseIP(host); ip != nil {
		if ip.IsUnspecified() {
			return nil, fmt.Errorf("membership: advertise address %q is a wildcard", host)
		}
		return ip, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("membership: advertise host %q: %w", host, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("membership: advertise host %q resolves to no IP address", host)
	}
	for _, ip := range ips {
		if ip.To4() != nil {
			return ip, nil
		}
	}
	return ips[0], nil
}

// Address returns host:port that others join.
func (m *Member) Address() string {
	n := m.ml.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// Join contacts existing members.
func (m *Member) Join(addrs ...string) error {
	if _, err := m.ml.Join(addrs); err != nil {
		return fmt.Errorf("membership: join %v: %w", addrs, err)
	}
	return nil
}

// Alive returns the names of members currently alive.
func (m *Member) Alive() []string {
	var out []string
	for _, n := range m.ml.Members() {
		out = append(out, n.Name)
	}
	return out
}

// Close leaves the cluster and stops gossiping; later calls do nothing
// (memberlist panics on a second leave).
func (m *Member) Close() error {
	m.closeOnce.Do(func() {
		_ = m.ml.Leave(time.Second)
		m.closeErr = m.ml.Shutdown()
	})
	return m.closeErr
}
