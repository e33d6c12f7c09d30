package bench_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/io/filesystem"
)

// Run with:
//
//	go test ./bench -run '^$' -bench CheckpointStorage -benchtime 3x
//	go test ./bench -run CheckpointStorageFiles -v
//
// One checkpoint of a synthetic streaming job, written through
// internal/checkpoint to the local file system, with small-file merging
// off (the baseline: one file per state handle) and on (one segment file
// per worker). Layout (ckptLayout): parallelism 64 on 2 workers (32
// subtasks each), 3 stateful operators per task, maxParallelism 8192 so
// each operator instance holds 128 key groups. Each key group's state is
// 1-8 KiB (uniform: the serialized maps of a windowed aggregation with a
// few dozen keys per key group); each operator instance also writes one
// operator-state handle of 1 KiB (timers, source positions). Per
// checkpoint that is 24,768 handles and about 110 MiB. Every subtask
// writes from its own goroutine through its worker's CheckpointWriter, as
// the asynchronous snapshot phase does. A measured checkpoint includes
// Complete (metadata written atomically) and the subsumption of the
// previous checkpoint (Retain 1), i.e. the steady state.

// ckptLayout describes the synthetic job.
type ckptLayout struct {
	parallelism, workers, operators, keyGroups int
	minKG, maxKG, operatorState                int
}

var defaultCkptLayout = ckptLayout{
	parallelism: 64, workers: 2, operators: 3, keyGroups: 128,
	minKG: 1 << 10, maxKG: 8 << 10, operatorState: 1 << 10,
}

// ckptRun is what one checkpoint cost.
type ckptRun struct {
	ops   checkpoint.FSOps
	files int
	bytes int64
	dur   time.Duration
}

// ckptStore is a storage on a counting local file system.
type ckptStore struct {
	s   *checkpoint.Storage
	cfs *checkpoint.CountingFS
	// payload is shared, read-only state bytes (sliced per handle).
	payload []byte
	next    int64
}

func newCkptStore(tb testing.TB, merge bool, l ckptLayout) *ckptStore {
	reg := filesystem.NewRegistry()
	cfs := checkpoint.NewCountingFS(filesystem.Local{})
	reg.Register("file", cfs)
	opts := checkpoint.DefaultOptions()
	opts.MergeEnabled = merge
	opts.Retain = 1
	opts.Logger = slog.New(slog.DiscardHandler)
	s, err := checkpoint.NewStorage(reg, "file://"+filepath.ToSlash(tb.TempDir()), "job", opts)
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	p := make([]byte, l.maxKG+l.operatorState)
	for i := range p {
		p[i] = byte(rng.UintN(256))
	}
	return &ckptStore{s: s, cfs: cfs, payload: p, next: 1}
}

// checkpoint writes and completes one checkpoint of layout l.
func (cs *ckptStore) checkpoint(ctx context.Context, l ckptLayout) (ckptRun, error) {
	id := cs.next
	cs.next++
	before := cs.cfs.Ops()
	start := time.Now()
	perWorker := l.parallelism / l.workers
	tasks := make([]checkpoint.TaskState, l.parallelism)
	var files int
	var bytes int64
	for wk := range l.workers {
		w := cs.s.NewCheckpointWriter(id, fmt.Sprintf("worker-%d", wk))
		var wg sync.WaitGroup
		errs := make([]error, perWorker)
		for i := range perWorker {
			sub := wk*perWorker + i
			wg.Add(1)
			go func() {
				defer wg.Done()
				tasks[sub], errs[i] = cs.snapshotTask(ctx, w, id, sub, l)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return ckptRun{}, err
			}
		}
		st, err := w.Close(ctx)
		if err != nil {
			return ckptRun{}, err
		}
		files += st.Files
		bytes += st.Bytes
	}
	md := &checkpoint.Metadata{ID: id, Kind: "checkpoint", MaxParallelism: l.parallelism * l.keyGroups, Tasks: tasks}
	if err := cs.s.Complete(ctx, md); err != nil {
		return ckptRun{}, err
	}
	return ckptRun{ops: cs.cfs.Ops().Sub(before), files: files + 1, bytes: bytes, dur: time.Since(start)}, nil
}

func (cs *ckptStore) snapshotTask(ctx context.Context, w *checkpoint.CheckpointWriter, id int64, sub int, l ckptLayout) (checkpoint.TaskState, error) {
	rng := rand.New(rand.NewPCG(uint64(id), uint64(sub)))
	ts := checkpoint.TaskState{Task: 0, Subtask: sub}
	for op := range l.operators {
		opState := checkpoint.OperatorState{Vertex: op + 1}
		for kg := range l.keyGroups {
			n := l.minKG + rng.IntN(l.maxKG-l.minKG+1)
			off := rng.IntN(len(cs.payload) - n + 1)
			h, err := w.Write(ctx, cs.payload[off:off+n])
			if err != nil {
				return ts, err
			}
			opState.KeyGroups = append(opState.KeyGroups, checkpoint.KeyGroupHandle{KeyGroup: sub*l.keyGroups + kg, Handle: h})
		}
		h, err := w.Write(ctx, cs.payload[:l.operatorState])
		if err != nil {
			return ts, err
		}
		opState.Operator = []checkpoint.Handle{h}
		ts.Operators = append(ts.Operators, opState)
	}
	return ts, nil
}

