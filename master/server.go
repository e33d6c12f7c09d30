package master

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
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

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/auth"
	"github.com/dagflow/dagflow/internal/buildinfo"
	"github.com/dagflow/dagflow/internal/limits"
	"github.com/dagflow/dagflow/internal/membership"
	"github.com/dagflow/dagflow/internal/netaddr"
	"github.com/dagflow/dagflow/internal/pathpolicy"
	"github.com/dagflow/dagflow/internal/protocol"
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

// RegisterWorker implements rpcpb.MasterServer.
func (s *Server) RegisterWorker(ctx context.Context, req *rpcpb.RegisterWorkerRequest) (*rpcpb.RegisterWorkerResponse, error) {
	if err := auth.CheckNodeName(ctx, req.Name); err != nil {
		return nil, err
	}
	if req.Name == "" || req.Address == "" || req.Slots < 1 {
		return nil, status.Errorf(codes.InvalidArgument, "register worker: need a name, an address and at least one slot")
	}
	if err := netaddr.Dialable(req.Address); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "register worker %s: %v", req.Name, err)
	}
	if err := s.checkGossip(req.GossipAddress); err != nil {
		return nil, status.Errorf(codes.PermissionDenied, "register worker %s: %v", req.Name, err)
	}
	conn, err := grpc.NewClient(req.Address, append(s.epochDialOptions(), s.cfg.TLS.DialOption(),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))...)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "worker address %q: %v", req.Address, err)
	}
	w := &remoteWorker{s: s, name: req.Name, addr: req.Address, gossip: req.GossipAddress, slots: int(req.Slots), conn: conn,
		client: rpcpb.NewWorkerClient(conn), metrics: make(map[string][]protocol.VertexMetrics),
		usage: make(map[string]WorkerUsage)}
	s.mu.Lock()
	_, known := s.workers[req.Name]
	s.mu.Unlock()
	if known {
		s.workerLost(req.Name) // a restarted worker lost everything it had
	}
	s.mu.Lock()
	s.workers[req.Name] = w
	s.mu.Unlock()
	// Running jobs may use the new worker (their pool was fixed at
	// submission, plus workers that joined since).
	s.mu.Lock()
	var jms []*JobMaster
	for _, j := range s.jobs {
		if j.jm != nil && j.final == nil {
			jms = append(jms, j.jm)
		}
	}
	s.mu.Unlock()
	for _, jm := range jms {
		jm.WorkerJoined(w)
	}
	s.log.Info("worker registered", "worker", req.Name, "addr", req.Address, "slots", req.Slots)
	s.updateProvider()
	return &rpcpb.RegisterWorkerResponse{GossipAddress: s.member.Address()}, nil
}

// workerLost is called by membership when a worker stops gossiping.
func (s *Server) workerLost(name string) {
	s.mu.Lock()
	w, ok := s.workers[name]
	if ok {
		delete(s.workers, name)
	}
	var jms []*JobMaster
	for _, j := range s.jobs {
		if j.jm != nil && j.final == nil {
			jms = append(jms, j.jm)
		}
	}
	s.mu.Unlock()
	if !ok {
		return
	}
	s.log.Warn("worker lost", "worker", name)
	s.metrics.workersLost.Add(1)
	for _, jm := range jms {
		jm.WorkerLost(name)
	}
	w.conn.Close()
	s.updateProvider()
}

func (s *Server) binaryPath(sha string) (string, error) {
	if err := pathpolicy.SHA256Hex(sha); err != nil {
		return "", status.Errorf(codes.InvalidArgument, "bad binary hash %q: %v", sha, err)
	}
	return filepath.Join(s.cfg.Dir, "binaries", sha), nil
}

