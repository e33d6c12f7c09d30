package fileio

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/io/filesystem"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// FileSink writes records as lines of part files in a directory, with a
// two-phase commit so that only the output of successful jobs becomes
// visible. Create one with TextSink, CSVSink or JSONLSink.
//
// # Protocol
//
// The writer of subtask S, attempt A writes to a hidden in-progress file
// "DIR/.part-<S:05d>-<A>-<uniq>.inprogress". Prepare (and rolling, see
// WithRollSize) closes it and renames it to a hidden pending name
// ".part-<S:05d>-<N><ext>.<A>-<uniq>.pending", returning a committable: a
// JSON object {"pending": P, "final": F} of two paths resolvable through
// the sink's registry. The committer's Commit renames pending to the
// final, visible name "part-<S:05d>-<N><ext>" (ext is the compression
// suffix). N counts the part files of the subtask, starting after the
// highest N of that subtask already in DIR (final or pending), so that a
// restarted streaming job never overwrites committed files; it is fixed in
// the committable, so commits are deterministic.
//
// Commit is idempotent: a committable whose pending file is gone and whose
// final file exists is already committed. The committer's Abort removes
// pending files (missing ones are fine) and never touches final files; a
// writer's Abort removes its in-progress file and the files it rolled but
// has not handed out yet. Hidden files are ignored by the file sources
// (see filesystem.Hidden), so readers of DIR see committed output only.
// Rename is atomic on the local file system (see filesystem.FileSystem).
//
// Writers buffer output (WithBufferSize, default 256 KiB). A writer that
// gets no records creates no file. Part files of a job rerun into the same
// directory are added next to the old ones: clear the directory first to
// replace earlier output.
type FileSink[T any] struct {
	dir        string
	cfg        config
	kind       string
	newEncoder func() encodeFunc[T]
	header     []byte // written at the start of every part file
	err        error
}

type encodeFunc[T any] func(dst []byte, v T) ([]byte, error)

var _ dag.Sink[int] = (*FileSink[int])(nil)

// TextSink returns a sink writing one line per record: format appends the
// record's text to dst (without a line break; the sink adds "\n").
//
// Options: WithRegistry, WithRollSize, WithCompression, WithBufferSize.
func TextSink[T any](dir string, format func(dst []byte, v T) []byte, opts ...Option) *FileSink[T] {
	s := &FileSink[T]{dir: dir, cfg: newConfig(opts), kind: "text"}
	if format == nil {
		s.err = errors.New("fileio: TextSink needs a format function")
	}
	s.newEncoder = func() encodeFunc[T] {
		return func(dst []byte, v T) ([]byte, error) {
			return append(format(dst, v), '\n'), nil
		}
	}
	return s
}

// CSVSink returns a sink writing one CSV line per record with the fields
// returned by fields. Fields holding the delimiter, '"', CR or LF are
// quoted (quotes doubled), so the CSV source reads the records back
// unchanged, except fields with line breaks, which the CSV source cannot
// read (see ErrMultilineField).
//
// Options: WithDelimiter, WithComment, WithHeader, WithRegistry,
// WithRollSize, WithCompression, WithBufferSize.
func CSVSink[T any](dir string, fields func(T) []string, opts ...Option) *FileSink[T] {
	s := &FileSink[T]{dir: dir, cfg: newConfig(opts), kind: "csv"}
	if fields == nil {
		s.err = errors.New("fileio: CSVSink needs a fields function")
	}
	delim, comment := s.cfg.delim, s.cfg.comment
	if s.cfg.header != nil {
		s.header = appendCSVRecord(nil, s.cfg.header, delim, comment)
	}
	s.newEncoder = func() encodeFunc[T] {
		return func(dst []byte, v T) ([]byte, error) {
			return appendCSVRecord(dst, fields(v), delim, comment), nil
		}
	}
	return s
}

