package hive

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ErrNotFound is matched (errors.Is) by catalog errors about a missing
// database, table or partition.
var ErrNotFound = errors.New("not found")

// ErrAlreadyExists is matched (errors.Is) by catalog errors about creating
// something that exists.
var ErrAlreadyExists = errors.New("already exists")

// Storage formats: the class names Hive records in a storage descriptor.
const (
	ParquetInputFormat  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
	ParquetOutputFormat = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
	ParquetSerDe        = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
	TextInputFormat     = "org.apache.hadoop.mapred.TextInputFormat"
	TextOutputFormat    = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
	LazySimpleSerDe     = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
)

// DefaultPartitionName is the partition value Hive uses for a NULL
// dynamic partition value.
const DefaultPartitionName = "__HIVE_DEFAULT_PARTITION__"

// Format is a table's file format as far as this package is concerned.
type Format string

// Supported formats.
const (
	FormatParquet Format = "parquet"
	FormatText    Format = "text"
)

// Database is a Hive database (schema).
type Database struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Location    string            `json:"location,omitempty"`
	Params      map[string]string `json:"params,omitempty"`
}

// Column is a column of a table: its name and Hive type string (e.g.
// "decimal(10,2)", "array<string>").
type Column struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Comment string `json:"comment,omitempty"`
}

// Storage is a storage descriptor: where a table's or partition's files
// are and how they are encoded.
type Storage struct {
	Location     string            `json:"location"`
	InputFormat  string            `json:"inputFormat,omitempty"`
	OutputFormat string            `json:"outputFormat,omitempty"`
	SerDe        string            `json:"serde,omitempty"`
	SerDeParams  map[string]string `json:"serdeParams,omitempty"`
	Params       map[string]string `json:"params,omitempty"`
}

// Format returns the storage's format, recognised from its SerDe or input
// format, or an error naming the classes.
func (s Storage) Format() (Format, error) {
	switch {
	case s.SerDe == ParquetSerDe, s.InputFormat == ParquetInputFormat,
		strings.Contains(strings.ToLower(s.InputFormat), "parquet"):
		return FormatParquet, nil
	case s.SerDe == LazySimpleSerDe, s.InputFormat == TextInputFormat:
		return FormatText, nil
	}
	return "", fmt.Errorf("unsupported storage format (input format %q, serde %q): only Parquet and text (LazySimpleSerDe) tables are supported", s.InputFormat, s.SerDe)
}

// Table is a Hive table.
type Table struct {
	DB            string            `json:"db"`
	Name          string            `json:"name"`
	Columns       []Column          `json:"columns"`
	PartitionKeys []Column          `json:"partitionKeys,omitempty"`
	Storage       Storage           `json:"storage"`
	Params        map[string]string `json:"params,omitempty"`
	// Type is MANAGED_TABLE (default) or EXTERNAL_TABLE.
	Type  string `json:"type,omitempty"`
	Owner string `json:"owner,omitempty"`
}

// FullName returns "db.table".
func (t *Table) FullName() string { return t.DB + "." + t.Name }

// Clone returns a deep copy of t.
func (t *Table) Clone() *Table {
	c := *t
	c.Columns = slices.Clone(t.Columns)
	c.PartitionKeys = slices.Clone(t.PartitionKeys)
	c.Params = maps.Clone(t.Params)
	c.Storage = t.Storage.clone()
	return &c
}

func (s Storage) clone() Storage {
	s.SerDeParams = maps.Clone(s.SerDeParams)
	s.Params = maps.Clone(s.Params)
	return s
}

// Partition is one partition of a table.
type Partition struct {
	// Values are the partition key values in key order.
	Values  []string          `json:"values"`
	Storage Storage           `json:"storage"`
	Params  map[string]string `json:"params,omitempty"`
	// CreateTime is the creation time in Unix seconds (informational).
	CreateTime int64 `json:"createTime,omitempty"`
}

// Catalog is a Hive catalog: databases, tables and partitions. Both
// implementations (the Metastore client and the embedded catalog) are
// safe for concurrent use.
type Catalog interface {
	// Warehouse returns the warehouse directory (URI or path) under which
	// managed tables get their default location.
	Warehouse() string
	// Databases lists the database names, sorted.
	Databases(ctx context.Context) ([]string, error)
	// Database returns a database or an error matching ErrNotFound.
	Database(ctx context.Context, name string) (*Database, error)
	// CreateDatabase creates a database; an empty Location defaults to
	// the warehouse layout. An existing one gives ErrAlreadyExists.
	CreateDatabase(ctx context.Context, db *Database) error
	// Tables lists the table names of a database, sorted.
	Tables(ctx context.Context, db string) ([]string, error)
	// Table returns a table or an error matching ErrNotFound that names
	// the database or the table.
	Table(ctx context.Context, db, name string) (*Table, error)
	// CreateTable creates a table; an empty Storage.Location defaults to
	// the database location joined with the table name.
	CreateTable(ctx context.Context, t *Table) error
	// AlterTable replaces the definition of an existing table.
	AlterTable(ctx context.Context, t *Table) error
	// DropTable removes a table and its partitions from the catalog (not
	// its files).
	DropTable(ctx context.Context, db, name string) error
	// PartitionNames lists the names ("k1=v1/k2=v2", escaped as Hive does)
	// of a table's partitions, sorted.
	PartitionNames(ctx context.Context, db, table string) ([]string, error)
	// Partitions returns the partitions with the given names; unknown
	// names are skipped.
	Partitions(ctx context.Context, db, table string, names []string) ([]*Partition, error)
	// AddPartitions adds partitions; if one exists the call fails with
	// ErrAlreadyExists and adds none.
	AddPartitions(ctx context.Context, db, table string, parts []*Partition) error
	// AlterPartitions replaces existing partitions (matched by values).
	AlterPartitions(ctx context.Context, db, table string, parts []*Partition) error
	// DropPartition removes a partition from the catalog (not its files).
	DropPartition(ctx context.Context, db, table string, values []string) error
	// Close releases connections.
	Close() error
}

