package dag

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// otRight is the right-side record type of the join tests.
type otRight struct {
	K  string
	ID int
}

// otJoined is a join result: the IDs of the joined records.
type otJoined struct {
	Key  string
	L, R int
}

// otRefJoin is a brute-force model of the windowed inner join.
func otRefJoin(steps []otStep, size, slide, offset int64) (out []otExpect, late int64) {
	type cell struct{ l, r []int }
	pool := map[TimeWindow]map[string]*cell{}
	wm := MinTime
	for i, st := range steps {
		step := i + 1
		if st.isWM {
			if st.wm <= wm {
				continue
			}
			for w, keys := range pool {
				if w.End-1 <= st.wm {
					for k, c := range keys {
						for _, l := range c.l {
							for _, r := range c.r {
								out = append(out, otExpect{step: step, ts: w.End - 1, val: fmt.Sprint(otJoined{Key: k, L: l, R: r})})
							}
						}
					}
					delete(pool, w)
				}
			}
			wm = st.wm
			continue
		}
		for j, rec := range st.recs {
			ts := st.ts[j]
			accepted := false
			for _, w := range otRefWindows(ts, size, slide, offset) {
				if wm != MinTime && w.End-1 <= wm {
					continue
				}
				accepted = true
				if pool[w] == nil {
					pool[w] = map[string]*cell{}
				}
				c := pool[w][rec.Key]
				if c == nil {
					c = &cell{}
					pool[w][rec.Key] = c
				}
				if st.in == 0 {
					c.l = append(c.l, rec.ID)
				} else {
					c.r = append(c.r, rec.ID)
				}
			}
			if !accepted && ts <= wm {
				late++
			}
		}
	}
	return out, late
}

func otJoinGraph(t testing.TB, a WindowAssigner) (*Graph, Stream[otJoined]) {
	g := New("t", Config{})
	left := KeyBy(otInput[otRec](g, "left"), otKey)
	right := KeyBy(otInput[otRight](g, "right"), func(r otRight) string { return r.K })
	return g, WindowJoin(left, right, a, func(k string, l otRec, r otRight) otJoined {
		if l.Key != k || r.K != k {
			t.Errorf("joined %v and %v under key %q", l, r, k)
		}
		return otJoined{Key: k, L: l.ID, R: r.ID}
	})
}

func TestWindowJoinMatchesReference(t *testing.T) {
	assigners := []struct {
		a                   WindowAssigner
		size, slide, offset int64
	}{
		{Tumbling(time.Second), 1000, 1000, 0},
		{TumblingOffset(500*time.Millisecond, -70*time.Millisecond), 500, 500, -70},
		{Sliding(time.Second, 400*time.Millisecond), 1000, 400, 0},
		{Sliding(300*time.Millisecond, 500*time.Millisecond), 300, 500, 0},
	}
	for _, as := range assigners {
		for _, sc := range otScenarios {
			t.Run(fmt.Sprintf("%v/%s", as.a, sc.name), func(t *testing.T) {
				sc.inputs, sc.keys, sc.n = 2, 6, 300
				for seed := int64(1); seed <= 2; seed++ {
					steps := otGenerate(sc, seed)
					_, res := otJoinGraph(t, as.a)
					h := newOTHarness(t, otNewOperator(t, res), 16)
					out := otOutput[otJoined](h)
					h.open()
					for _, st := range steps {
						switch {
						case st.isWM:
							h.watermark(st.wm)
						case st.in == 0:
							otPush(h, 0, st.recs, st.ts)
						default:
							var rs []otRight
							for _, r := range st.recs {
								rs = append(rs, otRight{K: r.Key, ID: r.ID})
							}
							otPush(h, 1, rs, st.ts)
						}
					}
					h.endInput(0)
					h.endInput(1)
					want, wantLate := otRefJoin(steps, as.size, as.slide, as.offset)
					otCheckRecords(t, "join results", out, want)
					out.checkWatermarksLast(t)
					if got := h.metrics.LateDropped.Load(); got != wantLate {
						t.Errorf("LateDropped = %d, want %d", got, wantLate)
					}
					if len(want) == 0 || sc.name == "late" && wantLate == 0 {
						t.Errorf("weak scenario: %d results, %d late", len(want), wantLate)
					}
					if t.Failed() {
						t.Fatalf("seed %d", seed)
					}
				}
			})
		}
	}
}

func TestWindowJoinEndInput(t *testing.T) {
	_, res := otJoinGraph(t, Tumbling(time.Second))
	h := newOTHarness(t, otNewOperator(t, res), 16)
	out := otOutput[otJoined](h)
	h.open()
	otPush(h, 0, []otRec{{Key: "a", ID: 1}, {Key: "b", ID: 2}}, []int64{10, 20})
	otPush(h, 1, []otRight{{K: "a", ID: 3}, {K: "a", ID: 4}, {K: "b", ID: 5}}, []int64{999, 500, 1000})
	h.endInput(0)
	if len(out.events) != 0 {
		t.Fatalf("output after the first input ended: %v", out.events)
	}
	h.endInput(1)
	otCheckRecords(t, "results", out, []otExpect{
		{step: 4, ts: 999, val: fmt.Sprint(otJoined{"a", 1, 3})},
		{step: 4, ts: 999, val: fmt.Sprint(otJoined{"a", 1, 4})},
	})
}

func TestWindowJoinGraph(t *testing.T) {
	g, _ := otJoinGraph(t, Session(time.Second))
	if err := otGraphErr(g); err == nil || !strings.Contains(err.Error(), `vertex 2 (window-join "window-join"): WindowJoin supports tumbling and sliding windows`) {
		t.Errorf("session join: error %v", err)
	}
	g, _ = otJoinGraph(t, WindowAssigner{})
	if err := otGraphErr(g); err == nil || !strings.Contains(err.Error(), "no window assigner") {
		t.Errorf("no assigner: error %v", err)
	}
	g2 := New("other", Config{})
	g, _ = otJoinGraph(t, Tumbling(time.Second))
	WindowJoin(KeyBy(otInput[int](g, "x"), func(v int) int { return v }), KeyBy(otInput[int](g2, "y"), func(v int) int { return v }),
		Tumbling(time.Second), func(int, int, int) int { return 0 })
	if err := otGraphErr(g); err == nil || !strings.Contains(err.Error(), "different graphs") {
		t.Errorf("different graphs: error %v", err)
	}
	g = New("t", Config{Parallelism: 3})
	res := WindowJoin(KeyBy(otInput[int64](g, "x"), func(v int64) int64 { return v }), KeyBy(otInput[string](g, "y"), func(s string) int64 { return int64(len(s)) }),
		Sliding(time.Minute, time.Second), func(k, l int64, r string) string { return r }, Name("j"))
	ToSink(res, "out", otSink[string]{})
	p, err := g.Build()
	if err != nil {
		t.Fatal(err)
	}
	j := p.Vertices[2]
	if j.Kind != "window-join" || j.Name != "j" || !j.Keyed || len(j.Inputs) != 2 {
		t.Errorf("join vertex %+v", j)
	}
	for i, eid := range j.Inputs {
		if e := p.Edges[eid]; e.Partitioner != Hash || e.Input != i {
			t.Errorf("join input edge %+v", e)
		}
	}
}
