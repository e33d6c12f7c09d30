package hive

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/dagflow/dagflow/io/filesystem"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// EmbeddedCatalogFile is the SQLite file of the embedded catalog, kept in
// the warehouse directory unless Config.CatalogPath says otherwise.
const EmbeddedCatalogFile = ".dagflow-catalog.db"

// embedded is the embedded catalog: the catalog model as JSON documents in
// a SQLite database (pure Go, modernc.org/sqlite). Writers take the
// database lock at the start of their transaction (BEGIN IMMEDIATE) and
// wait up to 30 s for a busy database, so several jobs on one host may
// share a warehouse.
type embedded struct {
	db        *sql.DB
	warehouse string
	path      string
}

var _ Catalog = (*embedded)(nil)

func openEmbedded(ctx context.Context, warehouse, path string) (*embedded, error) {
	if path == "" {
		if _, remote := filesystem.SchemeOf(warehouse); remote && !strings.HasPrefix(strings.ToLower(warehouse), "file://") {
			return nil, fmt.Errorf("hive: embedded catalog: warehouse %s is not local; set Config.CatalogPath to a local file for the catalog database", warehouse)
		}
		dir := warehouse
		if strings.HasPrefix(strings.ToLower(dir), "file://") {
			u, err := url.Parse(dir)
			if err != nil {
				return nil, fmt.Errorf("hive: embedded catalog: bad warehouse %q: %w", warehouse, err)
			}
			dir = u.Path
		}
		path = filepath.Join(dir, EmbeddedCatalogFile)
	}
	if err := (filesystem.Local{}).MkdirAll(ctx, filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("hive: embedded catalog %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", path+"?_busy_timeout=30000&_journal_mode=WAL&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("hive: opening embedded catalog %s: %w", path, err)
	}
	e := &embedded{db: db, warehouse: warehouse, path: path}
	err = e.tx(ctx, func(tx *sql.Tx) error {
		for _, s := range []string{
			`CREATE TABLE IF NOT EXISTS dbs (name TEXT PRIMARY KEY, body TEXT NOT NULL)`,
			`CREATE TABLE IF NOT EXISTS tbls (db TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (db, name))`,
			`CREATE TABLE IF NOT EXISTS parts (db TEXT NOT NULL, tbl TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (db, tbl, name))`,
		} {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return err
			}
		}
		body, _ := json.Marshal(&Database{Name: "default", Description: "Default Hive database", Location: warehouse})
		_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO dbs (name, body) VALUES ('default', ?)`, string(body))
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("hive: initialising embedded catalog %s: %w", path, err)
	}
	return e, nil
}

func (e *embedded) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func (e *embedded) Warehouse() string { return e.warehouse }

func (e *embedded) Close() error { return e.db.Close() }

func (e *embedded) names(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := e.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("hive: embedded catalog %s: %w", e.path, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (e *embedded) Databases(ctx context.Context) ([]string, error) {
	return e.names(ctx, `SELECT name FROM dbs ORDER BY name`)
}

func (e *embedded) get(ctx context.Context, q queryer, dst any, query string, args ...any) (bool, error) {
	var body string
	err := q.QueryRowContext(ctx, query, args...).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("hive: embedded catalog %s: %w", e.path, err)
	}
	if err := json.Unmarshal([]byte(body), dst); err != nil {
		return false, fmt.Errorf("hive: embedded catalog %s: corrupt entry: %w", e.path, err)
	}
	return true, nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (e *embedded) Database(ctx context.Context, name string) (*Database, error) {
	name = strings.ToLower(name)
	var d Database
	ok, err := e.get(ctx, e.db, &d, `SELECT body FROM dbs WHERE name = ?`, name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("hive: database %q: %w", name, ErrNotFound)
	}
	return &d, nil
}

func (e *embedded) CreateDatabase(ctx context.Context, db *Database) error {
	d := *db
	d.Name = strings.ToLower(d.Name)
	if d.Name == "" {
		return errors.New("hive: CreateDatabase: empty name")
	}
	if d.Location == "" {
		d.Location = filesystem.Join(e.warehouse, d.Name+".db")
	}
	body, _ := json.Marshal(&d)
	return e.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO dbs (name, body) VALUES (?, ?)`, d.Name, string(body))
		if err != nil {
			return fmt.Errorf("hive: creating database %q: %w", d.Name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("hive: database %q: %w", d.Name, ErrAlreadyExists)
		}
		return nil
	})
}

