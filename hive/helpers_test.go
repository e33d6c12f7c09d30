package hive_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/hive"
	"github.com/dagflow/dagflow/internal/hivetest"
	"github.com/dagflow/dagflow/io/filesystem"
)

// catalogCase is one catalog implementation under test.
type catalogCase struct {
	name string
	open func(t *testing.T, warehouse string) (hive.Catalog, *hivetest.Metastore)
}

var catalogCases = []catalogCase{
	{"embedded", func(t *testing.T, wh string) (hive.Catalog, *hivetest.Metastore) {
		cat, err := hive.Open(context.Background(), hive.Config{Warehouse: wh})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cat.Close() })
		return cat, nil
	}},
	{"metastore", func(t *testing.T, wh string) (hive.Catalog, *hivetest.Metastore) {
		ms := hivetest.StartTest(t, hivetest.Options{Warehouse: wh})
		cat, err := hive.Open(context.Background(), hive.Config{MetastoreURIs: []string{ms.URI()}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cat.Close() })
		return cat, ms
	}},
}

func forEachCatalog(t *testing.T, fn func(t *testing.T, cat hive.Catalog, ms *hivetest.Metastore, wh string)) {
	for _, c := range catalogCases {
		t.Run(c.name, func(t *testing.T) {
			wh := filepath.Join(t.TempDir(), "warehouse")
			cat, ms := c.open(t, wh)
			fn(t, cat, ms, wh)
		})
	}
}

func createTable(t *testing.T, cat hive.Catalog, name string, format hive.Format, cols, parts []string) *hive.Table {
	t.Helper()
	tbl, err := hive.NewTable(name, format, cols, parts)
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.CreateTable(context.Background(), tbl); err != nil {
		t.Fatal(err)
	}
	got, err := cat.Table(context.Background(), tbl.DB, tbl.Name)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// writeRows runs the sink protocol by hand: one writer per batch of rows
// (subtask i), Prepare, then one Commit of everything.
func writeRows(t *testing.T, sink dag.Sink[hive.Row], subtasks ...[]hive.Row) {
	t.Helper()
	ctx := context.Background()
	var all [][]byte
	for i, rows := range subtasks {
		w, err := sink.NewWriter(ctx, dag.SinkContext{Job: "test", Subtask: i, Parallelism: len(subtasks)})
		if err != nil {
			t.Fatal(err)
		}
		b := &dag.Batch[hive.Row]{}
		for _, r := range rows {
			b.Append(r, dag.MinTime)
		}
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
		c, err := w.Prepare(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		all = append(all, c...)
	}
	if err := sink.Committer().Commit(ctx, all); err != nil {
		t.Fatal(err)
	}
}

// readAll reads every split of src (in order) and returns the rows.
func readAll(t *testing.T, src dag.Source[hive.Row], parallelism int) []hive.Row {
	t.Helper()
	rows, err := tryReadAll(src, parallelism)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func tryReadAll(src dag.Source[hive.Row], parallelism int) ([]hive.Row, error) {
	ctx := context.Background()
	splits, err := src.Splits(ctx, dag.SplitContext{Parallelism: parallelism})
	if err != nil {
		return nil, err
	}
	var out []hive.Row
	for _, sp := range splits {
		r, err := src.OpenSplit(ctx, dag.ReaderContext{Parallelism: parallelism}, sp)
		if err != nil {
			return nil, err
		}
		b := &dag.Batch[hive.Row]{}
		for {
			_, err := r.ReadBatch(ctx, b, 7)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				r.Close()
				return nil, err
			}
		}
		out = append(out, b.Vals...)
		r.Close()
	}
	return out, nil
}

func sortRows(rows []hive.Row) {
	sort.SliceStable(rows, func(i, j int) bool { return fmt.Sprint(rows[i]) < fmt.Sprint(rows[j]) })
}

func equalRows(t *testing.T, got, want []hive.Row) {
	t.Helper()
	got, want = slices.Clone(got), slices.Clone(want)
	sortRows(got)
	sortRows(want)
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d\ngot:  %v\nwant: %v", len(got), len(want), got, want)
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("row %d:\ngot:  %#v\nwant: %#v", i, got[i], want[i])
		}
	}
}

// countingFS wraps a file system and counts Open and List calls per path.
type countingFS struct {
	filesystem.FileSystem
	mu     sync.Mutex
	opened []string
	listed []string
}

func (c *countingFS) Open(ctx context.Context, p string) (filesystem.File, error) {
	c.mu.Lock()
	c.opened = append(c.opened, p)
	c.mu.Unlock()
	return c.FileSystem.Open(ctx, p)
}

func (c *countingFS) List(ctx context.Context, p string) ([]filesystem.FileInfo, error) {
	c.mu.Lock()
	c.listed = append(c.listed, p)
	c.mu.Unlock()
	return c.FileSystem.List(ctx, p)
}

func (c *countingFS) touched(sub string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, p := range append(slices.Clone(c.opened), c.listed...) {
		if strings.Contains(p, sub) {
			out = append(out, p)
		}
	}
	return out
}

func ts(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04:05.999999999", s)
	if err != nil {
		panic(err)
	}
	return t
}
