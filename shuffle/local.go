package shuffle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// Layout selects how Local stores blocking partitions.
type Layout uint8

const (
	// LayoutSortMerge (the default) stores a partition as one data file and
	// one index file, whatever the number of subpartitions.
	LayoutSortMerge Layout = iota
	// LayoutFilePerSubpartition is a BASELINE FOR BENCHMARKS ONLY: one file
	// per subpartition, broadcast buffers copied into each, blocks written
	// straight to each file as they fill. It shows what sort-merge saves
	// (files, small interleaved writes); do not use it in production.
	LayoutFilePerSubpartition
)

// String returns "sort-merge" or "file-per-subpartition".
func (l Layout) String() string {
	switch l {
	case LayoutSortMerge:
		return "sort-merge"
	case LayoutFilePerSubpartition:
		return "file-per-subpartition"
	}
	return fmt.Sprintf("layout(%d)", uint8(l))
}

// Defaults of LocalConfig.
const (
	DefaultSortBufferBytes    = 32 << 20
	DefaultBlockSize          = 64 << 10
	DefaultReadSize           = 512 << 10
	DefaultWriteBufferSize    = 1 << 20
	DefaultBroadcastInlineMax = 256

	sortChunkSize = 1 << 20 // allocation unit of sort buffers
)

// LocalConfig configures a Local service.
type LocalConfig struct {
	// Dir is where partitions are stored, as Dir/<job>/<result>/... (job
	// and result escaped to safe file names). Required. The service must
	// own the directory: two services must not share one.
	Dir string
	// Compression of the data blocks; the zero value is S2.
	Compression Compression
	// SortBufferBytes bounds the memory a blocking partition writer uses to
	// group buffers by subpartition (payload plus 16 bytes per buffer).
	// When full it is spilled as one region. Default 32 MiB, at most 1 GiB.
	SortBufferBytes int
	// BlockSize is the target uncompressed size of a block (a buffer
	// larger than it gets a block of its own). Default 64 KiB.
	BlockSize int
	// ReadSize is the size of each read a reader issues (less at the end of
	// a region slice). Default 512 KiB.
	ReadSize int
	// WriteBufferSize is the write buffer in front of the data file.
	// Default 1 MiB.
	WriteBufferSize int
	// BroadcastInlineMax: broadcast buffers of at most this many bytes are
	// copied into every subpartition instead of closing the current region
	// (cheaper for small event frames). Zero means
	// DefaultBroadcastInlineMax; negative means never copy.
	BroadcastInlineMax int
	// Layout selects the file layout; keep the default (sort-merge).
	Layout Layout
	// Pipelined configures pipelined partitions, kept in memory exactly as
	// by Memory.
	Pipelined MemoryConfig
	// Logger receives debug and warning messages; nil means slog.Default().
	Logger *slog.Logger
}

func (c LocalConfig) withDefaults() (LocalConfig, error) {
	if c.Dir == "" {
		return c, errors.New("shuffle: LocalConfig.Dir is required")
	}
	if c.SortBufferBytes == 0 {
		c.SortBufferBytes = DefaultSortBufferBytes
	}
	if c.BlockSize == 0 {
		c.BlockSize = DefaultBlockSize
	}
	if c.ReadSize == 0 {
		c.ReadSize = DefaultReadSize
	}
	if c.WriteBufferSize == 0 {
		c.WriteBufferSize = DefaultWriteBufferSize
	}
	if c.BroadcastInlineMax == 0 {
		c.BroadcastInlineMax = DefaultBroadcastInlineMax
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	switch {
	case c.SortBufferBytes < 256 || c.SortBufferBytes > 1<<30:
		return c, fmt.Errorf("shuffle: SortBufferBytes %d out of range [256, 1 GiB]", c.SortBufferBytes)
	case c.BlockSize < 64 || c.BlockSize > 16<<20:
		return c, fmt.Errorf("shuffle: BlockSize %d out of range [64, 16 MiB]", c.BlockSize)
	case c.ReadSize < 512 || c.ReadSize > 64<<20:
		return c, fmt.Errorf("shuffle: ReadSize %d out of range [512, 64 MiB]", c.ReadSize)
	case c.WriteBufferSize < 512 || c.WriteBufferSize > 64<<20:
		return c, fmt.Errorf("shuffle: WriteBufferSize %d out of range [512, 64 MiB]", c.WriteBufferSize)
	case c.Layout != LayoutSortMerge && c.Layout != LayoutFilePerSubpartition:
		return c, fmt.Errorf("shuffle: unknown layout %d", c.Layout)
	}
	if _, err := c.Compression.codecID(); err != nil {
		return c, err
	}
	return c, nil
}

// Local is a Service for one worker: pipelined partitions in memory (as
// Memory), blocking partitions in sort-merge files under LocalConfig.Dir.
//
// Files are not fsynced: partitions do not outlive the service (Close deletes
// them), so a crash loses them either way and the scheduler reruns their
// producers.
type Local struct {
	c  *core
	fb *fileBackend
}

// NewLocal creates the directory if needed and returns a Local service.
func NewLocal(cfg LocalConfig) (*Local, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("shuffle: directory %s: %w", cfg.Dir, err)
	}
	cfg.Dir = dir
	owns := false
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		owns = true
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("shuffle: create directory: %w", err)
	}
	codec, _ := cfg.Compression.codecID()
	fb := &fileBackend{cfg: cfg, codec: codec, log: cfg.Logger, ownsDir: owns, jobDirs: make(map[string]struct{})}
	fb.chunks.size = min(sortChunkSize, cfg.SortBufferBytes)
	fb.chunks.max = cfg.SortBufferBytes / fb.chunks.size
	return &Local{c: newCore(cfg.Pipelined, fb), fb: fb}, nil
}

