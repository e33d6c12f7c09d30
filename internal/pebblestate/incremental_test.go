package pebblestate

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// stateMB is the state size of TestIncrementalCheckpoint:
// DAGFLOW_PEBBLE_STATE_MB, else 64 (16 with -short).
func stateMB(t *testing.T) int {
	if v := os.Getenv("DAGFLOW_PEBBLE_STATE_MB"); v != "" {
		mb, err := strconv.Atoi(v)
		if err != nil || mb <= 0 {
			t.Fatalf("DAGFLOW_PEBBLE_STATE_MB=%q: want a positive number of MB", v)
		}
		return mb
	}
	if testing.Short() {
		return 16
	}
	return 64
}

// TestIncrementalCheckpoint loads DAGFLOW_PEBBLE_STATE_MB of random state,
// checkpoints it, updates 1% of the keys and checks the next checkpoint
// uploads at most 5% of the state. Two more rounds are logged (not
// asserted) to show the steady state, where compactions add their output.
func TestIncrementalCheckpoint(t *testing.T) {
	const valueSize = 200
	const keySize = 2 + 8
	mb := stateMB(t)
	n := (mb << 20) / (keySize + valueSize)
	st := &DirStorage{Root: t.TempDir()}
	s := openTest(t, Options{})

	r := rand.New(rand.NewPCG(42, 7))
	key := make([]byte, keySize)
	val := make([]byte, valueSize)
	put := func(i int) {
		// The key group is a hash of the record's key: random.
		binary.BigEndian.PutUint16(key, uint16(mix(uint64(i))%testMaxPar))
		binary.BigEndian.PutUint64(key[2:], uint64(i))
		for j := 0; j < valueSize; j += 8 {
			binary.LittleEndian.PutUint64(val[j:], r.Uint64())
		}
		if err := s.Set(key, val); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	for i := range n {
		put(i)
	}
	t.Logf("loaded %d entries (%d MB of keys and values) in %v", n, mb, time.Since(start).Round(time.Millisecond))
	// A store that has run for a while has worked off the compaction debt
	// of its initial load; without this, that debt (not the updates) would
	// decide what checkpoint 2 uploads.
	start = time.Now()
	if err := s.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("compacted in %v", time.Since(start).Round(time.Millisecond))

	logResult := func(what string, res *Result) {
		t.Logf("%s: full %.1f MB in %d SSTs, uploaded %.2f MB (%.2f%%) in %d files; sync phase %v, async phase %v",
			what, float64(res.FullBytes)/(1<<20), len(res.Shared), float64(res.IncrementalBytes)/(1<<20),
			100*float64(res.IncrementalBytes)/float64(res.FullBytes), res.Files,
			res.SyncDuration.Round(time.Millisecond), res.AsyncDuration.Round(time.Millisecond))
	}
	r1 := checkpointOf(t, s, 1, st)
	logResult("checkpoint 1", r1)
	if r1.FullBytes < int64(mb)<<20/2 {
		t.Fatalf("checkpoint 1 holds %d bytes for %d MB of state", r1.FullBytes, mb)
	}
	rounds := 4
	if v, err := strconv.Atoi(os.Getenv("DAGFLOW_PEBBLE_ROUNDS")); err == nil && v > 1 {
		rounds = v
	}
	var total, full int64
	last := r1
	for round := 2; round <= rounds; round++ {
		start := time.Now()
		for range n / 100 {
			put(r.IntN(n))
		}
		upd := time.Since(start)
		res := checkpointOf(t, s, int64(round), st)
		logResult("checkpoint "+strconv.Itoa(round)+" after updating 1% of keys in "+upd.Round(time.Millisecond).String(), res)
		if round == 2 && res.IncrementalBytes*20 > res.FullBytes {
			t.Errorf("checkpoint 2 uploaded %d of %d bytes (%.1f%%) after updating 1%% of the keys, want <= 5%%",
				res.IncrementalBytes, res.FullBytes, 100*float64(res.IncrementalBytes)/float64(res.FullBytes))
		}
		total += res.IncrementalBytes
		last = res
		full = res.FullBytes
		if testing.Short() {
			break
		}
	}
	t.Logf("checkpoints 2..%d uploaded %.1f%% of the state each on average", rounds, 100*float64(total)/float64(rounds-1)/float64(full))

	// Restore the last checkpoint (same key groups: download and open).
	start = time.Now()
	rs, err := Restore(context.Background(), t.TempDir(), Options{}, []RestoreInput{inputOf(t, last)}, st)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	restored := time.Since(start)
	count := 0
	if err := rs.Scan(nil, func(k, v []byte) bool { count++; return true }); err != nil {
		t.Fatal(err)
	}
	if count != n {
		t.Errorf("restored %d entries, want %d", count, n)
	}
	t.Logf("restored %.1f MB in %v, scanned %d entries in %v", float64(last.FullBytes)/(1<<20), restored.Round(time.Millisecond), count, (time.Since(start) - restored).Round(time.Millisecond))
}

// mix is splitmix64's finalizer (spreads sequential ids over key groups).
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