// HasBinary implements rpcpb.MasterServer.
func (s *Server) HasBinary(_ context.Context, ref *rpcpb.BinaryRef) (*rpcpb.HasBinaryResponse, error) {
	p, err := s.binaryPath(ref.Sha256)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(p)
	if err != nil {
		if ok, ferr := s.fetchBinary(context.Background(), p, ref.Sha256); ferr != nil {
			s.log.Warn("fetch binary from storage dir", "sha256", ref.Sha256, "err", ferr)
		} else if ok {
			st, err = os.Stat(p)
		}
	}
	return &rpcpb.HasBinaryResponse{Present: err == nil && st.Size() == ref.Size}, nil
}

// UploadBinary implements rpcpb.MasterServer.
func (s *Server) UploadBinary(stream rpcpb.Master_UploadBinaryServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	ref := first.Ref
	if ref == nil {
		return status.Error(codes.InvalidArgument, "upload: first chunk lacks the binary reference")
	}
	path, err := s.binaryPath(ref.Sha256)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".upload-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n := int64(0)
	limit := limits.NewUpload(s.cfg.MaxUploadBytes)
	if s.cfg.MaxUploadBytes > 0 && ref.Size > s.cfg.MaxUploadBytes {
		tmp.Close()
		return status.Errorf(codes.ResourceExhausted, "upload: binary of %d bytes is larger than the master's limit of %d bytes (--max-upload-bytes)", ref.Size, s.cfg.MaxUploadBytes)
	}
	write := func(b []byte) error {
		if err := limit.Add(len(b)); err != nil {
			return status.Errorf(codes.ResourceExhausted, "upload: %v", err)
		}
		h.Write(b)
		n += int64(len(b))
		_, err := tmp.Write(b)
		return err
	}
	if err := write(first.Data); err != nil {
		tmp.Close()
		return err
	}
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tmp.Close()
			return err
		}
		if err := write(c.Data); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != ref.Sha256 || n != ref.Size {
		return status.Errorf(codes.DataLoss, "upload: checksum mismatch: got %s (%d bytes), want %s (%d bytes)", got, n, ref.Sha256, ref.Size)
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if err := s.storeBinary(stream.Context(), path, ref.Sha256); err != nil {
		return status.Errorf(codes.Unavailable, "upload: %v", err)
	}
	return stream.SendAndClose(ref)
}

