package checkpoint

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/dagflow/dagflow/io/filesystem"
)

// WriteSavepoint writes a self-contained copy of md under dir as
// <dir>/savepoint-<job>-<id>/ and returns that directory's URI. Every byte
// range md references is copied into files inside it (ranges smaller than
// MergeThreshold merged into data-<n>.seg files, larger ones into
// file-<n>.bin); handles are stored relative to the directory, so it can be
// moved, and nothing is shared with checkpoints. A failed savepoint leaves
// nothing behind.
func (s *Storage) WriteSavepoint(ctx context.Context, md *Metadata, dir string) (string, error) {
	target := joinURI(dir, fmt.Sprintf("savepoint-%s-%d", s.job, md.ID))
	fsys, tp, err := s.reg.Resolve(target)
	if err != nil {
		return "", fmt.Errorf("checkpoint: savepoint %s: %w", target, err)
	}
	if _, err := fsys.Stat(ctx, tp); err == nil {
		return "", fmt.Errorf("checkpoint: savepoint %s: %w", target, fs.ErrExist)
	}
	if err := s.writeSavepoint(ctx, md, target); err != nil {
		_ = fsys.RemoveAll(ctx, tp)
		return "", fmt.Errorf("checkpoint: savepoint %d to %s: %w", md.ID, target, err)
	}
	return target, nil
}

func (s *Storage) writeSavepoint(ctx context.Context, md *Metadata, target string) error {
	cp, err := cloneMetadata(md)
	if err != nil {
		return err
	}
	cp.Job = s.job
	sw := &savepointWriter{s: s, dir: target, reader: NewReader(s.reg), copied: map[rangeKey]Handle{}}
	defer sw.reader.Close()
	err = forEachHandle(cp, func(where string, h *Handle) error {
		if h.Path == "" {
			return nil
		}
		nh, err := sw.copy(ctx, *h)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		*h = nh
		return nil
	})
	if cerr := sw.closeSegment(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	data, err := EncodeMetadata(cp)
	if err != nil {
		return err
	}
	return writeFileAtomic(ctx, s.reg, joinURI(target, MetadataFile), data)
}

// cloneMetadata deep-copies md.
func cloneMetadata(md *Metadata) (*Metadata, error) {
	b, err := json.Marshal(md)
	if err != nil {
		return nil, fmt.Errorf("copy metadata of checkpoint %d: %w", md.ID, err)
	}
	cp := new(Metadata)
	if err := json.Unmarshal(b, cp); err != nil {
		return nil, fmt.Errorf("copy metadata of checkpoint %d: %w", md.ID, err)
	}
	return cp, nil
}

type rangeKey struct {
	path   string
	off, n int64
}

// savepointWriter copies byte ranges into a savepoint directory.
type savepointWriter struct {
	s      *Storage
	dir    string
	reader *Reader
	copied map[rangeKey]Handle
	seg    *segment
	segRel string
	files  int
}

func (sw *savepointWriter) newFile(ctx context.Context, prefix, ext string) (rel string, w io.WriteCloser, err error) {
	rel = prefix + "-" + strconv.Itoa(sw.files) + ext
	sw.files++
	uri := joinURI(sw.dir, rel)
	fsys, p, err := sw.s.reg.Resolve(uri)
	if err != nil {
		return "", nil, err
	}
	w, err = fsys.Create(ctx, p)
	if err != nil {
		return "", nil, fmt.Errorf("create %s: %w", uri, err)
	}
	return rel, w, nil
}

func (sw *savepointWriter) closeSegment() error {
	if sw.seg == nil {
		return nil
	}
	g := sw.seg
	sw.seg = nil
	return g.close()
}

// copy copies the range of h (once per distinct range) and returns its
// handle relative to the savepoint directory.
func (sw *savepointWriter) copy(ctx context.Context, h Handle) (Handle, error) {
	k := rangeKey{h.Path, h.Offset, h.Length}
	if nh, ok := sw.copied[k]; ok {
		return nh, nil
	}
	o := &sw.s.opts
	var nh Handle
	if h.Length < o.MergeThreshold {
		data, err := sw.reader.Read(ctx, h)
		if err != nil {
			return Handle{}, err
		}
		if sw.seg != nil && sw.seg.size > 0 && sw.seg.size+h.Length > o.MaxSegmentSize {
			if err := sw.closeSegment(); err != nil {
				return Handle{}, err
			}
		}
		if sw.seg == nil {
			rel, w, err := sw.newFile(ctx, "data", ".seg")
			if err != nil {
				return Handle{}, err
			}
			sw.seg = &segment{uri: joinURI(sw.dir, rel), w: w, bw: bufio.NewWriterSize(w, segmentBufferSize)}
			sw.segRel = rel
		}
		if _, err := sw.seg.bw.Write(data); err != nil {
			return Handle{}, fmt.Errorf("write %s: %w", sw.seg.uri, err)
		}
		nh = Handle{Path: sw.segRel, Offset: sw.seg.size, Length: h.Length, CRC: h.CRC}
		sw.seg.size += h.Length
	} else {
		rel, w, err := sw.newFile(ctx, "file", ".bin")
		if err != nil {
			return Handle{}, err
		}
		bw := bufio.NewWriterSize(w, copyBufferSize)
		err = sw.s.copyHandle(ctx, h, bw)
		if err == nil {
			err = bw.Flush()
		}
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return Handle{}, fmt.Errorf("copy %s: %w", describe(h), err)
		}
		nh = Handle{Path: rel, Length: h.Length, CRC: h.CRC}
	}
	sw.copied[k] = nh
	return nh, nil
}

