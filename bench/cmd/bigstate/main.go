// Command bigstate runs a keyed tumbling-window aggregation whose state is
// larger than the memory the process may use, with the Pebble state
// backend, and checks its output exactly.
//
//	GOMEMLIMIT=2GiB go run ./bench/cmd/bigstate --keys 8000000 --value-bytes 1000 \
//	    [--visits 2] [--parallelism 2] [--checkpoint-interval 60s] [--state-backend pebble]
//
// Every one of --keys keys is visited --visits times (events = keys ×
// visits, in one event-time window that fires when the input ends); the
// accumulator of a key is --value-bytes bytes, so the window's state is
// about keys × (value-bytes + key) bytes. The output, one count per key,
// is checked against the counts computed in closed form. The command
// prints wall and CPU time, peak RSS (getrusage), the largest size of the
// job's working directory on disk (Pebble state and shuffle files), and the full and incremental sizes of the
// checkpoints taken.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bigstate:", err)
		os.Exit(1)
	}
}

// mix spreads key ids over uint64 (a bijection: odd multiplier).
func mix(id uint64) uint64 { return id * 0x9E3779B97F4A7C15 }

func run(ctx context.Context, args []string, out io.Writer) error {
	fset := flag.NewFlagSet("bigstate", flag.ContinueOnError)
	keys := fset.Int64("keys", 1_000_000, "distinct keys")
	visits := fset.Int64("visits", 2, "events per key")
	valueBytes := fset.Int("value-bytes", 1000, "accumulator size per key, bytes")
	par := fset.Int("parallelism", 2, "parallelism")
	interval := fset.Duration("checkpoint-interval", 60*time.Second, "checkpoint interval (0: none)")
	backend := fset.String("state-backend", dag.BackendPebble, "keyed state backend: heap or pebble")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if *keys < 1 || *visits < 1 || *valueBytes < 8 || *par < 1 {
		return fmt.Errorf("--keys, --visits, --parallelism must be at least 1 and --value-bytes at least 8")
	}
	events := *keys * *visits
	ckDir, err := os.MkdirTemp("", "bigstate-ckpt-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(ckDir)
	g := dag.New("bigstate", dag.Config{Parallelism: *par, Mode: dag.StreamingMode, StateBackend: *backend,
		Checkpoint: dag.CheckpointConfig{Interval: *interval, Dir: "file://" + ckDir}})
	src := &source{keys: *keys, events: events}
	recs := dag.FromSource(g, "events", dag.Source[uint64](src), &dag.WatermarkStrategy[uint64]{}, dag.WithCoder[uint64](dag.UvarintCoder[uint64]{}))
	vb := *valueBytes
	w := dag.Window(dag.KeyBy(recs, func(k uint64) uint64 { return k }), dag.Tumbling(time.Duration(events+1)*time.Millisecond))
	counts := dag.WindowAggregate(w, dag.Agg[uint64, []byte, uint64]{
		Zero: func() []byte { return nil },
		Add: func(acc []byte, k uint64) []byte {
			if acc == nil {
				acc = make([]byte, vb)
				for i := 8; i+8 <= vb; i += 8 {
					binary.LittleEndian.PutUint64(acc[i:], k+uint64(i))
				}
			}
			binary.LittleEndian.PutUint64(acc, binary.LittleEndian.Uint64(acc)+1)
			return acc
		},
		Result: func(acc []byte) uint64 { return binary.LittleEndian.Uint64(acc) },
	}, dag.Name("window"))
	sink := &sumSink{}
	dag.ToSink(counts, "out", dag.Sink[dag.WindowResult[uint64, uint64]](sink))

	workDir, err := os.MkdirTemp("", "bigstate-work-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(workDir)
	var maxDisk atomic.Int64
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if n := dirSize(workDir); n > maxDisk.Load() {
					maxDisk.Store(n)
				}
			}
		}
	}()
	w0, c0 := time.Now(), cpuTime()
	res, err := dagflow.Run(ctx, g, dagflow.Options{Progress: nil, Dir: workDir,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	close(done)
	if err != nil {
		return err
	}
	wall, cpu := time.Since(w0), cpuTime()-c0

	// Each key k = mix(id) is counted visits times.
	var wantHash uint64
	for id := range uint64(*keys) {
		wantHash += mix(id) * uint64(*visits)
	}
	gotRecs, gotSum, gotHash := sink.recs.Load(), sink.sum.Load(), sink.hash.Load()
	ok := gotRecs == *keys && gotSum == events && gotHash == wantHash
	fmt.Fprintf(out, "bigstate: %d keys × %d visits, %d-byte accumulators (~%.2f GB of window state), parallelism %d, %s state, GOMEMLIMIT=%q\n",
		*keys, *visits, vb, float64(*keys)*float64(vb+10)/1e9, *par, *backend, os.Getenv("GOMEMLIMIT"))
	fmt.Fprintf(out, "wall %.1f s, cpu %.1f s, peak RSS %.0f MB, largest working directory (Pebble state and shuffle files) %.2f GB\n",
		wall.Seconds(), cpu.Seconds(), float64(peakRSS())/(1<<20), float64(maxDisk.Load())/1e9)
	for _, cs := range res.Checkpoints {
		fmt.Fprintf(out, "checkpoint %d %s: size %.1f MB, uploaded %.1f MB (%.1f%%), %v\n", cs.ID, cs.Status,
			float64(cs.Size)/(1<<20), float64(cs.Incremental)/(1<<20), 100*float64(cs.Incremental)/max(float64(cs.Size), 1), cs.Duration.Round(time.Millisecond))
	}
	fmt.Fprintf(out, "output: %d records, %d counted, hash %016x; want %d, %d, %016x: %s\n",
		gotRecs, gotSum, gotHash, *keys, events, wantHash, map[bool]string{true: "exact", false: "WRONG"}[ok])
	if !ok {
		return errors.New("the output differs from the expected counts")
	}
	return nil
}

// source emits events 0..events-1: event i is key mix(i mod keys) at
// event time i ms.
type source struct{ keys, events int64 }

func (s *source) Bounded() bool { return true }

func (s *source) Splits(_ context.Context, sc dag.SplitContext) ([]dag.Split, error) {
	n := int64(max(sc.Parallelism, 1)) * 4
	size := (s.events + n - 1) / n
	var out []dag.Split
	for a := int64(0); a < s.events; a += size {
		b := min(a+size, s.events)
		out = append(out, dag.Split{ID: fmt.Sprint("range-", a), Data: binary.AppendVarint(binary.AppendVarint(nil, a), b), Weight: b - a})
	}
	return out, nil
}

func (s *source) OpenSplit(_ context.Context, _ dag.ReaderContext, sp dag.Split) (dag.SplitReader[uint64], error) {
	a, n := binary.Varint(sp.Data)
	if n <= 0 {
		return nil, fmt.Errorf("bigstate: corrupt split %s", sp.ID)
	}
	b, m := binary.Varint(sp.Data[n:])
	if m <= 0 || a < 0 || b < a || b > s.events {
		return nil, fmt.Errorf("bigstate: corrupt split %s", sp.ID)
	}
	return &reader{s: s, split: sp, next: a, end: b}, nil
}

type reader struct {
	s         *source
	split     dag.Split
	next, end int64
}

func (r *reader) ReadBatch(_ context.Context, b *dag.Batch[uint64], maxN int) (int, error) {
	n := 0
	for ; n < maxN && r.next < r.end; n++ {
		b.Append(mix(uint64(r.next%r.s.keys)), r.next)
		r.next++
	}
	if r.next >= r.end {
		return n, io.EOF
	}
	return n, nil
}

func (r *reader) Position() (dag.Split, error) {
	sp := r.split
	sp.Data = binary.AppendVarint(binary.AppendVarint(nil, r.next), r.end)
	return sp, nil
}

func (r *reader) Close() error { return nil }

// sumSink sums the window results (no failures are injected, so a
// non-transactional sink counts each result once).
type sumSink struct {
	recs, sum atomic.Int64
	hash      atomic.Uint64
}

func (s *sumSink) NewWriter(context.Context, dag.SinkContext) (dag.SinkWriter[dag.WindowResult[uint64, uint64]], error) {
	return &sumWriter{s: s}, nil
}

func (s *sumSink) Committer() dag.Committer { return nil }

type sumWriter struct{ s *sumSink }

func (w *sumWriter) Write(_ context.Context, b *dag.Batch[dag.WindowResult[uint64, uint64]]) error {
	for _, r := range b.Vals {
		w.s.recs.Add(1)
		w.s.sum.Add(int64(r.Value))
		w.s.hash.Add(r.Key * r.Value)
	}
	return nil
}

func (w *sumWriter) Prepare(context.Context) ([][]byte, error) { return nil, nil }
func (w *sumWriter) Abort(context.Context) error               { return nil }
func (w *sumWriter) Close() error                              { return nil }

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024
}
