package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/colinmarc/hdfs/v2"
	"github.com/colinmarc/hdfs/v2/hadoopconf"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/dagflow/dagflow/internal/yarn"
	pb "github.com/dagflow/dagflow/internal/yarn/yarnpb"
	"github.com/dagflow/dagflow/internal/yarnam"
)

// YARN applications of dagflow.
const (
	yarnAppType    = "DAGFLOW"
	yarnSessionTag = "dagflow-session"
	yarnJobTag     = "dagflow-job"
	// envYarnDagctl carries the staged dagctl LocalResource (protojson)
	// into the ApplicationMaster, which hands it to worker containers.
	envYarnDagctl = "DAGFLOW_YARN_DAGCTL"
)

// yarnOptions are the flags shared by session start and per-job submit.
type yarnOptions struct {
	workers, slots, maxAttempts int
	workerMemory, amMemory      int64
	workerVCores                int
	queue, name, stagingDir     string
	idleTimeout, waitTimeout    time.Duration
}

func addYarnFlags(cmd *cobra.Command, o *yarnOptions, workersDefault int) {
	f := cmd.Flags()
	f.IntVar(&o.workers, "workers", workersDefault, "worker containers kept running (more are started when jobs need slots)")
	f.Int64Var(&o.workerMemory, "worker-memory", 1024, "memory of a worker container, MB")
	f.IntVar(&o.workerVCores, "worker-vcores", 1, "vcores of a worker container")
	f.IntVar(&o.slots, "slots", 4, "task slots per worker")
	f.StringVar(&o.queue, "queue", "default", "YARN queue")
	f.StringVar(&o.name, "name", "dagflow", "YARN application name")
	f.Int64Var(&o.amMemory, "am-memory", 1024, "memory of the ApplicationMaster (the dagflow master) container, MB")
	f.StringVar(&o.stagingDir, "staging-dir", "", "HDFS directory (hdfs://HOST:PORT/path) where binaries are staged (default: fs.defaultFS/user/USER/.dagflow)")
	f.DurationVar(&o.idleTimeout, "idle-timeout", 5*time.Minute, "release workers beyond --workers after this long idle")
	f.IntVar(&o.maxAttempts, "max-attempts", 2, "ApplicationMaster attempts (bounded by yarn.resourcemanager.am.max-attempts)")
	f.DurationVar(&o.waitTimeout, "wait-timeout", 5*time.Minute, "how long to wait for YARN to start the ApplicationMaster")
}

func (o *yarnOptions) check() error {
	switch {
	case o.workers < 0:
		return usageErrorf("--workers %d: must not be negative", o.workers)
	case o.slots < 1:
		return usageErrorf("--slots %d: must be at least 1", o.slots)
	case o.workerMemory < 1 || o.amMemory < 1:
		return usageErrorf("--worker-memory and --am-memory must be positive (MB)")
	case o.workerVCores < 1:
		return usageErrorf("--worker-vcores %d: must be at least 1", o.workerVCores)
	case o.maxAttempts < 1:
		return usageErrorf("--max-attempts %d: must be at least 1", o.maxAttempts)
	case o.queue == "":
		return usageErrorf("--queue must not be empty")
	}
	return nil
}

// yarnCommand is "dagctl yarn": sessions on YARN and the ApplicationMaster.
func yarnCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "yarn",
		Short: "run dagflow sessions on Hadoop YARN",
		Long: `yarn starts, lists and stops dagflow sessions on a Hadoop YARN cluster: a YARN
application whose ApplicationMaster is the dagflow master, which asks YARN for
worker containers as jobs need slots. Submit jobs to a session with
"dagctl submit --yarn APPLICATION_ID", or run one job as its own application
with "dagctl submit --target yarn". The cluster comes from HADOOP_CONF_DIR
(yarn-site.xml, core-site.xml), the user from HADOOP_USER_NAME. See
docs/yarn.md.`,
		GroupID: "daemons",
	}
	session := &cobra.Command{Use: "session", Short: "start, list and stop dagflow sessions on YARN"}
	session.AddCommand(yarnSessionStart(a), yarnSessionStop(a), yarnSessionList(a))
	cmd.AddCommand(session, yarnAMCommand(a))
	return cmd
}

// yarnEnv is what the YARN client verbs need.
type yarnEnv struct {
	cfg    *yarn.Config
	client *yarn.Client
}