// GetBinary implements rpcpb.MasterServer.
func (s *Server) GetBinary(ref *rpcpb.BinaryRef, stream rpcpb.Master_GetBinaryServer) error {
	path, err := s.binaryPath(ref.Sha256)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return status.Errorf(codes.NotFound, "binary %s: %v", ref.Sha256, err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if err := stream.Send(&rpcpb.BinaryChunk{Data: buf[:n]}); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// SubmitJob implements rpcpb.MasterServer.
func (s *Server) SubmitJob(ctx context.Context, req *rpcpb.SubmitJobRequest) (*rpcpb.SubmitJobResponse, error) {
	owner := ""
	if id, ok := auth.IdentityFromContext(ctx); ok {
		owner = id.Name
	}
	id := fmt.Sprintf("%s-%s", safeJobName(req.Name), time.Now().UTC().Format("20060102-150405.000000"))
	return s.submit(ctx, req, owner, id, false, nil)
}

// submit starts job id from a submission; recovered is true when a new
// leader restarts a job its predecessor accepted (the job is already
// persisted, and workers may not have found the new leader yet), and adopt
// is then set when it continues with the attempts the workers reported (an
// error wraps scheduler.ErrNotReconciled when it cannot).
func (s *Server) submit(ctx context.Context, req *rpcpb.SubmitJobRequest, owner, id string, recovered bool, adopt *Adoption) (*rpcpb.SubmitJobResponse, error) {
	var plan dag.Plan
	if err := json.Unmarshal(req.PlanJson, &plan); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "submit: decode plan: %v", err)
	}
	if err := checkPlan(&plan); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "submit: %v", err)
	}
	splits, err := protocol.SourceSplitsFromProto(req.Splits)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "submit: decode splits: %v", err)
	}
	if _, err := s.checkDir("submit: checkpoint directory", plan.Config.Checkpoint.Dir); err != nil {
		return nil, err
	}
	if _, err := s.checkDir("submit: restore from", req.RestoreFrom); err != nil {
		return nil, err
	}
	binPath, err := s.binaryPath(req.GetBinary().GetSha256())
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(binPath); err != nil {
		if ok, _ := s.fetchBinary(ctx, binPath, req.GetBinary().GetSha256()); !ok {
			return nil, status.Errorf(codes.FailedPrecondition, "submit: binary %s was not uploaded", req.GetBinary().GetSha256())
		}
	}
	s.mu.Lock()
	var gws []WorkerGateway
	for _, name := range sortedNames(s.workers) {
		gws = append(gws, s.workers[name])
	}
	s.mu.Unlock()
	if len(gws) == 0 && s.cfg.Provider == nil && !recovered {
		return nil, status.Error(codes.FailedPrecondition, "submit: no workers are registered with the master")
	}
	if err := s.running.Acquire(owner); err != nil {
		return nil, status.Errorf(codes.ResourceExhausted, "submit: %v", err)
	}
	acquired := true
	defer func() {
		if acquired {
			s.running.Release(owner)
		}
	}()
	j := &clusterJob{id: id, name: req.Name, owner: owner, plan: &plan, binary: req.Binary, binPath: binPath, args: req.Args,
		env: req.Env, submitted: time.Now(), done: make(chan struct{})}
	code := &binaryCode{path: binPath, args: req.Args, env: req.Env, splits: splits, plan: &plan}
	// Default restarts outlast the failure detector: a task deployed to a
	// worker that just died fails fast, and the next attempts must wait
	// until the worker is declared lost.
	restart := scheduler.ExponentialBackoff(500*time.Millisecond, 10*time.Second, 2, 10)
	if s.cfg.Restart != nil {
		restart = *s.cfg.Restart
	}
	if req.MaxRestarts >= 0 {
		restart = scheduler.ExponentialBackoff(500*time.Millisecond, 10*time.Second, 2, int(req.MaxRestarts))
	}
	// The job master's logger adds the job; the daemon's component
	// attribute stays off job lines (the job's checkpoint storage sets its
	// own component).
	cfg := JobConfig{ID: id, Logger: s.cfg.Logger, Restart: &restart, SlotWaitTimeout: time.Minute, AllowNonRestored: req.AllowNonRestoredState,
		Observer: s.metrics.jobs.Observer(id), Adopt: adopt}
	if req.RestoreFrom != "" {
		md, err := LoadSnapshot(ctx, req.RestoreFrom)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "submit: %v", err)
		}
		cfg.Restore = md
	}
	jm, err := NewJobMaster(ctx, &plan, code, gws, cfg)
	if errors.Is(err, scheduler.ErrNotReconciled) {
		return nil, fmt.Errorf("submit: %w", err)
	}
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "submit: %v", err)
	}
	j.jm = jm
	if !recovered { // a recovered job's plan and submission are stored already
		if err := s.storePlan(ctx, id, req.PlanJson); err != nil {
			return nil, status.Errorf(codes.Unavailable, "submit: record plan in %s: %v", s.cfg.StorageDir, err)
		}
		if err := s.persistJob(ctx, id, owner, req); err != nil {
			return nil, status.Errorf(codes.Unavailable, "submit: %v", err)
		}
	}
	jctx, cancel := context.WithCancel(context.Background())
	j.cancel = cancel
	s.mu.Lock()
	s.jobs[id] = j
	s.order = append(s.order, id)
	s.mu.Unlock()
	s.metrics.jobsSubmitted.Add(1)
	acquired = false // released when the job ends
	go s.runJob(jctx, j)
	s.updateProvider()
	s.log.Info("job submitted", "job", id, "tasks", len(plan.Tasks))
	return &rpcpb.SubmitJobResponse{JobId: id}, nil
}

