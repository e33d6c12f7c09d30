package checkpoint_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/internal/checkpoint"
)

// writeCheckpoint writes n key-group handles of size bytes for checkpoint
// id and returns the metadata (not completed).
func writeCheckpoint(t testing.TB, s *checkpoint.Storage, id int64, n, size int, shared []checkpoint.Handle) *checkpoint.Metadata {
	t.Helper()
	w := s.NewCheckpointWriter(id, "w")
	rng := rand.New(rand.NewPCG(uint64(id), 9))
	var hs []checkpoint.Handle
	for range n {
		h, err := w.Write(bg, payload(rng, size))
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	if _, err := w.Close(bg); err != nil {
		t.Fatal(err)
	}
	return metadataOf(id, hs, shared)
}

func TestLatestFallsBack(t *testing.T) {
	e := newEnv(t)
	opts := checkpoint.DefaultOptions()
	opts.MergeThreshold = 4 << 10
	s := e.storage(t, opts)
	if _, err := s.Latest(bg); !errors.Is(err, checkpoint.ErrNoCheckpoint) {
		t.Fatalf("empty storage: err = %v", err)
	}
	mds := map[int64]*checkpoint.Metadata{}
	for id := int64(1); id <= 3; id++ {
		mds[id] = writeCheckpoint(t, s, id, 4, 1000, nil)
		// One own file per checkpoint too.
		w := s.NewCheckpointWriter(id, "big")
		h, err := w.Write(bg, make([]byte, 5000))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Close(bg); err != nil {
			t.Fatal(err)
		}
		mds[id].Tasks[0].Operators[0].Operator = []checkpoint.Handle{h}
		if err := s.Complete(bg, mds[id]); err != nil {
			t.Fatal(err)
		}
	}
	// An unfinished checkpoint 4 (no metadata) is skipped silently.
	writeCheckpoint(t, s, 4, 2, 1000, nil)
	md, err := s.Latest(bg)
	if err != nil || md.ID != 3 {
		t.Fatalf("Latest = %v, %v; want checkpoint 3", md, err)
	}

	// Checkpoint 3 loses its segment: fall back to 2, saying why.
	seg := mds[3].Tasks[0].Operators[0].KeyGroups[0].Handle.Path
	before := e.cfs.Ops()
	if err := os.Remove(e.local(seg)); err != nil {
		t.Fatal(err)
	}
	md, err = s.Latest(bg)
	if err != nil || md.ID != 2 {
		t.Fatalf("Latest = %v, %v; want checkpoint 2", md, err)
	}
	if log := e.log.String(); !strings.Contains(log, "id=3") || !strings.Contains(log, filepath.Base(seg)) {
		t.Fatalf("log does not name checkpoint 3 and its missing segment:\n%s", log)
	}
	// Each distinct file is stated once: checkpoint 3 stops at its missing
	// first file or goes on; checkpoint 2 has two files.
	if ops := e.cfs.Ops().Sub(before); ops.Stat > 4 {
		t.Fatalf("Latest made %d stats for 2 checkpoints of 2 files", ops.Stat)
	}

	// Checkpoint 2's own file is truncated: fall back to 1.
	own := mds[2].Tasks[0].Operators[0].Operator[0].Path
	if err := os.Truncate(e.local(own), 100); err != nil {
		t.Fatal(err)
	}
	md, err = s.Latest(bg)
	if err != nil || md.ID != 1 {
		t.Fatalf("Latest = %v, %v; want checkpoint 1", md, err)
	}
	if !strings.Contains(e.log.String(), "has 100 bytes") {
		t.Fatalf("log does not say the file is short:\n%s", e.log.String())
	}

	// Checkpoint 1's metadata is corrupt: nothing is left.
	meta := e.local(s.CheckpointDir(1) + "/_metadata")
	b, _ := os.ReadFile(meta)
	b[len(b)-2] ^= 1
	if err := os.WriteFile(meta, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = s.Latest(bg)
	if !errors.Is(err, checkpoint.ErrNoCheckpoint) || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("err = %v, want ErrNoCheckpoint with the reasons", err)
	}
}

// modelCheckpoint is what the model knows of a completed checkpoint.
type modelCheckpoint struct {
	id    int64
	md    *checkpoint.Metadata
	files []string // referenced files, relative
}

// TestRetentionModel runs random sequences of checkpoints that write
// exclusive state, upload new shared files and reference shared files of
// the latest completed checkpoint, then complete or abort, with occasional
// master restarts (Recover on a new Storage). After every step the files
// on disk must be exactly the metadata and referenced files of the
// retained checkpoints, and every retained handle must read back.
func TestRetentionModel(t *testing.T) {
	seeds := 8
	if testing.Short() {
		seeds = 3
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { runRetentionModel(t, uint64(seed)) })
	}
}

