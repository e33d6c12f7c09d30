package master

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/dagflow/dagflow/io/filesystems"
)

// The master's storage directory (ServerConfig.StorageDir, any registered
// filesystem such as hdfs://) keeps what the master must not lose with its
// local disk: uploaded job binaries (<dir>/binaries/<sha256>) and the plan
// of every submitted job (<dir>/jobs/<id>/plan.json). A master whose local
// copy of a binary is missing fetches it from there.

// storeBinary copies an uploaded binary into the storage directory.
func (s *Server) storeBinary(ctx context.Context, local, sha string) error {
	if s.cfg.StorageDir == "" {
		return nil
	}
	uri := s.cfg.StorageDir + "/binaries/" + sha
	reg := filesystems.Default()
	fsys, p, err := reg.Resolve(uri)
	if err != nil {
		return fmt.Errorf("storage dir %s: %w", s.cfg.StorageDir, err)
	}
	if _, err := fsys.Stat(ctx, p); err == nil {
		return nil // content-addressed: already there
	}
	if err := fsys.MkdirAll(ctx, parentOf(p)); err != nil {
		return fmt.Errorf("storage dir %s: %w", s.cfg.StorageDir, err)
	}
	in, err := os.Open(local)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := p + ".uploading"
	fsys.Remove(ctx, tmp)
	w, err := fsys.Create(ctx, tmp)
	if err != nil {
		return fmt.Errorf("store binary in %s: %w", s.cfg.StorageDir, err)
	}
	if _, err := io.Copy(w, in); err != nil {
		w.Close()
		return fmt.Errorf("store binary in %s: %w", s.cfg.StorageDir, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("store binary in %s: %w", s.cfg.StorageDir, err)
	}
	if err := fsys.Rename(ctx, tmp, p); err != nil {
		return fmt.Errorf("store binary in %s: %w", s.cfg.StorageDir, err)
	}
	return nil
}

// fetchBinary copies a binary from the storage directory to local, if it
// is there. It reports whether it did.
func (s *Server) fetchBinary(ctx context.Context, local, sha string) (bool, error) {
	if s.cfg.StorageDir == "" {
		return false, nil
	}
	fsys, p, err := filesystems.Default().Resolve(s.cfg.StorageDir + "/binaries/" + sha)
	if err != nil {
		return false, err
	}
	f, err := fsys.Open(ctx, p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("fetch binary from %s: %w", s.cfg.StorageDir, err)
	}
	defer f.Close()
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		return false, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(local), ".fetch-*")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, f); err != nil {
		tmp.Close()
		return false, fmt.Errorf("fetch binary from %s: %w", s.cfg.StorageDir, err)
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return false, err
	}
	return true, os.Rename(tmp.Name(), local)
}

// storePlan records a submitted job's plan in the storage directory.
func (s *Server) storePlan(ctx context.Context, id string, planJSON []byte) error {
	if s.cfg.StorageDir == "" {
		return nil
	}
	fsys, p, err := filesystems.Default().Resolve(s.cfg.StorageDir + "/jobs/" + id + "/plan.json")
	if err != nil {
		return err
	}
	if err := fsys.MkdirAll(ctx, parentOf(p)); err != nil {
		return err
	}
	w, err := fsys.Create(ctx, p)
	if err != nil {
		return err
	}
	if _, err := w.Write(planJSON); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// parentOf returns the parent of a path or URI without cleaning it (a URI's
// "//" must survive).
func parentOf(p string) string {
	if i := strings.LastIndex(p, "/"); i > 0 {
		return p[:i]
	}
	return p
}
