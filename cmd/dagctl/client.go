package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/master"
	"github.com/dagflow/dagflow/worker"
)

// clientFlags are the flags every client command shares.
type clientFlags struct {
	master string
	output string
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.master, "master", os.Getenv("DAGFLOW_MASTER"), "master address host:port (or $DAGFLOW_MASTER)")
	fs.StringVar(&c.output, "output", "text", "output format: text or json")
}

func (c *clientFlags) check() error {
	if c.master == "" {
		return errors.New("no master address: pass --master HOST:PORT or set DAGFLOW_MASTER")
	}
	if c.output != "text" && c.output != "json" {
		return fmt.Errorf("--output %q: want text or json", c.output)
	}
	return nil
}

// dial connects to the master and checks it answers.
func (c *clientFlags) dial(ctx context.Context) (rpcpb.MasterClient, func(), error) {
	conn, err := grpc.NewClient(c.master, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return nil, nil, fmt.Errorf("master address %q: %w", c.master, err)
	}
	mc := rpcpb.NewMasterClient(conn)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := mc.ListJobs(pctx, &rpcpb.ListJobsRequest{}); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("master unreachable at %s: %s", c.master, status.Convert(err).Message())
	}
	return mc, func() { conn.Close() }, nil
}

func splitArgs(args []string) (own, job []string) {
	for i, a := range args {
		if a == "--" {
			return args[:i], args[i+1:]
		}
	}
	return args, nil
}

func submitCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("submit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs)
	parallelism := fs.Int("parallelism", 0, "default parallelism of the job (0: the job's own)")
	detach := fs.Bool("detach", false, "print the job id and return without following the job")
	binary := fs.String("binary", "", "use this job binary instead of building PACKAGE")
	maxRestarts := fs.Int("max-restarts", -1, "restart limit (-1: the master's default)")
	shuffleMode := fs.String("shuffle", "", "where blocking partitions live: worker (default) or external (the hosts' shuffle daemons)")
	fromSavepoint := fs.String("from-savepoint", "", "start from this savepoint or retained checkpoint (directory or _metadata URI)")
	allowNonRestored := fs.Bool("allow-non-restored-state", false, "with --from-savepoint: drop state of operators the job no longer has")
	ckInterval := fs.String("checkpoint-interval", "", "checkpoint interval, e.g. 10s (overrides the job's; 0 disables)")
	ckDir := fs.String("checkpoint-dir", "", "checkpoint directory URI, e.g. hdfs://nn:8020/ckpt (overrides the job's)")
	backend := fs.String("state-backend", "", "keyed state backend: heap or pebble (overrides the job's)")
	own, jobArgs := splitArgs(args)
	if err := fs.Parse(own); err != nil {
		return 2
	}
	fail := func(code int, err error) int {
		fmt.Fprintln(stderr, "dagctl submit:", err)
		return code
	}
	if err := cf.check(); err != nil {
		return fail(2, err)
	}
	if *parallelism < 0 {
		return fail(2, fmt.Errorf("--parallelism %d: must not be negative", *parallelism))
	}
	switch *shuffleMode {
	case "", worker.ShuffleWorker, worker.ShuffleExternal:
	default:
		return fail(2, fmt.Errorf("--shuffle %q: want %s or %s", *shuffleMode, worker.ShuffleWorker, worker.ShuffleExternal))
	}
	if (*binary == "") == (fs.NArg() == 0) || fs.NArg() > 1 {
		return fail(2, errors.New("give exactly one of PACKAGE or --binary FILE"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	mc, closeConn, err := cf.dial(ctx)
	if err != nil {
		return fail(1, err)
	}
	defer closeConn()
	bin := *binary
	if bin == "" {
		dir, err := os.MkdirTemp("", "dagctl-build-")
		if err != nil {
			return fail(1, err)
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "job")
		pkg := fs.Arg(0)
		if st, err := os.Stat(pkg); err == nil && st.IsDir() && !strings.HasPrefix(pkg, ".") && !filepath.IsAbs(pkg) {
			pkg = "./" + pkg
		}
		fmt.Fprintf(stderr, "building %s\n", pkg)
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
		if st, err := os.Stat(pkg); err == nil && st.IsDir() {
			// Build inside the package's directory so that its own module
			// (go.mod above it) applies.
			build = exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
			build.Dir = pkg
		}
		var out bytes.Buffer
		build.Stdout, build.Stderr = &out, &out
		if err := build.Run(); err != nil {
			return fail(1, fmt.Errorf("package %s does not build: %v\n%s", pkg, err, strings.TrimSpace(out.String())))
		}
	}
	var env []string
	if wd, err := os.Getwd(); err == nil { // relative paths in job arguments mean files here
		env = append(env, dagflow.ClientDirEnv+"="+wd)
	}
	if *parallelism > 0 {
		env = append(env, dagflow.ParallelismEnv+"="+strconv.Itoa(*parallelism))
	}
	if *shuffleMode != "" {
		env = append(env, dagflow.ShuffleEnv+"="+*shuffleMode)
	}
	if *ckInterval != "" {
		if d, err := time.ParseDuration(*ckInterval); err != nil || d < 0 {
			return fail(2, fmt.Errorf("--checkpoint-interval %q: want a duration such as 10s", *ckInterval))
		}
		env = append(env, dagflow.CheckpointIntervalEnv+"="+*ckInterval)
	}
	if *ckDir != "" {
		env = append(env, dagflow.CheckpointDirEnv+"="+*ckDir)
	}
	if *backend != "" {
		env = append(env, dagflow.StateBackendEnv+"="+*backend)
	}
	sub, err := planOf(ctx, bin, jobArgs, env)
	if err != nil {
		return fail(1, err)
	}
	ref, err := upload(ctx, mc, bin)
	if err != nil {
		return fail(1, err)
	}
	planJSON, _ := json.Marshal(sub.Plan)
	splitsJSON, _ := json.Marshal(sub.Splits)
	resp, err := mc.SubmitJob(ctx, &rpcpb.SubmitJobRequest{Name: sub.Plan.Job, Binary: ref, Args: jobArgs, PlanJson: planJSON,
		SplitsJson: splitsJSON, MaxRestarts: int32(*maxRestarts), Env: env, RestoreFrom: *fromSavepoint, AllowNonRestoredState: *allowNonRestored})
	if err != nil {
		return fail(1, errors.New(status.Convert(err).Message()))
	}
	if cf.output == "json" && *detach {
		json.NewEncoder(stdout).Encode(map[string]string{"job": resp.JobId})
		return 0
	}
	fmt.Fprintf(stdout, "job %s submitted\n", resp.JobId)
	if *detach {
		return 0
	}
	return follow(ctx, mc, resp.JobId, cf.output, stdout, stderr)
}

// planOf runs the job binary in plan mode: it validates the graph and
// prints the plan and the splits of its sources.
func planOf(ctx context.Context, bin string, args, env []string) (*dagflow.Submission, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(append(os.Environ(), env...), worker.EnvMode+"=plan")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("job binary %s failed to build its plan: %v\n%s", filepath.Base(bin), err, strings.TrimSpace(errb.String()))
	}
	var sub dagflow.Submission
	if err := json.Unmarshal(lastJSONLine(out.Bytes()), &sub); err != nil || sub.Plan == nil {
		return nil, fmt.Errorf("job binary %s did not print a plan (does it call dagflow.Run?): %v", filepath.Base(bin), err)
	}
	return &sub, nil
}

func lastJSONLine(b []byte) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		if bytes.HasPrefix(lines[i], []byte("{")) {
			return lines[i]
		}
	}
	return nil
}

