package hive

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/io/filesystem"
)

// TableSource reads a Hive table as a bounded dag.Source of Rows. Create
// it with Source.
//
// Splits (run once per job) reads the table and, for a partitioned
// table, the partition names from the catalog, evaluates the Where
// predicate on the names and fetches only the selected partitions, then
// lists only their directories: files of pruned partitions are never
// listed or opened. Parquet files are split by row group, text files by
// byte range. Each split carries what its reader needs (types, format,
// partition values), so readers never call the catalog. Readers implement
// dag.PositionedReader: a Parquet position is (row group, rows read), a
// text position the byte offset of the next line.
type TableSource struct {
	cat  Catalog
	name string
	opts options
}

var _ dag.Source[Row] = (*TableSource)(nil)

// Source returns a bounded source reading table ("db.table") of cat.
// Options: Where, Columns, WithSchema, SplitSize, WithRegistry.
func Source(cat Catalog, table string, opts ...Option) *TableSource {
	return &TableSource{cat: cat, name: table, opts: newOptions(opts)}
}

// Bounded implements dag.Source.
func (s *TableSource) Bounded() bool { return true }

// Schema returns the schema of the rows the source produces (after
// Columns).
func (s *TableSource) Schema(ctx context.Context) (Schema, error) {
	_, _, proj, err := s.resolve(ctx)
	if err != nil {
		return nil, err
	}
	return proj, nil
}

// resolve reads the table and computes the projected schema.
func (s *TableSource) resolve(ctx context.Context) (*Table, Schema, Schema, error) {
	if s.opts.err != nil {
		return nil, nil, nil, s.opts.err
	}
	if s.cat == nil {
		return nil, nil, nil, fmt.Errorf("hive: source %s: nil catalog", s.name)
	}
	db, tbl, err := ParseTableName(s.name)
	if err != nil {
		return nil, nil, nil, err
	}
	t, err := s.cat.Table(ctx, db, tbl)
	if err != nil {
		return nil, nil, nil, err
	}
	full, err := TableSchema(t)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := checkExpected(t, full, s.opts.expect); err != nil {
		return nil, nil, nil, err
	}
	proj := full
	if len(s.opts.columns) > 0 {
		proj = make(Schema, 0, len(s.opts.columns))
		for _, c := range s.opts.columns {
			i := full.Index(c)
			if i < 0 {
				return nil, nil, nil, fmt.Errorf("hive: table %s has no column %q (columns: %s)", t.FullName(), c, strings.Join(full.Names(), ", "))
			}
			proj = append(proj, full[i])
		}
	}
	return t, full, proj, nil
}

// checkExpected compares the table's schema with the job's.
func checkExpected(t *Table, full Schema, expect []Column) error {
	if expect == nil {
		return nil
	}
	for i, e := range expect {
		if i >= len(full) {
			return fmt.Errorf("hive: table %s: schema mismatch: the job expects column %q (#%d) but the table has only %d columns",
				t.FullName(), e.Name, i+1, len(full))
		}
		et, err := ParseType(e.Type)
		if err != nil {
			return fmt.Errorf("hive: job schema for table %s column %q: %w", t.FullName(), e.Name, err)
		}
		if !strings.EqualFold(e.Name, full[i].Name) || et.String() != full[i].Type.String() {
			return fmt.Errorf("hive: table %s: schema mismatch at column #%d: the job expects %s %s, the table has %s %s",
				t.FullName(), i+1, e.Name, et, full[i].Name, full[i].Type)
		}
	}
	if len(full) > len(expect) {
		return fmt.Errorf("hive: table %s: schema mismatch: the table has column %q (#%d) the job does not expect",
			t.FullName(), full[len(expect)].Name, len(expect)+1)
	}
	return nil
}

// readSpec is what a reader needs, carried in every split.
type readSpec struct {
	Table   string            `json:"table"`
	Format  Format            `json:"format"`
	Names   []string          `json:"names"` // of the projected columns
	Types   []string          `json:"types"`
	Src     []int             `json:"src"` // data column index, or -(1+partition key index)
	SerDe   map[string]string `json:"serde,omitempty"`
	NumData int               `json:"numData"`
}

// splitData is the encoding of dag.Split.Data.
type splitData struct {
	Spec     *readSpec `json:"spec"`
	Path     string    `json:"path"`
	Part     []string  `json:"part,omitempty"` // partition values
	RowGroup int       `json:"rg"`
	Skip     int64     `json:"skip,omitempty"` // rows of the row group already read
	Start    int64     `json:"start,omitempty"`
	End      int64     `json:"end,omitempty"`
	Aligned  bool      `json:"aligned,omitempty"` // Start is at a line start
}

