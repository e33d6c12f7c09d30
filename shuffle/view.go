package shuffle

import (
	"context"
	"fmt"
	"path/filepath"
)

// FileView reads the committed sort-merge partitions that another Local
// stores under a directory of this host — typically a shuffle daemon's
// data directory — straight from their files, without a round trip through
// the service that owns them (host-local reads, as Spark's executors read
// their host's external shuffle service files). It never writes or deletes:
// partitions appear when the owner commits or adopts them and vanish when
// it releases them. A missing file yields ErrNotExist and a damaged one
// ErrCorrupt, exactly as reads through the owner would.
//
// A FileView is safe for concurrent use. Readers are as for Local (shared
// read-ahead pool, positional reads); each OpenReader opens the data file
// and reads the index anew.
type FileView struct {
	fb *fileBackend
}

// NewFileView returns a view of the partitions a Local configured with
// cfg.Dir stores. Only Dir and the read settings of cfg (ReadSize, Logger)
// matter; Layout must be sort-merge.
func NewFileView(cfg LocalConfig) (*FileView, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.Layout != LayoutSortMerge {
		return nil, fmt.Errorf("shuffle: file view of %s: only the sort-merge layout is supported", cfg.Dir)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("shuffle: directory %s: %w", cfg.Dir, err)
	}
	cfg.Dir = dir
	return &FileView{fb: &fileBackend{cfg: cfg, log: cfg.Logger, jobDirs: make(map[string]struct{})}}, nil
}

// Dir returns the directory the view reads.
func (v *FileView) Dir() string { return v.fb.cfg.Dir }

func (v *FileView) part(id PartitionID) *smPart {
	dir, stem := v.fb.partitionBase(id)
	return &smPart{b: v.fb, id: id, dataPath: filepath.Join(dir, stem+".data"), indexPath: filepath.Join(dir, stem+".index")}
}

// OpenReader implements Service: it opens subpartitions [from, to) of a
// committed partition from its files.
func (v *FileView) OpenReader(ctx context.Context, id PartitionID, from, to int) (Reader, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if from < 0 || to <= from {
		return nil, fmt.Errorf("shuffle: partition %s: invalid subpartition range [%d,%d)", id, from, to)
	}
	return v.part(id).open(ctx, from, to)
}

// Stat implements Service from the partition's index.
func (v *FileView) Stat(ctx context.Context, id PartitionID) (Stat, error) {
	if err := ctx.Err(); err != nil {
		return Stat{}, err
	}
	p := v.part(id)
	return validateStaged(id, p.dataPath, p.indexPath)
}

// CreateWriter implements Service: a view is read-only.
func (v *FileView) CreateWriter(context.Context, PartitionID, WriterOptions) (Writer, error) {
	return nil, fmt.Errorf("shuffle: file view of %s is read-only", v.fb.cfg.Dir)
}

// Release implements Service: a view is read-only; the owner releases.
func (v *FileView) Release(context.Context, string) error {
	return fmt.Errorf("shuffle: file view of %s is read-only", v.fb.cfg.Dir)
}

// Close implements Service: it releases the view's decoders; close the
// view's readers first.
func (v *FileView) Close() error {
	v.fb.cs.close()
	return nil
}
