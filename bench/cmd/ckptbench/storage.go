package main

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/io/filesystem"
	"github.com/dagflow/dagflow/master"
	"github.com/dagflow/dagflow/worker"
)

// ops is a snapshot of operation counters by name (file system operations
// or NameNode calls).
type ops map[string]int64

func (o ops) sub(before ops) ops {
	d := make(ops, len(o))
	for k, v := range o {
		if n := v - before[k]; n != 0 {
			d[k] = n
		}
	}
	return d
}

func (o ops) total() int64 {
	var t int64
	for k, v := range o {
		if k != "bytes" {
			t += v
		}
	}
	return t
}

func (o ops) String() string {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for _, k := range keys {
		s += fmt.Sprintf("%s=%d ", k, o[k])
	}
	return s + fmt.Sprintf("total=%d", o.total())
}

// fsOps converts CountingFS counts.
func fsOps(o checkpoint.FSOps) ops {
	return ops{"create": o.Create, "open": o.Open, "rename": o.Rename, "remove": o.Remove, "removeAll": o.RemoveAll,
		"mkdirAll": o.MkdirAll, "stat": o.Stat, "list": o.List, "glob": o.Glob, "bytes": o.BytesWritten}
}

// recordingStore is the job master's checkpoint store wrapped to take a
// snapshot of the operation counters right after each checkpoint is
// completed (metadata written, older checkpoints subsumed). Only one
// checkpoint is pending at a time and workers acknowledge only after
// their state is durable, so the counters between two completions are
// exactly one checkpoint's operations: its state files, its metadata and
// the deletion of the checkpoint it subsumes.
type recordingStore struct {
	inner master.CheckpointStore
	snap  func() ops

	mu      sync.Mutex
	last    ops
	perCkpt map[int64]ops
	aborted int
}

func newRecordingStore(inner master.CheckpointStore, snap func() ops) *recordingStore {
	return &recordingStore{inner: inner, snap: snap, last: snap(), perCkpt: make(map[int64]ops)}
}

// Complete implements master.CheckpointStore.
func (r *recordingStore) Complete(ctx context.Context, md *checkpoint.Metadata) error {
	err := r.inner.Complete(ctx, md)
	now := r.snap()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.perCkpt[md.ID] = now.sub(r.last)
	}
	r.last = now
	return err
}

// Abort implements master.CheckpointStore.
func (r *recordingStore) Abort(ctx context.Context, id int64) error {
	err := r.inner.Abort(ctx, id)
	now := r.snap()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.aborted++
	r.last = now
	return err
}

// WriteSavepoint implements master.CheckpointStore.
func (r *recordingStore) WriteSavepoint(ctx context.Context, md *checkpoint.Metadata, dir string) (string, error) {
	return r.inner.WriteSavepoint(ctx, md, dir)
}

func (r *recordingStore) ops(id int64) (ops, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.perCkpt[id]
	return o, ok
}

// storageOptions are the options the engine derives from a job's
// checkpoint configuration (master and workers).
func storageOptions(cfg dag.CheckpointConfig) checkpoint.Options {
	opts := checkpoint.DefaultOptions()
	opts.MergeEnabled = !cfg.DisableFileMerging
	if cfg.Retain > 0 {
		opts.Retain = cfg.Retain
	}
	opts.Logger = quietLogger()
	return opts
}

// regStateStorage is worker.NewFileStateStorage on a given registry (the
// engine uses filesystems.Default()): the workers' side of the
// checkpoint storage, writing through the counting file system.
type regStateStorage struct{ s *checkpoint.Storage }

func newStateStorageOn(reg *filesystem.Registry) func(string, dag.CheckpointConfig) (worker.StateStorage, error) {
	return func(job string, cfg dag.CheckpointConfig) (worker.StateStorage, error) {
		st, err := checkpoint.NewStorage(reg, cfg.Dir, job, storageOptions(cfg))
		if err != nil {
			return nil, fmt.Errorf("ckptbench: checkpoint storage of job %s under %s: %w", job, cfg.Dir, err)
		}
		return regStateStorage{st}, nil
	}
}

func (s regStateStorage) NewCheckpointWriter(id int64, w string) worker.StateUploader {
	return uploader{s.s.NewCheckpointWriter(id, w)}
}

func (s regStateStorage) Read(ctx context.Context, h checkpoint.Handle) ([]byte, error) {
	return s.s.Read(ctx, h)
}

// uploader adapts a CheckpointWriter to worker.StateUploader; the
// writer's methods (Write, UploadShared, Abort) are promoted, Close
// reports the files and bytes written.
type uploader struct {
	*checkpoint.CheckpointWriter
}

func (u uploader) Close(ctx context.Context) (int, int64, error) {
	st, err := u.CheckpointWriter.Close(ctx)
	return st.Files, st.Bytes, err
}
