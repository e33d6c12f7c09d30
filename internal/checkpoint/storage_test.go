package checkpoint_test

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/internal/checkpoint"
)

func TestWriteReadRoundTrip(t *testing.T) {
	cases := []struct {
		name  string
		size  int
		merge bool
		want  string // "inline", "segment" or "own"
	}{
		{"empty", 0, true, "inline"},
		{"tiny", 100, true, "inline"},
		{"at inline threshold", 512, true, "inline"},
		{"above inline threshold merged", 513, true, "segment"},
		{"few KiB merged", 4096, true, "segment"},
		{"below merge threshold", 64<<10 - 1, true, "segment"},
		{"at merge threshold", 64 << 10, true, "own"},
		{"few KiB merging off", 4096, false, "own"},
		{"tiny merging off", 10, false, "inline"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			opts := checkpoint.DefaultOptions()
			opts.MergeEnabled = tc.merge
			opts.MergeThreshold = 64 << 10
			s := e.storage(t, opts)
			w := s.NewCheckpointWriter(1, "worker:7000")
			data := payload(rand.New(rand.NewPCG(1, uint64(tc.size))), tc.size)
			h, err := w.Write(bg, data)
			if err != nil {
				t.Fatal(err)
			}
			// A second handle behind the first in a segment.
			h2, err := w.Write(bg, data)
			if err != nil {
				t.Fatal(err)
			}
			st, err := w.Close(bg)
			if err != nil {
				t.Fatal(err)
			}
			got := "own"
			switch {
			case h.Path == "":
				got = "inline"
			case strings.HasSuffix(h.Path, ".seg"):
				got = "segment"
			}
			if got != tc.want {
				t.Fatalf("handle %+v is %s, want %s", h, got, tc.want)
			}
			wantFiles := map[string]int{"inline": 0, "segment": 1, "own": 2}[tc.want]
			if st.Files != wantFiles || st.Handles != 2 {
				t.Fatalf("stats %+v, want %d files and 2 handles", st, wantFiles)
			}
			if tc.want == "segment" && (h2.Path != h.Path || h2.Offset != int64(tc.size)) {
				t.Fatalf("second handle %+v does not follow the first in its segment", h2)
			}
			for _, hh := range []checkpoint.Handle{h, h2} {
				back, err := s.Read(bg, hh)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(back, data) {
					t.Fatalf("read back %d bytes differing from the %d written", len(back), len(data))
				}
				local := filepath.Join(t.TempDir(), "dl")
				if err := s.Download(bg, hh, local); err != nil {
					t.Fatal(err)
				}
				if b, _ := os.ReadFile(local); !bytes.Equal(b, data) {
					t.Fatal("downloaded bytes differ")
				}
			}
		})
	}
}

