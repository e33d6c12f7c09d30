package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow/internal/auth"
	"github.com/dagflow/dagflow/internal/ha"
	"github.com/dagflow/dagflow/internal/membership"
	"github.com/dagflow/dagflow/internal/netaddr"
	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/internal/secure"
	"github.com/dagflow/dagflow/shuffle"
	"github.com/dagflow/dagflow/shuffle/remote"
)

// Defaults of Config.
const (
	DefaultTTL             = time.Hour
	DefaultRegisterTimeout = 10 * time.Second
)

// JobLister tells the reaper what the master knows about jobs.
type JobLister interface {
	// JobStates returns the state of every job the master knows, by job
	// id ("running", "finished", "failed", "canceled", ...).
	JobStates(ctx context.Context) (map[string]string, error)
}

// Config configures a Daemon.
type Config struct {
	// Dir holds the daemon's data and staging directories. Required.
	// Producers must write their partitions under Dir/staging, on the same
	// file system.
	Dir string
	// Listen is the gRPC address of reads and the control API (default
	// 127.0.0.1:0).
	Listen string
	// Advertise is the HOST:PORT registered with the master and given to
	// consumers as the location of the partitions, when it differs from
	// what the daemon is bound to; port 0 keeps the bound port. Empty: the
	// bound address, or for a wildcard Listen (0.0.0.0, [::]) an interface
	// address (see netaddr.Advertised). Gossip advertises its host too.
	Advertise string
	// Name identifies the daemon to the master (default: host name +
	// listen port).
	Name string
	// Master is the master's gRPC address. Empty runs the daemon
	// standalone: no registration, no gossip, and the reaper deletes on the
	// TTL alone.
	Master string
	// GossipBind is the memberlist address (default: Listen's host).
	GossipBind string
	// FailureTimeout: how fast a silent member is declared dead (default
	// membership's 3s).
	FailureTimeout time.Duration
	// RegisterTimeout bounds waiting for the master at start (default 10s).
	RegisterTimeout time.Duration
	// TTL: the partitions of a job nobody touched (adopted, read, stat'ed)
	// for this long are deleted, unless the master lists the job in a
	// non-terminal state. Default DefaultTTL (1h).
	TTL time.Duration
	// ReapInterval is how often the reaper runs (default TTL/4, between 1s
	// and 5m); negative disables the background reaper (Reap still works).
	ReapInterval time.Duration
	// Jobs answers the reaper's questions; default: the master's ListJobs
	// when Master is set.
	Jobs JobLister
	// Now is the clock of the reaper (default time.Now); tests inject one.
	Now func() time.Time
	// CorruptAdoptions is a fault-injection hook for tests: the data files
	// of the first CorruptAdoptions adopted partitions get one byte of
	// their first block flipped right after adoption, so that consumers
	// read a checksum failure.
	CorruptAdoptions int
	// Logger receives the daemon's logs (default slog.Default()).
	Logger *slog.Logger
	// TLS, when set, serves with TLS (client certificates verified if
	// given) and dials the master with its node certificate; nil keeps
	// plaintext.
	TLS *secure.Node
	// Authenticator identifies users of ListJobs (dagctl shuffle jobs);
	// with TLS and nil, node certificates only.
	Authenticator *auth.Authenticator
	// GossipKeyring, when set, encrypts gossip (the master's key).
	GossipKeyring *memberlist.Keyring
	// HTTP, when set, serves /healthz and /readyz on this address (plain
	// HTTP; see health.go).
	HTTP string
	// Leaders, set with master high availability, tells the daemon which
	// master leads (Master may then be empty): it registers with each new
	// leader and refuses orders (release) from deposed ones.
	Leaders ha.LeaderSource
}

