package hive

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/io/filesystem"
)

// StagingDir is the hidden directory under a table's location where
// writers keep in-progress and pending files (and, with
// CommitOnWatermark, the committer its list of partitions not yet due).
// Hive and the table source ignore names starting with '.' or '_'.
const StagingDir = ".dagflow-staging"

// commitStateFile holds the partitions written but not yet committed
// (CommitOnWatermark), in StagingDir.
const commitStateFile = "_partition-commit-state.json"

// TableSink writes Rows into a Hive table: INSERT INTO (append) or, with
// Overwrite, INSERT OVERWRITE, with static (StaticPartition) and dynamic
// partitions. Create it with Sink.
//
// # Protocol
//
// Writers write Parquet or text files into the table's StagingDir
// (in-progress, then pending at Prepare or when a file rolls) and return
// one committable per file plus one "mark" per Prepare carrying the
// writer's watermark and the partitions it wrote since the last Prepare.
// The Committer moves pending files to their final place
// (LOCATION/k=v/.../part-S-UNIQ-N.ext), with Overwrite removes the other
// files of the partitions written, then commits partitions: it adds
// missing partitions to the catalog and/or writes _SUCCESS files
// (CommitPolicy). Without CommitOnWatermark every partition written is
// committed with its files; with it, partitions wait until the minimum
// watermark of all writers passed partition time + delay, and the
// committer remembers the waiting ones in a small state file in
// StagingDir (so the committer stays stateless between calls). Every step
// is idempotent, so Commit may be retried and re-run after a restore.
// Nothing is visible before Commit: a failed job changes nothing.
type TableSink struct {
	cat  Catalog
	name string
	opts options
}

var _ dag.Sink[Row] = (*TableSink)(nil)

// Sink returns a sink writing into table ("db.table") of cat. Rows hold
// the data columns then the dynamic partition columns (partition keys not
// given with StaticPartition).
//
// Options: Overwrite, StaticPartition, WithSchema, Compression, RollSize,
// RollInterval, RowGroupRows, CommitOnWatermark, CommitPolicy,
// WithRegistry.
func Sink(cat Catalog, table string, opts ...Option) *TableSink {
	return &TableSink{cat: cat, name: table, opts: newOptions(opts)}
}

// sinkPlan is what NewWriter and the committer derive from the table.
type sinkPlan struct {
	t         *Table
	format    Format
	dataTypes []*Type
	dynTypes  []*Type // dynamic partition columns
	static    []string
	fs        filesystem.FileSystem
	loc       string // table location as the file system takes it
	staging   string
}

func (s *TableSink) plan(ctx context.Context) (*sinkPlan, error) {
	if s.opts.err != nil {
		return nil, s.opts.err
	}
	if s.cat == nil {
		return nil, fmt.Errorf("hive: sink %s: nil catalog", s.name)
	}
	db, tbl, err := ParseTableName(s.name)
	if err != nil {
		return nil, err
	}
	t, err := s.cat.Table(ctx, db, tbl)
	if err != nil {
		return nil, err
	}
	full, err := TableSchema(t)
	if err != nil {
		return nil, err
	}
	p := &sinkPlan{t: t}
	if p.format, err = t.Storage.Format(); err != nil {
		return nil, fmt.Errorf("hive: table %s: %w", t.FullName(), err)
	}
	if len(s.opts.static) > len(t.PartitionKeys) {
		return nil, fmt.Errorf("hive: table %s: %d static partition values for %d partition keys", t.FullName(), len(s.opts.static), len(t.PartitionKeys))
	}
	for i, sp := range s.opts.static {
		if !strings.EqualFold(sp.key, t.PartitionKeys[i].Name) {
			return nil, fmt.Errorf("hive: table %s: static partition %q: partition key #%d is %q (static keys must come first, in order)",
				t.FullName(), sp.key, i+1, t.PartitionKeys[i].Name)
		}
		p.static = append(p.static, sp.value)
	}
	input := full[:len(t.Columns)]
	for i, c := range full {
		if i < len(t.Columns) {
			p.dataTypes = append(p.dataTypes, c.Type)
		} else if i-len(t.Columns) >= len(p.static) {
			p.dynTypes = append(p.dynTypes, c.Type)
			input = append(input[:len(input):len(input)], c)
		}
	}
	if err := checkExpected(t, input, s.opts.expect); err != nil {
		return nil, err
	}
	fsys, loc, err := s.opts.reg.Resolve(t.Storage.Location)
	if err != nil {
		return nil, fmt.Errorf("hive: table %s: %w", t.FullName(), err)
	}
	if _, remote := filesystem.SchemeOf(loc); !remote {
		if abs, err := filepath.Abs(loc); err == nil {
			loc = abs
		}
	}
	p.fs, p.loc, p.staging = fsys, loc, filesystem.Join(loc, StagingDir)
	return p, nil
}

