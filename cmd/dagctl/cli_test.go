package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dagflow/dagflow/master"
)

// The tests in this file run the built dagctl binary as a user would:
// help, completion, exit codes, daemon configuration and the README flow
// against a real local-cluster.

// proc is a dagctl process with its stdout and stderr captured.
type proc struct {
	t              *testing.T
	cmd            *exec.Cmd
	mu             sync.Mutex
	stdout, stderr bytes.Buffer
	done           chan struct{}
	err            error
}

// startDagctl starts dagctl with args and extra environment variables.
func startDagctl(t *testing.T, dagctl string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, done: make(chan struct{})}
	p.cmd = exec.Command(dagctl, args...)
	p.cmd.Env = append(cleanEnv(), env...)
	p.cmd.Stdout = syncWriter{&p.mu, &p.stdout}
	p.cmd.Stderr = syncWriter{&p.mu, &p.stderr}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("dagctl %q:\nstdout:\n%s\nstderr:\n%s", args, p.out(), p.errOut())
		}
	})
	return p
}

func (p *proc) out() string    { p.mu.Lock(); defer p.mu.Unlock(); return p.stdout.String() }
func (p *proc) errOut() string { p.mu.Lock(); defer p.mu.Unlock(); return p.stderr.String() }

// waitFor waits until the process printed s on stdout or stderr (or
// exited, which fails the test).
func (p *proc) waitFor(s string) {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(p.out(), s) || strings.Contains(p.errOut(), s) {
			return
		}
		select {
		case <-p.done:
			p.t.Fatalf("dagctl exited (%v) before printing %q:\n%s\n%s", p.err, s, p.out(), p.errOut())
		case <-time.After(20 * time.Millisecond):
		}
	}
	p.t.Fatalf("%q not printed in 60s:\n%s\n%s", s, p.out(), p.errOut())
}

// exitCode waits for the process to end and returns its exit code.
func (p *proc) exitCode() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(5 * time.Minute):
		p.t.Fatal("dagctl did not end in 5 minutes")
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatal(p.err)
	}
	return 0
}

// cleanEnv is the test's environment without DAGFLOW_* variables.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) {
			out = append(out, kv)
		}
	}
	return out
}

// dagctlRun runs dagctl to the end and returns its output and exit code.
func dagctlRun(t *testing.T, dagctl string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	p := startDagctl(t, dagctl, env, args...)
	code = p.exitCode()
	return p.out(), p.errOut(), code
}

