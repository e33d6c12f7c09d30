package yarnam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"strings"
	"time"

	"github.com/dagflow/dagflow/internal/ha"
	"github.com/dagflow/dagflow/io/filesystem"
	"github.com/dagflow/dagflow/io/filesystems"
	"github.com/dagflow/dagflow/master"
)

// AM restart re-adoption: the application's state directory (on HDFS, in
// the staging directory) holds
//
//	master       the current attempt's master (ha.Info JSON, epoch = attempt)
//	jobs/ID      the job store: a pointer per running job (master.JobStore)
//	ha/jobs/...  the jobs' submissions (the master's StorageDir)
//
// A new attempt's master runs with the attempt number as its epoch,
// recovers the jobs of the store, and publishes itself; workers started
// by any attempt follow the master file (FileLeaders) and re-register.

// resolve opens uri's file system.
func resolve(uri string) (filesystem.FileSystem, string, error) {
	fsys, p, err := filesystems.Default().Resolve(uri)
	if err != nil {
		return nil, "", fmt.Errorf("yarnam: %w", err)
	}
	return fsys, p, nil
}

// writeFile writes data to uri through a temporary file and a rename, so
// readers never see half a file.
func writeFile(ctx context.Context, uri string, data []byte) error {
	fsys, p, err := resolve(uri)
	if err != nil {
		return err
	}
	// p is a local path or, for HDFS, a full URI: cut at the last slash
	// (path.Dir would fold the URI's "//").
	if err := fsys.MkdirAll(ctx, p[:max(strings.LastIndex(p, "/"), 1)]); err != nil {
		return fmt.Errorf("yarnam: write %s: %w", uri, err)
	}
	tmp := p + ".tmp"
	w, err := fsys.Create(ctx, tmp)
	if err != nil {
		return fmt.Errorf("yarnam: write %s: %w", uri, err)
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return fmt.Errorf("yarnam: write %s: %w", uri, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("yarnam: write %s: %w", uri, err)
	}
	fsys.Remove(ctx, p) // HDFS does not rename over an existing file
	if err := fsys.Rename(ctx, tmp, p); err != nil {
		return fmt.Errorf("yarnam: write %s: %w", uri, err)
	}
	return nil
}

func readFile(ctx context.Context, uri string) ([]byte, error) {
	fsys, p, err := resolve(uri)
	if err != nil {
		return nil, err
	}
	f, err := fsys.Open(ctx, p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// PublishMaster writes the master of an attempt to the master file (URI).
func PublishMaster(ctx context.Context, file string, info ha.Info) error {
	b, _ := json.Marshal(info)
	return writeFile(ctx, file, b)
}

// FileLeaders finds the current master in a master file (ha.Info JSON, as
// PublishMaster writes it); it implements worker.LeaderSource.
type FileLeaders struct {
	// File is the master file's URI.
	File string
	// Interval is the polling interval (default 1s).
	Interval time.Duration
}

// WaitLeader polls the master file until it names a master with an epoch
// above after.
func (l FileLeaders) WaitLeader(ctx context.Context, after uint64) (ha.Info, error) {
	iv := l.Interval
	if iv <= 0 {
		iv = time.Second
	}
	for {
		b, err := readFile(ctx, l.File)
		// A missing or unreadable file (a NameNode hiccup) means: poll
		// again; the worker keeps its master meanwhile.
		if err == nil {
			var info ha.Info
			if err := json.Unmarshal(b, &info); err == nil && info.Epoch > after && info.Address != "" {
				return info, nil
			}
		}
		t := time.NewTimer(iv)
		select {
		case <-ctx.Done():
			t.Stop()
			return ha.Info{}, fmt.Errorf("yarnam: waiting for a new master in %s: %w", l.File, ctx.Err())
		case <-t.C:
		}
	}
}

// fileJobStore is a master.JobStore of one file per job under dir.
type fileJobStore struct {
	dir string
}

// Put records a job's pointer.
func (s fileJobStore) Put(job string, data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return writeFile(ctx, s.dir+"/"+job, data)
}

// Delete forgets a job.
func (s fileJobStore) Delete(job string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fsys, p, err := resolve(s.dir + "/" + job)
	if err != nil {
		return err
	}
	if err := fsys.Remove(ctx, p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("yarnam: forget job %s: %w", job, err)
	}
	return nil
}

// load returns every job pointer.
func (s fileJobStore) load(ctx context.Context) (map[string][]byte, error) {
	fsys, p, err := resolve(s.dir)
	if err != nil {
		return nil, err
	}
	infos, err := fsys.List(ctx, p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("yarnam: list jobs in %s: %w", s.dir, err)
	}
	out := map[string][]byte{}
	for _, fi := range infos {
		name := path.Base(fi.Path)
		if fi.IsDir || path.Ext(name) == ".tmp" {
			continue
		}
		b, err := readFile(ctx, s.dir+"/"+name)
		if err != nil {
			return nil, fmt.Errorf("yarnam: read job %s: %w", name, err)
		}
		out[name] = b
	}
	return out, nil
}

// masterFile is the master file of a state directory.
func masterFile(stateDir string) string { return stateDir + "/master" }

// readopt runs after the master started and the attempt registered: a
// later attempt recovers the jobs of the store (each restarts from its
// latest checkpoint, or from the beginning), then the master is published
// so that workers of every attempt (re-)register with it.
func readopt(ctx context.Context, cfg Config, srv *master.Server, store fileJobStore, log *slog.Logger) error {
	if cfg.Attempt > 1 {
		recs, err := store.load(ctx)
		if err != nil {
			return err
		}
		if len(recs) > 0 {
			log.Info("recovering the jobs of the previous attempt", "jobs", len(recs))
			if err := srv.RecoverJobs(ctx, recs); err != nil {
				log.Error("jobs not recovered", "err", err)
			}
		}
	}
	info := ha.Info{Epoch: uint64(max(cfg.Attempt, 1)), ID: os.Getenv("CONTAINER_ID"), Address: srv.Addr(), HTTP: srv.HTTPAddr()}
	if err := PublishMaster(ctx, masterFile(cfg.StateDir), info); err != nil {
		return err
	}
	log.Info("master published", "file", masterFile(cfg.StateDir), "epoch", info.Epoch)
	return nil
}
