package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/examples/wordcount/job"
)

// clusterBench compares wordcount on a local cluster (a master and two
// worker processes on loopback, jobs submitted with dagctl) with the
// embedded runtime on the same input. Only wall time is comparable: the
// cluster's CPU is spent in other processes.
func clusterBench(out io.Writer, dir string, sizeMB, par, rounds int) error {
	input := filepath.Join(dir, "cluster-words.txt")
	if err := job.WriteSample(input, sizeMB*1_000_000/43, 42); err != nil {
		return err
	}
	st, err := os.Stat(input)
	if err != nil {
		return err
	}
	bin := filepath.Join(dir, "bin")
	for name, pkg := range map[string]string{"dagctl": "./cmd/dagctl", "wordcount": "./examples/wordcount"} {
		if o, err := exec.Command("go", "build", "-o", filepath.Join(bin, name), pkg).CombinedOutput(); err != nil {
			return fmt.Errorf("build %s (run from the repository root): %v\n%s", pkg, err, o)
		}
	}
	dagctl, wordcount := filepath.Join(bin, "dagctl"), filepath.Join(bin, "wordcount")
	masterAddr, err := freePort()
	if err != nil {
		return err
	}
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			p.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			p.Wait()
		}
	}()
	start := func(ready string, args ...string) error {
		cmd := exec.Command(dagctl, args...)
		pr, pw := io.Pipe()
		cmd.Stdout, cmd.Stderr = pw, io.Discard
		if err := cmd.Start(); err != nil {
			return err
		}
		procs = append(procs, cmd)
		found := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				if strings.Contains(sc.Text(), ready) {
					found <- true
				}
			}
		}()
		select {
		case <-found:
			return nil
		case <-time.After(30 * time.Second):
			return fmt.Errorf("dagctl %s did not start", args[0])
		}
	}
	if err := start("master listening", "master", "--listen", masterAddr, "--http", "", "--dir", filepath.Join(dir, "master"), "--log-level", "error"); err != nil {
		return err
	}
	for i := 0; i < 2; i++ {
		name := fmt.Sprintf("w%d", i)
		if err := start("listening", "worker", "--master", masterAddr, "--name", name, "--slots", "4", "--dir", filepath.Join(dir, name), "--log-level", "error"); err != nil {
			return err
		}
	}
	var r runs
	n := 0
	r.add(fmt.Sprintf("embedded, p=%d", par), func() (int64, string, error) {
		n++
		g := job.Build(input, filepath.Join(dir, fmt.Sprintf("emb-%d", n)), dag.Config{Parallelism: par, Mode: dag.BatchMode})
		res, err := dagflow.Run(context.Background(), g, dagflow.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return 0, "", err
		}
		v, _ := res.Vertex("output")
		return 0, fmt.Sprintf("%d words", v.RecordsIn), nil
	})
	r.add(fmt.Sprintf("local cluster (2 workers), p=%d", par), func() (int64, string, error) {
		n++
		outDir := filepath.Join(dir, fmt.Sprintf("cl-%d", n))
		cmd := exec.Command(dagctl, "submit", "--master", masterAddr, "--binary", wordcount, "--parallelism", fmt.Sprint(par),
			"--", "--input", input, "--output", outDir, "--mode", "batch")
		var o bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &o
		if err := cmd.Run(); err != nil {
			return 0, "", fmt.Errorf("submit: %v\n%s", err, o.String())
		}
		return 0, "finished", nil
	})
	ms, err := r.medians(st.Size(), rounds)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "## wordcount on a local cluster vs embedded: %.0f MB, median of %d rounds (wall time; the cluster row includes submission: plan, upload check, executor start)\n\n", float64(st.Size())/1e6, rounds)
	fmt.Fprintf(out, "| run | wall s | MB/s | result |\n|---|---|---|---|\n")
	for _, m := range ms {
		fmt.Fprintf(out, "| %s | %.2f | %.1f | %s |\n", m.name, m.wall.Seconds(), float64(m.bytes)/1e6/m.wall.Seconds(), m.check)
	}
	fmt.Fprintln(out)
	return nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