func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		return c, errors.New("shuffle daemon: needs a directory (--dir)")
	}
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return c, fmt.Errorf("shuffle daemon: directory %s: %w", c.Dir, err)
	}
	c.Dir = dir
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.RegisterTimeout <= 0 {
		c.RegisterTimeout = DefaultRegisterTimeout
	}
	if c.TTL <= 0 {
		c.TTL = DefaultTTL
	}
	if c.ReapInterval == 0 {
		c.ReapInterval = min(max(c.TTL/4, time.Second), 5*time.Minute)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// Daemon is a running shuffle daemon.
type Daemon struct {
	rpcpb.UnimplementedShuffleDaemonServer
	cfg        Config
	log        *slog.Logger
	local      *shuffle.Local
	stagingDir string
	// stagingReal is stagingDir with symbolic links resolved.
	stagingReal string
	lis         net.Listener
	addr        string // advertised gRPC address
	srv         *grpc.Server
	reads       *remote.Server
	member      *membership.Member
	memberName  string
	corrupt     atomic.Int64 // adoptions still to corrupt (test hook)
	lock        *os.File     // holds the lock on Dir
	http        *healthServer

	// guard refuses orders from deposed HA leaders.
	guard *ha.Guard
	// mmu guards the connection to the current master.
	mmu    sync.Mutex
	conn   *grpc.ClientConn
	master rpcpb.MasterClient

	stop     context.CancelFunc
	reaperWG sync.WaitGroup // the reaper and the leader follower

	mu       sync.Mutex
	jobs     map[string]*jobInfo
	released map[string]time.Time // tombstones, pruned after the TTL
}

// jobInfo is what the daemon holds of one job.
type jobInfo struct {
	parts   map[shuffle.PartitionID]int64 // adopted partitions and their bytes
	touched time.Time
}

// Start starts a daemon: it deletes what a previous incarnation left in
// Dir/data, serves on Listen, registers with the master and joins the
// gossip when Master is set, and starts the reaper.
func Start(ctx context.Context, cfg Config) (*Daemon, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, stagingDir: filepath.Join(cfg.Dir, shuffle.DaemonStagingDir),
		jobs: make(map[string]*jobInfo), released: make(map[string]time.Time)}
	d.corrupt.Store(int64(cfg.CorruptAdoptions))
	if err := os.MkdirAll(d.stagingDir, 0o755); err != nil {
		return nil, fmt.Errorf("shuffle daemon: create %s: %w", d.stagingDir, err)
	}
	if d.lock, err = lockDir(cfg.Dir); err != nil {
		return nil, err
	}
	fail := func(err error) (*Daemon, error) {
		d.Close()
		return nil, err
	}
	if d.stagingReal, err = filepath.EvalSymlinks(d.stagingDir); err != nil {
		return fail(fmt.Errorf("shuffle daemon: %w", err))
	}
	dataDir := filepath.Join(cfg.Dir, shuffle.DaemonDataDir)
	// Partitions of a previous incarnation are lost for the master (it
	// saw this daemon leave or re-register); serving them would only
	// leak disk.
	if err := os.RemoveAll(dataDir); err != nil {
		return fail(fmt.Errorf("shuffle daemon: clear %s: %w", dataDir, err))
	}
	if d.local, err = shuffle.NewLocal(shuffle.LocalConfig{Dir: dataDir, Logger: cfg.Logger,
		// Nothing is ever written here as pipelined: unknown ids fail fast.
		Pipelined: shuffle.MemoryConfig{PendingReaderTimeout: time.Millisecond}}); err != nil {
		return fail(err)
	}
	if d.lis, err = net.Listen("tcp", cfg.Listen); err != nil {
		return fail(fmt.Errorf("shuffle daemon: listen on %s: %w", cfg.Listen, err))
	}
	if d.addr, err = netaddr.ForListener(cfg.Listen, d.lis, cfg.Advertise); err != nil {
		return fail(fmt.Errorf("shuffle daemon: %w", err))
	}
	host, port, _ := net.SplitHostPort(d.lis.Addr().String())
	if d.cfg.Name == "" {
		hn, _ := os.Hostname()
		d.cfg.Name = fmt.Sprintf("%s-%s", hn, port)
	}
	if d.cfg.GossipBind == "" {
		d.cfg.GossipBind = host
	}
	d.log = cfg.Logger.With("shuffleDaemon", d.cfg.Name)
	var as *auth.Server
	if cfg.TLS.Enabled() {
		authn := cfg.Authenticator
		if authn == nil {
			authn = auth.NewAuthenticator(nil, nil)
		}
		if as, err = auth.NewServer(auth.ServerConfig{Authenticator: authn, Audit: auth.NewAudit(cfg.Logger)}); err != nil {
			return fail(fmt.Errorf("shuffle daemon: %w", err))
		}
	}
	d.guard = ha.NewGuard(func(old, epoch uint64) {
		d.log.Info("following a new leading master", "epoch", epoch, "previous", old)
	})
	d.srv = remote.NewGRPCServer(append(cfg.TLS.ServerOptions(tls.VerifyClientCertIfGiven, as),
		grpc.ChainUnaryInterceptor(d.guard.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(d.guard.StreamServerInterceptor()))...)
	d.reads = remote.NewServer(served{d}, remote.ServerOptions{Logger: d.log})
	d.reads.Register(d.srv)
	rpcpb.RegisterShuffleDaemonServer(d.srv, d)
	go d.srv.Serve(d.lis)
	if d.http, err = startHealth(cfg.HTTP); err != nil {
		return fail(err)
	}
	if cfg.Leaders != nil && cfg.Master == "" {
		if err := d.findLeader(ctx); err != nil {
			return fail(err)
		}
	}
	if d.cfg.Master != "" {
		if err := d.register(ctx); err != nil {
			return fail(err)
		}
	}
	d.http.setReady(true)
	rctx, cancel := context.WithCancel(context.Background())
	d.stop = cancel
	if cfg.Leaders != nil {
		d.reaperWG.Add(1)
		go d.followLeaders(rctx)
	}
	if d.cfg.ReapInterval > 0 {
		d.reaperWG.Add(1)
		go d.reapLoop(rctx)
	}
	d.log.Info("shuffle daemon started", "addr", d.Addr(), "listen", d.lis.Addr().String(), "dir", cfg.Dir, "ttl", d.cfg.TTL, "master", d.cfg.Master)
	return d, nil
}

// register joins the gossip and registers with the master.
func (d *Daemon) register(ctx context.Context) error {
	if err := d.dialMaster(d.cfg.Master); err != nil {
		return err
	}
	if d.cfg.Jobs == nil {
		d.cfg.Jobs = masterJobs{d.masterClient}
	}
	var err error
	d.memberName = fmt.Sprintf("%s%s:%d", shuffle.DaemonMemberPrefix, d.cfg.Name, time.Now().UnixNano())
	if d.member, err = membership.Start(membership.Config{Name: d.memberName, BindAddr: d.cfg.GossipBind,
		Advertise: netaddr.GossipHost(d.cfg.GossipBind, d.addr, d.cfg.Advertise != ""), FailureTimeout: d.cfg.FailureTimeout, Keyring: d.cfg.GossipKeyring}); err != nil {
		return fmt.Errorf("shuffle daemon: %w", err)
	}
	return d.announce(ctx, d.cfg.Master)
}

// announce registers the daemon with the master at addr (dialed already)
// and joins its gossip.
func (d *Daemon) announce(ctx context.Context, addr string) error {
	rctx, cancel := context.WithTimeout(ctx, d.cfg.RegisterTimeout)
	defer cancel()
	resp, err := d.masterClient().RegisterShuffleDaemon(rctx, &rpcpb.RegisterShuffleDaemonRequest{Name: d.cfg.Name, Address: d.Addr(),
		GossipAddress: d.member.Address(), MemberName: d.memberName}, grpc.WaitForReady(true))
	if err != nil {
		return fmt.Errorf("shuffle daemon: cannot register with master at %s: %w", addr, err)
	}
	if err := d.member.Join(resp.GossipAddress); err != nil {
		return fmt.Errorf("shuffle daemon: %w", err)
	}
	return nil
}

// Addr returns the advertised gRPC address consumers read partitions from
// (their location) and producers adopt through; never a wildcard such as
// [::]:7072.
func (d *Daemon) Addr() string { return d.addr }

// ListenAddr returns the address the gRPC listener is bound to (a
// wildcard when Listen was one).
func (d *Daemon) ListenAddr() string { return d.lis.Addr().String() }

// Name returns the daemon's name.
func (d *Daemon) Name() string { return d.cfg.Name }

// StagingDir returns the directory producers write their partitions in
// before they call Adopt.
func (d *Daemon) StagingDir() string { return d.stagingDir }

// Close stops serving, leaves the gossip and deletes every partition.
func (d *Daemon) Close() error {
	d.http.close()
	if d.stop != nil {
		d.stop()
	}
	d.reaperWG.Wait()
	if d.reads != nil {
		d.reads.Close()
	}
	if d.srv != nil {
		d.srv.Stop()
	}
	if d.member != nil {
		d.member.Close()
	}
	d.mmu.Lock()
	if d.conn != nil {
		d.conn.Close()
	}
	d.mmu.Unlock()
	var err error
	if d.local != nil {
		err = d.local.Close()
	}
	if d.lock != nil {
		d.lock.Close() // releases the directory lock
	}
	return err
}

// partitionID converts and checks a wire partition id.
func partitionID(p *rpcpb.ShufflePartition) (shuffle.PartitionID, error) {
	if p == nil || p.Job == "" || p.Result == "" || p.Producer < 0 || p.Attempt < 0 {
		return shuffle.PartitionID{}, status.Errorf(codes.InvalidArgument, "shuffle daemon: invalid partition id %v", p)
	}
	return shuffle.PartitionID{Job: p.Job, Result: p.Result, Producer: int(p.Producer), Attempt: int(p.Attempt)}, nil
}

// staged checks that path is an absolute path inside the staging
// directory.
func (d *Daemon) staged(id shuffle.PartitionID, path string) error {
	if !filepath.IsAbs(path) {
		return status.Errorf(codes.InvalidArgument, "shuffle daemon %s: partition %s: path %q is not absolute", d.cfg.Name, id, path)
	}
	// Compare real paths: a worker may name the directory through a
	// symbolic link.
	resolved := filepath.Clean(path)
	if dir, err := filepath.EvalSymlinks(filepath.Dir(resolved)); err == nil {
		resolved = filepath.Join(dir, filepath.Base(resolved))
	}
	rel, err := filepath.Rel(d.stagingReal, resolved)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return status.Errorf(codes.InvalidArgument, "shuffle daemon %s: partition %s: %s is outside the staging directory %s (does the worker's --shuffle-dir match the daemon's --dir?)",
			d.cfg.Name, id, path, d.stagingDir)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // an adoption retried after it succeeded: Adopt decides
		}
		return status.Errorf(codes.Internal, "shuffle daemon %s: partition %s: %v", d.cfg.Name, id, err)
	}
	if !fi.Mode().IsRegular() {
		return status.Errorf(codes.InvalidArgument, "shuffle daemon %s: partition %s: %s is not a regular file", d.cfg.Name, id, path)
	}
	return nil
}

