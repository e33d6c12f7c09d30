package worker

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/auth"
	"github.com/dagflow/dagflow/internal/netaddr"
	"github.com/dagflow/dagflow/internal/protocol"
	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/internal/secure"
	"github.com/dagflow/dagflow/internal/tlsconfig"
	"github.com/dagflow/dagflow/shuffle"
	"github.com/dagflow/dagflow/shuffle/remote"
)

// ExecutorConfig is what an executor learns from its environment.
type ExecutorConfig struct {
	Job, Worker, Master, Fingerprint, Dir, Listen string
	// Advertise is the address given to the master and other executors
	// (protocol.EnvAdvertise; see netaddr.Advertised).
	Advertise string
	// Shuffle is the job's protocol.EnvShuffle setting; ShuffleDaemon and
	// ShuffleDir locate the host's shuffle daemon, if the worker has one.
	Shuffle, ShuffleDaemon, ShuffleDir string
	// NoHostLocalReads makes consumers read the host's shuffle daemon
	// through gRPC rather than from its files (protocol.EnvShuffleHostLocal=0).
	NoHostLocalReads bool
	Slots            int
	Logger           *slog.Logger
	// TLS names the node certificate files (secure.EnvCert, EnvKey,
	// EnvCA): when set, the executor serves its Executor and shuffle
	// services with mutual TLS to node certificates only and dials the
	// master, peers and the shuffle daemon with them.
	TLS tlsconfig.Files
}

