package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dagflow/dagflow/internal/secure"
	"github.com/dagflow/dagflow/internal/yarnam"
	"github.com/dagflow/dagflow/master"
	"github.com/dagflow/dagflow/worker"
)

// daemonCommands are the verbs that run the cluster's daemons.
func daemonCommands(a *app) []*cobra.Command {
	return []*cobra.Command{masterCommand(a), workerCommand(a), shuffleCommand(a), localClusterCommand(a)}
}

const daemonLong = `

Every flag can also come from the environment variable DAGFLOW_<FLAG> (upper
case, '-' as '_', e.g. DAGFLOW_LOG_LEVEL) or from the YAML file of --config
(keys are the flag names); flags win over the environment, the environment
over the file. See docs/configuration.md.`

// daemonCommand marks cmd as a daemon and adds the flags every daemon has.
func daemonCommand(cmd *cobra.Command, advertise *string) *cobra.Command {
	cmd.Annotations = map[string]string{annDaemon: "true"}
	cmd.Long += daemonLong
	cmd.Flags().String("config", "", "YAML file of flag values (keys are flag names; or $DAGFLOW_CONFIG)")
	if advertise != nil {
		cmd.Flags().StringVar(advertise, "advertise", "", "HOST:PORT others reach this daemon at (default: from --listen; never a wildcard address)")
	}
	return cmd
}

// checkAdvertise validates an --advertise address ("" is fine).
func checkAdvertise(addr string) error {
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usageErrorf("--advertise %q: want HOST:PORT: %v", addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return usageErrorf("--advertise %q: port %q: want 1 to 65535", addr, port)
	}
	if host == "" {
		return usageErrorf("--advertise %q: want a host name or address", addr)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return usageErrorf("--advertise %q: %s is a wildcard address; give one others can reach", addr, host)
	}
	return nil
}

// tempDir returns dir, or a temporary directory removed by the returned
// function.
func tempDir(dir, pattern string) (string, func(), error) {
	if dir != "" {
		return dir, func() {}, nil
	}
	d, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", nil, failed(err)
	}
	return d, func() { os.RemoveAll(d) }, nil
}

// ready announces a started daemon: a line of text, or one JSON object.
func (a *app) ready(text string, fields map[string]any) {
	if a.json() {
		a.printJSON(fields)
		return
	}
	fmt.Fprintln(a.stdout, text)
}

type masterOptions struct {
	sec                                                    daemonSecurity
	maxUploadBytes                                         int64
	maxJobsPerUser                                         int
	allowedDirs                                            []string
	listen, http, dir, savepointDir, storageDir, advertise string
	failureTimeout, jobHistoryAge                          time.Duration
	jobHistory                                             int
	ha                                                     haOptions
	prov                                                   provisionOptions
}

func addJobHistoryFlags(f *pflag.FlagSet, n *int, age *time.Duration) {
	f.IntVar(n, "job-history", 1000, "ended jobs the master keeps for list and status")
	f.DurationVar(age, "job-history-age", 24*time.Hour, "the master forgets ended jobs older than this")
}

func checkJobHistory(n int, age time.Duration) error {
	if n < 0 {
		return usageErrorf("--job-history %d: must not be negative", n)
	}
	if age < 0 {
		return usageErrorf("--job-history-age %v: must not be negative", age)
	}
	return nil
}

