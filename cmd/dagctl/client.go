package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
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

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/protocol"
	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/master"
)

// jobCommands are the verbs that talk to a master about jobs, and plan.
func jobCommands(a *app) []*cobra.Command {
	cmds := []*cobra.Command{submitCommand(a), listCommand(a), statusCommand(a), cancelCommand(a),
		savepointCommand(a, false), savepointCommand(a, true), logsCommand(a)}
	for _, c := range cmds {
		a.addClientSecurityFlags(c)
	}
	return append(cmds, planCommand(a), sqlCommand(a))
}

// dial connects to the master and checks it answers (exit code 3 when it
// does not).
func (a *app) dial(ctx context.Context) (rpcpb.MasterClient, func(), error) {
	if a.master == "" && a.zk != "" {
		if err := a.findLeader(ctx); err != nil {
			return nil, nil, err
		}
	}
	if a.master == "" {
		return nil, nil, usageErrorf("no master address: pass --master HOST:PORT or set DAGFLOW_MASTER (or --zk for an HA cluster)")
	}
	opts, err := a.clientDialOptions()
	if err != nil {
		return nil, nil, err
	}
	conn, err := grpc.NewClient(a.master, append(opts, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))...)
	if err != nil {
		return nil, nil, usageErrorf("master address %q: %w", a.master, err)
	}
	mc := rpcpb.NewMasterClient(conn)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := mc.Version(pctx, &rpcpb.VersionRequest{}); err != nil && status.Code(err) != codes.Unimplemented {
		conn.Close()
		hint := ""
		switch {
		case a.sec.ca == "":
			hint = " (if the master serves TLS, pass --tls-ca and --token-file or --tls-cert)"
		case a.sec.cert != "":
			hint = " (the master may have refused the client certificate: is it issued by the master's CA and still valid?)"
		}
		return nil, nil, unreachable(fmt.Errorf("master unreachable at %s: %s%s", a.master, status.Convert(err).Message(), hint))
	}
	return mc, func() { conn.Close() }, nil
}

// rpcFailed turns an RPC error into a command failure.
func rpcFailed(err error) error {
	if status.Code(err) == codes.Unavailable {
		return unreachable(errors.New(status.Convert(err).Message()))
	}
	return failed(errors.New(status.Convert(err).Message()))
}

// printJSON writes v as indented JSON on stdout.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// splitDash separates a command's own arguments from those after "--".
func splitDash(cmd *cobra.Command, args []string) (own, rest []string) {
	if d := cmd.ArgsLenAtDash(); d >= 0 {
		return args[:d], args[d:]
	}
	return args, nil
}

type submitOptions struct {
	parallelism      int
	detach           bool
	binary           string
	maxRestarts      int
	shuffle          string
	fromSavepoint    string
	allowNonRestored bool
	ckInterval       string
	ckDir            string
	stateBackend     string
	yarnApp, target  string
	yarn             yarnOptions
}

