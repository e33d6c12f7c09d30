package shuffle_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/dagflow/dagflow/shuffle"
)

// stage writes a committed partition with a producer-side Local in a
// staging directory next to the adopting service's directory, as an
// executor does for the shuffle daemon, and returns its files.
func stage(t *testing.T, parent string, id shuffle.PartitionID, subs, n int) (data, index string, want [][][]byte) {
	t.Helper()
	staging := newLocal(t, shuffle.LocalConfig{Dir: filepath.Join(parent, "staging", id.String()), SortBufferBytes: 8 << 10})
	want = writeBlocking(t, staging, id, subs, n)
	data, index = staging.PartitionFiles(id)
	for _, p := range []string{data, index} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("staged file: %v", err)
		}
	}
	return data, index, want
}

func checkReads(t *testing.T, svc shuffle.Service, id shuffle.PartitionID, want [][][]byte) {
	t.Helper()
	for s := range want {
		got, err := readSub(svc, id, s)
		if err != nil {
			t.Fatalf("read subpartition %d: %v", s, err)
		}
		if !reflect.DeepEqual(got, want[s]) {
			t.Fatalf("subpartition %d: read %d buffers, want %d", s, len(got), len(want[s]))
		}
	}
}

func TestAdoptMakesPartitionVisibleOnlyAfterwards(t *testing.T) {
	parent := t.TempDir()
	l := newLocal(t, shuffle.LocalConfig{Dir: filepath.Join(parent, "data")})
	ctx := context.Background()
	id := shuffle.PartitionID{Job: "job/1", Result: "e1", Producer: 3, Attempt: 2}
	data, index, want := stage(t, parent, id, 7, 40)

	if _, err := l.Stat(ctx, id); !errors.Is(err, shuffle.ErrNotExist) {
		t.Fatalf("Stat before adopt: %v, want ErrNotExist", err)
	}
	if r, err := l.OpenReader(ctx, shuffle.PartitionID{Job: "job/1", Result: "e1", Producer: 9}, 0, 1); err == nil {
		r.Close() // a pending reader of another id: not the point here
	}
	if err := l.Adopt(id, data, index); err != nil {
		t.Fatal(err)
	}
	st, err := l.Stat(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != 2 || st.Subpartitions != 7 || st.Bytes <= 0 || st.Buffers == 0 {
		t.Fatalf("stat %+v", st)
	}
	checkReads(t, l, id, want)
	// The files moved into the service's directory.
	fd, fi := l.PartitionFiles(id)
	for _, p := range []string{fd, fi} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("adopted file: %v", err)
		}
	}
	for _, p := range []string{data, index} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("staged file %s still there: %v", p, err)
		}
	}
	// Release deletes adopted partitions like written ones.
	if err := l.Release(ctx, id.Job); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fd); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("data file survived release: %v", err)
	}
}

func TestAdoptIsIdempotent(t *testing.T) {
	parent := t.TempDir()
	l := newLocal(t, shuffle.LocalConfig{Dir: filepath.Join(parent, "data")})
	id := shuffle.PartitionID{Job: "j", Result: "e0", Producer: 0}
	data, index, want := stage(t, parent, id, 3, 20)
	for i := 0; i < 2; i++ { // a retry after a lost reply finds the files moved
		if err := l.Adopt(id, data, index); err != nil {
			t.Fatalf("adopt %d: %v", i, err)
		}
	}
	// A second copy of the same partition is discarded.
	id2 := id
	d2, i2, _ := stage(t, filepath.Join(parent, "second"), id2, 3, 20)
	if err := l.Adopt(id, d2, i2); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{d2, i2} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("duplicate %s not removed: %v", p, err)
		}
	}
	checkReads(t, l, id, want)
	// Files already in place are accepted too.
	fd, fi := l.PartitionFiles(id)
	if err := l.Adopt(id, fd, fi); err != nil {
		t.Fatal(err)
	}
	checkReads(t, l, id, want)
}

