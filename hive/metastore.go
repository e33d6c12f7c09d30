package hive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	hms "github.com/beltran/gohive/hive_metastore"
	krbclient "github.com/jcmturner/gokrb5/v8/client"
)

// metastore is the Catalog over the Hive Metastore Thrift API. It uses the
// positional calls every metastore 2.3–4.x serves (get_database,
// get_table, get_partition_names, get_partitions_by_names, add_partitions,
// alter_partitions, ...). Calls are serialised on one connection; on a
// transport error the client reconnects, trying the URIs in order from
// the next one, and retries the call once.
type metastore struct {
	cfg       Config
	addrs     []string // host:port
	warehouse string

	// krb holds the Kerberos credentials with Auth KERBEROS.
	krb *krbclient.Client

	mu        sync.Mutex
	cur       int // index into addrs of the connected metastore
	transport thrift.TTransport
	client    *hms.ThriftHiveMetastoreClient
}

var _ Catalog = (*metastore)(nil)

func openMetastore(ctx context.Context, cfg Config) (*metastore, error) {
	m := &metastore{cfg: cfg}
	for _, u := range cfg.MetastoreURIs {
		for _, one := range strings.Split(u, ",") {
			one = strings.TrimSpace(one)
			if one == "" {
				continue
			}
			pu, err := url.Parse(one)
			if err != nil || pu.Scheme != "thrift" || pu.Host == "" {
				return nil, fmt.Errorf("hive: bad metastore URI %q: want thrift://host:port", one)
			}
			host := pu.Host
			if pu.Port() == "" {
				host = net.JoinHostPort(pu.Hostname(), "9083")
			}
			m.addrs = append(m.addrs, host)
		}
	}
	if len(m.addrs) == 0 {
		return nil, errors.New("hive: no metastore URI")
	}
	switch strings.ToUpper(cfg.Auth) {
	case "", "NOSASL", "PLAIN", "NONE":
	case "KERBEROS", "GSSAPI":
		// Check the principal pattern before logging in.
		if _, _, err := servicePrincipal(cfg.Kerberos.ServicePrincipal, "h"); err != nil {
			return nil, err
		}
		cl, err := kerberosLogin(cfg.Kerberos, os.Getenv)
		if err != nil {
			return nil, err
		}
		m.krb = cl
	default:
		return nil, fmt.Errorf("hive: metastore auth %q is not supported (want NOSASL, PLAIN or KERBEROS)", cfg.Auth)
	}
	m.mu.Lock()
	err := m.connect(ctx, 0)
	m.mu.Unlock()
	if err != nil {
		if m.krb != nil {
			m.krb.Destroy()
		}
		return nil, err
	}
	m.warehouse = cfg.Warehouse
	if m.warehouse == "" {
		err := m.call(ctx, "get_config_value", func(c *hms.ThriftHiveMetastoreClient) error {
			v, err := c.GetConfigValue(ctx, "hive.metastore.warehouse.dir", "")
			m.warehouse = v
			return err
		})
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("hive: reading hive.metastore.warehouse.dir (set Config.Warehouse instead): %w", err)
		}
	}
	return m, nil
}

// connect (m.mu held) connects to the first reachable URI starting at
// addrs[from].
func (m *metastore) connect(ctx context.Context, from int) error {
	if m.transport != nil {
		m.transport.Close()
		m.transport, m.client = nil, nil
	}
	timeout := m.cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	var errs []error
	for k := range m.addrs {
		i := (from + k) % len(m.addrs)
		addr := m.addrs[i]
		conf := &thrift.TConfiguration{ConnectTimeout: min(timeout, 10*time.Second), SocketTimeout: timeout}
		sock := thrift.NewTSocketConf(addr, conf)
		var tr thrift.TTransport = thrift.NewTBufferedTransport(sock, 64<<10)
		if m.krb != nil {
			host, _, _ := net.SplitHostPort(addr)
			spn, _, err := servicePrincipal(m.cfg.Kerberos.ServicePrincipal, host)
			if err != nil {
				return err
			}
			tr = newSASL(tr, newGSSAPI(m.krb, spn))
		} else if a := strings.ToUpper(m.cfg.Auth); a == "PLAIN" || a == "NONE" {
			user := m.cfg.Username
			if user == "" {
				user = "anonymous"
			}
			pw := m.cfg.Password
			if pw == "" {
				pw = "anonymous"
			}
			tr = newSASLPlain(tr, user, pw)
		}
		if err := tr.Open(); err != nil {
			tr.Close()
			errs = append(errs, fmt.Errorf("metastore thrift://%s: %w", addr, err))
			continue
		}
		pf := thrift.NewTBinaryProtocolFactoryConf(conf)
		m.transport = tr
		m.client = hms.NewThriftHiveMetastoreClient(thrift.NewTStandardClient(pf.GetProtocol(tr), pf.GetProtocol(tr)))
		m.cur = i
		if k > 0 {
			slog.InfoContext(ctx, "hive: connected to fallback metastore", "addr", addr)
		}
		return nil
	}
	return fmt.Errorf("hive: could not connect to any metastore: %w", errors.Join(errs...))
}

