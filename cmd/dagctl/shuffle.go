package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/internal/secure"
	"github.com/dagflow/dagflow/shuffle/daemon"
)

// envTestCorrupt is a fault-injection hook for tests: the shuffle daemon
// corrupts the first N partitions it adopts (see daemon.Config).
const envTestCorrupt = "DAGFLOW_SHUFFLE_TEST_CORRUPT"

type shuffleOptions struct {
	sec                          daemonSecurity
	dir, listen, name, advertise string
	http                         string
	ttl, reap, failureTimeout    time.Duration
}

// shuffleCommand runs the external shuffle daemon; its subcommand jobs
// lists the jobs a daemon holds.
func shuffleCommand(a *app) *cobra.Command {
	var o shuffleOptions
	cmd := &cobra.Command{
		Use:   "shuffle",
		Short: "run the external shuffle daemon (one per host)",
		Long: `shuffle runs the external shuffle daemon of this host until SIGINT or SIGTERM.
Jobs submitted with --shuffle external hand their blocking partitions to it,
so that they outlive the producing executors. It registers with the master
(--master or $DAGFLOW_MASTER; none runs it standalone) and deletes the
partitions of jobs idle for --ttl unless the master lists them as running.
In an HA cluster (--zk instead of --master) it registers with each new
leading master and refuses orders from deposed ones.`,
		Example: `  dagctl shuffle --dir /data/shuffle --master 10.0.0.5:7070 --listen 0.0.0.0:7072 --advertise 10.0.0.6:7072
  dagctl shuffle --dir /data/shuffle --zk zk1:2181,zk2:2181 --listen 0.0.0.0:7072 --advertise 10.0.0.6:7072
  dagctl shuffle jobs --daemon 127.0.0.1:7072`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.ttl <= 0 {
				return usageErrorf("--ttl %v: must be positive", o.ttl)
			}
			if err := checkAdvertise(o.advertise); err != nil {
				return err
			}
			corrupt := 0
			if v := os.Getenv(envTestCorrupt); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					return usageErrorf("%s=%q: want a count", envTestCorrupt, v)
				}
				corrupt = n
			}
			// The probes' port has no TLS even when gRPC has.
			if secure.CheckListen("--http", o.http, false, o.sec.insecure) != nil {
				return usageErrorf("--http %s is not a loopback address and /healthz is served without TLS: bind it to loopback, or pass --insecure to serve it there anyway", o.http)
			}
			node, authn, kr, err := o.sec.start(cmd.Context(), a.log, map[string]string{"--listen": o.listen})
			if err != nil {
				return err
			}
			defer node.Close()
			dir, cleanup, err := tempDir(o.dir, "dagflow-shuffle-")
			if err != nil {
				return err
			}
			defer cleanup()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			leaders, closeZK, err := a.leaderSource(ctx)
			if err != nil {
				return err
			}
			defer closeZK()
			d, err := daemon.Start(ctx, daemon.Config{Dir: dir, Listen: o.listen, Name: o.name, Master: a.master, TTL: o.ttl, Leaders: leaders,
				ReapInterval: o.reap, FailureTimeout: o.failureTimeout, CorruptAdoptions: corrupt, Logger: a.log, Advertise: o.advertise,
				TLS: node, Authenticator: authn, GossipKeyring: kr, HTTP: o.http})
			if err != nil {
				return failed(err)
			}
			a.ready(fmt.Sprintf("shuffle daemon %s listening on %s (dir %s)", d.Name(), d.Addr(), dir),
				map[string]any{"daemon": "shuffle", "name": d.Name(), "addr": d.Addr(), "dir": dir})
			<-ctx.Done()
			d.Close()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", "", "directory of staged and adopted partitions; workers pass the same as --shuffle-dir (default: a temporary directory)")
	f.StringVar(&o.listen, "listen", "127.0.0.1:7072", "gRPC address: partition reads and the control API (workers pass it as --shuffle-daemon)")
	f.StringVar(&o.name, "name", "", "daemon name (default: host-port)")
	f.DurationVar(&o.ttl, "ttl", daemon.DefaultTTL, "delete the partitions of jobs idle this long unless the master lists them as running")
	f.DurationVar(&o.reap, "reap-interval", 0, "how often the orphan reaper runs (default: ttl/4, between 1s and 5m)")
	f.DurationVar(&o.failureTimeout, "failure-timeout", 3*time.Second, "gossip failure timeout")
	f.StringVar(&o.http, "http", "", "serve /healthz and /readyz on this address (empty: off)")
	addDaemonSecurityFlags(f, &o.sec, true)
	cmd.AddCommand(a.addClientSecurityFlags(shuffleJobsCommand(a)))
	return daemonCommand(cmd, &o.advertise)
}

// shuffleJobsCommand lists the jobs whose partitions a daemon holds.
func shuffleJobsCommand(a *app) *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:     "jobs",
		Short:   "list the jobs whose partitions a shuffle daemon holds",
		Long:    "jobs asks a shuffle daemon which jobs' partitions it holds: their count, size and idle time.",
		Example: "  dagctl shuffle jobs --daemon 127.0.0.1:7072 --output json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := a.clientDialOptions()
			if err != nil {
				return err
			}
			conn, err := grpc.NewClient(addr, opts...)
			if err != nil {
				return usageErrorf("--daemon %q: %v", addr, err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
			defer cancel()
			resp, err := rpcpb.NewShuffleDaemonClient(conn).ListJobs(ctx, &rpcpb.ListJobsRequest{})
			if err != nil && status.Code(err) != codes.Unavailable {
				return failed(fmt.Errorf("shuffle daemon at %s: %s", addr, status.Convert(err).Message()))
			}
			if err != nil {
				return unreachable(fmt.Errorf("shuffle daemon unreachable at %s: %s", addr, status.Convert(err).Message()))
			}
			if a.json() {
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
				return a.printJSON(out)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "JOB\tPARTITIONS\tBYTES\tIDLE")
			for _, j := range resp.Jobs {
				idle := time.Since(time.Unix(0, j.TouchedUnixNanos)).Round(time.Second)
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", j.Job, j.Partitions, j.Bytes, idle)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&addr, "daemon", "127.0.0.1:7072", "shuffle daemon address")
	return cmd
}