func (e *embedded) Tables(ctx context.Context, db string) ([]string, error) {
	if _, err := e.Database(ctx, db); err != nil {
		return nil, err
	}
	return e.names(ctx, `SELECT name FROM tbls WHERE db = ? ORDER BY name`, strings.ToLower(db))
}

func (e *embedded) table(ctx context.Context, q queryer, db, name string) (*Table, error) {
	db, name = strings.ToLower(db), strings.ToLower(name)
	var t Table
	ok, err := e.get(ctx, q, &t, `SELECT body FROM tbls WHERE db = ? AND name = ?`, db, name)
	if err != nil {
		return nil, err
	}
	if !ok {
		if _, err := e.Database(ctx, db); err != nil {
			return nil, fmt.Errorf("hive: table %s.%s: %w", db, name, err)
		}
		return nil, fmt.Errorf("hive: table %s.%s: %w", db, name, ErrNotFound)
	}
	return &t, nil
}

func (e *embedded) Table(ctx context.Context, db, name string) (*Table, error) {
	return e.table(ctx, e.db, db, name)
}

func (e *embedded) CreateTable(ctx context.Context, t *Table) error {
	c := t.Clone()
	c.DB, c.Name = strings.ToLower(c.DB), strings.ToLower(c.Name)
	d, err := e.Database(ctx, c.DB)
	if err != nil {
		return fmt.Errorf("hive: creating table %s: %w", c.FullName(), err)
	}
	if err := validateTable(c); err != nil {
		return err
	}
	if c.Storage.Location == "" {
		c.Storage.Location = filesystem.Join(d.Location, c.Name)
	}
	if c.Type == "" {
		c.Type = "MANAGED_TABLE"
	}
	body, _ := json.Marshal(c)
	return e.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO tbls (db, name, body) VALUES (?, ?, ?)`, c.DB, c.Name, string(body))
		if err != nil {
			return fmt.Errorf("hive: creating table %s: %w", c.FullName(), err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("hive: table %s: %w", c.FullName(), ErrAlreadyExists)
		}
		return nil
	})
}

func (e *embedded) AlterTable(ctx context.Context, t *Table) error {
	c := t.Clone()
	c.DB, c.Name = strings.ToLower(c.DB), strings.ToLower(c.Name)
	if err := validateTable(c); err != nil {
		return err
	}
	body, _ := json.Marshal(c)
	return e.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tbls SET body = ? WHERE db = ? AND name = ?`, string(body), c.DB, c.Name)
		if err != nil {
			return fmt.Errorf("hive: altering table %s: %w", c.FullName(), err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("hive: table %s: %w", c.FullName(), ErrNotFound)
		}
		return nil
	})
}

func (e *embedded) DropTable(ctx context.Context, db, name string) error {
	db, name = strings.ToLower(db), strings.ToLower(name)
	return e.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM tbls WHERE db = ? AND name = ?`, db, name)
		if err != nil {
			return fmt.Errorf("hive: dropping table %s.%s: %w", db, name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("hive: table %s.%s: %w", db, name, ErrNotFound)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM parts WHERE db = ? AND tbl = ?`, db, name)
		return err
	})
}

func (e *embedded) PartitionNames(ctx context.Context, db, table string) ([]string, error) {
	if _, err := e.Table(ctx, db, table); err != nil {
		return nil, err
	}
	return e.names(ctx, `SELECT name FROM parts WHERE db = ? AND tbl = ? ORDER BY name`, strings.ToLower(db), strings.ToLower(table))
}

func (e *embedded) Partitions(ctx context.Context, db, table string, names []string) ([]*Partition, error) {
	db, table = strings.ToLower(db), strings.ToLower(table)
	if _, err := e.Table(ctx, db, table); err != nil {
		return nil, err
	}
	var out []*Partition
	for _, n := range names {
		var p Partition
		ok, err := e.get(ctx, e.db, &p, `SELECT body FROM parts WHERE db = ? AND tbl = ? AND name = ?`, db, table, n)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, &p)
		}
	}
	return out, nil
}