// upload sends the binary unless the master has it (content-addressed).
func upload(ctx context.Context, mc rpcpb.MasterClient, path string) (*rpcpb.BinaryRef, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	ref := &rpcpb.BinaryRef{Sha256: hex.EncodeToString(sum[:]), Size: int64(len(data))}
	has, err := mc.HasBinary(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("check binary on master: %s", status.Convert(err).Message())
	}
	if has.Present {
		return ref, nil
	}
	stream, err := mc.UploadBinary(ctx)
	if err != nil {
		return nil, err
	}
	const chunk = 1 << 20
	for off := 0; off < len(data) || off == 0; off += chunk {
		c := &rpcpb.BinaryChunk{Data: data[off:min(off+chunk, len(data))]}
		if off == 0 {
			c.Ref = ref
		}
		if err := stream.Send(c); err != nil {
			return nil, fmt.Errorf("upload binary: %w", err)
		}
		if len(data) == 0 {
			break
		}
	}
	if _, err := stream.CloseAndRecv(); err != nil {
		return nil, fmt.Errorf("upload binary: %s", status.Convert(err).Message())
	}
	return ref, nil
}

func jobStatus(ctx context.Context, mc rpcpb.MasterClient, id string) (*master.JobStatus, error) {
	doc, err := mc.JobStatus(ctx, &rpcpb.JobRef{JobId: id})
	if err != nil {
		return nil, errors.New(status.Convert(err).Message())
	}
	var st master.JobStatus
	if err := json.Unmarshal(doc.Json, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func ended(state string) bool {
	switch state {
	case "finished", "failed", "canceled":
		return true
	}
	return false
}

// follow prints progress until the job ends; the exit code says how.
func follow(ctx context.Context, mc rpcpb.MasterClient, id, output string, stdout, stderr io.Writer) int {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		st, err := jobStatus(context.WithoutCancel(ctx), mc, id)
		if err != nil {
			fmt.Fprintln(stderr, "dagctl:", err)
			return 1
		}
		if ended(st.State) {
			if output == "json" {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				enc.Encode(st)
			} else {
				fmt.Fprintf(stderr, "\n")
				fmt.Fprintf(stdout, "job %s %s after %s (%d restarts)\n", id, st.State, st.Elapsed.Round(time.Millisecond), st.Restarts)
				if st.Reason != "" {
					fmt.Fprintf(stdout, "reason: %s\n", st.Reason)
				}
			}
			if st.State == "finished" {
				return 0
			}
			return 1
		}
		var in int64
		for _, v := range st.Vertices {
			if v.Kind == "source" {
				in += v.RecordsOut
			}
		}
		fmt.Fprintf(stderr, "\r[%s] %s  splits %d/%d done  %d records read  %d restarts   ",
			st.Elapsed.Truncate(time.Second), st.State, st.Splits.Done, st.Splits.Total, in, st.Restarts)
		select {
		case <-ctx.Done():
			fmt.Fprintf(stderr, "\nstopped following; the job keeps running (dagctl status %s, dagctl cancel %s)\n", id, id)
			return 130
		case <-tick.C:
		}
	}
}

func listCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := cf.check(); err != nil {
		fmt.Fprintln(stderr, "dagctl list:", err)
		return 2
	}
	ctx := context.Background()
	mc, closeConn, err := cf.dial(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "dagctl list:", err)
		return 1
	}
	defer closeConn()
	doc, err := mc.ListJobs(ctx, &rpcpb.ListJobsRequest{})
	if err != nil {
		fmt.Fprintln(stderr, "dagctl list:", status.Convert(err).Message())
		return 1
	}
	if cf.output == "json" {
		stdout.Write(doc.Json)
		fmt.Fprintln(stdout)
		return 0
	}
	var jobs []master.JobStatus
	if err := json.Unmarshal(doc.Json, &jobs); err != nil {
		fmt.Fprintln(stderr, "dagctl list:", err)
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tNAME\tSTATE\tELAPSED\tRESTARTS")
	for _, j := range jobs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", j.ID, j.Name, j.State, j.Elapsed.Round(time.Second), j.Restarts)
	}
	tw.Flush()
	return 0
}

