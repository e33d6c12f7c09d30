package pebblestate

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestWriteCacheMatchesModel runs random (seeded) sequences of Get, Set,
// Append, Delete, Scan, DeletePrefix and snapshot-restore round trips against a store and
// a plain map, with a write-back cache so small that it is flushed and
// emptied every few writes, with the default one, and with none. Every
// read, scan and restored store must equal the map.
func TestWriteCacheMatchesModel(t *testing.T) {
	for _, budget := range []int64{-1, 400, 0} {
		for seed := range uint64(6) {
			t.Run(fmt.Sprintf("budget=%d/seed=%d", budget, seed), func(t *testing.T) {
				runCacheModel(t, rand.New(rand.NewPCG(seed, uint64(budget))), budget)
			})
		}
	}
}

func runCacheModel(t *testing.T, r *rand.Rand, budget int64) {
	ctx := context.Background()
	opts := Options{KeyGroupFrom: 0, KeyGroupTo: 3, WriteCacheSize: budget}
	s, err := Open(ctx, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	st := &DirStorage{Root: t.TempDir()}
	want := model{}
	// Short keys over a small alphabet, so that prefixes overlap.
	genKey := func() string {
		rest := make([]byte, r.IntN(4))
		for i := range rest {
			rest[i] = "ab"[r.IntN(2)]
		}
		return string(kgKey(r.IntN(3), string(rest)))
	}
	genPrefix := func() string {
		k := genKey()
		return k[:r.IntN(len(k)+1)]
	}
	checkpointID := int64(0)
	for range 400 {
		switch op := r.IntN(40); {
		case op < 12:
			k := genKey()
			v := fmt.Sprintf("%016x", r.Uint64())[:r.IntN(17)]
			if err := s.Set([]byte(k), []byte(v)); err != nil {
				t.Fatal(err)
			}
			want[k] = v
		case op < 24:
			k := genKey()
			got, ok, err := s.Get([]byte(k), []byte("dst:"))
			if err != nil {
				t.Fatal(err)
			}
			w, wok := want[k]
			if ok != wok || (ok && string(got) != "dst:"+w) || (!ok && string(got) != "dst:") {
				t.Fatalf("Get(%x) = %q, %v; want %q, %v", k, got, ok, "dst:"+w, wok)
			}
		case op < 27:
			k := genKey()
			v := fmt.Sprintf("+%x", r.IntN(256))
			if err := s.Append([]byte(k), []byte(v)); err != nil {
				t.Fatal(err)
			}
			want[k] += v
		case op < 30:
			k := genKey()
			if err := s.Delete([]byte(k)); err != nil {
				t.Fatal(err)
			}
			delete(want, k)
		case op < 33:
			p := genPrefix()
			if err := s.DeletePrefix([]byte(p)); err != nil {
				t.Fatal(err)
			}
			for k := range want {
				if strings.HasPrefix(k, p) {
					delete(want, k)
				}
			}
		case op < 39:
			p := genPrefix()
			var got []string
			if err := s.Scan([]byte(p), func(k, v []byte) bool { got = append(got, string(k)+"="+string(v)); return true }); err != nil {
				t.Fatal(err)
			}
			if w := want.scan(p); !slices.Equal(got, w) {
				t.Fatalf("Scan(%x) = %q, want %q", p, got, w)
			}
		default:
			// Snapshot, write more, restore the snapshot: it holds exactly
			// the writes before it, cached or not.
			checkpointID++
			p, err := s.Snapshot(ctx, checkpointID, st)
			if err != nil {
				t.Fatal(err)
			}
			atSnapshot := maps.Clone(want)
			late := genKey()
			if err := s.Set([]byte(late), []byte("late")); err != nil {
				t.Fatal(err)
			}
			want[late] = "late"
			res, err := p.Upload(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := Restore(ctx, t.TempDir(), opts, []RestoreInput{inputOf(t, res)}, st)
			if err != nil {
				t.Fatal(err)
			}
			got := model{}
			if err := rs.Scan(nil, func(k, v []byte) bool { got[string(k)] = string(v); return true }); err != nil {
				t.Fatal(err)
			}
			_ = rs.Close()
			if !maps.Equal(got, atSnapshot) {
				t.Fatalf("restored snapshot %d = %q, want %q", checkpointID, got.scan(""), atSnapshot.scan(""))
			}
		}
	}
	var got []string
	if err := s.Scan(nil, func(k, v []byte) bool { got = append(got, string(k)+"="+string(v)); return true }); err != nil {
		t.Fatal(err)
	}
	if w := want.scan(""); !slices.Equal(got, w) {
		t.Fatalf("final Scan = %q, want %q", got, w)
	}
}