// ExecutorConfigFromEnv reads the executor's environment.
func ExecutorConfigFromEnv() (ExecutorConfig, error) {
	c := ExecutorConfig{Job: os.Getenv(protocol.EnvJob), Worker: os.Getenv(protocol.EnvWorker), Master: os.Getenv(protocol.EnvMaster),
		Fingerprint: os.Getenv(protocol.EnvFingerprint), Dir: os.Getenv(protocol.EnvDir), Listen: os.Getenv(protocol.EnvListen), Advertise: os.Getenv(protocol.EnvAdvertise),
		Shuffle: os.Getenv(protocol.EnvShuffle), ShuffleDaemon: os.Getenv(protocol.EnvShuffleDaemon), ShuffleDir: os.Getenv(protocol.EnvShuffleDir),
		NoHostLocalReads: os.Getenv(protocol.EnvShuffleHostLocal) == "0",
		TLS:              tlsconfig.Files{Cert: os.Getenv(secure.EnvCert), Key: os.Getenv(secure.EnvKey), CA: os.Getenv(secure.EnvCA)}}
	for k, v := range map[string]string{protocol.EnvJob: c.Job, protocol.EnvWorker: c.Worker, protocol.EnvMaster: c.Master, protocol.EnvFingerprint: c.Fingerprint, protocol.EnvDir: c.Dir} {
		if v == "" {
			return c, fmt.Errorf("executor: environment variable %s is not set", k)
		}
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	switch c.Shuffle {
	case "", protocol.ShuffleWorker, protocol.ShuffleExternal:
	default:
		return c, fmt.Errorf("executor: %s=%q: want %s or %s", protocol.EnvShuffle, c.Shuffle, protocol.ShuffleWorker, protocol.ShuffleExternal)
	}
	return c, nil
}

// ErrPlanMismatch is returned when the job binary builds a different plan
// than the one the job was submitted with.
var ErrPlanMismatch = errors.New("plan fingerprint mismatch")

// RunExecutor runs this process as the executor of one job on one worker:
// it serves task deployments and the partitions its tasks write, pulls
// splits from and reports to the master, until ctx is done or stdin closes
// (the worker daemon died).
func RunExecutor(ctx context.Context, plan *dag.Plan, cfg ExecutorConfig, stdin io.Reader, stdout io.Writer) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// Every attribute once per line: executor-level lines carry the job
	// and the worker; the task runtime (New) adds the worker and each task
	// the job, so it gets the bare logger.
	log := cfg.Logger.With("job", cfg.Job, "worker", cfg.Worker)
	if plan.Fingerprint != cfg.Fingerprint {
		return dag.Fatal(fmt.Errorf("%w: this binary builds plan %s but job %s was submitted with %s (different binary, arguments or environment)",
			ErrPlanMismatch, plan.Fingerprint, cfg.Job, cfg.Fingerprint))
	}
	if cfg.Shuffle == protocol.ShuffleExternal && (cfg.ShuffleDaemon == "" || cfg.ShuffleDir == "") {
		return dag.Fatal(fmt.Errorf("executor: job %s asks for external shuffle (%s=%s) but worker %s runs without a shuffle daemon (--shuffle-daemon and --shuffle-dir)",
			cfg.Job, protocol.EnvShuffle, protocol.ShuffleExternal, cfg.Worker))
	}
	iv, _ := time.ParseDuration(os.Getenv(secure.EnvReloadInterval))
	node, err := secure.Start(cfg.TLS, iv, log)
	if err != nil {
		return dag.Fatal(fmt.Errorf("executor: %w", err))
	}
	defer node.Close()
	var as *auth.Server
	if node.Enabled() {
		if as, err = secure.NodeOnly(log); err != nil {
			return err
		}
	}
	own, err := shuffle.NewLocal(shuffle.LocalConfig{Dir: cfg.Dir, Logger: log})
	if err != nil {
		return err
	}
	var local shuffle.Service = own
	if cfg.Shuffle == protocol.ShuffleExternal {
		ext, err := newExternalShuffle(own, cfg.ShuffleDaemon, cfg.ShuffleDir, node, log)
		if err != nil {
			own.Close()
			return err
		}
		local = ext
		log.Info("blocking partitions go to the shuffle daemon", "daemon", cfg.ShuffleDaemon, "staging", ext.stagingDir,
			"hostLocalReads", !cfg.NoHostLocalReads)
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		local.Close()
		return fmt.Errorf("executor: listen on %s: %w", cfg.Listen, err)
	}
	addr, err := netaddr.ForListener(cfg.Listen, lis, cfg.Advertise)
	if err != nil {
		lis.Close()
		local.Close()
		return fmt.Errorf("executor: %w", err)
	}
	leader, err := newLeaderConn(cfg.Master, node.DialOption())
	if err != nil {
		lis.Close()
		local.Close()
		return err
	}
	defer leader.close()
	resolver := remote.NewResolver(remote.ClientOptions{Creds: node.TransportCredentials()})
	defer resolver.Close()
	ex := &executor{cfg: cfg, log: log, leader: leader, self: addr, local: local, resolver: resolver}
	if cfg.Shuffle == protocol.ShuffleExternal && !cfg.NoHostLocalReads {
		view, err := shuffle.NewFileView(shuffle.LocalConfig{Dir: filepath.Join(cfg.ShuffleDir, shuffle.DaemonDataDir), Logger: log})
		if err != nil {
			lis.Close()
			local.Close()
			return err
		}
		defer view.Close()
		ex.hostLocal = hostLocal{FileView: view, daemon: func() (shuffle.Service, error) { return resolver.Resolve(cfg.ShuffleDaemon) }}
	}
	ex.w = New(Config{Name: cfg.Worker, Slots: cfg.Slots, Logger: cfg.Logger, OnCheckpoint: ex.reportCheckpoint,
		NewStateStorage: NewFileStateStorage, StateDir: filepath.Join(filepath.Dir(cfg.Dir), "state")}, local, ex, ex, staticPlan{plan}, ex.report)
	srv := remote.NewGRPCServer(append(node.ServerOptions(tls.RequireAndVerifyClientCert, as), grpc.MaxRecvMsgSize(64<<20))...)
	rpcpb.RegisterExecutorServer(srv, ex)
	rpcpb.RegisterExecutorReconcileServer(srv, ex)
	shuffleSrv := remote.NewServer(own, remote.ServerOptions{Logger: log})
	shuffleSrv.Register(srv)
	go srv.Serve(lis)
	fmt.Fprintf(stdout, "%s%s\n", protocol.ExecutorReady, addr)
	log.Info("executor ready", "addr", addr)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if stdin != nil {
		go func() { // the worker daemon holds our stdin: EOF means it is gone
			io.Copy(io.Discard, bufio.NewReader(stdin))
			cancel()
		}()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	sample := time.NewTicker(50 * time.Millisecond)
	defer sample.Stop()
	for {
		select {
		case <-ctx.Done():
			leader.stop() // reports still waiting for a master give up
			ex.pushMetrics(context.Background())
			shuffleSrv.Close()
			srv.Stop()
			return ex.w.Close()
		case <-sample.C:
			ex.sampleBuffers()
		case <-tick.C:
			ex.pushMetrics(ctx)
		}
	}
}

type staticPlan struct{ p *dag.Plan }

func (s staticPlan) Plan(string) (*dag.Plan, error) { return s.p, nil }

// executor implements the Executor service and the runtime's providers.
type executor struct {
	rpcpb.UnimplementedExecutorServer
	rpcpb.UnimplementedExecutorReconcileServer
	cfg      ExecutorConfig
	log      *slog.Logger
	leader   *leaderConn
	self     string
	local    shuffle.Service
	resolver *remote.Resolver
	// hostLocal reads the host's shuffle daemon's partitions from its
	// files (nil: through gRPC like any other location).
	hostLocal shuffle.Service
	w         *Worker
	mu        sync.Mutex
	peak      int
}

// Resolve implements ShuffleResolver: our own partitions are read locally.
func (ex *executor) Resolve(location string) (shuffle.Service, error) {
	if location == ex.self {
		return ex.local, nil
	}
	if ex.hostLocal != nil && location == ex.cfg.ShuffleDaemon {
		return ex.hostLocal, nil
	}
	return ex.resolver.Resolve(location)
}

// NextSplit implements SplitProvider through the master.
func (ex *executor) NextSplit(ctx context.Context, job string, req SplitRequest) (SplitResponse, error) {
	var resp *rpcpb.NextSplitResponse
	err := ex.leader.call(ctx, func(ctx context.Context, mc rpcpb.MasterClient) error {
		var err error
		resp, err = mc.NextSplit(ctx, &rpcpb.NextSplitRequest{JobId: job, Vertex: int32(req.Vertex), Subtask: int32(req.Subtask),
			Attempt: int32(req.Attempt), Checkpoint: req.Checkpoint, Finished: protocol.FinishedToProto(req.Finished)})
		return err
	})
	if err != nil {
		return SplitResponse{}, fmt.Errorf("next split: %w", err)
	}
	if resp.Fatal {
		return SplitResponse{}, dag.Fatal(fmt.Errorf("next split from master: %s", resp.Error))
	}
	return SplitResponse{Split: dag.Split{ID: resp.Id, Data: resp.Data, Weight: resp.Weight}, OK: resp.Ok, Wait: resp.Wait}, nil
}

// reportCheckpoint sends the worker's checkpoint report to the master.
func (ex *executor) reportCheckpoint(rep CheckpointReport) {
	msg := protocol.ReportToProto(rep)
	err := ex.leader.call(context.Background(), func(ctx context.Context, mc rpcpb.MasterClient) error {
		_, err := mc.ReportCheckpoint(ctx, msg)
		return err
	})
	if err == nil {
		return
	}
	ex.log.Warn("report checkpoint", "checkpoint", rep.ID, "err", err)
}

// TriggerCheckpoint implements rpcpb.ExecutorServer.
func (ex *executor) TriggerCheckpoint(_ context.Context, req *rpcpb.CheckpointTrigger) (*rpcpb.Empty, error) {
	tr, err := protocol.TriggerFromProto(req)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "executor: %v", err)
	}
	if err := ex.w.TriggerCheckpoint(context.Background(), tr); err != nil {
		return nil, err
	}
	return &rpcpb.Empty{}, nil
}