func BenchmarkCheckpointStorage(b *testing.B) {
	ctx := context.Background()
	l := defaultCkptLayout
	off, on := newCkptStore(b, false, l), newCkptStore(b, true, l)
	// Warm up: the measured checkpoints subsume a previous one.
	for _, cs := range []*ckptStore{off, on} {
		if _, err := cs.checkpoint(ctx, l); err != nil {
			b.Fatal(err)
		}
	}
	var sumOff, sumOn ckptRun
	b.ResetTimer()
	for range b.N {
		ro, err := off.checkpoint(ctx, l)
		if err != nil {
			b.Fatal(err)
		}
		rn, err := on.checkpoint(ctx, l)
		if err != nil {
			b.Fatal(err)
		}
		sumOff.files += ro.files
		sumOff.dur += ro.dur
		sumOff.ops = addOps(sumOff.ops, ro.ops)
		sumOn.files += rn.files
		sumOn.dur += rn.dur
		sumOn.ops = addOps(sumOn.ops, rn.ops)
		sumOn.bytes += rn.bytes
	}
	n := float64(b.N)
	b.ReportMetric(float64(sumOff.files)/n, "files/ckpt-off")
	b.ReportMetric(float64(sumOn.files)/n, "files/ckpt-on")
	b.ReportMetric(float64(sumOff.ops.Total())/n, "fsops/ckpt-off")
	b.ReportMetric(float64(sumOn.ops.Total())/n, "fsops/ckpt-on")
	b.ReportMetric(sumOff.dur.Seconds()*1000/n, "ms/ckpt-off")
	b.ReportMetric(sumOn.dur.Seconds()*1000/n, "ms/ckpt-on")
	b.ReportMetric(float64(sumOn.bytes)/n/(1<<20), "MiB/ckpt")
	b.Logf("per checkpoint, merging off: %d files, ops %v, %v", sumOff.files/b.N, scaleOps(sumOff.ops, b.N), sumOff.dur/time.Duration(b.N))
	b.Logf("per checkpoint, merging on:  %d files, ops %v, %v", sumOn.files/b.N, scaleOps(sumOn.ops, b.N), sumOn.dur/time.Duration(b.N))
	b.Logf("ratio off/on: files %.0fx, fs ops %.0fx, time %.2fx",
		float64(sumOff.files)/float64(sumOn.files),
		float64(sumOff.ops.Total())/float64(sumOn.ops.Total()),
		sumOff.dur.Seconds()/sumOn.dur.Seconds())
}

func addOps(a, b checkpoint.FSOps) checkpoint.FSOps {
	var zero checkpoint.FSOps
	return a.Sub(zero.Sub(b))
}

func scaleOps(o checkpoint.FSOps, n int) checkpoint.FSOps {
	d := int64(n)
	return checkpoint.FSOps{
		Create: o.Create / d, Open: o.Open / d, Rename: o.Rename / d, Remove: o.Remove / d,
		RemoveAll: o.RemoveAll / d, MkdirAll: o.MkdirAll / d, Stat: o.Stat / d, List: o.List / d,
		Glob: o.Glob / d, BytesWritten: o.BytesWritten / d,
	}
}

// TestCheckpointStorageFilesRatio counts the files one checkpoint of the
// benchmark's layout creates with merging off and on and asserts merging
// creates at least 20x fewer. Counts, not timings: the key-group state is
// made smaller (600 B-1 KiB, still above the inline threshold and below
// the merge threshold, so every handle is placed as in the benchmark) to
// keep the test fast.
func TestCheckpointStorageFilesRatio(t *testing.T) {
	ctx := context.Background()
	l := defaultCkptLayout
	l.minKG, l.maxKG, l.operatorState = 600, 1<<10, 600
	handles := l.parallelism * l.operators * (l.keyGroups + 1)
	var runs [2]ckptRun
	for i, merge := range []bool{false, true} {
		r, err := newCkptStore(t, merge, l).checkpoint(ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		runs[i] = r
		t.Logf("merging %v: %d files created (%d create calls), fs ops %v", merge, r.files, r.ops.Create, r.ops)
	}
	if runs[0].files != handles+1 {
		t.Fatalf("merging off created %d files, want one per handle (%d) and the metadata", runs[0].files, handles)
	}
	ratio := float64(runs[0].files) / float64(runs[1].files)
	t.Logf("files ratio off/on: %.0fx", ratio)
	if ratio < 20 {
		t.Fatalf("merging created %d files vs %d without: ratio %.1f < 20", runs[1].files, runs[0].files, ratio)
	}
}
