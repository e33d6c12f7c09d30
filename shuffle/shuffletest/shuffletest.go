// Package shuffletest is the conformance suite every shuffle.Service
// implementation must pass.
package shuffletest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/dagflow/dagflow/shuffle"
)

// Run runs the conformance suite. Every subtest gets a fresh service from
// newService and closes it at the end (Close must be idempotent).
//
// Requirements on the services newService makes: a reader opened for a
// partition nobody creates must fail with ErrNotExist within 5 seconds (set
// the pending-reader timeout to about a second), and pipelined queues must
// hold at most 1024 buffers per subpartition. If the service has a
// BuffersInUse() int method, the back-pressure test checks it too.
func Run(t *testing.T, newService func(t *testing.T) shuffle.Service) {
	open := func(t *testing.T) shuffle.Service {
		svc := newService(t)
		t.Cleanup(func() { _ = svc.Close() })
		return svc
	}
	for _, mode := range []shuffle.Mode{shuffle.Pipelined, shuffle.Blocking} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Run("Order", func(t *testing.T) { testOrder(t, open(t), mode) })
			t.Run("EmptyPartition", func(t *testing.T) { testEmptyPartition(t, open(t), mode) })
			t.Run("EmptySubpartitions", func(t *testing.T) { testEmptySubpartitions(t, open(t), mode) })
			t.Run("Abort", func(t *testing.T) { testAbort(t, open(t), mode) })
			t.Run("AbortAfterCommit", func(t *testing.T) { testAbortAfterCommit(t, open(t), mode) })
			t.Run("DuplicateWriter", func(t *testing.T) { testDuplicate(t, open(t), mode) })
			t.Run("Stat", func(t *testing.T) { testStat(t, open(t), mode) })
			t.Run("InvalidArguments", func(t *testing.T) { testInvalid(t, open(t), mode) })
			t.Run("Large", func(t *testing.T) { testLarge(t, open(t), mode) })
		})
	}
	t.Run("pipelined/RangeInterleaving", func(t *testing.T) { testPipelinedRange(t, open(t)) })
	t.Run("pipelined/BackPressure", func(t *testing.T) { testBackPressure(t, open(t)) })
	t.Run("pipelined/ReaderCancel", func(t *testing.T) { testReaderCancel(t, open(t)) })
	t.Run("pipelined/ConsumedOnce", func(t *testing.T) { testConsumedOnce(t, open(t)) })
	t.Run("pipelined/EarlyReaderClose", func(t *testing.T) { testEarlyClose(t, open(t)) })
	t.Run("blocking/RangeReads", func(t *testing.T) { testBlockingRange(t, open(t)) })
	t.Run("blocking/InvisibleBeforeCommit", func(t *testing.T) { testInvisible(t, open(t)) })
	t.Run("blocking/Reread", func(t *testing.T) { testReread(t, open(t)) })
	t.Run("blocking/PendingReaderThenBlockingWriter", func(t *testing.T) { testPendingThenBlocking(t, open(t)) })
	t.Run("NotExist", func(t *testing.T) { testNotExist(t, open(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, open(t)) })
	t.Run("Release", func(t *testing.T) { testRelease(t, open(t)) })
	t.Run("Close", func(t *testing.T) { testClose(t, open(t)) })
}

// --- helpers -----------------------------------------------------------

const waitLong = 10 * time.Second

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// pid names a partition of the blocking test result of job.
func pid(job string, producer int) shuffle.PartitionID {
	return shuffle.PartitionID{Job: job, Result: "r1", Producer: producer, Attempt: 0}
}

// pidm names a partition of job's result for mode: the results of different
// modes differ, since a service may learn a result's mode from its writers.
func pidm(job string, producer int, mode shuffle.Mode) shuffle.PartitionID {
	return shuffle.PartitionID{Job: job, Result: "r-" + mode.String(), Producer: producer, Attempt: 0}
}

// op is one write: sub >= 0 for Write, -1 for WriteBroadcast.
type op struct {
	sub int
	buf []byte
}

// payload builds a buffer of n bytes (n >= 9) naming its kind, subpartition
// and sequence number, with a deterministic filler.
func payload(kind byte, sub, seq, n int) []byte {
	b := make([]byte, max(n, 9))
	b[0] = kind
	binary.LittleEndian.PutUint32(b[1:], uint32(sub))
	binary.LittleEndian.PutUint32(b[5:], uint32(seq))
	for i := 9; i < len(b); i++ {
		b[i] = byte(seq*31 + sub*7 + i)
	}
	return b
}

