package dagflow

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/protocol"
	"github.com/dagflow/dagflow/io/filesystem"
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
	ShuffleEnv = protocol.EnvShuffle
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

// IsDriver reports whether this process builds and submits or runs the
// job itself (true), rather than serving a cluster as an executor or
// committer (false). Jobs use it to skip driver-only work such as
// generating sample input.
func IsDriver() bool {
	return protocol.RoleFromEnv().Driver()
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
	case "", protocol.ShuffleWorker, protocol.ShuffleExternal:
	default:
		return fmt.Errorf("dagflow: %s=%q: want %s or %s", ShuffleEnv, v, protocol.ShuffleWorker, protocol.ShuffleExternal)
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
// User code runs on this goroutine (split enumerators in plan and
// more-splits mode, committers in commit mode): a panic fails with the
// user's stack on stderr, which the master reports.
func runMode(ctx context.Context, role protocol.Role, plan *dag.Plan) int {
	return protocol.Serve(ctx, role, protocol.Handlers{
		Plan: func(ctx context.Context) (*dag.Plan, map[int][]dag.Split, error) {
			splits := map[int][]dag.Split{}
			for _, v := range plan.Vertices {
				if v.Kind != "source" {
					continue
				}
				s, err := plan.Engine().Splits(ctx, v.ID)
				if err != nil {
					return nil, nil, err
				}
				splits[v.ID] = s
			}
			return plan, splits, nil
		},
		Executor: func(ctx context.Context) error {
			cfg, err := worker.ExecutorConfigFromEnv()
			if err != nil {
				return err
			}
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
			defer stop()
			return worker.RunExecutor(ctx, plan, cfg, os.Stdin, os.Stdout)
		},
		Commit: func(ctx context.Context, vertex int, abort bool, committables [][]byte) error {
			com, err := plan.Engine().Committer(vertex)
			if err != nil || com == nil {
				return err
			}
			if abort {
				return com.Abort(ctx, committables)
			}
			return com.Commit(ctx, committables)
		},
		MoreSplits: plan.Engine().MoreSplits,
	}, os.Stdin, os.Stdout, os.Stderr)
}

// ClusterRole returns the role this process plays for a cluster: "plan"
// (printing the plan for dagctl submit), "executor", "commit",
// "more-splits" (see internal/protocol.Role), or "" when
// the job runs embedded.
func ClusterRole() string { return string(protocol.RoleFromEnv()) }