// JSONLSink returns a sink writing each record as one line of JSON
// (encoding/json, HTML characters not escaped).
//
// Options: WithRegistry, WithRollSize, WithCompression, WithBufferSize.
func JSONLSink[T any](dir string, opts ...Option) *FileSink[T] {
	s := &FileSink[T]{dir: dir, cfg: newConfig(opts), kind: "jsonl"}
	s.newEncoder = func() encodeFunc[T] {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		return func(dst []byte, v T) ([]byte, error) {
			buf.Reset()
			if err := enc.Encode(v); err != nil {
				return dst, err
			}
			return append(dst, buf.Bytes()...), nil // Encode ends with '\n'
		}
	}
	return s
}

// Committer implements dag.Sink.
func (s *FileSink[T]) Committer() dag.Committer {
	return &fileCommitter{reg: s.cfg.reg}
}

// NewWriter implements dag.Sink. It creates the output directory if
// missing.
func (s *FileSink[T]) NewWriter(ctx context.Context, sc dag.SinkContext) (dag.SinkWriter[T], error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.cfg.err != nil {
		return nil, s.cfg.err
	}
	if s.dir == "" {
		return nil, fmt.Errorf("fileio: %s sink: empty output directory", s.kind)
	}
	// Every writer, wherever it runs, and the committer write the same
	// absolute location: relative paths resolve against the directory the
	// job was submitted from (see WithBaseDir).
	target, err := s.cfg.absolute(s.dir)
	if err != nil {
		return nil, fmt.Errorf("fileio: %s sink: %w", s.kind, err)
	}
	fsys, dir, err := s.cfg.reg.Resolve(target)
	if err != nil {
		return nil, fmt.Errorf("fileio: %s sink: %w", s.kind, err)
	}
	if err := fsys.MkdirAll(ctx, dir); err != nil {
		return nil, accessError("create output directory", target, err)
	}
	next, err := nextPartNumber(ctx, fsys, dir, sc.Subtask)
	if err != nil {
		return nil, err
	}
	return &fileWriter[T]{
		sink:   s,
		fs:     fsys,
		dir:    dir,
		sc:     sc,
		encode: s.newEncoder(),
		next:   next,
	}, nil
}

// nextPartNumber returns 1 + the highest part number of subtask found in
// dir among final and pending files, or 0.
func nextPartNumber(ctx context.Context, fsys filesystem.FileSystem, dir string, subtask int) (int, error) {
	entries, err := fsys.List(ctx, dir)
	if err != nil {
		return 0, fmt.Errorf("fileio: listing output directory %s: %w", dir, err)
	}
	final := fmt.Sprintf("part-%05d-", subtask)
	pending := "." + final
	next := 0
	for _, e := range entries {
		name := filesystem.BaseName(e.Path)
		var rest string
		switch {
		case strings.HasPrefix(name, final):
			rest = name[len(final):]
		case strings.HasPrefix(name, pending) && strings.HasSuffix(name, ".pending"):
			rest = name[len(pending):]
		default:
			continue
		}
		n, digits := 0, 0
		for digits < len(rest) && digits < 9 && rest[digits] >= '0' && rest[digits] <= '9' {
			n = n*10 + int(rest[digits]-'0')
			digits++
		}
		if digits > 0 && n+1 > next {
			next = n + 1
		}
	}
	return next, nil
}

// committable is the JSON form of a committable.
type committable struct {
	Pending string `json:"pending"`
	Final   string `json:"final"`
}

// part is an open in-progress part file.
type part struct {
	n          int
	inprogress string
	pending    string
	final      string
	f          io.WriteCloser
	w          io.Writer // compressor or buffer
	bytes      int64
}

type fileWriter[T any] struct {
	sink    *FileSink[T]
	fs      filesystem.FileSystem
	dir     string
	sc      dag.SinkContext
	encode  encodeFunc[T]
	next    int
	cur     *part
	rolled  []committable // prepared by rolling, not yet returned
	scratch []byte
	bw      *bufio.Writer
	gz      *gzip.Writer
	zst     *zstd.Encoder
}

