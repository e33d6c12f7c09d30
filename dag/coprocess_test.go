package dag

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// cpL and cpR are the left and right records of the CoProcess tests.
type cpL struct {
	K  string
	ID int
}

type cpR struct {
	K  int // the key is the length of a string key: a different key function
	ID int
}

func cpKeyL(l cpL) string { return l.K }
func cpKeyR(r cpR) string { return strings.Repeat("k", r.K) }

// cpJoinHarness returns a harness running Join(left, right).
func cpJoinHarness(t *testing.T, batchSize int) (*otHarness, *otCollector[string]) {
	t.Helper()
	g := New("t", Config{})
	res := Join(KeyBy(otInput[cpL](g, "left"), cpKeyL), KeyBy(otInput[cpR](g, "right"), cpKeyR),
		func(k string, l cpL, r cpR) string {
			if l.K != k || cpKeyR(r) != k {
				t.Errorf("joined %v and %v under key %q", l, r, k)
			}
			return fmt.Sprintf("%s:%d-%d", k, l.ID, r.ID)
		})
	h := newOTHarness(t, otNewOperator(t, res), batchSize)
	out := otOutput[string](h)
	h.open()
	return h, out
}

// TestJoinMatchesReference feeds random batches of both sides and
// watermarks and checks every matching pair is emitted exactly once, in
// the step where its second record arrived, with that record's timestamp.
func TestJoinMatchesReference(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		rnd := rand.New(rand.NewPCG(seed, 7))
		h, out := cpJoinHarness(t, 4)
		type seen struct {
			id, step int
			ts       int64
		}
		lefts, rights := map[string][]seen{}, map[string][]seen{}
		var want []otExpect
		ts, id := int64(0), 0
		for range 120 {
			ts += rnd.Int64N(50)
			switch rnd.IntN(5) {
			case 0:
				h.watermark(ts - 100)
			case 1, 2:
				var vals []cpL
				var tss []int64
				for range 1 + rnd.IntN(6) {
					id++
					vals = append(vals, cpL{K: strings.Repeat("k", 1+rnd.IntN(4)), ID: id})
					tss = append(tss, ts+rnd.Int64N(10))
				}
				step := h.step + 1
				for i, l := range vals {
					for _, r := range rights[l.K] {
						want = append(want, otExpect{step: step, ts: tss[i], val: fmt.Sprintf("%s:%d-%d", l.K, l.ID, r.id)})
					}
					lefts[l.K] = append(lefts[l.K], seen{id: l.ID, step: step, ts: tss[i]})
				}
				otPush(h, 0, vals, tss)
			default:
				var vals []cpR
				var tss []int64
				for range 1 + rnd.IntN(6) {
					id++
					vals = append(vals, cpR{K: 1 + rnd.IntN(4), ID: id})
					tss = append(tss, ts+rnd.Int64N(10))
				}
				step := h.step + 1
				for i, r := range vals {
					k := cpKeyR(r)
					for _, l := range lefts[k] {
						want = append(want, otExpect{step: step, ts: tss[i], val: fmt.Sprintf("%s:%d-%d", k, l.id, r.ID)})
					}
					rights[k] = append(rights[k], seen{id: r.ID, step: step, ts: tss[i]})
				}
				otPush(h, 1, vals, tss)
			}
		}
		h.endInput(0)
		h.endInput(1)
		otCheckRecords(t, fmt.Sprintf("seed %d", seed), out, want)
		out.checkWatermarksLast(t)
		if len(want) < 50 {
			t.Errorf("seed %d: weak scenario, %d results", seed, len(want))
		}
		h.close()
	}
}

// cpFn tags records with the side and key state, and uses event- and
// processing-time timers from both sides.
type cpFn struct {
	last   *ValueState[string, string]
	closed *int
}

func (f *cpFn) Open(oc *ProcessOpenContext[string]) error {
	f.last = NewValueState[string](oc, "last")
	return nil
}

func (f *cpFn) ProcessLeft(ctx *ProcessContext[string, string], l cpL) error {
	prev, _ := f.last.Get(ctx)
	f.last.Set(ctx, fmt.Sprintf("L%d", l.ID))
	ctx.Emit(fmt.Sprintf("%s L%d after %q", ctx.Key(), l.ID, prev))
	ctx.RegisterEventTimer(ctx.Timestamp() + 10)
	return nil
}

func (f *cpFn) ProcessRight(ctx *ProcessContext[string, string], r cpR) error {
	prev, _ := f.last.Get(ctx)
	f.last.Set(ctx, fmt.Sprintf("R%d", r.ID))
	ctx.Emit(fmt.Sprintf("%s R%d after %q", ctx.Key(), r.ID, prev))
	if r.ID < 0 {
		return errors.New("negative id")
	}
	ctx.RegisterProcessingTimer(ctx.ProcessingTime() + 100)
	return nil
}

