// Package dagflow runs dataflow jobs built with package dag.
//
// Run builds and validates a job's graph and executes it on the embedded
// mini-cluster (master, workers and shuffle in this process, local
// filesystem): the default a newcomer gets, with no services to install.
package dagflow

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/embedded"
	"github.com/dagflow/dagflow/internal/protocol"
	"github.com/dagflow/dagflow/master"
	"github.com/dagflow/dagflow/scheduler"
)

// Options configure Run.
type Options struct {
	// Workers is the number of embedded workers (default 2).
	Workers int
	// SlotsPerWorker is each worker's slot count (default 64).
	SlotsPerWorker int
	// Dir holds shuffle spill files (default: a temporary directory).
	Dir string
	// Restart overrides the restart strategy (default: 3 restarts, 200ms
	// apart).
	Restart *scheduler.RestartStrategy
	// Progress receives a progress line about every second while the job
	// runs when it is a terminal (default os.Stderr); nil disables it.
	Progress io.Writer
	// Logger receives engine logs (default: warnings and errors to stderr).
	Logger *slog.Logger
	// FromSavepoint starts the job from a savepoint or retained checkpoint
	// (a directory or its _metadata file; default: $DAGFLOW_FROM_SAVEPOINT).
	FromSavepoint string
	// AllowNonRestoredState lets a restore drop state of operators the
	// job no longer has.
	AllowNonRestoredState bool
}

// Result is the outcome of a finished job.
type Result = master.JobResult

// Run builds g and runs it to completion on an embedded cluster.
// Cancelling ctx cancels the job; sink output is committed only if the job
// succeeds.
//
// The same call serves every role of a job binary in a cluster, chosen by
// the environment the cluster sets (see mode.go): printing the plan for
// `dagctl submit`, running as an executor on a worker, committing sink
// output for the master. In those roles it does not return.
func Run(ctx context.Context, g *dag.Graph, opts Options) (*Result, error) {
	if err := applyEnv(g); err != nil {
		return nil, err
	}
	plan, err := g.Build()
	if err != nil {
		if os.Getenv(protocol.EnvMode) != "" {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return nil, err
	}
	if role := protocol.RoleFromEnv(); role != protocol.RoleNone {
		os.Exit(runMode(ctx, role, plan))
	}
	return RunPlan(ctx, plan, opts)
}

// ExplainEnv names the environment variable that makes Run print the
// job's plan instead of running it: text, dot or json. `dagctl plan` sets it.
const ExplainEnv = "DAGFLOW_EXPLAIN"

// RunPlan runs an already built plan on an embedded cluster. When the
// environment variable DAGFLOW_EXPLAIN is set it prints the plan in that
// format to stdout and exits the process instead.
func RunPlan(ctx context.Context, plan *dag.Plan, opts Options) (*Result, error) {
	if format := os.Getenv(ExplainEnv); format != "" {
		if err := plan.Explain(os.Stdout, format); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	lc, err := embedded.New(embedded.Config{
		Workers: opts.Workers, SlotsPerWorker: opts.SlotsPerWorker, Dir: opts.Dir, Logger: opts.Logger,
	})
	if err != nil {
		return nil, err
	}
	defer lc.Close()
	jcfg := master.JobConfig{Restart: opts.Restart, Logger: opts.Logger, AllowNonRestored: opts.AllowNonRestoredState}
	if opts.FromSavepoint == "" {
		opts.FromSavepoint = os.Getenv(FromSavepointEnv)
	}
	if opts.FromSavepoint != "" {
		md, err := master.LoadSnapshot(ctx, opts.FromSavepoint)
		if err != nil {
			return nil, err
		}
		jcfg.Restore = md
	}
	pw := opts.Progress
	if pw == nil && isTerminal(os.Stderr) {
		pw = os.Stderr
	}
	var printed bool
	if pw != nil {
		jcfg.Progress = func(p master.Progress) {
			printed = true
			fmt.Fprintf(pw, "\r%s", FormatProgress(p))
		}
	}
	res, err := lc.Run(ctx, plan, jcfg)
	if printed {
		fmt.Fprintln(pw)
	}
	return res, err
}

// FormatProgress renders a progress snapshot as one line.
func FormatProgress(p master.Progress) string {
	s := fmt.Sprintf("[%s] ", p.Elapsed.Truncate(time.Second))
	if p.Splits.Total > 0 {
		s += fmt.Sprintf("splits %d/%d done", p.Splits.Done, p.Splits.Total)
		if p.Splits.TotalWeight > 0 {
			s += fmt.Sprintf(" (%.0f%%)", 100*float64(p.Splits.Weight)/float64(p.Splits.TotalWeight))
		}
		s += "  "
	}
	s += fmt.Sprintf("%d records read  %.0f records/s", p.RecordsIn, p.Throughput)
	if p.Restarts > 0 {
		s += fmt.Sprintf("  %d restarts", p.Restarts)
	}
	return s
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
