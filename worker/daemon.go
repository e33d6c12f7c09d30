package worker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/memberlist"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow/internal/auth"
	"github.com/dagflow/dagflow/internal/ha"
	"github.com/dagflow/dagflow/internal/membership"
	"github.com/dagflow/dagflow/internal/netaddr"
	"github.com/dagflow/dagflow/internal/protocol"
	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/internal/secure"
)

// DaemonConfig configures a worker daemon.
type DaemonConfig struct {
	// Name identifies the worker (default: host name + listen port).
	Name string
	// Listen is the gRPC address (default 127.0.0.1:0).
	Listen string
	// Advertise is the HOST:PORT the master reaches this worker at, when
	// it differs from what the worker is bound to (NAT, containers); port
	// 0 keeps the bound port. Empty: the bound address, or for a wildcard
	// Listen (0.0.0.0, [::]) an interface address (see
	// netaddr.Advertised). Executors of this worker listen on Listen's
	// host and advertise Advertise's host with their own port; gossip
	// advertises its host too.
	Advertise string
	// Master is the master's gRPC address.
	Master string
	// Slots offered (default 4).
	Slots int
	// Dir holds cached binaries, executor files and logs.
	Dir string
	// GossipBind is the memberlist address (default: Listen's host).
	GossipBind string
	// FailureTimeout: how fast a silent member is declared dead.
	FailureTimeout time.Duration
	// RegisterTimeout bounds how long to wait for the master at start
	// (default 10s).
	RegisterTimeout time.Duration
	// HTTP serves /metrics (Prometheus exposition formats), /healthz and
	// /readyz when set. It listens before the daemon registers, so
	// /healthz answers while /readyz still reports not ready.
	HTTP string
	// ShuffleDaemon is the gRPC address of this host's shuffle daemon
	// (dagctl shuffle) and ShuffleDir its --dir: jobs submitted with
	// external shuffle stage their blocking partitions in ShuffleDir and
	// hand them to the daemon. Both or neither.
	ShuffleDaemon, ShuffleDir string
	Logger                    *slog.Logger
	// TLS, when set, serves gRPC with mutual TLS to node certificates
	// only, dials the master and executors with its node certificate and
	// hands its files to executors (secure.EnvCert, ...); nil keeps
	// plaintext.
	TLS *secure.Node
	// GossipKeyring, when set, encrypts gossip (the master's key).
	GossipKeyring *memberlist.Keyring
	// Leaders, set with master high availability, tells the worker which
	// master leads (Master may then be empty): the worker registers with
	// each new leader, refuses orders from deposed ones, keeps its
	// executors running, points them at the new leader and reports their
	// tasks; it stops the executors of jobs the new leader does not
	// continue.
	Leaders LeaderSource
}

// Daemon is a worker daemon: it registers with the master, gossips its
// liveness, caches job binaries and runs one executor process per job.
type Daemon struct {
	rpcpb.UnimplementedWorkerServer
	cfg    DaemonConfig
	log    *slog.Logger
	srv    *grpc.Server
	lis    net.Listener
	addr   string // advertised gRPC address
	member *membership.Member
	// guard refuses orders from deposed HA leaders.
	guard *ha.Guard
	// ctx ends when the daemon closes.
	ctx    context.Context
	cancel context.CancelFunc

	// mmu guards the connection to the current master.
	mmu     sync.Mutex
	conn    *grpc.ClientConn
	master  rpcpb.MasterClient
	httpSrv *http.Server
	httpLis net.Listener
	// ready is set while the daemon is registered and serving (/readyz).
	ready atomic.Bool

	mu        sync.Mutex
	executors map[string]*executorProc
	fetching  map[string]*sync.Mutex // per binary hash
}

type executorProc struct {
	job   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
	conn  *grpc.ClientConn
	exec  rpcpb.ExecutorClient
	// follow points the executor at a new leader (master failover).
	follow rpcpb.ExecutorReconcileClient
	log    *os.File
	done   chan struct{}
	// released is set when the daemon stopped it on purpose.
	released bool
}

