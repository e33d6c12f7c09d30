package hdfs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/dagflow/dagflow/io/filesystem"
)

// Scheme is the URI scheme HDFS is registered under.
const Scheme = "hdfs"

var (
	errClosed = fmt.Errorf("hdfs: file system closed: %w", fs.ErrClosed)
	errNotDir = filesystem.ErrNotDir
)

// FileSystem is the filesystem.FileSystem of HDFS. It serves URIs
// "hdfs://AUTHORITY/path" for any number of authorities (NameNode
// host:port, nameservices, or none for fs.defaultFS), with one
// connection per authority made on first use and closed after
// Config.IdleTimeout without use. It is safe for concurrent use.
type FileSystem struct {
	cfg      Config
	conf     hadoopConf
	user     string
	kerberos *kerberosSettings
	err      error // configuration error returned by every call

	mu         sync.Mutex
	clients    map[string]*nnClient     // by canonical authority
	connecting map[string]chan struct{} // closed when a connection attempt ends
	closed     bool
}

var _ filesystem.FileSystem = (*FileSystem)(nil)

// New returns a FileSystem configured by cfg. It reads the Hadoop
// configuration files but contacts no NameNode: connections (and Kerberos
// logins) are made by the first call on each authority. ctx is only
// checked, not kept.
func New(ctx context.Context, cfg Config) (*FileSystem, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f := &FileSystem{cfg: cfg, clients: make(map[string]*nnClient), connecting: make(map[string]chan struct{})}
	if err := f.cfg.setDefaults(); err != nil {
		return nil, err
	}
	conf, err := loadConf(&f.cfg)
	if err != nil {
		return nil, err
	}
	f.conf = conf
	if conf.kerberos() {
		s, err := kerberosSettingsOf(&f.cfg, conf)
		if err != nil {
			return nil, err
		}
		f.kerberos = &s
	} else if f.user, err = userName(&f.cfg); err != nil {
		return nil, err
	}
	return f, nil
}

// Register registers a FileSystem configured by cfg under the scheme
// "hdfs" of reg and returns reg, so that
//
//	reg := hdfs.Register(filesystem.NewRegistry(), hdfs.Config{})
//
// resolves "hdfs://..." URIs. A configuration error (e.g. a malformed
// core-site.xml) does not fail Register: every call on hdfs:// paths
// returns it, while other schemes keep working. The registered
// FileSystem is never closed; its idle connections close themselves
// after Config.IdleTimeout.
func Register(reg *filesystem.Registry, cfg Config) *filesystem.Registry {
	f, err := New(context.Background(), cfg)
	if err != nil {
		f = &FileSystem{err: err}
	}
	reg.Register(Scheme, f)
	return reg
}

// Close closes the NameNode connections: idle ones at once, those of
// files still open when the files are closed. Calls after Close fail with
// an error matching fs.ErrClosed.
func (f *FileSystem) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	var idle []*nnClient
	for auth, cl := range f.clients {
		delete(f.clients, auth)
		cl.broken = true
		if cl.refs == 0 {
			if cl.idle != nil {
				cl.idle.Stop()
			}
			idle = append(idle, cl)
		}
	}
	f.mu.Unlock()
	for _, cl := range idle {
		cl.c.Close()
	}
	return nil
}

// hpath is a parsed hdfs:// URI.
type hpath struct {
	prefix string // "hdfs://authority" exactly as given, for the paths returned
	auth   string // lower-cased authority; "" for fs.defaultFS
	path   string // clean absolute path in the namespace
}

// parse splits an hdfs URI. The path is taken literally (no percent
// decoding), so that every path the FileSystem returns parses back to the
// same HDFS path.
func parse(op, uri string) (hpath, error) {
	scheme, ok := filesystem.SchemeOf(uri)
	if !ok || scheme != Scheme {
		return hpath{}, &fs.PathError{Op: op, Path: uri, Err: errors.New("not an hdfs:// URI")}
	}
	rest := uri[len(Scheme)+3:]
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		i = len(rest)
	}
	p := hpath{prefix: uri[:len(Scheme)+3+i], auth: strings.ToLower(rest[:i]), path: path.Clean("/" + rest[i:])}
	return p, nil
}

func (p hpath) String() string { return p.prefix + p.path }

func (p hpath) join(name string) hpath {
	p.path = path.Join(p.path, name)
	return p
}

// pathErr wraps err of op on p as an *fs.PathError naming the full URI.
func pathErr(op string, p hpath, err error) error {
	if err == nil {
		return nil
	}
	return &fs.PathError{Op: op, Path: p.String(), Err: err}
}

func toInfo(p hpath, st os.FileInfo) filesystem.FileInfo {
	fi := filesystem.FileInfo{Path: p.String(), ModTime: st.ModTime(), IsDir: st.IsDir()}
	if !fi.IsDir {
		fi.Size = st.Size()
	}
	return fi
}

// Open implements filesystem.FileSystem. The file reads from DataNodes as
// it goes; ReadAt does not move the offset of Read and Seek.
func (f *FileSystem) Open(ctx context.Context, uri string) (filesystem.File, error) {
	p, err := parse("open", uri)
	if err != nil {
		return nil, err
	}
	var opened *file
	err = f.call(ctx, p, true, func(cl *nnClient) error {
		r, err := cl.c.Open(p.path)
		if err != nil {
			return err
		}
		if r.Stat().IsDir() {
			r.Close()
			return filesystem.ErrIsDir
		}
		f.retain(cl)
		opened = &file{fs: f, cl: cl, r: r, info: toInfo(p, r.Stat())}
		return nil
	})
	if err != nil {
		return nil, pathErr("open", p, err)
	}
	return opened, nil
}