func submitCommand(a *app) *cobra.Command {
	var o submitOptions
	cmd := &cobra.Command{
		Use:   "submit [flags] (PACKAGE | --binary FILE) [-- JOB ARGS...]",
		Short: "build a job, upload it with its plan, and follow it to the end",
		Long: `submit builds PACKAGE (a Go package path or directory, built with "go build")
or takes the job binary --binary FILE, asks it for its plan, uploads binary and
plan to the master and follows the job until it ends: a progress line on stderr
(percent and ETA when the sources know their size; one plain line every few
seconds when stderr is not a terminal), the outcome on stdout. The exit code is
0 when the job finished, 1 when it failed or was canceled.

Everything after "--" is passed to the job unchanged.`,
		Example: `  dagctl submit ./examples/wordcount --parallelism 3 -- --input words.txt --output counts
  dagctl submit --binary ./wordcount --detach -- --input words.txt --output counts
  dagctl submit ./job --output json --checkpoint-interval 10s --state-backend pebble
  dagctl submit ./job --from-savepoint file:///sp/savepoint-1 --allow-non-restored-state`,
		RunE: func(cmd *cobra.Command, args []string) error {
			own, jobArgs := splitDash(cmd, args)
			return a.submit(cmd.Context(), o, own, jobArgs)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.parallelism, "parallelism", 0, "default parallelism of the job (0: the job's own)")
	f.BoolVar(&o.detach, "detach", false, "print the job id and return without following the job")
	f.StringVar(&o.binary, "binary", "", "use this job binary instead of building PACKAGE")
	f.IntVar(&o.maxRestarts, "max-restarts", -1, "restart limit (-1: the master's default)")
	f.StringVar(&o.shuffle, "shuffle", "", "where blocking partitions live: worker (default) or external (the hosts' shuffle daemons)")
	f.StringVar(&o.fromSavepoint, "from-savepoint", "", "start from this savepoint or retained checkpoint (directory or _metadata URI)")
	f.BoolVar(&o.allowNonRestored, "allow-non-restored-state", false, "with --from-savepoint: drop state of operators the job no longer has")
	f.StringVar(&o.ckInterval, "checkpoint-interval", "", "checkpoint interval, e.g. 10s (overrides the job's; 0 disables)")
	f.StringVar(&o.ckDir, "checkpoint-dir", "", "checkpoint directory URI, e.g. hdfs://nn:8020/ckpt (overrides the job's)")
	f.StringVar(&o.stateBackend, "state-backend", "", "keyed state backend: heap or pebble (overrides the job's)")
	addSubmitYarnFlags(cmd, &o)
	return cmd
}

func (a *app) submit(ctx context.Context, o submitOptions, own, jobArgs []string) error {
	if o.parallelism < 0 {
		return usageErrorf("--parallelism %d: must not be negative", o.parallelism)
	}
	switch o.shuffle {
	case "", protocol.ShuffleWorker, protocol.ShuffleExternal:
	default:
		return usageErrorf("--shuffle %q: want %s or %s", o.shuffle, protocol.ShuffleWorker, protocol.ShuffleExternal)
	}
	switch {
	case o.binary == "" && len(own) == 0:
		return usageErrorf("give a PACKAGE to build or --binary FILE")
	case o.binary != "" && len(own) > 0:
		return usageErrorf("give either PACKAGE %q or --binary %q, not both (job arguments go after --)", own[0], o.binary)
	case len(own) > 1:
		return usageErrorf("want one PACKAGE, got %q (job arguments go after --)", own)
	}
	var env []string
	if wd, err := os.Getwd(); err == nil { // relative paths in job arguments mean files here
		env = append(env, dagflow.ClientDirEnv+"="+wd)
	}
	if o.parallelism > 0 {
		env = append(env, dagflow.ParallelismEnv+"="+strconv.Itoa(o.parallelism))
	}
	if o.shuffle != "" {
		env = append(env, dagflow.ShuffleEnv+"="+o.shuffle)
	}
	if o.ckInterval != "" {
		if d, err := time.ParseDuration(o.ckInterval); err != nil || d < 0 {
			return usageErrorf("--checkpoint-interval %q: want a duration such as 10s", o.ckInterval)
		}
		env = append(env, dagflow.CheckpointIntervalEnv+"="+o.ckInterval)
	}
	if o.ckDir != "" {
		env = append(env, dagflow.CheckpointDirEnv+"="+o.ckDir)
	}
	if o.stateBackend != "" {
		env = append(env, dagflow.StateBackendEnv+"="+o.stateBackend)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	if err := a.submitYarnTarget(ctx, &o); err != nil {
		return err
	}
	if o.target == "yarn" {
		return a.submitYarnBinary(ctx, o, own, jobArgs)
	}
	mc, closeConn, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer closeConn()
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
	sub, err := planOf(ctx, bin, jobArgs, env)
	if err != nil {
		return failed(err)
	}
	ref, err := upload(ctx, mc, bin)
	if err != nil {
		return failed(err)
	}
	resp, err := mc.SubmitJob(ctx, &rpcpb.SubmitJobRequest{Name: sub.plan.Job, Binary: ref, Args: jobArgs, PlanJson: sub.msg.PlanJson,
		Splits: sub.msg.Splits, MaxRestarts: int32(o.maxRestarts), Env: env, RestoreFrom: o.fromSavepoint, AllowNonRestoredState: o.allowNonRestored})
	if err != nil {
		return rpcFailed(err)
	}
	if a.json() {
		if o.detach {
			return a.printJSON(map[string]string{"job": resp.JobId})
		}
		fmt.Fprintf(a.stderr, "job %s submitted\n", resp.JobId)
	} else {
		fmt.Fprintf(a.stdout, "job %s submitted\n", resp.JobId)
	}
	if o.detach {
		return nil
	}
	return a.follow(ctx, mc, resp.JobId)
}

// buildPackage builds the Go package pkg into bin.
func buildPackage(ctx context.Context, pkg, bin string, progress io.Writer) error {
	if st, err := os.Stat(pkg); err == nil && st.IsDir() && !strings.HasPrefix(pkg, ".") && !filepath.IsAbs(pkg) {
		pkg = "./" + pkg
	}
	fmt.Fprintf(progress, "building %s\n", pkg)
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
		return fmt.Errorf("package %s does not build: %v\n%s", pkg, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// submission is what the job binary printed in the plan role: the
// message sent on to the master and the plan decoded from it.
type submission struct {
	msg  *rpcpb.Submission
	plan *dag.Plan
}

// planOf runs the job binary in the plan role: it validates the graph and
// prints the plan and the splits of its sources.
func planOf(ctx context.Context, bin string, args, env []string) (*submission, error) {
	var msg rpcpb.Submission
	err := protocol.Call(ctx, protocol.Process{Path: bin, Args: args, Env: env}, protocol.RolePlan, nil, &msg)
	if errors.Is(err, protocol.ErrNoResult) {
		return nil, fmt.Errorf("job binary %s did not print a plan (does it call dagflow.Run?)", filepath.Base(bin))
	}
	if err != nil {
		return nil, fmt.Errorf("job binary %s failed to build its plan: %w", filepath.Base(bin), err)
	}
	plan, _, err := protocol.DecodeSubmission(&msg)
	if err != nil {
		return nil, fmt.Errorf("job binary %s printed a bad plan: %w", filepath.Base(bin), err)
	}
	return &submission{msg: &msg, plan: plan}, nil
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
	st, err := master.JobStatusFromProto(doc)
	if err != nil {
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

// plainProgressEvery is how often a followed submit prints a progress line
// when stderr is not a terminal.
const plainProgressEvery = 5 * time.Second

// follow prints progress until the job ends; the error says how it ended.
func (a *app) follow(ctx context.Context, mc rpcpb.MasterClient, id string) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	tty := a.stderrIsTerminal()
	var lastPlain time.Time
	drawn := false
	for {
		st, err := jobStatus(context.WithoutCancel(ctx), mc, id)
		if err != nil {
			return failed(err)
		}
		if ended(st.State) {
			if drawn {
				fmt.Fprintln(a.stderr)
			}
			if a.json() {
				a.printJSON(st)
			} else {
				fmt.Fprintf(a.stdout, "job %s %s after %s (%d restarts)\n", id, st.State, st.Elapsed.Round(time.Millisecond), st.Restarts)
				if st.Reason != "" {
					fmt.Fprintf(a.stdout, "reason: %s\n", st.Reason)
				}
			}
			if st.State == "finished" {
				return nil
			}
			return &exitError{code: exitFailed, silent: true}
		}
		line := formatProgress(st)
		if tty {
			fmt.Fprintf(a.stderr, "\r%s   ", line)
			drawn = true
		} else if now := time.Now(); now.Sub(lastPlain) >= plainProgressEvery {
			fmt.Fprintln(a.stderr, line)
			lastPlain = now
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(a.stderr, "\nstopped following; the job keeps running (dagctl status %s, dagctl cancel %s)\n", id, id)
			return &exitError{code: 130, silent: true}
		case <-tick.C:
		}
	}
}

// formatProgress renders one progress line of a running job: splits,
// percent of the sources' bytes read and an ETA when the sources know
// their size, records read and restarts.
func formatProgress(st *master.JobStatus) string {
	var in int64
	for _, v := range st.Vertices {
		if v.Kind == "source" {
			in += v.RecordsOut
		}
	}
	s := fmt.Sprintf("[%s] %s  splits %d/%d done", st.Elapsed.Truncate(time.Second), st.State, st.Splits.Done, st.Splits.Total)
	if p := st.Splits; p.TotalWeight > 0 {
		frac := float64(p.Weight) / float64(p.TotalWeight)
		s += fmt.Sprintf("  %.0f%% of %s", 100*frac, formatBytes(p.TotalWeight))
		if p.Weight > 0 && p.Weight < p.TotalWeight {
			eta := time.Duration(float64(st.Elapsed) * (1 - frac) / frac)
			s += fmt.Sprintf(", ETA %s", eta.Round(time.Second))
		}
	}
	s += fmt.Sprintf("  %d records read  %d restarts", in, st.Restarts)
	return s
}

// formatBytes renders a byte count with a binary unit.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func listCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "list the master's jobs",
		Long:    "list prints the jobs the master knows (running ones and its bounded history of ended ones).",
		Example: "  dagctl list\n  dagctl list --master 10.0.0.5:7070 --output json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			mc, closeConn, err := a.dial(ctx)
			if err != nil {
				return err
			}
			defer closeConn()
			doc, err := mc.ListJobs(ctx, &rpcpb.ListJobsRequest{})
			if err != nil {
				return rpcFailed(err)
			}
			jobs, err := master.JobListFromProto(doc)
			if err != nil {
				return failed(err)
			}
			if a.json() {
				if jobs == nil {
					jobs = []master.JobStatus{}
				}
				return a.printJSON(jobs)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "JOB\tNAME\tSTATE\tELAPSED\tRESTARTS")
			for _, j := range jobs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", j.ID, j.Name, j.State, j.Elapsed.Round(time.Second), j.Restarts)
			}
			return tw.Flush()
		},
	}
}

func statusCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "status JOB",
		Short: "show a job's vertices, tasks, records, throughput, back-pressure and checkpoints",
		Long: `status prints one job: its state, splits done, every vertex's records in and
out, throughput and back-pressure, every task's attempt, state and worker, its
checkpoints, and its failovers. JOB is a job id (dagctl list).`,
		Example: "  dagctl status 3f2a9c\n  dagctl status 3f2a9c --output json",
		Args:    exactlyOneJob,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			mc, closeConn, err := a.dial(ctx)
			if err != nil {
				return err
			}
			defer closeConn()
			st, err := jobStatus(ctx, mc, args[0])
			if err != nil {
				return failed(err)
			}
			if a.json() {
				return a.printJSON(st)
			}
			printStatus(a.stdout, st)
			return nil
		},
	}
}