// Committer implements dag.Sink.
func (s *TableSink) Committer() dag.Committer { return &tableCommitter{s: s} }

// NewWriter implements dag.Sink.
func (s *TableSink) NewWriter(ctx context.Context, sc dag.SinkContext) (dag.SinkWriter[Row], error) {
	p, err := s.plan(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.fs.MkdirAll(ctx, p.staging); err != nil {
		return nil, fmt.Errorf("hive: table %s: creating %s: %w", p.t.FullName(), p.staging, err)
	}
	w := &tableWriter{s: s, p: p, sc: sc, uniq: uniq(), open: map[string]*outFile{}, written: map[string][]string{}, wm: dag.MinTime}
	switch p.format {
	case FormatParquet:
		codec, ext, err := parquetCodec(s.opts.codec)
		if err != nil {
			return nil, fmt.Errorf("hive: table %s: %w", p.t.FullName(), err)
		}
		w.ext = ext
		w.props = parquet.NewWriterProperties(parquet.WithCompression(codec), parquet.WithMaxRowGroupLength(int64(max(s.opts.rowGroup, 1))))
		cols := make(Schema, len(p.dataTypes))
		for i, c := range p.t.Columns {
			cols[i] = SchemaColumn{Name: strings.ToLower(c.Name), Type: p.dataTypes[i]}
		}
		w.schema = arrowSchema(cols)
	case FormatText:
		if w.tf, err = newTextFormat(p.t.Storage.SerDeParams); err != nil {
			return nil, fmt.Errorf("hive: table %s: %w", p.t.FullName(), err)
		}
	}
	w.partFmt = textFormat{seps: []byte{1, 2, 3, 4, 5, 6, 7, 8}, null: []byte(DefaultPartitionName)}
	return w, nil
}

func parquetCodec(name string) (compress.Compression, string, error) {
	switch strings.ToLower(name) {
	case "", "snappy":
		return compress.Codecs.Snappy, ".snappy.parquet", nil
	case "zstd":
		return compress.Codecs.Zstd, ".zstd.parquet", nil
	case "gzip":
		return compress.Codecs.Gzip, ".gz.parquet", nil
	case "none", "uncompressed":
		return compress.Codecs.Uncompressed, ".parquet", nil
	}
	return 0, "", fmt.Errorf("unknown Parquet compression %q (want snappy, zstd, gzip or none)", name)
}

func uniq() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// commitMsg is the JSON form of a committable.
type commitMsg struct {
	// Kind is "file" (a pending file) or "mark" (one per Prepare).
	Kind string `json:"kind"`
	// file
	Pending string   `json:"pending,omitempty"`
	Final   string   `json:"final,omitempty"`
	Dir     string   `json:"dir,omitempty"`
	Part    []string `json:"part,omitempty"`
	// mark
	Subtask   int        `json:"subtask,omitempty"`
	Watermark int64      `json:"wm,omitempty"`
	Parts     [][]string `json:"parts,omitempty"`
}

type outFile struct {
	vals       []string
	dir        string
	inprogress string
	pending    string
	final      string
	f          io.WriteCloser
	cw         *countingWriter
	bw         *bufio.Writer
	pq         *pqarrow.FileWriter
	rb         *array.RecordBuilder
	rows       int
	opened     time.Time
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type tableWriter struct {
	s       *TableSink
	p       *sinkPlan
	sc      dag.SinkContext
	uniq    string
	seq     int
	ext     string
	props   *parquet.WriterProperties
	schema  *arrow.Schema
	tf      textFormat
	partFmt textFormat
	open    map[string]*outFile
	done    []commitMsg
	written map[string][]string
	wm      int64
	vals    []string
	scratch []byte
}

var (
	_ dag.StatefulSinkWriter  = (*tableWriter)(nil)
	_ dag.WatermarkSinkWriter = (*tableWriter)(nil)
)

// Write implements dag.SinkWriter.
func (w *tableWriter) Write(ctx context.Context, b *dag.Batch[Row]) error {
	nd, ny := len(w.p.dataTypes), len(w.p.dynTypes)
	for _, row := range b.Vals {
		if len(row) != nd+ny {
			return dag.Fatal(fmt.Errorf("hive: table %s: schema mismatch: a row has %d values, the sink takes %d (%d data columns + %d dynamic partition columns)",
				w.p.t.FullName(), len(row), nd+ny, nd, ny))
		}
		for i, v := range row {
			t, name := w.colType(i)
			if err := CheckValue(t, v); err != nil {
				return dag.Fatal(fmt.Errorf("hive: table %s column %q: schema mismatch: %w", w.p.t.FullName(), name, err))
			}
		}
		w.vals = append(w.vals[:0], w.p.static...)
		for i := 0; i < ny; i++ {
			w.scratch = w.partFmt.appendValue(w.scratch[:0], w.p.dynTypes[i], row[nd+i], 1)
			w.vals = append(w.vals, string(w.scratch))
		}
		name := PartitionName(w.p.t.PartitionKeys, w.vals)
		of := w.open[name]
		if of == nil {
			var err error
			if of, err = w.openFile(ctx, name); err != nil {
				return err
			}
		}
		if err := w.writeRow(of, row[:nd]); err != nil {
			return err
		}
		if r := w.s.opts.rollSize; r > 0 && of.cw.n >= r || w.s.opts.rollTime > 0 && time.Since(of.opened) >= w.s.opts.rollTime {
			if err := w.finish(ctx, name); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *tableWriter) colType(i int) (*Type, string) {
	nd := len(w.p.dataTypes)
	if i < nd {
		return w.p.dataTypes[i], w.p.t.Columns[i].Name
	}
	k := len(w.p.static) + i - nd
	return w.p.dynTypes[i-nd], w.p.t.PartitionKeys[k].Name
}

func (w *tableWriter) openFile(ctx context.Context, name string) (*outFile, error) {
	w.seq++
	base := fmt.Sprintf("%s-%05d-%d-%d", w.uniq, w.sc.Subtask, w.sc.Attempt, w.seq)
	dir := w.p.loc
	if name != "" {
		dir = filesystem.Join(w.p.loc, name)
	}
	of := &outFile{
		vals:       slices.Clone(w.vals),
		dir:        dir,
		inprogress: filesystem.Join(w.p.staging, "."+base+".inprogress"),
		pending:    filesystem.Join(w.p.staging, base+".pending"),
		final:      filesystem.Join(dir, fmt.Sprintf("part-%05d-%s-%d%s", w.sc.Subtask, w.uniq, w.seq, w.ext)),
		opened:     time.Now(),
	}
	f, err := w.p.fs.Create(ctx, of.inprogress)
	if err != nil {
		return nil, fmt.Errorf("hive: table %s: creating %s: %w", w.p.t.FullName(), of.inprogress, err)
	}
	of.f = f
	of.cw = &countingWriter{w: f}
	of.bw = bufio.NewWriterSize(of.cw, 256<<10)
	if w.schema != nil {
		of.pq, err = pqarrow.NewFileWriter(w.schema, of.bw, w.props, pqarrow.NewArrowWriterProperties(pqarrow.WithDeprecatedInt96Timestamps(true)))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("hive: table %s: Parquet writer for %s: %w", w.p.t.FullName(), of.inprogress, err)
		}
		of.rb = array.NewRecordBuilder(memory.DefaultAllocator, w.schema)
	}
	w.open[name] = of
	return of, nil
}

func (w *tableWriter) writeRow(of *outFile, data Row) error {
	if of.pq == nil {
		w.scratch = w.tf.appendRow(w.scratch[:0], w.p.dataTypes, data)
		if _, err := of.bw.Write(w.scratch); err != nil {
			return fmt.Errorf("hive: table %s: writing %s: %w", w.p.t.FullName(), of.inprogress, err)
		}
		return nil
	}
	for i, v := range data {
		appendArrow(of.rb.Field(i), w.p.dataTypes[i], v)
	}
	of.rows++
	if of.rows >= w.s.opts.rowGroup {
		return w.flushRowGroup(of)
	}
	return nil
}

func (w *tableWriter) flushRowGroup(of *outFile) error {
	if of.rows == 0 {
		return nil
	}
	rec := of.rb.NewRecord()
	defer rec.Release()
	of.rows = 0
	if err := of.pq.Write(rec); err != nil {
		return fmt.Errorf("hive: table %s: writing %s: %w", w.p.t.FullName(), of.inprogress, err)
	}
	return nil
}

// finish closes a file and renames it to its pending name.
func (w *tableWriter) finish(ctx context.Context, name string) error {
	of := w.open[name]
	delete(w.open, name)
	var err error
	if of.pq != nil {
		err = w.flushRowGroup(of)
		if cerr := of.pq.Close(); err == nil {
			err = cerr
		}
		of.rb.Release()
	}
	if ferr := of.bw.Flush(); err == nil {
		err = ferr
	}
	if cerr := of.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = w.p.fs.Rename(ctx, of.inprogress, of.pending)
	}
	if err != nil {
		_ = w.p.fs.Remove(context.WithoutCancel(ctx), of.inprogress)
		return fmt.Errorf("hive: table %s: finishing %s: %w", w.p.t.FullName(), of.final, err)
	}
	w.done = append(w.done, commitMsg{Kind: "file", Pending: of.pending, Final: of.final, Dir: of.dir, Part: of.vals})
	if len(w.p.t.PartitionKeys) > 0 {
		w.written[name] = of.vals
	}
	return nil
}

// Prepare implements dag.SinkWriter: it closes every open file and returns
// their committables and a mark (watermark, partitions written).
func (w *tableWriter) Prepare(ctx context.Context) ([][]byte, error) {
	names := make([]string, 0, len(w.open))
	for n := range w.open {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := w.finish(ctx, n); err != nil {
			return nil, err
		}
	}
	mark := commitMsg{Kind: "mark", Subtask: w.sc.Subtask, Watermark: w.wm}
	pn := make([]string, 0, len(w.written))
	for n := range w.written {
		pn = append(pn, n)
	}
	slices.Sort(pn)
	for _, n := range pn {
		mark.Parts = append(mark.Parts, w.written[n])
	}
	out := make([][]byte, 0, len(w.done)+1)
	for _, c := range append(w.done, mark) {
		b, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	w.done = nil
	clear(w.written)
	return out, nil
}

// WriteWatermark implements dag.WatermarkSinkWriter.
func (w *tableWriter) WriteWatermark(ctx context.Context, wm int64) error {
	w.wm = max(w.wm, wm)
	return nil
}

type writerState struct {
	Watermark int64 `json:"wm"`
}

// SnapshotState implements dag.StatefulSinkWriter: the writer's
// watermark, so that a restored job does not restart partition commits
// from the minimum time.
func (w *tableWriter) SnapshotState(ctx context.Context) ([]byte, error) {
	return json.Marshal(writerState{Watermark: w.wm})
}

// RestoreState implements dag.StatefulSinkWriter: the watermark starts at
// the minimum of the previous writers' watermarks.
func (w *tableWriter) RestoreState(ctx context.Context, states [][]byte) error {
	first := true
	for _, b := range states {
		var st writerState
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("hive: table %s: bad writer state: %w", w.p.t.FullName(), err)
		}
		if first || st.Watermark < w.wm {
			w.wm = st.Watermark
			first = false
		}
	}
	return nil
}

// Abort implements dag.SinkWriter: it removes open and unprepared files.
func (w *tableWriter) Abort(ctx context.Context) error {
	var errs []error
	for n, of := range w.open {
		if of.pq != nil {
			_ = of.pq.Close()
			of.rb.Release()
		}
		_ = of.f.Close()
		if err := w.p.fs.Remove(ctx, of.inprogress); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		delete(w.open, n)
	}
	for _, c := range w.done {
		if err := w.p.fs.Remove(ctx, c.Pending); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	w.done = nil
	return errors.Join(errs...)
}

// Close implements dag.SinkWriter; unprepared output is discarded.
func (w *tableWriter) Close() error {
	if len(w.open) > 0 || len(w.done) > 0 {
		return w.Abort(context.Background())
	}
	return nil
}

// tableCommitter commits TableSink committables (see TableSink).
type tableCommitter struct {
	s *TableSink
}

func decodeMsgs(raw [][]byte) ([]commitMsg, error) {
	out := make([]commitMsg, 0, len(raw))
	for _, r := range raw {
		var m commitMsg
		if err := json.Unmarshal(r, &m); err != nil {
			return nil, fmt.Errorf("hive: bad committable %q: %w", r, err)
		}
		if m.Kind != "file" && m.Kind != "mark" || m.Kind == "file" && (m.Pending == "" || m.Final == "") {
			return nil, fmt.Errorf("hive: bad committable %q", r)
		}
		out = append(out, m)
	}
	return out, nil
}

// Commit implements dag.Committer.
func (c *tableCommitter) Commit(ctx context.Context, committables [][]byte) error {
	msgs, err := decodeMsgs(committables)
	if err != nil {
		return err
	}
	p, err := c.s.plan(ctx)
	if err != nil {
		return err
	}
	o := c.s.opts
	name := p.t.FullName()
	// 1. files into place
	finals := map[string]map[string]bool{} // dir -> final paths
	parts := map[string][]string{}         // partitions of this commit
	for _, m := range msgs {
		switch m.Kind {
		case "file":
			if err := commitFile(ctx, p.fs, m); err != nil {
				return fmt.Errorf("hive: table %s: %w", name, err)
			}
			if finals[m.Dir] == nil {
				finals[m.Dir] = map[string]bool{}
			}
			finals[m.Dir][m.Final] = true
			if len(p.t.PartitionKeys) > 0 {
				parts[PartitionName(p.t.PartitionKeys, m.Part)] = m.Part
			}
		case "mark":
			for _, v := range m.Parts {
				parts[PartitionName(p.t.PartitionKeys, v)] = v
			}
		}
	}
	// 2. overwrite: drop the other files of the directories written
	if o.overwrite {
		if len(p.t.PartitionKeys) == 0 {
			if finals[p.loc] == nil {
				finals[p.loc] = map[string]bool{}
			}
		} else if len(p.static) == len(p.t.PartitionKeys) {
			n := PartitionName(p.t.PartitionKeys, p.static)
			parts[n] = p.static
			if d := filesystem.Join(p.loc, n); finals[d] == nil {
				finals[d] = map[string]bool{}
			}
		}
		for dir, keep := range finals {
			if err := removeOthers(ctx, p.fs, dir, keep); err != nil {
				return fmt.Errorf("hive: table %s: overwriting %s: %w", name, dir, err)
			}
		}
	}
	if len(p.t.PartitionKeys) == 0 {
		return nil
	}
	// 3. partitions due
	due := parts
	if o.wmCommit {
		if due, err = c.duePartitions(ctx, p, msgs, parts); err != nil {
			return err
		}
	}
	return c.commitPartitions(ctx, p, due)
}

func commitFile(ctx context.Context, fsys filesystem.FileSystem, m commitMsg) error {
	if err := fsys.MkdirAll(ctx, m.Dir); err != nil {
		return fmt.Errorf("creating %s: %w", m.Dir, err)
	}
	err := fsys.Rename(ctx, m.Pending, m.Final)
	if err == nil {
		return nil
	}
	if _, perr := fsys.Stat(ctx, m.Pending); !errors.Is(perr, fs.ErrNotExist) {
		return fmt.Errorf("committing %s: %w", m.Final, err)
	}
	if _, ferr := fsys.Stat(ctx, m.Final); ferr == nil {
		return nil // committed before
	}
	return fmt.Errorf("committing %s: neither the pending file %s nor the final file exists: %w", m.Final, m.Pending, fs.ErrNotExist)
}

func removeOthers(ctx context.Context, fsys filesystem.FileSystem, dir string, keep map[string]bool) error {
	entries, err := fsys.List(ctx, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir || hiddenName(filesystem.BaseName(e.Path)) || keep[e.Path] || keep[filesystem.Join(dir, filesystem.BaseName(e.Path))] {
			continue
		}
		if err := fsys.Remove(ctx, e.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

type commitState struct {
	Pending [][]string `json:"pending"`
}

// duePartitions merges parts into the waiting list kept in StagingDir
// and returns those whose time + delay the minimum watermark passed.
func (c *tableCommitter) duePartitions(ctx context.Context, p *sinkPlan, msgs []commitMsg, parts map[string][]string) (map[string][]string, error) {
	name := p.t.FullName()
	statePath := filesystem.Join(p.staging, commitStateFile)
	var st commitState
	if f, err := p.fs.Open(ctx, statePath); err == nil {
		b, rerr := io.ReadAll(f)
		f.Close()
		if rerr != nil {
			return nil, fmt.Errorf("hive: table %s: reading %s: %w", name, statePath, rerr)
		}
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("hive: table %s: corrupt %s: %w", name, statePath, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("hive: table %s: reading %s: %w", name, statePath, err)
	}
	all := map[string][]string{}
	for _, v := range st.Pending {
		all[PartitionName(p.t.PartitionKeys, v)] = v
	}
	for n, v := range parts {
		all[n] = v
	}
	wm, marks := dag.MaxTime, 0
	for _, m := range msgs {
		if m.Kind == "mark" {
			wm = min(wm, m.Watermark)
			marks++
		}
	}
	if marks == 0 {
		wm = dag.MinTime
	}
	due := map[string][]string{}
	var wait commitState
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		v := all[n]
		pt, err := partitionTime(c.s.opts.timeFmt, p.t.PartitionKeys, v)
		if err != nil {
			return nil, fmt.Errorf("hive: table %s partition %s: %w", name, n, err)
		}
		if wm != dag.MinTime && pt.Add(c.s.opts.delay).UnixMilli() <= wm {
			due[n] = v
		} else {
			wait.Pending = append(wait.Pending, v)
		}
	}
	b, _ := json.Marshal(wait)
	tmp := filesystem.Join(p.staging, "."+commitStateFile+"."+uniq())
	f, err := p.fs.Create(ctx, tmp)
	if err == nil {
		_, err = f.Write(b)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = p.fs.Rename(ctx, tmp, statePath)
	}
	if err != nil {
		_ = p.fs.Remove(ctx, tmp)
		return nil, fmt.Errorf("hive: table %s: saving %s: %w", name, statePath, err)
	}
	return due, nil
}

// partitionTime evaluates a pattern such as "$dt $hr:00:00".
func partitionTime(pattern string, keys []Column, vals []string) (time.Time, error) {
	if pattern == "" {
		return time.Time{}, errors.New("no partition time pattern")
	}
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return len(keys[b].Name) - len(keys[a].Name) }) // longest first
	s := pattern
	for _, i := range idx {
		s = strings.ReplaceAll(s, "$"+strings.ToLower(keys[i].Name), vals[i])
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02", "2006-01-02 15"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("partition time %q (pattern %q) does not parse as yyyy-MM-dd[ HH:mm[:ss]]", s, pattern)
}

// commitPartitions adds missing partitions to the catalog and/or writes
// their _SUCCESS files.
func (c *tableCommitter) commitPartitions(ctx context.Context, p *sinkPlan, due map[string][]string) error {
	if len(due) == 0 {
		return nil
	}
	o := c.s.opts
	name := p.t.FullName()
	names := make([]string, 0, len(due))
	for n := range due {
		names = append(names, n)
	}
	slices.Sort(names)
	if o.metaOn {
		existing, err := c.s.cat.PartitionNames(ctx, p.t.DB, p.t.Name)
		if err != nil {
			return err
		}
		var add []*Partition
		for _, n := range names {
			if _, found := slices.BinarySearch(existing, n); !found {
				add = append(add, &Partition{Values: due[n], Storage: Storage{Location: filesystem.Join(p.t.Storage.Location, n)}})
			}
		}
		if len(add) > 0 {
			if err := c.s.cat.AddPartitions(ctx, p.t.DB, p.t.Name, add); err != nil {
				if !errors.Is(err, ErrAlreadyExists) {
					return err
				}
				// a concurrent committer added some: add one by one
				for _, a := range add {
					if err := c.s.cat.AddPartitions(ctx, p.t.DB, p.t.Name, []*Partition{a}); err != nil && !errors.Is(err, ErrAlreadyExists) {
						return err
					}
				}
			}
		}
	}
	if o.successOn {
		for _, n := range names {
			dir := filesystem.Join(p.loc, n)
			if err := p.fs.MkdirAll(ctx, dir); err != nil {
				return fmt.Errorf("hive: table %s: %w", name, err)
			}
			f, err := p.fs.Create(ctx, filesystem.Join(dir, "_SUCCESS"))
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			if err == nil {
				err = f.Close()
			}
			if err != nil {
				return fmt.Errorf("hive: table %s: writing %s/_SUCCESS: %w", name, dir, err)
			}
		}
	}
	return nil
}

// Abort implements dag.Committer: it removes pending files.
func (c *tableCommitter) Abort(ctx context.Context, committables [][]byte) error {
	msgs, err := decodeMsgs(committables)
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range msgs {
		if m.Kind != "file" {
			continue
		}
		fsys, p, err := c.s.opts.reg.Resolve(m.Pending)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := fsys.Remove(ctx, p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("hive: aborting %s: %w", m.Pending, err))
		}
	}
	return errors.Join(errs...)
}