func masterCommand(a *app) *cobra.Command {
	var o masterOptions
	cmd := &cobra.Command{
		Use:   "master",
		Short: "run the master daemon",
		Long: `master runs the cluster's master until SIGINT or SIGTERM: it accepts jobs
from dagctl, schedules their tasks on the registered workers, and serves the
REST API and /metrics on --http.`,
		Example: `  dagctl master --listen 0.0.0.0:7070 --advertise master1.example.com:7070 --http 0.0.0.0:7071
  DAGFLOW_LOG_LEVEL=debug dagctl master --config /etc/dagflow/master.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkAdvertise(o.advertise); err != nil {
				return err
			}
			if err := checkJobHistory(o.jobHistory, o.jobHistoryAge); err != nil {
				return err
			}
			if o.maxUploadBytes < 0 || o.maxJobsPerUser < 0 {
				return usageErrorf("--max-upload-bytes and --max-jobs-per-user must not be negative")
			}
			node, authn, kr, err := o.sec.start(cmd.Context(), a.log, map[string]string{"--listen": o.listen, "--http": o.http})
			if err != nil {
				return err
			}
			defer node.Close()
			dir, cleanup, err := tempDir(o.dir, "dagflow-master-")
			if err != nil {
				return err
			}
			defer cleanup()
			prov, stopLauncher, err := o.startProvider(cmd.Context(), a, dir)
			if err != nil {
				return err
			}
			defer stopLauncher()
			defer stopProvider(prov, a.log)
			cfg := master.ServerConfig{Provider: prov, Listen: o.listen, HTTP: o.http, Dir: dir, FailureTimeout: o.failureTimeout,
				Logger: a.log, SavepointDir: o.savepointDir, StorageDir: strings.TrimRight(o.storageDir, "/"),
				Advertise: o.advertise, JobHistory: o.jobHistory, JobHistoryAge: o.jobHistoryAge,
				TLS: node, Authenticator: authn, GossipKeyring: kr,
				MaxUploadBytes: o.maxUploadBytes, MaxJobsPerUser: o.maxJobsPerUser, AllowedDirs: o.allowedDirs}
			if o.ha.mode != "" && o.ha.mode != "none" {
				return a.runHAMaster(cmd.Context(), cfg, o.ha)
			}
			s, err := master.NewServer(cfg)
			if err != nil {
				return failed(err)
			}
			a.ready(fmt.Sprintf("master listening on %s (REST %s)", s.Addr(), s.HTTPAddr()),
				map[string]any{"daemon": "master", "addr": s.Addr(), "http": s.HTTPAddr()})
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			s.Close()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:7070", "gRPC address")
	f.StringVar(&o.http, "http", "127.0.0.1:7071", "REST and /metrics address (empty disables)")
	f.StringVar(&o.dir, "dir", "", "directory for job binaries (default: a temporary directory)")
	f.DurationVar(&o.failureTimeout, "failure-timeout", 3*time.Second, "declare a silent worker lost after about this long")
	f.StringVar(&o.savepointDir, "savepoint-dir", "", "default directory (URI) of savepoints")
	f.StringVar(&o.storageDir, "storage-dir", "", "directory (URI, e.g. hdfs://nn:8020/dagflow) keeping job binaries and plans beyond the local disk")
	addJobHistoryFlags(f, &o.jobHistory, &o.jobHistoryAge)
	addDaemonSecurityFlags(f, &o.sec, true)
	f.Int64Var(&o.maxUploadBytes, "max-upload-bytes", 1<<30, "reject job binaries larger than this (0: no limit)")
	f.IntVar(&o.maxJobsPerUser, "max-jobs-per-user", 0, "reject submissions of a user already running this many jobs (0: no limit)")
	addHAFlags(f, &o.ha)
	f.StringSliceVar(&o.allowedDirs, "allowed-dirs", nil, "comma-separated roots (paths or URIs) savepoint, checkpoint and restore directories must lie under (default with TLS: --savepoint-dir and --storage-dir; without TLS: no check)")
	addProvisionFlags(f, &o.prov)
	return daemonCommand(cmd, &o.advertise)
}

type workerOptions struct {
	sec                                                           daemonSecurity
	listen, name, dir, http, shuffleDaemon, shuffleDir, advertise string
	masterFile                                                    string
	slots                                                         int
	failureTimeout                                                time.Duration
}

func workerCommand(a *app) *cobra.Command {
	var o workerOptions
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "run a worker daemon",
		Long: `worker runs a worker daemon until SIGINT or SIGTERM: it registers with the
master (--master or $DAGFLOW_MASTER), offers --slots task slots and runs one
executor process per job.`,
		Example: `  dagctl worker --master 10.0.0.5:7070 --slots 8 --listen 0.0.0.0:7080 --advertise 10.0.0.6:7080
  dagctl worker --master 10.0.0.5:7070 --shuffle-daemon 127.0.0.1:7072 --shuffle-dir /data/shuffle`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.master == "" && a.zk == "" && o.masterFile == "" {
				return usageErrorf("no master address: pass --master HOST:PORT or set DAGFLOW_MASTER (or --zk for an HA cluster)")
			}
			if (o.shuffleDaemon == "") != (o.shuffleDir == "") {
				return usageErrorf("--shuffle-daemon and --shuffle-dir go together")
			}
			if o.slots < 1 {
				return usageErrorf("--slots %d: must be at least 1", o.slots)
			}
			if err := checkAdvertise(o.advertise); err != nil {
				return err
			}
			// The worker's /metrics port has no TLS even when gRPC has.
			if secure.CheckListen("--http", o.http, false, o.sec.insecure) != nil {
				return usageErrorf("--http %s is not a loopback address and /metrics is served without TLS or authentication: bind it to loopback, or pass --insecure to serve it there anyway", o.http)
			}
			node, _, kr, err := o.sec.start(cmd.Context(), a.log, map[string]string{"--listen": o.listen})
			if err != nil {
				return err
			}
			defer node.Close()
			dir, cleanup, err := tempDir(o.dir, "dagflow-worker-")
			if err != nil {
				return err
			}
			defer cleanup()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			leaders, closeZK, err := a.leaderSource(ctx)
			if err != nil {
				return err
			}
			defer closeZK()
			if o.masterFile != "" {
				leaders = yarnam.FileLeaders{File: o.masterFile}
			}
			d, err := worker.StartDaemon(ctx, worker.DaemonConfig{Name: o.name, Listen: o.listen, Master: a.master, Slots: o.slots,
				Dir: dir, FailureTimeout: o.failureTimeout, HTTP: o.http, ShuffleDaemon: o.shuffleDaemon, ShuffleDir: o.shuffleDir,
				Logger: a.log, Advertise: o.advertise, TLS: node, GossipKeyring: kr, Leaders: leaders})
			if err != nil {
				return failed(err)
			}
			a.ready(fmt.Sprintf("worker %s listening on %s", d.Name(), d.Addr()),
				map[string]any{"daemon": "worker", "name": d.Name(), "addr": d.Addr()})
			<-ctx.Done()
			d.Close()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:0", "gRPC address")
	f.StringVar(&o.name, "name", "", "worker name (default: host-port)")
	f.StringVar(&o.masterFile, "master-file", "", "follow the master named in this file (URI; the YARN ApplicationMaster publishes it): register with each newer one")
	f.IntVar(&o.slots, "slots", 4, "task slots")
	f.StringVar(&o.dir, "dir", "", "directory for binaries, shuffle files and logs (default: a temporary directory)")
	f.DurationVar(&o.failureTimeout, "failure-timeout", 3*time.Second, "gossip failure timeout")
	f.StringVar(&o.http, "http", "", "serve /metrics, /healthz and /readyz on this address")
	f.StringVar(&o.shuffleDaemon, "shuffle-daemon", "", "gRPC address of this host's shuffle daemon (dagctl shuffle), for jobs submitted with --shuffle external")
	f.StringVar(&o.shuffleDir, "shuffle-dir", "", "the shuffle daemon's --dir (producers stage partitions in its staging directory)")
	addDaemonSecurityFlags(f, &o.sec, false)
	return daemonCommand(cmd, &o.advertise)
}

type localClusterOptions struct {
	secure                           bool
	workers, slots, jobHistory       int
	listen, http, shuffle, advertise string
	jobHistoryAge                    time.Duration
}

func localClusterCommand(a *app) *cobra.Command {
	var o localClusterOptions
	cmd := &cobra.Command{
		Use:   "local-cluster",
		Short: "run a master and N workers (and a shuffle daemon) on loopback",
		Long: `local-cluster starts a master, --workers worker processes and, with
--shuffle-daemon, an external shuffle daemon, all on this host, until SIGINT or
SIGTERM. The daemons' output goes to stderr. Point clients at it with
export DAGFLOW_MASTER=<--listen>.`,
		Example: `  dagctl local-cluster --workers 3 --slots 2
  dagctl local-cluster --listen 127.0.0.1:17070 --http 127.0.0.1:17071 --shuffle-daemon 127.0.0.1:17072`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.workers < 1 {
				return usageErrorf("--workers %d: must be at least 1", o.workers)
			}
			if o.slots < 1 {
				return usageErrorf("--slots %d: must be at least 1", o.slots)
			}
			if err := checkAdvertise(o.advertise); err != nil {
				return err
			}
			if err := checkJobHistory(o.jobHistory, o.jobHistoryAge); err != nil {
				return err
			}
			return a.localCluster(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.workers, "workers", 2, "worker processes")
	f.IntVar(&o.slots, "slots", 4, "slots per worker")
	f.StringVar(&o.listen, "listen", "127.0.0.1:7070", "master gRPC address")
	f.StringVar(&o.http, "http", "127.0.0.1:7071", "master REST address")
	f.StringVar(&o.shuffle, "shuffle-daemon", "", "also start a shuffle daemon on this address, shared by the workers (for submit --shuffle external)")
	f.BoolVar(&o.secure, "secure", false, "turn security on: a development CA, mutual TLS, a gossip key and an admin token printed once")
	addJobHistoryFlags(f, &o.jobHistory, &o.jobHistoryAge)
	daemonCommand(cmd, &o.advertise)
	f.Lookup("advertise").Usage = "HOST:PORT others reach the master at (default: --listen)"
	return cmd
}

func (a *app) localCluster(ctx context.Context, o localClusterOptions) error {
	self, err := os.Executable()
	if err != nil {
		return failed(err)
	}
	dir, err := os.MkdirTemp("", "dagflow-local-cluster-")
	if err != nil {
		return failed(err)
	}
	defer os.RemoveAll(dir)
	env := childEnv(os.Environ())
	logFlags := []string{"--log-level", a.logLevel, "--log-format", a.logFormat}
	var sec *localSecurity
	if o.secure {
		if sec, err = newLocalSecurity(filepath.Join(dir, "pki"), o.workers); err != nil {
			return failed(err)
		}
		env = append(env, envName("gossip-key")+"="+sec.gossipKey)
	}
	var procs []*exec.Cmd
	start := func(args ...string) error {
		cmd := exec.Command(self, append(args, logFlags...)...)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = a.stderr, a.stderr
		if err := cmd.Start(); err != nil {
			return failedf("start %s: %w", args[0], err)
		}
		procs = append(procs, cmd)
		return nil
	}
	defer func() {
		for _, p := range procs {
			p.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			p.Wait()
		}
	}()
	masterArgs := []string{"master", "--listen", o.listen, "--http", o.http, "--dir", filepath.Join(dir, "master"),
		"--job-history", strconv.Itoa(o.jobHistory), "--job-history-age", o.jobHistoryAge.String()}
	if o.advertise != "" {
		masterArgs = append(masterArgs, "--advertise", o.advertise)
	}
	if sec != nil {
		masterArgs = append(append(masterArgs, sec.node("master")...), "--token-file", sec.tokens)
	}
	if err := start(masterArgs...); err != nil {
		return err
	}
	var shuffleFlags []string
	if o.shuffle != "" {
		sdir := filepath.Join(dir, "shuffle")
		args := []string{"shuffle", "--master", o.listen, "--listen", o.shuffle, "--dir", sdir}
		if sec != nil {
			args = append(append(args, "--name", "shuffle", "--token-file", sec.tokens), sec.node("shuffle")...)
		}
		if err := start(args...); err != nil {
			return err
		}
		shuffleFlags = []string{"--shuffle-daemon", o.shuffle, "--shuffle-dir", sdir}
	}
	for i := 0; i < o.workers; i++ {
		name := "worker-" + strconv.Itoa(i)
		args := append([]string{"worker", "--master", o.listen, "--name", name, "--slots", strconv.Itoa(o.slots),
			"--listen", "127.0.0.1:0", "--dir", filepath.Join(dir, name)}, shuffleFlags...)
		if sec != nil {
			args = append(args, sec.node(name)...)
		}
		if err := start(args...); err != nil {
			return err
		}
	}
	if sec != nil {
		a.ready(fmt.Sprintf("local cluster (secure): master %s (REST https://%s), %d workers; export DAGFLOW_MASTER=%s DAGFLOW_TOKEN=%s; pass --tls-ca %s to clients; Ctrl-C stops it",
			o.listen, o.http, o.workers, o.listen, sec.token, sec.ca),
			map[string]any{"daemon": "local-cluster", "master": o.listen, "http": o.http, "workers": o.workers,
				"token": sec.token, "tlsCA": sec.ca})
	} else {
		a.ready(fmt.Sprintf("local cluster: master %s (REST http://%s), %d workers; export DAGFLOW_MASTER=%s; Ctrl-C stops it",
			o.listen, o.http, o.workers, o.listen),
			map[string]any{"daemon": "local-cluster", "master": o.listen, "http": o.http, "workers": o.workers})
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return nil
}

// childEnv is the environment of local-cluster's daemons: without the
// DAGFLOW_* variables of daemon flags, which local-cluster passes as flags
// itself where they apply (one DAGFLOW_LISTEN must not reach both the
// master and the workers).
func childEnv(environ []string) []string {
	names := map[string]bool{}
	root := newRoot(&app{})
	for _, c := range daemonCommands(&app{}) {
		c.Flags().VisitAll(func(f *pflag.Flag) { names[envName(f.Name)] = true })
	}
	root.PersistentFlags().VisitAll(func(f *pflag.Flag) { names[envName(f.Name)] = true })
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if !names[k] {
			out = append(out, kv)
		}
	}
	return out
}