func (a *app) yarnClient() (*yarnEnv, error) {
	cfg, err := yarn.ConfigFromEnv()
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	cl, err := yarn.NewClient(cfg)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	return &yarnEnv{cfg: cfg, client: cl}, nil
}

// yarnFailed maps a YARN client error: an unreachable ResourceManager is
// exit code 3.
func yarnFailed(err error) error {
	if strings.Contains(err.Error(), "no ResourceManager answered") {
		return unreachable(err)
	}
	return failed(err)
}

func yarnSessionStart(a *app) *cobra.Command {
	var o yarnOptions
	cmd := &cobra.Command{
		Use:   "start",
		Short: "start a session: a dagflow master as YARN ApplicationMaster, with workers in containers",
		Example: `  export HADOOP_CONF_DIR=/etc/hadoop/conf
  dagctl yarn session start --workers 2 --slots 4 --worker-memory 2048 --queue default --name my-session
  dagctl submit --yarn application_1700000000000_0001 --binary ./wordcount -- --input hdfs://nn:8020/in --output hdfs://nn:8020/out`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			y, err := a.yarnClient()
			if err != nil {
				return err
			}
			defer y.client.Close()
			id, rep, err := a.yarnLaunch(ctx, y, o, nil, nil)
			if err != nil {
				return err
			}
			addr := net.JoinHostPort(rep.GetHost(), strconv.Itoa(int(rep.GetRpcPort())))
			if a.json() {
				return a.printJSON(map[string]string{"application": id.String(), "master": addr, "tracking": rep.GetTrackingUrl()})
			}
			fmt.Fprintf(a.stdout, "session %s running: master %s (REST %s)\n", id, addr, rep.GetTrackingUrl())
			return nil
		},
	}
	addYarnFlags(cmd, &o, 2)
	cmd.Flags().Lookup("name").DefValue = "dagflow-session"
	cmd.Flags().Set("name", "dagflow-session")
	return cmd
}