func TestSegmentRollover(t *testing.T) {
	e := newEnv(t)
	opts := checkpoint.DefaultOptions()
	opts.MaxSegmentSize = 10 << 10
	s := e.storage(t, opts)
	w := s.NewCheckpointWriter(3, "w")
	rng := rand.New(rand.NewPCG(2, 2))
	var hs []checkpoint.Handle
	var datas [][]byte
	for range 30 {
		d := payload(rng, 1024)
		h, err := w.Write(bg, d)
		if err != nil {
			t.Fatal(err)
		}
		hs, datas = append(hs, h), append(datas, d)
	}
	st, err := w.Close(bg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != 3 || st.Bytes != 30*1024 {
		t.Fatalf("stats %+v, want 3 segments of 10 KiB", st)
	}
	for i, h := range hs {
		if h.Offset+h.Length > opts.MaxSegmentSize {
			t.Fatalf("handle %d %+v crosses the segment size", i, h)
		}
		b, err := s.Read(bg, h)
		if err != nil || !bytes.Equal(b, datas[i]) {
			t.Fatalf("handle %d: %v", i, err)
		}
	}
}

func TestCorruptionDetected(t *testing.T) {
	e := newEnv(t)
	s := e.storage(t, checkpoint.DefaultOptions())
	w := s.NewCheckpointWriter(1, "w")
	rng := rand.New(rand.NewPCG(3, 3))
	h1, _ := w.Write(bg, payload(rng, 2000))
	h2, err := w.Write(bg, payload(rng, 3000))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Close(bg); err != nil {
		t.Fatal(err)
	}
	seg := e.local(h2.Path)
	b, _ := os.ReadFile(seg)
	b[h2.Offset+17] ^= 0x40
	if err := os.WriteFile(seg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(bg, h1); err != nil {
		t.Fatalf("untouched handle: %v", err)
	}
	_, err = s.Read(bg, h2)
	if !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), h2.Path) || !strings.Contains(err.Error(), "offset 2000") {
		t.Fatalf("flipped bit: err = %v, want ErrCorrupt naming %s at offset 2000", err, h2.Path)
	}
	if err := s.Download(bg, h2, filepath.Join(t.TempDir(), "x")); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Fatalf("download of corrupt state: err = %v", err)
	}
	if err := os.Truncate(seg, 4000); err != nil {
		t.Fatal(err)
	}
	_, err = s.Read(bg, h2)
	if !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), "short") {
		t.Fatalf("truncated: err = %v, want a short-file ErrCorrupt", err)
	}
	if err := s.Download(bg, h2, filepath.Join(t.TempDir(), "x")); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Fatalf("download of truncated state: err = %v", err)
	}
	bad := checkpoint.Handle{Inline: []byte("abc"), Length: 3, CRC: 1}
	if _, err := s.Read(bg, bad); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Fatalf("inline with a bad CRC: err = %v", err)
	}
}

func TestWriterAbortRemovesFiles(t *testing.T) {
	e := newEnv(t)
	opts := checkpoint.DefaultOptions()
	opts.MergeThreshold = 8 << 10
	s := e.storage(t, opts)
	w := s.NewCheckpointWriter(5, "w")
	rng := rand.New(rand.NewPCG(4, 4))
	for _, n := range []int{1000, 20000, 3000} {
		if _, err := w.Write(bg, payload(rng, n)); err != nil {
			t.Fatal(err)
		}
	}
	src := writeLocal(t, t.TempDir(), "000001.sst", payload(rng, 30000))
	if _, err := w.UploadShared(bg, src, "uuid/000001.sst"); err != nil {
		t.Fatal(err)
	}
	if len(e.files(t)) != 3 {
		t.Fatalf("files before abort: %v", e.files(t))
	}
	if err := w.Abort(bg); err != nil {
		t.Fatal(err)
	}
	if f := e.files(t); len(f) != 0 {
		t.Fatalf("files after abort: %v", f)
	}
	if _, err := w.Write(bg, []byte("x")); err == nil {
		t.Fatal("write after abort succeeded")
	}
}