func (s *Server) runJob(ctx context.Context, j *clusterJob) {
	res, err := j.jm.Run(ctx)
	st := j.jm.Status()
	if err != nil {
		st.Reason = err.Error()
		if errors.Is(err, context.Canceled) {
			st.State = "canceled"
		} else {
			st.State = "failed"
		}
	}
	s.mu.Lock()
	j.result, j.err, j.final, j.ended = res, err, &st, s.cfg.Now()
	workers := make([]*remoteWorker, 0, len(s.workers))
	for _, w := range s.workers {
		workers = append(workers, w)
	}
	s.mu.Unlock()
	s.running.Release(j.owner)
	s.unpersistJob(j.id)
	close(j.done)
	s.releaseShuffles(j.id)
	for _, w := range workers {
		rctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		if _, err := w.client.ReleaseJob(rctx, &rpcpb.JobRef{JobId: j.id}); err != nil {
			s.log.Warn("release job on worker", "job", j.id, "worker", w.name, "err", err)
		}
		cancel()
	}
	s.log.Info("job ended", "job", j.id, "state", st.State, "err", err)
	s.forgetJobs()
	s.updateProvider()
}

func (s *Server) job(id string) (*clusterJob, error) {
	if err := pathpolicy.JobID(id); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "job %q: %v", id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no job %q", id)
	}
	return j, nil
}

// status returns a job's status (final once it ended).
func (s *Server) status(j *clusterJob) JobStatus {
	s.mu.Lock()
	final := j.final
	s.mu.Unlock()
	if final != nil {
		st := *final
		st.Submitted = j.submitted
		return st
	}
	st := j.jm.Status()
	st.Submitted = j.submitted
	return st
}

// Version implements rpcpb.MasterServer: the master's build.
func (s *Server) Version(context.Context, *rpcpb.VersionRequest) (*rpcpb.VersionResponse, error) {
	bi := buildinfo.Read()
	return &rpcpb.VersionResponse{Version: bi.Version, Revision: bi.Revision, Modified: bi.Modified, GoVersion: bi.GoVersion}, nil
}

// ListJobs implements rpcpb.MasterServer.
func (s *Server) ListJobs(context.Context, *rpcpb.ListJobsRequest) (*rpcpb.JSONDoc, error) {
	b, err := json.Marshal(s.listJobs())
	return &rpcpb.JSONDoc{Json: b}, err
}

func (s *Server) listJobs() []JobStatus {
	s.forgetJobs()
	s.mu.Lock()
	ids := append([]string(nil), s.order...)
	s.mu.Unlock()
	out := make([]JobStatus, 0, len(ids))
	for _, id := range ids {
		if j, err := s.job(id); err == nil {
			st := s.status(j)
			st.Vertices, st.Tasks = nil, nil
			out = append(out, st)
		}
	}
	return out
}

// JobStatus implements rpcpb.MasterServer.
func (s *Server) JobStatus(_ context.Context, ref *rpcpb.JobRef) (*rpcpb.JSONDoc, error) {
	s.forgetJobs()
	j, err := s.job(ref.JobId)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(s.status(j))
	return &rpcpb.JSONDoc{Json: b}, err
}

// CancelJob implements rpcpb.MasterServer.
func (s *Server) CancelJob(ctx context.Context, ref *rpcpb.JobRef) (*rpcpb.CancelJobResponse, error) {
	j, err := s.job(ref.JobId)
	if err != nil {
		return nil, err
	}
	j.cancel()
	select {
	case <-j.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(30 * time.Second):
	}
	return &rpcpb.CancelJobResponse{State: s.status(j).State}, nil
}

