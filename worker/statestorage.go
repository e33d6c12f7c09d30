package worker

import (
	"context"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/io/filesystems"
)

// NewFileStateStorage opens the checkpoint storage of a job under its
// checkpoint directory (any registered filesystem: file://, hdfs://).
func NewFileStateStorage(job string, cfg dag.CheckpointConfig) (StateStorage, error) {
	opts := checkpoint.DefaultOptions()
	opts.MergeEnabled = !cfg.DisableFileMerging
	if cfg.Retain > 0 {
		opts.Retain = cfg.Retain
	}
	st, err := checkpoint.NewStorage(filesystems.Default(), cfg.Dir, job, opts)
	if err != nil {
		return nil, err
	}
	return fileStateStorage{st}, nil
}

type fileStateStorage struct{ s *checkpoint.Storage }

func (f fileStateStorage) NewCheckpointWriter(id int64, worker string) StateUploader {
	return fileUploader{f.s.NewCheckpointWriter(id, worker)}
}

func (f fileStateStorage) Read(ctx context.Context, h checkpoint.Handle) ([]byte, error) {
	return f.s.Read(ctx, h)
}

// Download fetches a handle into a local file (restoring incremental
// backends).
func (f fileStateStorage) Download(ctx context.Context, h checkpoint.Handle, localPath string) error {
	return f.s.Download(ctx, h, localPath)
}

type fileUploader struct{ w *checkpoint.CheckpointWriter }

func (u fileUploader) Write(ctx context.Context, data []byte) (checkpoint.Handle, error) {
	return u.w.Write(ctx, data)
}

func (u fileUploader) UploadShared(ctx context.Context, localPath, key string) (checkpoint.Handle, error) {
	return u.w.UploadShared(ctx, localPath, key)
}

func (u fileUploader) Close(ctx context.Context) (int, int64, error) {
	st, err := u.w.Close(ctx)
	return st.Files, st.Bytes, err
}

func (u fileUploader) Abort(ctx context.Context) error { return u.w.Abort(ctx) }