// ParseTableName splits "db.table" (or "table", in database "default").
func ParseTableName(name string) (db, table string, err error) {
	db, table, ok := strings.Cut(name, ".")
	if !ok {
		db, table = "default", name
	}
	db, table = strings.ToLower(strings.TrimSpace(db)), strings.ToLower(strings.TrimSpace(table))
	if db == "" || table == "" || strings.Contains(table, ".") {
		return "", "", fmt.Errorf("hive: bad table name %q: want db.table", name)
	}
	return db, table, nil
}

// NewTable returns a table definition with the storage descriptor of
// format filled in (Parquet, or text with Hive's default delimiters).
// Columns and partition keys are given as "name type" strings, e.g.
// "price decimal(10,2)".
func NewTable(name string, format Format, columns, partitionKeys []string) (*Table, error) {
	db, tbl, err := ParseTableName(name)
	if err != nil {
		return nil, err
	}
	t := &Table{DB: db, Name: tbl, Type: "MANAGED_TABLE"}
	parse := func(specs []string, what string) ([]Column, error) {
		var out []Column
		for _, s := range specs {
			s = strings.TrimSpace(s)
			n, typ, ok := strings.Cut(s, " ")
			if !ok || strings.TrimSpace(typ) == "" {
				return nil, fmt.Errorf("hive: table %s: bad %s %q: want \"name type\"", t.FullName(), what, s)
			}
			c := Column{Name: strings.ToLower(n), Type: strings.TrimSpace(typ)}
			if _, err := ParseType(c.Type); err != nil {
				return nil, fmt.Errorf("hive: table %s column %q: %w", t.FullName(), c.Name, err)
			}
			out = append(out, c)
		}
		return out, nil
	}
	if t.Columns, err = parse(columns, "column"); err != nil {
		return nil, err
	}
	if t.PartitionKeys, err = parse(partitionKeys, "partition key"); err != nil {
		return nil, err
	}
	switch format {
	case FormatParquet:
		t.Storage = Storage{InputFormat: ParquetInputFormat, OutputFormat: ParquetOutputFormat, SerDe: ParquetSerDe,
			SerDeParams: map[string]string{"serialization.format": "1"}}
	case FormatText:
		t.Storage = Storage{InputFormat: TextInputFormat, OutputFormat: TextOutputFormat, SerDe: LazySimpleSerDe,
			SerDeParams: map[string]string{"serialization.format": "1"}}
	default:
		return nil, fmt.Errorf("hive: table %s: unknown format %q (want parquet or text)", t.FullName(), format)
	}
	return t, nil
}

// PartitionName returns Hive's name of a partition: "k1=v1/k2=v2" with
// keys and values escaped as Hive's FileUtils.escapePathName does.
func PartitionName(keys []Column, values []string) string {
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(escapePathName(k.Name))
		b.WriteByte('=')
		v := ""
		if i < len(values) {
			v = values[i]
		}
		b.WriteString(escapePathName(v))
	}
	return b.String()
}

// ParsePartitionName splits a partition name into its unescaped values,
// checking the keys against keys.
func ParsePartitionName(keys []Column, name string) ([]string, error) {
	parts := strings.Split(name, "/")
	if len(parts) != len(keys) {
		return nil, fmt.Errorf("hive: partition name %q: want %d keys", name, len(keys))
	}
	vals := make([]string, len(parts))
	for i, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(unescapePathName(k), keys[i].Name) {
			return nil, fmt.Errorf("hive: partition name %q: element %d is not %s=VALUE", name, i, keys[i].Name)
		}
		vals[i] = unescapePathName(v)
	}
	return vals, nil
}

// escapePathName escapes like Hive's FileUtils.escapePathName.
func escapePathName(s string) string {
	if s == "" {
		return DefaultPartitionName
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if needsEscape(c) {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func needsEscape(c byte) bool {
	if c < 0x20 || c == 0x7f {
		return true
	}
	switch c {
	case '"', '#', '%', '\'', '*', '/', ':', '=', '?', '\\', '{', '[', ']', '^':
		return true
	}
	return false
}

func unescapePathName(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s)+0 && i+2 <= len(s)-1 {
			if v, ok := unhex(s[i+1], s[i+2]); ok {
				b.WriteByte(v)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unhex(a, b byte) (byte, bool) {
	h := func(c byte) (byte, bool) {
		switch {
		case '0' <= c && c <= '9':
			return c - '0', true
		case 'a' <= c && c <= 'f':
			return c - 'a' + 10, true
		case 'A' <= c && c <= 'F':
			return c - 'A' + 10, true
		}
		return 0, false
	}
	x, ok1 := h(a)
	y, ok2 := h(b)
	return x<<4 | y, ok1 && ok2
}
