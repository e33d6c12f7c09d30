package main

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dagflow/dagflow/internal/gossipkey"
	"github.com/dagflow/dagflow/master"
)

func TestWorkerMaster(t *testing.T) {
	for _, tt := range []struct {
		listen, advertise, want string
		err                     bool
	}{
		{listen: "127.0.0.1:7070", want: "127.0.0.1:7070"},
		{listen: "0.0.0.0:7070", advertise: "master.ns.svc:7070", want: "master.ns.svc:7070"},
		{listen: "0.0.0.0:7070", err: true},
		{listen: ":7070", err: true},
		{listen: "127.0.0.1:0", err: true},
		{listen: "nonsense", err: true},
	} {
		got, err := workerMaster(tt.listen, tt.advertise)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("workerMaster(%q, %q) = %q, %v", tt.listen, tt.advertise, got, err)
		}
	}
}

func TestProvisionFlagErrors(t *testing.T) {
	key, err := gossipkey.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "gossip.keys")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--kubernetes"}, "--worker-image"},
		// On-demand workers would start without the key and never join.
		{[]string{"--local-workers", "--listen", "127.0.0.1:0", "--advertise", "127.0.0.1:7070", "--gossip-key", key}, "--gossip-key"},
		{[]string{"--local-workers", "--listen", "127.0.0.1:0", "--advertise", "127.0.0.1:7070", "--gossip-key-file", keyFile}, "--gossip-key-file"},
		{[]string{"--kubernetes", "--local-workers"}, "exclude each other"},
		{[]string{"--local-workers", "--worker-slots", "0"}, "--worker-slots 0"},
		{[]string{"--local-workers", "--idle-timeout", "-1s"}, "must not be negative"},
		{[]string{"--kubernetes", "--worker-image", "i", "--worker-memory", "lots"}, "--worker-memory \"lots\""},
		{[]string{"--kubernetes", "--worker-image", "i", "--worker-image-pull-policy", "Sometimes"}, "Sometimes"},
		{[]string{"--local-workers", "--listen", "0.0.0.0:7070", "--insecure"}, "--advertise"},
	} {
		var o, e bytes.Buffer
		code := run(append([]string{"master", "--http", ""}, tt.args...), &o, &e)
		if code != 2 || !strings.Contains(e.String(), tt.want) {
			t.Errorf("master %q: exit %d, stderr %q, want exit 2 naming %q", tt.args, code, e.String(), tt.want)
		}
	}
}

// workerPIDs returns the processes whose command line has --master addr
// (the workers a master started), by name.
func workerPIDs(t *testing.T, addr string) map[string]int {
	t.Helper()
	out := map[string]int{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) < 2 || args[1] != "worker" {
			continue
		}
		var name, m string
		for i := 0; i+1 < len(args); i++ {
			switch args[i] {
			case "--name":
				name = args[i+1]
			case "--master":
				m = args[i+1]
			}
		}
		if m == addr && name != "" {
			if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && strings.Contains(string(st), ") Z ") {
				continue // a zombie: killed, not yet reaped
			}
			out[name] = pid
		}
	}
	return out
}

// TestMasterStartsWorkersOnDemand runs a master with the local-process
// launcher (the stand-in for pods) and no worker: a wordcount job gets
// workers started on demand; one is SIGKILLed mid-job and replaced; the
// job finishes with the embedded run's output; then the idle workers are
// stopped.
func TestMasterStartsWorkersOnDemand(t *testing.T) {
	dagctl, wordcount, _, _ := binaries(t)
	c := &cluster{t: t, dagctl: dagctl, master: freeAddr(t), http: freeAddr(t), procs: map[string]*exec.Cmd{},
		logs: &bytes.Buffer{}, logMu: &sync.Mutex{}, baseDir: t.TempDir()}
	t.Cleanup(c.stop)
	c.start("master", "master", "--listen", c.master, "--http", c.http, "--dir", filepath.Join(c.baseDir, "master"),
		"--failure-timeout", "2s", "--log-level", "info", "--local-workers", "--worker-slots", "2", "--idle-timeout", "3s")
	c.waitReady("master listening")
	if n := len(workerPIDs(t, c.master)); n != 0 {
		t.Fatalf("%d workers before any job", n)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.Mkdir(in, 0o755)
	for i := 0; i < 6; i++ {
		writeWords(t, filepath.Join(in, fmt.Sprintf("part-%d.txt", i)), 150000)
	}
	embedded := filepath.Join(dir, "embedded")
	if out, err := exec.Command(wordcount, "--input", in, "--output", embedded).CombinedOutput(); err != nil {
		t.Fatalf("embedded run: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "cluster")
	stdout, stderr, code := c.run("submit", "--detach", "--binary", wordcount, "--parallelism", "4", "--",
		"--input", in, "--output", out, "--mode", "batch")
	if code != 0 {
		t.Fatalf("submit: %s %s", stdout, stderr)
	}
	id := strings.Fields(stdout)[1]
	// Kill a worker started on demand as soon as it runs a task.
	deadline := time.Now().Add(120 * time.Second)
	victim := ""
	for victim == "" && time.Now().Before(deadline) {
		for _, task := range c.status(id).Tasks {
			if task.State != "running" || task.Worker == "" {
				continue
			}
			pid, ok := workerPIDs(t, c.master)[task.Worker]
			if !ok {
				t.Fatalf("task runs on %s, which is no worker process of this master", task.Worker)
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			victim = task.Worker
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if victim == "" {
		t.Fatal("no task ran on a worker started on demand")
	}
	var st master.JobStatus
	for st = c.status(id); !ended(st.State); st = c.status(id) {
		if time.Now().After(deadline) {
			t.Fatalf("job did not end: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.State != "finished" {
		t.Fatalf("job %s after the kill: %s", st.State, st.Reason)
	}
	if got, want := readCounts(t, out), readCounts(t, embedded); !maps.Equal(got, want) {
		t.Fatalf("output after a worker kill has %d words, want %d", len(got), len(want))
	}
	if st.Restarts < 1 {
		t.Fatalf("no failover recorded: %+v", st)
	}
	// A replacement was started: three workers in all, the victim not
	// among those running.
	c.waitReady("launch: started worker")
	c.logMu.Lock()
	logs := c.logs.String()
	c.logMu.Unlock()
	if n := strings.Count(logs, "launch: started worker"); n < 3 {
		t.Fatalf("%d workers started, want at least 3 (two, then a replacement):\n%s", n, logs)
	}
	if !strings.Contains(logs, "worker="+victim) || !strings.Contains(logs, "will be replaced") {
		t.Fatalf("the kill of %s was not noticed:\n%s", victim, logs)
	}
	// Idle: the workers are stopped after the idle timeout.
	for n := len(workerPIDs(t, c.master)); n > 0; n = len(workerPIDs(t, c.master)) {
		if time.Now().After(deadline.Add(60 * time.Second)) {
			t.Fatalf("%d workers still running long after the idle timeout", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.waitReady("launch: stopping idle worker")
}
