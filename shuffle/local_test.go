package shuffle_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dagflow/dagflow/shuffle"
	"github.com/dagflow/dagflow/shuffle/shuffletest"
)

func newLocal(t *testing.T, cfg shuffle.LocalConfig) *shuffle.Local {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(t.TempDir(), "shuffle")
	}
	cfg.Pipelined = shuffle.MemoryConfig{QueueBuffers: 8, PendingReaderTimeout: time.Second}
	l, err := shuffle.NewLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func TestLocalConformance(t *testing.T) {
	variants := []struct {
		name string
		cfg  shuffle.LocalConfig
	}{
		// A 256 KiB sort buffer makes the large test spill several regions.
		{"none", shuffle.LocalConfig{Compression: shuffle.CompressionNone, SortBufferBytes: 256 << 10}},
		{"s2", shuffle.LocalConfig{Compression: shuffle.CompressionS2, SortBufferBytes: 256 << 10}},
		{"lz4", shuffle.LocalConfig{Compression: shuffle.CompressionLZ4, SortBufferBytes: 256 << 10}},
		{"zstd", shuffle.LocalConfig{Compression: shuffle.CompressionZstd, SortBufferBytes: 256 << 10}},
		// Tiny buffers: a region every few KiB, blocks of a few buffers,
		// reads smaller than most blocks, broadcasts never inlined.
		{"tiny", shuffle.LocalConfig{SortBufferBytes: 4 << 10, BlockSize: 512, ReadSize: 1 << 10,
			WriteBufferSize: 512, BroadcastInlineMax: -1}},
		{"tiny-inline", shuffle.LocalConfig{Compression: shuffle.CompressionLZ4, SortBufferBytes: 8 << 10,
			BlockSize: 1 << 10, ReadSize: 4 << 10, BroadcastInlineMax: 1 << 10}},
		{"baseline-file-per-subpartition", shuffle.LocalConfig{Layout: shuffle.LayoutFilePerSubpartition, BlockSize: 4 << 10}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			shuffletest.Run(t, func(t *testing.T) shuffle.Service { return newLocal(t, v.cfg) })
		})
	}
}

// writeBlocking writes a blocking partition with n buffers per subpartition
// and a broadcast every 10 buffers, and returns what each subpartition
// should read.
func writeBlocking(t *testing.T, svc shuffle.Service, id shuffle.PartitionID, subs, n int) [][][]byte {
	t.Helper()
	ctx := context.Background()
	w, err := svc.CreateWriter(ctx, id, shuffle.WriterOptions{Mode: shuffle.Blocking, Subpartitions: subs})
	if err != nil {
		t.Fatal(err)
	}
	want := make([][][]byte, subs)
	for i := range n * subs {
		buf := bytes.Repeat([]byte{byte(i), byte(i >> 8), 'x'}, 1+i%200)
		if i%10 == 9 {
			if err := w.WriteBroadcast(ctx, buf); err != nil {
				t.Fatal(err)
			}
			for s := range want {
				want[s] = append(want[s], buf)
			}
			continue
		}
		s := i % subs
		if err := w.Write(ctx, s, buf); err != nil {
			t.Fatal(err)
		}
		want[s] = append(want[s], buf)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return want
}

func readSub(svc shuffle.Service, id shuffle.PartitionID, s int) ([][]byte, error) {
	ctx := context.Background()
	r, err := svc.OpenReader(ctx, id, s, s+1)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out [][]byte
	for {
		b, err := r.Next(ctx)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, bytes.Clone(b))
	}
}

