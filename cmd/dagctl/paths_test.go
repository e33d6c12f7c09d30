package main

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dagflow/dagflow/master"
)

// The tests in this file check that paths in job arguments mean what the
// user typed: relative paths are files in the directory dagctl submit runs
// in, whatever directory the master and workers run in.

// dagctlIn runs the dagctl binary in dir with DAGFLOW_MASTER set, like a
// user in a shell.
func dagctlIn(t *testing.T, dagctl, dir, masterAddr string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(dagctl, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DAGFLOW_MASTER="+masterAddr)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("dagctl %v: %v", args, err)
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

// copyReadme copies the repository's README.md (any real text) to dst.
func copyReadme(t *testing.T, dst string) {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The newcomer's session: `dagctl local-cluster` started in one directory,
// `dagctl submit` of wordcount with relative --input and --output from
// another. The output lands in the submitting directory and holds the
// right counts.
func TestSubmitRelativePathsFromAnotherDirectory(t *testing.T) {
	b := buildAll(t)
	dagctl, wordcount := b["dagctl"], b["wordcount"]
	clusterDir, userDir := t.TempDir(), t.TempDir()
	c := &cluster{t: t, dagctl: dagctl, master: freeAddr(t), http: freeAddr(t), procs: map[string]*exec.Cmd{},
		logs: &bytes.Buffer{}, logMu: &sync.Mutex{}, baseDir: clusterDir}
	t.Cleanup(c.stop)
	lc := exec.Command(dagctl, "local-cluster", "--workers", "2", "--listen", c.master, "--http", c.http)
	lc.Dir = clusterDir
	w := syncWriter{c.logMu, c.logs}
	lc.Stdout, lc.Stderr = w, w
	if err := lc.Start(); err != nil {
		t.Fatal(err)
	}
	c.procs["local-cluster"] = lc
	c.waitReady("master listening")
	c.waitReady("worker worker-0 listening")
	c.waitReady("worker worker-1 listening")

	copyReadme(t, filepath.Join(userDir, "README.md"))
	stdout, stderr, code := dagctlIn(t, dagctl, userDir, c.master,
		"submit", "--binary", wordcount, "--", "--input", "README.md", "--output", "wc-out")
	if code != 0 || !strings.Contains(stdout, "finished") {
		t.Fatalf("submit: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if got, want := readCounts(t, filepath.Join(userDir, "wc-out")), wordCounts(t, filepath.Join(userDir, "README.md")); !maps.Equal(got, want) {
		t.Fatalf("output has %d words, the input %d distinct words", len(got), len(want))
	}
	if _, err := os.Stat(filepath.Join(clusterDir, "wc-out")); err == nil {
		t.Error("output also appeared in the cluster's directory")
	}
}

// A missing input fails the submission before anything is uploaded.
func TestSubmitMissingInputFailsBeforeUpload(t *testing.T) {
	b := buildAll(t)
	dagctl, wordcount := b["dagctl"], b["wordcount"]
	c := startCluster(t, dagctl, 0, 4) // the master is enough
	userDir := t.TempDir()
	_, stderr, code := dagctlIn(t, dagctl, userDir, c.master,
		"submit", "--binary", wordcount, "--", "--input", "no-such-file.txt", "--output", "out")
	if code != 1 {
		t.Errorf("exit %d, want 1\n%s", code, stderr)
	}
	for _, want := range []string{`"no-such-file.txt" does not exist`, filepath.Join(userDir, "no-such-file.txt")} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	out, errOut, code := c.run("list", "--output", "json")
	var jobs []master.JobStatus
	if code != 0 || json.Unmarshal([]byte(out), &jobs) != nil || len(jobs) != 0 {
		t.Errorf("the master holds jobs after a failed submission: exit %d %q %q", code, out, errOut)
	}
	bins, err := os.ReadDir(filepath.Join(c.baseDir, "master", "binaries"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if len(bins) != 0 {
		t.Errorf("the master received an upload: %v", bins)
	}
}

// An input the driver sees but a worker does not fails the job at once,
// naming the path, the worker and where paths must live, without a
// restart loop. The master refuses jobs while no worker is registered, so
// the job binary is wrapped: in plan mode it removes the input right after
// the driver enumerated its splits, so only the driver ever sees it.
func TestInputInvisibleToWorkerFailsJob(t *testing.T) {
	b := buildAll(t)
	dagctl, wordcount := b["dagctl"], b["wordcount"]
	c := startCluster(t, dagctl, 1, 4)
	userDir := t.TempDir()
	in := filepath.Join(userDir, "local.txt")
	copyReadme(t, in)
	job := filepath.Join(t.TempDir(), "driver-only-input.sh")
	script := "#!/bin/sh\nif [ \"$DAGFLOW_MODE\" = plan ]; then " + wordcount + " \"$@\"; rc=$?; rm -f local.txt; exit $rc; fi\nexec " + wordcount + " \"$@\"\n"
	if err := os.WriteFile(job, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := dagctlIn(t, dagctl, userDir, c.master,
		"submit", "--detach", "--max-restarts", "5", "--binary", job, "--", "--input", "local.txt", "--output", "out")
	if code != 0 {
		t.Fatalf("submit: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(in); !os.IsNotExist(err) {
		t.Fatalf("the wrapper did not remove the input after planning: %v", err)
	}
	id := strings.Fields(stdout)[1]
	st := c.waitEnd(id)
	if st.State != "failed" {
		t.Fatalf("job ended %s (%s), want failed", st.State, st.Reason)
	}
	t.Logf("job failed: %s", st.Reason)
	for _, want := range []string{in, "worker worker-0", "every worker reaches (hdfs:// or a shared mount)"} {
		if !strings.Contains(st.Reason, want) {
			t.Errorf("reason lacks %q: %s", want, st.Reason)
		}
	}
	if st.Restarts != 0 {
		t.Errorf("job restarted %d times", st.Restarts)
	}
	for _, task := range st.Tasks {
		if task.Attempt > 0 {
			t.Errorf("task %s ran %d attempts, want at most one", task.Name, task.Attempt+1)
		}
	}
	if _, err := os.Stat(filepath.Join(userDir, "out")); err == nil {
		if lines := readSorted(t, filepath.Join(userDir, "out")); len(lines) > 0 {
			t.Errorf("a failed job committed %d lines", len(lines))
		}
	}
}