func TestCLIHelpCompletionAndExitCodes(t *testing.T) {
	dagctl := buildAll(t)["dagctl"]
	verbs := [][]string{{"submit"}, {"list"}, {"status"}, {"cancel"}, {"savepoint"}, {"stop"}, {"logs"}, {"plan"},
		{"master"}, {"worker"}, {"shuffle"}, {"shuffle", "jobs"}, {"local-cluster"}, {"catalog"}, {"catalog", "ls"},
		{"catalog", "describe"}, {"catalog", "create-table"}, {"catalog", "partitions"}, {"version"}}
	for _, v := range verbs {
		stdout, stderr, code := dagctlRun(t, dagctl, nil, append(v, "--help")...)
		synopsis := "Usage:\n  dagctl " + strings.Join(v, " ")
		if code != 0 || !strings.Contains(stdout, synopsis) || !strings.Contains(stdout, "Examples:") {
			t.Errorf("dagctl %s --help: exit %d, stdout %q, stderr %q; want 0 with %q and examples", v, code, stdout, stderr, synopsis)
		}
		if len(v) == 1 && v[0] != "catalog" && v[0] != "shuffle" && !strings.Contains(stdout, "\nFlags:") && !strings.Contains(stdout, "Global Flags:") {
			t.Errorf("dagctl %s --help lists no flags", v)
		}
		helpOut, _, code := dagctlRun(t, dagctl, nil, append([]string{"help"}, v...)...)
		if code != 0 || helpOut != stdout {
			t.Errorf("dagctl help %s: exit %d, output differs from --help:\n%s", v, code, helpOut)
		}
	}
	if stdout, _, code := dagctlRun(t, dagctl, nil, "--help"); code != 0 || !strings.Contains(stdout, "Exit codes:") ||
		!strings.Contains(stdout, "3  master (or shuffle daemon) unreachable") {
		t.Errorf("dagctl --help: exit %d:\n%s", code, stdout)
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		if stdout, stderr, code := dagctlRun(t, dagctl, nil, "completion", shell); code != 0 || !strings.Contains(stdout, "dagctl") {
			t.Errorf("completion %s: exit %d, %d bytes, %q", shell, code, len(stdout), stderr)
		}
	}
	cfg := filepath.Join(t.TempDir(), "master.yaml")
	os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\nhttp: \"\"\nslotz: 3\n"), 0o644)
	dead := freeAddr(t)
	tests := []struct {
		args []string
		env  []string
		code int
		msgs []string
	}{
		{nil, nil, 2, []string{"Usage:"}},
		{[]string{"frobnicate"}, nil, 2, []string{`unknown command "frobnicate"`}},
		{[]string{"list", "--log-level", "loud"}, nil, 2, []string{`--log-level "loud"`, "debug, info, warn or error"}},
		{[]string{"master", "--log-format", "xml"}, nil, 2, []string{`--log-format "xml"`, "text or json"}},
		{[]string{"worker", "--master", dead}, []string{"DAGFLOW_LOG_LEVEL=chatty"}, 2, []string{"DAGFLOW_LOG_LEVEL", "chatty"}},
		{[]string{"list", "--output", "yaml"}, nil, 2, []string{`--output "yaml"`}},
		{[]string{"stop", "j1", "--savepoint=maybe"}, nil, 2, []string{"dagctl stop:", "savepoint"}},
		{[]string{"stop", "j1", "--savepoint=false", "--drain", "--master", dead}, nil, 2, []string{"dagctl stop:", "--drain"}},
		{[]string{"status"}, nil, 2, []string{"dagctl status:", "JOB"}},
		{[]string{"list"}, nil, 2, []string{"DAGFLOW_MASTER"}},
		{[]string{"list", "--master", dead}, nil, 3, []string{"master unreachable at " + dead}},
		{[]string{"status", "j1"}, []string{"DAGFLOW_MASTER=" + dead}, 3, []string{"master unreachable at " + dead}},
		{[]string{"submit", "--binary", "job", "--master", dead}, nil, 3, []string{"master unreachable"}},
		{[]string{"shuffle", "jobs", "--daemon", dead}, nil, 3, []string{"shuffle daemon unreachable"}},
		{[]string{"master", "--config", cfg}, nil, 2, []string{`unknown key "slotz"`, cfg}},
		{[]string{"master", "--advertise", "0.0.0.0:7070"}, nil, 2, []string{"wildcard"}},
		{[]string{"master", "--job-history", "-1"}, nil, 2, []string{"--job-history -1"}},
		{[]string{"catalog", "create-table", "default.t", "--columns", "a int"}, nil, 2, []string{"--metastore", "--warehouse"}},
	}
	for _, tt := range tests {
		stdout, stderr, code := dagctlRun(t, dagctl, tt.env, tt.args...)
		if code != tt.code {
			t.Errorf("dagctl %q: exit %d, want %d; stdout %q stderr %q", tt.args, code, tt.code, stdout, stderr)
		}
		for _, m := range tt.msgs {
			if !strings.Contains(stderr, m) {
				t.Errorf("dagctl %q: stderr %q lacks %q", tt.args, stderr, m)
			}
		}
	}
}

