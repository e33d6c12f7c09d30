package pebblestate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/cockroachdb/pebble/v2"

	"github.com/dagflow/dagflow/internal/checkpoint"
)

// RestoreInput is the snapshot of one previous store instance.
type RestoreInput struct {
	// KeyGroupFrom and KeyGroupTo (exclusive) are the key groups the
	// instance owned.
	KeyGroupFrom, KeyGroupTo int
	// Shared and Private are its files (Result.Shared and Result.Private).
	Shared, Private []checkpoint.SharedFile
}

// InputFromState reads the snapshot of one previous store instance from
// its checkpointed operator state.
func InputFromState(op checkpoint.OperatorState) (RestoreInput, error) {
	var m backendMeta
	if err := json.Unmarshal(op.BackendMeta, &m); err != nil {
		return RestoreInput{}, fmt.Errorf("pebblestate: vertex %d: bad backend metadata: %w", op.Vertex, err)
	}
	if m.Format != metaFormat {
		return RestoreInput{}, fmt.Errorf("pebblestate: vertex %d: backend metadata of format %q, want %q", op.Vertex, m.Format, metaFormat)
	}
	if m.KeyGroupFrom < 0 || m.KeyGroupTo > maxKeyGroups || m.KeyGroupFrom >= m.KeyGroupTo {
		return RestoreInput{}, fmt.Errorf("pebblestate: vertex %d: backend metadata has a bad key group range [%d, %d)", op.Vertex, m.KeyGroupFrom, m.KeyGroupTo)
	}
	return RestoreInput{KeyGroupFrom: m.KeyGroupFrom, KeyGroupTo: m.KeyGroupTo, Shared: op.Shared, Private: op.Private}, nil
}

func (in RestoreInput) files() []checkpoint.SharedFile {
	all := make([]checkpoint.SharedFile, 0, len(in.Shared)+len(in.Private))
	all = append(all, in.Shared...)
	return append(all, in.Private...)
}

// Restore creates a store in dir (removing what it held) from the
// snapshots of previous instances, keeping exactly the key groups of
// opts' range. With one previous instance of the same range it downloads
// its files and opens them, and the next snapshot references the
// downloaded SSTs instead of uploading them again. Otherwise (a change of
// parallelism) it copies the entries of the new range out of every
// overlapping previous instance into a new DB.
func Restore(ctx context.Context, dir string, opts Options, inputs []RestoreInput, dl Downloader) (*Store, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	var overlapping []RestoreInput
	for i, in := range inputs {
		if in.KeyGroupFrom < 0 || in.KeyGroupTo > maxKeyGroups || in.KeyGroupFrom >= in.KeyGroupTo {
			return nil, fmt.Errorf("pebblestate: restore: snapshot %d has a bad key group range [%d, %d)", i, in.KeyGroupFrom, in.KeyGroupTo)
		}
		if in.KeyGroupFrom < opts.KeyGroupTo && opts.KeyGroupFrom < in.KeyGroupTo {
			overlapping = append(overlapping, in)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("pebblestate: restore: clear working directory %s: %w", dir, err)
	}
	if len(overlapping) == 1 && overlapping[0].KeyGroupFrom == opts.KeyGroupFrom && overlapping[0].KeyGroupTo == opts.KeyGroupTo {
		in := overlapping[0]
		if err := downloadAll(ctx, dl, in.files(), filepath.Join(dir, dbSubdir)); err != nil {
			return nil, err
		}
		s, err := openAt(ctx, dir, opts, true)
		if err != nil {
			return nil, fmt.Errorf("pebblestate: restore: %w", err)
		}
		// The restored checkpoint completed: its SSTs are in storage.
		for _, f := range in.Shared {
			s.confirmed[f.Name] = f
		}
		return s, nil
	}
	s, err := openAt(ctx, dir, opts, false)
	if err != nil {
		return nil, fmt.Errorf("pebblestate: restore: %w", err)
	}
	for i, in := range overlapping {
		tmp := filepath.Join(dir, restoreSubdir, strconv.Itoa(i))
		err := s.copyFrom(ctx, in, tmp, dl)
		_ = os.RemoveAll(tmp)
		if err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("pebblestate: restore key groups [%d, %d) from snapshot of key groups [%d, %d): %w",
				opts.KeyGroupFrom, opts.KeyGroupTo, in.KeyGroupFrom, in.KeyGroupTo, err)
		}
	}
	_ = os.RemoveAll(filepath.Join(dir, restoreSubdir))
	return s, nil
}