func (e *embedded) AddPartitions(ctx context.Context, db, table string, parts []*Partition) error {
	return e.putPartitions(ctx, db, table, parts, false)
}

func (e *embedded) AlterPartitions(ctx context.Context, db, table string, parts []*Partition) error {
	return e.putPartitions(ctx, db, table, parts, true)
}

func (e *embedded) putPartitions(ctx context.Context, db, table string, parts []*Partition, alter bool) error {
	return e.tx(ctx, func(tx *sql.Tx) error {
		t, err := e.table(ctx, tx, db, table)
		if err != nil {
			return err
		}
		for _, p := range parts {
			if len(p.Values) != len(t.PartitionKeys) {
				return fmt.Errorf("hive: table %s: partition %q has %d values, the table has %d partition keys",
					t.FullName(), p.Values, len(p.Values), len(t.PartitionKeys))
			}
			name := PartitionName(t.PartitionKeys, p.Values)
			c := *p
			if c.CreateTime == 0 {
				c.CreateTime = time.Now().Unix()
			}
			c.Storage = partitionStorage(t, p)
			body, _ := json.Marshal(&c)
			var res sql.Result
			if alter {
				res, err = tx.ExecContext(ctx, `UPDATE parts SET body = ? WHERE db = ? AND tbl = ? AND name = ?`, string(body), t.DB, t.Name, name)
			} else {
				res, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO parts (db, tbl, name, body) VALUES (?, ?, ?, ?)`, t.DB, t.Name, name, string(body))
			}
			if err != nil {
				return fmt.Errorf("hive: table %s partition %s: %w", t.FullName(), name, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				if alter {
					return fmt.Errorf("hive: table %s partition %s: %w", t.FullName(), name, ErrNotFound)
				}
				return fmt.Errorf("hive: table %s partition %s: %w", t.FullName(), name, ErrAlreadyExists)
			}
		}
		return nil
	})
}

func (e *embedded) DropPartition(ctx context.Context, db, table string, values []string) error {
	return e.tx(ctx, func(tx *sql.Tx) error {
		t, err := e.table(ctx, tx, db, table)
		if err != nil {
			return err
		}
		name := PartitionName(t.PartitionKeys, values)
		res, err := tx.ExecContext(ctx, `DELETE FROM parts WHERE db = ? AND tbl = ? AND name = ?`, t.DB, t.Name, name)
		if err != nil {
			return fmt.Errorf("hive: table %s dropping partition %s: %w", t.FullName(), name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("hive: table %s partition %s: %w", t.FullName(), name, ErrNotFound)
		}
		return nil
	})
}

// validateTable checks names and types so that bad definitions fail at
// creation, naming the column.
func validateTable(t *Table) error {
	if t.DB == "" || t.Name == "" {
		return fmt.Errorf("hive: table %q: empty database or table name", t.FullName())
	}
	if len(t.Columns) == 0 {
		return fmt.Errorf("hive: table %s: no columns", t.FullName())
	}
	seen := map[string]bool{}
	for _, c := range append(append([]Column(nil), t.Columns...), t.PartitionKeys...) {
		n := strings.ToLower(c.Name)
		if n == "" || seen[n] {
			return fmt.Errorf("hive: table %s: empty or duplicate column name %q", t.FullName(), c.Name)
		}
		seen[n] = true
		if _, err := ParseType(c.Type); err != nil {
			return fmt.Errorf("hive: table %s column %q: %w", t.FullName(), c.Name, err)
		}
	}
	return nil
}

// partitionStorage returns p's storage descriptor completed from the
// table's: the table's formats when p has none, the default location
// (table location/partition name) when p has none.
func partitionStorage(t *Table, p *Partition) Storage {
	s := p.Storage.clone()
	if s.InputFormat == "" && s.SerDe == "" {
		loc := s.Location
		s = t.Storage.clone()
		s.Location = loc
	}
	if s.Location == "" {
		s.Location = filesystem.Join(t.Storage.Location, PartitionName(t.PartitionKeys, p.Values))
	}
	return s
}
