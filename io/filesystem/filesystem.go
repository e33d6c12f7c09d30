package filesystem

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotDir is matched (errors.Is) by errors of operations that need a
// directory but were given something else, e.g. List on a regular file.
var ErrNotDir = errors.New("not a directory")

// ErrIsDir is matched (errors.Is) by errors of operations that need a file
// but were given a directory, e.g. Open on a directory.
var ErrIsDir = errors.New("is a directory")

// ErrUnknownScheme is matched (errors.Is) by Registry.Resolve errors for a
// URI whose scheme has no registered FileSystem.
var ErrUnknownScheme = errors.New("unknown filesystem scheme")

// FileInfo describes a file or directory.
type FileInfo struct {
	// Path is the entry's path in the namespace of the FileSystem that
	// returned it (a local path for Local, a full URI for other schemes).
	Path string
	// Size is the file's length in bytes (0 for directories).
	Size int64
	// ModTime is the last modification time.
	ModTime time.Time
	// IsDir reports whether the entry is a directory.
	IsDir bool
}

// File is an open file for reading. It supports sequential reads, reads at
// absolute offsets and seeking; Stat reports its size at open time or later.
type File interface {
	io.Reader
	io.ReaderAt
	io.Seeker
	io.Closer
	// Stat describes the open file.
	Stat() (FileInfo, error)
}

// FileSystem is a hierarchical store of files. See the package
// documentation for the semantics every implementation provides.
// Implementations must be safe for concurrent use.
type FileSystem interface {
	// Open opens a file for reading. Opening a directory fails with an
	// error matching ErrIsDir.
	Open(ctx context.Context, path string) (File, error)
	// Create creates a file for writing, making missing parent
	// directories. It fails with an error matching fs.ErrExist if path
	// already exists. Data is durable and visible under path once Close
	// returned nil.
	Create(ctx context.Context, path string) (io.WriteCloser, error)
	// Stat describes path, following symbolic links.
	Stat(ctx context.Context, path string) (FileInfo, error)
	// List returns the entries of directory dir (not recursive), sorted by
	// path. It fails with ErrNotDir if dir is not a directory.
	List(ctx context.Context, dir string) ([]FileInfo, error)
	// Glob returns the entries matching pattern (path.Match syntax per
	// path element), sorted by path. No match is not an error.
	Glob(ctx context.Context, pattern string) ([]FileInfo, error)
	// MkdirAll creates directory path and any missing parents.
	MkdirAll(ctx context.Context, path string) error
	// Rename atomically moves from to to, replacing an existing
	// destination file. The destination's parent directory must exist.
	Rename(ctx context.Context, from, to string) error
	// Remove removes a file or an empty directory.
	Remove(ctx context.Context, path string) error
	// RemoveAll removes path and everything below it. A missing path is
	// not an error.
	RemoveAll(ctx context.Context, path string) error
}
