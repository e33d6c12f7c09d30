package hivetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	hms "github.com/beltran/gohive/hive_metastore"
)

// implemented lists the Thrift methods the handler serves; the others are
// never dispatched to it (processOne answers UNKNOWN_METHOD).
var implemented = map[string]bool{
	"get_all_databases": true, "get_databases": true, "get_database": true,
	"create_database": true, "drop_database": true, "get_all_tables": true,
	"get_tables": true, "get_table": true, "create_table": true,
	"alter_table": true, "drop_table": true, "get_partition_names": true,
	"get_partitions": true, "get_partition": true, "get_partitions_by_names": true,
	"add_partition": true, "add_partitions": true, "alter_partition": true,
	"alter_partitions": true, "drop_partition": true, "get_config_value": true,
}

// handler keeps the metastore in memory. It embeds the generated
// interface (nil) to satisfy it; only the methods in implemented are
// called.
type handler struct {
	hms.ThriftHiveMetastore

	mu        sync.Mutex
	warehouse string
	dbs       map[string]*hms.Database
	tables    map[string]*hms.Table                // "db.table"
	parts     map[string]map[string]*hms.Partition // "db.table" -> name
}

func newHandler(warehouse string) *handler {
	h := &handler{warehouse: warehouse, dbs: map[string]*hms.Database{}, tables: map[string]*hms.Table{},
		parts: map[string]map[string]*hms.Partition{}}
	h.dbs["default"] = &hms.Database{Name: "default", Description: "Default Hive database", LocationUri: warehouse,
		Parameters: map[string]string{}}
	return h
}

func noSuch(format string, args ...any) error {
	return &hms.NoSuchObjectException{Message: fmt.Sprintf(format, args...)}
}

func key(db, tbl string) string { return strings.ToLower(db) + "." + strings.ToLower(tbl) }

func (h *handler) GetAllDatabases(ctx context.Context) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for n := range h.dbs {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

func (h *handler) GetDatabases(ctx context.Context, pattern string) ([]string, error) {
	if pattern != "" && pattern != "*" {
		return nil, &hms.MetaException{Message: "the test metastore supports only the pattern *"}
	}
	return h.GetAllDatabases(ctx)
}

func (h *handler) GetDatabase(ctx context.Context, name string) (*hms.Database, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, ok := h.dbs[strings.ToLower(name)]
	if !ok {
		return nil, noSuch("Database %s not found", name)
	}
	return d, nil
}

func (h *handler) CreateDatabase(ctx context.Context, d *hms.Database) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := strings.ToLower(d.Name)
	if _, ok := h.dbs[n]; ok {
		return &hms.AlreadyExistsException{Message: "Database " + n + " already exists"}
	}
	if d.LocationUri == "" {
		d.LocationUri = strings.TrimRight(h.warehouse, "/") + "/" + n + ".db"
	}
	d.Name = n
	h.dbs[n] = d
	return nil
}

func (h *handler) DropDatabase(ctx context.Context, name string, deleteData, cascade bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := strings.ToLower(name)
	if _, ok := h.dbs[n]; !ok {
		return noSuch("Database %s not found", name)
	}
	for k := range h.tables {
		if strings.HasPrefix(k, n+".") {
			if !cascade {
				return &hms.InvalidOperationException{Message: "Database " + n + " is not empty"}
			}
			delete(h.tables, k)
			delete(h.parts, k)
		}
	}
	delete(h.dbs, n)
	return nil
}

func (h *handler) GetAllTables(ctx context.Context, db string) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := strings.ToLower(db)
	var out []string
	for _, t := range h.tables {
		if t.DbName == n {
			out = append(out, t.TableName)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (h *handler) GetTables(ctx context.Context, db, pattern string) ([]string, error) {
	if pattern != "" && pattern != "*" {
		return nil, &hms.MetaException{Message: "the test metastore supports only the pattern *"}
	}
	return h.GetAllTables(ctx, db)
}

func (h *handler) GetTable(ctx context.Context, db, tbl string) (*hms.Table, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.tables[key(db, tbl)]
	if !ok {
		return nil, noSuch("%s.%s table not found", db, tbl)
	}
	return t, nil
}

func (h *handler) CreateTable(ctx context.Context, t *hms.Table) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	t.DbName, t.TableName = strings.ToLower(t.DbName), strings.ToLower(t.TableName)
	d, ok := h.dbs[t.DbName]
	if !ok {
		return noSuch("Database %s not found", t.DbName)
	}
	k := key(t.DbName, t.TableName)
	if _, ok := h.tables[k]; ok {
		return &hms.AlreadyExistsException{Message: "Table " + k + " already exists"}
	}
	if t.Sd == nil {
		return &hms.MetaException{Message: "table " + k + " has no storage descriptor"}
	}
	if t.Sd.Location == "" {
		t.Sd.Location = strings.TrimRight(d.LocationUri, "/") + "/" + t.TableName
	}
	h.tables[k] = t
	h.parts[k] = map[string]*hms.Partition{}
	return nil
}

func (h *handler) AlterTable(ctx context.Context, db, tbl string, nt *hms.Table) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := key(db, tbl)
	if _, ok := h.tables[k]; !ok {
		return &hms.InvalidOperationException{Message: "table " + k + " doesn't exist"}
	}
	if key(nt.DbName, nt.TableName) != k {
		return &hms.InvalidOperationException{Message: "renaming tables is not supported by the test metastore"}
	}
	nt.DbName, nt.TableName = strings.ToLower(nt.DbName), strings.ToLower(nt.TableName)
	h.tables[k] = nt
	return nil
}

