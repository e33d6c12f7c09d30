package master

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/auth"
	"github.com/dagflow/dagflow/internal/buildinfo"
	"github.com/dagflow/dagflow/internal/limits"
	"github.com/dagflow/dagflow/internal/membership"
	"github.com/dagflow/dagflow/internal/netaddr"
	"github.com/dagflow/dagflow/internal/pathpolicy"
	"github.com/dagflow/dagflow/internal/provision"
	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/internal/secure"
	"github.com/dagflow/dagflow/scheduler"
)

// ServerConfig configures the master daemon.
type ServerConfig struct {
	// Listen is the gRPC address (default 127.0.0.1:7070).
	Listen string
	// Advertise is the HOST:PORT workers, executors and shuffle daemons
	// reach the master at, when it differs from what the master is bound
	// to (NAT, containers); port 0 keeps the bound port. Empty: the bound
	// address, or for a wildcard Listen (0.0.0.0, [::]) an interface
	// address (see netaddr.Advertised). Its host is also the gossip
	// address others see.
	Advertise string
	// HTTP is the REST/metrics address ("" disables it).
	HTTP string
	// Dir stores uploaded job binaries.
	Dir string
	// GossipBind is the memberlist bind address (default: Listen's host).
	GossipBind string
	// FailureTimeout: how fast a silent worker is declared lost (default 3s).
	FailureTimeout time.Duration
	// Restart is the default restart strategy of jobs.
	Restart *scheduler.RestartStrategy
	Logger  *slog.Logger
	// SavepointDir is the default directory of savepoints.
	SavepointDir string
	// StorageDir (a URI, e.g. hdfs://nn:8020/dagflow) keeps uploaded job
	// binaries and submitted plans beyond the master's local disk.
	StorageDir string
	// JobHistory is how many finished (also failed or canceled) jobs the
	// master keeps for status and metrics; older ones are forgotten.
	// 0 means the default, 1000; a negative value keeps none. Running jobs
	// are never forgotten.
	JobHistory int
	// JobHistoryAge forgets finished jobs that ended longer ago than this.
	// 0 means the default, 24h; a negative value forgets a job as soon as
	// it ended.
	JobHistoryAge time.Duration
	// Now is the master's clock for the job history (default time.Now);
	// tests advance it to age jobs out.
	Now func() time.Time
	// TLS, when set, serves gRPC and REST over TLS (client certificates
	// verified if given) and dials workers and shuffle daemons with its
	// node certificate; nil keeps plaintext.
	TLS *secure.Node
	// Authenticator identifies users (token file, certificate mapping);
	// with TLS, every call is authenticated and authorized against
	// auth.DefaultPolicy. Nil with TLS admits node certificates only.
	Authenticator *auth.Authenticator
	// GossipKeyring, when set, encrypts the cluster's gossip; members
	// without the key never join.
	GossipKeyring *memberlist.Keyring
	// MaxUploadBytes rejects job binaries larger than this (0: no limit).
	MaxUploadBytes int64
	// MaxJobsPerUser rejects a submission while its user runs this many
	// jobs (0: no limit). Users are the authenticated identities; without
	// authentication every job counts for the anonymous user "".
	MaxJobsPerUser int
	// AllowedDirs are the roots (absolute paths or URIs) that savepoint,
	// checkpoint and restore directories must lie under. Empty: with TLS,
	// SavepointDir and StorageDir (when set; no directory at all
	// otherwise); without TLS, no check.
	AllowedDirs []string
	// Provider, when set, is the active resource manager (Kubernetes,
	// YARN) that starts workers when jobs need slots and stops idle ones.
	// The master hands it a provision.Demand whenever jobs or workers
	// change, and accepts jobs before any worker registered.
	Provider provision.Provider
	// Epoch is the leader epoch of an HA master (0 without HA). Every
	// order to workers and shuffle daemons carries it, and they refuse
	// orders from older epochs.
	Epoch uint64
	// JobStore, set on an HA leader, keeps a fenced pointer to every
	// running job (the submission itself lives under StorageDir), so a new
	// leader can recover the jobs with RecoverJobs.
	JobStore JobStore
	// ReconcileWait bounds how long RecoverJobs waits for the workers to
	// report the tasks of the jobs it recovers (default
	// DefaultReconcileWait).
	ReconcileWait time.Duration
}

// Defaults of ServerConfig.JobHistory and JobHistoryAge.
const (
	DefaultJobHistory    = 1000
	DefaultJobHistoryAge = 24 * time.Hour
)

