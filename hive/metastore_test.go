package hive_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	hms "github.com/beltran/gohive/hive_metastore"
	"github.com/dagflow/dagflow/hive"
	"github.com/dagflow/dagflow/internal/hivetest"
)

func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestMetastoreUnreachable(t *testing.T) {
	addr := deadAddr(t)
	_, err := hive.Open(context.Background(), hive.Config{MetastoreURIs: []string{"thrift://" + addr}, Timeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("err = %v, want one naming %s", err, addr)
	}
	if _, err := hive.Open(context.Background(), hive.Config{MetastoreURIs: []string{"http://x"}}); err == nil || !strings.Contains(err.Error(), "http://x") {
		t.Errorf("bad URI: %v", err)
	}
}

// TestMetastoreFailover: the first URI is dead; later the serving
// metastore restarts and the client reconnects for the next call.
func TestMetastoreFailover(t *testing.T) {
	wh := t.TempDir()
	ms := hivetest.StartTest(t, hivetest.Options{Warehouse: wh})
	cat, err := hive.Open(context.Background(), hive.Config{MetastoreURIs: []string{"thrift://" + deadAddr(t) + "," + ms.URI()}})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	if cat.Warehouse() != wh {
		t.Errorf("warehouse %q, want %q (from get_config_value)", cat.Warehouse(), wh)
	}
	if _, err := cat.Databases(context.Background()); err != nil {
		t.Fatal(err)
	}
	ms.Stop()
	if _, err := cat.Databases(context.Background()); err == nil {
		t.Fatal("call to a stopped metastore succeeded")
	}
	if err := ms.Start(); err != nil {
		t.Fatal(err)
	}
	dbs, err := cat.Databases(context.Background())
	if err != nil || len(dbs) != 1 || dbs[0] != "default" {
		t.Fatalf("after restart: %q %v", dbs, err)
	}
}

func TestMetastoreSASLPlain(t *testing.T) {
	ms := hivetest.StartTest(t, hivetest.Options{Warehouse: t.TempDir(), SASL: true, User: "hive", Password: "secret"})
	ctx := context.Background()
	cat, err := hive.Open(ctx, hive.Config{MetastoreURIs: []string{ms.URI()}, Auth: "PLAIN", Username: "hive", Password: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	if err := cat.CreateDatabase(ctx, &hive.Database{Name: "sales"}); err != nil {
		t.Fatal(err)
	}
	d, err := cat.Database(ctx, "sales")
	if err != nil || !strings.HasSuffix(d.Location, "sales.db") {
		t.Fatalf("%+v %v", d, err)
	}
	if err := cat.CreateDatabase(ctx, &hive.Database{Name: "sales"}); !errors.Is(err, hive.ErrAlreadyExists) {
		t.Errorf("duplicate database: %v", err)
	}
	_, err = hive.Open(ctx, hive.Config{MetastoreURIs: []string{ms.URI()}, Auth: "PLAIN", Username: "hive", Password: "wrong"})
	if err == nil {
		t.Error("wrong password accepted")
	}
}

// TestTestMetastoreUnknownMethod: calls the test metastore does not
// implement fail with a TApplicationException naming the call.
func TestTestMetastoreUnknownMethod(t *testing.T) {
	ms := hivetest.StartTest(t, hivetest.Options{Warehouse: t.TempDir()})
	sock := thrift.NewTSocketConf(ms.Addr(), &thrift.TConfiguration{})
	tr := thrift.NewTBufferedTransport(sock, 4096)
	if err := tr.Open(); err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	pf := thrift.NewTBinaryProtocolFactoryConf(nil)
	c := hms.NewThriftHiveMetastoreClient(thrift.NewTStandardClient(pf.GetProtocol(tr), pf.GetProtocol(tr)))
	_, err := c.GetPartitionsByFilter(context.Background(), "default", "t", "a=1", -1)
	var ae thrift.TApplicationException
	if !errors.As(err, &ae) || ae.TypeId() != thrift.UNKNOWN_METHOD || !strings.Contains(err.Error(), "get_partitions_by_filter") {
		t.Fatalf("err = %v", err)
	}
	// the connection still works
	if _, err := c.GetAllDatabases(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestCatalogModel exercises the catalog calls on both implementations.
func TestCatalogModel(t *testing.T) {
	forEachCatalog(t, func(t *testing.T, cat hive.Catalog, _ *hivetest.Metastore, wh string) {
		ctx := context.Background()
		if err := cat.CreateDatabase(ctx, &hive.Database{Name: "Sales", Description: "d"}); err != nil {
			t.Fatal(err)
		}
		tbl, err := hive.NewTable("sales.orders", hive.FormatText, []string{"id bigint", "tags map<string,array<int>>"}, []string{"dt date"})
		if err != nil {
			t.Fatal(err)
		}
		tbl.Storage.SerDeParams["field.delim"] = "\t"
		if err := cat.CreateTable(ctx, tbl); err != nil {
			t.Fatal(err)
		}
		if err := cat.CreateTable(ctx, tbl); !errors.Is(err, hive.ErrAlreadyExists) {
			t.Errorf("duplicate table: %v", err)
		}
		got, err := cat.Table(ctx, "sales", "orders")
		if err != nil {
			t.Fatal(err)
		}
		if got.Storage.Location != filepath.Join(wh, "sales.db", "orders") || got.Storage.SerDeParams["field.delim"] != "\t" ||
			got.Columns[1].Type != "map<string,array<int>>" || got.PartitionKeys[0].Name != "dt" {
			t.Errorf("table %+v", got)
		}
		p := &hive.Partition{Values: []string{"2024-01-01"}}
		if err := cat.AddPartitions(ctx, "sales", "orders", []*hive.Partition{p}); err != nil {
			t.Fatal(err)
		}
		if err := cat.AddPartitions(ctx, "sales", "orders", []*hive.Partition{p}); !errors.Is(err, hive.ErrAlreadyExists) {
			t.Errorf("duplicate partition: %v", err)
		}
		p.Params = map[string]string{"k": "v"}
		if err := cat.AlterPartitions(ctx, "sales", "orders", []*hive.Partition{p}); err != nil {
			t.Fatal(err)
		}
		ps, err := cat.Partitions(ctx, "sales", "orders", []string{"dt=2024-01-01", "dt=nope"})
		if err != nil || len(ps) != 1 || ps[0].Params["k"] != "v" || !strings.HasSuffix(ps[0].Storage.Location, "orders/dt=2024-01-01") ||
			ps[0].Storage.SerDeParams["field.delim"] != "\t" {
			t.Fatalf("partitions %+v %v", ps, err)
		}
		if err := cat.DropPartition(ctx, "sales", "orders", []string{"2024-01-01"}); err != nil {
			t.Fatal(err)
		}
		tables, _ := cat.Tables(ctx, "sales")
		if len(tables) != 1 {
			t.Errorf("tables %q", tables)
		}
		if err := cat.DropTable(ctx, "sales", "orders"); err != nil {
			t.Fatal(err)
		}
		if _, err := cat.Table(ctx, "sales", "orders"); !errors.Is(err, hive.ErrNotFound) {
			t.Errorf("dropped table: %v", err)
		}
	})
}

func TestPartitionNameEscaping(t *testing.T) {
	keys := []hive.Column{{Name: "a", Type: "string"}, {Name: "b", Type: "string"}}
	for _, vals := range [][]string{{"x/y", "1:2"}, {"a=b%c", ""}, {"plain", "sp ace"}} {
		n := hive.PartitionName(keys, vals)
		back, err := hive.ParsePartitionName(keys, n)
		if err != nil {
			t.Fatal(err)
		}
		want := vals
		if vals[1] == "" {
			want = []string{vals[0], hive.DefaultPartitionName}
		}
		if strings.Join(back, "|") != strings.Join(want, "|") {
			t.Errorf("%q -> %q -> %q", vals, n, back)
		}
	}
	if got := hive.PartitionName(keys, []string{"x/y", "1:2"}); got != "a=x%2Fy/b=1%3A2" {
		t.Errorf("escaped name %q", got)
	}
}
