package master

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/dagflow/dagflow/internal/hdfstest"
)

// TestStorageDirOnHDFS stores a binary and a plan in an hdfs:// storage
// directory and fetches the binary back after the local copy is gone.
func TestStorageDirOnHDFS(t *testing.T) {
	cluster := hdfstest.StartTest(t, hdfstest.Options{BlockSize: 1 << 20})
	s := &Server{cfg: ServerConfig{StorageDir: cluster.URL("/dagflow")}, log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	local := filepath.Join(t.TempDir(), "binaries", "abc")
	os.MkdirAll(filepath.Dir(local), 0o755)
	if err := os.WriteFile(local, []byte("#!/bin/true\nbinary bytes"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.storeBinary(ctx, local, "abc"); err != nil {
		t.Fatal(err)
	}
	if err := s.storeBinary(ctx, local, "abc"); err != nil { // idempotent
		t.Fatal(err)
	}
	if err := s.storePlan(ctx, "job-1", []byte(`{"job":"x"}`)); err != nil {
		t.Fatal(err)
	}
	os.Remove(local)
	ok, err := s.fetchBinary(ctx, local, "abc")
	if err != nil || !ok {
		t.Fatalf("fetch: %v %v", ok, err)
	}
	b, err := os.ReadFile(local)
	if err != nil || string(b) != "#!/bin/true\nbinary bytes" {
		t.Fatalf("fetched %q, %v", b, err)
	}
	if st, _ := os.Stat(local); st.Mode()&0o100 == 0 {
		t.Fatal("fetched binary is not executable")
	}
	if ok, err := s.fetchBinary(ctx, local+"x", "missing"); ok || err != nil {
		t.Fatalf("missing binary: %v %v", ok, err)
	}
}