// Splits implements dag.Source.
func (s *TableSource) Splits(ctx context.Context, sc dag.SplitContext) ([]dag.Split, error) {
	t, full, proj, err := s.resolve(ctx)
	if err != nil {
		return nil, err
	}
	format, err := t.Storage.Format()
	if err != nil {
		return nil, fmt.Errorf("hive: table %s: %w", t.FullName(), err)
	}
	spec := &readSpec{Table: t.FullName(), Format: format, SerDe: t.Storage.SerDeParams, NumData: len(t.Columns)}
	for _, c := range proj {
		spec.Names = append(spec.Names, c.Name)
		spec.Types = append(spec.Types, c.Type.String())
		i := full.Index(c.Name)
		if c.Partition {
			i = -(1 + i - len(t.Columns))
		}
		spec.Src = append(spec.Src, i)
	}
	if format == FormatText {
		if _, err := newTextFormat(t.Storage.SerDeParams); err != nil {
			return nil, fmt.Errorf("hive: table %s: %w", t.FullName(), err)
		}
	}
	type dir struct {
		loc  string
		vals []string
	}
	var dirs []dir
	if len(t.PartitionKeys) == 0 {
		if s.opts.where != nil {
			return nil, fmt.Errorf("hive: table %s is not partitioned: Where(%s) cannot prune it", t.FullName(), s.opts.where)
		}
		dirs = append(dirs, dir{loc: t.Storage.Location})
	} else {
		parts, err := SelectPartitions(ctx, s.cat, t, s.opts.where)
		if err != nil {
			return nil, err
		}
		for _, p := range parts {
			dirs = append(dirs, dir{loc: p.Storage.Location, vals: p.Values})
		}
	}
	type fileRef struct {
		info filesystem.FileInfo
		vals []string
	}
	var files []fileRef
	var total int64
	for _, d := range dirs {
		fsys, p, err := s.opts.reg.Resolve(d.loc)
		if err != nil {
			return nil, fmt.Errorf("hive: table %s: %w", t.FullName(), err)
		}
		entries, err := fsys.List(ctx, p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // a partition or table without files
		}
		if err != nil {
			return nil, fmt.Errorf("hive: table %s: listing %s: %w", t.FullName(), d.loc, err)
		}
		for _, e := range entries {
			if e.IsDir || e.Size == 0 || hiddenName(filesystem.BaseName(e.Path)) {
				continue
			}
			if _, remote := filesystem.SchemeOf(p); !remote {
				if _, remoteLoc := filesystem.SchemeOf(d.loc); remoteLoc {
					// keep the location's scheme (file://) for the readers
					e.Path = filesystem.Join(d.loc, filesystem.BaseName(e.Path))
				}
			}
			files = append(files, fileRef{info: e, vals: d.vals})
			total += e.Size
		}
	}
	size := s.opts.splitSize
	if size <= 0 {
		size = 32 << 20
		if p := int64(max(sc.Parallelism, 1)); total/p < size {
			size = max((total+p-1)/p, 1<<20)
		}
	}
	var out []dag.Split
	add := func(d splitData, id string, weight int64) error {
		d.Spec = spec
		data, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("hive: encoding split of %s: %w", d.Path, err)
		}
		out = append(out, dag.Split{ID: id, Data: data, Weight: weight})
		return nil
	}
	for _, f := range files {
		switch format {
		case FormatParquet:
			n, err := s.rowGroups(ctx, f.info.Path)
			if err != nil {
				return nil, fmt.Errorf("hive: table %s: %w", t.FullName(), err)
			}
			for rg, rows := range n {
				if rows == 0 {
					continue
				}
				if err := add(splitData{Path: f.info.Path, Part: f.vals, RowGroup: rg}, fmt.Sprintf("%s#rg%d", f.info.Path, rg), rows); err != nil {
					return nil, err
				}
			}
		case FormatText:
			for start := int64(0); start < f.info.Size; start += size {
				end := min(start+size, f.info.Size)
				if err := add(splitData{Path: f.info.Path, Part: f.vals, Start: start, End: end},
					fmt.Sprintf("%s@%d-%d", f.info.Path, start, end), end-start); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

// hiddenName reports files Hive ignores: names starting with '.' or '_'.
func hiddenName(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")
}

// SelectPartitions returns the partitions of t that p selects (all if p is
// nil), fetching from the catalog only the selected ones.
func SelectPartitions(ctx context.Context, cat Catalog, t *Table, p Predicate) ([]*Partition, error) {
	types := map[string]*Type{}
	for _, k := range t.PartitionKeys {
		typ, err := ParseType(k.Type)
		if err != nil {
			return nil, fmt.Errorf("hive: table %s partition column %q: %w", t.FullName(), k.Name, err)
		}
		types[strings.ToLower(k.Name)] = typ
	}
	if p != nil {
		for _, c := range p.columns(nil) {
			if types[c] == nil {
				return nil, fmt.Errorf("hive: table %s: Where(%s) uses %q, which is not a partition column (partition columns: %s)",
					t.FullName(), p, c, strings.Join(keyNames(t), ", "))
			}
		}
	}
	names, err := cat.PartitionNames(ctx, t.DB, t.Name)
	if err != nil {
		return nil, err
	}
	var sel []string
	for _, n := range names {
		vals, err := ParsePartitionName(t.PartitionKeys, n)
		if err != nil {
			return nil, fmt.Errorf("hive: table %s: %w", t.FullName(), err)
		}
		if p != nil {
			m := make(map[string]string, len(vals))
			for i, k := range t.PartitionKeys {
				m[strings.ToLower(k.Name)] = vals[i]
			}
			ok, err := p.eval(m, types)
			if err != nil {
				return nil, fmt.Errorf("hive: table %s: %w", t.FullName(), err)
			}
			if !ok {
				continue
			}
		}
		sel = append(sel, n)
	}
	if len(sel) == 0 {
		return nil, nil
	}
	return cat.Partitions(ctx, t.DB, t.Name, sel)
}

func keyNames(t *Table) []string {
	out := make([]string, len(t.PartitionKeys))
	for i, k := range t.PartitionKeys {
		out[i] = k.Name
	}
	return out
}

// rowGroups returns the row counts of the row groups of a Parquet file.
func (s *TableSource) rowGroups(ctx context.Context, path string) ([]int64, error) {
	fsys, p, err := s.opts.reg.Resolve(path)
	if err != nil {
		return nil, err
	}
	f, err := fsys.Open(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	r, err := file.NewParquetReader(f)
	if err != nil {
		return nil, fmt.Errorf("reading Parquet footer of %s: %w", path, err)
	}
	defer r.Close()
	out := make([]int64, r.NumRowGroups())
	for i := range out {
		out[i] = r.MetaData().RowGroup(i).NumRows()
	}
	return out, nil
}

// OpenSplit implements dag.Source.
func (s *TableSource) OpenSplit(ctx context.Context, rc dag.ReaderContext, split dag.Split) (dag.SplitReader[Row], error) {
	var d splitData
	if err := json.Unmarshal(split.Data, &d); err != nil || d.Spec == nil {
		return nil, fmt.Errorf("hive: bad split %q: %v", split.ID, err)
	}
	sp := d.Spec
	types := make([]*Type, len(sp.Types))
	for i, ts := range sp.Types {
		t, err := ParseType(ts)
		if err != nil {
			return nil, fmt.Errorf("hive: split %q: %w", split.ID, err)
		}
		types[i] = t
	}
	if len(sp.Src) != len(types) {
		return nil, fmt.Errorf("hive: bad split %q: %d types for %d columns", split.ID, len(types), len(sp.Src))
	}
	// partition values, typed
	part := make([]any, len(types))
	for i, src := range sp.Src {
		if src < 0 {
			k := -src - 1
			if k >= len(d.Part) {
				return nil, fmt.Errorf("hive: bad split %q: partition key %d missing", split.ID, k)
			}
			if d.Part[k] != DefaultPartitionName {
				v, err := parsePrimitive(d.Part[k], types[i])
				if err == nil {
					part[i] = v
				}
			}
		} else if src >= sp.NumData {
			return nil, fmt.Errorf("hive: bad split %q: column %d out of range", split.ID, src)
		}
	}
	fsys, p, err := s.opts.reg.Resolve(d.Path)
	if err != nil {
		return nil, fmt.Errorf("hive: table %s: %w", sp.Table, err)
	}
	f, err := fsys.Open(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("hive: table %s: opening %s: %w", sp.Table, d.Path, err)
	}
	base := baseReader{split: split, d: d, types: types, part: part}
	switch sp.Format {
	case FormatParquet:
		r, err := openParquetReader(ctx, f, base)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("hive: table %s: %w", sp.Table, err)
		}
		return r, nil
	case FormatText:
		r, err := openTextReader(f, base)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("hive: table %s: %w", sp.Table, err)
		}
		return r, nil
	}
	f.Close()
	return nil, fmt.Errorf("hive: bad split %q: format %q", split.ID, sp.Format)
}

type baseReader struct {
	split dag.Split
	d     splitData
	types []*Type
	part  []any
}

// parquetReader reads one row group.
type parquetReader struct {
	baseReader
	f      filesystem.File
	pr     *file.Reader
	rr     pqarrow.RecordReader
	rec    arrow.Record
	gets   []getter
	pos    int   // next row in rec
	read   int64 // rows of the row group returned (including Skip)
	toSkip int64
}

func openParquetReader(ctx context.Context, f filesystem.File, b baseReader) (*parquetReader, error) {
	pr, err := file.NewParquetReader(f)
	if err != nil {
		return nil, fmt.Errorf("reading Parquet footer of %s: %w", b.d.Path, err)
	}
	if b.d.RowGroup >= pr.NumRowGroups() {
		pr.Close()
		return nil, fmt.Errorf("%s has %d row groups, split wants #%d", b.d.Path, pr.NumRowGroups(), b.d.RowGroup)
	}
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: dag.DefaultBatchSize}, memory.DefaultAllocator)
	if err != nil {
		pr.Close()
		return nil, fmt.Errorf("reading Parquet schema of %s: %w", b.d.Path, err)
	}
	var leaves []int
	wanted := map[string]bool{}
	for i, src := range b.d.Spec.Src {
		if src >= 0 {
			wanted[strings.ToLower(b.colName(i))] = true
		}
	}
	for i := range fr.Manifest.Fields {
		f := &fr.Manifest.Fields[i]
		if wanted[strings.ToLower(f.Field.Name)] {
			leaves = leafIndices(leaves, f)
		}
	}
	r := &parquetReader{baseReader: b, f: f, pr: pr, read: b.d.Skip, toSkip: b.d.Skip}
	if len(leaves) > 0 {
		rr, err := fr.GetRecordReader(ctx, leaves, []int{b.d.RowGroup})
		if err != nil {
			pr.Close()
			return nil, fmt.Errorf("reading %s row group %d: %w", b.d.Path, b.d.RowGroup, err)
		}
		r.rr = rr
	}
	return r, nil
}