// yarnLaunch stages dagctl (and, per job, the job binary), submits the
// application and waits until its ApplicationMaster registered (session)
// or the application was accepted (per job, when job is set).
func (a *app) yarnLaunch(ctx context.Context, y *yarnEnv, o yarnOptions, jobBinary *string, amArgs []string) (yarn.ApplicationID, *pb.ApplicationReportProto, error) {
	na, err := y.client.NewApplication(ctx)
	if err != nil {
		return yarn.ApplicationID{}, nil, yarnFailed(err)
	}
	id := yarn.AppIDFromProto(na.GetApplicationId())
	if maxC := na.GetMaximumCapability(); maxC != nil && (o.workerMemory > maxC.GetMemory() || o.amMemory > maxC.GetMemory() || int32(o.workerVCores) > maxC.GetVirtualCores()) {
		return id, nil, usageErrorf("the containers asked for exceed the cluster's maximum allocation <memory:%d MB, vCores:%d>", maxC.GetMemory(), maxC.GetVirtualCores())
	}
	fs, stageDir, err := a.yarnStaging(y.cfg, o.stagingDir)
	if err != nil {
		return id, nil, err
	}
	defer fs.client.Close()
	appDir := path.Join(stageDir, id.String())
	self, err := os.Executable()
	if err != nil {
		return id, nil, failed(err)
	}
	dagctlRes, err := fs.stage(self, path.Join(appDir, "dagctl"))
	if err != nil {
		return id, nil, failed(err)
	}
	resources := []*pb.StringLocalResourceMapProto{{Key: proto.String("dagctl"), Value: dagctlRes}}
	if jobBinary != nil {
		jobRes, err := fs.stage(*jobBinary, path.Join(appDir, "job"))
		if err != nil {
			return id, nil, failed(err)
		}
		resources = append(resources, &pb.StringLocalResourceMapProto{Key: proto.String("job"), Value: jobRes})
	}
	resJSON, err := protojson.Marshal(dagctlRes)
	if err != nil {
		return id, nil, failed(err)
	}
	cmdline := []string{"./dagctl", "yarn", "am",
		"--workers", strconv.Itoa(o.workers), "--worker-memory", strconv.FormatInt(o.workerMemory, 10),
		"--worker-vcores", strconv.Itoa(o.workerVCores), "--slots", strconv.Itoa(o.slots),
		"--idle-timeout", o.idleTimeout.String(), "--log-level", a.logLevel}
	if jobBinary != nil {
		cmdline = append(cmdline, "--job")
	} else {
		// A session survives AM restarts through its state in the staging
		// directory.
		cmdline = append(cmdline, "--state-dir", "hdfs://"+net.JoinHostPort(fs.host, fs.port)+appDir)
	}
	if len(amArgs) > 0 {
		cmdline = append(cmdline, "--")
		for _, s := range amArgs {
			cmdline = append(cmdline, shellQuote(s))
		}
	}
	cmdline = append(cmdline, "1><LOG_DIR>/stdout", "2><LOG_DIR>/stderr")
	kv := func(k, v string) *pb.StringStringMapProto {
		return &pb.StringStringMapProto{Key: proto.String(k), Value: proto.String(v)}
	}
	tag := yarnSessionTag
	if jobBinary != nil {
		tag = yarnJobTag
	}
	sub := &pb.ApplicationSubmissionContextProto{
		ApplicationId:                           na.GetApplicationId(),
		ApplicationName:                         proto.String(o.name),
		Queue:                                   proto.String(o.queue),
		ApplicationType:                         proto.String(yarnAppType),
		ApplicationTags:                         []string{tag},
		Resource:                                &pb.ResourceProto{Memory: proto.Int64(o.amMemory), VirtualCores: proto.Int32(1)},
		MaxAppAttempts:                          proto.Int32(int32(o.maxAttempts)),
		KeepContainersAcrossApplicationAttempts: proto.Bool(true),
		AmContainerSpec: &pb.ContainerLaunchContextProto{
			LocalResources: resources,
			Environment:    []*pb.StringStringMapProto{kv("HADOOP_USER_NAME", y.cfg.User), kv(envYarnDagctl, string(resJSON))},
			Command:        cmdline,
		},
	}
	if err := y.client.SubmitApplication(ctx, sub); err != nil {
		return id, nil, yarnFailed(err)
	}
	a.log.Info("application submitted", "application", id.String(), "queue", o.queue)
	if jobBinary != nil {
		rep, err := y.client.ApplicationReport(ctx, id)
		if err != nil {
			return id, nil, yarnFailed(err)
		}
		return id, rep, nil
	}
	wctx, cancel := context.WithTimeout(ctx, o.waitTimeout)
	defer cancel()
	rep, err := y.client.WaitApplication(wctx, id, func(r *pb.ApplicationReportProto) bool {
		return r.GetYarnApplicationState() == pb.YarnApplicationStateProto_RUNNING && r.GetRpcPort() > 0
	})
	if err != nil {
		return id, nil, failed(fmt.Errorf("session %s did not start: %w", id, err))
	}
	if yarn.Finished(rep.GetYarnApplicationState()) {
		return id, nil, failedf("session %s ended while starting (%s): %s", id, rep.GetYarnApplicationState(), rep.GetDiagnostics())
	}
	return id, rep, nil
}

// shellQuote quotes s for the bash command line of a container.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r == '/' || r == ':' || r == '=' || r == ',' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// stagingFS is the HDFS where applications' files are staged.
type stagingFS struct {
	client     *hdfs.Client
	host, port string
}

// yarnStaging connects to the staging directory's HDFS.
func (a *app) yarnStaging(cfg *yarn.Config, dir string) (*stagingFS, string, error) {
	if dir == "" {
		conf, err := hadoopconf.LoadFromEnvironment()
		if err != nil {
			return nil, "", usageErrorf("reading the Hadoop configuration: %v", err)
		}
		def := conf["fs.defaultFS"]
		if def == "" {
			return nil, "", usageErrorf("no --staging-dir and no fs.defaultFS in core-site.xml of HADOOP_CONF_DIR")
		}
		dir = strings.TrimRight(def, "/") + "/user/" + cfg.User + "/.dagflow"
	}
	u, err := url.Parse(dir)
	if err != nil || u.Scheme != "hdfs" || u.Host == "" || u.Path == "" {
		return nil, "", usageErrorf("--staging-dir %q: want hdfs://HOST:PORT/path", dir)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		host, port = u.Host, "8020"
	}
	cl, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{net.JoinHostPort(host, port)}, User: cfg.User})
	if err != nil {
		return nil, "", failed(fmt.Errorf("staging HDFS %s: %w", u.Host, err))
	}
	return &stagingFS{client: cl, host: host, port: port}, u.Path, nil
}