// exactlyOneJob checks a verb got one JOB argument.
func exactlyOneJob(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usageErrorf("want exactly one JOB id, got %d", len(args))
	}
	return nil
}

func printStatus(w io.Writer, st *master.JobStatus) {
	fmt.Fprintf(w, "job %s (%s): %s, elapsed %s, %d restarts, splits %d/%d done\n", st.ID, st.Name, st.State,
		st.Elapsed.Round(time.Millisecond), st.Restarts, st.Splits.Done, st.Splits.Total)
	if st.Reason != "" {
		fmt.Fprintf(w, "reason: %s\n", st.Reason)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
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
		fmt.Fprintf(w, "failover: %s\n", f)
	}
}

// savepointCommand is "savepoint JOB" (stop false) or "stop JOB".
func savepointCommand(a *app, stop bool) *cobra.Command {
	var dir string
	var drain, withSavepoint bool
	cmd := &cobra.Command{
		Use:   "savepoint JOB",
		Short: "take a self-contained savepoint of a running job",
		Long: `savepoint takes a self-contained savepoint of a running job and prints its
location; the job keeps running. This is the upgrade path: stop with a
savepoint, change the job, submit it again with --from-savepoint.`,
		Example: "  dagctl savepoint 3f2a9c --dir hdfs://nn:8020/savepoints",
		Args:    exactlyOneJob,
		RunE: func(cmd *cobra.Command, args []string) error {
			if stop && !withSavepoint {
				if cmd.Flags().Changed("drain") || cmd.Flags().Changed("dir") {
					return usageErrorf("--savepoint=false stops without a savepoint: --drain and --dir do not apply")
				}
				return a.cancel(cmd.Context(), args[0])
			}
			return a.savepoint(cmd.Context(), &rpcpb.SavepointRequest{JobId: args[0], Dir: dir, Stop: stop, Drain: drain})
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "savepoint directory URI (default: the master's --savepoint-dir)")
	if stop {
		cmd.Use = "stop JOB"
		cmd.Short = "stop a job with a savepoint (or without one: --savepoint=false)"
		cmd.Long = `stop takes a savepoint of a running job and then stops it; the savepoint's
location is printed. --drain first ends the input so that every event-time
window fires (a final watermark). --savepoint=false stops the job without a
savepoint, like cancel: output not committed by a checkpoint is discarded.`
		cmd.Example = "  dagctl stop 3f2a9c --dir file:///data/savepoints\n  dagctl stop 3f2a9c --drain\n  dagctl stop 3f2a9c --savepoint=false"
		cmd.Flags().BoolVar(&withSavepoint, "savepoint", true, "take a savepoint before stopping (--savepoint=false: stop without one, like cancel)")
		cmd.Flags().BoolVar(&drain, "drain", false, "end the input first so every event-time window fires (final watermark), then stop")
	}
	return cmd
}

func (a *app) savepoint(ctx context.Context, req *rpcpb.SavepointRequest) error {
	mc, closeConn, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer closeConn()
	sr, err := mc.TriggerSavepoint(ctx, req)
	if err != nil {
		return rpcFailed(err)
	}
	if a.json() {
		out := map[string]any{"job": req.JobId, "savepoint": sr.GetLocation()}
		if req.Stop {
			out["stopped"] = true
		}
		return a.printJSON(out)
	}
	fmt.Fprintf(a.stdout, "savepoint of job %s: %s\n", req.JobId, sr.GetLocation())
	if req.Stop {
		fmt.Fprintf(a.stdout, "job %s stopped\n", req.JobId)
	}
	return nil
}

func cancelCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel JOB",
		Short: "cancel a job",
		Long: `cancel stops a job without a savepoint. Output not committed by a checkpoint
is discarded.`,
		Example: "  dagctl cancel 3f2a9c",
		Args:    exactlyOneJob,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.cancel(cmd.Context(), args[0])
		},
	}
}

