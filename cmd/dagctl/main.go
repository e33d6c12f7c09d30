// Command dagctl is dagflow's command-line tool: it submits and watches
// jobs on a cluster, runs the cluster's daemons (master, worker, shuffle,
// local-cluster), prints job plans and edits Hive catalogs. Run
// "dagctl --help" or see docs/cli.md.
//
// The package holds flag wiring: the verbs are cobra commands, daemon
// flags are layered over DAGFLOW_* environment variables and a --config
// file, and errors map to the documented exit codes (0 ok, 1 failed,
// 2 usage, 3 master unreachable).
package main

import (
	"errors"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dagflow/dagflow"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func planCommand(a *app) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "plan [flags] (PACKAGE | BINARY) [-- JOB ARGS...]",
		Short: "print a job's plan: vertices, chains, edges, pipelined regions",
		Long: `plan prints a job's graph: every vertex with its parallelism and operator
chain (task), every edge with its exchange mode and partitioner, and the
pipelined regions the scheduler will run. PACKAGE is a Go package path or
directory (run with "go run"), BINARY a built job binary. The job is not run:
dagflow.Run sees DAGFLOW_EXPLAIN and prints its plan. --output json implies
--format json.`,
		Example: `  dagctl plan ./examples/wordcount -- --parallelism 3
  dagctl plan --format dot ./wordcount -- --mode streaming | dot -Tsvg > plan.svg`,
		RunE: func(cmd *cobra.Command, args []string) error {
			own, jobArgs := splitDash(cmd, args)
			if a.json() && !cmd.Flags().Changed("format") {
				format = "json"
			}
			switch format {
			case "text", "dot", "json":
			default:
				return usageErrorf("--format %q: want text, dot or json", format)
			}
			if len(own) != 1 {
				return usageErrorf("want exactly one PACKAGE or BINARY, got %d", len(own))
			}
			target := own[0]
			var c *exec.Cmd
			if st, err := os.Stat(target); err == nil && !st.IsDir() {
				c = exec.CommandContext(cmd.Context(), target, jobArgs...)
			} else {
				if err == nil && st.IsDir() && !strings.HasPrefix(target, ".") && !strings.HasPrefix(target, "/") {
					target = "./" + target
				}
				c = exec.CommandContext(cmd.Context(), "go", append([]string{"run", target}, jobArgs...)...)
			}
			c.Env = append(os.Environ(), dagflow.ExplainEnv+"="+format)
			c.Stdout, c.Stderr = a.stdout, a.stderr
			if err := c.Run(); err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					return failedf("%s failed: %w", own[0], err)
				}
				return failed(err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "plan format: text, dot or json")
	return cmd
}
