package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow/internal/auth"
	"github.com/dagflow/dagflow/internal/devca"
	"github.com/dagflow/dagflow/internal/gossipkey"
	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/internal/secure"
)

// The tests in this file run a cluster with mutual TLS, tokens, a gossip
// key and limits, as real processes on loopback.

// pki is a development CA in a directory, with the test's token file.
type pki struct {
	t      *testing.T
	dir    string
	ca     *devca.CA
	tokens string
}

const (
	tokAdmin  = "admin-token-0123456789"
	tokSubmit = "submit-token-0123456789"
	tokView   = "view-token-0123456789"
)

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	ca, err := devca.InitDir(dir, "test CA", devca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tokens := filepath.Join(dir, "tokens")
	body := fmt.Sprintf("%s alice admin\n%s sam submit\n%s vic view\n", tokAdmin, tokSubmit, tokView)
	if err := os.WriteFile(tokens, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return &pki{t: t, dir: dir, ca: ca, tokens: tokens}
}

// node issues (or re-issues) a node certificate and returns its TLS flags.
func (p *pki) node(name string) []string {
	p.t.Helper()
	pair, err := p.ca.IssueNode(name, []string{"127.0.0.1", "localhost"}, devca.Options{})
	if err != nil {
		p.t.Fatal(err)
	}
	if err := devca.WritePair(p.dir, name, pair, true); err != nil {
		p.t.Fatal(err)
	}
	return []string{"--tls-cert", filepath.Join(p.dir, name+".crt"), "--tls-key", filepath.Join(p.dir, name+".key"),
		"--tls-ca", p.caFile()}
}

func (p *pki) caFile() string { return filepath.Join(p.dir, "ca.crt") }

// tokenFile writes a client token file.
func (p *pki) tokenFile(tok string) string {
	p.t.Helper()
	f := filepath.Join(p.t.TempDir(), "token")
	if err := os.WriteFile(f, []byte(tok+"\n"), 0o600); err != nil {
		p.t.Fatal(err)
	}
	return f
}

// client returns client flags for a token.
func (p *pki) client(tok string) []string {
	return []string{"--tls-ca", p.caFile(), "--token-file", p.tokenFile(tok)}
}

// startSecureCluster starts a master and workers with mutual TLS, the
// token file, gossip key and extra master flags.
func startSecureCluster(t *testing.T, dagctl string, p *pki, key string, workers int, masterFlags ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, dagctl: dagctl, master: freeAddr(t), http: freeAddr(t), procs: map[string]*exec.Cmd{},
		logs: &bytes.Buffer{}, logMu: &sync.Mutex{}, baseDir: t.TempDir()}
	t.Cleanup(c.stop)
	args := append([]string{"master", "--listen", c.master, "--http", c.http, "--dir", filepath.Join(c.baseDir, "master"),
		"--failure-timeout", "2s", "--log-level", "info", "--token-file", p.tokens, "--gossip-key", key}, p.node("master")...)
	c.startEnv("master", append(args, masterFlags...)...)
	c.waitReady("master listening")
	for i := 0; i < workers; i++ {
		c.startSecureWorker(p, "worker-"+strconv.Itoa(i), key)
	}
	return c
}

func (c *cluster) startSecureWorker(p *pki, name, key string) {
	args := append([]string{"worker", "--master", c.master, "--name", name, "--slots", "4",
		"--dir", filepath.Join(c.baseDir, name), "--failure-timeout", "2s", "--log-level", "info"}, p.node(name)...)
	if key != "" {
		args = append(args, "--gossip-key", key)
	}
	c.startEnv(name, args...)
	c.waitReady("worker " + name + " listening")
}

// startEnv starts a daemon with a short certificate reload interval.
func (c *cluster) startEnv(name string, args ...string) {
	cmd := exec.Command(c.dagctl, args...)
	cmd.Env = append(cleanEnv(), secure.EnvReloadInterval+"=200ms")
	w := syncWriter{c.logMu, c.logs}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.procs[name] = cmd
}

// runAs runs a client verb with extra flags.
func (c *cluster) runAs(flags []string, args ...string) (stdout, stderr string, code int) {
	return c.run(append(args[:1:1], append(flags, args[1:]...)...)...)
}

// conn dials the master with a token, for calling RPCs directly.
func (c *cluster) conn(p *pki, tok string) rpcpb.MasterClient {
	c.t.Helper()
	pem, err := os.ReadFile(p.caFile())
	if err != nil {
		c.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cc, err := grpc.NewClient(c.master, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13})),
		grpc.WithPerRPCCredentials(auth.NewTokenCredentials(tok)))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cc.Close() })
	return rpcpb.NewMasterClient(cc)
}

