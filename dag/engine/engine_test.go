package engine_test

import (
	"errors"
	"testing"

	"github.com/dagflow/dagflow/dag/engine"
)

func TestWatermarkFrame(t *testing.T) {
	for _, wm := range []int64{0, 1, -1, 1 << 40, -1 << 62} {
		buf := engine.EncodeWatermark(nil, wm)
		if buf[0] != engine.FrameWatermark {
			t.Fatalf("frame kind %q, want %q", buf[0], engine.FrameWatermark)
		}
		got, err := engine.DecodeWatermark(buf)
		if err != nil || got != wm {
			t.Fatalf("DecodeWatermark(EncodeWatermark(%d)) = %d, %v", wm, got, err)
		}
	}
}

func TestBarrierFrame(t *testing.T) {
	for _, b := range []engine.Barrier{
		{ID: 1, Timestamp: 1700000000000, Kind: engine.KindCheckpoint},
		{ID: 42, Timestamp: 7, Kind: engine.KindSavepoint},
		{ID: 1 << 50, Timestamp: -1, Kind: engine.KindDrainSavepoint},
	} {
		got, err := engine.DecodeBarrier(engine.EncodeBarrier(nil, b))
		if err != nil || got != b {
			t.Fatalf("DecodeBarrier(EncodeBarrier(%+v)) = %+v, %v", b, got, err)
		}
	}
}

func TestBadFrames(t *testing.T) {
	unknownKind := engine.EncodeBarrier(nil, engine.Barrier{ID: 1})
	unknownKind[len(unknownKind)-1] = 9
	for name, tc := range map[string]struct {
		buf     []byte
		barrier bool
	}{
		"empty watermark":      {buf: nil},
		"short watermark":      {buf: []byte{engine.FrameWatermark, 1, 2}},
		"watermark wrong kind": {buf: engine.EncodeBarrier(nil, engine.Barrier{})[:9]},
		"empty barrier":        {buf: nil, barrier: true},
		"long barrier":         {buf: append(engine.EncodeBarrier(nil, engine.Barrier{}), 0), barrier: true},
		"barrier wrong kind":   {buf: append(engine.EncodeWatermark(nil, 1), make([]byte, 9)...), barrier: true},
		"barrier unknown kind": {buf: unknownKind, barrier: true},
	} {
		var err error
		if tc.barrier {
			_, err = engine.DecodeBarrier(tc.buf)
		} else {
			_, err = engine.DecodeWatermark(tc.buf)
		}
		if !errors.Is(err, engine.ErrCorruptRecord) {
			t.Errorf("%s: error %v, want ErrCorruptRecord", name, err)
		}
	}
}

func FuzzDecodeControlFrames(f *testing.F) {
	f.Add(engine.EncodeWatermark(nil, 5))
	f.Add(engine.EncodeBarrier(nil, engine.Barrier{ID: 3, Timestamp: 4, Kind: engine.KindSavepoint}))
	f.Fuzz(func(t *testing.T, buf []byte) {
		if wm, err := engine.DecodeWatermark(buf); err == nil {
			if got := engine.EncodeWatermark(nil, wm); string(got) != string(buf) {
				t.Fatalf("watermark %d re-encodes to %x, decoded from %x", wm, got, buf)
			}
		}
		if b, err := engine.DecodeBarrier(buf); err == nil {
			if got := engine.EncodeBarrier(nil, b); string(got) != string(buf) {
				t.Fatalf("barrier %+v re-encodes to %x, decoded from %x", b, got, buf)
			}
		}
	})
}

func TestKeyGroupRangesCoverEveryKeyGroupOnce(t *testing.T) {
	for _, tc := range []struct{ maxPar, par int }{{128, 1}, {128, 3}, {128, 128}, {7, 5}, {1, 1}} {
		owner := make([]int, tc.maxPar)
		for i := range owner {
			owner[i] = -1
		}
		for s := 0; s < tc.par; s++ {
			from, to := engine.KeyGroupRange(s, tc.maxPar, tc.par)
			for kg := from; kg < to; kg++ {
				if owner[kg] != -1 {
					t.Fatalf("max %d par %d: key group %d in the ranges of subtasks %d and %d", tc.maxPar, tc.par, kg, owner[kg], s)
				}
				owner[kg] = s
			}
		}
		for kg, s := range owner {
			if s == -1 {
				t.Fatalf("max %d par %d: key group %d in no range", tc.maxPar, tc.par, kg)
			}
			if got := engine.SubtaskForKeyGroup(kg, tc.maxPar, tc.par); got != s {
				t.Fatalf("max %d par %d: SubtaskForKeyGroup(%d) = %d, range says %d", tc.maxPar, tc.par, kg, got, s)
			}
		}
	}
}
