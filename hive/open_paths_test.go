package hive

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/dagflow/dagflow/io/filesystem"
)

// TestOpenRelativeWarehouseUsesClientDir checks that a relative warehouse
// means the directory the job was submitted from in every process, not
// the process's own working directory.
func TestOpenRelativeWarehouseUsesClientDir(t *testing.T) {
	client := t.TempDir()
	elsewhere := t.TempDir()
	t.Chdir(elsewhere)
	t.Setenv(filesystem.ClientDirEnv, client)
	cat, err := Open(context.Background(), Config{Warehouse: "wh"})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	if got, want := cat.Warehouse(), filepath.Join(client, "wh"); got != want {
		t.Fatalf("Warehouse() = %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(client, "wh", EmbeddedCatalogFile)); err != nil {
		t.Fatalf("catalog not in the client's directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(elsewhere, "wh")); !os.IsNotExist(err) {
		t.Fatalf("catalog created in the process's working directory (stat: %v)", err)
	}
}