func jobArg(name string, args []string, stdout, stderr io.Writer, extra func(*flag.FlagSet)) (*clientFlags, string, *flag.FlagSet, bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := &clientFlags{}
	cf.register(fs)
	if extra != nil {
		extra(fs)
	}
	// The job id may stand before, between or after the flags.
	var ids []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, "", nil, false
		}
		if fs.NArg() == 0 {
			break
		}
		ids = append(ids, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(ids) != 1 {
		fmt.Fprintf(stderr, "dagctl %s: want exactly one JOB id, got %d\n", name, len(ids))
		return nil, "", nil, false
	}
	id := ids[0]
	if err := cf.check(); err != nil {
		fmt.Fprintf(stderr, "dagctl %s: %v\n", name, err)
		return nil, "", nil, false
	}
	return cf, id, fs, true
}

func statusCmd(args []string, stdout, stderr io.Writer) int {
	cf, id, _, ok := jobArg("status", args, stdout, stderr, nil)
	if !ok {
		return 2
	}
	ctx := context.Background()
	mc, closeConn, err := cf.dial(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "dagctl status:", err)
		return 1
	}
	defer closeConn()
	st, err := jobStatus(ctx, mc, id)
	if err != nil {
		fmt.Fprintln(stderr, "dagctl status:", err)
		return 1
	}
	if cf.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(st)
		return 0
	}
	fmt.Fprintf(stdout, "job %s (%s): %s, elapsed %s, %d restarts, splits %d/%d done\n", st.ID, st.Name, st.State,
		st.Elapsed.Round(time.Millisecond), st.Restarts, st.Splits.Done, st.Splits.Total)
	if st.Reason != "" {
		fmt.Fprintf(stdout, "reason: %s\n", st.Reason)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nVERTEX\tKIND\tPAR\tRECORDS IN\tRECORDS OUT\tOUT/S\tBACK-PRESSURE")
	for _, v := range st.Vertices {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.0f\t%.0f%%\n", v.Name, v.Kind, v.Parallelism, v.RecordsIn, v.RecordsOut, v.Throughput, 100*v.BackPressure)
	}
	fmt.Fprintln(tw, "\nTASK\tATTEMPT\tSTATE\tWORKER\tREGION")
	for _, t := range st.Tasks {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\n", t.Name, t.Attempt, t.State, t.Worker, t.Region)
	}
	if len(st.Checkpoints) > 0 {
		fmt.Fprintln(tw, "\nCHECKPOINT\tKIND\tSTATUS\tDURATION\tSIZE\tINCREMENTAL\tFILES\tALIGNMENT\tLOCATION/REASON")
		for _, c := range st.Checkpoints {
			where := c.Location
			if c.Reason != "" {
				where = c.Reason
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", c.ID, c.Kind, c.Status, c.Duration.Round(time.Millisecond),
				c.Size, c.Incremental, c.Files, c.Alignment.Round(time.Microsecond), where)
		}
	}
	for _, p := range st.Phases {
		fmt.Fprintf(tw, "\nsource vertex %d: phase %d, done=%v, %d splits pending, %d open\n", p.Vertex, p.Round, p.Done, p.Pending, p.Open)
	}
	tw.Flush()
	for _, f := range st.Failovers {
		fmt.Fprintf(stdout, "failover: %s\n", f)
	}
	return 0
}