// Write implements dag.SinkWriter.
func (w *fileWriter[T]) Write(ctx context.Context, b *dag.Batch[T]) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	roll := w.sink.cfg.rollSize
	for _, v := range b.Vals {
		if w.cur == nil {
			if err := w.open(ctx); err != nil {
				return err
			}
		}
		var err error
		w.scratch, err = w.encode(w.scratch[:0], v)
		if err != nil {
			return fmt.Errorf("fileio: encoding a record for %s: %w", w.cur.inprogress, err)
		}
		if _, err := w.cur.w.Write(w.scratch); err != nil {
			return fmt.Errorf("fileio: writing %s: %w", w.cur.inprogress, err)
		}
		w.cur.bytes += int64(len(w.scratch))
		if roll > 0 && w.cur.bytes >= roll {
			if err := w.finish(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

func uniq() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b[:])
}

// open starts a new in-progress part file.
func (w *fileWriter[T]) open(ctx context.Context) error {
	sc, u := w.sc, uniq()
	final := fmt.Sprintf("part-%05d-%d%s", sc.Subtask, w.next, w.sink.cfg.compression.Ext())
	p := &part{
		n:          w.next,
		inprogress: filesystem.Join(w.dir, fmt.Sprintf(".part-%05d-%d-%s.inprogress", sc.Subtask, sc.Attempt, u)),
		pending:    filesystem.Join(w.dir, fmt.Sprintf(".%s.%d-%s.pending", final, sc.Attempt, u)),
		final:      filesystem.Join(w.dir, final),
	}
	f, err := w.fs.Create(ctx, p.inprogress)
	if err != nil {
		return accessError("create part file", p.inprogress, err)
	}
	p.f = f
	if w.bw == nil {
		w.bw = bufio.NewWriterSize(f, w.sink.cfg.bufSize)
	} else {
		w.bw.Reset(f)
	}
	p.w = w.bw
	switch w.sink.cfg.compression {
	case Gzip:
		if w.gz == nil {
			w.gz = gzip.NewWriter(w.bw)
		} else {
			w.gz.Reset(w.bw)
		}
		p.w = w.gz
	case Zstd:
		if w.zst == nil {
			w.zst, err = zstd.NewWriter(w.bw, zstd.WithEncoderConcurrency(1))
			if err != nil {
				f.Close()
				_ = w.fs.Remove(ctx, p.inprogress)
				return fmt.Errorf("fileio: zstd writer for %s: %w", p.inprogress, err)
			}
		} else {
			w.zst.Reset(w.bw)
		}
		p.w = w.zst
	}
	w.next++
	w.cur = p
	if len(w.sink.header) > 0 {
		if _, err := p.w.Write(w.sink.header); err != nil {
			return fmt.Errorf("fileio: writing %s: %w", p.inprogress, err)
		}
	}
	return nil
}

// finish closes the current part file and renames it to its pending name.
func (w *fileWriter[T]) finish(ctx context.Context) error {
	p := w.cur
	w.cur = nil
	var err error
	switch p.w.(type) {
	case *gzip.Writer:
		err = w.gz.Close()
	case *zstd.Encoder:
		err = w.zst.Close()
	}
	if err == nil {
		err = w.bw.Flush()
	}
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = w.fs.Rename(ctx, p.inprogress, p.pending)
	}
	if err != nil {
		_ = w.fs.Remove(context.WithoutCancel(ctx), p.inprogress)
		return fmt.Errorf("fileio: finishing part file %s: %w", p.final, err)
	}
	w.rolled = append(w.rolled, committable{Pending: p.pending, Final: p.final})
	return nil
}

// Prepare implements dag.SinkWriter: it closes the current part file and
// returns one committable per part file finished since the last Prepare.
// Later records go to a new part file.
func (w *fileWriter[T]) Prepare(ctx context.Context) ([][]byte, error) {
	if w.cur != nil {
		if err := w.finish(ctx); err != nil {
			return nil, err
		}
	}
	out := make([][]byte, 0, len(w.rolled))
	for _, c := range w.rolled {
		b, err := json.Marshal(c)
		if err != nil {
			return nil, fmt.Errorf("fileio: encoding committable of %s: %w", c.Final, err)
		}
		out = append(out, b)
	}
	w.rolled = nil
	return out, nil
}

