package checkpoint

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/dagflow/dagflow/io/filesystem"
)

// copyBufferSize is the buffer used to stream files to and from storage.
const copyBufferSize = 256 << 10

// Storage is the checkpoint storage of one job under a base URI. The
// coordinator (Complete, Abort, Recover, Latest) and writers
// (NewCheckpointWriter, UploadShared) may use the same or separate Storage
// values on the same directory; the reference-count registry lives in the
// Storage the coordinator uses. All methods are safe for concurrent use.
type Storage struct {
	reg  *filesystem.Registry
	root string // <base>/<job> as a URI
	job  string
	opts Options
	log  *slog.Logger

	rootFS   filesystem.FileSystem
	rootPath string // root resolved for rootFS

	opMu sync.Mutex // serializes Complete, Abort and Recover

	mu        sync.Mutex // guards the fields below
	registry  *Registry
	completed []int64 // ascending
	latest    int64
	aborted   map[int64]bool
	owners    map[int64]bool // ids whose directories may hold files
	maxSeen   int64
}

// NewStorage returns the storage of job under baseURI (a plain path, a
// file:// or another URI that reg resolves; a nil reg resolves local paths
// only). Nothing is created until state is written; call Recover to adopt
// checkpoints a previous master left.
func NewStorage(reg *filesystem.Registry, baseURI, job string, opts Options) (*Storage, error) {
	if job == "" || job == "." || job == ".." || strings.ContainsAny(job, "/\\") {
		return nil, fmt.Errorf("checkpoint: bad job id %q for a directory name", job)
	}
	if baseURI == "" {
		return nil, errors.New("checkpoint: empty checkpoint base URI")
	}
	s := &Storage{
		reg:     reg,
		root:    joinURI(baseURI, job),
		job:     job,
		opts:    opts.withDefaults(),
		aborted: map[int64]bool{},
		owners:  map[int64]bool{},
	}
	s.log = s.opts.Logger.With("job", job)
	fsys, p, err := reg.Resolve(s.root)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: storage of job %q: %w", job, err)
	}
	s.rootFS, s.rootPath = fsys, strings.TrimRight(p, "/")
	s.registry = NewRegistry(s.owner)
	return s, nil
}

// Root returns <base>/<job>.
func (s *Storage) Root() string { return s.root }

// Options returns the storage's options with defaults applied.
func (s *Storage) Options() Options { return s.opts }

// CheckpointDir returns <base>/<job>/chk-<id>.
func (s *Storage) CheckpointDir(id int64) string {
	return joinURI(s.root, "chk-"+strconv.FormatInt(id, 10))
}

// sharedCheckpointDir returns <base>/<job>/shared/chk-<id>.
func (s *Storage) sharedCheckpointDir(id int64) string {
	return joinURI(s.root, "shared", "chk-"+strconv.FormatInt(id, 10))
}

// ownerJob is the owner of job-level shared files (shared/job/).
const ownerJob = -1

// owner says which checkpoint id's directories hold uri: id for
// chk-<id>/... and shared/chk-<id>/..., ownerJob for shared/job/...; ok is
// false for anything else, in particular files outside <base>/<job>,
// which the storage never deletes.
func (s *Storage) owner(uri string) (id int64, ok bool) {
	if schemeOf(uri) != schemeOf(s.root) {
		return 0, false
	}
	_, p, err := s.reg.Resolve(uri)
	if err != nil || !strings.HasPrefix(p, s.rootPath+"/") {
		return 0, false
	}
	rel := p[len(s.rootPath)+1:]
	if r, found := strings.CutPrefix(rel, "shared/"); found {
		if strings.HasPrefix(r, "job/") {
			return ownerJob, true
		}
		rel = r
	}
	dir, _, found := strings.Cut(rel, "/")
	if !found {
		return 0, false
	}
	return parseCheckpointDir(dir)
}

// schemeOf returns the scheme of uri, "file" for plain paths.
func schemeOf(uri string) string {
	if sc, ok := filesystem.SchemeOf(uri); ok {
		return sc
	}
	return "file"
}

