package filesystems_test

import (
	"slices"
	"testing"

	"github.com/dagflow/dagflow/io/filesystem"
	"github.com/dagflow/dagflow/io/filesystems"
)

func TestDefaultHasBuiltinFileSystems(t *testing.T) {
	reg := filesystems.Default()
	if got := reg.Schemes(); !slices.Contains(got, "file") || !slices.Contains(got, "hdfs") {
		t.Fatalf("Default().Schemes() = %v, want file and hdfs", got)
	}
	if fs, p, err := reg.Resolve("/data/in.txt"); err != nil || fs != (filesystem.Local{}) || p != "/data/in.txt" {
		t.Fatalf("Resolve(plain path) = %v, %q, %v; want the local file system", fs, p, err)
	}
	// Each call returns a registry of its own.
	reg.Register("hdfs", nil)
	if !slices.Contains(filesystems.Default().Schemes(), "hdfs") {
		t.Fatal("unregistering hdfs on one default registry changed another")
	}
}
