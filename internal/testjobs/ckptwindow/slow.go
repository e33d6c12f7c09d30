package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dagflow/dagflow/dag"
)

// slowness configures the fault-injection delays of the sink, for tests
// that kill the master while a checkpoint or a commit is in flight.
type slowness struct {
	markers         string
	prepare, commit time.Duration
}

// mark creates an empty marker file named prefix-<pid>-<nanos> and
// returns its path.
func (s slowness) mark(prefix string) string {
	if s.markers == "" {
		return ""
	}
	p := filepath.Join(s.markers, fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), time.Now().UnixNano()))
	_ = os.MkdirAll(s.markers, 0o755)
	_ = os.WriteFile(p, nil, 0o644)
	return p
}

// slowSink wraps a sink with the delays of s (none: the sink itself).
func slowSink[T any](s slowness, inner dag.Sink[T]) dag.Sink[T] {
	if s.prepare <= 0 && s.commit <= 0 {
		return inner
	}
	return slow[T]{s, inner}
}

type slow[T any] struct {
	s     slowness
	inner dag.Sink[T]
}

func (k slow[T]) NewWriter(ctx context.Context, sc dag.SinkContext) (dag.SinkWriter[T], error) {
	w, err := k.inner.NewWriter(ctx, sc)
	if err != nil || k.s.prepare <= 0 {
		return w, err
	}
	return slowWriter[T]{w, k.s}, nil
}

func (k slow[T]) Committer() dag.Committer {
	c := k.inner.Committer()
	if c == nil || k.s.commit <= 0 {
		return c
	}
	return slowCommitter{c, k.s}
}

// slowWriter sleeps in Prepare, after marking that it began; it marks
// the end of the sleep with the marker's name plus ".done".
type slowWriter[T any] struct {
	dag.SinkWriter[T]
	s slowness
}

func (w slowWriter[T]) Prepare(ctx context.Context) ([][]byte, error) {
	started := w.s.mark("prepare")
	time.Sleep(w.s.prepare)
	if started != "" {
		_ = os.WriteFile(started+".done", nil, 0o644)
	}
	return w.SinkWriter.Prepare(ctx)
}

// slowCommitter commits the first committable, marks the commit started,
// sleeps, and commits the rest, marking it done. The master runs commits
// in a child process: when the master dies meanwhile (this process is
// orphaned), it exits with the commit half done, as if it had died with
// the master.
type slowCommitter struct {
	dag.Committer
	s slowness
}

func (c slowCommitter) Commit(ctx context.Context, cs [][]byte) error {
	if len(cs) == 0 {
		return c.Committer.Commit(ctx, cs)
	}
	parent := os.Getppid()
	if err := c.Committer.Commit(ctx, cs[:1]); err != nil {
		return err
	}
	started := c.s.mark("commit")
	for end := time.Now().Add(c.s.commit); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if os.Getppid() != parent {
			fmt.Fprintln(os.Stderr, "ckptwindow: the master died mid-commit: exiting with the commit half done")
			os.Exit(3)
		}
	}
	if err := c.Committer.Commit(ctx, cs[1:]); err != nil {
		return err
	}
	if started != "" {
		_ = os.WriteFile(started+".done", nil, 0o644)
	}
	return nil
}