// stage copies a local file to HDFS and returns it as a LocalResource
// (size and modification time as the NodeManager checks them).
func (s *stagingFS) stage(local, remote string) (*pb.LocalResourceProto, error) {
	if err := s.client.MkdirAll(path.Dir(remote), 0o755); err != nil {
		return nil, fmt.Errorf("staging %s: %w", remote, err)
	}
	if err := s.client.Remove(remote); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("staging %s: %w", remote, err)
	}
	if err := s.client.CopyToRemote(local, remote); err != nil {
		return nil, fmt.Errorf("staging %s to %s: %w", local, remote, err)
	}
	st, err := s.client.Stat(remote)
	if err != nil {
		return nil, fmt.Errorf("staging %s: %w", remote, err)
	}
	port, _ := strconv.Atoi(s.port)
	return &pb.LocalResourceProto{
		Resource:   &pb.URLProto{Scheme: proto.String("hdfs"), Host: proto.String(s.host), Port: proto.Int32(int32(port)), File: proto.String(remote)},
		Size:       proto.Int64(st.Size()),
		Timestamp:  proto.Int64(st.ModTime().UnixMilli()),
		Type:       pb.LocalResourceTypeProto_FILE.Enum(),
		Visibility: pb.LocalResourceVisibilityProto_APPLICATION.Enum(),
	}, nil
}

func yarnSessionStop(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "stop APPLICATION_ID",
		Short: "stop a session: kill its YARN application (master and workers)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := yarn.ParseApplicationID(args[0])
			if err != nil {
				return usageErrorf("%v", err)
			}
			y, err := a.yarnClient()
			if err != nil {
				return err
			}
			defer y.client.Close()
			ctx := cmd.Context()
			if _, err := y.client.KillApplication(ctx, id, "session stopped with dagctl yarn session stop"); err != nil {
				return yarnFailed(err)
			}
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			rep, err := y.client.WaitApplication(wctx, id, func(*pb.ApplicationReportProto) bool { return false })
			if err != nil {
				return yarnFailed(err)
			}
			if a.json() {
				return a.printJSON(map[string]string{"application": id.String(), "state": rep.GetYarnApplicationState().String()})
			}
			fmt.Fprintf(a.stdout, "session %s %s\n", id, strings.ToLower(rep.GetYarnApplicationState().String()))
			return nil
		},
	}
}

func yarnSessionList(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "list the running dagflow sessions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			y, err := a.yarnClient()
			if err != nil {
				return err
			}
			defer y.client.Close()
			apps, err := y.client.Applications(cmd.Context(), &pb.GetApplicationsRequestProto{
				ApplicationTypes:  []string{yarnAppType},
				ApplicationTags:   []string{yarnSessionTag},
				ApplicationStates: []pb.YarnApplicationStateProto{pb.YarnApplicationStateProto_ACCEPTED, pb.YarnApplicationStateProto_RUNNING},
			})
			if err != nil {
				return yarnFailed(err)
			}
			type row struct {
				Application string `json:"application"`
				Name        string `json:"name"`
				Queue       string `json:"queue"`
				State       string `json:"state"`
				Master      string `json:"master,omitempty"`
			}
			rows := []row{}
			for _, r := range apps {
				rw := row{Application: yarn.AppIDFromProto(r.GetApplicationId()).String(), Name: r.GetName(), Queue: r.GetQueue(),
					State: r.GetYarnApplicationState().String()}
				if r.GetRpcPort() > 0 {
					rw.Master = net.JoinHostPort(r.GetHost(), strconv.Itoa(int(r.GetRpcPort())))
				}
				rows = append(rows, rw)
			}
			if a.json() {
				return a.printJSON(rows)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "APPLICATION\tNAME\tQUEUE\tSTATE\tMASTER")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Application, r.Name, r.Queue, r.State, r.Master)
			}
			return tw.Flush()
		},
	}
}