// colName returns the name of projected column i.
func (b *baseReader) colName(i int) string { return b.d.Spec.Names[i] }

// ReadBatch implements dag.SplitReader.
func (r *parquetReader) ReadBatch(ctx context.Context, b *dag.Batch[Row], max int) (int, error) {
	n := 0
	for n < max {
		if r.rec == nil || r.pos >= int(r.rec.NumRows()) {
			if r.rec != nil {
				r.rec.Release()
				r.rec = nil
			}
			if r.rr == nil {
				// only partition columns projected: synthesise rows
				total := r.pr.MetaData().RowGroup(r.d.RowGroup).NumRows()
				for n < max && r.read < total {
					b.Append(r.row(nil, 0), dag.MinTime)
					r.read++
					n++
				}
				if r.read >= total {
					return n, io.EOF
				}
				return n, nil
			}
			if !r.rr.Next() {
				if err := r.rr.Err(); err != nil && !errors.Is(err, io.EOF) {
					return n, fmt.Errorf("hive: table %s: reading %s row group %d: %w", r.d.Spec.Table, r.d.Path, r.d.RowGroup, err)
				}
				return n, io.EOF
			}
			r.rec = r.rr.Record()
			r.rec.Retain()
			r.pos = 0
			if err := r.bind(); err != nil {
				return n, err
			}
			if r.toSkip > 0 {
				k := min(r.toSkip, r.rec.NumRows())
				r.pos = int(k)
				r.toSkip -= k
				continue
			}
		}
		end := min(int(r.rec.NumRows()), r.pos+(max-n))
		for ; r.pos < end; r.pos++ {
			b.Append(r.row(r.gets, r.pos), dag.MinTime)
			n++
			r.read++
		}
	}
	return n, nil
}