// script makes n writes over subs subpartitions: broadcasts with
// probability pb, sizes up to maxLen, some empty buffers if empties.
func script(seed uint64, subs, n, maxLen int, pb float64, empties bool) []op {
	rng := rand.New(rand.NewPCG(seed, 7))
	ops := make([]op, 0, n)
	for i := range n {
		size := 9 + rng.IntN(maxLen)
		if rng.Float64() < pb {
			if rng.IntN(2) == 0 {
				size = 9 + rng.IntN(100) // small event-like frame
			}
			ops = append(ops, op{-1, payload('B', 0xffff, i, size)})
			continue
		}
		s := rng.IntN(subs)
		if empties && rng.IntN(50) == 0 {
			ops = append(ops, op{s, []byte{}})
			continue
		}
		ops = append(ops, op{s, payload('W', s, i, size)})
	}
	return ops
}

func expected(ops []op, sub int) [][]byte {
	var out [][]byte
	for _, o := range ops {
		if o.sub == sub || o.sub < 0 {
			out = append(out, o.buf)
		}
	}
	return out
}

func expectedRange(ops []op, from, to int) [][]byte {
	var out [][]byte
	for s := from; s < to; s++ {
		out = append(out, expected(ops, s)...)
	}
	return out
}

func writeAll(ctx context.Context, w shuffle.Writer, ops []op) error {
	for i, o := range ops {
		var err error
		if o.sub < 0 {
			err = w.WriteBroadcast(ctx, o.buf)
		} else {
			err = w.Write(ctx, o.sub, o.buf)
		}
		if err != nil {
			return fmt.Errorf("write %d: %w", i, err)
		}
	}
	return nil
}