// Adopt implements rpcpb.ShuffleDaemonServer.
func (d *Daemon) Adopt(_ context.Context, req *rpcpb.AdoptRequest) (*rpcpb.Empty, error) {
	id, err := partitionID(req.Partition)
	if err != nil {
		return nil, err
	}
	for _, p := range []string{req.DataPath, req.IndexPath} {
		if err := d.staged(id, p); err != nil {
			return nil, err
		}
	}
	if err := d.local.Adopt(id, req.DataPath, req.IndexPath); err != nil {
		d.log.Warn("adoption refused", "partition", id.String(), "data", req.DataPath, "err", err)
		return nil, statusOf(fmt.Errorf("shuffle daemon %s: adopt: %w", d.cfg.Name, err))
	}
	st, err := d.local.Stat(context.Background(), id)
	if err != nil {
		return nil, statusOf(fmt.Errorf("shuffle daemon %s: adopt: %w", d.cfg.Name, err))
	}
	d.mu.Lock()
	if _, gone := d.released[id.Job]; !gone { // else released meanwhile: Local deleted it
		j := d.jobs[id.Job]
		if j == nil {
			j = &jobInfo{parts: make(map[shuffle.PartitionID]int64)}
			d.jobs[id.Job] = j
		}
		j.parts[id] = st.Bytes
		j.touched = d.cfg.Now()
	}
	d.mu.Unlock()
	if d.corrupt.Add(-1) >= 0 {
		d.corruptData(id)
	}
	d.log.Debug("partition adopted", "partition", id.String(), "bytes", st.Bytes)
	return &rpcpb.Empty{}, nil
}

