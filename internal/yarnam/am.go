package yarnam

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dagflow/dagflow/internal/hadooprpc"
	"github.com/dagflow/dagflow/internal/yarn"
	pb "github.com/dagflow/dagflow/internal/yarn/yarnpb"
	"github.com/dagflow/dagflow/master"
)

// Config configures the ApplicationMaster.
type Config struct {
	// Yarn reaches the ResourceManager's scheduler.
	Yarn *yarn.Config
	// Host is the host the master binds to and advertises (the
	// NodeManager's NM_HOST).
	Host string
	// Dir holds the master's files (job binaries).
	Dir string
	// Dagctl is the staged dagctl binary, localized into every worker
	// container as "dagctl".
	Dagctl *pb.LocalResourceProto
	// Workers describes the worker containers (Launch is set by Run).
	Workers WorkerSpec
	// WorkerEnv is added to the worker containers' environment.
	WorkerEnv map[string]string
	// FailureTimeout is the master's and workers' failure detection
	// timeout (default 3s).
	FailureTimeout time.Duration
	// Job, when set, is per-job mode: the ApplicationMaster submits this
	// job to its own master and ends the application with its outcome.
	Job *Job
	// StateDir (a URI, the application's staging directory on HDFS), when
	// set, makes the session survive ApplicationMaster restarts: the
	// master keeps its running jobs there (job store and submissions),
	// publishes its address in StateDir/master with Attempt as its epoch,
	// and workers follow that file; a later attempt recovers the jobs and
	// the workers of earlier attempts re-register with it. Not for
	// per-job mode.
	StateDir string
	// Attempt is the application attempt number (the master's epoch).
	Attempt int32
	// Logger receives the ApplicationMaster's and master's logs (stderr,
	// which the launch command sends to the container's log directory).
	Logger *slog.Logger
}

// Job is the job of per-job mode.
type Job struct {
	// Dagctl is the local path of the dagctl binary that submits it.
	Dagctl string
	// SubmitArgs follow "dagctl submit --master ADDR": the binary, submit
	// flags, "--" and the job's arguments.
	SubmitArgs []string
	// Output receives the submit command's output (besides the logs).
	Output io.Writer
}

// Result is how the application ended.
type Result struct {
	Status      pb.FinalApplicationStatusProto
	Diagnostics string
}

// Run runs the ApplicationMaster until ctx ends (session mode: the session
// is stopped or killed) or, in per-job mode, the job ends. It unregisters
// with the result.
func Run(ctx context.Context, cfg Config) (Result, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.FailureTimeout <= 0 {
		cfg.FailureTimeout = 3 * time.Second
	}
	amc, err := yarn.NewAMClient(cfg.Yarn)
	if err != nil {
		return Result{}, err
	}
	defer amc.Close()
	nmc, err := yarn.NewNMClient(cfg.Yarn, amc.NMTokens())
	if err != nil {
		return Result{}, err
	}
	defer nmc.Close()

	var masterAddr string
	spec := cfg.Workers
	spec.Launch = func(c *pb.ContainerProto) *pb.ContainerLaunchContextProto {
		return workerLaunch(cfg, masterAddr)
	}
	prov := NewProvider(amc, nmc, spec, nil, log)
	listen := net.JoinHostPort(cfg.Host, "0")
	mcfg := master.ServerConfig{Listen: listen, HTTP: listen, Dir: cfg.Dir, Logger: log,
		FailureTimeout: cfg.FailureTimeout, Provider: prov}
	var store fileJobStore
	if cfg.StateDir != "" {
		if cfg.Job != nil {
			return Result{}, errors.New("yarnam: Config.StateDir is for sessions, not per-job mode")
		}
		store = fileJobStore{dir: cfg.StateDir + "/jobs"}
		mcfg.Epoch, mcfg.JobStore, mcfg.StorageDir = uint64(max(cfg.Attempt, 1)), store, cfg.StateDir+"/ha"
	}
	srv, err := master.NewServer(mcfg)
	if err != nil {
		return Result{}, fmt.Errorf("yarnam: start the master: %w", err)
	}
	defer srv.Close()
	masterAddr = srv.Addr()
	host, portStr, _ := net.SplitHostPort(masterAddr)
	port, _ := strconv.Atoi(portStr)
	tracking := "http://" + srv.HTTPAddr() + "/api/jobs"
	reg, err := amc.Register(ctx, host, int32(port), tracking)
	if err != nil {
		return Result{}, fmt.Errorf("yarnam: register: %w", err)
	}
	if prev := reg.GetContainersFromPreviousAttempts(); len(prev) > 0 {
		prov.adopt(prev)
		log.Info("adopted containers of the previous attempt", "containers", len(prev))
	}
	log.Info("ApplicationMaster registered", "master", masterAddr, "tracking", tracking, "queue", reg.GetQueue())
	if cfg.StateDir != "" {
		if err := readopt(ctx, cfg, srv, store, log); err != nil {
			return Result{}, err
		}
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	provErr := make(chan error, 1)
	go func() { provErr <- prov.Run(runCtx) }()

	res := Result{Status: pb.FinalApplicationStatusProto_APP_SUCCEEDED, Diagnostics: "session stopped"}
	if cfg.Job != nil {
		jobDone := make(chan Result, 1)
		go func() { jobDone <- runJob(runCtx, cfg.Job, masterAddr, log) }()
		select {
		case res = <-jobDone:
		case err := <-provErr:
			res = Result{Status: pb.FinalApplicationStatusProto_APP_FAILED, Diagnostics: fmt.Sprintf("the ApplicationMaster lost the ResourceManager: %v", err)}
		case <-ctx.Done():
			res = Result{Status: pb.FinalApplicationStatusProto_APP_KILLED, Diagnostics: "the ApplicationMaster was stopped before the job ended"}
		}
	} else {
		select {
		case <-ctx.Done():
		case err := <-provErr:
			if err != nil {
				res = Result{Status: pb.FinalApplicationStatusProto_APP_FAILED, Diagnostics: err.Error()}
			}
		}
	}
	cancel()
	closeCtx, closeCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer closeCancel()
	if err := prov.Close(closeCtx); err != nil {
		log.Warn("release worker containers", "err", err)
	}
	if _, err := amc.Finish(closeCtx, res.Status, res.Diagnostics, tracking); err != nil {
		return res, fmt.Errorf("yarnam: unregister: %w", err)
	}
	log.Info("ApplicationMaster unregistered", "status", res.Status.String(), "diagnostics", res.Diagnostics)
	return res, nil
}

// adopt takes over containers of a previous attempt.
func (p *Provider) adopt(cs []*pb.ContainerProto) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.containers[yarn.ContainerIDFromProto(c.GetId()).String()] = c
	}
}