// StartDaemon starts a worker daemon and registers it with the master.
func StartDaemon(ctx context.Context, cfg DaemonConfig) (*Daemon, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Slots <= 0 {
		cfg.Slots = 4
	}
	if cfg.RegisterTimeout <= 0 {
		cfg.RegisterTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Dir == "" {
		return nil, errors.New("worker: daemon needs a directory (--dir)")
	}
	if cfg.Master == "" && cfg.Leaders == nil {
		return nil, errors.New("worker: daemon needs the master's address (--master)")
	}
	if (cfg.ShuffleDaemon == "") != (cfg.ShuffleDir == "") {
		return nil, errors.New("worker: --shuffle-daemon and --shuffle-dir go together")
	}
	if cfg.ShuffleDir != "" {
		dir, err := filepath.Abs(cfg.ShuffleDir)
		if err != nil {
			return nil, fmt.Errorf("worker: --shuffle-dir %s: %w", cfg.ShuffleDir, err)
		}
		cfg.ShuffleDir = dir
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("worker: listen on %s: %w", cfg.Listen, err)
	}
	adv, err := netaddr.ForListener(cfg.Listen, lis, cfg.Advertise)
	if err != nil {
		lis.Close()
		return nil, fmt.Errorf("worker: %w", err)
	}
	host, port, _ := net.SplitHostPort(lis.Addr().String())
	if cfg.Name == "" {
		hn, _ := os.Hostname()
		cfg.Name = fmt.Sprintf("%s-%s", hn, port)
	}
	if cfg.GossipBind == "" {
		cfg.GossipBind = host
	}
	d := &Daemon{cfg: cfg, log: cfg.Logger.With("worker", cfg.Name), lis: lis, addr: adv,
		executors: make(map[string]*executorProc), fetching: make(map[string]*sync.Mutex)}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.guard = ha.NewGuard(d.leaderChanged)
	var as *auth.Server
	if cfg.TLS.Enabled() {
		if as, err = secure.NodeOnly(cfg.Logger); err != nil {
			lis.Close()
			return nil, fmt.Errorf("worker: %w", err)
		}
	}
	d.srv = grpc.NewServer(append(cfg.TLS.ServerOptions(tls.RequireAndVerifyClientCert, as),
		grpc.ChainUnaryInterceptor(d.guard.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(d.guard.StreamServerInterceptor()))...)
	rpcpb.RegisterWorkerServer(d.srv, d)
	go d.srv.Serve(lis)
	fail := func(err error) (*Daemon, error) {
		d.Close()
		return nil, err
	}
	if cfg.Leaders != nil && cfg.Master == "" {
		d.log.Info("waiting for a leading master")
		info, err := cfg.Leaders.WaitLeader(ctx, 0)
		if err != nil {
			return fail(fmt.Errorf("worker: find the leading master: %w", err))
		}
		cfg.Master = info.Address
		d.cfg.Master = info.Address
		d.guard.Observe(info.Epoch)
	}
	if err := d.dialMaster(cfg.Master); err != nil {
		return fail(err)
	}
	if d.member, err = membership.Start(membership.Config{Name: cfg.Name, BindAddr: cfg.GossipBind,
		Advertise: netaddr.GossipHost(cfg.GossipBind, adv, cfg.Advertise != ""), FailureTimeout: cfg.FailureTimeout, Keyring: cfg.GossipKeyring}); err != nil {
		return fail(err)
	}
	if cfg.HTTP != "" {
		hl, err := net.Listen("tcp", cfg.HTTP)
		if err != nil {
			return fail(fmt.Errorf("worker: listen on %s: %w", cfg.HTTP, err))
		}
		d.httpLis = hl
		d.httpSrv = &http.Server{Handler: d.metricsHandler(), ReadHeaderTimeout: 10 * time.Second}
		go d.httpSrv.Serve(hl)
	}
	rctx, cancel := context.WithTimeout(ctx, cfg.RegisterTimeout)
	defer cancel()
	if err := d.register(rctx, cfg.Master); err != nil {
		return fail(err)
	}
	if cfg.Leaders != nil {
		go d.followLeaders()
	}
	d.ready.Store(true)
	d.log.Info("worker registered", "addr", adv, "listen", lis.Addr().String(), "slots", cfg.Slots, "shuffleDaemon", cfg.ShuffleDaemon)
	return d, nil
}

// Addr returns the daemon's advertised gRPC address: the one registered
// with the master, never a wildcard such as [::]:7072.
func (d *Daemon) Addr() string { return d.addr }

// ListenAddr returns the address the gRPC listener is bound to (a
// wildcard when Listen was one).
func (d *Daemon) ListenAddr() string { return d.lis.Addr().String() }

// HTTPAddr returns the address /metrics is served on ("" if disabled).
func (d *Daemon) HTTPAddr() string {
	if d.httpLis == nil {
		return ""
	}
	return d.httpLis.Addr().String()
}

// Name returns the worker's name.
func (d *Daemon) Name() string { return d.cfg.Name }

// Close stops every executor and the daemon.
func (d *Daemon) Close() error {
	d.ready.Store(false)
	d.mu.Lock()
	procs := make([]*executorProc, 0, len(d.executors))
	for _, p := range d.executors {
		procs = append(procs, p)
	}
	d.mu.Unlock()
	for _, p := range procs {
		d.stop(p)
	}
	if d.member != nil {
		d.member.Close()
	}
	if d.httpSrv != nil {
		d.httpSrv.Close()
	}
	d.cancel()
	d.mmu.Lock()
	if d.conn != nil {
		d.conn.Close()
	}
	d.mmu.Unlock()
	d.srv.Stop()
	return nil
}

// PrepareJob implements rpcpb.WorkerServer.
func (d *Daemon) PrepareJob(ctx context.Context, req *rpcpb.PrepareJobRequest) (*rpcpb.PrepareJobResponse, error) {
	d.mu.Lock()
	if p, ok := d.executors[req.JobId]; ok {
		d.mu.Unlock()
		select {
		case <-p.done:
		default:
			return &rpcpb.PrepareJobResponse{ExecutorAddress: p.addr}, nil
		}
		d.mu.Lock()
		delete(d.executors, req.JobId)
	}
	d.mu.Unlock()
	bin, err := d.binary(ctx, req.Binary)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "worker %s: fetch job binary: %v", d.cfg.Name, err)
	}
	p, err := d.startExecutor(req, bin)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.executors[req.JobId] = p
	d.mu.Unlock()
	return &rpcpb.PrepareJobResponse{ExecutorAddress: p.addr}, nil
}

