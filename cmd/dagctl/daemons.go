package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dagflow/dagflow/master"
	"github.com/dagflow/dagflow/worker"
)

func logger(stderr io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: l}))
}

// masterCmd runs the master daemon until interrupted.
func masterCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("master", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:7070", "gRPC address")
	httpAddr := fs.String("http", "127.0.0.1:7071", "REST and /metrics address (empty disables)")
	dir := fs.String("dir", "", "directory for job binaries (default: a temporary directory)")
	failure := fs.Duration("failure-timeout", 3*time.Second, "declare a silent worker lost after about this long")
	level := fs.String("log-level", "info", "log level")
	spDir := fs.String("savepoint-dir", "", "default directory (URI) of savepoints")
	storageDir := fs.String("storage-dir", "", "directory (URI, e.g. hdfs://nn:8020/dagflow) keeping job binaries and plans beyond the local disk")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "dagflow-master-")
		if err != nil {
			fmt.Fprintln(stderr, "dagctl master:", err)
			return 1
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	s, err := master.NewServer(master.ServerConfig{Listen: *listen, HTTP: *httpAddr, Dir: *dir, FailureTimeout: *failure,
		Logger: logger(stderr, *level), SavepointDir: *spDir, StorageDir: strings.TrimRight(*storageDir, "/")})
	if err != nil {
		fmt.Fprintln(stderr, "dagctl master:", err)
		return 1
	}
	fmt.Fprintf(stdout, "master listening on %s (REST %s)\n", s.Addr(), s.HTTPAddr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	s.Close()
	return 0
}

// workerCmd runs a worker daemon until interrupted.
func workerCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	masterAddr := fs.String("master", os.Getenv("DAGFLOW_MASTER"), "master address (or $DAGFLOW_MASTER)")
	listen := fs.String("listen", "127.0.0.1:0", "gRPC address")
	name := fs.String("name", "", "worker name (default: host-port)")
	slots := fs.Int("slots", 4, "task slots")
	dir := fs.String("dir", "", "directory for binaries, shuffle files and logs (default: a temporary directory)")
	failure := fs.Duration("failure-timeout", 3*time.Second, "gossip failure timeout")
	level := fs.String("log-level", "info", "log level")
	httpAddr := fs.String("http", "", "serve /metrics on this address")
	shuffleDaemon := fs.String("shuffle-daemon", "", "gRPC address of this host's shuffle daemon (dagctl shuffle), for jobs submitted with --shuffle external")
	shuffleDir := fs.String("shuffle-dir", "", "the shuffle daemon's --dir (producers stage partitions in its staging directory)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if (*shuffleDaemon == "") != (*shuffleDir == "") {
		fmt.Fprintln(stderr, "dagctl worker: --shuffle-daemon and --shuffle-dir go together")
		return 2
	}
	if *slots < 1 {
		fmt.Fprintf(stderr, "dagctl worker: --slots %d: must be at least 1\n", *slots)
		return 2
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "dagflow-worker-")
		if err != nil {
			fmt.Fprintln(stderr, "dagctl worker:", err)
			return 1
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d, err := worker.StartDaemon(ctx, worker.DaemonConfig{Name: *name, Listen: *listen, Master: *masterAddr, Slots: *slots,
		Dir: *dir, FailureTimeout: *failure, HTTP: *httpAddr, ShuffleDaemon: *shuffleDaemon, ShuffleDir: *shuffleDir,
		Logger: logger(stderr, *level)})
	if err != nil {
		fmt.Fprintln(stderr, "dagctl worker:", err)
		return 1
	}
	fmt.Fprintf(stdout, "worker %s listening on %s\n", d.Name(), d.Addr())
	<-ctx.Done()
	d.Close()
	return 0
}

// localClusterCmd starts a master and N worker processes on loopback.
func localClusterCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("local-cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	workers := fs.Int("workers", 2, "worker processes")
	slots := fs.Int("slots", 4, "slots per worker")
	listen := fs.String("listen", "127.0.0.1:7070", "master gRPC address")
	httpAddr := fs.String("http", "127.0.0.1:7071", "master REST address")
	shuffleAddr := fs.String("shuffle-daemon", "", "also start a shuffle daemon on this address, shared by the workers (for submit --shuffle external)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *workers < 1 {
		fmt.Fprintf(stderr, "dagctl local-cluster: --workers %d: must be at least 1\n", *workers)
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "dagctl local-cluster:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "dagflow-local-cluster-")
	if err != nil {
		fmt.Fprintln(stderr, "dagctl local-cluster:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	var procs []*exec.Cmd
	start := func(args ...string) error {
		cmd := exec.Command(self, args...)
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		procs = append(procs, cmd)
		return nil
	}
	defer func() {
		for _, p := range procs {
			p.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			p.Wait()
		}
	}()
	if err := start("master", "--listen", *listen, "--http", *httpAddr, "--dir", filepath.Join(dir, "master")); err != nil {
		fmt.Fprintln(stderr, "dagctl local-cluster:", err)
		return 1
	}
	var shuffleFlags []string
	if *shuffleAddr != "" {
		sdir := filepath.Join(dir, "shuffle")
		if err := start("shuffle", "--master", *listen, "--listen", *shuffleAddr, "--dir", sdir); err != nil {
			fmt.Fprintln(stderr, "dagctl local-cluster:", err)
			return 1
		}
		shuffleFlags = []string{"--shuffle-daemon", *shuffleAddr, "--shuffle-dir", sdir}
	}
	for i := 0; i < *workers; i++ {
		if err := start(append([]string{"worker", "--master", *listen, "--name", "worker-" + strconv.Itoa(i), "--slots", strconv.Itoa(*slots),
			"--dir", filepath.Join(dir, "worker-"+strconv.Itoa(i))}, shuffleFlags...)...); err != nil {
			fmt.Fprintln(stderr, "dagctl local-cluster:", err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "local cluster: master %s (REST http://%s), %d workers; export DAGFLOW_MASTER=%s; Ctrl-C stops it\n",
		*listen, *httpAddr, *workers, *listen)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return 0
}
