package checkpoint_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/io/filesystem"
)

// richCheckpoint writes a checkpoint with inline, merged, own-file and
// shared state (merged and own) and returns its metadata and the bytes of
// every handle in allHandles order.
func richCheckpoint(t testing.TB, s *checkpoint.Storage, id int64) (*checkpoint.Metadata, [][]byte) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(id), 11))
	w := s.NewCheckpointWriter(id, "w")
	var hs []checkpoint.Handle
	var datas [][]byte
	for _, n := range []int{10, 700, 3000, 3000, 20000} {
		d := payload(rng, n)
		h, err := w.Write(bg, d)
		if err != nil {
			t.Fatal(err)
		}
		hs, datas = append(hs, h), append(datas, d)
	}
	var shared []checkpoint.Handle
	var sdatas [][]byte
	dir := t.TempDir()
	for i, n := range []int{2000, 30000} {
		d := payload(rng, n)
		h, err := w.UploadShared(bg, writeLocal(t, dir, fmt.Sprint(i), d), fmt.Sprintf("u/%d.sst", i))
		if err != nil {
			t.Fatal(err)
		}
		shared, sdatas = append(shared, h), append(sdatas, d)
	}
	if _, err := w.Close(bg); err != nil {
		t.Fatal(err)
	}
	// The same range twice (copied once into a savepoint).
	hs = append(hs, hs[2])
	datas = append(datas, datas[2])
	md := metadataOf(id, hs, shared)
	return md, append(datas, sdatas...)
}

func TestSavepointRelocation(t *testing.T) {
	e := newEnv(t)
	opts := checkpoint.DefaultOptions()
	opts.MergeThreshold = 16 << 10
	s := e.storage(t, opts)
	md, datas := richCheckpoint(t, s, 7)
	if err := s.Complete(bg, md); err != nil {
		t.Fatal(err)
	}
	spDir := "file://" + filepath.ToSlash(t.TempDir())
	sp, err := s.WriteSavepoint(bg, md, spDir)
	if err != nil {
		t.Fatal(err)
	}
	if want := spDir + "/savepoint-job1-7"; sp != want {
		t.Fatalf("savepoint at %s, want %s", sp, want)
	}
	if _, err := s.WriteSavepoint(bg, md, spDir); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second savepoint to the same place: err = %v", err)
	}
	// Small ranges merged into one segment, the 2 large ones copied: 3
	// data files and the metadata.
	entries, _ := os.ReadDir(e.local(sp))
	if len(entries) != 4 {
		t.Fatalf("savepoint holds %d files, want 4", len(entries))
	}
	// Move it elsewhere and drop the checkpoint storage entirely.
	moved := filepath.Join(t.TempDir(), "moved")
	if err := os.Rename(e.local(sp), moved); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(e.dir, "job1")); err != nil {
		t.Fatal(err)
	}
	for _, uri := range []string{"file://" + filepath.ToSlash(moved), filepath.ToSlash(moved) + "/_metadata", filepath.ToSlash(moved) + "/"} {
		got, err := checkpoint.LoadSavepoint(bg, e.reg, uri)
		if err != nil {
			t.Fatal(err)
		}
		hs := allHandles(got)
		if len(hs) != len(datas) || got.ID != 7 || got.Job != "job1" {
			t.Fatalf("loaded %d handles of checkpoint %d, want %d of 7", len(hs), got.ID, len(datas))
		}
		for i, h := range hs {
			if h.Path != "" && !strings.Contains(h.Path, "/moved/") {
				t.Fatalf("handle %d points outside the savepoint: %s", i, h.Path)
			}
			b, err := s.Read(bg, h)
			if err != nil || !bytes.Equal(b, datas[i]) {
				t.Fatalf("handle %d: %v", i, err)
			}
		}
	}
	// A savepoint missing a file does not load.
	segs, _ := filepath.Glob(filepath.Join(moved, "*.seg"))
	if len(segs) != 1 {
		t.Fatalf("segments %v", segs)
	}
	os.Remove(segs[0])
	if _, err := checkpoint.LoadSavepoint(bg, e.reg, moved); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("savepoint without its segment: err = %v", err)
	}
}

func TestLoadCheckpoint(t *testing.T) {
	e := newEnv(t)
	s := e.storage(t, checkpoint.DefaultOptions())
	md, datas := richCheckpoint(t, s, 3)
	if err := s.Complete(bg, md); err != nil {
		t.Fatal(err)
	}
	got, err := checkpoint.LoadCheckpoint(bg, e.reg, s.CheckpointDir(3))
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range allHandles(got) {
		if b, err := s.Read(bg, h); err != nil || !bytes.Equal(b, datas[i]) {
			t.Fatalf("handle %d: %v", i, err)
		}
	}
	if _, err := checkpoint.LoadCheckpoint(bg, e.reg, s.CheckpointDir(4)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing checkpoint: err = %v", err)
	}
}