// corruptData flips a byte of the first block's payload (test hook).
func (d *Daemon) corruptData(id shuffle.PartitionID) {
	data, _ := d.local.PartitionFiles(id)
	const off = 8 + 13 // data file header, block header
	f, err := os.OpenFile(data, os.O_RDWR, 0)
	if err == nil {
		b := make([]byte, 1)
		if _, err = f.ReadAt(b, off); err == nil {
			b[0] ^= 0xff
			_, err = f.WriteAt(b, off)
		}
		f.Close()
	}
	d.log.Warn("test hook: corrupted an adopted data file", "partition", id.String(), "file", data, "offset", off, "err", err)
}

// Stat implements rpcpb.ShuffleDaemonServer.
func (d *Daemon) Stat(ctx context.Context, p *rpcpb.ShufflePartition) (*rpcpb.ShuffleStatResponse, error) {
	id, err := partitionID(p)
	if err != nil {
		return nil, err
	}
	st, err := d.local.Stat(ctx, id)
	if err != nil {
		return nil, statusOf(fmt.Errorf("shuffle daemon %s: %w", d.cfg.Name, err))
	}
	d.touch(id.Job)
	return &rpcpb.ShuffleStatResponse{Bytes: st.Bytes, RawBytes: st.RawBytes, Buffers: st.Buffers,
		Subpartitions: int32(st.Subpartitions), Files: int32(st.Files)}, nil
}