// CreateWriter implements Service.
func (l *Local) CreateWriter(ctx context.Context, id PartitionID, opts WriterOptions) (Writer, error) {
	return l.c.createWriter(ctx, id, opts)
}

// OpenReader implements Service. A blocking partition whose data or index
// file has disappeared yields ErrNotExist; one whose files fail validation
// yields ErrCorrupt naming the file.
func (l *Local) OpenReader(ctx context.Context, id PartitionID, from, to int) (Reader, error) {
	return l.c.openReader(ctx, id, from, to)
}

// Stat implements Service. For sort-merge partitions Bytes is the size of
// the data and index files and Files is 2.
func (l *Local) Stat(ctx context.Context, id PartitionID) (Stat, error) {
	return l.c.stat(ctx, id)
}

// Release implements Service: it also deletes Dir/<job>.
func (l *Local) Release(ctx context.Context, job string) error {
	return l.c.release(ctx, job)
}

// Close implements Service: it deletes every job directory the service
// created, and Dir itself if the service created it and it is then empty.
func (l *Local) Close() error {
	return l.c.close()
}

// BuffersInUse reports how many pipelined buffers are queued or held by
// readers (see Memory.BuffersInUse).
func (l *Local) BuffersInUse() int {
	return int(l.c.pool.inUse.Load())
}

// Dir returns the absolute directory the service stores partitions in.
func (l *Local) Dir() string { return l.fb.cfg.Dir }

// fileBackend stores blocking partitions in files.
type fileBackend struct {
	cfg     LocalConfig
	codec   byte
	log     *slog.Logger
	cs      codecs
	ownsDir bool
	seq     atomic.Uint64 // makes temporary names unique

	chunks   chunkPool // sort buffer memory
	sortBufs sync.Pool // *sortBuf
	outBufs  sync.Pool // *[]byte, write buffers of the data file
	readBufs sync.Pool // *readBuf

	// Test hooks: createFile opens a new file for writing (to inject disk
	// errors); wrapReader wraps the data file readers use (to observe reads).
	createFile func(name string) (writeFile, error)
	wrapReader func(io.ReaderAt) io.ReaderAt

	mu      sync.Mutex
	jobDirs map[string]struct{}
}

// writeFile is the part of *os.File the writers use.
type writeFile interface {
	Write(p []byte) (int, error)
	Close() error
}

func (b *fileBackend) create(name string) (writeFile, error) {
	if b.createFile != nil {
		return b.createFile(name)
	}
	return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
}

// escapeName makes s a safe single path component: bytes outside
// [A-Za-z0-9_-.] (and a leading '.') become %XX, so the mapping is
// injective and never yields "", "." or "..".
func escapeName(s string) string {
	if s == "" {
		return "%"
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' && i > 0
		if ok {
			sb.WriteByte(c)
		} else {
			fmt.Fprintf(&sb, "%%%02X", c)
		}
	}
	return sb.String()
}

func (b *fileBackend) jobDir(job string) string {
	return filepath.Join(b.cfg.Dir, escapeName(job))
}

// partitionBase returns the directory and the file name stem of id.
func (b *fileBackend) partitionBase(id PartitionID) (string, string) {
	return filepath.Join(b.jobDir(id.Job), escapeName(id.Result)), fmt.Sprintf("%d.%d", id.Producer, id.Attempt)
}

func (b *fileBackend) tmpName(path string) string {
	return fmt.Sprintf("%s.tmp-%d", path, b.seq.Add(1))
}

// ioErr wraps a file system error, naming the partition and file and
// calling out a full disk.
func ioErr(op string, id PartitionID, path string, err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("shuffle: partition %s: %s %s: disk full: %w", id, op, path, err)
	}
	return fmt.Errorf("shuffle: partition %s: %s %s: %w", id, op, path, err)
}

func (b *fileBackend) createBlocking(_ context.Context, id PartitionID, subs int, gone *doneFlag) (stagedWriter, error) {
	dir, stem := b.partitionBase(id)
	b.mu.Lock()
	b.jobDirs[id.Job] = struct{}{}
	b.mu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, ioErr("create directory", id, dir, err)
	}
	if b.cfg.Layout == LayoutFilePerSubpartition {
		return b.newNaiveWriter(id, dir, stem, subs, gone)
	}
	return b.newSortMergeWriter(id, dir, stem, subs, gone)
}

func (b *fileBackend) releaseJob(job string) error {
	b.mu.Lock()
	delete(b.jobDirs, job)
	b.mu.Unlock()
	dir := b.jobDir(job)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("shuffle: remove %s: %w", dir, err)
	}
	return nil
}

func (b *fileBackend) close() error {
	b.mu.Lock()
	jobs := b.jobDirs
	b.jobDirs = make(map[string]struct{})
	b.mu.Unlock()
	var errs []error
	for job := range jobs {
		if err := os.RemoveAll(b.jobDir(job)); err != nil {
			errs = append(errs, fmt.Errorf("shuffle: remove %s: %w", b.jobDir(job), err))
		}
	}
	if b.ownsDir {
		if err := os.Remove(b.cfg.Dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			b.log.Warn("shuffle: service directory not removed", "dir", b.cfg.Dir, "err", err)
		}
	}
	b.cs.close()
	return errors.Join(errs...)
}

// removeFiles deletes paths, ignoring the ones already gone.
func (b *fileBackend) removeFiles(paths ...string) error {
	var errs []error
	for _, p := range paths {
		if p == "" {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
