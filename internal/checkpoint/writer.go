package checkpoint

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
)

// segmentBufferSize is the write buffer of a segment file.
const segmentBufferSize = 64 << 10

// Stats counts what a CheckpointWriter wrote.
type Stats struct {
	// Files is the number of files created (segments, own files, shared
	// uploads).
	Files int
	// Bytes is the number of state bytes written to files (inline state
	// not included).
	Bytes int64
	// Handles is the number of handles returned, Inline those kept inline.
	Handles int
	Inline  int
}

// CheckpointWriter writes the state of one worker process for one
// checkpoint: every task and operator of the worker may write through it
// concurrently. Small state goes inline into the metadata or into the
// writer's current segment file; large state gets its own file. Handles
// it returns are readable once Close returned nil.
type CheckpointWriter struct {
	s    *Storage
	id   int64
	name string // file name prefix: sanitized worker id and a random tag

	inflight sync.WaitGroup

	mu      sync.Mutex // guards the fields below
	seq     int
	seg     *segment // exclusive state, in chk-<id>/
	shared  *segment // small shared files, in shared/chk-<id>/
	created []string
	stats   Stats
	closed  bool
	aborted bool
	err     error // sticky segment failure
}

// NewCheckpointWriter returns the writer of worker (any id; it is part of
// file names) for checkpoint id. Files are named
// <worker>-<random>-<n>.{seg,state} so that writers never collide.
func (s *Storage) NewCheckpointWriter(id int64, worker string) *CheckpointWriter {
	s.mu.Lock()
	s.maxSeen = max(s.maxSeen, id)
	s.mu.Unlock()
	return &CheckpointWriter{s: s, id: id, name: fileName(worker) + "-" + randomHex(4)}
}

// ID returns the checkpoint id.
func (w *CheckpointWriter) ID() int64 { return w.id }

// begin registers an in-flight write.
func (w *CheckpointWriter) begin() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("checkpoint: writer of checkpoint %d is closed", w.id)
	}
	if w.err != nil {
		return w.err
	}
	w.inflight.Add(1)
	return nil
}

// newFile reserves the URI of a new file in dir and records it for Abort.
func (w *CheckpointWriter) newFile(dir, ext string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.newFileLocked(dir, ext)
}

func (w *CheckpointWriter) newFileLocked(dir, ext string) string {
	uri := joinURI(dir, w.name+"-"+strconv.Itoa(w.seq)+ext)
	w.seq++
	w.created = append(w.created, uri)
	w.stats.Files++
	return uri
}

// Write stores data (the caller may reuse it after Write returns) and
// returns its handle: inline if len(data) <= InlineThreshold, a range of
// the current segment file if merging is on and len(data) <
// MergeThreshold, its own file in chk-<id>/ otherwise.
func (w *CheckpointWriter) Write(ctx context.Context, data []byte) (Handle, error) {
	if err := ctx.Err(); err != nil {
		return Handle{}, err
	}
	if err := w.begin(); err != nil {
		return Handle{}, err
	}
	defer w.inflight.Done()
	o := &w.s.opts
	n := int64(len(data))
	crc := crc32c(data)
	if o.InlineThreshold >= 0 && n <= o.InlineThreshold {
		w.mu.Lock()
		w.stats.Handles++
		w.stats.Inline++
		w.mu.Unlock()
		return Handle{Length: n, CRC: crc, Inline: append([]byte{}, data...)}, nil
	}
	if o.MergeEnabled && n < o.MergeThreshold {
		return w.appendSegment(ctx, &w.seg, w.s.CheckpointDir(w.id), data, crc)
	}
	uri := w.newFile(w.s.CheckpointDir(w.id), ".state")
	if err := w.writeFile(ctx, uri, data); err != nil {
		return Handle{}, err
	}
	w.mu.Lock()
	w.stats.Handles++
	w.stats.Bytes += n
	w.mu.Unlock()
	return Handle{Path: uri, Length: n, CRC: crc}, nil
}

