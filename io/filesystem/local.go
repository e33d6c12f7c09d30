package filesystem

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Local is the FileSystem of the local machine. Paths are OS paths;
// relative paths are relative to the process's working directory.
// The zero value is ready to use and safe for concurrent use.
//
// Errors are *fs.PathError values naming the path, so errors.Is with
// fs.ErrNotExist, fs.ErrExist, ErrNotDir and ErrIsDir works.
type Local struct{}

var _ FileSystem = Local{}

// localFile adapts *os.File to File.
type localFile struct {
	*os.File
	path string
}

func (f localFile) Stat() (FileInfo, error) {
	st, err := f.File.Stat()
	if err != nil {
		return FileInfo{}, err
	}
	return toInfo(f.path, st), nil
}

func toInfo(path string, st fs.FileInfo) FileInfo {
	fi := FileInfo{Path: path, ModTime: st.ModTime(), IsDir: st.IsDir()}
	if !fi.IsDir {
		fi.Size = st.Size()
	}
	return fi
}

func pathErr(op, path string, err error) error {
	return &fs.PathError{Op: op, Path: path, Err: err}
}

// Open implements FileSystem.
func (Local) Open(ctx context.Context, path string) (File, error) {
	if err := ctx.Err(); err != nil {
		return nil, pathErr("open", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.IsDir() {
		f.Close()
		return nil, pathErr("open", path, ErrIsDir)
	}
	return localFile{File: f, path: path}, nil
}

// Create implements FileSystem. Files are created with mode 0644 and
// missing directories with 0755.
func (Local) Create(ctx context.Context, path string) (io.WriteCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, pathErr("create", path, err)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
}

// Stat implements FileSystem.
func (Local) Stat(ctx context.Context, path string) (FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return FileInfo{}, pathErr("stat", path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return FileInfo{}, err
	}
	return toInfo(path, st), nil
}

// List implements FileSystem. Symbolic links are followed (a link to a
// directory is reported as a directory); entries that vanish while listing
// are left out.
func (Local) List(ctx context.Context, dir string) ([]FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, pathErr("list", dir, err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, pathErr("list", dir, ErrNotDir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]FileInfo, 0, len(entries))
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		var st fs.FileInfo
		var err error
		if e.Type()&fs.ModeSymlink != 0 {
			st, err = os.Stat(p)
			if err != nil { // broken link: report the link itself
				st, err = e.Info()
			}
		} else {
			st, err = e.Info()
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, toInfo(p, st))
	}
	sortInfos(out) // ReadDir sorts by name; Join may not preserve it with separators
	return out, nil
}

// Glob implements FileSystem with filepath.Glob syntax.
func (Local) Glob(ctx context.Context, pattern string) ([]FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, pathErr("glob", pattern, err)
	}
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return nil, pathErr("glob", pattern, err)
	}
	out := make([]FileInfo, 0, len(matches))
	for _, m := range matches {
		st, err := os.Stat(m)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, toInfo(m, st))
	}
	sortInfos(out)
	return out, nil
}

// MkdirAll implements FileSystem.
func (Local) MkdirAll(ctx context.Context, path string) error {
	if err := ctx.Err(); err != nil {
		return pathErr("mkdir", path, err)
	}
	return os.MkdirAll(path, 0o755)
}

// Rename implements FileSystem with rename(2): atomic, replacing an
// existing destination file.
func (Local) Rename(ctx context.Context, from, to string) error {
	if err := ctx.Err(); err != nil {
		return pathErr("rename", from, err)
	}
	return os.Rename(from, to)
}

// Remove implements FileSystem.
func (Local) Remove(ctx context.Context, path string) error {
	if err := ctx.Err(); err != nil {
		return pathErr("remove", path, err)
	}
	return os.Remove(path)
}

// RemoveAll implements FileSystem.
func (Local) RemoveAll(ctx context.Context, path string) error {
	if err := ctx.Err(); err != nil {
		return pathErr("removeall", path, err)
	}
	return os.RemoveAll(path)
}

func sortInfos(s []FileInfo) {
	sort.Slice(s, func(i, j int) bool { return s[i].Path < s[j].Path })
}