// workerLaunch is the launch context of a worker container: dagctl worker
// registering with the master under its container id, logging to the
// container's log directory.
func workerLaunch(cfg Config, masterAddr string) *pb.ContainerLaunchContextProto {
	follow := []string{"--master", masterAddr}
	if cfg.StateDir != "" {
		follow = []string{"--master-file", masterFile(cfg.StateDir)}
	}
	cmd := append([]string{"./dagctl", "worker"}, follow...)
	cmd = append(cmd, "--name", "$CONTAINER_ID",
		"--slots", strconv.Itoa(max(cfg.Workers.Slots, 1)), "--listen", "$NM_HOST:0", "--dir", "$PWD/worker",
		"--failure-timeout", cfg.FailureTimeout.String(), "1><LOG_DIR>/stdout", "2><LOG_DIR>/stderr")
	env := []*pb.StringStringMapProto{}
	for k, v := range cfg.WorkerEnv {
		env = append(env, &pb.StringStringMapProto{Key: proto.String(k), Value: proto.String(v)})
	}
	return &pb.ContainerLaunchContextProto{
		LocalResources: []*pb.StringLocalResourceMapProto{{Key: proto.String("dagctl"), Value: cfg.Dagctl}},
		Environment:    env,
		Command:        cmd,
		Tokens:         workerTokens(cfg.Yarn.Credentials),
	}
}

// workerTokens are the AM's credentials (HDFS delegation tokens the
// submitter shipped) without the AMRMToken, which is the AM's alone, for
// the workers' launch contexts; nil when there are none.
func workerTokens(c *hadooprpc.Credentials) []byte {
	if c == nil {
		return nil
	}
	w := &hadooprpc.Credentials{Secrets: c.Secrets}
	for alias, t := range c.Tokens {
		if t.Kind != yarn.KindAMRMToken {
			w.AddToken(alias, t)
		}
	}
	if len(w.Tokens) == 0 && len(w.Secrets) == 0 {
		return nil
	}
	return w.Marshal()
}

// runJob submits the per-job mode's job to the ApplicationMaster's own
// master with dagctl submit and returns its outcome.
func runJob(ctx context.Context, j *Job, masterAddr string, log *slog.Logger) Result {
	args := append([]string{"submit", "--master", masterAddr}, j.SubmitArgs...)
	cmd := exec.CommandContext(ctx, j.Dagctl, args...)
	var out lockedBuffer
	w := io.Writer(&out)
	if j.Output != nil {
		w = io.MultiWriter(&out, j.Output)
	}
	cmd.Stdout, cmd.Stderr = w, w
	log.Info("submitting the job", "args", strings.Join(args, " "))
	err := cmd.Run()
	text := strings.TrimSpace(out.String())
	if len(text) > 4096 {
		text = "..." + text[len(text)-4096:]
	}
	if err == nil {
		return Result{Status: pb.FinalApplicationStatusProto_APP_SUCCEEDED, Diagnostics: lastLine(text)}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return Result{Status: pb.FinalApplicationStatusProto_APP_FAILED, Diagnostics: fmt.Sprintf("the job failed (dagctl submit exit %d):\n%s", ee.ExitCode(), text)}
	}
	return Result{Status: pb.FinalApplicationStatusProto_APP_FAILED, Diagnostics: fmt.Sprintf("the job could not be submitted: %v\n%s", err, text)}
}

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