// countWords counts the words of a file without the engine.
func countWords(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for _, w := range strings.Fields(sc.Text()) {
			n[w]++
		}
	}
	out := map[string]string{}
	for w, k := range n {
		out[w] = strconv.Itoa(k)
	}
	return out
}

func TestSecureCluster(t *testing.T) {
	b := buildAll(t)
	p := newPKI(t)
	key, err := gossipkey.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	savepoints := t.TempDir()
	c := startSecureCluster(t, b["dagctl"], p, key, 2, "--max-upload-bytes", "100000000", "--allowed-dirs", savepoints)
	dir := t.TempDir()
	in := filepath.Join(dir, "words.txt")
	writeWords(t, in, 20000)

	var jobID string
	t.Run("wordcount", func(t *testing.T) {
		out := filepath.Join(dir, "counts")
		stdout, stderr, code := c.runAs(p.client(tokSubmit), "submit", "--binary", b["wordcount"], "--parallelism", "3", "--",
			"--input", in, "--output", out)
		if code != 0 {
			t.Fatalf("submit: exit %d\n%s\n%s", code, stdout, stderr)
		}
		jobID = strings.Fields(stdout)[1]
		got, want := readCounts(t, out), countWords(t, in)
		if len(got) != len(want) {
			t.Fatalf("%d words, want %d", len(got), len(want))
		}
		for w, n := range want {
			if got[w] != n {
				t.Fatalf("word %q: count %q, want %q", w, got[w], n)
			}
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		_, stderr, code := c.runAs([]string{"--tls-ca", p.caFile()}, "list")
		if code != exitFailed || !strings.Contains(stderr, "no bearer token or client certificate") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		_, stderr, code = c.run("list")
		if code != exitUnreachable || !strings.Contains(stderr, "--tls-ca") {
			t.Fatalf("plaintext: exit %d: %s", code, stderr)
		}
		_, stderr, code = c.runAs([]string{"--tls-ca", p.caFile(), "--token-file", p.tokenFile("wrong")}, "list")
		if code != exitFailed || !strings.Contains(stderr, "unknown bearer token") {
			t.Fatalf("wrong token: exit %d: %s", code, stderr)
		}
	})
	t.Run("REST", func(t *testing.T) {
		out, err := exec.Command("curl", "-sS", "-i", "--cacert", p.caFile(), "-H", "Origin: https://evil.example",
			"https://"+c.http+"/api/jobs").CombinedOutput()
		if err != nil || !strings.Contains(string(out), " 401") || !strings.Contains(string(out), "no bearer token or client certificate") {
			t.Fatalf("REST without a token: %v\n%s", err, out)
		}
		if strings.Contains(strings.ToLower(string(out)), "access-control-allow-origin") {
			t.Fatalf("REST sends CORS headers:\n%s", out)
		}
		if out, _ := exec.Command("curl", "-sS", "-w", " %{http_code}", "http://"+c.http+"/api/jobs").CombinedOutput(); strings.HasSuffix(string(out), " 200") {
			t.Fatalf("REST answered plaintext HTTP: %s", out)
		}
		if ws := restWorkers(t, c, p); !strings.Contains(ws, `"worker-0"`) {
			t.Fatalf("REST with the view token: %s", ws)
		}
	})
	t.Run("bad certificates", func(t *testing.T) {
		other, err := devca.NewCA("other CA", devca.Options{})
		if err != nil {
			t.Fatal(err)
		}
		foreign, err := other.IssueClient("mallory", devca.Options{})
		if err != nil {
			t.Fatal(err)
		}
		expired, err := p.ca.IssueClient("old", devca.Options{Validity: -time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		cdir := t.TempDir()
		for name, pair := range map[string]devca.PEMPair{"foreign": foreign, "expired": expired} {
			if err := devca.WritePair(cdir, name, pair, false); err != nil {
				t.Fatal(err)
			}
			_, stderr, code := c.runAs([]string{"--tls-ca", p.caFile(), "--tls-cert", filepath.Join(cdir, name+".crt"),
				"--tls-key", filepath.Join(cdir, name+".key")}, "list")
			if code == exitOK || !strings.Contains(stderr, "certificate") {
				t.Errorf("%s certificate: exit %d: %s", name, code, stderr)
			}
		}
	})
	t.Run("roles", func(t *testing.T) {
		if _, stderr, code := c.runAs(p.client(tokView), "list"); code != exitOK {
			t.Fatalf("view list: exit %d: %s", code, stderr)
		}
		_, stderr, code := c.runAs(p.client(tokView), "cancel", jobID)
		for _, s := range []string{"vic", "view", "Master/CancelJob"} {
			if code != exitFailed || !strings.Contains(stderr, s) {
				t.Fatalf("view cancel: exit %d, want %q in: %s", code, s, stderr)
			}
		}
		// One audit line per mutating call, allowed or not: who, what,
		// which job, the result.
		refused := []string{"msg=audit", "user=vic", "via=token", "call=Master/CancelJob", "job=" + jobID, "result=PermissionDenied"}
		if n := c.auditLines(1, refused...); n != 1 {
			t.Errorf("%d audit lines with %q after one refused cancel, want 1", n, refused)
		}
		_, err := c.conn(p, tokView).CancelJob(context.Background(), &rpcpb.JobRef{JobId: jobID})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("view CancelJob: %v", err)
		}
		if n := c.auditLines(2, refused...); n != 2 {
			t.Errorf("%d audit lines with %q after two refused cancels, want 2", n, refused)
		}
		submitted := []string{"msg=audit", "user=sam", "call=Master/SubmitJob", "job=" + jobID, "result=ok"}
		if n := c.auditLines(1, submitted...); n != 1 {
			t.Errorf("%d audit lines with %q for the wordcount's submission, want 1", n, submitted)
		}
		if n := c.auditLines(0, "msg=audit", "call=Master/ListJobs"); n != 0 {
			t.Errorf("%d audit lines for ListJobs, which changes nothing", n)
		}
	})
	t.Run("gossip key", func(t *testing.T) {
		name := "keyless"
		args := append([]string{"worker", "--master", c.master, "--name", name, "--dir", filepath.Join(c.baseDir, name),
			"--log-level", "warn"}, p.node(name)...)
		out, err := exec.Command(c.dagctl, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "--gossip-key") {
			t.Fatalf("worker without the gossip key: %v\n%s", err, out)
		}
		c.startSecureWorker(p, "keyed", key)
		ws := restWorkers(t, c, p)
		if !strings.Contains(ws, `"keyed"`) || strings.Contains(ws, `"keyless"`) {
			t.Fatalf("workers: %s", ws)
		}
	})
	t.Run("upload limit", func(t *testing.T) {
		stream, err := c.conn(p, tokSubmit).UploadBinary(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		sha := strings.Repeat("ab", 32)
		stream.Send(&rpcpb.BinaryChunk{Ref: &rpcpb.BinaryRef{Sha256: sha, Size: 200000000}})
		_, err = stream.CloseAndRecv()
		if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "100000000") {
			t.Fatalf("oversized upload: %v", err)
		}
		// A client lying about the size is stopped by the bytes it sends.
		stream, err = c.conn(p, tokSubmit).UploadBinary(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		chunk := make([]byte, 4<<20)
		err = stream.Send(&rpcpb.BinaryChunk{Ref: &rpcpb.BinaryRef{Sha256: sha, Size: 10}, Data: chunk})
		for i := 0; err == nil && i < 30; i++ {
			err = stream.Send(&rpcpb.BinaryChunk{Data: chunk})
		}
		_, err = stream.CloseAndRecv()
		if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "--max-upload-bytes") {
			t.Fatalf("lying upload: %v", err)
		}
	})
	t.Run("allowed dirs", func(t *testing.T) {
		_, stderr, code := c.runAs(p.client(tokAdmin), "savepoint", jobID, "--dir", "file:///etc")
		if code == exitOK || !strings.Contains(stderr, savepoints) || !strings.Contains(stderr, "allowed roots") {
			t.Fatalf("savepoint to /etc: exit %d: %s", code, stderr)
		}
	})
	t.Run("path traversal", func(t *testing.T) {
		mc := c.conn(p, tokAdmin)
		if _, err := mc.CancelJob(context.Background(), &rpcpb.JobRef{JobId: "../x"}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("CancelJob ../x: %v", err)
		}
		if _, err := mc.JobStatus(context.Background(), &rpcpb.JobRef{JobId: "../../etc"}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("JobStatus ../../etc: %v", err)
		}
		if _, err := mc.HasBinary(context.Background(), &rpcpb.BinaryRef{Sha256: "../x"}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("HasBinary ../x: %v", err)
		}
	})
	t.Run("certificate rotation", func(t *testing.T) {
		stdout, stderr, code := c.runAs(p.client(tokSubmit), "submit", "--detach", "--binary", b["slowsink"], "--",
			"--records", "300000", "--delay", "200ms")
		if code != 0 {
			t.Fatalf("submit slowsink: exit %d\n%s\n%s", code, stdout, stderr)
		}
		id := strings.Fields(stdout)[1]
		// Rotate while both executors run and exchange records.
		waitExecutors(t, c, id, 2)
		reloads := strings.Count(c.logText(), "reloaded certificates")
		for _, n := range []string{"master", "worker-0", "worker-1", "keyed"} {
			p.node(n)
		}
		c.waitCount("reloaded certificates", reloads+4)
		// New connections use the new certificates: a new job runs.
		out := filepath.Join(dir, "counts-rotated")
		if stdout, stderr, code := c.runAs(p.client(tokSubmit), "submit", "--binary", b["wordcount"], "--", "--input", in,
			"--output", out); code != 0 {
			t.Fatalf("submit after rotation: exit %d\n%s\n%s", code, stdout, stderr)
		}
		waitState(t, c, p, id, "finished")
	})
}

// restWorkers reads GET /api/workers over TLS with the view token.
func restWorkers(t *testing.T, c *cluster, p *pki) string {
	t.Helper()
	out, err := exec.Command("curl", "-sS", "--cacert", p.caFile(), "-H", "Authorization: Bearer "+tokView,
		"https://"+c.http+"/api/workers").CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	return string(out)
}

func waitState(t *testing.T, c *cluster, p *pki, id, want string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		out, stderr, code := c.runAs(p.client(tokView), "status", id, "--output", "json")
		if code != 0 {
			t.Fatalf("status: %s", stderr)
		}
		if strings.Contains(out, `"state": "`+want+`"`) {
			return
		}
		if strings.Contains(out, `"state": "failed"`) || strings.Contains(out, `"state": "canceled"`) ||
			want != "finished" && strings.Contains(out, `"state": "finished"`) {
			t.Fatalf("job %s: %s", id, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("job %s not %s in 90s", id, want)
}

// waitExecutors waits until n executors of job started.
func waitExecutors(t *testing.T, c *cluster, job string, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Count(c.logText(), "job="+job+" pid=") >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%d executors of job %s not started in 60s", n, job)
}

// auditLines counts the log lines holding every one of fields, waiting
// up to 10 s for at least want of them (the daemon's output is copied
// into the logs asynchronously).
func (c *cluster) auditLines(want int, fields ...string) int {
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := 0
		for _, l := range strings.Split(c.logText(), "\n") {
			all := true
			for _, f := range fields {
				all = all && strings.Contains(l, f)
			}
			if all {
				n++
			}
		}
		if n >= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *cluster) logText() string {
	c.logMu.Lock()
	defer c.logMu.Unlock()
	return c.logs.String()
}

// waitCount waits until s occurs n times in the logs.
func (c *cluster) waitCount(s string, n int) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Count(c.logText(), s) >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("%q not seen %d times in 30s", s, n)
}

func TestDaemonRefusesPlaintextOnWildcard(t *testing.T) {
	b := buildAll(t)
	out, err := exec.Command(b["dagctl"], "master", "--listen", "0.0.0.0:0", "--http", "", "--dir", t.TempDir()).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitUsage || !strings.Contains(string(out), "--insecure") {
		t.Fatalf("master on 0.0.0.0 without TLS: %v\n%s", err, out)
	}
	p := startDagctl(t, b["dagctl"], nil, "master", "--listen", "0.0.0.0:0", "--http", "", "--dir", t.TempDir(), "--insecure")
	p.waitFor("master listening")
}

func TestLocalClusterSecure(t *testing.T) {
	b := buildAll(t)
	addr, httpAddr := freeAddr(t), freeAddr(t)
	p := startDagctl(t, b["dagctl"], nil, "local-cluster", "--secure", "--listen", addr, "--http", httpAddr, "--workers", "1")
	p.waitFor("DAGFLOW_TOKEN=")
	line := p.out()
	_, rest, _ := strings.Cut(line, "DAGFLOW_TOKEN=")
	token, _, _ := strings.Cut(rest, ";")
	_, rest, _ = strings.Cut(line, "--tls-ca ")
	ca, _, _ := strings.Cut(rest, " ")
	tokFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	// The worker registers over mutual TLS: wait until REST lists it.
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _ := exec.Command("curl", "-sS", "--cacert", ca, "-H", "Authorization: Bearer "+token,
			"https://"+httpAddr+"/api/workers").CombinedOutput()
		if strings.Contains(string(out), `"worker-0"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker-0 not listed in 60s: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "words.txt"), filepath.Join(dir, "counts")
	writeWords(t, in, 2000)
	var o, e bytes.Buffer
	if code := run([]string{"submit", "--master", addr, "--tls-ca", ca, "--token-file", tokFile, "--binary", b["wordcount"], "--",
		"--input", in, "--output", out}, &o, &e); code != 0 {
		t.Fatalf("submit: exit %d\n%s\n%s", code, o.String(), e.String())
	}
	if got, want := readCounts(t, out), countWords(t, in); len(got) != len(want) || got["alpha"] != want["alpha"] {
		t.Fatalf("counts: %d words (alpha %s), want %d (alpha %s)", len(got), got["alpha"], len(want), want["alpha"])
	}
	o.Reset()
	e.Reset()
	if code := run([]string{"list", "--master", addr, "--tls-ca", ca}, &o, &e); code != exitFailed {
		t.Fatalf("list without a token: exit %d: %s", code, e.String())
	}
}

// TestSecureExternalShuffle runs a batch wordcount whose blocking
// partitions go through a shuffle daemon, with mutual TLS and the gossip
// key everywhere: the daemon registers with the master over TLS, the
// executors stage and read partitions through it over TLS, the output is
// exact, and the daemon's job list needs a token (view role).
func TestSecureExternalShuffle(t *testing.T) {
	b := buildAll(t)
	p := newPKI(t)
	key, err := gossipkey.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := startSecureCluster(t, b["dagctl"], p, key, 0)
	daemonAddr, daemonDir := freeAddr(t), filepath.Join(c.baseDir, "shuffle")
	c.startEnv("shuffle-0", append([]string{"shuffle", "--master", c.master, "--listen", daemonAddr, "--dir", daemonDir,
		"--name", "shuffle-0", "--failure-timeout", "2s", "--log-level", "info", "--gossip-key", key, "--token-file", p.tokens},
		p.node("shuffle-0")...)...)
	c.waitReady("shuffle daemon shuffle-0 listening")
	c.startEnv("worker-0", append([]string{"worker", "--master", c.master, "--name", "worker-0", "--slots", "4",
		"--dir", filepath.Join(c.baseDir, "worker-0"), "--failure-timeout", "2s", "--log-level", "info", "--gossip-key", key,
		"--shuffle-daemon", daemonAddr, "--shuffle-dir", daemonDir}, p.node("worker-0")...)...)
	c.waitReady("worker worker-0 listening")

	dir := t.TempDir()
	in, out := filepath.Join(dir, "words.txt"), filepath.Join(dir, "counts")
	writeWords(t, in, 20000)
	stdout, stderr, code := c.runAs(p.client(tokSubmit), "submit", "--binary", b["wordcount"], "--parallelism", "3",
		"--shuffle", "external", "--", "--input", in, "--output", out, "--mode", "batch")
	if code != 0 || !strings.Contains(stdout, "finished") {
		t.Fatalf("submit: exit %d\n%s\n%s", code, stdout, stderr)
	}
	id := strings.Fields(stdout)[1]
	got, want := readCounts(t, out), countWords(t, in)
	if len(got) != len(want) {
		t.Fatalf("%d words, want %d", len(got), len(want))
	}
	for w, n := range want {
		if got[w] != n {
			t.Fatalf("word %q: count %q, want %q", w, got[w], n)
		}
	}
	// The three producers' partitions went through the daemon.
	c.waitCount(fmt.Sprintf("job=%s reason=released partitions=3", id), 1)
	if logs, stderr, code := c.runAs(p.client(tokView), "logs", id); code != 0 || !strings.Contains(logs, "blocking partitions go to the shuffle daemon") {
		t.Errorf("executors did not use the shuffle daemon (exit %d, %s):\n%s", code, stderr, logs)
	}
	// The daemon's own API: a token is needed, the view role suffices.
	shuffleJobs := func(flags ...string) (string, int) {
		var o, e bytes.Buffer
		code := run(append([]string{"shuffle", "jobs", "--daemon", daemonAddr}, flags...), &o, &e)
		return o.String() + e.String(), code
	}
	if out, code := shuffleJobs("--tls-ca", p.caFile()); code == exitOK || !strings.Contains(out, "no bearer token or client certificate") {
		t.Errorf("shuffle jobs without a token: exit %d: %s", code, out)
	}
	if out, code := shuffleJobs(p.client(tokView)...); code != exitOK {
		t.Errorf("shuffle jobs with the view token: exit %d: %s", code, out)
	}
}