// Server is the master daemon: it accepts jobs from dagctl, runs a job
// master per job over the registered workers, and serves status.
type Server struct {
	rpcpb.UnimplementedMasterServer
	cfg     ServerConfig
	log     *slog.Logger
	grpc    *grpc.Server
	auth    *auth.Server // nil without TLS
	lis     net.Listener
	addr    string // advertised gRPC address
	httpSrv *http.Server
	httpLis net.Listener
	member  *membership.Member
	metrics *serverMetrics
	// closing is set by Close: jobs ended by a shutdown stay persisted for
	// the next leader.
	closing atomic.Bool
	// roots are the allowed directories (nil: no check).
	roots *pathpolicy.Roots
	// running counts running jobs per user (MaxJobsPerUser).
	running *limits.Jobs
	// ready is true from the end of NewServer until Close (GET /readyz).
	ready atomic.Bool

	mu      sync.Mutex
	workers map[string]*remoteWorker
	jobs    map[string]*clusterJob
	order   []string
	// shuffles are the registered external shuffle daemons, by name.
	shuffles map[string]*shuffleDaemon
	// reports are the workers' task reports after a master failover.
	reports taskReports
}

// clusterJob is one submitted job.
type clusterJob struct {
	id, name  string
	owner     string // the submitting user ("" without authentication)
	plan      *dag.Plan
	binary    *rpcpb.BinaryRef
	binPath   string
	args, env []string
	submitted time.Time
	jm        *JobMaster
	cancel    context.CancelFunc
	done      chan struct{}
	// ended is when the job ended (on the server's clock).
	ended  time.Time
	result *JobResult
	err    error
	final  *JobStatus
}

// NewServer starts the master daemon.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:7070"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Dir == "" {
		return nil, errors.New("master: needs a directory (--dir)")
	}
	if cfg.JobHistory == 0 {
		cfg.JobHistory = DefaultJobHistory
	}
	if cfg.JobHistoryAge == 0 {
		cfg.JobHistoryAge = DefaultJobHistoryAge
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "binaries"), 0o755); err != nil {
		return nil, fmt.Errorf("master: %w", err)
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("master: listen on %s: %w", cfg.Listen, err)
	}
	adv, err := netaddr.ForListener(cfg.Listen, lis, cfg.Advertise)
	if err != nil {
		lis.Close()
		return nil, fmt.Errorf("master: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "master"), lis: lis, addr: adv,
		workers: make(map[string]*remoteWorker), jobs: make(map[string]*clusterJob),
		shuffles: make(map[string]*shuffleDaemon),
		reports:  taskReports{byWorker: make(map[string]*rpcpb.WorkerTasks), changed: make(chan struct{}), recovered: cfg.JobStore == nil}}
	s.metrics = newServerMetrics(s)
	s.running = limits.NewJobs(cfg.MaxJobsPerUser)
	if s.roots, err = allowedRoots(cfg); err != nil {
		lis.Close()
		return nil, fmt.Errorf("master: --allowed-dirs: %w", err)
	}
	host, _, _ := net.SplitHostPort(lis.Addr().String())
	if cfg.GossipBind == "" {
		cfg.GossipBind = host
	}
	s.member, err = membership.Start(membership.Config{Name: "master", BindAddr: cfg.GossipBind,
		Advertise:      netaddr.GossipHost(cfg.GossipBind, adv, cfg.Advertise != ""),
		FailureTimeout: cfg.FailureTimeout, OnLeave: s.memberLost, Keyring: cfg.GossipKeyring})
	if err != nil {
		lis.Close()
		return nil, err
	}
	if cfg.TLS.Enabled() {
		authn := cfg.Authenticator
		if authn == nil {
			authn = auth.NewAuthenticator(nil, nil)
		}
		if s.auth, err = auth.NewServer(auth.ServerConfig{Authenticator: authn, Audit: auth.NewAudit(cfg.Logger),
			JobOwner: s.jobOwner}); err != nil {
			s.member.Close()
			lis.Close()
			return nil, fmt.Errorf("master: %w", err)
		}
	}
	s.grpc = grpc.NewServer(append(cfg.TLS.ServerOptions(tls.VerifyClientCertIfGiven, s.auth), grpc.MaxRecvMsgSize(64<<20))...)
	rpcpb.RegisterMasterServer(s.grpc, s)
	rpcpb.RegisterReconcileServer(s.grpc, reconcileService{s: s})
	go s.grpc.Serve(lis)
	if cfg.HTTP != "" {
		if s.httpLis, err = net.Listen("tcp", cfg.HTTP); err != nil {
			s.Close()
			return nil, fmt.Errorf("master: listen on %s: %w", cfg.HTTP, err)
		}
		handler := s.httpHandler()
		hl := s.httpLis
		if cfg.TLS.Enabled() {
			handler = s.auth.Middleware(handler)
			hl = tls.NewListener(hl, cfg.TLS.Reloader().ServerConfig(tls.VerifyClientCertIfGiven))
		}
		s.httpSrv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
		go s.httpSrv.Serve(hl)
	}
	if cfg.Provider != nil {
		go s.refreshProvider()
	}
	s.ready.Store(true)
	s.log.Info("master started", "addr", s.addr, "listen", lis.Addr().String(), "gossip", s.member.Address())
	return s, nil
}