func runRetentionModel(t *testing.T, seed uint64) {
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(seed, 77))
	opts := checkpoint.DefaultOptions()
	opts.Retain = 1 + rng.IntN(3)
	opts.MergeThreshold = 4 << 10
	opts.MaxSegmentSize = 16 << 10
	opts.MergeEnabled = rng.IntN(4) != 0
	s := e.storage(t, opts)
	local := t.TempDir()
	var retained []modelCheckpoint
	for id := int64(1); id <= 25; id++ {
		// Shared handles of the latest completed checkpoint, a random
		// subset, as an incremental backend references its older files.
		var shared []checkpoint.Handle
		if n := len(retained); n > 0 {
			for _, f := range retained[n-1].md.Tasks[0].Operators[0].Shared {
				if rng.IntN(3) != 0 {
					shared = append(shared, f.Handle)
				}
			}
		}
		w := s.NewCheckpointWriter(id, fmt.Sprint("w", rng.IntN(2)))
		var hs []checkpoint.Handle
		for range rng.IntN(6) {
			h, err := w.Write(bg, payload(rng, 100+rng.IntN(8000)))
			if err != nil {
				t.Fatal(err)
			}
			hs = append(hs, h)
		}
		for i := range rng.IntN(4) {
			p := writeLocal(t, local, fmt.Sprint(id, "-", i), payload(rng, 1000+rng.IntN(9000)))
			h, err := w.UploadShared(bg, p, fmt.Sprintf("u/%d-%d.sst", id, i))
			if err != nil {
				t.Fatal(err)
			}
			shared = append(shared, h)
		}
		if _, err := w.Close(bg); err != nil {
			t.Fatal(err)
		}
		md := metadataOf(id, hs, shared)
		if rng.IntN(4) == 0 {
			if err := s.Abort(bg, id); err != nil {
				t.Fatal(err)
			}
		} else {
			c, err := s.CompleteReport(bg, md)
			if err != nil {
				t.Fatal(err)
			}
			mc := modelCheckpoint{id: id, md: md}
			for _, h := range allHandles(md) {
				if h.Path != "" {
					mc.files = append(mc.files, e.rel(h.Path))
				}
			}
			retained = append(retained, mc)
			var subsumed []int64
			for len(retained) > opts.Retain {
				subsumed = append(subsumed, retained[0].id)
				retained = retained[1:]
			}
			if !slices.Equal(c.Subsumed, subsumed) || len(c.Errors) > 0 {
				t.Fatalf("checkpoint %d: cleanup %+v, want subsumed %v", id, c, subsumed)
			}
		}
		if rng.IntN(6) == 0 {
			// Master restart.
			s = e.storage(t, opts)
			if err := s.Recover(bg); err != nil {
				t.Fatal(err)
			}
		}
		checkModel(t, e, s, id, retained)
	}
}

