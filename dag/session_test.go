package dag

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// otRefSessions is a brute-force model of session windows with allowed
// lateness: it keeps the accepted records of every live session and
// recomputes the sessions of a key from scratch (sort, split where
// timestamps are more than gap apart).
func otRefSessions(steps []otStep, gap, lateness int64) (out, late []otExpect) {
	type tv struct{ ts, v int64 }
	pool := map[string][]tv{} // live (not purged) records per key
	wm := MinTime
	type sess struct {
		start, end int64
		vals       []int64
	}
	sessions := func(recs []tv) []sess {
		recs = otSortedBy(recs, func(r tv) int64 { return r.ts })
		var ss []sess
		for _, r := range recs {
			if n := len(ss); n > 0 && r.ts <= ss[n-1].end { // overlaps or touches
				ss[n-1].end = max(ss[n-1].end, r.ts+gap)
				ss[n-1].vals = append(ss[n-1].vals, r.v)
				continue
			}
			ss = append(ss, sess{start: r.ts, end: r.ts + gap, vals: []int64{r.v}})
		}
		return ss
	}
	result := func(step int, k string, s sess) otExpect {
		r := WindowResult[string, otStats]{Key: k, Start: s.start, End: s.end, Value: otStatsOf(s.vals)}
		return otExpect{step: step, ts: s.end - 1, val: fmt.Sprint(r)}
	}
	for i, st := range steps {
		step := i + 1
		if st.isWM {
			if st.wm <= wm {
				continue
			}
			for k, recs := range pool {
				var keep []tv
				for _, s := range sessions(recs) {
					if s.end-1 > wm && s.end-1 <= st.wm {
						out = append(out, result(step, k, s))
					}
					if st.wm != MaxTime && s.end-1+lateness > st.wm {
						for _, r := range recs {
							if r.ts >= s.start && r.ts < s.end {
								keep = append(keep, r)
							}
						}
					}
				}
				if keep == nil {
					delete(pool, k)
				} else {
					pool[k] = keep
				}
			}
			wm = st.wm
			continue
		}
		for j, rec := range st.recs {
			ts := st.ts[j]
			merges := false
			for _, s := range sessions(pool[rec.Key]) {
				if s.start <= ts+gap && s.end >= ts {
					merges = true
				}
			}
			if !merges && wm != MinTime && ts+gap-1+lateness <= wm {
				late = append(late, otExpect{step: step, ts: ts, val: fmt.Sprint(rec)})
				continue
			}
			pool[rec.Key] = append(pool[rec.Key], tv{ts: ts, v: rec.V})
			for _, s := range sessions(pool[rec.Key]) {
				if ts >= s.start && ts < s.end && wm != MinTime && s.end-1 <= wm {
					out = append(out, result(step, rec.Key, s))
				}
			}
		}
	}
	return out, late
}

func TestSessionWindowsMatchReference(t *testing.T) {
	for _, gap := range []int64{150, 400, 1000} {
		for _, lateness := range []int64{0, 500} {
			for _, sc := range otScenarios {
				t.Run(fmt.Sprintf("gap=%d/lateness=%d/%s", gap, lateness, sc.name), func(t *testing.T) {
					sc.maxGap = 100 // sparse enough per key that sessions split
					for seed := int64(1); seed <= 2; seed++ {
						steps := otGenerate(sc, seed)
						h, out, late := otRunWindow(t, Session(time.Duration(gap)*time.Millisecond), time.Duration(lateness)*time.Millisecond, steps, 5)
						wantOut, wantLate := otRefSessions(steps, gap, lateness)
						otCheckRecords(t, "results", out, wantOut)
						otCheckRecords(t, "late records", late, wantLate)
						out.checkWatermarksLast(t)
						otCheckFireOrder(t, out, steps)
						if h.metrics.LateDropped.Load() != 0 {
							t.Error("LateDropped with a late output")
						}
						if t.Failed() {
							t.Fatalf("seed %d", seed)
						}
					}
				})
			}
		}
	}
}

func TestSessionMerging(t *testing.T) {
	// Gap 10ms; records of key "a" bridge two sessions; sums.
	g := New("t", Config{})
	w := Window(KeyBy(otInput[otRec](g, "in"), otKey), Session(10*time.Millisecond), AllowedLateness(20*time.Millisecond))
	res := WindowReduce(w, func(a, b otRec) otRec { return otRec{Key: a.Key, V: a.V + b.V} })
	ToSink(w.Late(), "late", otSink[otRec]{})
	h := newOTHarness(t, otNewOperator(t, res), 2)
	out := otOutput[WindowResult[string, otRec]](h)
	late := otOutput[otRec](h)
	h.open()
	r := func(k string, v int64) otRec { return otRec{Key: k, V: v} }
	otPush(h, 0, []otRec{r("a", 1), r("a", 2), r("b", 4)}, []int64{0, 30, 5}) // step 1: a:[0,10) a:[30,40) b:[5,15)
	otPush(h, 0, []otRec{r("a", 8)}, []int64{10})                             // step 2: touches [0,10): a:[0,20)
	h.watermark(19)                                                           // step 3: fires a:[0,20)=9; b:[5,15)=4
	otPush(h, 0, []otRec{r("a", 16)}, []int64{20})                            // step 4: bridges [0,20) and [30,40): a:[0,40)=27, not due
	otPush(h, 0, []otRec{r("b", 32)}, []int64{-3})                            // step 5: extends fired b:[-3,15)=36: fires now
	h.watermark(40)                                                           // step 6: fires a:[0,40)=27; purges b (14+20 <= 40)
	otPush(h, 0, []otRec{r("b", 64)}, []int64{5})                             // step 7: [5,15) alone is late
	otPush(h, 0, []otRec{r("a", 128)}, []int64{25})                           // step 8: inside a:[0,40): re-fires 155
	h.watermark(MaxTime)                                                      // step 9
	otCheckRecords(t, "results", out, []otExpect{
		{step: 3, ts: 14, val: otWR("b", 5, 15, r("b", 4))},
		{step: 3, ts: 19, val: otWR("a", 0, 20, r("a", 9))},
		{step: 5, ts: 14, val: otWR("b", -3, 15, r("b", 36))},
		{step: 6, ts: 39, val: otWR("a", 0, 40, r("a", 27))},
		{step: 8, ts: 39, val: otWR("a", 0, 40, r("a", 155))},
	})
	otCheckRecords(t, "late", late, []otExpect{{step: 7, ts: 5, val: fmt.Sprint(r("b", 64))}})
	if got, want := out.watermarks(), []int64{19, 40, MaxTime}; !slices.Equal(got, want) {
		t.Errorf("watermarks %v, want %v", got, want)
	}
	out.checkWatermarksLast(t)
}
