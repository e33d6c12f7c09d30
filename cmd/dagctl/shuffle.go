package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/shuffle/daemon"
)

// envTestCorrupt is a fault-injection hook for tests: the shuffle daemon
// corrupts the first N partitions it adopts (see daemon.Config).
const envTestCorrupt = "DAGFLOW_SHUFFLE_TEST_CORRUPT"

// shuffleCmd runs the external shuffle daemon until interrupted, or lists
// the jobs a daemon holds (dagctl shuffle jobs).
func shuffleCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "jobs" {
		return shuffleJobsCmd(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("shuffle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory of staged and adopted partitions; workers pass the same as --shuffle-dir (default: a temporary directory)")
	listen := fs.String("listen", "127.0.0.1:7072", "gRPC address: partition reads and the control API (workers pass it as --shuffle-daemon)")
	masterAddr := fs.String("master", os.Getenv("DAGFLOW_MASTER"), "master address (or $DAGFLOW_MASTER); empty runs standalone")
	name := fs.String("name", "", "daemon name (default: host-port)")
	ttl := fs.Duration("ttl", daemon.DefaultTTL, "delete the partitions of jobs idle this long unless the master lists them as running")
	reap := fs.Duration("reap-interval", 0, "how often the orphan reaper runs (default: ttl/4, between 1s and 5m)")
	failure := fs.Duration("failure-timeout", 3*time.Second, "gossip failure timeout")
	level := fs.String("log-level", "info", "log level")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "dagctl shuffle: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *ttl <= 0 {
		fmt.Fprintf(stderr, "dagctl shuffle: --ttl %v: must be positive\n", *ttl)
		return 2
	}
	corrupt := 0
	if v := os.Getenv(envTestCorrupt); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			fmt.Fprintf(stderr, "dagctl shuffle: %s=%q: want a count\n", envTestCorrupt, v)
			return 2
		}
		corrupt = n
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "dagflow-shuffle-")
		if err != nil {
			fmt.Fprintln(stderr, "dagctl shuffle:", err)
			return 1
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d, err := daemon.Start(ctx, daemon.Config{Dir: *dir, Listen: *listen, Name: *name, Master: *masterAddr, TTL: *ttl,
		ReapInterval: *reap, FailureTimeout: *failure, CorruptAdoptions: corrupt, Logger: logger(stderr, *level)})
	if err != nil {
		fmt.Fprintln(stderr, "dagctl shuffle:", err)
		return 1
	}
	fmt.Fprintf(stdout, "shuffle daemon %s listening on %s (dir %s)\n", d.Name(), d.Addr(), *dir)
	<-ctx.Done()
	d.Close()
	return 0
}

// shuffleJobsCmd lists the jobs whose partitions a daemon holds.
func shuffleJobsCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("shuffle jobs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("daemon", "127.0.0.1:7072", "shuffle daemon address")
	output := fs.String("output", "text", "output format: text or json")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *output != "text" && *output != "json" {
		fmt.Fprintf(stderr, "dagctl shuffle jobs: --output %q: want text or json\n", *output)
		return 2
	}
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintf(stderr, "dagctl shuffle jobs: daemon address %q: %v\n", *addr, err)
		return 1
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := rpcpb.NewShuffleDaemonClient(conn).ListJobs(ctx, &rpcpb.ListJobsRequest{})
	if err != nil {
		fmt.Fprintf(stderr, "dagctl shuffle jobs: shuffle daemon unreachable at %s: %s\n", *addr, status.Convert(err).Message())
		return 1
	}
	if *output == "json" {
		type job struct {
			Job        string    `json:"job"`
			Partitions int32     `json:"partitions"`
			Bytes      int64     `json:"bytes"`
			Touched    time.Time `json:"touched"`
		}
		out := make([]job, 0, len(resp.Jobs))
		for _, j := range resp.Jobs {
			out = append(out, job{j.Job, j.Partitions, j.Bytes, time.Unix(0, j.TouchedUnixNanos)})
		}
		json.NewEncoder(stdout).Encode(out)
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tPARTITIONS\tBYTES\tIDLE")
	for _, j := range resp.Jobs {
		idle := time.Since(time.Unix(0, j.TouchedUnixNanos)).Round(time.Second)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", j.Job, j.Partitions, j.Bytes, idle)
	}
	tw.Flush()
	return 0
}