// binary returns the path of a cached job binary, downloading it from the
// master when missing and checking its hash.
func (d *Daemon) binary(ctx context.Context, ref *rpcpb.BinaryRef) (string, error) {
	if ref == nil || len(ref.Sha256) != 64 {
		return "", errors.New("bad binary reference")
	}
	d.mu.Lock()
	lock, ok := d.fetching[ref.Sha256]
	if !ok {
		lock = new(sync.Mutex)
		d.fetching[ref.Sha256] = lock
	}
	d.mu.Unlock()
	lock.Lock()
	defer lock.Unlock()
	path := filepath.Join(d.cfg.Dir, "binaries", ref.Sha256)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	stream, err := d.masterClient().GetBinary(ctx, ref)
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".download-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	var n int64
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tmp.Close()
			return "", err
		}
		h.Write(chunk.Data)
		n += int64(len(chunk.Data))
		if _, err := tmp.Write(chunk.Data); err != nil {
			tmp.Close()
			return "", err
		}
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != ref.Sha256 || n != ref.Size {
		return "", fmt.Errorf("binary checksum mismatch: got %s (%d bytes), want %s (%d bytes)", got, n, ref.Sha256, ref.Size)
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return "", err
	}
	return path, os.Rename(tmp.Name(), path)
}