func checkModel(t *testing.T, e *env, s *checkpoint.Storage, step int64, retained []modelCheckpoint) {
	t.Helper()
	want := map[string]bool{}
	var ids []int64
	for _, c := range retained {
		ids = append(ids, c.id)
		want[e.rel(s.CheckpointDir(c.id))+"/_metadata"] = true
		for _, f := range c.files {
			want[f] = true
		}
	}
	var wantList []string
	for f := range want {
		wantList = append(wantList, f)
	}
	slices.Sort(wantList)
	if got := e.files(t); !slices.Equal(got, wantList) {
		t.Fatalf("after checkpoint %d (retained %v): files on disk\n%s\nwant\n%s", step, ids, strings.Join(got, "\n"), strings.Join(wantList, "\n"))
	}
	if got := s.Completed(); !slices.Equal(got, ids) {
		t.Fatalf("after checkpoint %d: Completed() = %v, want %v", step, got, ids)
	}
	for _, c := range retained {
		for _, h := range allHandles(c.md) {
			if _, err := s.Read(bg, h); err != nil {
				t.Fatalf("after checkpoint %d: checkpoint %d: %v", step, c.id, err)
			}
		}
	}
}

func TestCompleteRejectsOld(t *testing.T) {
	e := newEnv(t)
	s := e.storage(t, checkpoint.DefaultOptions())
	if err := s.Complete(bg, writeCheckpoint(t, s, 5, 1, 1000, nil)); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(bg, writeCheckpoint(t, s, 4, 1, 1000, nil)); !errors.Is(err, checkpoint.ErrSubsumed) {
		t.Fatalf("completing 4 after 5: err = %v", err)
	}
	if err := s.Abort(bg, 5); err == nil {
		t.Fatal("aborting a completed checkpoint succeeded")
	}
	if err := s.Abort(bg, 4); err != nil {
		t.Fatal(err)
	}
	md := writeCheckpoint(t, s, 6, 1, 1000, nil)
	md.Job = "other"
	if err := s.Complete(bg, md); err == nil {
		t.Fatal("metadata of another job accepted")
	}
	for _, f := range e.files(t) {
		if strings.Contains(f, "chk-4") {
			t.Fatalf("aborted checkpoint 4 left %s", f)
		}
	}
	if n := s.NextID(); n != 7 {
		t.Fatalf("NextID = %d, want 7", n)
	}
}

func TestRecoverRemovesOrphans(t *testing.T) {
	e := newEnv(t)
	opts := checkpoint.DefaultOptions()
	opts.Retain = 2
	s := e.storage(t, opts)
	for id := int64(1); id <= 3; id++ {
		md := writeCheckpoint(t, s, id, 2, 1000, nil)
		if id == 2 {
			continue // never completes, never aborted (master died)
		}
		if err := s.Complete(bg, md); err != nil {
			t.Fatal(err)
		}
	}
	writeCheckpoint(t, s, 4, 2, 1000, nil) // pending, newer than the latest
	s2 := e.storage(t, opts)
	if err := s2.Recover(bg); err != nil {
		t.Fatal(err)
	}
	if got := s2.Completed(); !slices.Equal(got, []int64{1, 3}) {
		t.Fatalf("recovered %v, want [1 3]", got)
	}
	var dirs []string
	for _, f := range e.files(t) {
		dirs = append(dirs, strings.Split(f, "/")[1])
	}
	dirs = slices.Compact(dirs)
	if !slices.Equal(dirs, []string{"chk-1", "chk-3", "chk-4"}) {
		t.Fatalf("directories after Recover: %v, want chk-2 removed and chk-4 kept", dirs)
	}
	if n := s2.NextID(); n != 5 {
		t.Fatalf("NextID = %d, want 5", n)
	}
	if err := s2.Complete(bg, writeCheckpoint(t, s2, 5, 1, 1000, nil)); err != nil {
		t.Fatal(err)
	}
	for _, f := range e.files(t) {
		if strings.Contains(f, "chk-1/") || strings.Contains(f, "chk-4/") {
			t.Fatalf("%s survived checkpoint 5 (retain 2)", f)
		}
	}
}

