// Command habench measures master failover: how long a streaming job
// stops making progress when the leading master is SIGKILLed.
//
//	go run ./bench/cmd/habench [--kills 20] [--zk HOST:PORT]
//
// It runs, as separate processes on loopback, a ZooKeeper server (Debian's
// zookeeper package; or --zk), two masters with --ha zookeeper and two
// workers with --zk, and submits internal/testjobs/ckptwindow: an
// unbounded 5,000 events/s stream summed in 100 ms windows, checkpointed
// every 200 ms into a transactional file sink. It then kills the leader
// --kills times. After each kill it measures, from the SIGKILL:
//
//   - elected: a standby published itself as leader (a newer epoch in
//     ZooKeeper);
//   - progress: the job made progress again, meaning both that a
//     checkpoint newer than the last one completed before the kill is
//     complete (the new leader restored the job, every task processed
//     records and acknowledged) and that the committed output has more
//     lines than when the leader died.
//
// The killed master is restarted as a standby (as a supervisor would)
// before the next kill. It prints p50, p99 and max of both as a Markdown
// table, and, from the masters' logs, how many times the new leader
// continued the job with its running tasks and how many times it
// restarted the job's tasks from the latest checkpoint instead (with the
// reasons it logged). Run it from the repository root.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/internal/ha"
	"github.com/dagflow/dagflow/internal/zktest"
	"github.com/dagflow/dagflow/io/fileio"
	"github.com/dagflow/dagflow/io/filesystem"
)

func main() {
	kills := flag.Int("kills", 20, "how many times to kill the leader")
	zkAddr := flag.String("zk", "", "ZooKeeper to use (default: start a standalone server)")
	dir := flag.String("dir", "", "working directory (default: a temporary one, deleted after)")
	flag.Parse()
	if err := run(*kills, *zkAddr, *dir, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "habench:", err)
		os.Exit(1)
	}
}

// procs are the processes habench started.
type procs struct {
	mu sync.Mutex
	m  map[string]*exec.Cmd
}

func (p *procs) start(name string, cmd *exec.Cmd) error {
	if cmd.Stdout == nil {
		cmd.Stdout = io.Discard
	}
	if cmd.Stderr == nil {
		cmd.Stderr = io.Discard
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	p.mu.Lock()
	p.m[name] = cmd
	p.mu.Unlock()
	return nil
}

func (p *procs) kill(name string) {
	p.mu.Lock()
	cmd := p.m[name]
	delete(p.m, name)
	p.mu.Unlock()
	if cmd != nil {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
}

func (p *procs) stopAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.m {
		c.Process.Signal(syscall.SIGTERM)
	}
	for name, c := range p.m {
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			c.Process.Kill()
			<-done
		}
		delete(p.m, name)
	}
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startZooKeeper starts a standalone ZooKeeper server in dir.
func startZooKeeper(p *procs, dir string) (string, error) {
	script, err := zktest.Script()
	if err != nil {
		return "", err
	}
	addr, err := freePort()
	if err != nil {
		return "", err
	}
	_, port, _ := net.SplitHostPort(addr)
	data := filepath.Join(dir, "zk", "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return "", err
	}
	cfg := filepath.Join(dir, "zk", "zoo.cfg")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("tickTime=500\ndataDir=%s\nclientPort=%s\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\nmaxSessionTimeout=60000\n", data, port)), 0o644); err != nil {
		return "", err
	}
	cmd := exec.Command(script, "start-foreground", cfg)
	cmd.Env = append(os.Environ(), "ZOO_LOG_DIR="+filepath.Join(dir, "zk"), "JVMFLAGS=-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.start("zookeeper", cmd); err != nil {
		return "", err
	}
	return addr, nil
}

type sample struct{ elected, progress time.Duration }