// ReleaseJob implements rpcpb.ShuffleDaemonServer.
func (d *Daemon) ReleaseJob(ctx context.Context, ref *rpcpb.JobRef) (*rpcpb.Empty, error) {
	if ref.JobId == "" {
		return nil, status.Error(codes.InvalidArgument, "shuffle daemon: release: empty job id")
	}
	if err := d.release(ctx, ref.JobId, "released"); err != nil {
		return nil, statusOf(err)
	}
	return &rpcpb.Empty{}, nil
}

func (d *Daemon) release(ctx context.Context, job, why string) error {
	d.mu.Lock()
	j := d.jobs[job]
	delete(d.jobs, job)
	d.released[job] = d.cfg.Now()
	d.mu.Unlock()
	if err := d.local.Release(ctx, job); err != nil {
		return fmt.Errorf("shuffle daemon %s: release job %s: %w", d.cfg.Name, job, err)
	}
	if j != nil {
		var bytes int64
		for _, b := range j.parts {
			bytes += b
		}
		d.log.Info("job's partitions deleted", "job", job, "reason", why, "partitions", len(j.parts), "bytes", bytes)
	}
	return nil
}

// ListJobs implements rpcpb.ShuffleDaemonServer.
func (d *Daemon) ListJobs(context.Context, *rpcpb.ListJobsRequest) (*rpcpb.ShuffleJobsResponse, error) {
	return &rpcpb.ShuffleJobsResponse{Jobs: d.Jobs()}, nil
}

// Jobs lists the jobs the daemon holds partitions of, by id.
func (d *Daemon) Jobs() []*rpcpb.ShuffleJob {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*rpcpb.ShuffleJob, 0, len(d.jobs))
	for id, j := range d.jobs {
		sj := &rpcpb.ShuffleJob{Job: id, Partitions: int32(len(j.parts)), TouchedUnixNanos: j.touched.UnixNano()}
		for _, b := range j.parts {
			sj.Bytes += b
		}
		out = append(out, sj)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Job < out[b].Job })
	return out
}

// touch records that a job's partitions were used.
func (d *Daemon) touch(job string) {
	d.mu.Lock()
	if j := d.jobs[job]; j != nil {
		j.touched = d.cfg.Now()
	}
	d.mu.Unlock()
}

// statusOf turns a shuffle error into a gRPC status the producer can act
// on: NOT_FOUND (files missing or job released), DATA_LOSS (bad files),
// ALREADY_EXISTS (a concurrent adoption: retry), UNAVAILABLE (closed).
func statusOf(err error) error {
	code := codes.Internal
	switch {
	case errors.Is(err, shuffle.ErrCorrupt):
		code = codes.DataLoss
	case errors.Is(err, shuffle.ErrNotExist):
		code = codes.NotFound
	case errors.Is(err, shuffle.ErrExist):
		code = codes.AlreadyExists
	case errors.Is(err, shuffle.ErrClosed):
		code = codes.Unavailable
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		code = codes.Canceled
	}
	return status.Error(code, err.Error())
}

// served is the shuffle.Service the read server sees: the daemon's Local,
// read-only, failing fast on unknown partitions and touching jobs as they
// are read.
type served struct{ d *Daemon }

var errReadOnly = errors.New("shuffle daemon: partitions are adopted, not written through the read service")

// CreateWriter implements shuffle.Service: the read service never writes.
func (s served) CreateWriter(context.Context, shuffle.PartitionID, shuffle.WriterOptions) (shuffle.Writer, error) {
	return nil, errReadOnly
}

// OpenReader implements shuffle.Service: unknown partitions fail at once
// with ErrNotExist (no waiting for a pipelined writer).
func (s served) OpenReader(ctx context.Context, id shuffle.PartitionID, from, to int) (shuffle.Reader, error) {
	if _, err := s.d.local.Stat(ctx, id); err != nil {
		return nil, fmt.Errorf("shuffle daemon %s: %w", s.d.cfg.Name, err)
	}
	s.d.touch(id.Job)
	return s.d.local.OpenReader(ctx, id, from, to)
}

// Stat implements shuffle.Service.
func (s served) Stat(ctx context.Context, id shuffle.PartitionID) (shuffle.Stat, error) {
	st, err := s.d.local.Stat(ctx, id)
	if err == nil {
		s.d.touch(id.Job)
	}
	return st, err
}

// Release implements shuffle.Service: jobs are released through the
// control API.
func (s served) Release(context.Context, string) error { return errReadOnly }

// Close implements shuffle.Service: the daemon closes its Local itself.
func (s served) Close() error { return nil }
