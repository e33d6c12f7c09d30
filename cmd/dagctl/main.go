// Command dagctl is dagflow's command-line tool: it submits and watches
// jobs on a cluster, runs the cluster's daemons, and prints plans (see
// usage below).
//
//	dagctl plan [--format text|dot|json] PACKAGE|BINARY [-- JOB ARGS]
//
// plan prints a job's graph: every vertex with its parallelism and
// operator chain (task), every edge with its exchange mode and partitioner,
// and the pipelined regions the scheduler will run. PACKAGE is a Go package
// path or directory (built with `go run`), BINARY a built job binary. The
// job is not run: dagflow.Run sees DAGFLOW_EXPLAIN and prints its plan.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/dagflow/dagflow"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: dagctl COMMAND [ARGS]

jobs (master address from --master or $DAGFLOW_MASTER; --output json on all):
  submit [--parallelism N] [--detach] [--binary FILE] [--max-restarts N] [--shuffle worker|external]
         [--checkpoint-interval D] [--checkpoint-dir URI] [--state-backend heap|pebble]
         [--from-savepoint PATH [--allow-non-restored-state]] PACKAGE [-- JOB ARGS]
        build the job, upload it with its plan, and follow it to the end
  list                      list jobs
  status JOB                vertices, tasks, records, throughput, back-pressure, checkpoints
  cancel JOB                cancel a job (output not committed by a checkpoint is discarded)
  savepoint JOB [--dir URI] take a self-contained savepoint (the upgrade path: stop, change, submit --from-savepoint)
  stop JOB [--dir URI] [--drain]
        stop with a savepoint; --drain ends the input first so every event-time window fires
  logs JOB [--task T]       executor logs of a job
  plan [--format text|dot|json] PACKAGE|BINARY [-- JOB ARGS]
        print a job's plan: vertices, chains, edges, pipelined regions

daemons:
  master [--listen ADDR] [--http ADDR] [--dir DIR] [--savepoint-dir URI] [--storage-dir URI]
  worker --master ADDR [--slots N] [--listen ADDR] [--dir DIR] [--shuffle-daemon ADDR --shuffle-dir DIR]
  shuffle --dir DIR [--master ADDR] [--listen ADDR] [--ttl 1h]   external shuffle daemon (one per host)
  shuffle jobs --daemon ADDR   jobs whose partitions a shuffle daemon holds
  local-cluster [--workers N] [--slots N] [--shuffle-daemon ADDR]   a master and N workers (and a shuffle daemon) on loopback

hive catalog (--metastore thrift://HOST:9083 or --warehouse DIR for the embedded catalog):
  catalog ls [DB] | describe DB.TABLE | create-table DB.TABLE --columns "a int,b string" [--partitioned-by "dt string"] [--format parquet|text] | partitions DB.TABLE
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "plan":
		return planCmd(args[1:], stdout, stderr)
	case "submit":
		return submitCmd(args[1:], stdout, stderr)
	case "list":
		return listCmd(args[1:], stdout, stderr)
	case "status":
		return statusCmd(args[1:], stdout, stderr)
	case "cancel":
		return cancelCmd(args[1:], stdout, stderr)
	case "savepoint":
		return savepointCmd("savepoint", args[1:], stdout, stderr)
	case "stop":
		return savepointCmd("stop", args[1:], stdout, stderr)
	case "logs":
		return logsCmd(args[1:], stdout, stderr)
	case "master":
		return masterCmd(args[1:], stdout, stderr)
	case "worker":
		return workerCmd(args[1:], stdout, stderr)
	case "shuffle":
		return shuffleCmd(args[1:], stdout, stderr)
	case "local-cluster":
		return localClusterCmd(args[1:], stdout, stderr)
	case "catalog":
		return catalogCmd(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "dagctl: unknown command %q\n%s", args[0], usage)
	return 2
}

func planCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "text", "output format: text, dot or json")
	var jobArgs []string
	for i, a := range args {
		if a == "--" {
			jobArgs = args[i+1:]
			args = args[:i]
			break
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	switch *format {
	case "text", "dot", "json":
	default:
		fmt.Fprintf(stderr, "dagctl plan: --format %q: want text, dot or json\n", *format)
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "dagctl plan: want exactly one PACKAGE or BINARY")
		return 2
	}
	target := fs.Arg(0)
	var cmd *exec.Cmd
	if st, err := os.Stat(target); err == nil && !st.IsDir() {
		cmd = exec.Command(target, jobArgs...)
	} else {
		if err == nil && st.IsDir() && !strings.HasPrefix(target, ".") && !strings.HasPrefix(target, "/") {
			target = "./" + target
		}
		cmd = exec.Command("go", append([]string{"run", target}, jobArgs...)...)
	}
	cmd.Env = append(os.Environ(), dagflow.ExplainEnv+"="+*format)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			fmt.Fprintf(stderr, "dagctl plan: %s failed: %v\n", fs.Arg(0), err)
			return 1
		}
		fmt.Fprintf(stderr, "dagctl plan: %v\n", err)
		return 1
	}
	return 0
}
