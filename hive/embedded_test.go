package hive_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/dagflow/dagflow/hive"
)

// TestEmbeddedConcurrentProcesses: several catalogs (as separate jobs on
// one host would open) add partitions to one table at the same time.
func TestEmbeddedConcurrentProcesses(t *testing.T) {
	ctx := context.Background()
	wh := filepath.Join(t.TempDir(), "wh")
	var cats []hive.Catalog
	for i := 0; i < 4; i++ {
		cat, err := hive.Open(ctx, hive.Config{Warehouse: wh})
		if err != nil {
			t.Fatal(err)
		}
		defer cat.Close()
		cats = append(cats, cat)
	}
	createTable(t, cats[0], "default.c", hive.FormatParquet, []string{"v int"}, []string{"p int"})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i, cat := range cats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 25; k++ {
				p := &hive.Partition{Values: []string{itoa(i*100 + k)}}
				if err := cat.AddPartitions(ctx, "default", "c", []*hive.Partition{p}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	names, err := cats[3].PartitionNames(ctx, "default", "c")
	if err != nil || len(names) != 100 {
		t.Fatalf("%d partitions, %v", len(names), err)
	}
}
