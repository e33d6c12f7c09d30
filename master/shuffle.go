package master

import (
	"context"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow/internal/auth"
	"github.com/dagflow/dagflow/internal/netaddr"
	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/shuffle"
)

// shuffleDaemon is an external shuffle daemon seen from the master.
type shuffleDaemon struct {
	name   string
	addr   string // gRPC address: the location of the partitions it holds
	member string // memberlist name of this incarnation
	conn   *grpc.ClientConn
	client rpcpb.ShuffleDaemonClient
}

// RegisterShuffleDaemon implements rpcpb.MasterServer. A daemon that
// registers again under its name as a new incarnation lost every
// partition the old one held.
func (s *Server) RegisterShuffleDaemon(ctx context.Context, req *rpcpb.RegisterShuffleDaemonRequest) (*rpcpb.RegisterWorkerResponse, error) {
	if err := auth.CheckNodeName(ctx, req.Name); err != nil {
		return nil, err
	}
	if req.Name == "" || req.Address == "" || !strings.HasPrefix(req.MemberName, shuffle.DaemonMemberPrefix) {
		return nil, status.Errorf(codes.InvalidArgument, "register shuffle daemon: need a name, an address and a member name starting with %q", shuffle.DaemonMemberPrefix)
	}
	if err := netaddr.Dialable(req.Address); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "register shuffle daemon %s: %v", req.Name, err)
	}
	if err := s.checkGossip(req.GossipAddress); err != nil {
		return nil, status.Errorf(codes.PermissionDenied, "register shuffle daemon %s: %v", req.Name, err)
	}
	conn, err := grpc.NewClient(req.Address, append(s.epochDialOptions(), s.cfg.TLS.DialOption())...)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "shuffle daemon address %q: %v", req.Address, err)
	}
	d := &shuffleDaemon{name: req.Name, addr: req.Address, member: req.MemberName, conn: conn, client: rpcpb.NewShuffleDaemonClient(conn)}
	s.mu.Lock()
	old := s.shuffles[req.Name]
	s.shuffles[req.Name] = d
	s.mu.Unlock()
	if old != nil {
		if old.member == req.MemberName { // a retried registration
			old.conn.Close()
		} else {
			s.log.Warn("shuffle daemon restarted: the partitions it held are lost", "shuffleDaemon", req.Name, "addr", old.addr)
			s.shuffleLost(old)
		}
	}
	s.log.Info("shuffle daemon registered", "shuffleDaemon", req.Name, "addr", req.Address)
	return &rpcpb.RegisterWorkerResponse{GossipAddress: s.member.Address()}, nil
}

// memberLost is called by membership when a member stops gossiping: a
// worker, or a shuffle daemon.
func (s *Server) memberLost(member, addr string) {
	if !strings.HasPrefix(member, shuffle.DaemonMemberPrefix) {
		s.mu.Lock()
		w := s.workers[member]
		stale := w != nil && w.gossip != "" && w.gossip != addr
		s.mu.Unlock()
		if stale {
			// The old incarnation of a worker that restarted and
			// registered again: the new one is alive.
			s.log.Debug("stale member left", "worker", member, "addr", addr)
			return
		}
		s.workerLost(member)
		return
	}
	s.mu.Lock()
	var d *shuffleDaemon
	for name, sd := range s.shuffles {
		if sd.member == member {
			d = sd
			delete(s.shuffles, name)
			break
		}
	}
	s.mu.Unlock()
	if d != nil {
		s.log.Warn("shuffle daemon lost", "shuffleDaemon", d.name, "addr", d.addr)
		s.shuffleLost(d)
	}
}

// shuffleLost tells every running job that the results the daemon held
// are gone.
func (s *Server) shuffleLost(d *shuffleDaemon) {
	s.mu.Lock()
	var jms []*JobMaster
	for _, j := range s.jobs {
		if j.jm != nil && j.final == nil {
			jms = append(jms, j.jm)
		}
	}
	s.mu.Unlock()
	s.metrics.shuffleDaemonsLost.Add(1)
	for _, jm := range jms {
		jm.ShuffleServiceLost(d.addr)
	}
	d.conn.Close()
}

// releaseShuffles deletes an ended job's partitions on every shuffle
// daemon.
func (s *Server) releaseShuffles(job string) {
	s.mu.Lock()
	ds := make([]*shuffleDaemon, 0, len(s.shuffles))
	for _, d := range s.shuffles {
		ds = append(ds, d)
	}
	s.mu.Unlock()
	for _, d := range ds {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		if _, err := d.client.ReleaseJob(ctx, &rpcpb.JobRef{JobId: job}); err != nil {
			s.log.Warn("release job on shuffle daemon (its reaper will delete the partitions)", "job", job, "shuffleDaemon", d.name, "err", err)
		}
		cancel()
	}
}
