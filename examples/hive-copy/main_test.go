package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/dag"

	"github.com/dagflow/dagflow/hive"
)

// TestHiveCopy runs the example twice on one warehouse: the second run
// overwrites, so the totals stay the same.
func TestHiveCopy(t *testing.T) {
	wh := filepath.Join(t.TempDir(), "wh")
	for i := 0; i < 2; i++ {
		var out, errb bytes.Buffer
		if code := run([]string{"--warehouse", wh, "--rows", "4000"}, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		if !strings.Contains(out.String(), "dt=2024-06-03, dt=2024-06-04") {
			t.Errorf("output %q", out.String())
		}
	}
	ctx := context.Background()
	cat, err := hive.Open(ctx, hive.Config{Warehouse: wh})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	src := hive.Source(cat, "demo.daily_totals")
	rows := readAll(t, src)
	var orders int64
	for _, r := range rows {
		orders += r[1].(int64)
	}
	if orders != 2000 || len(rows) != 40 {
		t.Fatalf("%d totals rows summing %d orders, want 40 rows and 2000 orders", len(rows), orders)
	}
}

func readAll(t *testing.T, src *hive.TableSource) []hive.Row {
	t.Helper()
	ctx := context.Background()
	splits, err := src.Splits(ctx, dag.SplitContext{Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	var out []hive.Row
	for _, sp := range splits {
		r, err := src.OpenSplit(ctx, dag.ReaderContext{}, sp)
		if err != nil {
			t.Fatal(err)
		}
		b := &dag.Batch[hive.Row]{}
		for {
			_, err := r.ReadBatch(ctx, b, 1024)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		r.Close()
		out = append(out, b.Vals...)
	}
	return out
}