// call runs fn on the connection, reconnecting (to the next URI) and
// retrying once after a transport error. Metastore exceptions are mapped
// to ErrNotFound / ErrAlreadyExists.
func (m *metastore) call(ctx context.Context, op string, fn func(*hms.ThriftHiveMetastoreClient) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		if m.client == nil {
			if err = m.connect(ctx, m.cur+attempt); err != nil {
				return err
			}
		}
		err = fn(m.client)
		if err == nil || !isTransportError(err) {
			break
		}
		slog.WarnContext(ctx, "hive: metastore call failed, reconnecting", "op", op, "addr", m.addrs[m.cur], "err", err)
		m.transport.Close()
		m.transport, m.client = nil, nil
		m.cur = (m.cur + 1) % len(m.addrs)
	}
	return mapMetaError(err, "thrift://"+m.addrs[m.cur], op)
}

func isTransportError(err error) bool {
	var te thrift.TTransportException
	if errors.As(err, &te) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

func mapMetaError(err error, addr, op string) error {
	if err == nil {
		return nil
	}
	var ns *hms.NoSuchObjectException
	var ae *hms.AlreadyExistsException
	var me *hms.MetaException
	var ie *hms.InvalidOperationException
	switch {
	case errors.As(err, &ns):
		return fmt.Errorf("%w (metastore %s %s: %s)", ErrNotFound, addr, op, ns.Message)
	case errors.As(err, &ae):
		return fmt.Errorf("%w (metastore %s %s: %s)", ErrAlreadyExists, addr, op, ae.Message)
	case errors.As(err, &me):
		return fmt.Errorf("metastore %s %s: MetaException: %s", addr, op, me.Message)
	case errors.As(err, &ie):
		return fmt.Errorf("metastore %s %s: InvalidOperationException: %s", addr, op, ie.Message)
	}
	return fmt.Errorf("metastore %s %s: %w", addr, op, err)
}

func (m *metastore) Warehouse() string { return m.warehouse }

func (m *metastore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.krb != nil {
		m.krb.Destroy()
		m.krb = nil
	}
	if m.transport != nil {
		err := m.transport.Close()
		m.transport, m.client = nil, nil
		return err
	}
	return nil
}

func (m *metastore) Databases(ctx context.Context) ([]string, error) {
	var out []string
	err := m.call(ctx, "get_all_databases", func(c *hms.ThriftHiveMetastoreClient) (err error) {
		out, err = c.GetAllDatabases(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("hive: listing databases: %w", err)
	}
	slices.Sort(out)
	return out, nil
}

func (m *metastore) Database(ctx context.Context, name string) (*Database, error) {
	var d *hms.Database
	err := m.call(ctx, "get_database", func(c *hms.ThriftHiveMetastoreClient) (err error) {
		d, err = c.GetDatabase(ctx, strings.ToLower(name))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("hive: database %q: %w", name, err)
	}
	return &Database{Name: d.Name, Description: d.Description, Location: d.LocationUri, Params: d.Parameters}, nil
}

func (m *metastore) CreateDatabase(ctx context.Context, db *Database) error {
	d := &hms.Database{Name: strings.ToLower(db.Name), Description: db.Description, LocationUri: db.Location,
		Parameters: nonNil(db.Params)}
	err := m.call(ctx, "create_database", func(c *hms.ThriftHiveMetastoreClient) error {
		return c.CreateDatabase(ctx, d)
	})
	if err != nil {
		return fmt.Errorf("hive: creating database %q: %w", db.Name, err)
	}
	return nil
}

func (m *metastore) Tables(ctx context.Context, db string) ([]string, error) {
	if _, err := m.Database(ctx, db); err != nil {
		return nil, err
	}
	var out []string
	err := m.call(ctx, "get_all_tables", func(c *hms.ThriftHiveMetastoreClient) (err error) {
		out, err = c.GetAllTables(ctx, strings.ToLower(db))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("hive: listing tables of %q: %w", db, err)
	}
	slices.Sort(out)
	return out, nil
}

func (m *metastore) Table(ctx context.Context, db, name string) (*Table, error) {
	db, name = strings.ToLower(db), strings.ToLower(name)
	var t *hms.Table
	err := m.call(ctx, "get_table", func(c *hms.ThriftHiveMetastoreClient) (err error) {
		t, err = c.GetTable(ctx, db, name)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			if _, derr := m.Database(ctx, db); derr != nil && errors.Is(derr, ErrNotFound) {
				return nil, fmt.Errorf("hive: table %s.%s: %w", db, name, derr)
			}
		}
		return nil, fmt.Errorf("hive: table %s.%s: %w", db, name, err)
	}
	return tableFromThrift(t), nil
}

func (m *metastore) CreateTable(ctx context.Context, t *Table) error {
	c := t.Clone()
	c.DB, c.Name = strings.ToLower(c.DB), strings.ToLower(c.Name)
	if err := validateTable(c); err != nil {
		return err
	}
	if c.Type == "" {
		c.Type = "MANAGED_TABLE"
	}
	tt := tableToThrift(c)
	tt.CreateTime = int32(time.Now().Unix())
	err := m.call(ctx, "create_table", func(cl *hms.ThriftHiveMetastoreClient) error {
		return cl.CreateTable(ctx, tt)
	})
	if err != nil {
		return fmt.Errorf("hive: creating table %s: %w", c.FullName(), err)
	}
	return nil
}

func (m *metastore) AlterTable(ctx context.Context, t *Table) error {
	c := t.Clone()
	if err := validateTable(c); err != nil {
		return err
	}
	tt := tableToThrift(c)
	err := m.call(ctx, "alter_table", func(cl *hms.ThriftHiveMetastoreClient) error {
		return cl.AlterTable(ctx, c.DB, c.Name, tt)
	})
	if err != nil {
		return fmt.Errorf("hive: altering table %s: %w", c.FullName(), err)
	}
	return nil
}

func (m *metastore) DropTable(ctx context.Context, db, name string) error {
	err := m.call(ctx, "drop_table", func(c *hms.ThriftHiveMetastoreClient) error {
		return c.DropTable(ctx, strings.ToLower(db), strings.ToLower(name), false)
	})
	if err != nil {
		return fmt.Errorf("hive: dropping table %s.%s: %w", db, name, err)
	}
	return nil
}

func (m *metastore) PartitionNames(ctx context.Context, db, table string) ([]string, error) {
	var out []string
	err := m.call(ctx, "get_partition_names", func(c *hms.ThriftHiveMetastoreClient) (err error) {
		out, err = c.GetPartitionNames(ctx, strings.ToLower(db), strings.ToLower(table), -1)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("hive: partitions of %s.%s: %w", db, table, err)
	}
	slices.Sort(out)
	return out, nil
}

func (m *metastore) Partitions(ctx context.Context, db, table string, names []string) ([]*Partition, error) {
	var out []*Partition
	const chunk = 500 // keep messages moderate on big tables
	for len(names) > 0 {
		n := min(chunk, len(names))
		var ps []*hms.Partition
		err := m.call(ctx, "get_partitions_by_names", func(c *hms.ThriftHiveMetastoreClient) (err error) {
			ps, err = c.GetPartitionsByNames(ctx, strings.ToLower(db), strings.ToLower(table), names[:n])
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("hive: partitions of %s.%s: %w", db, table, err)
		}
		for _, p := range ps {
			out = append(out, partitionFromThrift(p))
		}
		names = names[n:]
	}
	return out, nil
}

func (m *metastore) thriftPartitions(ctx context.Context, db, table string, parts []*Partition) ([]*hms.Partition, error) {
	t, err := m.Table(ctx, db, table)
	if err != nil {
		return nil, err
	}
	out := make([]*hms.Partition, len(parts))
	now := int32(time.Now().Unix())
	for i, p := range parts {
		if len(p.Values) != len(t.PartitionKeys) {
			return nil, fmt.Errorf("hive: table %s: partition %q has %d values, the table has %d partition keys",
				t.FullName(), p.Values, len(p.Values), len(t.PartitionKeys))
		}
		c := *p
		c.Storage = partitionStorage(t, p)
		tp := &hms.Partition{Values: slices.Clone(c.Values), DbName: t.DB, TableName: t.Name, CreateTime: now,
			Sd: storageToThrift(c.Storage, t.Columns), Parameters: nonNil(c.Params), WriteId: -1}
		if c.CreateTime != 0 {
			tp.CreateTime = int32(c.CreateTime)
		}
		out[i] = tp
	}
	return out, nil
}

func (m *metastore) AddPartitions(ctx context.Context, db, table string, parts []*Partition) error {
	tps, err := m.thriftPartitions(ctx, db, table, parts)
	if err != nil {
		return err
	}
	err = m.call(ctx, "add_partitions", func(c *hms.ThriftHiveMetastoreClient) error {
		_, err := c.AddPartitions(ctx, tps)
		return err
	})
	if err != nil {
		return fmt.Errorf("hive: adding %d partitions to %s.%s: %w", len(parts), db, table, err)
	}
	return nil
}

func (m *metastore) AlterPartitions(ctx context.Context, db, table string, parts []*Partition) error {
	tps, err := m.thriftPartitions(ctx, db, table, parts)
	if err != nil {
		return err
	}
	err = m.call(ctx, "alter_partitions", func(c *hms.ThriftHiveMetastoreClient) error {
		return c.AlterPartitions(ctx, strings.ToLower(db), strings.ToLower(table), tps)
	})
	if err != nil {
		return fmt.Errorf("hive: altering %d partitions of %s.%s: %w", len(parts), db, table, err)
	}
	return nil
}

func (m *metastore) DropPartition(ctx context.Context, db, table string, values []string) error {
	err := m.call(ctx, "drop_partition", func(c *hms.ThriftHiveMetastoreClient) error {
		_, err := c.DropPartition(ctx, strings.ToLower(db), strings.ToLower(table), values, false)
		return err
	})
	if err != nil {
		return fmt.Errorf("hive: dropping partition %q of %s.%s: %w", values, db, table, err)
	}
	return nil
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return maps.Clone(m)
}

func colsToThrift(cols []Column) []*hms.FieldSchema {
	out := make([]*hms.FieldSchema, len(cols))
	for i, c := range cols {
		out[i] = &hms.FieldSchema{Name: c.Name, Type: c.Type, Comment: c.Comment}
	}
	return out
}

func colsFromThrift(fs []*hms.FieldSchema) []Column {
	out := make([]Column, 0, len(fs))
	for _, f := range fs {
		if f != nil {
			out = append(out, Column{Name: f.Name, Type: f.Type, Comment: f.Comment})
		}
	}
	return out
}

func storageToThrift(s Storage, cols []Column) *hms.StorageDescriptor {
	return &hms.StorageDescriptor{
		Cols:         colsToThrift(cols),
		Location:     s.Location,
		InputFormat:  s.InputFormat,
		OutputFormat: s.OutputFormat,
		NumBuckets:   -1,
		SerdeInfo:    &hms.SerDeInfo{SerializationLib: s.SerDe, Parameters: nonNil(s.SerDeParams)},
		BucketCols:   []string{},
		SortCols:     []*hms.Order{},
		Parameters:   nonNil(s.Params),
	}
}

func storageFromThrift(sd *hms.StorageDescriptor) Storage {
	if sd == nil {
		return Storage{}
	}
	s := Storage{Location: sd.Location, InputFormat: sd.InputFormat, OutputFormat: sd.OutputFormat, Params: sd.Parameters}
	if sd.SerdeInfo != nil {
		s.SerDe = sd.SerdeInfo.SerializationLib
		s.SerDeParams = sd.SerdeInfo.Parameters
	}
	return s
}

func tableToThrift(t *Table) *hms.Table {
	return &hms.Table{
		TableName:     t.Name,
		DbName:        t.DB,
		Owner:         t.Owner,
		Sd:            storageToThrift(t.Storage, t.Columns),
		PartitionKeys: colsToThrift(t.PartitionKeys),
		Parameters:    nonNil(t.Params),
		TableType:     t.Type,
	}
}

func tableFromThrift(t *hms.Table) *Table {
	out := &Table{DB: t.DbName, Name: t.TableName, PartitionKeys: colsFromThrift(t.PartitionKeys),
		Storage: storageFromThrift(t.Sd), Params: t.Parameters, Type: t.TableType, Owner: t.Owner}
	if t.Sd != nil {
		out.Columns = colsFromThrift(t.Sd.Cols)
	}
	return out
}

func partitionFromThrift(p *hms.Partition) *Partition {
	return &Partition{Values: p.Values, Storage: storageFromThrift(p.Sd), Params: p.Parameters, CreateTime: int64(p.CreateTime)}
}
