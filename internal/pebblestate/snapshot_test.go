package pebblestate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/internal/checkpoint"
)

const testMaxPar = 128

// fill writes n entries spread over key groups [from, to) and returns them.
func fill(t *testing.T, s *Store, from, to, n int, seed uint64) map[string]string {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	want := map[string]string{}
	for i := range n {
		kg := from + r.IntN(to-from)
		k := kgKey(kg, fmt.Sprintf("key-%d-%d", seed, i))
		v := fmt.Sprintf("value-%d-%x", i, r.Uint64())
		if err := s.Set(k, []byte(v)); err != nil {
			t.Fatal(err)
		}
		want[string(k)] = v
	}
	return want
}

func dump(t *testing.T, s *Store) map[string]string {
	t.Helper()
	got := map[string]string{}
	if err := s.Scan(nil, func(k, v []byte) bool { got[string(k)] = string(v); return true }); err != nil {
		t.Fatal(err)
	}
	return got
}

func sameMaps(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d entries, want %d", what, len(got), len(want))
	}
	bad := 0
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			if bad++; bad <= 5 {
				t.Errorf("%s: key %x = %q (present %v), want %q", what, k, g, ok, v)
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			if bad++; bad <= 5 {
				t.Errorf("%s: unexpected key %x", what, k)
			}
		}
	}
}

// checkpointOf takes a complete incremental checkpoint of s.
func checkpointOf(t *testing.T, s *Store, id int64, st *DirStorage) *Result {
	t.Helper()
	ctx := context.Background()
	p, err := s.Snapshot(ctx, id, st)
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Upload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CheckpointComplete(ctx, id); err != nil {
		t.Fatal(err)
	}
	return r
}