func run(kills int, zkAddr, dir string, out io.Writer) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "habench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	bin := filepath.Join(dir, "bin")
	for name, pkg := range map[string]string{"dagctl": "./cmd/dagctl", "ckptwindow": "./internal/testjobs/ckptwindow"} {
		if o, err := exec.Command("go", "build", "-o", filepath.Join(bin, name), pkg).CombinedOutput(); err != nil {
			return fmt.Errorf("build %s (run from the repository root): %v\n%s", pkg, err, o)
		}
	}
	dagctl := filepath.Join(bin, "dagctl")
	p := &procs{m: map[string]*exec.Cmd{}}
	defer p.stopAll()
	if zkAddr == "" {
		var err error
		if zkAddr, err = startZooKeeper(p, dir); err != nil {
			return err
		}
	}
	ctx := context.Background()
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	zc, err := ha.Connect(cctx, ha.Config{Servers: strings.Split(zkAddr, ","), Cluster: "habench", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	cancel()
	if err != nil {
		return err
	}
	defer zc.Close()
	common := []string{"--zk", zkAddr, "--ha-cluster", "habench"}
	haDir := "file://" + filepath.Join(dir, "ha")
	masters := map[string]string{} // name -> address
	logs := &masterLogs{}
	startMaster := func(name string) error {
		addr, err := freePort()
		if err != nil {
			return err
		}
		masters[addr] = name
		args := append([]string{"master", "--ha", "zookeeper", "--ha-dir", haDir, "--zk-session-timeout", "4s", "--listen", addr,
			"--http", "", "--dir", filepath.Join(dir, name), "--failure-timeout", "2s", "--log-level", "info"}, common...)
		cmd := exec.Command(dagctl, args...)
		cmd.Stderr = logs
		return p.start(name, cmd)
	}
	for _, m := range []string{"master-0", "master-1"} {
		if err := startMaster(m); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	leader, err := zc.WaitLeader(wctx, 0)
	cancel()
	if err != nil {
		return fmt.Errorf("no first leader: %w", err)
	}
	for _, w := range []string{"worker-0", "worker-1"} {
		args := append([]string{"worker", "--name", w, "--slots", "4", "--dir", filepath.Join(dir, w), "--failure-timeout", "2s", "--log-level", "warn"}, common...)
		if err := p.start(w, exec.Command(dagctl, args...)); err != nil {
			return err
		}
	}
	outDir, ckDir := filepath.Join(dir, "out"), filepath.Join(dir, "ckpt")
	args := append([]string{"submit", "--detach", "--binary", filepath.Join(bin, "ckptwindow"), "--max-restarts", "1000"}, common...)
	args = append(args, "--", "--events", "1000000000", "--keys", "8", "--rate", "5000", "--window", "100ms", "--output", outDir,
		"--checkpoint-interval", "200ms", "--checkpoint-dir", "file://"+ckDir)
	sub := exec.Command(dagctl, args...)
	var serr strings.Builder
	sub.Stderr = &serr
	o, err := sub.Output()
	if err != nil {
		return fmt.Errorf("submit: %v\n%s%s", err, o, serr.String())
	}
	fields := strings.Fields(string(o))
	if len(fields) < 2 {
		return fmt.Errorf("submit printed %q", o)
	}
	job := fields[1]
	st, err := checkpoint.NewStorage(filesystem.Default(), "file://"+ckDir, job, checkpoint.DefaultOptions())
	if err != nil {
		return err
	}
	latest := func() int64 {
		md, err := st.Latest(ctx)
		if err != nil {
			return 0
		}
		return md.ID
	}
	lines := func() int {
		ls, err := fileio.ReadAllLines(ctx, filesystem.Default(), outDir)
		if err != nil {
			return 0
		}
		return len(ls)
	}
	// progress waits until the job made progress past checkpoint ck and
	// n committed lines.
	progress := func(ck int64, n int, limit time.Duration) bool {
		for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			if latest() > ck && lines() > n {
				return true
			}
		}
		return false
	}
	if !progress(0, 0, 2*time.Minute) {
		return fmt.Errorf("job %s made no progress before the first kill", job)
	}
	var samples []sample
	for i := 0; i < kills; i++ {
		time.Sleep(time.Second) // let the standby settle and checkpoints run
		name := masters[leader.Address]
		killed := time.Now()
		p.kill(name)
		ck, n := latest(), lines()
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		next, err := zc.WaitLeader(wctx, leader.Epoch)
		cancel()
		if err != nil {
			return fmt.Errorf("kill %d: no new leader: %w", i+1, err)
		}
		elected := time.Since(killed)
		if !progress(ck, n, 2*time.Minute) {
			return fmt.Errorf("kill %d: job %s made no progress in 2 minutes", i+1, job)
		}
		s := sample{elected, time.Since(killed)}
		samples = append(samples, s)
		fmt.Fprintf(os.Stderr, "kill %2d: %s killed (epoch %d), epoch %d elected after %v, progress after %v\n",
			i+1, name, leader.Epoch, next.Epoch, s.elected.Round(time.Millisecond), s.progress.Round(time.Millisecond))
		leader = next
		if err := startMaster(name); err != nil {
			return err
		}
	}
	report(out, samples)
	// Wait until the last leader logged its decision about the job.
	for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if c, r, _ := logs.recoveries(); c+r >= kills {
			break
		}
	}
	continued, restarted, reasons := logs.recoveries()
	fmt.Fprintf(out, "\nAfter %d kills: the new leader continued the job with its running tasks %d times and restarted its tasks from the latest checkpoint %d times.\n",
		kills, continued, restarted)
	for _, r := range reasons {
		fmt.Fprintf(out, "- restarted: %s\n", r)
	}
	return nil
}

// masterLogs collects the log lines of every master that record what a
// new leader did with the running job.
type masterLogs struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
}

// Write implements io.Writer for the masters' stderr.
func (l *masterLogs) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		if line := string(l.partial[:i]); strings.Contains(line, "job recovered after a leader change") {
			l.lines = append(l.lines, line)
		}
		l.partial = l.partial[i+1:]
	}
	return len(b), nil
}

// recoveries counts the recoveries that continued the running tasks and
// those that restarted them, with the reasons logged for the latter.
func (l *masterLogs) recoveries() (continued, restarted int, reasons []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		switch {
		case strings.Contains(line, "its running tasks continue"):
			continued++
		case strings.Contains(line, "restarted"):
			restarted++
			why := line
			if i := strings.Index(line, "notReconciled="); i >= 0 {
				why = line[i+len("notReconciled="):]
			}
			reasons = append(reasons, why)
		}
	}
	return continued, restarted, reasons
}

func pct(ds []time.Duration, q float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

func report(out io.Writer, samples []sample) {
	var el, pr []time.Duration
	for _, s := range samples {
		el, pr = append(el, s.elected), append(pr, s.progress)
	}
	if len(samples) == 0 {
		return
	}
	fmt.Fprintf(out, "| from the leader's SIGKILL to (%d kills) | p50 | p99 | max |\n|---|---:|---:|---:|\n", len(samples))
	for _, r := range []struct {
		name string
		ds   []time.Duration
	}{{"a new leader elected", el}, {"the job making progress again", pr}} {
		fmt.Fprintf(out, "| %s | %.2f s | %.2f s | %.2f s |\n", r.name, pct(r.ds, 0.5).Seconds(), pct(r.ds, 0.99).Seconds(), pct(r.ds, 1).Seconds())
	}
}