// NotifyCheckpoint implements rpcpb.ExecutorServer.
func (ex *executor) NotifyCheckpoint(_ context.Context, req *rpcpb.CheckpointNotice) (*rpcpb.Empty, error) {
	ex.w.NotifyCheckpoint(req.GetJobId(), req.GetId())
	return &rpcpb.Empty{}, nil
}

func (ex *executor) report(st TaskStatus) {
	ex.pushMetrics(context.Background()) // counters are final before the outcome
	if st.Err != nil && dag.IsFatal(st.Err) {
		// A fatal error fails the job: say where it happened (e.g. an
		// input path this worker cannot see).
		st.Err = fmt.Errorf("worker %s: %w", ex.cfg.Worker, st.Err)
	}
	req := &rpcpb.ReportTaskRequest{Status: protocol.StatusToProto(st)}
	err := ex.leader.call(context.Background(), func(ctx context.Context, mc rpcpb.MasterClient) error {
		_, err := mc.ReportTask(ctx, req)
		return err
	})
	if err == nil {
		return
	}
	ex.log.Error("report task status", "err", err)
}

// sampleBuffers records the peak of buffers in use between reports.
func (ex *executor) sampleBuffers() {
	n := ex.buffersInUse()
	ex.mu.Lock()
	ex.peak = max(ex.peak, n)
	ex.mu.Unlock()
}

func (ex *executor) buffersInUse() int {
	if b, ok := ex.local.(interface{ BuffersInUse() int }); ok {
		return b.BuffersInUse()
	}
	return 0
}

func (ex *executor) pushMetrics(ctx context.Context) {
	ex.sampleBuffers()
	ex.mu.Lock()
	rep := MetricsReport{Vertices: ex.w.Metrics(ex.cfg.Job), BuffersInUse: ex.buffersInUse(), PeakBuffersInUse: ex.peak,
		MemoryBytes: runtimeMemory()}
	ex.peak = 0
	ex.mu.Unlock()
	if len(rep.Vertices) == 0 && rep.PeakBuffersInUse == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	mc, _ := ex.leader.current()
	if _, err := mc.ReportMetrics(ctx, &rpcpb.ReportMetricsRequest{JobId: ex.cfg.Job, Worker: ex.cfg.Worker, Metrics: protocol.MetricsToProto(rep)}); err != nil {
		ex.log.Debug("report metrics", "err", err)
	}
}

// DeployTask implements rpcpb.ExecutorServer.
func (ex *executor) DeployTask(ctx context.Context, req *rpcpb.DeployTaskRequest) (*rpcpb.Empty, error) {
	dep, err := protocol.DeploymentFromProto(req.GetDeployment())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "executor: %v", err)
	}
	if err := ex.w.Deploy(ctx, dep); err != nil {
		return nil, err
	}
	return &rpcpb.Empty{}, nil
}

// CancelTask implements rpcpb.ExecutorServer.
func (ex *executor) CancelTask(_ context.Context, req *rpcpb.CancelTaskRequest) (*rpcpb.Empty, error) {
	ex.w.Cancel(req.JobId, TaskID{Vertex: int(req.Task), Subtask: int(req.Subtask)}, int(req.Attempt))
	return &rpcpb.Empty{}, nil
}
