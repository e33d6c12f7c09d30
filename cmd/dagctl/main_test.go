package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlanOfJobBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a job binary")
	}
	bin := filepath.Join(t.TempDir(), "wordcount")
	if out, err := exec.Command("go", "build", "-o", bin, "../../examples/wordcount").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"plan", bin, "--", "--parallelism", "3", "--sample-lines", "10"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{`job "wordcount"  parallelism=3`, "6 pipelined regions", `"tokenize"`, "hash      blocking  network"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, stdout.String())
		}
	}
	stdout.Reset()
	if code := run([]string{"plan", "--format", "dot", bin, "--", "--mode", "streaming"}, &stdout, &stderr); code != 0 {
		t.Fatalf("dot: exit %d: %s", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "digraph") || strings.Contains(stdout.String(), "dashed") {
		t.Errorf("streaming dot plan should have no blocking (dashed) edges:\n%s", stdout.String())
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "Usage:"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"plan"}, 2, "want exactly one PACKAGE or BINARY"},
		{[]string{"plan", "--format", "svg", "x"}, 2, `--format "svg"`},
		{[]string{"plan", "/nonexistent/job"}, 1, "dagctl plan"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		if code := run(tt.args, &stdout, &stderr); code != tt.code || !strings.Contains(stderr.String(), tt.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d containing %q", tt.args, code, stderr.String(), tt.code, tt.msg)
		}
	}
}
