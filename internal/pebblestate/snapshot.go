package pebblestate

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dagflow/dagflow/internal/checkpoint"
)

// Uploader writes a snapshot's files to the storage of one checkpoint.
// checkpoint.CheckpointWriter implements it.
type Uploader interface {
	// UploadShared stores an immutable file (an SST) that later
	// checkpoints may reference once this one completed, under key
	// ("<store instance id>/<file name>", unique per immutable file).
	UploadShared(ctx context.Context, localPath, key string) (checkpoint.Handle, error)
	// Write stores the bytes of a small file that belongs to this
	// checkpoint only (MANIFEST, OPTIONS, markers).
	Write(ctx context.Context, data []byte) (checkpoint.Handle, error)
}

// Downloader reads files back from checkpoint storage.
type Downloader interface {
	// Download writes the bytes of h to localPath.
	Download(ctx context.Context, h checkpoint.Handle, localPath string) error
}

// metaFormat tags BackendMeta of this backend.
const metaFormat = "pebble/1"

// backendMeta is what OperatorState.BackendMeta holds for this backend.
type backendMeta struct {
	Format       string `json:"format"`
	KeyGroupFrom int    `json:"kgFrom"`
	KeyGroupTo   int    `json:"kgTo"`
	// Instance is the id of the store instance that took the snapshot.
	Instance string `json:"instance"`
}

// PendingSnapshot is a snapshot after its synchronous phase: a Pebble
// checkpoint of hard links in the store's working directory, waiting to be
// uploaded (Upload) or dropped (Discard). It does not use the DB, so it may
// be uploaded on another goroutine while the task goes on.
type PendingSnapshot struct {
	store *Store
	up    Uploader
	id    int64
	full  bool
	dir   string
	files []snapFile
	// reuse are the shared files of the last completed checkpoint when the
	// synchronous phase ran (none for a full snapshot).
	reuse map[string]checkpoint.SharedFile
	// SyncDuration is how long the synchronous phase took.
	SyncDuration time.Duration
	done         atomic.Bool
}

type snapFile struct {
	name   string
	size   int64
	shared bool // an immutable data file (SST or blob file)
}

// Result describes an uploaded snapshot.
type Result struct {
	CheckpointID int64
	// Shared are the SSTs (reused or uploaded now); Private the files of
	// this checkpoint only. Both carry the store's key group range.
	Shared  []checkpoint.SharedFile
	Private []checkpoint.SharedFile
	// BackendMeta goes to checkpoint.OperatorState.BackendMeta (the key
	// group range and instance, read back by InputFromState).
	BackendMeta []byte
	// FullBytes is the size of the whole snapshot; IncrementalBytes what
	// this snapshot uploaded; Files how many files it uploaded.
	FullBytes        int64
	IncrementalBytes int64
	Files            int
	// SyncDuration and AsyncDuration time the two phases.
	SyncDuration  time.Duration
	AsyncDuration time.Duration
}

// Apply stores the result's files and metadata into op.
func (r *Result) Apply(op *checkpoint.OperatorState) {
	op.Shared = r.Shared
	op.Private = r.Private
	op.BackendMeta = r.BackendMeta
}

// Snapshot runs the synchronous phase of an incremental snapshot for
// checkpoint checkpointID: it flushes the memtable and hard-links a Pebble
// checkpoint into the working directory. Call Upload on the result
// (possibly on another goroutine) to finish it.
func (s *Store) Snapshot(ctx context.Context, checkpointID int64, up Uploader) (*PendingSnapshot, error) {
	return s.snapshot(ctx, checkpointID, up, false)
}

// SnapshotFull is Snapshot for a savepoint: Upload uploads every file,
// referencing nothing uploaded before, and later snapshots do not
// reference its files either.
func (s *Store) SnapshotFull(ctx context.Context, checkpointID int64, up Uploader) (*PendingSnapshot, error) {
	return s.snapshot(ctx, checkpointID, up, true)
}

func (s *Store) snapshot(ctx context.Context, id int64, up Uploader, full bool) (*PendingSnapshot, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("pebblestate: checkpoint %d: store %s is closed", id, s.dir)
	}
	start := time.Now()
	if err := s.flushCache(); err != nil {
		return nil, fmt.Errorf("pebblestate: checkpoint %d: %w", id, err)
	}
	if err := s.db.Flush(); err != nil {
		return nil, fmt.Errorf("pebblestate: checkpoint %d: flush memtable: %w", id, err)
	}
	root := filepath.Join(s.dir, snapSubdir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("pebblestate: checkpoint %d: %w", id, err)
	}
	// A unique directory: an aborted attempt may have left one behind.
	dir, err := os.MkdirTemp(root, fmt.Sprintf("chk-%d-", id))
	if err != nil {
		return nil, fmt.Errorf("pebblestate: checkpoint %d: %w", id, err)
	}
	dir = filepath.Join(dir, "db") // Pebble wants to create the directory
	if err := s.db.Checkpoint(dir); err != nil {
		_ = os.RemoveAll(filepath.Dir(dir))
		return nil, fmt.Errorf("pebblestate: checkpoint %d: pebble checkpoint into %s: %w", id, dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		_ = os.RemoveAll(filepath.Dir(dir))
		return nil, fmt.Errorf("pebblestate: checkpoint %d: list %s: %w", id, dir, err)
	}
	p := &PendingSnapshot{store: s, up: up, id: id, full: full, dir: dir}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			_ = os.RemoveAll(filepath.Dir(dir))
			return nil, fmt.Errorf("pebblestate: checkpoint %d: stat %s: %w", id, e.Name(), err)
		}
		p.files = append(p.files, snapFile{name: e.Name(), size: info.Size(), shared: isSharedFile(e.Name())})
	}
	if !full {
		s.mu.Lock()
		p.reuse = make(map[string]checkpoint.SharedFile, len(s.confirmed))
		for k, v := range s.confirmed {
			p.reuse[k] = v
		}
		s.mu.Unlock()
	}
	p.SyncDuration = time.Since(start)
	return p, nil
}

