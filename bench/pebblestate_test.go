package bench_test

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dagflow/dagflow/internal/pebblestate"
)

// Run with: go test ./bench -run '^$' -bench KeyedState -benchtime 1000000x -count 3
// and:      go test ./bench -run '^$' -bench PebbleSnapshot -benchtime 10x
// KeyedState compares the Pebble state backend's Get/Set with a Go map
// holding the same entries (the heap backend's storage) in the same run.

const (
	kvKeys      = 1 << 18 // distinct keys
	kvValueSize = 64
)

// kvKey writes the key of id: key group then id, like the dag operators'.
func kvKey(dst []byte, id uint64) []byte {
	dst = binary.BigEndian.AppendUint16(dst[:0], uint16(id%128))
	return binary.BigEndian.AppendUint64(dst, id)
}

// kvStore is the part of engine.KeyedStore the benchmark uses.
type kvStore interface {
	Get(key, dst []byte) ([]byte, bool, error)
	Set(key, value []byte) error
}

// mapStore is the baseline: a Go map, values copied into reused slices.
type mapStore map[string][]byte

func (m mapStore) Get(key, dst []byte) ([]byte, bool, error) {
	v, ok := m[string(key)]
	return append(dst, v...), ok, nil
}

func (m mapStore) Set(key, value []byte) error {
	if old, ok := m[string(key)]; ok {
		m[string(key)] = append(old[:0], value...)
		return nil
	}
	m[string(key)] = append([]byte(nil), value...)
	return nil
}

func openPebbleBench(b *testing.B, opts pebblestate.Options) *pebblestate.Store {
	b.Helper()
	s, err := pebblestate.Open(context.Background(), b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func preload(b *testing.B, s kvStore) {
	b.Helper()
	var key []byte
	val := make([]byte, kvValueSize)
	for id := range uint64(kvKeys) {
		key = kvKey(key, id)
		binary.LittleEndian.PutUint64(val, id)
		if err := s.Set(key, val); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKeyedState(b *testing.B) {
	backends := []struct {
		name string
		open func(b *testing.B) kvStore
	}{
		{"Map", func(*testing.B) kvStore { return mapStore{} }},
		// The store as operators get it: with its write-back cache.
		{"Pebble", func(b *testing.B) kvStore { return openPebbleBench(b, pebblestate.Options{}) }},
		// Every access goes to Pebble.
		{"PebbleNoCache", func(b *testing.B) kvStore { return openPebbleBench(b, pebblestate.Options{WriteCacheSize: -1}) }},
	}
	ops := []struct {
		name string
		// run does one operation on key; it returns false on a miss.
		run func(s kvStore, key, val, dst []byte) ([]byte, error)
	}{
		{"Set", func(s kvStore, key, val, dst []byte) ([]byte, error) { return dst, s.Set(key, val) }},
		{"Get", func(s kvStore, key, val, dst []byte) ([]byte, error) {
			dst, _, err := s.Get(key, dst[:0])
			return dst, err
		}},
		// GetSet is an aggregate's update: read, modify, write.
		{"GetSet", func(s kvStore, key, val, dst []byte) ([]byte, error) {
			dst, _, err := s.Get(key, dst[:0])
			if err != nil {
				return dst, err
			}
			if len(dst) >= 8 {
				binary.LittleEndian.PutUint64(dst, binary.LittleEndian.Uint64(dst)+1)
			}
			return dst, s.Set(key, dst)
		}},
	}
	for _, op := range ops {
		for _, be := range backends {
			b.Run(op.name+"/"+be.name, func(b *testing.B) {
				s := be.open(b)
				preload(b, s)
				r := rand.New(rand.NewPCG(1, 2))
				key := make([]byte, 0, 16)
				val := make([]byte, kvValueSize)
				dst := make([]byte, 0, kvValueSize)
				var err error
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					key = kvKey(key, r.Uint64N(kvKeys))
					if dst, err = op.run(s, key, val, dst); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}

// BenchmarkPebbleSnapshot times the two phases of an incremental snapshot
// of 64 MB of state after 1% of its keys changed: the synchronous phase
// (memtable flush and hard links; the task waits for it) and the
// asynchronous upload to a local directory, and the share of the full
// state the incremental checkpoint uploads.
func BenchmarkPebbleSnapshot(b *testing.B) {
	ctx := context.Background()
	s := openPebbleBench(b, pebblestate.Options{})
	st := &pebblestate.DirStorage{Root: b.TempDir()}
	const n = (64 << 20) / (10 + 200)
	r := rand.New(rand.NewPCG(3, 4))
	var key []byte
	val := make([]byte, 200)
	put := func(id uint64) {
		key = kvKey(key, id)
		for j := 0; j < len(val); j += 8 {
			binary.LittleEndian.PutUint64(val[j:], r.Uint64())
		}
		if err := s.Set(key, val); err != nil {
			b.Fatal(err)
		}
	}
	for id := range uint64(n) {
		put(id)
	}
	if err := s.Compact(ctx); err != nil {
		b.Fatal(err)
	}
	snap := func(id int64) *pebblestate.Result {
		p, err := s.Snapshot(ctx, id, st)
		if err != nil {
			b.Fatal(err)
		}
		res, err := p.Upload(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.CheckpointComplete(ctx, id); err != nil {
			b.Fatal(err)
		}
		return res
	}
	snap(0)
	var syncD, asyncD time.Duration
	var full, incr int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for range n / 100 {
			put(r.Uint64N(n))
		}
		b.StartTimer()
		res := snap(int64(i + 1))
		syncD += res.SyncDuration
		asyncD += res.AsyncDuration
		full += res.FullBytes
		incr += res.IncrementalBytes
	}
	b.ReportMetric(float64(syncD.Microseconds())/1000/float64(b.N), "sync-ms/op")
	b.ReportMetric(float64(asyncD.Microseconds())/1000/float64(b.N), "async-ms/op")
	b.ReportMetric(float64(full)/(1<<20)/float64(b.N), "full-MB/op")
	b.ReportMetric(float64(incr)/(1<<20)/float64(b.N), "uploaded-MB/op")
	// The figure of issue 20: an incremental checkpoint at 1% churn
	// uploads at most 5% of the full state.
	b.ReportMetric(100*float64(incr)/max(float64(full), 1), "uploaded-%-of-full")
}