// Create implements filesystem.FileSystem. Missing parent directories are
// made. The data is visible and durable once Close returned nil; a failed
// write leaves the file incomplete (remove it). Create is retried only if
// no NameNode received it.
func (f *FileSystem) Create(ctx context.Context, uri string) (io.WriteCloser, error) {
	p, err := parse("create", uri)
	if err != nil {
		return nil, err
	}
	var w *writer
	err = f.call(ctx, p, false, func(cl *nnClient) error {
		replication := cmp.Or(f.cfg.Replication, cl.defaults.Replication)
		blockSize := cmp.Or(f.cfg.BlockSize, cl.defaults.BlockSize)
		fw, err := cl.c.CreateFile(p.path, replication, blockSize, 0o644)
		if errors.Is(err, fs.ErrNotExist) { // the parent is missing
			if err := cl.c.MkdirAll(path.Dir(p.path), 0o755); err != nil {
				return err
			}
			fw, err = cl.c.CreateFile(p.path, replication, blockSize, 0o644)
		}
		if err != nil {
			return err
		}
		f.retain(cl)
		w = &writer{fs: f, cl: cl, w: fw, p: p}
		return nil
	})
	if err != nil {
		return nil, pathErr("create", p, err)
	}
	return w, nil
}

// Stat implements filesystem.FileSystem.
func (f *FileSystem) Stat(ctx context.Context, uri string) (filesystem.FileInfo, error) {
	p, err := parse("stat", uri)
	if err != nil {
		return filesystem.FileInfo{}, err
	}
	var fi filesystem.FileInfo
	err = f.call(ctx, p, true, func(cl *nnClient) error {
		st, err := cl.c.Stat(p.path)
		if err == nil {
			fi = toInfo(p, st)
		}
		return err
	})
	return fi, pathErr("stat", p, err)
}

// List implements filesystem.FileSystem.
func (f *FileSystem) List(ctx context.Context, uri string) ([]filesystem.FileInfo, error) {
	p, err := parse("list", uri)
	if err != nil {
		return nil, err
	}
	out, err := f.list(ctx, p)
	return out, pathErr("list", p, err)
}

func (f *FileSystem) list(ctx context.Context, p hpath) ([]filesystem.FileInfo, error) {
	var out []filesystem.FileInfo
	err := f.call(ctx, p, true, func(cl *nnClient) error {
		r, err := cl.c.Open(p.path)
		if err != nil {
			return err
		}
		defer r.Close()
		if !r.Stat().IsDir() {
			return errNotDir
		}
		entries, err := r.Readdir(0)
		if err != nil {
			return err
		}
		out = make([]filesystem.FileInfo, 0, len(entries))
		for _, e := range entries {
			out = append(out, toInfo(p.join(e.Name()), e))
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, err
}

// MkdirAll implements filesystem.FileSystem. It fails with an error
// matching filesystem.ErrNotDir if path or a parent is a file.
func (f *FileSystem) MkdirAll(ctx context.Context, uri string) error {
	p, err := parse("mkdir", uri)
	if err != nil {
		return err
	}
	err = f.call(ctx, p, true, func(cl *nnClient) error {
		err := cl.c.MkdirAll(p.path, 0o755)
		if errors.Is(err, fs.ErrExist) { // the library's answer for an existing file
			return errNotDir
		}
		return err
	})
	return pathErr("mkdir", p, err)
}

// Rename implements filesystem.FileSystem with the NameNode's rename2 and
// its overwrite option: atomic, replacing an existing destination file
// (or empty directory) as rename(2) does. Both URIs must name the same
// authority. Rename is retried only if no NameNode received it; after an
// ambiguous failure the rename may have happened.
func (f *FileSystem) Rename(ctx context.Context, from, to string) error {
	src, err := parse("rename", from)
	if err != nil {
		return err
	}
	dst, err := parse("rename", to)
	if err != nil {
		return err
	}
	linkErr := func(err error) error {
		if err == nil {
			return nil
		}
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	if src.auth != dst.auth {
		return linkErr(errors.New("cannot rename across HDFS authorities"))
	}
	if src.path == dst.path { // rename(2) succeeds; HDFS would refuse
		_, err := f.Stat(ctx, from)
		return err
	}
	return linkErr(f.call(ctx, src, false, func(cl *nnClient) error {
		return cl.c.Rename(src.path, dst.path)
	}))
}

// Remove implements filesystem.FileSystem. Removing a non-empty directory
// fails with an error matching syscall.ENOTEMPTY.
func (f *FileSystem) Remove(ctx context.Context, uri string) error {
	p, err := parse("remove", uri)
	if err != nil {
		return err
	}
	return pathErr("remove", p, f.call(ctx, p, false, func(cl *nnClient) error {
		return cl.c.Remove(p.path)
	}))
}

// RemoveAll implements filesystem.FileSystem. It refuses the root
// directory.
func (f *FileSystem) RemoveAll(ctx context.Context, uri string) error {
	p, err := parse("removeall", uri)
	if err != nil {
		return err
	}
	if p.path == "/" {
		return pathErr("removeall", p, errors.New("refusing to remove the root directory"))
	}
	return pathErr("removeall", p, f.call(ctx, p, true, func(cl *nnClient) error {
		return cl.c.RemoveAll(p.path)
	}))
}
