package hdfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"time"

	hdfsclient "github.com/colinmarc/hdfs/v2"
	"github.com/dagflow/dagflow/io/filesystem"
)

// file is an open HDFS file. It keeps its own offset so that it can seek
// past the end (reads there return io.EOF) and so that ReadAt leaves the
// offset of Read alone, as os.File does.
type file struct {
	fs   *FileSystem
	cl   *nnClient
	info filesystem.FileInfo // at open time

	mu     sync.Mutex
	r      *hdfsclient.FileReader
	pos    int64
	closed bool
}

func (f *file) err(op string, err error) error {
	return &fs.PathError{Op: op, Path: f.info.Path, Err: err}
}

// Read implements io.Reader.
func (f *file) Read(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, f.err("read", fs.ErrClosed)
	}
	if f.pos >= f.info.Size {
		return 0, io.EOF
	}
	n, err := f.r.Read(b)
	f.pos += int64(n)
	if err != nil && err != io.EOF {
		err = f.err("read", err)
	}
	return n, err
}

// ReadAt implements io.ReaderAt. Calls are serialized; each one that does
// not continue where the previous read stopped opens a new DataNode
// stream.
func (f *file) ReadAt(b []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, f.err("read", fs.ErrClosed)
	}
	if off < 0 {
		return 0, f.err("readat", errors.New("negative offset"))
	}
	if off >= f.info.Size {
		return 0, io.EOF
	}
	n, err := f.r.ReadAt(b, off)
	if _, serr := f.r.Seek(min(f.pos, f.info.Size), io.SeekStart); serr != nil && err == nil {
		err = serr
	}
	if err != nil && err != io.EOF {
		err = f.err("read", err)
	}
	return n, err
}

// Seek implements io.Seeker. Seeking is free: the next read starts a
// DataNode stream at the new offset (or skips ahead in the current one).
func (f *file) Seek(offset int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, f.err("seek", fs.ErrClosed)
	}
	abs := offset
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		abs += f.pos
	case io.SeekEnd:
		abs += f.info.Size
	default:
		return f.pos, f.err("seek", fmt.Errorf("invalid whence %d", whence))
	}
	if abs < 0 {
		return f.pos, f.err("seek", errors.New("negative offset"))
	}
	if abs <= f.info.Size {
		if _, err := f.r.Seek(abs, io.SeekStart); err != nil {
			return f.pos, f.err("seek", err)
		}
	}
	f.pos = abs
	return abs, nil
}

// Stat implements filesystem.File: the file as it was when opened.
func (f *file) Stat() (filesystem.FileInfo, error) { return f.info, nil }

// Close implements io.Closer.
func (f *file) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return f.err("close", fs.ErrClosed)
	}
	f.closed = true
	err := f.r.Close()
	f.fs.release(f.cl)
	if err != nil {
		return f.err("close", err)
	}
	return nil
}

// writer is a file being written. After the first failed write every call
// returns that error; Close still releases the file's resources.
type writer struct {
	fs *FileSystem
	cl *nnClient
	p  hpath

	mu     sync.Mutex
	w      *hdfsclient.FileWriter
	err    error // sticky write error
	closed bool
}

// writeErr explains a failed write: NameNode exceptions (e.g. from
// addBlock) are mapped like other calls' errors; anything else is the
// DataNode pipeline failing.
func writeErr(err error) error {
	var remote hdfsclient.Error
	if errors.As(err, &remote) {
		return remoteErr(err)
	}
	if errors.Is(err, hdfsclient.ErrReplicating) {
		return err
	}
	return fmt.Errorf("DataNode write pipeline failed: %w", err)
}

// Write implements io.Writer. Data is sent in 64 KiB packets as it
// comes; the rest is buffered until Close.
func (w *writer) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.closed:
		return 0, pathErr("write", w.p, fs.ErrClosed)
	case w.err != nil:
		return 0, w.err
	case len(b) == 0: // the library would allocate a block for nothing
		return 0, nil
	}
	n, err := w.w.Write(b)
	if err != nil {
		w.err = pathErr("write", w.p, writeErr(err))
		return n, w.err
	}
	return n, nil
}

// Close implements io.Closer: it sends the buffered data, waits for the
// DataNode's acknowledgements and completes the file on the NameNode,
// retrying completion while the NameNode waits for block replicas (as the
// Java client does).
func (w *writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return pathErr("close", w.p, fs.ErrClosed)
	}
	w.closed = true
	defer w.fs.release(w.cl)
	if w.err != nil {
		_ = w.w.Close() // frees the block stream; the write error is what counts
		return w.err
	}
	err := w.w.Close()
	backoff := w.fs.cfg.RetryBackoff
	for i := 0; hdfsclient.IsErrReplicating(err) && i < max(w.fs.cfg.Retries, 5); i++ {
		time.Sleep(backoff)
		backoff = min(2*backoff, maxBackoff)
		err = w.w.Close()
	}
	if err != nil {
		return pathErr("close", w.p, writeErr(err))
	}
	return nil
}
