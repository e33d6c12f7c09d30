package pebblestate

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/dagflow/dagflow/internal/checkpoint"
)

// DirStorage is an Uploader and Downloader over a plain local directory:
// shared files go to Root/shared/<key>, private files to
// Root/private/<n>. Handle paths are relative to Root. It is safe for
// concurrent use.
type DirStorage struct {
	Root string
	seq  atomic.Int64
}

var (
	_ Uploader   = (*DirStorage)(nil)
	_ Downloader = (*DirStorage)(nil)
)

// UploadShared copies localPath to Root/shared/key.
func (d *DirStorage) UploadShared(ctx context.Context, localPath, key string) (checkpoint.Handle, error) {
	if key == "" || path.Clean(key) != key || path.IsAbs(key) || key == ".." || strings.HasPrefix(key, "../") || strings.Contains(key, "\\") {
		return checkpoint.Handle{}, fmt.Errorf("dir storage: bad shared key %q", key)
	}
	if err := ctx.Err(); err != nil {
		return checkpoint.Handle{}, err
	}
	in, err := os.Open(localPath)
	if err != nil {
		return checkpoint.Handle{}, fmt.Errorf("dir storage: %w", err)
	}
	defer in.Close()
	return d.put(in, path.Join("shared", key))
}

// Write stores data in a new file under Root/private.
func (d *DirStorage) Write(ctx context.Context, data []byte) (checkpoint.Handle, error) {
	if err := ctx.Err(); err != nil {
		return checkpoint.Handle{}, err
	}
	return d.put(bytes.NewReader(data), path.Join("private", strconv.FormatInt(d.seq.Add(1), 10)))
}

// put writes r to Root/rel through a temporary file and a rename, so a
// reader never sees a partial file.
func (d *DirStorage) put(r io.Reader, rel string) (checkpoint.Handle, error) {
	dst := filepath.Join(d.Root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return checkpoint.Handle{}, fmt.Errorf("dir storage: %w", err)
	}
	out, err := os.CreateTemp(filepath.Dir(dst), ".tmp-*")
	if err != nil {
		return checkpoint.Handle{}, fmt.Errorf("dir storage: %w", err)
	}
	defer os.Remove(out.Name()) // no-op after the rename
	c := crc32.New(castagnoli)
	n, err := io.Copy(io.MultiWriter(out, c), r)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(out.Name(), dst)
	}
	if err != nil {
		return checkpoint.Handle{}, fmt.Errorf("dir storage: write %s: %w", rel, err)
	}
	return checkpoint.Handle{Path: rel, Length: n, CRC: c.Sum32()}, nil
}

// Download copies the bytes of h to localPath.
func (d *DirStorage) Download(ctx context.Context, h checkpoint.Handle, localPath string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if h.Path == "" {
		return os.WriteFile(localPath, h.Inline, 0o644)
	}
	in, err := os.Open(filepath.Join(d.Root, filepath.FromSlash(h.Path)))
	if err != nil {
		return fmt.Errorf("dir storage: %w", err)
	}
	defer in.Close()
	out, err := os.Create(localPath)
	if err != nil {
		return fmt.Errorf("dir storage: %w", err)
	}
	_, err = io.Copy(out, io.NewSectionReader(in, h.Offset, h.Length))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("dir storage: copy %s to %s: %w", h.Path, localPath, err)
	}
	return nil
}