// writeFile creates uri holding data.
func (w *CheckpointWriter) writeFile(ctx context.Context, uri string, data []byte) error {
	fsys, p, err := w.s.reg.Resolve(uri)
	if err != nil {
		return fmt.Errorf("checkpoint %d: %w", w.id, err)
	}
	f, err := fsys.Create(ctx, p)
	if err != nil {
		return fmt.Errorf("checkpoint %d: create %s: %w", w.id, uri, err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("checkpoint %d: write %s: %w", w.id, uri, err)
	}
	return nil
}

// appendSegment appends data to *seg in dir, rolling over at
// MaxSegmentSize.
func (w *CheckpointWriter) appendSegment(ctx context.Context, seg **segment, dir string, data []byte, crc uint32) (Handle, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return Handle{}, w.err
	}
	n := int64(len(data))
	if g := *seg; g != nil && g.size > 0 && g.size+n > w.s.opts.MaxSegmentSize {
		*seg = nil
		if err := g.close(); err != nil {
			w.err = err
			return Handle{}, err
		}
	}
	if *seg == nil {
		uri := w.newFileLocked(dir, ".seg")
		fsys, p, err := w.s.reg.Resolve(uri)
		if err != nil {
			return Handle{}, fmt.Errorf("checkpoint %d: %w", w.id, err)
		}
		f, err := fsys.Create(ctx, p)
		if err != nil {
			return Handle{}, fmt.Errorf("checkpoint %d: create segment %s: %w", w.id, uri, err)
		}
		*seg = &segment{uri: uri, w: f, bw: bufio.NewWriterSize(f, segmentBufferSize)}
	}
	g := *seg
	if _, err := g.bw.Write(data); err != nil {
		w.err = fmt.Errorf("checkpoint %d: write segment %s: %w", w.id, g.uri, err)
		return Handle{}, w.err
	}
	h := Handle{Path: g.uri, Offset: g.size, Length: n, CRC: crc}
	g.size += n
	w.stats.Handles++
	w.stats.Bytes += n
	return h, nil
}

// UploadShared uploads the local file localPath as a shared file of this
// checkpoint: into the writer's shared segment in shared/chk-<id>/ if
// merging is on and it is smaller than MergeThreshold, else as
// shared/chk-<id>/<key>. key must be unique per immutable file ("<backend
// uuid>/<sst name>"). Abort of the checkpoint removes the upload unless a
// completed checkpoint references it; later checkpoints may reference it
// once this checkpoint completed. The handle is readable after Close.
func (w *CheckpointWriter) UploadShared(ctx context.Context, localPath, key string) (Handle, error) {
	if err := validKey(key); err != nil {
		return Handle{}, err
	}
	if err := ctx.Err(); err != nil {
		return Handle{}, err
	}
	if err := w.begin(); err != nil {
		return Handle{}, err
	}
	defer w.inflight.Done()
	o := &w.s.opts
	if o.MergeEnabled {
		st, err := os.Stat(localPath)
		if err != nil {
			return Handle{}, fmt.Errorf("checkpoint %d: upload: %w", w.id, err)
		}
		if st.Size() < o.MergeThreshold {
			data, err := os.ReadFile(localPath)
			if err != nil {
				return Handle{}, fmt.Errorf("checkpoint %d: upload: %w", w.id, err)
			}
			return w.appendSegment(ctx, &w.shared, w.s.sharedCheckpointDir(w.id), data, crc32c(data))
		}
	}
	uri := joinURI(w.s.sharedCheckpointDir(w.id), key)
	h, created, err := w.s.uploadFile(ctx, localPath, uri)
	if err != nil {
		return Handle{}, fmt.Errorf("checkpoint %d: %w", w.id, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stats.Handles++
	if created {
		w.created = append(w.created, uri)
		w.stats.Files++
		w.stats.Bytes += h.Length
	}
	return h, nil
}

// Close waits for writes in progress, flushes and closes the segment
// files and returns what the writer wrote. After Close returned nil every
// handle it returned is readable.
func (w *CheckpointWriter) Close(ctx context.Context) (Stats, error) {
	w.mu.Lock()
	if w.closed {
		st, err := w.stats, w.err
		w.mu.Unlock()
		if err == nil && w.aborted {
			err = fmt.Errorf("checkpoint: writer of checkpoint %d was aborted", w.id)
		}
		return st, err
	}
	w.closed = true
	w.mu.Unlock()
	w.inflight.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, g := range []**segment{&w.seg, &w.shared} {
		if *g == nil {
			continue
		}
		if err := (*g).close(); err != nil && w.err == nil {
			w.err = err
		}
		*g = nil
	}
	return w.stats, w.err
}

// Abort stops the writer and removes every file it created. Writes in
// progress finish first.
func (w *CheckpointWriter) Abort(ctx context.Context) error {
	w.mu.Lock()
	w.closed = true
	w.aborted = true
	w.mu.Unlock()
	w.inflight.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, g := range []**segment{&w.seg, &w.shared} {
		if *g != nil {
			_ = (*g).close()
			*g = nil
		}
	}
	var errs []error
	for _, uri := range w.created {
		if err := removeFile(ctx, w.s, uri); err != nil {
			errs = append(errs, err)
		}
	}
	w.created = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("checkpoint %d: abort: %w", w.id, err)
	}
	return nil
}

// removeFile removes uri; a missing file is not an error.
func removeFile(ctx context.Context, s *Storage, uri string) error {
	fsys, p, err := s.reg.Resolve(uri)
	if err != nil {
		return err
	}
	if err := fsys.Remove(ctx, p); err != nil && !isNotExist(err) {
		return fmt.Errorf("remove %s: %w", uri, err)
	}
	return nil
}
