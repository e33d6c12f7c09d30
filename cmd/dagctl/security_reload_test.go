package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dagflow/dagflow/internal/gossipkey"
)

// TestSecurityFilesReload runs a secure master and worker as processes
// and changes their files underneath them: the token file (a new token
// works, a removed one is refused, a broken file keeps the previous
// tokens and is logged with its line) and the gossip key files (the
// three rotation steps, node by node, without restarts; afterwards a
// worker with only the old key is refused and one with the new key
// joins).
func TestSecurityFilesReload(t *testing.T) {
	b := buildAll(t)
	p := newPKI(t)
	oldK, err := gossipkey.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	newK, err := gossipkey.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	put := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(path+".tmp", []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	keyDir := t.TempDir()
	masterKeys, workerKeys := filepath.Join(keyDir, "master.keys"), filepath.Join(keyDir, "worker.keys")
	put(masterKeys, oldK+"\n")
	put(workerKeys, oldK+"\n")

	c := &cluster{t: t, dagctl: b["dagctl"], master: freeAddr(t), http: freeAddr(t), procs: map[string]*exec.Cmd{},
		logs: &bytes.Buffer{}, logMu: &sync.Mutex{}, baseDir: t.TempDir()}
	t.Cleanup(c.stop)
	c.startEnv("master", append([]string{"master", "--listen", c.master, "--http", c.http, "--dir", filepath.Join(c.baseDir, "master"),
		"--failure-timeout", "2s", "--log-level", "info", "--token-file", p.tokens, "--gossip-key-file", masterKeys}, p.node("master")...)...)
	c.waitReady("master listening")
	c.startEnv("worker-0", append([]string{"worker", "--master", c.master, "--name", "worker-0", "--slots", "1",
		"--dir", filepath.Join(c.baseDir, "worker-0"), "--failure-timeout", "2s", "--log-level", "info", "--gossip-key-file", workerKeys}, p.node("worker-0")...)...)
	c.waitReady("worker worker-0 listening")

	// logCount waits until line appears n times in the daemons' logs.
	logCount := func(line string, n int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			c.logMu.Lock()
			got := strings.Count(c.logs.String(), line)
			c.logMu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%q seen %d times, want %d; logs:\n%s", line, got, n, c.logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	t.Run("token file", func(t *testing.T) {
		const fresh = "fresh-token-0123456789"
		if _, stderr, code := c.runAs(p.client(fresh), "list"); code != exitFailed || !strings.Contains(stderr, "unknown bearer token") {
			t.Fatalf("token not yet in the file: exit %d: %s", code, stderr)
		}
		put(p.tokens, tokAdmin+" root admin\n"+tokView+" viewer view\n"+fresh+" dora submit\n")
		logCount("auth: reloaded tokens", 1)
		if _, stderr, code := c.runAs(p.client(fresh), "list"); code != exitOK {
			t.Fatalf("added token: exit %d: %s", code, stderr)
		}
		if _, stderr, code := c.runAs(p.client(tokSubmit), "list"); code != exitFailed || !strings.Contains(stderr, "unknown bearer token") {
			t.Fatalf("removed token: exit %d: %s", code, stderr)
		}
		put(p.tokens, tokAdmin+" root admin\n"+fresh+" dora superuser\n")
		logCount("keeping the previous tokens", 1)
		c.logMu.Lock()
		logs := c.logs.String()
		c.logMu.Unlock()
		if !strings.Contains(logs, p.tokens+":2:") || strings.Contains(logs, fresh) {
			t.Fatalf("the error does not name %s:2, or echoes a token:\n%s", p.tokens, logs)
		}
		if _, stderr, code := c.runAs(p.client(fresh), "list"); code != exitOK {
			t.Fatalf("a broken file dropped the tokens: exit %d: %s", code, stderr)
		}
	})

	t.Run("gossip key rotation", func(t *testing.T) {
		applied := 0
		for _, step := range []string{oldK + "\n" + newK + "\n", newK + "\n" + oldK + "\n", newK + "\n"} {
			for _, f := range []string{masterKeys, workerKeys} {
				put(f, "# rotation\n"+step)
				applied++
				logCount("gossipkey: applied gossip keys", applied)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		stale := append([]string{"worker", "--master", c.master, "--name", "stale", "--dir", filepath.Join(c.baseDir, "stale"),
			"--log-level", "warn", "--gossip-key", oldK}, p.node("stale")...)
		out, err := exec.CommandContext(ctx, c.dagctl, stale...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "gossip") {
			t.Fatalf("a worker with only the removed key: %v\n%s", err, out)
		}
		c.startSecureWorker(p, "renewed", newK)
		ws := restWorkers(t, c, p)
		if !strings.Contains(ws, `"renewed"`) || !strings.Contains(ws, `"worker-0"`) || strings.Contains(ws, `"stale"`) {
			t.Fatalf("workers: %s", ws)
		}
	})
}