// savepointCmd takes a savepoint of a running job (savepoint) or stops a
// job with one (stop).
func savepointCmd(name string, args []string, stdout, stderr io.Writer) int {
	var drain, withSavepoint *bool
	var dir *string
	cf, id, fs, ok := jobArg(name, args, stdout, stderr, func(fs *flag.FlagSet) {
		dir = fs.String("dir", "", "savepoint directory URI (default: the master's --savepoint-dir)")
		if name == "stop" {
			withSavepoint = fs.Bool("savepoint", true, "take a savepoint before stopping (stop without one is cancel)")
			drain = fs.Bool("drain", false, "end the input first so every event-time window fires (final watermark), then stop")
		}
	})
	if !ok {
		return 2
	}
	_ = fs
	req := master.SavepointRequest{Job: id, Dir: *dir}
	if name == "stop" {
		if !*withSavepoint {
			return cancelCmd(args, stdout, stderr)
		}
		req.Stop, req.Drain = true, *drain
	}
	ctx := context.Background()
	mc, closeConn, err := cf.dial(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "dagctl %s: %v\n", name, err)
		return 1
	}
	defer closeConn()
	b, _ := json.Marshal(req)
	resp, err := mc.TriggerSavepoint(ctx, &rpcpb.JSONDoc{Json: b})
	if err != nil {
		fmt.Fprintf(stderr, "dagctl %s: %s\n", name, status.Convert(err).Message())
		return 1
	}
	var sr master.SavepointResponse
	if err := json.Unmarshal(resp.Json, &sr); err != nil {
		fmt.Fprintf(stderr, "dagctl %s: %v\n", name, err)
		return 1
	}
	if cf.output == "json" {
		json.NewEncoder(stdout).Encode(map[string]string{"job": id, "savepoint": sr.Location})
		return 0
	}
	fmt.Fprintf(stdout, "savepoint of job %s: %s\n", id, sr.Location)
	if req.Stop {
		fmt.Fprintf(stdout, "job %s stopped\n", id)
	}
	return 0
}

func cancelCmd(args []string, stdout, stderr io.Writer) int {
	cf, id, _, ok := jobArg("cancel", args, stdout, stderr, nil)
	if !ok {
		return 2
	}
	ctx := context.Background()
	mc, closeConn, err := cf.dial(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "dagctl cancel:", err)
		return 1
	}
	defer closeConn()
	resp, err := mc.CancelJob(ctx, &rpcpb.JobRef{JobId: id})
	if err != nil {
		fmt.Fprintln(stderr, "dagctl cancel:", status.Convert(err).Message())
		return 1
	}
	if cf.output == "json" {
		json.NewEncoder(stdout).Encode(map[string]string{"job": id, "state": resp.State})
	} else {
		fmt.Fprintf(stdout, "job %s %s\n", id, resp.State)
	}
	return 0
}

func logsCmd(args []string, stdout, stderr io.Writer) int {
	var task string
	cf, id, _, ok := jobArg("logs", args, stdout, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&task, "task", "", "only lines of this task, e.g. tokenize[1]")
	})
	if !ok {
		return 2
	}
	ctx := context.Background()
	mc, closeConn, err := cf.dial(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "dagctl logs:", err)
		return 1
	}
	defer closeConn()
	resp, err := mc.JobLogs(ctx, &rpcpb.JobLogsRequest{JobId: id, Task: task})
	if err != nil {
		fmt.Fprintln(stderr, "dagctl logs:", status.Convert(err).Message())
		return 1
	}
	if cf.output == "json" {
		json.NewEncoder(stdout).Encode(map[string]string{"job": id, "logs": string(resp.Logs)})
		return 0
	}
	stdout.Write(resp.Logs)
	return 0
}