func (d *Daemon) startExecutor(req *rpcpb.PrepareJobRequest, bin string) (*executorProc, error) {
	dir := filepath.Join(d.cfg.Dir, "jobs", safeName(req.JobId))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "executor.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	// The executor binds the worker's listen host and advertises the
	// worker's advertised host, each with the executor's own port.
	host, _, _ := net.SplitHostPort(d.lis.Addr().String())
	advHost, _, _ := net.SplitHostPort(d.addr)
	cmd := protocol.Launch(context.Background(), protocol.Process{Path: bin, Args: req.Args, Env: req.Env}, protocol.RoleExecutor,
		protocol.EnvJob+"="+req.JobId, protocol.EnvWorker+"="+d.cfg.Name, protocol.EnvMaster+"="+req.MasterAddress,
		protocol.EnvFingerprint+"="+req.Fingerprint, protocol.EnvDir+"="+filepath.Join(dir, "shuffle"), protocol.EnvListen+"="+net.JoinHostPort(host, "0"),
		protocol.EnvAdvertise+"="+net.JoinHostPort(advHost, "0"),
		protocol.EnvShuffleDaemon+"="+d.cfg.ShuffleDaemon, protocol.EnvShuffleDir+"="+d.cfg.ShuffleDir)
	cmd.Env = append(cmd.Env, d.cfg.TLS.Env()...)
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	var stderrTail tailBuffer
	cmd.Stderr = io.MultiWriter(logf, &stderrTail)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, status.Errorf(codes.FailedPrecondition, "worker %s: cannot start job binary: %v", d.cfg.Name, err)
	}
	// executor.pid tells operators and tools which
	// process runs the job's tasks on this worker.
	if err := os.WriteFile(filepath.Join(dir, "executor.pid"), fmt.Appendf(nil, "%d\n", cmd.Process.Pid), 0o644); err != nil {
		d.log.Warn("write executor pid file", "job", req.JobId, "err", err)
	}
	p := &executorProc{job: req.JobId, cmd: cmd, stdin: stdin, log: logf, done: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if !sent && strings.HasPrefix(line, protocol.ExecutorReady) {
				ready <- strings.TrimPrefix(line, protocol.ExecutorReady)
				sent = true
				continue
			}
			fmt.Fprintln(logf, line)
		}
	}()
	var exitErr error
	go func() {
		exitErr = cmd.Wait()
		close(p.done)
		d.executorExited(p, exitErr, stderrTail.String())
	}()
	select {
	case p.addr = <-ready:
		// A job binary built before executors advertised prints its
		// bound address; for a wildcard bind the worker's advertised host
		// reaches it.
		if h, port, err := net.SplitHostPort(p.addr); err == nil && netaddr.IsWildcard(h) {
			p.addr = net.JoinHostPort(advHost, port)
		}
	case <-p.done:
		code := codes.Unavailable
		if cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == protocol.ExitFatal {
			code = codes.FailedPrecondition
		}
		return nil, status.Errorf(code, "worker %s: job binary exited before serving (%v): %s", d.cfg.Name, exitErr, strings.TrimSpace(stderrTail.String()))
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		return nil, status.Errorf(codes.Unavailable, "worker %s: job binary did not start serving within 60s", d.cfg.Name)
	}
	p.conn, err = grpc.NewClient(p.addr, d.cfg.TLS.DialOption(), grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		cmd.Process.Kill()
		return nil, err
	}
	p.exec = rpcpb.NewExecutorClient(p.conn)
	p.follow = rpcpb.NewExecutorReconcileClient(p.conn)
	d.log.Info("executor started", "job", req.JobId, "pid", cmd.Process.Pid, "addr", p.addr)
	return p, nil
}