func (f *cpFn) OnTimer(ctx *ProcessContext[string, string], t Timer) error {
	last, _ := f.last.Get(ctx)
	ctx.Emit(fmt.Sprintf("%s %v timer %d last %s", ctx.Key(), t.Domain, t.Timestamp, last))
	return nil
}

func (f *cpFn) Close() error {
	*f.closed++
	return nil
}

func TestCoProcessStateAndTimers(t *testing.T) {
	closed := 0
	g := New("t", Config{})
	res := CoProcess(KeyBy(otInput[cpL](g, "left"), cpKeyL), KeyBy(otInput[cpR](g, "right"), cpKeyR),
		func() CoProcessFunc[string, cpL, cpR, string] { return &cpFn{closed: &closed} })
	h := newOTHarness(t, otNewOperator(t, res), 16)
	out := otOutput[string](h)
	h.now = 1000
	h.open()
	otPush(h, 0, []cpL{{K: "kk", ID: 1}, {K: "k", ID: 2}}, []int64{5, 7}) // step 1
	otPush(h, 1, []cpR{{K: 2, ID: 3}}, []int64{8})                        // step 2
	h.watermark(15)                                                       // step 3: fires kk@15
	h.processingTime(1100)                                                // step 4: fires kk@1100
	otPush(h, 0, []cpL{{K: "k", ID: 4}}, []int64{20})                     // step 5
	h.endInput(1)                                                         // step 6: nothing yet
	h.endInput(0)                                                         // step 7: fires k@17, k@30
	otCheckRecords(t, "out", out, []otExpect{
		{step: 1, ts: 5, val: `kk L1 after ""`},
		{step: 1, ts: 7, val: `k L2 after ""`},
		{step: 2, ts: 8, val: `kk R3 after "L1"`},
		{step: 3, ts: 15, val: "kk event-time timer 15 last R3"},
		{step: 4, ts: 1100, val: "kk processing-time timer 1100 last R3"},
		{step: 5, ts: 20, val: `k L4 after "L2"`},
		{step: 7, ts: 17, val: "k event-time timer 17 last L4"},
		{step: 7, ts: 30, val: "k event-time timer 30 last L4"},
	})
	if err := otPushErr(h, 1, []cpR{{K: 1, ID: -1}}, []int64{40}); err == nil || err.Error() != "negative id" {
		t.Errorf("error of ProcessRight: %v", err)
	}
	h.close()
	if closed != 1 {
		t.Errorf("Close called %d times, want 1", closed)
	}
}

func TestCoProcessGraph(t *testing.T) {
	g := New("t", Config{Parallelism: 3})
	left := KeyBy(FromSource[cpL](g, "left", otSource[cpL]{bounded: true}, nil, WithCoder(JSONCoder[cpL]())), cpKeyL)
	right := KeyBy(FromSource[cpR](g, "right", otSource[cpR]{bounded: true}, nil, WithCoder(JSONCoder[cpR]())), cpKeyR)
	ToSink(Join(left, right, func(string, cpL, cpR) int { return 1 }, Name("j")), "out", otSink[int]{})
	ToSink(CoProcess(left, right, func() CoProcessFunc[string, cpL, cpR, int] { return nil }, Name("c")), "out2", otSink[int]{})
	p, err := g.Build()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"j", "c"} {
		i := slices.IndexFunc(p.Vertices, func(v PlanVertex) bool { return v.Name == name })
		v := p.Vertices[i]
		if !v.Keyed || len(v.Inputs) != 2 {
			t.Errorf("vertex %+v", v)
		}
		for in, eid := range v.Inputs {
			if e := p.Edges[eid]; e.Partitioner != Hash || e.Input != in {
				t.Errorf("%s input edge %+v", name, e)
			}
		}
	}
	if k := p.Vertices[2].Kind; k != "join" {
		t.Errorf("join vertex kind %q", k)
	}
	// A factory returning nil fails Open.
	op, err := p.Engine().NewOperator(4)
	if err != nil {
		t.Fatal(err)
	}
	h := newOTHarness(t, op, 16)
	otOutput[int](h)
	if err := op.Open(t.Context(), h.oc); err == nil || !strings.Contains(err.Error(), "returned nil") {
		t.Errorf("nil function instance: error %v", err)
	}

	g = New("t", Config{})
	Join[string, cpL, cpR, int](KeyBy(otInput[cpL](g, "left"), cpKeyL), KeyBy(otInput[cpR](g, "right"), cpKeyR), nil)
	if err := otGraphErr(g); err == nil || !strings.Contains(err.Error(), `(join "join"): nil function`) {
		t.Errorf("nil join function: error %v", err)
	}
	g2 := New("other", Config{})
	CoProcess(KeyBy(otInput[cpL](g, "l"), cpKeyL), KeyBy(otInput[cpR](g2, "r"), cpKeyR),
		func() CoProcessFunc[string, cpL, cpR, int] { return nil })
	if err := otGraphErr(g); err == nil || !strings.Contains(err.Error(), "different graphs") {
		t.Errorf("different graphs: error %v", err)
	}
}
