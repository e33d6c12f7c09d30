package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Local launches workers as processes on this machine: Path with Args,
// then --name NAME --dir Dir/NAME. It is the Kubernetes launcher's
// stand-in in tests, and runs on-demand workers on a single machine.
type Local struct {
	// Path is the worker binary (dagctl).
	Path string
	// Args come first, e.g. worker --master HOST:PORT --slots 2.
	Args []string
	// Dir holds one directory per worker.
	Dir string
	// Env is the workers' environment (nil: this process's).
	Env []string
	// Output receives the workers' stdout and stderr (nil: discarded).
	Output io.Writer
	// Grace is how long Stop waits after SIGTERM before SIGKILL
	// (default 10s).
	Grace time.Duration

	mu    sync.Mutex
	procs map[string]*localProc
}

type localProc struct {
	cmd     *exec.Cmd
	done    chan struct{}
	stopped bool
}

// Launch implements Launcher: it starts the worker process.
func (l *Local) Launch(_ context.Context, name string, exited func(reason string)) error {
	if l.Path == "" {
		return errors.New("launch: local launcher has no binary")
	}
	dir := filepath.Join(l.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("launch: worker directory: %w", err)
	}
	args := append(append([]string(nil), l.Args...), "--name", name, "--dir", dir)
	cmd := exec.Command(l.Path, args...)
	cmd.Env = l.Env
	cmd.Stdout, cmd.Stderr = l.Output, l.Output
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("launch: start worker %s: %w", name, err)
	}
	p := &localProc{cmd: cmd, done: make(chan struct{})}
	l.mu.Lock()
	if l.procs == nil {
		l.procs = make(map[string]*localProc)
	}
	l.procs[name] = p
	l.mu.Unlock()
	go func() {
		err := cmd.Wait()
		l.mu.Lock()
		stopped := p.stopped
		delete(l.procs, name)
		l.mu.Unlock()
		close(p.done)
		if !stopped {
			reason := "process exited"
			if err != nil {
				reason = "process exited: " + err.Error()
			}
			exited(reason)
		}
	}()
	return nil
}

// Stop implements Launcher: SIGTERM, then SIGKILL after Grace. It does
// not wait for the process to end.
func (l *Local) Stop(_ context.Context, name string) error {
	l.mu.Lock()
	p := l.procs[name]
	if p != nil {
		p.stopped = true
	}
	l.mu.Unlock()
	if p == nil {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("launch: stop worker %s: %w", name, err)
	}
	grace := l.Grace
	if grace <= 0 {
		grace = 10 * time.Second
	}
	go func() {
		select {
		case <-p.done:
		case <-time.After(grace):
			p.cmd.Process.Kill()
		}
	}()
	return nil
}

// Running returns the number of worker processes running now.
func (l *Local) Running() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.procs)
}