// executorExited reports an executor that died on its own.
func (d *Daemon) executorExited(p *executorProc, err error, stderr string) {
	p.log.Close()
	d.mu.Lock()
	released := p.released
	if d.executors[p.job] == p {
		delete(d.executors, p.job)
	}
	d.mu.Unlock()
	if released || p.addr == "" {
		return
	}
	reason := fmt.Sprintf("executor of job %s on worker %s exited: %v: %s", p.job, d.cfg.Name, err, lastLines(stderr, 5))
	d.log.Warn("executor exited", "job", p.job, "err", err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, rerr := d.masterClient().ExecutorLost(ctx, &rpcpb.ExecutorLostRequest{JobId: p.job, Worker: d.cfg.Name, Reason: reason}); rerr != nil {
		d.log.Warn("report executor loss", "err", rerr)
	}
}

func (d *Daemon) executor(job string) (*executorProc, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.executors[job]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "worker %s: no executor for job %s (prepare it first)", d.cfg.Name, job)
	}
	return p, nil
}

// DeployTask implements rpcpb.WorkerServer.
func (d *Daemon) DeployTask(ctx context.Context, req *rpcpb.DeployTaskRequest) (*rpcpb.Empty, error) {
	p, err := d.executor(req.GetDeployment().GetJobId())
	if err != nil {
		return nil, err
	}
	return p.exec.DeployTask(ctx, req)
}

// CancelTask implements rpcpb.WorkerServer.
func (d *Daemon) CancelTask(ctx context.Context, req *rpcpb.CancelTaskRequest) (*rpcpb.Empty, error) {
	p, err := d.executor(req.JobId)
	if err != nil {
		return &rpcpb.Empty{}, nil // nothing runs
	}
	return p.exec.CancelTask(ctx, req)
}

// TriggerCheckpoint implements rpcpb.WorkerServer.
func (d *Daemon) TriggerCheckpoint(ctx context.Context, req *rpcpb.CheckpointTrigger) (*rpcpb.Empty, error) {
	p, err := d.executor(req.JobId)
	if err != nil {
		return nil, err
	}
	return p.exec.TriggerCheckpoint(ctx, req)
}

// NotifyCheckpoint implements rpcpb.WorkerServer.
func (d *Daemon) NotifyCheckpoint(ctx context.Context, req *rpcpb.CheckpointNotice) (*rpcpb.Empty, error) {
	p, err := d.executor(req.JobId)
	if err != nil {
		return &rpcpb.Empty{}, nil // nothing runs
	}
	return p.exec.NotifyCheckpoint(ctx, req)
}

// ReleaseJob implements rpcpb.WorkerServer.
func (d *Daemon) ReleaseJob(_ context.Context, req *rpcpb.JobRef) (*rpcpb.Empty, error) {
	d.mu.Lock()
	p, ok := d.executors[req.JobId]
	delete(d.executors, req.JobId)
	d.mu.Unlock()
	if ok {
		d.stop(p)
	}
	// Logs stay for `dagctl logs`; shuffle files go.
	os.RemoveAll(filepath.Join(d.cfg.Dir, "jobs", safeName(req.JobId), "shuffle"))
	return &rpcpb.Empty{}, nil
}

func (d *Daemon) stop(p *executorProc) {
	d.mu.Lock()
	p.released = true
	d.mu.Unlock()
	p.stdin.Close()
	if p.cmd.Process != nil {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	if p.conn != nil {
		p.conn.Close()
	}
}

// Logs implements rpcpb.WorkerServer.
func (d *Daemon) Logs(_ context.Context, req *rpcpb.JobLogsRequest) (*rpcpb.JobLogsResponse, error) {
	b, err := os.ReadFile(filepath.Join(d.cfg.Dir, "jobs", safeName(req.JobId), "executor.log"))
	if errors.Is(err, os.ErrNotExist) {
		return &rpcpb.JobLogsResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	if req.Task != "" {
		var out bytes.Buffer
		for _, line := range bytes.SplitAfter(b, []byte("\n")) {
			if bytes.Contains(line, []byte("task="+req.Task)) {
				out.Write(line)
			}
		}
		b = out.Bytes()
	}
	return &rpcpb.JobLogsResponse{Logs: b}, nil
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, s)
}

// tailBuffer keeps the last 8 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 8<<10 {
		t.buf = t.buf[len(t.buf)-8<<10:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