func TestUploadShared(t *testing.T) {
	e := newEnv(t)
	opts := checkpoint.DefaultOptions()
	opts.MergeThreshold = 8 << 10
	s := e.storage(t, opts)
	rng := rand.New(rand.NewPCG(5, 5))
	dir := t.TempDir()
	small := payload(rng, 3000)
	big := payload(rng, 50000)
	ps, pb := writeLocal(t, dir, "s.sst", small), writeLocal(t, dir, "b.sst", big)

	// Job-level upload, idempotent.
	h, err := s.UploadShared(bg, pb, "u1/000009.sst")
	if err != nil {
		t.Fatal(err)
	}
	if h2, err := s.UploadShared(bg, pb, "u1/000009.sst"); err != nil || h2.Path != h.Path || h2.CRC != h.CRC || h2.Length != h.Length {
		t.Fatalf("repeated upload: %+v, %v", h2, err)
	}
	if _, err := s.UploadShared(bg, ps, "u1/000009.sst"); err == nil {
		t.Fatal("upload of other content under an existing key succeeded")
	}
	for _, key := range []string{"", "/abs", "../up", "a/../b", "a//b"} {
		if _, err := s.UploadShared(bg, pb, key); err == nil {
			t.Fatalf("key %q accepted", key)
		}
	}
	// Through a checkpoint writer: small one merged.
	w := s.NewCheckpointWriter(1, "w")
	hs, err := w.UploadShared(bg, ps, "u1/000010.sst")
	if err != nil {
		t.Fatal(err)
	}
	hb, err := w.UploadShared(bg, pb, "u1/000011.sst")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Close(bg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(hs.Path, "/shared/chk-1/") || !strings.HasSuffix(hs.Path, ".seg") {
		t.Fatalf("small shared file at %s", hs.Path)
	}
	if !strings.HasSuffix(hb.Path, "/shared/chk-1/u1/000011.sst") {
		t.Fatalf("large shared file at %s", hb.Path)
	}
	for _, c := range []struct {
		h    checkpoint.Handle
		want []byte
	}{{h, big}, {hs, small}, {hb, big}} {
		b, err := s.Read(bg, c.h)
		if err != nil || !bytes.Equal(b, c.want) {
			t.Fatalf("read %+v: %v", c.h, err)
		}
	}
}

func TestMetadataErrors(t *testing.T) {
	e := newEnv(t)
	s := e.storage(t, checkpoint.DefaultOptions())
	md := metadataOf(1, []checkpoint.Handle{{Inline: []byte("x"), Length: 1, CRC: crc("x")}}, nil)
	if err := s.Complete(bg, md); err != nil {
		t.Fatal(err)
	}
	uri := s.CheckpointDir(1) + "/_metadata"
	got, err := checkpoint.ReadMetadata(bg, e.reg, uri)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != 1 || got.Job != "job1" || got.Version != checkpoint.FormatVersion || len(got.Tasks) != 1 {
		t.Fatalf("read back %+v", got)
	}
	good, _ := os.ReadFile(e.local(uri))
	cases := []struct {
		name    string
		mutate  func([]byte) []byte
		want    error
		message string
	}{
		{"missing", nil, fs.ErrNotExist, "no such file"},
		{"bad magic", func(b []byte) []byte { b[0] = 'X'; return b }, checkpoint.ErrCorrupt, "bad magic"},
		{"checksum", func(b []byte) []byte { b[len(b)-3] ^= 1; return b }, checkpoint.ErrCorrupt, "checksum mismatch"},
		{"unknown version", func(b []byte) []byte { b[11] = 9; return b }, checkpoint.ErrUnknownVersion, "version 9"},
		{"truncated header", func(b []byte) []byte { return b[:10] }, checkpoint.ErrCorrupt, "header"},
		{"truncated body", func(b []byte) []byte { return b[:len(b)-1] }, checkpoint.ErrCorrupt, "body bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "_metadata")
			if tc.mutate != nil {
				if err := os.WriteFile(p, tc.mutate(bytes.Clone(good)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			u := "file://" + filepath.ToSlash(p)
			_, err := checkpoint.ReadMetadata(bg, e.reg, u)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), u) || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("err = %v, want %v naming %s and saying %q", err, tc.want, u, tc.message)
			}
		})
	}
}

func TestCountingFS(t *testing.T) {
	e := newEnv(t)
	s := e.storage(t, checkpoint.DefaultOptions())
	before := e.cfs.Ops()
	w := s.NewCheckpointWriter(1, "w")
	for range 10 {
		if _, err := w.Write(bg, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Close(bg); err != nil {
		t.Fatal(err)
	}
	ops := e.cfs.Ops().Sub(before)
	if ops.Create != 1 || ops.BytesWritten != 10000 || ops.Total() != 1 {
		t.Fatalf("ops %v, want one create of 10000 bytes", ops)
	}
}
