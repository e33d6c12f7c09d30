package checkpoint

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/dagflow/dagflow/io/filesystem"
)

// FSOps counts file system operations by kind.
type FSOps struct {
	Create, Open, Rename, Remove, RemoveAll, MkdirAll, Stat, List, Glob int64
	// BytesWritten counts bytes written through files from Create.
	BytesWritten int64
}

// Total returns the number of operations (bytes not included).
func (o FSOps) Total() int64 {
	return o.Create + o.Open + o.Rename + o.Remove + o.RemoveAll + o.MkdirAll + o.Stat + o.List + o.Glob
}

// Sub returns o minus before, field by field.
func (o FSOps) Sub(before FSOps) FSOps {
	return FSOps{
		Create: o.Create - before.Create, Open: o.Open - before.Open,
		Rename: o.Rename - before.Rename, Remove: o.Remove - before.Remove,
		RemoveAll: o.RemoveAll - before.RemoveAll, MkdirAll: o.MkdirAll - before.MkdirAll,
		Stat: o.Stat - before.Stat, List: o.List - before.List, Glob: o.Glob - before.Glob,
		BytesWritten: o.BytesWritten - before.BytesWritten,
	}
}

// String formats the counts.
func (o FSOps) String() string {
	return fmt.Sprintf("create=%d open=%d rename=%d remove=%d removeAll=%d mkdirAll=%d stat=%d list=%d glob=%d total=%d written=%dB",
		o.Create, o.Open, o.Rename, o.Remove, o.RemoveAll, o.MkdirAll, o.Stat, o.List, o.Glob, o.Total(), o.BytesWritten)
}

// CountingFS wraps a FileSystem and counts its operations, so tests and
// benchmarks can measure the operations of a checkpoint. Register it in a
// filesystem.Registry in place of the wrapped file system.
type CountingFS struct {
	fs filesystem.FileSystem
	c  [10]atomic.Int64
}

const (
	opCreate = iota
	opOpen
	opRename
	opRemove
	opRemoveAll
	opMkdirAll
	opStat
	opList
	opGlob
	opBytes
)

var _ filesystem.FileSystem = (*CountingFS)(nil)

// NewCountingFS returns a counting wrapper of fs.
func NewCountingFS(fs filesystem.FileSystem) *CountingFS { return &CountingFS{fs: fs} }

// Ops returns the counts so far.
func (c *CountingFS) Ops() FSOps {
	return FSOps{
		Create: c.c[opCreate].Load(), Open: c.c[opOpen].Load(), Rename: c.c[opRename].Load(),
		Remove: c.c[opRemove].Load(), RemoveAll: c.c[opRemoveAll].Load(), MkdirAll: c.c[opMkdirAll].Load(),
		Stat: c.c[opStat].Load(), List: c.c[opList].Load(), Glob: c.c[opGlob].Load(),
		BytesWritten: c.c[opBytes].Load(),
	}
}

// Open implements filesystem.FileSystem.
func (c *CountingFS) Open(ctx context.Context, path string) (filesystem.File, error) {
	c.c[opOpen].Add(1)
	return c.fs.Open(ctx, path)
}

// Create implements filesystem.FileSystem.
func (c *CountingFS) Create(ctx context.Context, path string) (io.WriteCloser, error) {
	c.c[opCreate].Add(1)
	w, err := c.fs.Create(ctx, path)
	if err != nil {
		return nil, err
	}
	return &countingWriter{w: w, n: &c.c[opBytes]}, nil
}

type countingWriter struct {
	w io.WriteCloser
	n *atomic.Int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.n.Add(int64(n))
	return n, err
}

func (w *countingWriter) Close() error { return w.w.Close() }

// Stat implements filesystem.FileSystem.
func (c *CountingFS) Stat(ctx context.Context, path string) (filesystem.FileInfo, error) {
	c.c[opStat].Add(1)
	return c.fs.Stat(ctx, path)
}

// List implements filesystem.FileSystem.
func (c *CountingFS) List(ctx context.Context, dir string) ([]filesystem.FileInfo, error) {
	c.c[opList].Add(1)
	return c.fs.List(ctx, dir)
}

// Glob implements filesystem.FileSystem.
func (c *CountingFS) Glob(ctx context.Context, pattern string) ([]filesystem.FileInfo, error) {
	c.c[opGlob].Add(1)
	return c.fs.Glob(ctx, pattern)
}

// MkdirAll implements filesystem.FileSystem.
func (c *CountingFS) MkdirAll(ctx context.Context, path string) error {
	c.c[opMkdirAll].Add(1)
	return c.fs.MkdirAll(ctx, path)
}

// Rename implements filesystem.FileSystem.
func (c *CountingFS) Rename(ctx context.Context, from, to string) error {
	c.c[opRename].Add(1)
	return c.fs.Rename(ctx, from, to)
}

// Remove implements filesystem.FileSystem.
func (c *CountingFS) Remove(ctx context.Context, path string) error {
	c.c[opRemove].Add(1)
	return c.fs.Remove(ctx, path)
}

// RemoveAll implements filesystem.FileSystem.
func (c *CountingFS) RemoveAll(ctx context.Context, path string) error {
	c.c[opRemoveAll].Add(1)
	return c.fs.RemoveAll(ctx, path)
}