func TestAdoptRejectsBadFiles(t *testing.T) {
	parent := t.TempDir()
	l := newLocal(t, shuffle.LocalConfig{Dir: filepath.Join(parent, "data")})
	ctx := context.Background()
	cases := []struct {
		name    string
		damage  func(t *testing.T, data, index string)
		wantErr error
	}{
		{"index checksum", func(t *testing.T, _, index string) { flipByte(t, index, 20) }, shuffle.ErrCorrupt},
		{"truncated index", func(t *testing.T, _, index string) { truncate(t, index, 30) }, shuffle.ErrCorrupt},
		{"data longer than the regions", func(t *testing.T, data, _ string) { appendBytes(t, data, []byte("junk")) }, shuffle.ErrCorrupt},
		{"truncated data", func(t *testing.T, data, _ string) { truncateBy(t, data, 1) }, shuffle.ErrCorrupt},
		{"data header", func(t *testing.T, data, _ string) { flipByte(t, data, 1) }, shuffle.ErrCorrupt},
		{"index swapped for another partition's", nil, shuffle.ErrCorrupt},
		{"missing index", func(t *testing.T, _, index string) { os.Remove(index) }, shuffle.ErrNotExist},
		{"missing data", func(t *testing.T, data, _ string) { os.Remove(data) }, shuffle.ErrNotExist},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := shuffle.PartitionID{Job: "j", Result: "e0", Producer: i}
			data, index, _ := stage(t, filepath.Join(parent, c.name), id, 5, 30)
			if c.damage != nil {
				c.damage(t, data, index)
			} else {
				other := shuffle.PartitionID{Job: "j", Result: "e9", Producer: i}
				_, oi, _ := stage(t, filepath.Join(parent, c.name+"-other"), other, 4, 10)
				index = oi
			}
			err := l.Adopt(id, data, index)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("adopt: %v, want %v", err, c.wantErr)
			}
			if _, err := l.Stat(ctx, id); !errors.Is(err, shuffle.ErrNotExist) {
				t.Fatalf("rejected partition is visible: %v", err)
			}
			if _, err := l.OpenReader(ctx, id, 0, 1); !errors.Is(err, shuffle.ErrNotExist) {
				t.Fatalf("rejected partition readable: %v", err)
			}
			if c.wantErr == shuffle.ErrCorrupt {
				if _, err := os.Stat(data); err != nil {
					t.Fatalf("a rejected adoption moved or deleted the staged data: %v", err)
				}
			}
		})
	}
}

func TestAdoptedCorruptBlockFailsReads(t *testing.T) {
	parent := t.TempDir()
	l := newLocal(t, shuffle.LocalConfig{Dir: filepath.Join(parent, "data")})
	id := shuffle.PartitionID{Job: "j", Result: "e0", Producer: 0}
	data, index, _ := stage(t, parent, id, 1, 50)
	flipByte(t, data, 8+13+5) // inside the first block's payload
	if err := l.Adopt(id, data, index); err != nil {
		t.Fatalf("adopt validates the index, not every block: %v", err)
	}
	if _, err := readSub(l, id, 0); !errors.Is(err, shuffle.ErrCorrupt) {
		t.Fatalf("read: %v, want ErrCorrupt", err)
	}
}

func TestAdoptAfterReleaseDiscardsFiles(t *testing.T) {
	parent := t.TempDir()
	l := newLocal(t, shuffle.LocalConfig{Dir: filepath.Join(parent, "data")})
	ctx := context.Background()
	id := shuffle.PartitionID{Job: "gone", Result: "e0", Producer: 0}
	data, index, _ := stage(t, parent, id, 2, 10)
	if err := l.Release(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := l.Adopt(id, data, index); !errors.Is(err, shuffle.ErrNotExist) {
		t.Fatalf("adopt into a released job: %v", err)
	}
	for _, p := range []string{data, index} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s not deleted: %v", p, err)
		}
	}
	if files := listFiles(t, l.Dir()); len(files) != 0 {
		t.Fatalf("files left: %v", files)
	}
}

func TestAdoptConflictsWithWriter(t *testing.T) {
	parent := t.TempDir()
	l := newLocal(t, shuffle.LocalConfig{Dir: filepath.Join(parent, "data")})
	ctx := context.Background()
	id := shuffle.PartitionID{Job: "j", Result: "e0", Producer: 0}
	w, err := l.CreateWriter(ctx, id, shuffle.WriterOptions{Mode: shuffle.Blocking, Subpartitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort(nil)
	data, index, _ := stage(t, parent, id, 2, 10)
	if err := l.Adopt(id, data, index); !errors.Is(err, shuffle.ErrExist) {
		t.Fatalf("adopt over a writer: %v", err)
	}
	if err := l.Adopt(id, data, index); !errors.Is(err, shuffle.ErrExist) {
		t.Fatalf("adopt over a writer: %v", err)
	}
	if _, err := l.CreateWriter(ctx, shuffle.PartitionID{Job: "j", Result: "e0", Producer: 1}, shuffle.WriterOptions{Mode: shuffle.Blocking, Subpartitions: 2}); err != nil {
		t.Fatal(err)
	}
}

func TestAdoptConcurrent(t *testing.T) {
	parent := t.TempDir()
	l := newLocal(t, shuffle.LocalConfig{Dir: filepath.Join(parent, "data")})
	ctx := context.Background()
	const producers = 8
	wants := make([][][][]byte, producers)
	var wg sync.WaitGroup
	ids := make([]shuffle.PartitionID, producers)
	for p := 0; p < producers; p++ {
		ids[p] = shuffle.PartitionID{Job: "j", Result: "e0", Producer: p}
		data, index, want := stage(t, parent, ids[p], 4, 20)
		wants[p] = want
		// Several retries of the same adoption race each other and a reader.
		for k := 0; k < 3; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := l.Adopt(ids[p], data, index)
				if err != nil && !errors.Is(err, shuffle.ErrExist) && !errors.Is(err, shuffle.ErrNotExist) {
					t.Errorf("adopt %s: %v", ids[p], err)
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r, err := l.OpenReader(ctx, ids[p], 0, 1); err == nil {
				r.Close()
			}
		}()
	}
	wg.Wait()
	for p := range ids {
		checkReads(t, l, ids[p], wants[p])
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func truncateBy(t *testing.T, path string, n int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	truncate(t, path, fi.Size()-n)
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}