// bind builds the getters of the current record's columns.
func (r *parquetReader) bind() error {
	sch := r.rec.Schema()
	r.gets = make([]getter, len(r.types))
	for i, src := range r.d.Spec.Src {
		if src < 0 {
			continue
		}
		name := r.colName(i)
		idx := -1
		for j, f := range sch.Fields() {
			if strings.EqualFold(f.Name, name) {
				idx = j
				break
			}
		}
		if idx < 0 {
			r.gets[i] = func(int) any { return nil } // column missing in this file: NULL, as in Hive
			continue
		}
		g, err := makeGetter(r.rec.Column(idx), r.types[i])
		if err != nil {
			return fmt.Errorf("hive: table %s column %q in %s: %w", r.d.Spec.Table, name, r.d.Path, err)
		}
		r.gets[i] = g
	}
	return nil
}

func (b *baseReader) row(gets []getter, i int) Row {
	row := make(Row, len(b.types))
	for k, src := range b.d.Spec.Src {
		if src < 0 {
			row[k] = b.part[k]
		} else {
			row[k] = gets[k](i)
		}
	}
	return row
}

// Position implements dag.PositionedReader.
func (r *parquetReader) Position() (dag.Split, error) {
	d := r.d
	d.Skip = r.read
	data, err := json.Marshal(d)
	if err != nil {
		return dag.Split{}, err
	}
	sp := r.split
	sp.Data = data
	return sp, nil
}

