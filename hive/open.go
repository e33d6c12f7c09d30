package hive

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/dagflow/dagflow/io/filesystem"
)

// Config says which catalog Open returns.
type Config struct {
	// MetastoreURIs are Hive Metastore Thrift URIs ("thrift://host:9083";
	// an entry may hold several, comma-separated, as hive.metastore.uris
	// does). They are tried in order; a failed call reconnects to the
	// next. Empty selects the embedded catalog.
	MetastoreURIs []string
	// Warehouse is the warehouse directory (local path, file:// or
	// hdfs:// URI). Required for the embedded catalog; for a metastore it
	// defaults to the metastore's hive.metastore.warehouse.dir.
	Warehouse string
	// CatalogPath is the embedded catalog's SQLite file (default:
	// Warehouse/.dagflow-catalog.db; required when Warehouse is remote).
	CatalogPath string
	// Auth is the metastore transport: "NOSASL" (default: plain binary
	// protocol over a buffered socket, what metastores use unless
	// hive.metastore.sasl.enabled), "PLAIN" (SASL PLAIN with Username
	// and Password) or "KERBEROS" (SASL GSSAPI with Kerberos, see
	// KerberosConfig; without a security layer, i.e. the metastore's
	// QOP must allow "auth").
	Auth               string
	Username, Password string
	// Kerberos configures Auth "KERBEROS".
	Kerberos KerberosConfig
	// Timeout bounds connecting and each metastore call (default 30 s).
	Timeout time.Duration
}

// Open returns the catalog cfg describes: a Metastore client when
// MetastoreURIs is set, else the embedded catalog in Warehouse. Errors
// name the unreachable addresses or the catalog file.
func Open(ctx context.Context, cfg Config) (Catalog, error) {
	if len(cfg.MetastoreURIs) > 0 {
		return openMetastore(ctx, cfg)
	}
	if cfg.Warehouse == "" {
		return nil, errors.New("hive: Open: neither MetastoreURIs nor Warehouse is set")
	}
	warehouse, err := absLocal(cfg.Warehouse)
	if err != nil {
		return nil, err
	}
	catalog, err := absLocal(cfg.CatalogPath)
	if err != nil {
		return nil, err
	}
	return openEmbedded(ctx, warehouse, catalog)
}

// absLocal makes a relative local path absolute against the directory the
// job was submitted from (filesystem.BaseDir), so that every process of a
// job opens the same catalog and warehouse; URIs and absolute paths are
// returned as they are.
func absLocal(p string) (string, error) {
	if p == "" || filepath.IsAbs(p) {
		return p, nil
	}
	if _, ok := filesystem.SchemeOf(p); ok {
		return p, nil
	}
	base, err := filesystem.BaseDir()
	if err != nil {
		return "", fmt.Errorf("hive: %w", err)
	}
	return filepath.Join(base, p), nil
}
