package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
)

// Exit codes of dagctl (documented in the root help and docs/cli.md).
const (
	exitOK          = 0 // success
	exitFailed      = 1 // the job failed, or the command failed
	exitUsage       = 2 // usage error: bad flag, argument or configuration
	exitUnreachable = 3 // the master (or shuffle daemon) did not answer
)

// exitError carries the exit code of a failed command. A silent one has
// already told the user what happened.
type exitError struct {
	code   int
	err    error
	silent bool
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

func failed(err error) error { return &exitError{code: exitFailed, err: err} }

func failedf(format string, a ...any) error { return failed(fmt.Errorf(format, a...)) }

func unreachable(err error) error { return &exitError{code: exitUnreachable, err: err} }

// annotation keys of commands.
const (
	// annDaemon marks the daemon commands: their flags also come from
	// DAGFLOW_* environment variables and the --config file.
	annDaemon = "dagflow.daemon"
)

// app is the state of one dagctl invocation: its output streams and the
// global flags.
type app struct {
	stdout, stderr io.Writer
	master         string
	// zk and haCluster find the leading master of an HA cluster.
	zk, haCluster string
	output        string
	logLevel      string
	logFormat     string
	log           *slog.Logger
	// sec are the TLS and token flags of client verbs.
	sec clientSecurity
}

func (a *app) json() bool { return a.output == "json" }

// stderrIsTerminal reports whether progress may redraw one line.
func (a *app) stderrIsTerminal() bool {
	f, ok := a.stderr.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

const rootLong = `dagctl submits and watches dagflow jobs on a cluster, runs the cluster's
daemons (master, worker, shuffle, local-cluster), prints job plans and edits
Hive catalogs.

Flags may stand anywhere before "--"; everything after "--" goes to the job
unchanged. The master address comes from --master or $DAGFLOW_MASTER.
Daemons also read DAGFLOW_<FLAG> environment variables and a --config file
(flags > environment > file; see docs/configuration.md).

Exit codes:
  0  success
  1  the job failed, or the command failed
  2  usage error (unknown verb or flag, bad value, bad configuration)
  3  master (or shuffle daemon) unreachable`

// newRoot builds the command tree of one invocation.
func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "dagctl",
		Short: "submit and watch dagflow jobs, run the cluster's daemons",
		Long:  rootLong,
		Example: `  dagctl local-cluster --workers 2 &
  export DAGFLOW_MASTER=127.0.0.1:7070
  dagctl submit ./examples/wordcount --parallelism 3 -- --input words.txt --output counts
  dagctl list --output json
  source <(dagctl completion bash)`,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(a.stderr)
			cmd.Usage()
			return &exitError{code: exitUsage, silent: true}
		},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return a.prepare(cmd)
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: err}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.master, "master", "", "master gRPC address HOST:PORT (default $DAGFLOW_MASTER)")
	pf.StringVar(&a.zk, "zk", "", "ZooKeeper servers HOST:PORT,... of an HA cluster: find the leading master there (default $DAGFLOW_ZK)")
	pf.StringVar(&a.haCluster, "ha-cluster", "default", "the HA cluster's id in ZooKeeper (several clusters may share one ZooKeeper)")
	pf.StringVarP(&a.output, "output", "o", "text", "output format: text or json (json: only JSON on stdout)")
	pf.StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.StringVar(&a.logFormat, "log-format", "text", "log format: text or json")
	root.AddGroup(&cobra.Group{ID: "jobs", Title: "Jobs:"}, &cobra.Group{ID: "daemons", Title: "Daemons:"},
		&cobra.Group{ID: "other", Title: "Other:"})
	for _, c := range jobCommands(a) {
		c.GroupID = "jobs"
		root.AddCommand(c)
	}
	for _, c := range daemonCommands(a) {
		c.GroupID = "daemons"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{catalogCommand(a), a.addClientSecurityFlags(versionCommand(a)), certsCommand(a)} {
		c.GroupID = "other"
		root.AddCommand(c)
	}
	root.SetHelpCommandGroupID("other")
	root.SetCompletionCommandGroupID("other")
	root.AddCommand(yarnCommand(a))
	return root
}

// prepare layers the environment and the config file under the flags,
// then checks the global flags and builds the logger.
func (a *app) prepare(cmd *cobra.Command) error {
	fs := cmd.Flags()
	from := map[string]string{}
	if cmd.Annotations[annDaemon] != "" {
		path, _ := fs.GetString("config")
		var err error
		if from, err = applyLayers(fs, os.LookupEnv, path, cmd.CommandPath()); err != nil {
			return err
		}
	} else {
		// Client verbs read only $DAGFLOW_MASTER, $DAGFLOW_ZK and
		// $DAGFLOW_HA_CLUSTER from the environment.
		for name, dst := range map[string]*string{"master": &a.master, "zk": &a.zk, "ha-cluster": &a.haCluster} {
			if f := fs.Lookup(name); f != nil && !f.Changed {
				if v := os.Getenv(envName(name)); v != "" {
					*dst = v
				}
			}
		}
	}
	// origin names where a flag's value came from when not the command
	// line.
	origin := func(flag string) string {
		if f, ok := from[flag]; ok {
			return " (from " + f + ")"
		}
		return ""
	}
	switch a.output {
	case "text", "json":
	default:
		return usageErrorf("--output %q%s: want text or json", a.output, origin("output"))
	}
	if _, err := newLogger(io.Discard, a.logLevel, "text"); err != nil {
		return usageErrorf("%v%s", err, origin("log-level"))
	}
	log, err := newLogger(a.stderr, a.logLevel, a.logFormat)
	if err != nil {
		return usageErrorf("%v%s", err, origin("log-format"))
	}
	a.log = log
	return nil
}

// newLogger builds the slog logger of --log-level and --log-format.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "info":
		l = slog.LevelInfo
	case "warn", "warning":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// run executes dagctl with args and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdout, stderr)
}

func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	root := newRoot(a)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	code := exitUsage // cobra's own errors: unknown verbs, bad arguments
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		if ee.silent {
			return code
		}
	}
	if cmd == nil {
		cmd = root
	}
	fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
	if code == exitUsage {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}