// Close implements dag.SplitReader.
func (r *parquetReader) Close() error {
	if r.rec != nil {
		r.rec.Release()
		r.rec = nil
	}
	if r.rr != nil {
		r.rr.Release()
		r.rr = nil
	}
	return r.pr.Close()
}

// textReader reads the lines starting in [Start, End) of a text file.
type textReader struct {
	baseReader
	f      filesystem.File
	br     *bufio.Reader
	tf     textFormat
	pos    int64 // offset of the next line
	fields [][]byte
}

func openTextReader(f filesystem.File, b baseReader) (*textReader, error) {
	tf, err := newTextFormat(b.d.Spec.SerDe)
	if err != nil {
		return nil, err
	}
	r := &textReader{baseReader: b, f: f, tf: tf, pos: b.d.Start}
	start := b.d.Start
	if start > 0 && !b.d.Aligned {
		start-- // the line at Start is ours only if a line ended just before it
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return nil, fmt.Errorf("seeking %s to %d: %w", b.d.Path, start, err)
	}
	r.br = bufio.NewReaderSize(f, 256<<10)
	if start != b.d.Start {
		consumed := int64(0)
		for {
			chunk, err := r.br.ReadSlice('\n')
			consumed += int64(len(chunk))
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("reading %s: %w", b.d.Path, err)
			}
			break
		}
		r.pos = start + consumed
	}
	return r, nil
}

// ReadBatch implements dag.SplitReader.
func (r *textReader) ReadBatch(ctx context.Context, b *dag.Batch[Row], max int) (int, error) {
	n := 0
	for n < max {
		if r.pos >= r.d.End {
			return n, io.EOF
		}
		line, err := r.br.ReadSlice('\n')
		var long []byte
		for errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, line...)
			line, err = r.br.ReadSlice('\n')
		}
		if long != nil {
			line = append(long, line...)
		}
		if len(line) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return n, io.EOF
			}
			return n, fmt.Errorf("hive: table %s: reading %s at %d: %w", r.d.Spec.Table, r.d.Path, r.pos, err)
		}
		r.pos += int64(len(line))
		b.Append(r.parse(trimNL(line)), dag.MinTime)
		n++
		if err != nil && !errors.Is(err, io.EOF) {
			return n, err
		}
	}
	return n, nil
}

func trimNL(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		return b[:len(b)-1]
	}
	return b
}

func (r *textReader) parse(line []byte) Row {
	r.fields = splitFields(line, r.tf.seps[0], r.fields)
	row := make(Row, len(r.types))
	for k, src := range r.d.Spec.Src {
		switch {
		case src < 0:
			row[k] = r.part[k]
		case src < len(r.fields):
			row[k] = r.tf.parseValue(r.fields[src], r.types[k], 1)
		}
	}
	return row
}

// Position implements dag.PositionedReader.
func (r *textReader) Position() (dag.Split, error) {
	d := r.d
	d.Start, d.Aligned = r.pos, true
	data, err := json.Marshal(d)
	if err != nil {
		return dag.Split{}, err
	}
	sp := r.split
	sp.Data = data
	return sp, nil
}

// Close implements dag.SplitReader.
func (r *textReader) Close() error { return r.f.Close() }