func inputOf(t *testing.T, r *Result) RestoreInput {
	t.Helper()
	var op checkpoint.OperatorState
	r.Apply(&op)
	in, err := InputFromState(op)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	st := &DirStorage{Root: t.TempDir()}
	from, to := engine.KeyGroupRange(1, testMaxPar, 4)
	opts := Options{KeyGroupFrom: from, KeyGroupTo: to}
	s := openTest(t, opts)
	want := fill(t, s, from, to, 5000, 1)
	// Deletions and a range deletion must survive too.
	for k := range want {
		if len(want) > 4000 {
			if err := s.Delete([]byte(k)); err != nil {
				t.Fatal(err)
			}
			delete(want, k)
		}
	}
	r1 := checkpointOf(t, s, 1, st)
	if len(r1.Shared) == 0 || len(r1.Private) == 0 {
		t.Fatalf("snapshot has %d shared and %d private files, want some of both", len(r1.Shared), len(r1.Private))
	}
	for _, f := range append(append([]checkpoint.SharedFile{}, r1.Shared...), r1.Private...) {
		if f.KeyGroupFrom != from || f.KeyGroupTo != to {
			t.Errorf("file %s has key groups [%d, %d), want [%d, %d)", f.Name, f.KeyGroupFrom, f.KeyGroupTo, from, to)
		}
	}
	if r1.IncrementalBytes != r1.FullBytes {
		t.Errorf("first snapshot uploaded %d of %d bytes, want all", r1.IncrementalBytes, r1.FullBytes)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Dir(), snapSubdir)); len(ents) != 0 {
		t.Errorf("local snapshot directory not cleaned: %d entries left", len(ents))
	}
	// Writes after the snapshot are not in it.
	if err := s.Set(kgKey(from, "late"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	r, err := Restore(ctx, t.TempDir(), opts, []RestoreInput{inputOf(t, r1)}, st)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sameMaps(t, "restored", dump(t, r), want)

	// The next checkpoint after a restore references the restored SSTs.
	for i := range 10 {
		if err := r.Set(kgKey(from, fmt.Sprint("new", i)), []byte("y")); err != nil {
			t.Fatal(err)
		}
	}
	r2 := checkpointOf(t, r, 2, st)
	reused := 0
	old := map[string]checkpoint.Handle{}
	for _, f := range r1.Shared {
		old[f.Name] = f.Handle
	}
	for _, f := range r2.Shared {
		if h, ok := old[f.Name]; ok {
			if !sameHandle(h, f.Handle) {
				t.Errorf("file %s: handle %+v after restore, was %+v", f.Name, f.Handle, h)
			}
			reused++
		}
	}
	if reused == 0 {
		t.Errorf("checkpoint after restore reuses no SST of the restored one")
	}
	sharedUp := r2.IncrementalBytes
	for _, f := range r2.Private {
		sharedUp -= f.Handle.Length
	}
	if sharedUp >= r1.FullBytes/2 {
		t.Errorf("checkpoint after restore uploaded %d bytes of SSTs, the restored state has %d: not incremental", sharedUp, r1.FullBytes)
	}
	t.Logf("checkpoint 1: %d bytes; after restore: %d of %d bytes uploaded, %d SSTs reused", r1.FullBytes, r2.IncrementalBytes, r2.FullBytes, reused)
}

func TestUnconfirmedCheckpointNotReferenced(t *testing.T) {
	ctx := context.Background()
	st := &DirStorage{Root: t.TempDir()}
	s := openTest(t, Options{})
	fill(t, s, 0, 10, 2000, 2)
	p, err := s.Snapshot(ctx, 1, st)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := p.Upload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.CheckpointAborted(1)
	// Checkpoint 1 never completed: checkpoint 2 must upload everything
	// again rather than point at files storage may have dropped.
	r2 := checkpointOf(t, s, 2, st)
	if r2.IncrementalBytes != r2.FullBytes {
		t.Errorf("checkpoint 2 uploaded %d of %d bytes after checkpoint 1 aborted", r2.IncrementalBytes, r2.FullBytes)
	}
	if r2.Files != r1.Files {
		t.Errorf("checkpoint 2 uploaded %d files, checkpoint 1 %d: want all again", r2.Files, r1.Files)
	}
	// Now that 2 completed, 3 reuses it.
	r3 := checkpointOf(t, s, 3, st)
	if r3.IncrementalBytes != sumPrivate(r3) || len(r3.Shared) != len(r2.Shared) {
		t.Errorf("checkpoint 3 uploaded %d bytes of SSTs although nothing changed", r3.IncrementalBytes-sumPrivate(r3))
	}
	// A savepoint shares nothing.
	sp, err := s.SnapshotFull(ctx, 4, st)
	if err != nil {
		t.Fatal(err)
	}
	r4, err := sp.Upload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r4.IncrementalBytes != r4.FullBytes || r4.Files != len(r4.Shared)+len(r4.Private) {
		t.Errorf("savepoint: %d of %d bytes, %d files uploaded; want all", r4.IncrementalBytes, r4.FullBytes, r4.Files)
	}
	// The savepoint neither completes nor changes what checkpoints reuse.
	r5 := checkpointOf(t, s, 5, st)
	if r5.IncrementalBytes != sumPrivate(r5) {
		t.Errorf("checkpoint 5 after a savepoint uploaded %d bytes of SSTs, want none", r5.IncrementalBytes-sumPrivate(r5))
	}
}

func sumPrivate(r *Result) int64 {
	var n int64
	for _, f := range r.Private {
		n += f.Handle.Length
	}
	return n
}

// TestRescale restores 1 -> 3 and then 3 -> 2 and checks every new
// instance holds exactly the keys of its key groups.
func TestRescale(t *testing.T) {
	ctx := context.Background()
	st := &DirStorage{Root: t.TempDir()}
	all := map[string]string{}
	// One instance owning everything.
	s := openTest(t, Options{KeyGroupFrom: 0, KeyGroupTo: testMaxPar})
	for k, v := range fill(t, s, 0, testMaxPar, 6000, 3) {
		all[k] = v
	}
	inputs := []RestoreInput{inputOf(t, checkpointOf(t, s, 1, st))}
	id := int64(2)
	for _, par := range []int{3, 2} {
		var next []RestoreInput
		for sub := range par {
			from, to := engine.KeyGroupRange(sub, testMaxPar, par)
			r, err := Restore(ctx, t.TempDir(), Options{KeyGroupFrom: from, KeyGroupTo: to}, inputs, st)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			for k, v := range all {
				if kg := int(k[0])<<8 | int(k[1]); kg >= from && kg < to {
					want[k] = v
				}
			}
			sameMaps(t, fmt.Sprintf("parallelism %d subtask %d [%d, %d)", par, sub, from, to), dump(t, r), want)
			// Each instance writes more before the next rescale.
			for k, v := range fill(t, r, from, to, 500, uint64(10*par+sub)) {
				all[k] = v
			}
			next = append(next, inputOf(t, checkpointOf(t, r, id, st)))
			id++
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
		}
		inputs = next
	}
}

func TestRestoreBadFiles(t *testing.T) {
	ctx := context.Background()
	st := &DirStorage{Root: t.TempDir()}
	s := openTest(t, Options{})
	fill(t, s, 0, 100, 1000, 4)
	in := inputOf(t, checkpointOf(t, s, 1, st))
	victim := in.Shared[0]
	path := filepath.Join(st.Root, filepath.FromSlash(victim.Handle.Path))

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x55
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Restore(ctx, t.TempDir(), Options{}, []RestoreInput{in}, st)
	if !errors.Is(err, ErrCorruptFile) || !strings.Contains(err.Error(), victim.Name) {
		t.Errorf("restore from a corrupt file: error %v, want ErrCorruptFile naming %s", err, victim.Name)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	_, err = Restore(ctx, t.TempDir(), Options{KeyGroupFrom: 0, KeyGroupTo: 50}, []RestoreInput{in}, st)
	if err == nil || !strings.Contains(err.Error(), victim.Name) {
		t.Errorf("restore (rescale) from a missing file: error %v, want one naming %s", err, victim.Name)
	}

	bad := in
	bad.Private = append([]checkpoint.SharedFile{{Name: "../evil"}}, in.Private...)
	if _, err := Restore(ctx, t.TempDir(), Options{}, []RestoreInput{bad}, st); err == nil {
		t.Errorf("restore accepted a file name escaping its directory")
	}
	if _, err := InputFromState(checkpoint.OperatorState{BackendMeta: []byte(`{"format":"rocks/9"}`)}); err == nil {
		t.Errorf("InputFromState accepted another backend's metadata")
	}
}

// TestUploadWhileWriting runs the asynchronous phase concurrently with
// writes (run with -race) and checks the snapshot holds exactly the state
// at the synchronous phase.
func TestUploadWhileWriting(t *testing.T) {
	ctx := context.Background()
	st := &DirStorage{Root: t.TempDir()}
	s := openTest(t, Options{MemTableSize: 1 << 20})
	want := fill(t, s, 0, 64, 3000, 5)
	p, err := s.Snapshot(ctx, 1, st)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var res *Result
	var upErr error
	wg.Go(func() {
		res, upErr = p.Upload(ctx)
		if upErr == nil {
			upErr = s.CheckpointComplete(ctx, 1)
		}
	})
	fill(t, s, 0, 64, 20000, 6)
	wg.Wait()
	if upErr != nil {
		t.Fatal(upErr)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Restore(ctx, t.TempDir(), Options{}, []RestoreInput{inputOf(t, res)}, st)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sameMaps(t, "restored", dump(t, r), want)
}

func sameHandle(a, b checkpoint.Handle) bool {
	return a.Path == b.Path && a.Offset == b.Offset && a.Length == b.Length && a.CRC == b.CRC && string(a.Inline) == string(b.Inline)
}
