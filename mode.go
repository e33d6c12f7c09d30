package dagflow

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/cluster"
	"github.com/dagflow/dagflow/io/filesystem"
	"github.com/dagflow/dagflow/master"
	"github.com/dagflow/dagflow/worker"
)

// Environment a cluster sets for the processes of a job binary.
const (
	// ParallelismEnv overrides the job's default parallelism
	// (`dagctl submit --parallelism`).
	ParallelismEnv = "DAGFLOW_PARALLELISM"
	// ShuffleEnv chooses where the job's blocking partitions live on a
	// cluster (`dagctl submit --shuffle`): "worker" (default, in the
	// executor that wrote them) or "external" (in the host's shuffle
	// daemon, surviving the worker). The plan does not depend on it.
	ShuffleEnv = cluster.EnvShuffle
	// CheckpointIntervalEnv and CheckpointDirEnv override the job's
	// checkpoint interval (a Go duration, "0" disables) and directory
	// (`dagctl submit --checkpoint-interval/--checkpoint-dir`).
	CheckpointIntervalEnv = "DAGFLOW_CHECKPOINT_INTERVAL"
	CheckpointDirEnv      = "DAGFLOW_CHECKPOINT_DIR"
	// StateBackendEnv overrides the keyed state backend: heap or pebble.
	StateBackendEnv = "DAGFLOW_STATE_BACKEND"
	// ClientDirEnv holds the working directory of the process that
	// submitted the job (set by `dagctl submit`, passed to every process of
	// the job). Relative local paths in job arguments (file sources and
	// sinks, the checkpoint directory) resolve against it, so they name the
	// same files in the driver, the executors and the committer; without
	// it they resolve against the working directory.
	ClientDirEnv = filesystem.ClientDirEnv
	// FromSavepointEnv makes an embedded run (dagflow.Run) start from a
	// savepoint or retained checkpoint.
	FromSavepointEnv = "DAGFLOW_FROM_SAVEPOINT"
)

// Submission is what a job binary prints in plan mode: the plan and the
// splits of every source, enumerated by the driver.
type Submission struct {
	Plan   *dag.Plan           `json:"plan"`
	Splits map[int][]dag.Split `json:"splits"`
}

// IsDriver reports whether this process builds and submits or runs the
// job itself (true), rather than serving a cluster as an executor or
// committer (false). Jobs use it to skip driver-only work such as
// generating sample input.
func IsDriver() bool {
	switch os.Getenv(cluster.EnvMode) {
	case "executor", "commit":
		return false
	}
	return true
}

func applyEnv(g *dag.Graph) error {
	if v := os.Getenv(ParallelismEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("dagflow: %s=%q: want a positive integer", ParallelismEnv, v)
		}
		g.SetParallelism(n)
	}
	switch v := os.Getenv(ShuffleEnv); v {
	case "", cluster.ShuffleWorker, cluster.ShuffleExternal:
	default:
		return fmt.Errorf("dagflow: %s=%q: want %s or %s", ShuffleEnv, v, cluster.ShuffleWorker, cluster.ShuffleExternal)
	}
	ck := g.Config().Checkpoint
	if v := os.Getenv(CheckpointIntervalEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("dagflow: %s=%q: want a duration such as 10s (0 disables checkpoints)", CheckpointIntervalEnv, v)
		}
		ck.Interval = d
	}
	if v := os.Getenv(CheckpointDirEnv); v != "" {
		ck.Dir = v
	}
	if lp, local := filesystem.LocalPath(ck.Dir); ck.Dir != "" && local && !filepath.IsAbs(lp) {
		// The master and every worker use the directory: make it the one
		// the user meant, in the directory the job was submitted from.
		base, err := filesystem.BaseDir()
		if err != nil {
			return fmt.Errorf("dagflow: checkpoint directory %q: %w", ck.Dir, err)
		}
		if ck.Dir, err = filesystem.Absolute(ck.Dir, base); err != nil {
			return fmt.Errorf("dagflow: checkpoint directory: %w", err)
		}
	}
	g.SetCheckpoint(ck)
	switch v := os.Getenv(StateBackendEnv); v {
	case "":
	case dag.BackendHeap, dag.BackendPebble:
		g.SetStateBackend(v)
	default:
		return fmt.Errorf("dagflow: %s=%q: want %s or %s", StateBackendEnv, v, dag.BackendHeap, dag.BackendPebble)
	}
	return nil
}

// runMode serves one cluster role and returns the process exit code.
func runMode(ctx context.Context, mode string, plan *dag.Plan, opts Options) (code int) {
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "dagflow %s: %v\n", mode, err)
		if dag.IsFatal(err) {
			return cluster.ExitFatal
		}
		return 1
	}
	// User code runs on this goroutine (split enumerators in plan mode,
	// committers and dynamic enumerators in commit mode): a panic fails
	// with the user's stack on stderr, which the master reports.
	var perr error
	defer func() {
		if perr != nil {
			code = fail(perr)
		}
	}()
	defer cluster.CatchPanic(&perr, mode+" mode")
	switch mode {
	case "plan":
		sub := Submission{Plan: plan, Splits: map[int][]dag.Split{}}
		for _, v := range plan.Vertices {
			if v.Kind != "source" {
				continue
			}
			splits, err := plan.Splits(ctx, v.ID)
			if err != nil {
				return fail(err)
			}
			sub.Splits[v.ID] = splits
		}
		if err := json.NewEncoder(os.Stdout).Encode(sub); err != nil {
			return fail(err)
		}
		return 0
	case "executor":
		cfg, err := worker.ExecutorConfigFromEnv()
		if err != nil {
			return fail(err)
		}
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
		defer stop()
		if err := worker.RunExecutor(ctx, plan, cfg, os.Stdin, os.Stdout); err != nil {
			return fail(err)
		}
		return 0
	case "commit":
		var req master.CommitRequest
		if err := json.NewDecoder(io.LimitReader(os.Stdin, 1<<30)).Decode(&req); err != nil {
			return fail(fmt.Errorf("read commit request: %w", err))
		}
		if req.Action == "more-splits" {
			splits, done, err := plan.MoreSplits(ctx, req.Vertex, req.Round, req.Finished)
			if err != nil {
				return fail(err)
			}
			if err := json.NewEncoder(os.Stdout).Encode(master.MoreSplitsResult{Splits: splits, Done: done}); err != nil {
				return fail(err)
			}
			return 0
		}
		com, err := plan.Committer(req.Vertex)
		if err != nil {
			return fail(err)
		}
		if com == nil {
			return 0
		}
		switch req.Action {
		case "commit":
			err = com.Commit(ctx, req.Committables)
		case "abort":
			err = com.Abort(ctx, req.Committables)
		default:
			err = fmt.Errorf("unknown action %q", req.Action)
		}
		if err != nil {
			return fail(err)
		}
		return 0
	}
	return fail(fmt.Errorf("unknown %s %q", cluster.EnvMode, mode))
}

// ClusterRole returns the role this process plays for a cluster: "plan"
// (printing the plan for dagctl submit), "executor", "commit", or "" when
// the job runs embedded.
func ClusterRole() string { return os.Getenv(cluster.EnvMode) }
