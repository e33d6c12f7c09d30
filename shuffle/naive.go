package shuffle

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// This file is the LayoutFilePerSubpartition baseline, kept only to measure
// what the sort-merge layout saves. Each subpartition is its own file (same
// header and block framing as the sort-merge data file, no index); broadcast
// buffers are copied into every file; each block is written to its file as
// soon as it fills, so writes of different subpartitions interleave across
// many files.

type naiveWriter struct {
	b    *fileBackend
	id   PartitionID
	gone *doneFlag

	paths, tmps []string
	files       []writeFile
	blks        [][]byte
	sizes       []int64
	out         []byte
	err         error

	raw, buffers int64
	st           Stat
}

func (b *fileBackend) newNaiveWriter(id PartitionID, dir, stem string, subs int, gone *doneFlag) (*naiveWriter, error) {
	w := &naiveWriter{
		b: b, id: id, gone: gone,
		paths: make([]string, subs), tmps: make([]string, subs), files: make([]writeFile, subs),
		blks: make([][]byte, subs), sizes: make([]int64, subs),
	}
	hdr := appendFileHeader(nil, flagFilePerSubpartition)
	for s := range subs {
		w.paths[s] = filepath.Join(dir, fmt.Sprintf("%s.sub%d.data", stem, s))
		w.tmps[s] = b.tmpName(w.paths[s])
		f, err := b.create(w.tmps[s])
		if err != nil {
			w.abort()
			return nil, ioErr("create", id, w.tmps[s], err)
		}
		w.files[s] = f
		if _, err := f.Write(hdr); err != nil {
			w.abort()
			return nil, ioErr("write", id, w.tmps[s], err)
		}
		w.sizes[s] = int64(len(hdr))
	}
	return w, nil
}

func (w *naiveWriter) flush(s int) {
	if len(w.blks[s]) == 0 || w.err != nil {
		return
	}
	var err error
	if w.out, err = w.b.cs.appendBlock(w.out[:0], w.b.codec, w.blks[s]); err != nil {
		w.err = fmt.Errorf("shuffle: partition %s: encode block: %w", w.id, err)
		return
	}
	if _, err := w.files[s].Write(w.out); err != nil {
		w.err = ioErr("write", w.id, w.tmps[s], err)
		return
	}
	w.sizes[s] += int64(len(w.out))
	w.blks[s] = w.blks[s][:0]
}

func (w *naiveWriter) add(s int, buf []byte) {
	if n := recordLen(len(buf)); len(w.blks[s]) > 0 && len(w.blks[s])+n > w.b.cfg.BlockSize {
		w.flush(s)
	}
	w.blks[s] = appendRecord(w.blks[s], buf)
}

func (w *naiveWriter) check(buf []byte) error {
	if w.err != nil {
		return w.err
	}
	if len(buf) > maxBufferLen {
		return fmt.Errorf("shuffle: partition %s: buffer of %d bytes exceeds the %d byte limit", w.id, len(buf), maxBufferLen)
	}
	return w.gone.err()
}

func (w *naiveWriter) write(sub int, buf []byte) error {
	if err := w.check(buf); err != nil {
		return err
	}
	w.add(sub, buf)
	w.raw += int64(len(buf))
	w.buffers++
	return w.err
}

func (w *naiveWriter) writeBroadcast(buf []byte) error {
	if err := w.check(buf); err != nil {
		return err
	}
	for s := range w.blks {
		w.add(s, buf)
	}
	w.raw += int64(len(buf))
	w.buffers++
	return w.err
}

func (w *naiveWriter) finish(context.Context) error {
	var total int64
	for s := range w.files {
		w.flush(s)
		if w.err != nil {
			return w.err
		}
		f := w.files[s]
		w.files[s] = nil
		if err := f.Close(); err != nil {
			w.err = ioErr("close", w.id, w.tmps[s], err)
			return w.err
		}
		total += w.sizes[s]
	}
	w.blks, w.out = nil, nil
	w.st = Stat{Bytes: total, RawBytes: w.raw, Buffers: w.buffers, Subpartitions: len(w.files), Files: len(w.files)}
	return nil
}

func (w *naiveWriter) publish() (committedPart, error) {
	for s := range w.tmps {
		if err := os.Rename(w.tmps[s], w.paths[s]); err != nil {
			_ = w.b.removeFiles(w.paths[:s]...)
			return nil, ioErr("rename", w.id, w.tmps[s], err)
		}
	}
	return &naivePart{b: w.b, id: w.id, paths: w.paths, sizes: w.sizes, st: w.st}, nil
}

func (w *naiveWriter) abort() {
	for s, f := range w.files {
		if f != nil {
			_ = f.Close()
			w.files[s] = nil
		}
	}
	if err := w.b.removeFiles(w.tmps...); err != nil {
		w.b.log.Warn("shuffle: temporary files not removed", "partition", w.id.String(), "err", err)
	}
}

// naivePart is a committed baseline partition.
type naivePart struct {
	b     *fileBackend
	id    PartitionID
	paths []string
	sizes []int64
	st    Stat
	gone  doneFlag
}

func (p *naivePart) open(_ context.Context, from, to int) (Reader, error) {
	if err := p.gone.err(); err != nil {
		return nil, err
	}
	if to > len(p.paths) {
		return nil, fmt.Errorf("shuffle: partition %s: subpartitions [%d,%d) out of range (%d subpartitions)", p.id, from, to, len(p.paths))
	}
	return p.b.newFileReader(p.id, &p.gone, &naiveSource{p: p, sub: from, to: to}), nil
}

func (p *naivePart) stat() Stat { return p.st }

func (p *naivePart) remove(err error) error {
	p.gone.set(err)
	return p.b.removeFiles(p.paths...)
}

// naiveSource opens the subpartition files one after the other.
type naiveSource struct {
	p       *naivePart
	sub, to int
	f       *os.File
}

func (s *naiveSource) next() (segment, bool, error) {
	s.close()
	for s.sub < s.to {
		sub := s.sub
		s.sub++
		path := s.p.paths[sub]
		f, err := os.Open(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return segment{}, false, fmt.Errorf("%w: partition %s: file %s is missing", ErrNotExist, s.p.id, path)
			}
			return segment{}, false, ioErr("open", s.p.id, path, err)
		}
		s.f = f
		var h [fileHeaderSize]byte
		if _, err := f.ReadAt(h[:], 0); err == nil {
			err = checkFileHeader(h[:], flagFilePerSubpartition)
		}
		if err != nil {
			return segment{}, false, fmt.Errorf("%w: partition %s: %s at offset 0: %v", ErrCorrupt, s.p.id, path, err)
		}
		if s.p.sizes[sub] > fileHeaderSize {
			return segment{f: f, path: path, off: fileHeaderSize, end: s.p.sizes[sub]}, true, nil
		}
		s.close()
	}
	return segment{}, false, nil
}

func (s *naiveSource) close() {
	if s.f != nil {
		_ = s.f.Close()
		s.f = nil
	}
}
