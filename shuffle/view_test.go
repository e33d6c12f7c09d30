package shuffle_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/dagflow/dagflow/shuffle"
)

func TestFileViewReadsAnotherServicesPartitions(t *testing.T) {
	parent := t.TempDir()
	owner := newLocal(t, shuffle.LocalConfig{Dir: filepath.Join(parent, "data"), Compression: shuffle.CompressionZstd})
	view, err := shuffle.NewFileView(shuffle.LocalConfig{Dir: owner.Dir()})
	if err != nil {
		t.Fatal(err)
	}
	defer view.Close()
	ctx := context.Background()
	id := shuffle.PartitionID{Job: "job/x", Result: "e1", Producer: 2, Attempt: 1}
	if _, err := view.OpenReader(ctx, id, 0, 1); !errors.Is(err, shuffle.ErrNotExist) {
		t.Fatalf("before commit: %v, want ErrNotExist", err)
	}
	// Written by the owner, or adopted by it: the view reads both.
	want := writeBlocking(t, owner, id, 5, 30)
	checkReads(t, view, id, want)
	adopted := shuffle.PartitionID{Job: "job/x", Result: "e1", Producer: 3}
	data, index, want2 := stage(t, parent, adopted, 4, 20)
	if err := owner.Adopt(adopted, data, index); err != nil {
		t.Fatal(err)
	}
	checkReads(t, view, adopted, want2)
	st, err := view.Stat(ctx, id)
	ost, _ := owner.Stat(ctx, id)
	if err != nil || st != ost {
		t.Fatalf("view stat %+v (%v), owner %+v", st, err, ost)
	}
	if _, err := view.CreateWriter(ctx, shuffle.PartitionID{Job: "j"}, shuffle.WriterOptions{Mode: shuffle.Blocking, Subpartitions: 1}); err == nil {
		t.Fatal("a view accepted a writer")
	}
	// Corruption and release are seen as through the owner.
	fd, _ := owner.PartitionFiles(adopted)
	flipByte(t, fd, 8+13+3)
	if _, err := readSub(view, adopted, 0); !errors.Is(err, shuffle.ErrCorrupt) {
		t.Fatalf("corrupt block: %v, want ErrCorrupt", err)
	}
	r, err := view.OpenReader(ctx, id, 0, 5) // open across the release: still readable
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.Release(ctx, id.Job); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(ctx); err != nil {
		t.Fatalf("open reader after release: %v", err)
	}
	r.Close()
	if _, err := view.OpenReader(ctx, id, 0, 1); !errors.Is(err, shuffle.ErrNotExist) {
		t.Fatalf("after release: %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(owner.Dir(), "job%2Fx")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("job directory after release: %v", err)
	}
}