func (a *app) cancel(ctx context.Context, id string) error {
	mc, closeConn, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer closeConn()
	resp, err := mc.CancelJob(ctx, &rpcpb.JobRef{JobId: id})
	if err != nil {
		return rpcFailed(err)
	}
	if a.json() {
		return a.printJSON(map[string]string{"job": id, "state": resp.State})
	}
	fmt.Fprintf(a.stdout, "job %s %s\n", id, resp.State)
	return nil
}

func logsCommand(a *app) *cobra.Command {
	var task string
	cmd := &cobra.Command{
		Use:     "logs JOB",
		Short:   "print the executor logs of a job",
		Long:    "logs prints the logs of a job's executors on every worker, optionally of one task only.",
		Example: "  dagctl logs 3f2a9c\n  dagctl logs 3f2a9c --task 'tokenize[1]'",
		Args:    exactlyOneJob,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			mc, closeConn, err := a.dial(ctx)
			if err != nil {
				return err
			}
			defer closeConn()
			resp, err := mc.JobLogs(ctx, &rpcpb.JobLogsRequest{JobId: args[0], Task: task})
			if err != nil {
				return rpcFailed(err)
			}
			if a.json() {
				return a.printJSON(map[string]string{"job": args[0], "logs": string(resp.Logs)})
			}
			_, err = a.stdout.Write(resp.Logs)
			return err
		},
	}
	cmd.Flags().StringVar(&task, "task", "", "only lines of this task, e.g. tokenize[1]")
	return cmd
}