func TestReuploadCandidates(t *testing.T) {
	e := newEnv(t)
	opts := checkpoint.DefaultOptions()
	opts.Retain = 1
	opts.MergeThreshold = 8 << 10
	s := e.storage(t, opts)
	local := t.TempDir()
	w := s.NewCheckpointWriter(1, "w")
	var shared []checkpoint.Handle
	for i := range 4 {
		p := writeLocal(t, local, fmt.Sprint(i), make([]byte, 1000))
		h, err := w.UploadShared(bg, p, fmt.Sprintf("u/%d.sst", i))
		if err != nil {
			t.Fatal(err)
		}
		shared = append(shared, h)
	}
	if _, err := w.Close(bg); err != nil {
		t.Fatal(err)
	}
	seg := shared[0].Path
	if err := s.Complete(bg, metadataOf(1, nil, shared)); err != nil {
		t.Fatal(err)
	}
	if len(s.ReuploadCandidates()) != 0 {
		t.Fatalf("candidates with every file live: %v", s.ReuploadCandidates())
	}
	// Checkpoint 2 keeps 2 of the 4 files: amplification 2, not above.
	if err := s.Complete(bg, metadataOf(2, nil, shared[:2])); err != nil {
		t.Fatal(err)
	}
	if size, live := s.Usage(seg); size != 4000 || live != 2000 || len(s.ReuploadCandidates()) != 0 {
		t.Fatalf("usage %d/%d, candidates %v", size, live, s.ReuploadCandidates())
	}
	// Checkpoint 3 keeps 1: amplification 4.
	if err := s.Complete(bg, metadataOf(3, nil, shared[:1])); err != nil {
		t.Fatal(err)
	}
	if c := s.ReuploadCandidates(); !c[seg] || len(c) != 1 {
		t.Fatalf("candidates %v, want %s", c, seg)
	}
	// The same after a master restart (size from a Stat).
	s2 := e.storage(t, opts)
	if err := s2.Recover(bg); err != nil {
		t.Fatal(err)
	}
	if c := s2.ReuploadCandidates(); !c[seg] {
		t.Fatalf("recovered candidates %v, want %s", c, seg)
	}
	// Re-uploaded: the segment goes when checkpoint 3 is subsumed.
	if err := s2.Complete(bg, writeCheckpoint(t, s2, 4, 1, 1000, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.local(seg)); !os.IsNotExist(err) {
		t.Fatalf("segment %s still there: %v", seg, err)
	}
}

func TestRegistry(t *testing.T) {
	h := func(p string, off, n int64) checkpoint.Handle {
		return checkpoint.Handle{Path: p, Offset: off, Length: n}
	}
	r := checkpoint.NewRegistry(nil)
	steps := []struct {
		op       string // "reg" or "unreg"
		id       int64
		handles  []checkpoint.Handle
		released []string
		refsA    int
		sizeA    int64
		liveA    int64
	}{
		{"reg", 1, []checkpoint.Handle{h("a", 0, 10), h("a", 10, 10), h("a", 10, 10), h("b", 0, 5)}, nil, 1, 20, 20},
		{"reg", 2, []checkpoint.Handle{h("a", 10, 10), h("c", 0, 1)}, nil, 2, 20, 20},
		{"unreg", 1, nil, []string{"b"}, 1, 20, 10},
		{"reg", 3, []checkpoint.Handle{h("a", 30, 10), {Inline: []byte{1}, Length: 1}}, nil, 2, 40, 20},
		{"unreg", 2, nil, []string{"c"}, 1, 40, 10},
		{"unreg", 3, nil, []string{"a"}, 0, 0, 0},
		{"unreg", 3, nil, nil, 0, 0, 0},
	}
	for i, st := range steps {
		var released []string
		if st.op == "reg" {
			if err := r.Register(st.id, metadataOf(st.id, st.handles, nil)); err != nil {
				t.Fatal(err)
			}
		} else {
			released = r.Unregister(st.id)
		}
		size, live := r.Usage("a")
		if !slices.Equal(released, st.released) || r.Refs("a") != st.refsA || size != st.sizeA || live != st.liveA {
			t.Fatalf("step %d: released %v refs %d usage %d/%d; want %v %d %d/%d",
				i, released, r.Refs("a"), size, live, st.released, st.refsA, st.sizeA, st.liveA)
		}
	}
	if err := r.Register(9, metadataOf(9, nil, nil)); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(9, metadataOf(9, nil, nil)); err == nil {
		t.Fatal("double registration accepted")
	}
}