// TestConcurrentWriters writes from many goroutines through one writer
// (run with -race).
func TestConcurrentWriters(t *testing.T) {
	e := newEnv(t)
	opts := checkpoint.DefaultOptions()
	opts.MergeThreshold = 8 << 10
	opts.MaxSegmentSize = 256 << 10
	s := e.storage(t, opts)
	w := s.NewCheckpointWriter(1, "w")
	const goroutines, perG = 8, 150
	hs := make([][]checkpoint.Handle, goroutines)
	datas := make([][][]byte, goroutines)
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	local := t.TempDir()
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 5))
			for i := range perG {
				d := payload(rng, rng.IntN(12000))
				var h checkpoint.Handle
				var err error
				if i%25 == 0 {
					p := filepath.Join(local, fmt.Sprint(g, "-", i))
					if err = os.WriteFile(p, d, 0o644); err == nil {
						h, err = w.UploadShared(context.Background(), p, fmt.Sprintf("u/%d-%d", g, i))
					}
				} else {
					h, err = w.Write(context.Background(), d)
				}
				if err != nil {
					errs <- err
					return
				}
				hs[g], datas[g] = append(hs[g], h), append(datas[g], d)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st, err := w.Close(bg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Handles != goroutines*perG {
		t.Fatalf("stats %+v", st)
	}
	// No two ranges of a file overlap, and all read back.
	type rng struct{ off, end int64 }
	byFile := map[string][]rng{}
	r := checkpoint.NewReader(e.reg)
	defer r.Close()
	for g := range goroutines {
		for i, h := range hs[g] {
			if h.Path != "" {
				for _, o := range byFile[h.Path] {
					if h.Offset < o.end && o.off < h.Offset+h.Length {
						t.Fatalf("ranges overlap in %s", h.Path)
					}
				}
				byFile[h.Path] = append(byFile[h.Path], rng{h.Offset, h.Offset + h.Length})
			}
			b, err := r.Read(bg, h)
			if err != nil || !bytes.Equal(b, datas[g][i]) {
				t.Fatalf("goroutine %d handle %d: %v", g, i, err)
			}
		}
	}
	if _, err := w.Write(bg, []byte("late")); err == nil {
		t.Fatal("write after Close succeeded")
	}
}

func FuzzDecodeMetadata(f *testing.F) {
	md := metadataOf(3, []checkpoint.Handle{
		{Inline: []byte("abc"), Length: 3, CRC: crc("abc")},
		{Path: "hdfs://nn/x/chk-3/w-0.seg", Offset: 10, Length: 20, CRC: 5},
	}, []checkpoint.Handle{{Path: "data-0.seg", Length: 4}})
	md.Tasks[0].InputOffsets = map[string]int64{"e1/0": 4}
	good, err := checkpoint.EncodeMetadata(md)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:30])
	f.Add([]byte{})
	empty, _ := checkpoint.EncodeMetadata(&checkpoint.Metadata{})
	f.Add(empty)
	f.Add(good[24:]) // a body: framed below with a valid header
	f.Add([]byte(`{"version":1,"tasks":[{"operators":[{"keyGroups":[{"h":{"len":-1}}]}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Raw input, and the input as a body under a valid header so the
		// fuzzer reaches the JSON and handle checks.
		checkDecode(t, data)
		hdr := make([]byte, 24)
		copy(hdr, "DFCKPT\x00\n")
		binary.BigEndian.PutUint32(hdr[8:], checkpoint.FormatVersion)
		binary.BigEndian.PutUint64(hdr[12:], uint64(len(data)))
		binary.BigEndian.PutUint32(hdr[20:], crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
		checkDecode(t, append(hdr, data...))
	})
}

func checkDecode(t *testing.T, data []byte) {
	{
		md, err := checkpoint.DecodeMetadata(data)
		if err != nil {
			if !errors.Is(err, checkpoint.ErrCorrupt) && !errors.Is(err, checkpoint.ErrUnknownVersion) {
				t.Fatalf("error matches neither ErrCorrupt nor ErrUnknownVersion: %v", err)
			}
			return
		}
		again, err := checkpoint.EncodeMetadata(md)
		if err != nil {
			t.Fatal(err)
		}
		md2, err := checkpoint.DecodeMetadata(again)
		if err != nil {
			t.Fatalf("re-encoded metadata does not decode: %v", err)
		}
		if md2.ID != md.ID || len(md2.Tasks) != len(md.Tasks) {
			t.Fatal("round trip changed the metadata")
		}
	}
}

// TestNilRegistry uses plain local paths and a nil registry.
func TestNilRegistry(t *testing.T) {
	var reg *filesystem.Registry
	s, err := checkpoint.NewStorage(reg, t.TempDir(), "j", checkpoint.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	md := writeCheckpoint(t, s, 1, 3, 2000, nil)
	if err := s.Complete(bg, md); err != nil {
		t.Fatal(err)
	}
	got, err := s.Latest(bg)
	if err != nil || got.ID != 1 {
		t.Fatalf("Latest = %v, %v", got, err)
	}
	if _, err := checkpoint.NewStorage(reg, t.TempDir(), "a/b", checkpoint.DefaultOptions()); err == nil {
		t.Fatal("job id with a slash accepted")
	}
}