// yarnMaster returns the master address of a session from its
// application report.
func (a *app) yarnMaster(ctx context.Context, app string) (string, error) {
	id, err := yarn.ParseApplicationID(app)
	if err != nil {
		return "", usageErrorf("--yarn: %v", err)
	}
	y, err := a.yarnClient()
	if err != nil {
		return "", err
	}
	defer y.client.Close()
	r, err := y.client.ApplicationReport(ctx, id)
	if err != nil {
		return "", yarnFailed(err)
	}
	if r.GetYarnApplicationState() != pb.YarnApplicationStateProto_RUNNING || r.GetRpcPort() <= 0 {
		return "", failedf("session %s is %s, not running with a registered master: %s", id, r.GetYarnApplicationState(), r.GetDiagnostics())
	}
	return net.JoinHostPort(r.GetHost(), strconv.Itoa(int(r.GetRpcPort()))), nil
}

// submitYarn runs one job as its own YARN application (submit --target
// yarn): the ApplicationMaster runs a master, submits the job to it and
// ends the application with the job's final status and diagnostics.
func (a *app) submitYarn(ctx context.Context, o submitOptions, bin string, jobArgs []string) error {
	if err := o.yarn.check(); err != nil {
		return err
	}
	y, err := a.yarnClient()
	if err != nil {
		return err
	}
	defer y.client.Close()
	amArgs := []string{"--binary", "./job"}
	if o.parallelism > 0 {
		amArgs = append(amArgs, "--parallelism", strconv.Itoa(o.parallelism))
	}
	if o.maxRestarts >= 0 {
		amArgs = append(amArgs, "--max-restarts", strconv.Itoa(o.maxRestarts))
	}
	for flag, v := range map[string]string{"--shuffle": o.shuffle, "--from-savepoint": o.fromSavepoint,
		"--checkpoint-interval": o.ckInterval, "--checkpoint-dir": o.ckDir, "--state-backend": o.stateBackend} {
		if v != "" {
			amArgs = append(amArgs, flag, v)
		}
	}
	if o.allowNonRestored {
		amArgs = append(amArgs, "--allow-non-restored-state")
	}
	amArgs = append(append(amArgs, "--"), jobArgs...)
	id, _, err := a.yarnLaunch(ctx, y, o.yarn, &bin, amArgs)
	if err != nil {
		return err
	}
	if a.json() && o.detach {
		return a.printJSON(map[string]string{"application": id.String()})
	}
	fmt.Fprintf(a.stdout, "application %s submitted\n", id)
	if o.detach {
		return nil
	}
	rep, err := y.client.WaitApplication(ctx, id, func(*pb.ApplicationReportProto) bool { return false })
	if err != nil {
		return yarnFailed(err)
	}
	if a.json() {
		a.printJSON(map[string]string{"application": id.String(), "state": rep.GetYarnApplicationState().String(),
			"final_status": rep.GetFinalApplicationStatus().String(), "diagnostics": rep.GetDiagnostics()})
	} else {
		fmt.Fprintf(a.stdout, "application %s %s: %s\n%s\n", id, strings.ToLower(rep.GetYarnApplicationState().String()),
			rep.GetFinalApplicationStatus(), rep.GetDiagnostics())
	}
	if rep.GetFinalApplicationStatus() != pb.FinalApplicationStatusProto_APP_SUCCEEDED {
		return &exitError{code: exitFailed, silent: true}
	}
	return nil
}