// allowedRoots returns the roots directories must lie under (nil: no
// check; see ServerConfig.AllowedDirs).
func allowedRoots(cfg ServerConfig) (*pathpolicy.Roots, error) {
	roots := cfg.AllowedDirs
	if len(roots) == 0 {
		if !cfg.TLS.Enabled() {
			return nil, nil
		}
		for _, d := range []string{cfg.SavepointDir, cfg.StorageDir} {
			if d != "" {
				roots = append(roots, d)
			}
		}
		if len(roots) == 0 {
			return &pathpolicy.Roots{}, nil // nothing allowed
		}
	}
	return pathpolicy.New(roots)
}

// checkDir checks a savepoint, checkpoint or restore directory against
// the allowed roots and returns its cleaned form; what names it in the
// error.
func (s *Server) checkDir(what, dir string) (string, error) {
	if s.roots == nil || dir == "" {
		return dir, nil
	}
	clean, err := s.roots.Check(dir)
	if err != nil {
		if s.roots.String() == "" {
			err = fmt.Errorf("directory %q: no directories are allowed (the master has no --allowed-dirs, --savepoint-dir or --storage-dir)", dir)
		}
		return "", status.Errorf(codes.InvalidArgument, "%s: %v", what, err)
	}
	return clean, nil
}

// checkGossip joins a registering member's gossip address when gossip is
// encrypted, so that a member without the key is refused at
// registration rather than registered and never heard from.
func (s *Server) checkGossip(addr string) error {
	if s.cfg.GossipKeyring == nil {
		return nil
	}
	if addr == "" {
		return errors.New("no gossip address, and the master's gossip is encrypted")
	}
	if err := s.member.Join(addr); err != nil {
		return fmt.Errorf("cannot gossip with %s (does it have the master's --gossip-key?): %w", addr, err)
	}
	return nil
}

// jobOwner implements auth.JobOwner.
func (s *Server) jobOwner(_ context.Context, job string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[job]
	if !ok {
		return "", false
	}
	return j.owner, true
}

// Addr returns the advertised gRPC address: the one workers, executors
// and clients dial, never a wildcard such as [::]:7070.
func (s *Server) Addr() string { return s.addr }

// ListenAddr returns the address the gRPC listener is bound to (a
// wildcard when Listen was one).
func (s *Server) ListenAddr() string { return s.lis.Addr().String() }

// HTTPAddr returns the REST address ("" if disabled), advertised like
// Addr: the host of Advertise when set, else an interface address for a
// wildcard bind.
func (s *Server) HTTPAddr() string {
	if s.httpLis == nil {
		return ""
	}
	adv := ""
	if s.cfg.Advertise != "" {
		host, _, _ := net.SplitHostPort(s.addr)
		adv = net.JoinHostPort(host, "0")
	}
	addr, err := netaddr.ForListener(s.cfg.HTTP, s.httpLis, adv)
	if err != nil {
		return s.httpLis.Addr().String()
	}
	return addr
}

// Close cancels running jobs and stops the daemon.
func (s *Server) Close() error {
	s.closing.Store(true)
	s.ready.Store(false)
	s.mu.Lock()
	jobs := make([]*clusterJob, 0, len(s.jobs))
	for _, j := range s.jobs {
		jobs = append(jobs, j)
	}
	s.mu.Unlock()
	for _, j := range jobs {
		if j.cancel != nil {
			j.cancel()
		}
	}
	for _, j := range jobs {
		if j.done != nil {
			select {
			case <-j.done:
			case <-time.After(10 * time.Second):
			}
		}
	}
	if s.httpSrv != nil {
		s.httpSrv.Close()
	}
	s.member.Close()
	s.grpc.Stop()
	s.mu.Lock()
	for _, w := range s.workers {
		w.conn.Close()
	}
	for _, d := range s.shuffles {
		d.conn.Close()
	}
	s.mu.Unlock()
	return nil
}

// Version implements rpcpb.MasterServer: the master's build.
func (s *Server) Version(context.Context, *rpcpb.VersionRequest) (*rpcpb.VersionResponse, error) {
	bi := buildinfo.Read()
	return &rpcpb.VersionResponse{Version: bi.Version, Revision: bi.Revision, Modified: bi.Modified, GoVersion: bi.GoVersion}, nil
}