// LoadSavepoint reads the savepoint at uri (its directory or its _metadata
// file), resolves its relative handles against the directory and checks
// that every file exists and is long enough (Verify).
func LoadSavepoint(ctx context.Context, reg *filesystem.Registry, uri string) (*Metadata, error) {
	return loadSnapshot(ctx, reg, uri)
}

// LoadCheckpoint reads a retained checkpoint at uri (its chk-<id>
// directory or its _metadata file) like LoadSavepoint, to restore a job
// from a checkpoint path.
func LoadCheckpoint(ctx context.Context, reg *filesystem.Registry, uri string) (*Metadata, error) {
	return loadSnapshot(ctx, reg, uri)
}

func loadSnapshot(ctx context.Context, reg *filesystem.Registry, uri string) (*Metadata, error) {
	dir, meta := strings.TrimRight(uri, "/"), ""
	if d, ok := strings.CutSuffix(dir, "/"+MetadataFile); ok {
		dir, meta = d, dir
	} else {
		fsys, p, err := reg.Resolve(dir)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: load %s: %w", uri, err)
		}
		fi, err := fsys.Stat(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: load %s: %w", uri, err)
		}
		if !fi.IsDir {
			return nil, fmt.Errorf("checkpoint: load %s: not a directory nor a %s file", uri, MetadataFile)
		}
		meta = joinURI(dir, MetadataFile)
	}
	md, err := ReadMetadata(ctx, reg, meta)
	if err != nil {
		return nil, err
	}
	err = forEachHandle(md, func(where string, h *Handle) error {
		if h.Path == "" || isAbs(h.Path) {
			return nil
		}
		if path.Clean(h.Path) != h.Path || h.Path == ".." || strings.HasPrefix(h.Path, "../") {
			return fmt.Errorf("%w: %s: relative path %q leaves the directory", ErrCorrupt, where, h.Path)
		}
		h.Path = joinURI(dir, h.Path)
		return nil
	})
	if err == nil {
		err = Verify(ctx, reg, md)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: load %s: %w", meta, err)
	}
	return md, nil
}

// isAbs reports whether p is an absolute path or a URI.
func isAbs(p string) bool {
	_, ok := filesystem.SchemeOf(p)
	return ok || strings.HasPrefix(p, "/")
}