// isSharedFile reports whether a Pebble file is immutable data that later
// checkpoints can reference (tables and blob files); the rest (MANIFEST,
// OPTIONS, markers) changes with every checkpoint.
func isSharedFile(name string) bool {
	return strings.HasSuffix(name, ".sst") || strings.HasSuffix(name, ".blob")
}

// Upload runs the asynchronous phase: it uploads the SSTs the last
// completed checkpoint did not hold and every private file, then removes
// the local snapshot directory. The uploader's checkpoint must not be
// completed before Upload returned.
func (p *PendingSnapshot) Upload(ctx context.Context) (*Result, error) {
	if !p.done.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("pebblestate: checkpoint %d: snapshot already uploaded or discarded", p.id)
	}
	defer os.RemoveAll(filepath.Dir(p.dir))
	start := time.Now()
	s := p.store
	from, to := s.opts.KeyGroupFrom, s.opts.KeyGroupTo
	meta, err := json.Marshal(backendMeta{Format: metaFormat, KeyGroupFrom: from, KeyGroupTo: to, Instance: s.instance})
	if err != nil {
		return nil, fmt.Errorf("pebblestate: checkpoint %d: encode metadata: %w", p.id, err)
	}
	r := &Result{CheckpointID: p.id, BackendMeta: meta, SyncDuration: p.SyncDuration}
	shared := map[string]checkpoint.SharedFile{}
	for _, f := range p.files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r.FullBytes += f.size
		path := filepath.Join(p.dir, f.name)
		sf := checkpoint.SharedFile{Name: f.name, KeyGroupFrom: from, KeyGroupTo: to}
		if !f.shared {
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("pebblestate: checkpoint %d: read %s: %w", p.id, f.name, err)
			}
			h, err := p.up.Write(ctx, data)
			if err != nil {
				return nil, fmt.Errorf("pebblestate: checkpoint %d: upload %s: %w", p.id, f.name, err)
			}
			sf.Handle = h
			r.Private = append(r.Private, sf)
			r.IncrementalBytes += f.size
			r.Files++
			continue
		}
		if old, ok := p.reuse[f.name]; ok {
			sf.Handle = old.Handle
		} else {
			key := s.instance + "/" + f.name
			h, err := p.up.UploadShared(ctx, path, key)
			if err != nil {
				return nil, fmt.Errorf("pebblestate: checkpoint %d: upload shared file %s: %w", p.id, f.name, err)
			}
			sf.Handle = h
			r.IncrementalBytes += f.size
			r.Files++
		}
		r.Shared = append(r.Shared, sf)
		shared[f.name] = sf
	}
	sort.Slice(r.Shared, func(i, j int) bool { return r.Shared[i].Name < r.Shared[j].Name })
	sort.Slice(r.Private, func(i, j int) bool { return r.Private[i].Name < r.Private[j].Name })
	if !p.full {
		s.mu.Lock()
		s.uploaded[p.id] = shared
		s.mu.Unlock()
	}
	r.AsyncDuration = time.Since(start)
	return r, nil
}

// Discard drops a snapshot that will not be uploaded (checkpoint aborted).
func (p *PendingSnapshot) Discard() error {
	if !p.done.CompareAndSwap(false, true) {
		return nil
	}
	if err := os.RemoveAll(filepath.Dir(p.dir)); err != nil {
		return fmt.Errorf("pebblestate: checkpoint %d: remove local snapshot: %w", p.id, err)
	}
	return nil
}

// CheckpointComplete tells the store that checkpoint id completed: its
// shared files become the ones later snapshots reference instead of
// uploading. Only completed checkpoints are referenced, so a checkpoint
// never points at files of an aborted one that storage may have deleted.
// Notifications may be skipped: completing id subsumes earlier ones. It
// implements dag.CheckpointListener and may be called from any goroutine.
func (s *Store) CheckpointComplete(_ context.Context, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if files, ok := s.uploaded[id]; ok {
		s.confirmed = files
	}
	for k := range s.uploaded {
		if k <= id {
			delete(s.uploaded, k)
		}
	}
	return nil
}

// CheckpointAborted forgets what checkpoint id uploaded.
func (s *Store) CheckpointAborted(id int64) {
	s.mu.Lock()
	delete(s.uploaded, id)
	s.mu.Unlock()
}