// parseCheckpointDir parses "chk-<id>".
func parseCheckpointDir(name string) (int64, bool) {
	n, found := strings.CutPrefix(name, "chk-")
	if !found {
		return 0, false
	}
	id, err := strconv.ParseInt(n, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != n {
		return 0, false
	}
	return id, true
}

// Read returns the bytes of h, verifying length and CRC-32C. A mismatch or
// short file gives an error matching ErrCorrupt naming the file and
// offset.
func (s *Storage) Read(ctx context.Context, h Handle) ([]byte, error) {
	r := NewReader(s.reg)
	defer r.Close()
	return r.Read(ctx, h)
}

// Download writes the bytes of h to the local file localPath (replacing
// it), verifying length and CRC-32C as Read does. It streams: the state is
// never held in memory as a whole.
func (s *Storage) Download(ctx context.Context, h Handle, localPath string) error {
	tmp, err := os.CreateTemp(filepath.Dir(localPath), filepath.Base(localPath)+".download-*")
	if err != nil {
		return fmt.Errorf("checkpoint: download %s: %w", describe(h), err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	err = s.copyHandle(ctx, h, tmp)
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), localPath)
	}
	if err != nil {
		return fmt.Errorf("checkpoint: download %s to %s: %w", describe(h), localPath, err)
	}
	return nil
}

// copyHandle streams the bytes of h into w and checks them.
func (s *Storage) copyHandle(ctx context.Context, h Handle, w io.Writer) error {
	if h.Path == "" {
		if crc32c(h.Inline) != h.CRC {
			return fmt.Errorf("%w: inline state fails its CRC", ErrCorrupt)
		}
		_, err := w.Write(h.Inline)
		return err
	}
	fsys, p, err := s.reg.Resolve(h.Path)
	if err != nil {
		return err
	}
	f, err := fsys.Open(ctx, p)
	if err != nil {
		return err
	}
	defer f.Close()
	return copyRange(f, h, w)
}

// copyRange copies the byte range of h from f to w, checking length and
// CRC.
func copyRange(f io.ReaderAt, h Handle, w io.Writer) error {
	crc := crc32.New(castagnoli)
	buf := make([]byte, min(h.Length, copyBufferSize))
	n, err := io.CopyBuffer(io.MultiWriter(w, crc), io.NewSectionReader(f, h.Offset, h.Length), buf)
	if err != nil {
		return err
	}
	if n != h.Length {
		return fmt.Errorf("%w: short file %s: %d of %d bytes at offset %d", ErrCorrupt, h.Path, n, h.Length, h.Offset)
	}
	if got := crc.Sum32(); got != h.CRC {
		return fmt.Errorf("%w: CRC-32C mismatch in %s at offset %d (length %d): stored %08x, read %08x", ErrCorrupt, h.Path, h.Offset, h.Length, h.CRC, got)
	}
	return nil
}

// describe names a handle in errors.
func describe(h Handle) string {
	if h.Path == "" {
		return fmt.Sprintf("inline state of %d bytes", len(h.Inline))
	}
	return fmt.Sprintf("%s at offset %d (length %d)", h.Path, h.Offset, h.Length)
}

// UploadShared uploads the local file localPath as the job-level shared
// file <base>/<job>/shared/job/<key>. key must be unique per immutable
// file ("<backend uuid>/<sst name>"); uploading an existing key of the same
// size returns its handle without copying again. Such a file is deleted
// when no retained checkpoint references it anymore (once referenced);
// prefer CheckpointWriter.UploadShared, which ties the upload to its
// checkpoint (so Abort removes it) and merges small files.
func (s *Storage) UploadShared(ctx context.Context, localPath string, key string) (Handle, error) {
	if err := validKey(key); err != nil {
		return Handle{}, err
	}
	h, _, err := s.uploadFile(ctx, localPath, joinURI(s.root, "shared", "job", key))
	return h, err
}

// validKey checks a shared file key: a clean relative slash path.
func validKey(key string) error {
	if key == "" || path.Clean(key) != key || strings.HasPrefix(key, "/") || key == ".." ||
		strings.HasPrefix(key, "../") || strings.Contains(key, "\\") {
		return fmt.Errorf("checkpoint: bad shared file key %q (want a clean relative path such as \"<uuid>/000012.sst\")", key)
	}
	return nil
}

