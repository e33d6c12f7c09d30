package restore

import (
	"context"
	"fmt"
	"log/slog"
	"path"
	"strings"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/io/filesystems"
)

// Store keeps the metadata of completed checkpoints.
type Store interface {
	// Complete makes checkpoint md durable and discards those it subsumes.
	Complete(ctx context.Context, md *checkpoint.Metadata) error
	// Abort discards the files of a checkpoint that did not complete.
	Abort(ctx context.Context, id int64) error
	// WriteSavepoint writes a self-contained copy of md under dir and
	// returns its location.
	WriteSavepoint(ctx context.Context, md *checkpoint.Metadata, dir string) (string, error)
}

// DefaultRetain is how many completed checkpoints are kept when the
// configuration says nothing.
const DefaultRetain = 3

// MemoryStore keeps completed checkpoints in memory (jobs without a
// checkpoint directory): they survive task failures, not the master.
type MemoryStore struct {
	retain int
	done   []*checkpoint.Metadata
}

// NewMemoryStore returns a MemoryStore keeping the last retain checkpoints
// (DefaultRetain when retain ≤ 0).
func NewMemoryStore(retain int) *MemoryStore {
	if retain <= 0 {
		retain = DefaultRetain
	}
	return &MemoryStore{retain: retain}
}

// Complete implements Store.
func (m *MemoryStore) Complete(_ context.Context, md *checkpoint.Metadata) error {
	m.done = append(m.done, md)
	if len(m.done) > m.retain {
		m.done = m.done[len(m.done)-m.retain:]
	}
	return nil
}

// Abort implements Store.
func (m *MemoryStore) Abort(context.Context, int64) error { return nil }

// WriteSavepoint implements Store: the state of such jobs is inline in
// the metadata.
func (m *MemoryStore) WriteSavepoint(ctx context.Context, md *checkpoint.Metadata, dir string) (string, error) {
	return WriteSavepointDir(ctx, md, dir)
}

// NewStore returns the checkpoint store of job under the plan's
// checkpoint directory, or a MemoryStore when the plan has none.
func NewStore(p *dag.Plan, job string, log *slog.Logger) (Store, error) {
	cfg := p.Config.Checkpoint
	retain := cfg.Retain
	if retain <= 0 {
		retain = DefaultRetain
	}
	if cfg.Dir == "" {
		return NewMemoryStore(retain), nil
	}
	opts := checkpoint.DefaultOptions()
	opts.Retain = retain
	opts.MergeEnabled = !cfg.DisableFileMerging
	opts.Logger = log.With("component", "checkpoint-storage")
	st, err := checkpoint.NewStorage(filesystems.Default(), cfg.Dir, job, opts)
	if err != nil {
		return nil, fmt.Errorf("restore: checkpoint storage of job %s: %w", job, err)
	}
	return st, nil
}

// WriteSavepointDir writes a savepoint of a job without a checkpoint
// directory (its state is inline) under dir and returns its location.
func WriteSavepointDir(ctx context.Context, md *checkpoint.Metadata, dir string) (string, error) {
	st, err := checkpoint.NewStorage(filesystems.Default(), dir, md.Job, checkpoint.DefaultOptions())
	if err != nil {
		return "", fmt.Errorf("restore: savepoint storage under %s: %w", dir, err)
	}
	return st.WriteSavepoint(ctx, md, dir)
}

// LoadSnapshot reads the metadata of a savepoint or retained checkpoint
// (its directory or its _metadata file) on any registered filesystem.
//
// uri may also be a job's checkpoint directory (<dir>/<job>, holding
// chk-<n> directories): then the newest checkpoint whose metadata and
// files are valid is used, falling back over corrupt ones.
func LoadSnapshot(ctx context.Context, uri string) (*checkpoint.Metadata, error) {
	reg := filesystems.Default()
	md, err := checkpoint.LoadSavepoint(ctx, reg, uri)
	if err == nil {
		return md, nil
	}
	if fsys, p, rerr := reg.Resolve(uri); rerr == nil {
		if entries, lerr := fsys.List(ctx, p); lerr == nil {
			for _, e := range entries {
				if e.IsDir && strings.HasPrefix(path.Base(e.Path), "chk-") {
					trimmed := strings.TrimRight(uri, "/")
					i := strings.LastIndex(trimmed, "/")
					st, serr := checkpoint.NewStorage(reg, trimmed[:i], trimmed[i+1:], checkpoint.DefaultOptions())
					if serr != nil {
						return nil, fmt.Errorf("restore: load checkpoints of %s: %w", uri, serr)
					}
					latest, lerr := st.Latest(ctx)
					if lerr != nil {
						return nil, fmt.Errorf("restore: load latest checkpoint of %s: %w", uri, lerr)
					}
					return latest, nil
				}
			}
		}
	}
	return nil, fmt.Errorf("restore: load savepoint %s: %w", uri, err)
}