func (h *handler) DropTable(ctx context.Context, db, tbl string, deleteData bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := key(db, tbl)
	if _, ok := h.tables[k]; !ok {
		return noSuch("%s table not found", k)
	}
	delete(h.tables, k)
	delete(h.parts, k)
	return nil
}

// partName is Hive's partition name (FileUtils.makePartName).
func partName(keys []*hms.FieldSchema, vals []string) string {
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(escape(strings.ToLower(k.Name)))
		b.WriteByte('=')
		if i < len(vals) {
			b.WriteString(escape(vals[i]))
		}
	}
	return b.String()
}

func escape(s string) string {
	if s == "" {
		return "__HIVE_DEFAULT_PARTITION__"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || strings.IndexByte("\"#%'*/:=?\\{[]^", c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func (h *handler) table(db, tbl string) (*hms.Table, map[string]*hms.Partition, error) {
	k := key(db, tbl)
	t, ok := h.tables[k]
	if !ok {
		return nil, nil, noSuch("table %s not found", k)
	}
	return t, h.parts[k], nil
}

func (h *handler) GetPartitionNames(ctx context.Context, db, tbl string, max int16) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ps, err := h.table(db, tbl)
	if err != nil {
		return nil, err
	}
	var out []string
	for n := range ps {
		out = append(out, n)
	}
	slices.Sort(out)
	if max >= 0 && len(out) > int(max) {
		out = out[:max]
	}
	return out, nil
}

func (h *handler) GetPartitions(ctx context.Context, db, tbl string, max int16) ([]*hms.Partition, error) {
	names, err := h.GetPartitionNames(ctx, db, tbl, max)
	if err != nil {
		return nil, err
	}
	return h.GetPartitionsByNames(ctx, db, tbl, names)
}

func (h *handler) GetPartition(ctx context.Context, db, tbl string, vals []string) (*hms.Partition, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ps, err := h.table(db, tbl)
	if err != nil {
		return nil, err
	}
	p, ok := ps[partName(t.PartitionKeys, vals)]
	if !ok {
		return nil, noSuch("partition %v of %s.%s not found", vals, db, tbl)
	}
	return p, nil
}

func (h *handler) GetPartitionsByNames(ctx context.Context, db, tbl string, names []string) ([]*hms.Partition, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ps, err := h.table(db, tbl)
	if err != nil {
		return nil, err
	}
	out := []*hms.Partition{}
	for _, n := range names {
		if p, ok := ps[n]; ok {
			out = append(out, p)
		}
	}
	return out, nil
}

func (h *handler) checkPartition(t *hms.Table, p *hms.Partition) (string, error) {
	if len(p.Values) != len(t.PartitionKeys) {
		return "", &hms.MetaException{Message: fmt.Sprintf("partition %v of %s.%s: %d values for %d keys",
			p.Values, t.DbName, t.TableName, len(p.Values), len(t.PartitionKeys))}
	}
	if p.Sd == nil {
		return "", &hms.MetaException{Message: "partition has no storage descriptor"}
	}
	n := partName(t.PartitionKeys, p.Values)
	if p.Sd.Location == "" {
		p.Sd.Location = strings.TrimRight(t.Sd.Location, "/") + "/" + n
	}
	p.DbName, p.TableName = t.DbName, t.TableName
	return n, nil
}

func (h *handler) AddPartition(ctx context.Context, p *hms.Partition) (*hms.Partition, error) {
	if _, err := h.AddPartitions(ctx, []*hms.Partition{p}); err != nil {
		return nil, err
	}
	return p, nil
}

func (h *handler) AddPartitions(ctx context.Context, parts []*hms.Partition) (int32, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	names := make([]string, len(parts))
	for i, p := range parts {
		t, ps, err := h.table(p.DbName, p.TableName)
		if err != nil {
			return 0, err
		}
		n, err := h.checkPartition(t, p)
		if err != nil {
			return 0, err
		}
		if _, ok := ps[n]; ok || slices.Contains(names[:i], key(p.DbName, p.TableName)+"/"+n) {
			return 0, &hms.AlreadyExistsException{Message: "Partition already exists: " + n}
		}
		names[i] = key(p.DbName, p.TableName) + "/" + n
	}
	for _, p := range parts {
		t, ps, _ := h.table(p.DbName, p.TableName)
		ps[partName(t.PartitionKeys, p.Values)] = p
	}
	return int32(len(parts)), nil
}

func (h *handler) AlterPartition(ctx context.Context, db, tbl string, p *hms.Partition) error {
	return h.AlterPartitions(ctx, db, tbl, []*hms.Partition{p})
}

func (h *handler) AlterPartitions(ctx context.Context, db, tbl string, parts []*hms.Partition) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ps, err := h.table(db, tbl)
	if err != nil {
		return &hms.InvalidOperationException{Message: err.Error()}
	}
	names := make([]string, len(parts))
	for i, p := range parts {
		n, err := h.checkPartition(t, p)
		if err != nil {
			return err
		}
		if _, ok := ps[n]; !ok {
			return &hms.InvalidOperationException{Message: "alter is not possible: partition " + n + " does not exist"}
		}
		names[i] = n
	}
	for i, p := range parts {
		ps[names[i]] = p
	}
	return nil
}

func (h *handler) DropPartition(ctx context.Context, db, tbl string, vals []string, deleteData bool) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ps, err := h.table(db, tbl)
	if err != nil {
		return false, err
	}
	n := partName(t.PartitionKeys, vals)
	if _, ok := ps[n]; !ok {
		return false, noSuch("partition %s of %s.%s not found", n, db, tbl)
	}
	delete(ps, n)
	return true, nil
}

func (h *handler) GetConfigValue(ctx context.Context, name, def string) (string, error) {
	if name == "hive.metastore.warehouse.dir" {
		return h.warehouse, nil
	}
	return def, nil
}