// JobLogs implements rpcpb.MasterServer.
func (s *Server) JobLogs(ctx context.Context, req *rpcpb.JobLogsRequest) (*rpcpb.JobLogsResponse, error) {
	if _, err := s.job(req.JobId); err != nil {
		return nil, err
	}
	s.mu.Lock()
	workers := make([]*remoteWorker, 0, len(s.workers))
	for _, n := range sortedNames(s.workers) {
		workers = append(workers, s.workers[n])
	}
	s.mu.Unlock()
	var out bytes.Buffer
	for _, w := range workers {
		resp, err := w.client.Logs(ctx, req)
		if err != nil {
			fmt.Fprintf(&out, "== worker %s: logs unavailable: %v\n", w.name, err)
			continue
		}
		if len(resp.Logs) > 0 {
			fmt.Fprintf(&out, "== worker %s\n", w.name)
			out.Write(resp.Logs)
		}
	}
	return &rpcpb.JobLogsResponse{Logs: out.Bytes()}, nil
}

// NextSplit implements rpcpb.MasterServer.
func (s *Server) NextSplit(ctx context.Context, req *rpcpb.NextSplitRequest) (*rpcpb.NextSplitResponse, error) {
	j, err := s.job(req.JobId)
	if err != nil {
		return nil, err
	}
	sr := protocol.SplitRequest{Vertex: int(req.Vertex), Subtask: int(req.Subtask), Attempt: int(req.Attempt), Checkpoint: req.Checkpoint,
		Finished: protocol.FinishedFromProto(req.Finished)}
	resp, err := j.jm.Splits().NextSplit(ctx, sr)
	if dag.IsFatal(err) {
		// The job fails: the asking task must not be retried.
		return &rpcpb.NextSplitResponse{Error: err.Error(), Fatal: true}, nil
	}
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "%v", err)
	}
	sp := resp.Split
	return &rpcpb.NextSplitResponse{Ok: resp.OK, Wait: resp.Wait, Id: sp.ID, Data: sp.Data, Weight: sp.Weight}, nil
}

// ReportCheckpoint implements rpcpb.MasterServer.
func (s *Server) ReportCheckpoint(_ context.Context, req *rpcpb.JSONDoc) (*rpcpb.Empty, error) {
	var rep protocol.CheckpointReport
	if err := json.Unmarshal(req.Json, &rep); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "decode checkpoint report: %v", err)
	}
	j, err := s.job(rep.Job)
	if err != nil {
		return nil, err
	}
	j.jm.ReportCheckpoint(rep)
	return &rpcpb.Empty{}, nil
}

// SavepointRequest asks for a savepoint of a running job.
type SavepointRequest struct {
	Job string `json:"job"`
	// Dir is where the savepoint goes (default: the master's
	// --savepoint-dir).
	Dir string `json:"dir"`
	// Stop ends the job after the savepoint; Drain first ends its input
	// so that every event-time window fires.
	Stop  bool `json:"stop,omitempty"`
	Drain bool `json:"drain,omitempty"`
}

// SavepointResponse is where a savepoint was written.
type SavepointResponse struct {
	Location string `json:"location"`
}