// TestDaemonConfigRealProcess: a master takes --listen from its config
// file, --http from the environment over the file, and --log-level from
// the command line over both; it logs JSON, answers version, and the
// worker reads DAGFLOW_MASTER.
func TestDaemonConfigRealProcess(t *testing.T) {
	dagctl := buildAll(t)["dagctl"]
	dir := t.TempDir()
	listen, httpFile, httpEnv := freeAddr(t), freeAddr(t), freeAddr(t)
	cfg := filepath.Join(dir, "master.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("# master\nlisten: %s\nhttp: %s\nlog-level: error\nlog-format: json\njob-history: 5\njob-history-age: 1h\n", listen, httpFile)), 0o644)
	m := startDagctl(t, dagctl, []string{"DAGFLOW_HTTP=" + httpEnv, "DAGFLOW_LOG_LEVEL=warn"},
		"master", "--config", cfg, "--log-level", "info", "--output", "json", "--dir", filepath.Join(dir, "m"))
	m.waitFor(`"daemon": "master"`)
	var ready struct{ Addr, HTTP string }
	if err := json.Unmarshal([]byte(m.out()), &ready); err != nil {
		t.Fatalf("master ready line is not JSON: %v\n%s", err, m.out())
	}
	if ready.Addr != listen || ready.HTTP != httpEnv {
		t.Errorf("master on %s REST %s; want %s (config file) and %s (environment over file)", ready.Addr, ready.HTTP, listen, httpEnv)
	}
	// info from the flag beats warn (environment) and error (file).
	m.waitFor(`"msg":"master started"`)
	for _, line := range strings.Split(strings.TrimSpace(m.errOut()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec["level"] == nil {
			t.Errorf("--log-format json from the file, yet a log line is %q", line)
		}
	}
	w := startDagctl(t, dagctl, []string{"DAGFLOW_MASTER=" + listen, "DAGFLOW_NAME=w-env", "DAGFLOW_LOG_LEVEL=warn"},
		"worker", "--dir", filepath.Join(dir, "w"))
	w.waitFor("worker w-env listening")
	stdout, stderr, code := dagctlRun(t, dagctl, []string{"DAGFLOW_MASTER=" + listen}, "version", "--output", "json")
	var v struct{ Client, Master map[string]any }
	if err := json.Unmarshal([]byte(stdout), &v); code != 0 || err != nil || v.Client["version"] == nil || v.Master["version"] == nil {
		t.Fatalf("version: exit %d, %v: %q %q", code, err, stdout, stderr)
	}
	if !maps.Equal(v.Client, v.Master) || strings.Contains(stderr, "differ") {
		t.Errorf("same binary, yet client %v master %v, stderr %q", v.Client, v.Master, stderr)
	}
	if stdout, _, code := dagctlRun(t, dagctl, nil, "version", "--master", listen); code != 0 || !strings.Contains(stdout, "client: ") ||
		!strings.Contains(stdout, "master: ") {
		t.Errorf("version text: exit %d %q", code, stdout)
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	if code := m.exitCode(); code != 0 {
		t.Errorf("master exit %d on SIGTERM", code)
	}
}

// wordCounts counts the space-separated words of the lines writeWords
// writes, independently of the engine.
func wordCounts(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, w := range strings.Fields(string(data)) {
		n[w]++
	}
	out := map[string]string{}
	for w, c := range n {
		out[w] = strconv.Itoa(c)
	}
	return out
}

// TestLocalClusterREADMEFlow follows README: a local-cluster, then submit
// with the flags after the package, a followed submit with --output json,
// progress lines on a non-terminal stderr, and stop --savepoint=false.
func TestLocalClusterREADMEFlow(t *testing.T) {
	b := buildAll(t)
	dagctl := b["dagctl"]
	dir := t.TempDir()
	masterAddr, httpAddr := freeAddr(t), freeAddr(t)
	// DAGFLOW_WORKERS configures local-cluster itself; DAGFLOW_LISTEN and
	// DAGFLOW_SLOTS are overridden by its flags and must not reach the
	// workers it starts.
	lc := startDagctl(t, dagctl, []string{"DAGFLOW_WORKERS=2", "DAGFLOW_LISTEN=" + freeAddr(t), "DAGFLOW_SLOTS=0"},
		"local-cluster", "--slots", "2", "--listen", masterAddr, "--http", httpAddr, "--log-level", "warn", "--output", "json")
	lc.waitFor("worker worker-0 listening")
	lc.waitFor("worker worker-1 listening")
	var ready struct {
		Master  string
		Workers int
	}
	if err := json.Unmarshal([]byte(lc.out()), &ready); err != nil || ready.Master != masterAddr || ready.Workers != 2 {
		t.Fatalf("local-cluster ready line %q (%v): want master %s and 2 workers from DAGFLOW_WORKERS", lc.out(), err, masterAddr)
	}
	in := filepath.Join(dir, "words.txt")
	writeWords(t, in, 50000)
	want := wordCounts(t, in)
	// Flags after the package, --master last: README's command line.
	out1 := filepath.Join(dir, "out1")
	stdout, stderr, code := dagctlRun(t, dagctl, nil, "submit", "../../examples/wordcount", "--parallelism", "3", "--master", masterAddr,
		"--", "--input", in, "--output", out1)
	if code != 0 || !strings.Contains(stdout, "finished") {
		t.Fatalf("submit PACKAGE --parallelism 3 --master M: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if got := readCounts(t, out1); !maps.Equal(got, want) {
		t.Fatalf("wordcount on the cluster: %d words, want %d", len(got), len(want))
	}
	// A followed submit with --output json prints only the final status on
	// stdout.
	out2 := filepath.Join(dir, "out2")
	stdout, stderr, code = dagctlRun(t, dagctl, []string{"DAGFLOW_MASTER=" + masterAddr}, "submit", "--binary", b["wordcount"], "--output", "json",
		"--", "--input", in, "--output", out2)
	var st master.JobStatus
	if err := json.Unmarshal([]byte(stdout), &st); code != 0 || err != nil || st.State != "finished" || st.ID == "" {
		t.Fatalf("submit --output json: exit %d, %v, stdout %q stderr %q", code, err, stdout, stderr)
	}
	if !strings.Contains(stderr, "job "+st.ID+" submitted") {
		t.Errorf("submit --output json: stderr %q lacks the submitted line", stderr)
	}
	if got := readCounts(t, out2); !maps.Equal(got, want) {
		t.Fatalf("second run: %d words, want %d", len(got), len(want))
	}
	// A long followed job: plain progress lines on a non-terminal stderr,
	// then stop --savepoint=false ends it; the follower exits 1.
	sub := startDagctl(t, dagctl, []string{"DAGFLOW_MASTER=" + masterAddr}, "submit", "--binary", b["windowed"],
		"--", "--events", "500000000", "--output", filepath.Join(dir, "windowed"))
	sub.waitFor(" submitted\n")
	id := strings.Fields(sub.out())[1]
	sub.waitFor("records read")
	if strings.Contains(sub.errOut(), "\r") {
		t.Errorf("stderr is not a terminal, yet the progress line is redrawn: %q", sub.errOut())
	}
	stdout, stderr, code = dagctlRun(t, dagctl, nil, "stop", id, "--savepoint=false", "--master", masterAddr)
	if code != 0 || !strings.Contains(stdout, "canceled") {
		t.Fatalf("stop --savepoint=false: exit %d %q %q", code, stdout, stderr)
	}
	if code := sub.exitCode(); code != 1 || !strings.Contains(sub.out(), "job "+id+" canceled") {
		t.Errorf("followed submit of a stopped job: exit %d, stdout %q; want 1 and canceled", code, sub.out())
	}
	stdout, _, code = dagctlRun(t, dagctl, nil, "list", "-o", "json", "--master", masterAddr)
	var jobs []master.JobStatus
	if err := json.Unmarshal([]byte(stdout), &jobs); code != 0 || err != nil || len(jobs) != 3 {
		t.Errorf("list -o json: exit %d, %v, %q", code, err, stdout)
	}
}

// TestCatalogFlagsAfterArguments: the syntax of docs/hive.md, flags after
// the table name, with the real binary.
func TestCatalogFlagsAfterArguments(t *testing.T) {
	dagctl := buildAll(t)["dagctl"]
	wh := filepath.Join(t.TempDir(), "wh")
	if stdout, stderr, code := dagctlRun(t, dagctl, nil, "catalog", "create-table", "default.t", "--columns", "a int,b string", "--warehouse", wh); code != 0 ||
		!strings.Contains(stdout, "created default.t") {
		t.Fatalf("create-table: exit %d %q %q", code, stdout, stderr)
	}
	stdout, stderr, code := dagctlRun(t, dagctl, nil, "catalog", "ls", "default", "--warehouse", wh, "--output", "json")
	var names []string
	if err := json.Unmarshal([]byte(stdout), &names); code != 0 || err != nil || len(names) != 1 || names[0] != "t" {
		t.Fatalf("ls -o json: exit %d %v %q %q", code, err, stdout, stderr)
	}
	stdout, _, code = dagctlRun(t, dagctl, nil, "catalog", "describe", "--warehouse", wh, "default.t", "-o", "json")
	if code != 0 || !json.Valid([]byte(stdout)) || !strings.Contains(stdout, `"b"`) {
		t.Errorf("describe -o json: exit %d %q", code, stdout)
	}
}