func partitionFiles(t *testing.T, l *shuffle.Local, id shuffle.PartitionID) (data, index string) {
	t.Helper()
	dir := filepath.Join(l.Dir(), id.Job, id.Result)
	return filepath.Join(dir, "0.0.data"), filepath.Join(dir, "0.0.index")
}

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func TestLocalTwoFilesPerPartition(t *testing.T) {
	l := newLocal(t, shuffle.LocalConfig{SortBufferBytes: 8 << 10})
	for _, subs := range []int{1, 17, 300} {
		id := shuffle.PartitionID{Job: "job", Result: "r", Producer: subs}
		writeBlocking(t, l, id, subs, 20)
		st, err := l.Stat(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Files != 2 || st.Subpartitions != subs {
			t.Errorf("%d subpartitions: Stat = %+v, want Files=2", subs, st)
		}
	}
	files := listFiles(t, l.Dir())
	want := []string{"job/r/1.0.data", "job/r/1.0.index", "job/r/17.0.data", "job/r/17.0.index", "job/r/300.0.data", "job/r/300.0.index"}
	if strings.Join(files, " ") != strings.Join(want, " ") {
		t.Errorf("files = %v, want %v", files, want)
	}
}

func TestLocalBaselineFiles(t *testing.T) {
	l := newLocal(t, shuffle.LocalConfig{Layout: shuffle.LayoutFilePerSubpartition})
	id := shuffle.PartitionID{Job: "job", Result: "r"}
	want := writeBlocking(t, l, id, 5, 20)
	st, _ := l.Stat(context.Background(), id)
	if st.Files != 5 || len(listFiles(t, l.Dir())) != 5 {
		t.Errorf("baseline: Stat.Files = %d, files = %v, want 5", st.Files, listFiles(t, l.Dir()))
	}
	got, err := readSub(l, id, 3)
	if err != nil || len(got) != len(want[3]) {
		t.Fatalf("baseline read: %d buffers, %v", len(got), err)
	}
	// Truncating a baseline file is caught when reading it.
	p := filepath.Join(l.Dir(), "job", "r", "0.0.sub3.data")
	fi, _ := os.Stat(p)
	if err := os.Truncate(p, fi.Size()-3); err != nil {
		t.Fatal(err)
	}
	_, err = readSub(l, id, 3)
	if !errors.Is(err, shuffle.ErrCorrupt) || !strings.Contains(err.Error(), p) {
		t.Errorf("truncated baseline file: %v, want ErrCorrupt naming %s", err, p)
	}
}

// TestLocalCorruptByte flips bytes all over the data and index files: every
// read must fail with ErrCorrupt naming the file, never return wrong data.
func TestLocalCorruptByte(t *testing.T) {
	for _, c := range []shuffle.Compression{shuffle.CompressionNone, shuffle.CompressionS2, shuffle.CompressionLZ4, shuffle.CompressionZstd} {
		t.Run(c.String(), func(t *testing.T) {
			l := newLocal(t, shuffle.LocalConfig{Compression: c, SortBufferBytes: 16 << 10, BlockSize: 2 << 10})
			id := shuffle.PartitionID{Job: "job", Result: "r"}
			want := writeBlocking(t, l, id, 3, 60)
			data, index := partitionFiles(t, l, id)
			for _, path := range []string{data, index} {
				orig, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				step := max(1, len(orig)/40)
				for off := 0; off < len(orig); off += step {
					mod := bytes.Clone(orig)
					mod[off] ^= 0x5a
					if err := os.WriteFile(path, mod, 0o644); err != nil {
						t.Fatal(err)
					}
					sawCorrupt := false
					for s := range 3 {
						got, err := readSub(l, id, s)
						switch {
						case errors.Is(err, shuffle.ErrCorrupt):
							sawCorrupt = true
							if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "offset") {
								t.Fatalf("error does not name the file and offset: %v", err)
							}
						case err != nil:
							t.Fatalf("byte %d of %s: unexpected error %v", off, filepath.Base(path), err)
						default:
							// A subpartition not covering the byte reads fine.
							if len(got) != len(want[s]) {
								t.Fatalf("byte %d of %s: subpartition %d read %d buffers, want %d", off, filepath.Base(path), s, len(got), len(want[s]))
							}
							for i := range got {
								if !bytes.Equal(got[i], want[s][i]) {
									t.Fatalf("byte %d of %s: subpartition %d returned wrong data", off, filepath.Base(path), s)
								}
							}
						}
					}
					if !sawCorrupt {
						t.Errorf("flipping byte %d of %s went unnoticed", off, filepath.Base(path))
					}
				}
				if err := os.WriteFile(path, orig, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestLocalTruncated(t *testing.T) {
	l := newLocal(t, shuffle.LocalConfig{SortBufferBytes: 16 << 10})
	id := shuffle.PartitionID{Job: "job", Result: "r"}
	writeBlocking(t, l, id, 3, 50)
	data, index := partitionFiles(t, l, id)
	for _, path := range []string{data, index} {
		orig, _ := os.ReadFile(path)
		for _, n := range []int{0, 5, len(orig) / 2, len(orig) - 1} {
			if err := os.WriteFile(path, orig[:n], 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := readSub(l, id, 1)
			if !errors.Is(err, shuffle.ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Errorf("%s truncated to %d bytes: %v, want ErrCorrupt naming it", filepath.Base(path), n, err)
			}
		}
		if err := os.WriteFile(path, orig, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := readSub(l, id, 1); err != nil {
		t.Fatalf("restored partition: %v", err)
	}
}

// TestLocalMissingFiles: a partition whose index or data file disappeared
// is lost (ErrNotExist), like a released one; the scheduler reruns it.
func TestLocalMissingFiles(t *testing.T) {
	l := newLocal(t, shuffle.LocalConfig{})
	id := shuffle.PartitionID{Job: "job", Result: "r"}
	writeBlocking(t, l, id, 2, 10)
	data, index := partitionFiles(t, l, id)
	for _, path := range []string{index, data} {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		_, err := readSub(l, id, 0)
		if !errors.Is(err, shuffle.ErrNotExist) || !strings.Contains(err.Error(), path) {
			t.Errorf("without %s: %v, want ErrNotExist naming it", filepath.Base(path), err)
		}
	}
}

func TestLocalInvisibleUntilCommit(t *testing.T) {
	l := newLocal(t, shuffle.LocalConfig{SortBufferBytes: 4 << 10})
	ctx := context.Background()
	id := shuffle.PartitionID{Job: "job", Result: "r"}
	w, err := l.CreateWriter(ctx, id, shuffle.WriterOptions{Mode: shuffle.Blocking, Subpartitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := w.Write(ctx, i%4, bytes.Repeat([]byte("y"), 300)); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range listFiles(t, l.Dir()) {
		if strings.HasSuffix(f, ".data") || strings.HasSuffix(f, ".index") {
			t.Errorf("visible file %s before Commit", f)
		}
	}
	w.Abort(errors.New("test"))
	if files := listFiles(t, l.Dir()); len(files) != 0 {
		t.Errorf("files left after Abort: %v", files)
	}
}

func TestLocalReleaseAndClose(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "svc")
	l := newLocal(t, shuffle.LocalConfig{Dir: dir})
	ctx := context.Background()
	writeBlocking(t, l, shuffle.PartitionID{Job: "a/../b", Result: "r"}, 2, 5)
	writeBlocking(t, l, shuffle.PartitionID{Job: "c", Result: "r"}, 2, 5)
	if err := l.Release(ctx, "a/../b"); err != nil {
		t.Fatal(err)
	}
	if files := listFiles(t, dir); len(files) != 2 || !strings.HasPrefix(files[0], "c/") {
		t.Errorf("after Release: %v, want only job c's files", files)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("service directory still exists after Close: %v", err)
	}
	// A directory the service did not create is kept, but emptied.
	pre := t.TempDir()
	l2 := newLocal(t, shuffle.LocalConfig{Dir: pre})
	writeBlocking(t, l2, shuffle.PartitionID{Job: "j", Result: "r"}, 2, 5)
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	if ents, err := os.ReadDir(pre); err != nil || len(ents) != 0 {
		t.Errorf("pre-existing directory after Close: %v, %v", ents, err)
	}
}

func TestLocalBroadcastStoredOnce(t *testing.T) {
	ctx := context.Background()
	big := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 10<<10/7)
	sizes := map[shuffle.Layout]int64{}
	for _, layout := range []shuffle.Layout{shuffle.LayoutSortMerge, shuffle.LayoutFilePerSubpartition} {
		l := newLocal(t, shuffle.LocalConfig{Compression: shuffle.CompressionNone, Layout: layout})
		id := shuffle.PartitionID{Job: "j", Result: "r"}
		w, err := l.CreateWriter(ctx, id, shuffle.WriterOptions{Mode: shuffle.Blocking, Subpartitions: 50})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(ctx, 7, []byte("before")); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteBroadcast(ctx, big); err != nil {
			t.Fatal(err)
		}
		if err := w.Write(ctx, 7, []byte("after")); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		st, _ := l.Stat(ctx, id)
		sizes[layout] = st.Bytes
		for _, s := range []int{0, 7, 49} {
			got, err := readSub(l, id, s)
			if err != nil {
				t.Fatal(err)
			}
			want := [][]byte{big}
			if s == 7 {
				want = [][]byte{[]byte("before"), big, []byte("after")}
			}
			if len(got) != len(want) {
				t.Fatalf("%v subpartition %d: %d buffers, want %d", layout, s, len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("%v subpartition %d buffer %d differs", layout, s, i)
				}
			}
		}
	}
	if sizes[shuffle.LayoutSortMerge] > 2*int64(len(big)) {
		t.Errorf("sort-merge stored %d bytes for one %d byte broadcast to 50 subpartitions", sizes[shuffle.LayoutSortMerge], len(big))
	}
	if sizes[shuffle.LayoutFilePerSubpartition] < 50*int64(len(big)) {
		t.Errorf("baseline stored only %d bytes", sizes[shuffle.LayoutFilePerSubpartition])
	}
}

func TestLocalConfigValidation(t *testing.T) {
	for _, cfg := range []shuffle.LocalConfig{
		{},
		{Dir: t.TempDir(), SortBufferBytes: 10},
		{Dir: t.TempDir(), BlockSize: 1 << 30},
		{Dir: t.TempDir(), Compression: 99},
		{Dir: t.TempDir(), Layout: 9},
	} {
		if l, err := shuffle.NewLocal(cfg); err == nil {
			l.Close()
			t.Errorf("NewLocal(%+v) succeeded", cfg)
		}
	}
	for _, s := range []string{"", "none", "S2", "lz4", "zstd"} {
		if _, err := shuffle.ParseCompression(s); err != nil {
			t.Errorf("ParseCompression(%q): %v", s, err)
		}
	}
	if _, err := shuffle.ParseCompression("gzip"); err == nil {
		t.Error("ParseCompression(gzip) succeeded")
	}
}

// TestNoGoroutineLeak: blocked writers and readers, cancellations, aborts,
// zstd codecs and Close leave no goroutine behind.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, svc := range []shuffle.Service{
		shuffle.NewMemory(shuffle.MemoryConfig{QueueBuffers: 2}),
		newLocal(t, shuffle.LocalConfig{Compression: shuffle.CompressionZstd}),
	} {
		ctx, cancel := context.WithCancel(context.Background())
		id := shuffle.PartitionID{Job: "j", Result: "p"}
		w, err := svc.CreateWriter(ctx, id, shuffle.WriterOptions{Mode: shuffle.Pipelined, Subpartitions: 2})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 2)
		go func() { // blocks on back-pressure until cancel
			for {
				if err := w.Write(ctx, 0, []byte("x")); err != nil {
					done <- err
					return
				}
			}
		}()
		r, err := svc.OpenReader(ctx, id, 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		go func() { // blocks waiting for data until Close
			_, err := r.Next(context.Background())
			done <- err
		}()
		bid := shuffle.PartitionID{Job: "j", Result: "b"}
		writeBlocking(t, svc, bid, 3, 20)
		if _, err := readSub(svc, bid, 1); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		cancel()
		<-done
		w.Abort(nil)
		<-done
		r.Close()
		if err := svc.Close(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