// TriggerSavepoint implements rpcpb.MasterServer.
func (s *Server) TriggerSavepoint(ctx context.Context, req *rpcpb.JSONDoc) (*rpcpb.JSONDoc, error) {
	var sr SavepointRequest
	if err := json.Unmarshal(req.Json, &sr); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "decode savepoint request: %v", err)
	}
	j, err := s.job(sr.Job)
	if err != nil {
		return nil, err
	}
	if sr.Dir == "" {
		sr.Dir = s.cfg.SavepointDir
	}
	if sr.Dir == "" {
		return nil, status.Error(codes.InvalidArgument, "savepoint: no directory given and the master has no --savepoint-dir")
	}
	if sr.Dir, err = s.checkDir("savepoint", sr.Dir); err != nil {
		return nil, err
	}
	kind := dag.KindSavepoint
	if sr.Drain {
		kind = dag.KindDrainSavepoint
	}
	loc, err := j.jm.Savepoint(ctx, sr.Dir, kind)
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "savepoint of job %s: %v", sr.Job, err)
	}
	if sr.Stop && !sr.Drain {
		j.cancel()
	}
	if sr.Stop {
		select {
		case <-j.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	b, _ := json.Marshal(SavepointResponse{Location: loc})
	return &rpcpb.JSONDoc{Json: b}, nil
}

// ReportTask implements rpcpb.MasterServer.
func (s *Server) ReportTask(_ context.Context, req *rpcpb.ReportTaskRequest) (*rpcpb.Empty, error) {
	st, err := protocol.UnmarshalStatus(req.StatusJson)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	j, err := s.job(st.Job)
	if err != nil {
		return nil, err
	}
	if st.Err != nil && !errors.Is(st.Err, context.Canceled) {
		s.metrics.taskFailures.Add(1)
	}
	j.jm.Report(st)
	return &rpcpb.Empty{}, nil
}

// ReportMetrics implements rpcpb.MasterServer.
func (s *Server) ReportMetrics(_ context.Context, req *rpcpb.ReportMetricsRequest) (*rpcpb.Empty, error) {
	var rep protocol.MetricsReport
	if err := json.Unmarshal(req.MetricsJson, &rep); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	s.mu.Lock()
	_, known := s.jobs[req.JobId] // not a job the master forgot
	if w, ok := s.workers[req.Worker]; ok && known {
		w.mu.Lock()
		w.metrics[req.JobId] = rep.Vertices
		u := w.usage[req.JobId]
		u.Name = w.name
		u.BuffersInUse = rep.BuffersInUse
		u.PeakBuffersInUse = max(u.PeakBuffersInUse, rep.PeakBuffersInUse)
		u.MemoryBytes = rep.MemoryBytes
		w.usage[req.JobId] = u
		w.mu.Unlock()
	}
	s.mu.Unlock()
	return &rpcpb.Empty{}, nil
}

// ExecutorLost implements rpcpb.MasterServer.
func (s *Server) ExecutorLost(_ context.Context, req *rpcpb.ExecutorLostRequest) (*rpcpb.Empty, error) {
	j, err := s.job(req.JobId)
	if err != nil {
		return nil, err
	}
	s.log.Warn("executor lost", "job", req.JobId, "worker", req.Worker, "reason", req.Reason)
	j.jm.ExecutorLost(req.Worker)
	return &rpcpb.Empty{}, nil
}

func safeJobName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '-'
	}, s)
	s = strings.TrimLeft(s, "-") // job ids must not start with '-'
	if s == "" {
		s = "job"
	}
	return s
}

// remoteWorker is a worker daemon seen from the master.
type remoteWorker struct {
	s      *Server
	name   string
	addr   string
	gossip string // memberlist address of this incarnation
	slots  int
	conn   *grpc.ClientConn
	client rpcpb.WorkerClient

	mu      sync.Mutex
	metrics map[string][]protocol.VertexMetrics
	usage   map[string]WorkerUsage
}

// Usage returns what the worker last reported about a job.
func (w *remoteWorker) Usage(job string) (WorkerUsage, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	u, ok := w.usage[job]
	return u, ok
}

func (w *remoteWorker) Name() string { return w.name }
func (w *remoteWorker) Slots() int   { return w.slots }

func (w *remoteWorker) Prepare(ctx context.Context, job string) (string, error) {
	j, err := w.s.job(job)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	resp, err := w.client.PrepareJob(ctx, &rpcpb.PrepareJobRequest{JobId: job, Binary: j.binary, Args: j.args,
		Env: j.env, Fingerprint: j.plan.Fingerprint, MasterAddress: w.s.Addr()})
	if err != nil {
		if status.Code(err) == codes.FailedPrecondition {
			return "", dag.Fatal(fmt.Errorf("worker %s: %s", w.name, status.Convert(err).Message()))
		}
		return "", fmt.Errorf("worker %s: %s", w.name, status.Convert(err).Message())
	}
	return resp.ExecutorAddress, nil
}

func (w *remoteWorker) Deploy(ctx context.Context, dep protocol.TaskDeployment) error {
	b, err := json.Marshal(dep)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = w.client.DeployTask(ctx, &rpcpb.DeployTaskRequest{DeploymentJson: b})
	if err != nil {
		return fmt.Errorf("deploy on worker %s: %s", w.name, status.Convert(err).Message())
	}
	return nil
}