// yarnAMCommand is the ApplicationMaster, run by YARN in the AM container.
func yarnAMCommand(a *app) *cobra.Command {
	var (
		o        yarnOptions
		job      bool
		stateDir string
	)
	cmd := &cobra.Command{
		Use:    "am [flags] [-- SUBMIT ARGS]",
		Short:  "run the ApplicationMaster (started by YARN, not by hand)",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			cid, err := yarn.ParseContainerID(os.Getenv("CONTAINER_ID"))
			if err != nil {
				return usageErrorf("yarn am runs in a YARN container: %v", err)
			}
			cfg, err := yarn.ConfigFromEnv()
			if err != nil {
				return usageErrorf("%v", err)
			}
			var dagctlRes pb.LocalResourceProto
			if err := protojson.Unmarshal([]byte(os.Getenv(envYarnDagctl)), &dagctlRes); err != nil {
				return usageErrorf("$%s: %v", envYarnDagctl, err)
			}
			host := os.Getenv("NM_HOST")
			if host == "" {
				host = "127.0.0.1"
			}
			wd, _ := os.Getwd()
			log := a.log.With(slog.String("attempt", cid.Attempt.String()))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			amCfg := yarnam.Config{
				Yarn: cfg, Host: host, Dir: filepath.Join(wd, "master"), Dagctl: &dagctlRes, Logger: log,
				Workers: yarnam.WorkerSpec{MemoryMB: o.workerMemory, VCores: int32(o.workerVCores), Slots: o.slots,
					MinWorkers: o.workers, IdleTimeout: o.idleTimeout},
				WorkerEnv: map[string]string{"HADOOP_USER_NAME": cfg.User},
				StateDir:  stateDir, Attempt: cid.Attempt.Attempt,
			}
			if job {
				amCfg.Job = &yarnam.Job{Dagctl: filepath.Join(wd, "dagctl"), SubmitArgs: args, Output: a.stderr}
			}
			res, err := yarnam.Run(ctx, amCfg)
			if err != nil {
				return failed(err)
			}
			fmt.Fprintf(a.stdout, "ApplicationMaster %s ended: %s: %s\n", cid.Attempt, res.Status, res.Diagnostics)
			return nil
		},
	}
	addYarnFlags(cmd, &o, 0)
	cmd.Flags().BoolVar(&job, "job", false, "per-job mode: submit the job given after -- and end with it")
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "session state directory (URI) kept across ApplicationMaster attempts")
	return cmd
}

// addSubmitYarnFlags adds submit's YARN flags: --yarn (a session) and
// --target yarn (per-job mode, with the session flags).
func addSubmitYarnFlags(cmd *cobra.Command, o *submitOptions) {
	f := cmd.Flags()
	f.StringVar(&o.yarnApp, "yarn", "", "submit to the YARN session APPLICATION_ID (its master comes from the application report)")
	f.StringVar(&o.target, "target", "", `"yarn": run the job as its own YARN application (per-job mode; see "dagctl yarn")`)
	f.IntVar(&o.yarn.workers, "yarn-workers", 0, "with --target yarn: worker containers started up front (more as the job needs slots)")
	f.Int64Var(&o.yarn.workerMemory, "yarn-worker-memory", 1024, "with --target yarn: memory of a worker container, MB")
	f.IntVar(&o.yarn.workerVCores, "yarn-worker-vcores", 1, "with --target yarn: vcores of a worker container")
	f.IntVar(&o.yarn.slots, "yarn-slots", 4, "with --target yarn: task slots per worker")
	f.StringVar(&o.yarn.queue, "yarn-queue", "default", "with --target yarn: YARN queue")
	f.StringVar(&o.yarn.name, "yarn-name", "dagflow-job", "with --target yarn: YARN application name")
	f.Int64Var(&o.yarn.amMemory, "yarn-am-memory", 1024, "with --target yarn: memory of the ApplicationMaster container, MB")
	f.StringVar(&o.yarn.stagingDir, "yarn-staging-dir", "", "with --target yarn: HDFS staging directory (default: fs.defaultFS/user/USER/.dagflow)")
	o.yarn.idleTimeout, o.yarn.maxAttempts, o.yarn.waitTimeout = time.Minute, 1, 5*time.Minute
}

// submitYarnTarget resolves --yarn to the session's master address and
// checks --target.
func (a *app) submitYarnTarget(ctx context.Context, o *submitOptions) error {
	switch o.target {
	case "", "yarn":
	default:
		return usageErrorf("--target %q: want yarn (or no --target for --master)", o.target)
	}
	if o.target == "yarn" && o.yarnApp != "" {
		return usageErrorf("give --yarn APPLICATION_ID (a session) or --target yarn (a new application), not both")
	}
	if o.yarnApp == "" {
		return nil
	}
	addr, err := a.yarnMaster(ctx, o.yarnApp)
	if err != nil {
		return err
	}
	a.master = addr
	return nil
}

// submitYarnBinary builds the job if needed and runs it in per-job mode.
func (a *app) submitYarnBinary(ctx context.Context, o submitOptions, own, jobArgs []string) error {
	bin := o.binary
	if bin == "" {
		dir, err := os.MkdirTemp("", "dagctl-build-")
		if err != nil {
			return failed(err)
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "job")
		if err := buildPackage(ctx, own[0], bin, a.stderr); err != nil {
			return failed(err)
		}
	}
	return a.submitYarn(ctx, o, bin, jobArgs)
}