// uploadFile copies localPath to uri. created is false if uri already held
// a file of the same size (an earlier attempt of the same upload).
func (s *Storage) uploadFile(ctx context.Context, localPath, uri string) (h Handle, created bool, err error) {
	src, err := os.Open(localPath)
	if err != nil {
		return Handle{}, false, fmt.Errorf("checkpoint: upload: %w", err)
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return Handle{}, false, fmt.Errorf("checkpoint: upload: %w", err)
	}
	fsys, p, err := s.reg.Resolve(uri)
	if err != nil {
		return Handle{}, false, fmt.Errorf("checkpoint: upload %s: %w", localPath, err)
	}
	w, err := fsys.Create(ctx, p)
	if errors.Is(err, fs.ErrExist) {
		fi, serr := fsys.Stat(ctx, p)
		if serr != nil || fi.Size != st.Size() {
			return Handle{}, false, fmt.Errorf("checkpoint: upload %s: %s exists with other content: %w", localPath, uri, err)
		}
		crc := crc32.New(castagnoli)
		if _, err := io.Copy(crc, src); err != nil {
			return Handle{}, false, fmt.Errorf("checkpoint: upload %s: %w", localPath, err)
		}
		return Handle{Path: uri, Length: st.Size(), CRC: crc.Sum32()}, false, nil
	}
	if err != nil {
		return Handle{}, false, fmt.Errorf("checkpoint: upload %s: %w", localPath, err)
	}
	crc := crc32.New(castagnoli)
	n, err := io.CopyBuffer(io.MultiWriter(w, crc), src, make([]byte, min(max(st.Size(), 1), copyBufferSize)))
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != st.Size() {
		err = fmt.Errorf("file changed during upload: %d bytes copied, %d expected", n, st.Size())
	}
	if err != nil {
		_ = fsys.Remove(ctx, p)
		return Handle{}, false, fmt.Errorf("checkpoint: upload %s to %s: %w", localPath, uri, err)
	}
	return Handle{Path: uri, Length: n, CRC: crc.Sum32()}, true, nil
}

// Reader reads handles, keeping the files it opened open until Close, so
// restoring many handles of one segment opens it once. It is safe for
// concurrent use.
type Reader struct {
	reg   *filesystem.Registry
	mu    sync.Mutex
	files map[string]filesystem.File
}

// NewReader returns a Reader resolving paths through reg.
func NewReader(reg *filesystem.Registry) *Reader {
	return &Reader{reg: reg, files: map[string]filesystem.File{}}
}

// Read returns the bytes of h, verifying length and CRC-32C (see
// Storage.Read).
func (r *Reader) Read(ctx context.Context, h Handle) ([]byte, error) {
	if h.Path == "" {
		if crc32c(h.Inline) != h.CRC || int64(len(h.Inline)) != h.Length {
			return nil, fmt.Errorf("checkpoint: read %s: %w: inline state fails its length or CRC", describe(h), ErrCorrupt)
		}
		return h.Inline, nil
	}
	if h.Length < 0 || h.Offset < 0 {
		return nil, fmt.Errorf("checkpoint: read %s: %w: bad range", describe(h), ErrCorrupt)
	}
	f, err := r.open(ctx, h.Path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: read %s: %w", describe(h), err)
	}
	if fi, err := f.Stat(); err == nil && fi.Size < h.Offset+h.Length {
		return nil, fmt.Errorf("checkpoint: read %s: %w: short file of %d bytes", describe(h), ErrCorrupt, fi.Size)
	}
	buf := make([]byte, h.Length)
	n, err := f.ReadAt(buf, h.Offset)
	if n < len(buf) {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("checkpoint: read %s: %w: short read of %d bytes", describe(h), ErrCorrupt, n)
		}
		return nil, fmt.Errorf("checkpoint: read %s: %w", describe(h), err)
	}
	if got := crc32c(buf); got != h.CRC {
		return nil, fmt.Errorf("checkpoint: read %s: %w: CRC-32C mismatch: stored %08x, read %08x", describe(h), ErrCorrupt, h.CRC, got)
	}
	return buf, nil
}

func (r *Reader) open(ctx context.Context, uri string) (filesystem.File, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.files[uri]; ok {
		return f, nil
	}
	fsys, p, err := r.reg.Resolve(uri)
	if err != nil {
		return nil, err
	}
	f, err := fsys.Open(ctx, p)
	if err != nil {
		return nil, err
	}
	r.files[uri] = f
	return f, nil
}

// Close closes the files the reader opened.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for p, f := range r.files {
		if err := f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", p, err))
		}
		delete(r.files, p)
	}
	return errors.Join(errs...)
}

// randomHex returns 2n random hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// fileName turns a worker id into a file name part.
func fileName(worker string) string {
	if worker == "" {
		return "w"
	}
	b := []byte(worker)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// segment is a buffered writer into a storage file that tracks its size.
type segment struct {
	uri  string
	w    io.WriteCloser
	bw   *bufio.Writer
	size int64
}

func (g *segment) close() error {
	err := g.bw.Flush()
	if cerr := g.w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("checkpoint: close segment %s: %w", g.uri, err)
	}
	return nil
}