// TriggerCheckpoint implements CheckpointGateway.
func (w *remoteWorker) TriggerCheckpoint(ctx context.Context, tr protocol.CheckpointTrigger) error {
	b, err := json.Marshal(tr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := w.client.TriggerCheckpoint(ctx, &rpcpb.CheckpointMessage{JobId: tr.Job, Json: b}); err != nil {
		return fmt.Errorf("trigger checkpoint on worker %s: %s", w.name, status.Convert(err).Message())
	}
	return nil
}

// NotifyCheckpoint implements CheckpointGateway.
func (w *remoteWorker) NotifyCheckpoint(job string, id int64) {
	b, _ := json.Marshal(protocol.CheckpointNotice{Job: job, ID: id})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w.client.NotifyCheckpoint(ctx, &rpcpb.CheckpointMessage{JobId: job, Json: b})
	}()
}

func (w *remoteWorker) Cancel(job string, id protocol.TaskID, attempt int) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w.client.CancelTask(ctx, &rpcpb.CancelTaskRequest{JobId: job, Task: int32(id.Vertex), Subtask: int32(id.Subtask), Attempt: int32(attempt)})
	}()
}

func (w *remoteWorker) Metrics(job string) []protocol.VertexMetrics {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.metrics[job]
}

// binaryCode runs a job's user code in child processes of the master:
// splits were enumerated by the submitting driver; commits run the job
// binary in commit mode.
type binaryCode struct {
	path      string
	args, env []string
	splits    map[int][]dag.Split
	plan      *dag.Plan
}

func (c *binaryCode) Splits(_ context.Context, vertex int) ([]dag.Split, error) {
	return c.splits[vertex], nil
}

func (c *binaryCode) HasCommitter(int) bool { return true }

func (c *binaryCode) IsDynamic(vertex int) bool { return c.plan != nil && c.plan.IsDynamic(vertex) }

// MoreSplits runs the job binary to enumerate the next round of a dynamic
// source. A panic in the enumerator is fatal (protocol.RoleMoreSplits).
func (c *binaryCode) MoreSplits(ctx context.Context, vertex, round int, finished []dag.FinishedSplit) ([]dag.Split, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var resp rpcpb.MoreSplitsResponse
	req := &rpcpb.MoreSplitsRequest{Vertex: int32(vertex), Round: int32(round), Finished: protocol.FinishedToProto(finished)}
	if err := protocol.Call(ctx, c.process(), protocol.RoleMoreSplits, req, &resp); err != nil {
		return nil, false, fmt.Errorf("more splits of vertex %d: %w", vertex, err)
	}
	return protocol.SplitsFromProto(resp.Splits), resp.Done, nil
}

func (c *binaryCode) Commit(ctx context.Context, vertex int, committables [][]byte) error {
	return c.commit(ctx, vertex, rpcpb.CommitRequest_ACTION_COMMIT, committables)
}

func (c *binaryCode) Abort(ctx context.Context, vertex int, committables [][]byte) error {
	return c.commit(ctx, vertex, rpcpb.CommitRequest_ACTION_ABORT, committables)
}

func (c *binaryCode) process() protocol.Process {
	return protocol.Process{Path: c.path, Args: c.args, Env: c.env}
}

// commit runs the job binary in the commit role.
func (c *binaryCode) commit(ctx context.Context, vertex int, action rpcpb.CommitRequest_Action, committables [][]byte) error {
	if len(committables) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	req := &rpcpb.CommitRequest{Vertex: int32(vertex), Action: action, Committables: committables}
	if err := protocol.Call(ctx, c.process(), protocol.RoleCommit, req, nil); err != nil {
		return fmt.Errorf("%s of vertex %d: %w", strings.ToLower(strings.TrimPrefix(action.String(), "ACTION_")), vertex, err)
	}
	return nil
}

func sortedStatusNames(m map[string]*remoteWorker) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