// Abort implements dag.SinkWriter: it removes the in-progress file and
// the part files finished by rolling but not yet returned by Prepare.
func (w *fileWriter[T]) Abort(ctx context.Context) error {
	var errs []error
	if p := w.cur; p != nil {
		w.cur = nil
		_ = p.f.Close()
		if err := w.fs.Remove(ctx, p.inprogress); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("fileio: removing %s: %w", p.inprogress, err))
		}
	}
	for _, c := range w.rolled {
		if err := w.fs.Remove(ctx, c.Pending); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("fileio: removing %s: %w", c.Pending, err))
		}
	}
	w.rolled = nil
	return errors.Join(errs...)
}

// Close implements dag.SinkWriter. Records written after the last Prepare
// are discarded (as by Abort).
func (w *fileWriter[T]) Close() error {
	var err error
	if w.cur != nil || len(w.rolled) > 0 {
		err = w.Abort(context.Background())
	}
	if w.zst != nil {
		_ = w.zst.Close()
		w.zst = nil
	}
	w.gz, w.bw = nil, nil
	return err
}

// fileCommitter commits and aborts FileSink committables.
type fileCommitter struct {
	reg *filesystem.Registry
}

func (c *fileCommitter) decode(raw []byte) (committable, error) {
	var cm committable
	if err := json.Unmarshal(raw, &cm); err != nil {
		return cm, fmt.Errorf("fileio: bad committable %q: %w", raw, err)
	}
	if cm.Pending == "" || cm.Final == "" {
		return cm, fmt.Errorf("fileio: bad committable %q: missing pending or final path", raw)
	}
	return cm, nil
}

// Commit implements dag.Committer: it renames every pending file to its
// final name. Already committed files (pending gone, final present) are
// skipped, so Commit can be repeated. It commits what it can and returns
// the errors of the others.
func (c *fileCommitter) Commit(ctx context.Context, committables [][]byte) error {
	var errs []error
	for _, raw := range committables {
		if err := c.commit(ctx, raw); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *fileCommitter) commit(ctx context.Context, raw []byte) error {
	cm, err := c.decode(raw)
	if err != nil {
		return err
	}
	fsys, pending, err := c.reg.Resolve(cm.Pending)
	if err != nil {
		return fmt.Errorf("fileio: committing %s: %w", cm.Final, err)
	}
	_, final, err := c.reg.Resolve(cm.Final)
	if err != nil {
		return fmt.Errorf("fileio: committing %s: %w", cm.Final, err)
	}
	err = fsys.Rename(ctx, pending, final)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		if err != nil {
			return fmt.Errorf("fileio: committing %s: %w", cm.Final, err)
		}
		return nil
	}
	if _, perr := fsys.Stat(ctx, pending); !errors.Is(perr, fs.ErrNotExist) {
		return fmt.Errorf("fileio: committing %s: %w", cm.Final, err)
	}
	if _, ferr := fsys.Stat(ctx, final); ferr == nil {
		return nil // committed before
	}
	return fmt.Errorf("fileio: committing %s: neither the pending file %s nor the final file exists: %w",
		cm.Final, cm.Pending, fs.ErrNotExist)
}

// Abort implements dag.Committer: it removes the pending files. Missing
// files are fine; final (committed) files are never removed.
func (c *fileCommitter) Abort(ctx context.Context, committables [][]byte) error {
	var errs []error
	for _, raw := range committables {
		cm, err := c.decode(raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fsys, pending, err := c.reg.Resolve(cm.Pending)
		if err != nil {
			errs = append(errs, fmt.Errorf("fileio: aborting %s: %w", cm.Pending, err))
			continue
		}
		if err := fsys.Remove(ctx, pending); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("fileio: aborting %s: %w", cm.Pending, err))
		}
	}
	return errors.Join(errs...)
}