// copyBatchBytes is how much a rescaling restore writes per batch.
const copyBatchBytes = 4 << 20

// copyFrom downloads a previous instance's snapshot into tmp, opens it
// read-only and copies the entries of the store's key groups.
func (s *Store) copyFrom(ctx context.Context, in RestoreInput, tmp string, dl Downloader) error {
	if err := downloadAll(ctx, dl, in.files(), tmp); err != nil {
		return err
	}
	cache := pebble.NewCache(8 << 20)
	defer cache.Unref()
	po := pebbleOptions(s.opts, cache)
	po.ReadOnly = true
	po.ErrorIfNotExists = true
	src, err := pebble.Open(tmp, po)
	if err != nil {
		return fmt.Errorf("open downloaded snapshot: %w", err)
	}
	defer src.Close()
	it, err := src.NewIter(&pebble.IterOptions{LowerBound: s.kgLo[:], UpperBound: s.kgHi})
	if err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return fmt.Errorf("read key %x: %w", it.Key(), err)
		}
		if err := b.Set(it.Key(), v, nil); err != nil {
			_ = it.Close()
			return err
		}
		if n++; b.Len() >= copyBatchBytes {
			if err := ctx.Err(); err != nil {
				_ = it.Close()
				return err
			}
			if err := b.Commit(pebble.NoSync); err != nil {
				_ = it.Close()
				return err
			}
			b.Reset()
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("read downloaded snapshot: %w", err)
	}
	return b.Commit(pebble.NoSync)
}

// downloadAll downloads files into dir and checks their length and CRC.
func downloadAll(ctx context.Context, dl Downloader, files []checkpoint.SharedFile, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pebblestate: restore: %w", err)
	}
	seen := make(map[string]bool, len(files))
	for _, f := range files {
		if f.Name == "" || f.Name != filepath.Base(f.Name) || f.Name == "." || f.Name == ".." {
			return fmt.Errorf("pebblestate: restore: bad file name %q in snapshot", f.Name)
		}
		if seen[f.Name] {
			return fmt.Errorf("pebblestate: restore: file %s listed twice in snapshot", f.Name)
		}
		seen[f.Name] = true
		if err := ctx.Err(); err != nil {
			return err
		}
		path := filepath.Join(dir, f.Name)
		if err := dl.Download(ctx, f.Handle, path); err != nil {
			return fmt.Errorf("pebblestate: restore: download file %s (%s): %w", f.Name, f.Handle.Path, err)
		}
		if err := verifyFile(path, f.Handle); err != nil {
			return fmt.Errorf("pebblestate: restore: file %s (%s): %w", f.Name, f.Handle.Path, err)
		}
	}
	return nil
}

// ErrCorruptFile reports a downloaded file whose length or CRC is not the
// one recorded in the checkpoint.
var ErrCorruptFile = errors.New("corrupt state file")

// castagnoli is the CRC-32C table (read-only after init).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func verifyFile(path string, h checkpoint.Handle) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	c := crc32.New(castagnoli)
	n, err := io.Copy(c, f)
	if err != nil {
		return err
	}
	if n != h.Length {
		return fmt.Errorf("%w: %d bytes downloaded, checkpoint says %d", ErrCorruptFile, n, h.Length)
	}
	if got := c.Sum32(); got != h.CRC {
		return fmt.Errorf("%w: CRC-32C %08x, checkpoint says %08x", ErrCorruptFile, got, h.CRC)
	}
	return nil
}