func readAll(ctx context.Context, r shuffle.Reader) ([][]byte, error) {
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

func openRead(ctx context.Context, svc shuffle.Service, id shuffle.PartitionID, from, to int) ([][]byte, error) {
	r, err := svc.OpenReader(ctx, id, from, to)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return readAll(ctx, r)
}

func describe(b []byte) string {
	if len(b) < 9 {
		return fmt.Sprintf("%d-byte buffer", len(b))
	}
	return fmt.Sprintf("%c sub=%d seq=%d len=%d", b[0], binary.LittleEndian.Uint32(b[1:]), binary.LittleEndian.Uint32(b[5:]), len(b))
}

func equalBufs(got, want [][]byte) error {
	for i := range min(len(got), len(want)) {
		if !bytes.Equal(got[i], want[i]) {
			return fmt.Errorf("buffer %d: got %s, want %s", i, describe(got[i]), describe(want[i]))
		}
	}
	if len(got) != len(want) {
		return fmt.Errorf("got %d buffers, want %d", len(got), len(want))
	}
	return nil
}

// validInterleaving checks that got is an interleaving of the per-subpartition
// sequences want, each kept in order. Broadcast copies are identical, so
// which subpartition a copy belongs to is ambiguous; the check tracks every
// consistent assignment (the set of per-subpartition positions).
func validInterleaving(got [][]byte, want [][][]byte) error {
	type state [8]int // positions; at most 8 subpartitions
	if len(want) > len(state{}) {
		return fmt.Errorf("validInterleaving supports at most %d subpartitions", len(state{}))
	}
	cur := map[state]bool{{}: true}
	for i, b := range got {
		next := make(map[state]bool)
		for st := range cur {
			for s := range want {
				if st[s] < len(want[s]) && bytes.Equal(want[s][st[s]], b) {
					n := st
					n[s]++
					next[n] = true
				}
			}
		}
		if len(next) == 0 {
			return fmt.Errorf("buffer %d (%s) is out of order", i, describe(b))
		}
		if len(next) > 100000 {
			return errors.New("validInterleaving: too many ambiguous states")
		}
		cur = next
	}
	for st := range cur {
		ok := true
		for s := range want {
			ok = ok && st[s] == len(want[s])
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("got %d buffers: some subpartition is incomplete", len(got))
}

func create(t *testing.T, svc shuffle.Service, id shuffle.PartitionID, mode shuffle.Mode, subs int) shuffle.Writer {
	t.Helper()
	w, err := svc.CreateWriter(ctxT(t), id, shuffle.WriterOptions{Mode: mode, Subpartitions: subs})
	if err != nil {
		t.Fatalf("CreateWriter %s: %v", id, err)
	}
	return w
}

// produce writes ops and commits, reading pipelined partitions concurrently,
// and returns what each subpartition reader got.
func produce(t *testing.T, svc shuffle.Service, id shuffle.PartitionID, mode shuffle.Mode, subs int, ops []op) [][][]byte {
	t.Helper()
	ctx := ctxT(t)
	got := make([][][]byte, subs)
	var wg sync.WaitGroup
	var readers []shuffle.Reader
	if mode == shuffle.Pipelined {
		// Half the readers open before the writer exists.
		for s := 0; s < subs/2; s++ {
			r, err := svc.OpenReader(ctx, id, s, s+1)
			if err != nil {
				t.Fatalf("OpenReader before writer: %v", err)
			}
			readers = append(readers, r)
		}
	}
	w := create(t, svc, id, mode, subs)
	if mode == shuffle.Pipelined {
		for s := subs / 2; s < subs; s++ {
			r, err := svc.OpenReader(ctx, id, s, s+1)
			if err != nil {
				t.Fatalf("OpenReader: %v", err)
			}
			readers = append(readers, r)
		}
		for s, r := range readers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer r.Close()
				var err error
				got[s], err = readAll(ctx, r)
				if err != nil {
					t.Errorf("subpartition %d: %v", s, err)
				}
			}()
		}
	}
	if err := writeAll(ctx, w, ops); err != nil {
		w.Abort(err)
		wg.Wait()
		t.Fatalf("%s: %v", id, err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatalf("Commit %s: %v", id, err)
	}
	wg.Wait()
	if mode == shuffle.Blocking {
		for s := range subs {
			var err error
			if got[s], err = openRead(ctx, svc, id, s, s+1); err != nil {
				t.Fatalf("read %s subpartition %d: %v", id, s, err)
			}
		}
	}
	return got
}

func checkSubs(t *testing.T, got [][][]byte, ops []op) {
	t.Helper()
	for s := range got {
		if err := equalBufs(got[s], expected(ops, s)); err != nil {
			t.Errorf("subpartition %d: %v", s, err)
		}
	}
}

func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// blocked reports whether f is still running after d.
func blocked(done <-chan error, d time.Duration) bool {
	select {
	case <-done:
		return false
	case <-time.After(d):
		return true
	}
}

func waitErr(t *testing.T, done <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(waitLong):
		t.Fatalf("%s: still blocked after %v", what, waitLong)
		return nil
	}
}

// --- tests ---------------------------------------------------------------

func testOrder(t *testing.T, svc shuffle.Service, mode shuffle.Mode) {
	ops := script(1, 5, 800, 3000, 0.1, true)
	checkSubs(t, produce(t, svc, pid("job", 0), mode, 5, ops), ops)
}

func testEmptyPartition(t *testing.T, svc shuffle.Service, mode shuffle.Mode) {
	got := produce(t, svc, pid("job", 0), mode, 3, nil)
	for s := range got {
		if len(got[s]) != 0 {
			t.Errorf("subpartition %d: got %d buffers from an empty partition", s, len(got[s]))
		}
	}
	st, err := svc.Stat(ctxT(t), pid("job", 0))
	if err != nil || st.Buffers != 0 || st.RawBytes != 0 || st.Subpartitions != 3 {
		t.Errorf("Stat of empty partition = %+v, %v", st, err)
	}
}

func testEmptySubpartitions(t *testing.T, svc shuffle.Service, mode shuffle.Mode) {
	var ops []op
	for i := range 50 {
		ops = append(ops, op{1, payload('W', 1, i, 100)})
	}
	checkSubs(t, produce(t, svc, pid("job", 0), mode, 3, ops), ops)
}

func testAbort(t *testing.T, svc shuffle.Service, mode shuffle.Mode) {
	ctx := ctxT(t)
	id := pid("job", 0)
	cause := errors.New("producer failed")
	if mode == shuffle.Blocking {
		w := create(t, svc, id, mode, 2)
		if err := w.Write(ctx, 0, payload('W', 0, 0, 10)); err != nil {
			t.Fatal(err)
		}
		w.Abort(cause)
		_, err := svc.OpenReader(ctx, id, 0, 1)
		wantErr(t, err, shuffle.ErrNotExist, "OpenReader after Abort")
		_, err = svc.Stat(ctx, id)
		wantErr(t, err, shuffle.ErrNotExist, "Stat after Abort")
		if err := w.Commit(ctx); err == nil {
			t.Error("Commit after Abort succeeded")
		}
		return
	}
	r0, err := svc.OpenReader(ctx, id, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r0.Close()
	w := create(t, svc, id, mode, 2)
	if err := w.Write(ctx, 0, payload('W', 0, 0, 10)); err != nil {
		t.Fatal(err)
	}
	if _, err := r0.Next(ctx); err != nil {
		t.Fatalf("first buffer: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := r0.Next(ctx) // waits for data
		done <- err
	}()
	if !blocked(done, 20*time.Millisecond) {
		t.Fatal("Next returned without data")
	}
	w.Abort(cause)
	err = waitErr(t, done, "reader waiting during Abort")
	wantErr(t, err, shuffle.ErrAborted, "waiting reader")
	wantErr(t, err, cause, "waiting reader (cause)")
	// A reader opened after the abort fails too, at open or at Next.
	r1, err := svc.OpenReader(ctx, id, 1, 2)
	if err == nil {
		_, err = r1.Next(ctx)
		r1.Close()
	}
	wantErr(t, err, shuffle.ErrAborted, "reader after Abort")
	_, err = svc.Stat(ctx, id)
	wantErr(t, err, shuffle.ErrNotExist, "Stat after Abort")
}

func testAbortAfterCommit(t *testing.T, svc shuffle.Service, mode shuffle.Mode) {
	ctx := ctxT(t)
	id := pid("job", 0)
	var r shuffle.Reader
	if mode == shuffle.Pipelined {
		var err error
		if r, err = svc.OpenReader(ctx, id, 0, 1); err != nil {
			t.Fatal(err)
		}
	}
	w := create(t, svc, id, mode, 1)
	ops := []op{{0, payload('W', 0, 0, 50)}, {0, payload('W', 0, 1, 50)}}
	if err := writeAll(ctx, w, ops); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	w.Abort(errors.New("late abort"))
	if r == nil {
		var err error
		if r, err = svc.OpenReader(ctx, id, 0, 1); err != nil {
			t.Fatalf("OpenReader after Commit+Abort: %v", err)
		}
	}
	defer r.Close()
	got, err := readAll(ctx, r)
	if err != nil {
		t.Fatalf("read after Commit+Abort: %v", err)
	}
	if err := equalBufs(got, expected(ops, 0)); err != nil {
		t.Fatal(err)
	}
}

func testDuplicate(t *testing.T, svc shuffle.Service, mode shuffle.Mode) {
	ctx := ctxT(t)
	id := pid("job", 0)
	w := create(t, svc, id, mode, 1)
	for _, m := range []shuffle.Mode{shuffle.Pipelined, shuffle.Blocking} {
		_, err := svc.CreateWriter(ctx, id, shuffle.WriterOptions{Mode: m, Subpartitions: 1})
		wantErr(t, err, shuffle.ErrExist, "second CreateWriter")
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := svc.CreateWriter(ctx, id, shuffle.WriterOptions{Mode: mode, Subpartitions: 1})
	wantErr(t, err, shuffle.ErrExist, "CreateWriter after Commit")
	// Another attempt is a different partition.
	id.Attempt++
	w = create(t, svc, id, mode, 1)
	w.Abort(nil)
}

func testStat(t *testing.T, svc shuffle.Service, mode shuffle.Mode) {
	ctx := ctxT(t)
	id := pid("job", 0)
	ops := script(3, 4, 100, 500, 0.2, true)
	var raw int64
	for _, o := range ops {
		raw += int64(len(o.buf))
	}
	w := create(t, svc, id, mode, 4)
	var readers []shuffle.Reader
	if mode == shuffle.Pipelined {
		// Drain concurrently so the writer is not held by back-pressure.
		var wg sync.WaitGroup
		defer wg.Wait()
		for s := range 4 {
			r, err := svc.OpenReader(ctx, id, s, s+1)
			if err != nil {
				t.Fatal(err)
			}
			readers = append(readers, r)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer r.Close()
				if _, err := readAll(ctx, r); err != nil {
					t.Errorf("read: %v", err)
				}
			}()
		}
	}
	if err := writeAll(ctx, w, ops); err != nil {
		t.Fatal(err)
	}
	_, err := svc.Stat(ctx, id)
	wantErr(t, err, shuffle.ErrNotExist, "Stat before Commit")
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := svc.Stat(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Buffers != int64(len(ops)) || st.RawBytes != raw || st.Subpartitions != 4 || st.Bytes <= 0 {
		t.Errorf("Stat = %+v, want Buffers=%d RawBytes=%d Subpartitions=4 Bytes>0", st, len(ops), raw)
	}
}

func testInvalid(t *testing.T, svc shuffle.Service, mode shuffle.Mode) {
	ctx := ctxT(t)
	id := pid("job", 0)
	if _, err := svc.CreateWriter(ctx, id, shuffle.WriterOptions{Mode: mode, Subpartitions: 0}); err == nil {
		t.Error("CreateWriter with 0 subpartitions succeeded")
	}
	if _, err := svc.CreateWriter(ctx, id, shuffle.WriterOptions{Mode: 0, Subpartitions: 1}); err == nil {
		t.Error("CreateWriter with mode 0 succeeded")
	}
	if _, err := svc.OpenReader(ctx, id, 1, 1); err == nil {
		t.Error("OpenReader of an empty range succeeded")
	}
	if _, err := svc.OpenReader(ctx, id, -1, 1); err == nil {
		t.Error("OpenReader of a negative range succeeded")
	}
	w := create(t, svc, id, mode, 2)
	if err := w.Write(ctx, 2, []byte("x")); err == nil {
		t.Error("Write to subpartition 2 of 2 succeeded")
	}
	if err := w.Write(ctx, -1, []byte("x")); err == nil {
		t.Error("Write to subpartition -1 succeeded")
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, 0, []byte("x")); err == nil {
		t.Error("Write after Commit succeeded")
	}
	if err := w.Commit(ctx); err == nil {
		t.Error("second Commit succeeded")
	}
	r, err := svc.OpenReader(ctx, id, 1, 3)
	if err == nil {
		_, err = r.Next(ctx)
		r.Close()
	}
	if err == nil || errors.Is(err, io.EOF) {
		t.Errorf("reading subpartitions [1,3) of 2: got %v, want an error", err)
	}
}

func testLarge(t *testing.T, svc shuffle.Service, mode shuffle.Mode) {
	ops := script(5, 7, 2500, 2500, 0.05, true)
	// A few buffers far larger than any block or small sort buffer.
	big := payload('W', 3, 100000, 1<<20)
	bigB := payload('B', 0xffff, 100001, 300<<10)
	ops = append(ops[:1000], append([]op{{3, big}, {-1, bigB}}, ops[1000:]...)...)
	checkSubs(t, produce(t, svc, pid("job", 0), mode, 7, ops), ops)
	if mode == shuffle.Blocking {
		got, err := openRead(ctxT(t), svc, pid("job", 0), 0, 7)
		if err != nil {
			t.Fatal(err)
		}
		if err := equalBufs(got, expectedRange(ops, 0, 7)); err != nil {
			t.Fatalf("range [0,7): %v", err)
		}
	}
}

func testPipelinedRange(t *testing.T, svc shuffle.Service) {
	ctx := ctxT(t)
	id := pid("job", 0)
	ops := script(9, 4, 600, 800, 0.1, false)
	w := create(t, svc, id, shuffle.Pipelined, 4)
	ranges := [][2]int{{0, 3}, {3, 4}}
	got := make([][][]byte, len(ranges))
	var wg sync.WaitGroup
	for i, rg := range ranges {
		r, err := svc.OpenReader(ctx, id, rg[0], rg[1])
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			var err error
			if got[i], err = readAll(ctx, r); err != nil {
				t.Errorf("range %v: %v", rg, err)
			}
		}()
	}
	if err := writeAll(ctx, w, ops); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, rg := range ranges {
		var want [][][]byte
		for s := rg[0]; s < rg[1]; s++ {
			want = append(want, expected(ops, s))
		}
		if err := validInterleaving(got[i], want); err != nil {
			t.Errorf("range %v: %v", rg, err)
		}
	}
}

func testBackPressure(t *testing.T, svc shuffle.Service) {
	ctx := ctxT(t)
	id := pid("job", 0)
	w := create(t, svc, id, shuffle.Pipelined, 2)
	r, err := svc.OpenReader(ctx, id, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Fill subpartition 0 until a write blocks (times out).
	n := 0
	for ; n <= 1024; n++ {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
		err := w.Write(wctx, 0, payload('W', 0, n, 200))
		cancel()
		if err != nil {
			wantErr(t, err, context.DeadlineExceeded, "blocked Write")
			break
		}
	}
	if n == 0 || n > 1024 {
		t.Fatalf("writer blocked after %d buffers, want 1..1024", n)
	}
	if bu, ok := svc.(interface{ BuffersInUse() int }); ok {
		if got := bu.BuffersInUse(); got != n {
			t.Errorf("BuffersInUse = %d with %d queued buffers", got, n)
		}
	}
	// Another subpartition has its own credit... but no reader yet, so a
	// reader opened later still gets everything.
	if err := w.Write(ctx, 1, payload('W', 1, 0, 10)); err != nil {
		t.Fatalf("write to subpartition 1: %v", err)
	}
	// A blocked write proceeds once the reader takes a buffer.
	done := make(chan error, 1)
	go func() { done <- w.Write(context.Background(), 0, payload('W', 0, n, 200)) }()
	if !blocked(done, 100*time.Millisecond) {
		t.Fatal("Write did not block on a full queue")
	}
	b, err := r.Next(ctx)
	if err != nil || !bytes.Equal(b, payload('W', 0, 0, 200)) {
		t.Fatalf("first buffer: %v", err)
	}
	if err := waitErr(t, done, "Write after the reader took a buffer"); err != nil {
		t.Fatalf("unblocked Write: %v", err)
	}
	// Cancelling the context unblocks a blocked write, which enqueues nothing.
	cctx, cancel := context.WithCancel(ctx)
	go func() { done <- w.Write(cctx, 0, payload('W', 0, -1, 200)) }()
	if !blocked(done, 50*time.Millisecond) {
		t.Fatal("Write did not block on a full queue")
	}
	cancel()
	wantErr(t, waitErr(t, done, "cancelled Write"), context.Canceled, "cancelled Write")
	go func() { done <- w.Commit(ctx) }()
	if err := waitErr(t, done, "Commit"); err != nil {
		t.Fatal(err)
	}
	got, err := readAll(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	for i := 1; i <= n; i++ {
		want = append(want, payload('W', 0, i, 200))
	}
	if err := equalBufs(got, want); err != nil {
		t.Fatal(err)
	}
	got, err = openRead(ctx, svc, id, 1, 2)
	if err != nil || len(got) != 1 {
		t.Fatalf("subpartition 1: %d buffers, %v", len(got), err)
	}
	if bu, ok := svc.(interface{ BuffersInUse() int }); ok {
		if got := bu.BuffersInUse(); got != 0 {
			t.Errorf("BuffersInUse = %d after everything was read", got)
		}
	}
}

func testReaderCancel(t *testing.T, svc shuffle.Service) {
	ctx := ctxT(t)
	for _, withWriter := range []bool{false, true} {
		id := pid("job", 0)
		if withWriter {
			id.Producer = 1
			w := create(t, svc, id, shuffle.Pipelined, 1)
			defer w.Abort(nil)
		}
		r, err := svc.OpenReader(ctx, id, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := r.Next(cctx)
			done <- err
		}()
		if !blocked(done, 30*time.Millisecond) {
			t.Fatalf("Next (writer %v) returned without data", withWriter)
		}
		cancel()
		wantErr(t, waitErr(t, done, "cancelled Next"), context.Canceled, "cancelled Next")
		r.Close()
	}
}

func testConsumedOnce(t *testing.T, svc shuffle.Service) {
	ctx := ctxT(t)
	id := pid("job", 0)
	ops := []op{{0, payload('W', 0, 0, 20)}, {1, payload('W', 1, 1, 20)}}
	got := produce(t, svc, id, shuffle.Pipelined, 2, ops)
	checkSubs(t, got, ops)
	_, err := svc.OpenReader(ctx, id, 0, 1)
	wantErr(t, err, shuffle.ErrNotExist, "second reader of a consumed pipelined subpartition")
	// Overlapping live readers are refused too.
	id.Producer = 1
	r, err := svc.OpenReader(ctx, id, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = svc.OpenReader(ctx, id, 1, 2)
	wantErr(t, err, shuffle.ErrNotExist, "overlapping pipelined reader")
}

func testEarlyClose(t *testing.T, svc shuffle.Service) {
	ctx := ctxT(t)
	id := pid("job", 0)
	w := create(t, svc, id, shuffle.Pipelined, 1)
	r, err := svc.OpenReader(ctx, id, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, 0, []byte("x")); err != nil {
		t.Fatal(err)
	}
	r.Close()
	// The consumer went away: writes must not block forever.
	done := make(chan error, 1)
	go func() {
		for i := range 3000 {
			if err := w.Write(ctx, 0, payload('W', 0, i, 64)); err != nil {
				done <- err
				return
			}
		}
		done <- w.Commit(ctx)
	}()
	if err := waitErr(t, done, "writes after the reader closed"); err != nil {
		t.Fatal(err)
	}
	if bu, ok := svc.(interface{ BuffersInUse() int }); ok && bu.BuffersInUse() != 0 {
		t.Errorf("BuffersInUse = %d after the reader closed", bu.BuffersInUse())
	}
}

func testBlockingRange(t *testing.T, svc shuffle.Service) {
	ctx := ctxT(t)
	id := pid("job", 0)
	ops := script(11, 6, 700, 1500, 0.1, true)
	produce(t, svc, id, shuffle.Blocking, 6, ops)
	for _, rg := range [][2]int{{0, 6}, {1, 3}, {2, 3}, {5, 6}, {0, 2}} {
		got, err := openRead(ctx, svc, id, rg[0], rg[1])
		if err != nil {
			t.Fatalf("range %v: %v", rg, err)
		}
		if err := equalBufs(got, expectedRange(ops, rg[0], rg[1])); err != nil {
			t.Errorf("range %v: %v", rg, err)
		}
	}
}

func testInvisible(t *testing.T, svc shuffle.Service) {
	ctx := ctxT(t)
	id := pid("job", 0)
	w := create(t, svc, id, shuffle.Blocking, 2)
	if err := w.Write(ctx, 0, payload('W', 0, 0, 100)); err != nil {
		t.Fatal(err)
	}
	_, err := svc.OpenReader(ctx, id, 0, 1)
	wantErr(t, err, shuffle.ErrNotExist, "OpenReader before Commit")
	_, err = svc.Stat(ctx, id)
	wantErr(t, err, shuffle.ErrNotExist, "Stat before Commit")
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := openRead(ctx, svc, id, 0, 2)
	if err != nil || len(got) != 1 {
		t.Fatalf("after Commit: %d buffers, %v", len(got), err)
	}
}

func testReread(t *testing.T, svc shuffle.Service) {
	ctx := ctxT(t)
	id := pid("job", 0)
	ops := script(13, 3, 500, 2000, 0.1, true)
	produce(t, svc, id, shuffle.Blocking, 3, ops)
	for range 2 {
		got, err := openRead(ctx, svc, id, 0, 3)
		if err != nil {
			t.Fatal(err)
		}
		if err := equalBufs(got, expectedRange(ops, 0, 3)); err != nil {
			t.Fatal(err)
		}
	}
	// Concurrent readers of one partition, some mid-way when others open.
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := i % 3
			got, err := openRead(ctx, svc, id, s, s+1)
			if err != nil {
				t.Errorf("reader %d: %v", i, err)
				return
			}
			if err := equalBufs(got, expected(ops, s)); err != nil {
				t.Errorf("reader %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
}

func testPendingThenBlocking(t *testing.T, svc shuffle.Service) {
	ctx := ctxT(t)
	id := pid("job", 0)
	r, err := svc.OpenReader(ctx, id, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	done := make(chan error, 1)
	go func() {
		_, err := r.Next(ctx)
		done <- err
	}()
	w := create(t, svc, id, shuffle.Blocking, 1)
	defer w.Abort(nil)
	wantErr(t, waitErr(t, done, "pending reader of a blocking partition"), shuffle.ErrNotExist, "pending reader of a blocking partition")
}

func testNotExist(t *testing.T, svc shuffle.Service) {
	ctx := ctxT(t)
	// A committed blocking partition makes its result known as blocking:
	// other producers/attempts of it fail at once.
	produce(t, svc, pid("job", 0), shuffle.Blocking, 1, []op{{0, []byte("x")}})
	for _, id := range []shuffle.PartitionID{pid("job", 1), {Job: "job", Result: "r1", Producer: 0, Attempt: 1}} {
		_, err := svc.OpenReader(ctx, id, 0, 1)
		wantErr(t, err, shuffle.ErrNotExist, "OpenReader of unknown "+id.String())
		_, err = svc.Stat(ctx, id)
		wantErr(t, err, shuffle.ErrNotExist, "Stat of unknown "+id.String())
	}
	// A partition nobody creates: the reader gives up.
	start := time.Now()
	id := shuffle.PartitionID{Job: "job", Result: "nobody", Producer: 0}
	r, err := svc.OpenReader(ctx, id, 0, 1)
	if err == nil {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = r.Next(wctx)
		cancel()
		r.Close()
	}
	wantErr(t, err, shuffle.ErrNotExist, "reader of a partition nobody creates")
	t.Logf("pending reader gave up after %v", time.Since(start).Round(time.Millisecond))
}

func testConcurrent(t *testing.T, svc shuffle.Service) {
	var wg sync.WaitGroup
	for p := range 6 {
		mode := shuffle.Pipelined
		if p%2 == 1 {
			mode = shuffle.Blocking
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ops := script(uint64(100+p), 3, 300, 1000, 0.1, true)
			t.Run(fmt.Sprintf("producer%d", p), func(t *testing.T) {
				checkSubs(t, produce(t, svc, pidm("job", p, mode), mode, 3, ops), ops)
			})
		}()
	}
	wg.Wait()
}

func testRelease(t *testing.T, svc shuffle.Service) {
	ctx := ctxT(t)
	ops := []op{{0, payload('W', 0, 0, 100)}, {1, payload('W', 1, 1, 100)}}
	produce(t, svc, pid("a", 0), shuffle.Blocking, 2, ops)
	produce(t, svc, pid("b", 0), shuffle.Blocking, 2, ops)
	// An open blocking reader, a pending pipelined reader and a pipelined
	// writer blocked by back-pressure, all in job a.
	rBlocking, err := svc.OpenReader(ctx, pid("a", 0), 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer rBlocking.Close()
	rPending, err := svc.OpenReader(ctx, pidm("a", 5, shuffle.Pipelined), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rPending.Close()
	w := create(t, svc, pidm("a", 1, shuffle.Pipelined), shuffle.Pipelined, 1)
	wDone := make(chan error, 1)
	go func() {
		for i := range 5000 {
			if err := w.Write(ctx, 0, payload('W', 0, i, 10)); err != nil {
				wDone <- err
				return
			}
		}
		wDone <- errors.New("writer never blocked")
	}()
	if !blocked(wDone, 100*time.Millisecond) {
		t.Fatal(<-wDone)
	}
	pDone := make(chan error, 1)
	go func() {
		_, err := rPending.Next(ctx)
		pDone <- err
	}()
	if err := svc.Release(ctx, "a"); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if err := waitErr(t, wDone, "writer blocked during Release"); err == nil {
		t.Error("blocked writer returned nil after Release")
	}
	wantErr(t, waitErr(t, pDone, "pending reader during Release"), shuffle.ErrNotExist, "pending reader after Release")
	_, err = rBlocking.Next(ctx)
	wantErr(t, err, shuffle.ErrNotExist, "open blocking reader after Release")
	for _, id := range []shuffle.PartitionID{pid("a", 0), pidm("a", 1, shuffle.Pipelined), pidm("a", 5, shuffle.Pipelined)} {
		_, err := svc.OpenReader(ctx, id, 0, 1)
		wantErr(t, err, shuffle.ErrNotExist, "OpenReader after Release")
		_, err = svc.Stat(ctx, id)
		wantErr(t, err, shuffle.ErrNotExist, "Stat after Release")
	}
	got, err := openRead(ctx, svc, pid("b", 0), 0, 2)
	if err != nil || len(got) != 2 {
		t.Fatalf("other job after Release: %d buffers, %v", len(got), err)
	}
	if err := svc.Release(ctx, "a"); err != nil {
		t.Errorf("second Release: %v", err)
	}
	if err := svc.Release(ctx, "never-existed"); err != nil {
		t.Errorf("Release of an unknown job: %v", err)
	}
}

func testClose(t *testing.T, svc shuffle.Service) {
	ctx := ctxT(t)
	produce(t, svc, pid("job", 0), shuffle.Blocking, 1, []op{{0, []byte("x")}})
	r, err := svc.OpenReader(ctx, pidm("job", 1, shuffle.Pipelined), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	done := make(chan error, 1)
	go func() {
		_, err := r.Next(ctx)
		done <- err
	}()
	if err := svc.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantErr(t, waitErr(t, done, "reader during Close"), shuffle.ErrClosed, "reader during Close")
	_, err = svc.CreateWriter(ctx, pid("job", 2), shuffle.WriterOptions{Mode: shuffle.Blocking, Subpartitions: 1})
	wantErr(t, err, shuffle.ErrClosed, "CreateWriter after Close")
	_, err = svc.OpenReader(ctx, pid("job", 0), 0, 1)
	wantErr(t, err, shuffle.ErrClosed, "OpenReader after Close")
	_, err = svc.Stat(ctx, pid("job", 0))
	wantErr(t, err, shuffle.ErrClosed, "Stat after Close")
	wantErr(t, svc.Release(ctx, "job"), shuffle.ErrClosed, "Release after Close")
	if err := svc.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
