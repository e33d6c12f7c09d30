package fileio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/io/filesystem"
)

// splitData is the encoding of dag.Split.Data for file sources.
type splitData struct {
	Path  string `json:"path"`
	Start int64  `json:"start"`
	End   int64  `json:"end"`
	// Whole marks a compressed file read from start to finish.
	Whole bool `json:"whole,omitempty"`
	// Skip is how many lines a restored reader of a compressed file skips
	// (plain files resume at a byte offset instead).
	Skip int64 `json:"skip,omitempty"`
}

// codecOf returns the compression of a file by its name's suffix.
func codecOf(path string) Compression {
	p := strings.ToLower(path)
	switch {
	case strings.HasSuffix(p, ".gz"):
		return Gzip
	case strings.HasSuffix(p, ".zst"), strings.HasSuffix(p, ".zstd"):
		return Zstd
	}
	return NoCompression
}

// fileSource holds what all line-based sources share.
type fileSource struct {
	paths []string
	cfg   config
	pool  *sync.Pool // of *[]byte read buffers of cfg.bufSize
}

func newFileSource(paths []string, opts []Option) fileSource {
	s := fileSource{paths: append([]string(nil), paths...), cfg: newConfig(opts)}
	s.pool = newBufPool(s.cfg.bufSize)
	return s
}

func (s fileSource) with(opts []Option) fileSource {
	s.cfg.header = append([]string(nil), s.cfg.header...)
	s.cfg.apply(opts)
	s.pool = newBufPool(s.cfg.bufSize)
	return s
}

func newBufPool(size int) *sync.Pool {
	return &sync.Pool{New: func() any { b := make([]byte, size); return &b }}
}

// splits expands the input paths and cuts the files into byte ranges.
func (s fileSource) splits(ctx context.Context, sc dag.SplitContext) ([]dag.Split, error) {
	if s.cfg.err != nil {
		return nil, s.cfg.err
	}
	if len(s.paths) == 0 {
		return nil, fmt.Errorf("fileio: no input paths")
	}
	files, err := s.expand(ctx)
	if err != nil {
		return nil, err
	}
	size := s.cfg.splitSize
	if size == 0 {
		var total int64
		for _, f := range files {
			if codecOf(f.Path) == NoCompression {
				total += f.Size
			}
		}
		size = DefaultSplitSize
		if p := int64(max(sc.Parallelism, 1)); total/p < size {
			size = max((total+p-1)/p, minAutoSplitSize)
		}
	}
	var out []dag.Split
	add := func(d splitData) error {
		data, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("fileio: encoding split of %s: %w", d.Path, err)
		}
		out = append(out, dag.Split{
			ID:     fmt.Sprintf("%s@%d-%d", d.Path, d.Start, d.End),
			Data:   data,
			Weight: d.End - d.Start,
		})
		return nil
	}
	for _, f := range files {
		if f.Size == 0 {
			continue
		}
		if codecOf(f.Path) != NoCompression {
			if err := add(splitData{Path: f.Path, End: f.Size, Whole: true}); err != nil {
				return nil, err
			}
			continue
		}
		for start := int64(0); start < f.Size; start += size {
			if err := add(splitData{Path: f.Path, Start: start, End: min(start+size, f.Size)}); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// expand resolves the input paths to absolute URIs (relative local paths
// against the base directory, see WithBaseDir) and lists their files, so
// that splits name the same files in every process of the job.
func (s fileSource) expand(ctx context.Context) ([]filesystem.FileInfo, error) {
	var files []filesystem.FileInfo
	seen := make(map[string]bool)
	for _, p := range s.paths {
		abs, err := s.cfg.absolute(p)
		if err != nil {
			return nil, err
		}
		fs, err := filesystem.ExpandInputs(ctx, s.cfg.reg, []string{abs})
		if err != nil {
			var ne *filesystem.InputNotExistError
			if errors.As(err, &ne) {
				// Name the input as the user gave it, and where it was looked for.
				ne.Path = p
				if lp, ok := filesystem.LocalPath(abs); ok {
					ne.LookedFor = lp
				} else {
					ne.LookedFor = abs
				}
			}
			return nil, fmt.Errorf("fileio: %w", err)
		}
		for _, f := range fs {
			if !seen[f.Path] {
				seen[f.Path] = true
				files = append(files, f)
			}
		}
	}
	return files, nil
}

// open decodes a split and opens a scanner on it.
func (s fileSource) open(ctx context.Context, split dag.Split) (*lineScanner, error) {
	if s.cfg.err != nil {
		return nil, s.cfg.err
	}
	var d splitData
	if err := json.Unmarshal(split.Data, &d); err != nil {
		return nil, fmt.Errorf("fileio: bad split %q: %w", split.ID, err)
	}
	if d.Path == "" || d.Start < 0 || d.End < d.Start || d.Skip < 0 {
		return nil, fmt.Errorf("fileio: bad split %q: invalid range [%d,%d) of %q", split.ID, d.Start, d.End, d.Path)
	}
	sc, err := openScanner(ctx, s.cfg.reg, d, s.pool, s.cfg.maxLine)
	if err != nil {
		return nil, err
	}
	sc.split, sc.data = split, d
	for sc.lineNo < d.Skip {
		_, _, st := sc.step()
		switch st {
		case stFill:
			if err := sc.fill(); err != nil {
				sc.Close()
				return nil, err
			}
		case stDone:
			sc.Close()
			return nil, fmt.Errorf("fileio: restoring split %q: %s has fewer than %d lines", split.ID, d.Path, d.Skip)
		}
	}
	return sc, nil
}

// Position implements dag.PositionedReader for every line-based reader:
// plain files resume at the byte offset of the next line, compressed ones
// skip the lines already read.
func (s *lineScanner) Position() (dag.Split, error) {
	d := s.data
	if s.cnt != nil {
		d.Skip = s.lineNo
	} else {
		d.Start = min(max(d.Start, s.pos), d.End) // past End: nothing left
		if s.skip {
			d.Start = s.data.Start // still skipping the partial first line
		}
	}
	data, err := json.Marshal(d)
	if err != nil {
		return dag.Split{}, fmt.Errorf("fileio: encoding position of split %q: %w", s.split.ID, err)
	}
	sp := s.split
	sp.Data = data
	return sp, nil
}
