package launch

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestLocalLaunchExitAndStop(t *testing.T) {
	dir := t.TempDir()
	// A worker that records its arguments and ends: the end is reported
	// as an exit.
	rec := &Local{Path: "/bin/sh", Args: []string{"-c", `echo "$@" > "$4/args"`, "sh"}, Dir: dir}
	exited := make(chan string, 2)
	if err := rec.Launch(context.Background(), "r", func(r string) { exited <- "r: " + r }); err != nil {
		t.Fatal(err)
	}
	if got := <-exited; got != "r: process exited" {
		t.Fatalf("exit %q", got)
	}
	b, err := os.ReadFile(filepath.Join(dir, "r", "args"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(b)), "--name r --dir "+filepath.Join(dir, "r"); got != want {
		t.Fatalf("args %q, want %q", got, want)
	}
	l := &Local{Path: "/bin/sh", Args: []string{"-c", "exec sleep 600", "sh"}, Dir: dir}
	if err := l.Launch(context.Background(), "a", func(r string) { exited <- "a: " + r }); err != nil {
		t.Fatal(err)
	}
	if err := l.Launch(context.Background(), "b", func(r string) { exited <- "b: " + r }); err != nil {
		t.Fatal(err)
	}
	// Kill a: its exit is reported.
	l.mu.Lock()
	pa := l.procs["a"]
	l.mu.Unlock()
	pa.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case got := <-exited:
		if !strings.HasPrefix(got, "a: process exited") {
			t.Fatalf("exit %q", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit reported for a killed worker")
	}
	// Stop b: it ends, and no exit is reported.
	l.mu.Lock()
	pb := l.procs["b"]
	l.mu.Unlock()
	if err := l.Stop(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	<-pb.done
	if err := l.Stop(context.Background(), "b"); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	select {
	case got := <-exited:
		t.Fatalf("stopped worker reported %q", got)
	default:
	}
	if n := l.Running(); n != 0 {
		t.Fatalf("%d still running", n)
	}
}
