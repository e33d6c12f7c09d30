package hybrid_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/testkit"
	"github.com/dagflow/dagflow/io/fileio"
	"github.com/dagflow/dagflow/io/hybrid"
	"github.com/dagflow/dagflow/io/kafka"
)

type ev struct {
	Key string `json:"key"`
	TS  int64  `json:"ts"`
	V   int64  `json:"v"`
}

func evTime(e ev) int64 { return e.TS }

// mkEvents returns events i in [from, to): time i*10 ms, key k<i%5>.
func mkEvents(from, to int) []ev {
	var out []ev
	for i := from; i < to; i++ {
		out = append(out, ev{Key: fmt.Sprintf("k%d", i%5), TS: int64(i) * 10, V: int64(i%13 + 1)})
	}
	return out
}

// writeHistory writes events as JSON lines, perFile per file, and returns
// the directory.
func writeHistory(t testing.TB, evs []ev, perFile int) string {
	t.Helper()
	dir := t.TempDir()
	for f := 0; f*perFile < len(evs); f++ {
		var sb strings.Builder
		for _, e := range evs[f*perFile : min((f+1)*perFile, len(evs))] {
			b, _ := json.Marshal(e)
			sb.Write(b)
			sb.WriteByte('\n')
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("h-%03d.jsonl", f)), []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// newKafka starts an in-process cluster with topic of partitions.
func newKafka(t testing.TB, topic string, partitions int32) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// produce writes events to partition i%partitions in order, record
// timestamp = event time (tsOverride, when set, gives another one).
func produce(t testing.TB, brokers []string, topic string, partitions int32, evs []ev) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i, e := range evs {
		b, _ := json.Marshal(e)
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i) % partitions, Value: b, Timestamp: time.UnixMilli(e.TS)})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

type phaseRead struct {
	vals    []ev
	reports []dag.FinishedSplit
}

// readAll opens splits as one subtask and reads them round-robin until
// every split ended or want records were read (want < 0: until the end).
// The deadline only stops a hang; it is not a timing assertion.
func readAll(t *testing.T, src *hybrid.Source[ev], splits []dag.Split, want int) phaseRead {
	t.Helper()
	ctx := context.Background()
	type open struct {
		id string
		r  dag.SplitReader[ev]
	}
	var rs []open
	for _, sp := range splits {
		r, err := src.OpenSplit(ctx, dag.ReaderContext{Parallelism: 1}, sp)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, open{sp.ID, r})
	}
	var out phaseRead
	var b dag.Batch[ev]
	deadline := time.Now().Add(30 * time.Second)
	for len(rs) > 0 && (want < 0 || len(out.vals) < want) {
		if time.Now().After(deadline) {
			t.Fatalf("read %d records, still waiting (want %d)", len(out.vals), want)
		}
		for i := 0; i < len(rs); i++ {
			b.Reset()
			n, err := rs[i].r.ReadBatch(ctx, &b, 7)
			if n != b.Len() || len(b.TS) != b.Len() {
				t.Fatalf("ReadBatch returned %d, batch has %d values and %d timestamps", n, b.Len(), len(b.TS))
			}
			out.vals = append(out.vals, b.Vals...)
			if errors.Is(err, io.EOF) {
				out.reports = append(out.reports, dag.FinishedSplit{ID: rs[i].id, Report: rs[i].r.(dag.FinishReporter).FinishReport()})
				rs[i].r.Close()
				rs = slices.Delete(rs, i, i+1)
				i--
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, o := range rs {
		o.r.Close()
	}
	return out
}

func byTime(evs []ev) []ev {
	evs = slices.Clone(evs)
	slices.SortFunc(evs, func(a, b ev) int {
		if a.TS != b.TS {
			return cmp.Compare(a.TS, b.TS)
		}
		return strings.Compare(a.Key, b.Key)
	})
	return evs
}

func equalEvents(t *testing.T, got, want []ev) {
	t.Helper()
	got, want = byTime(got), byTime(want)
	if !slices.Equal(got, want) {
		for i := range max(len(got), len(want)) {
			if i >= len(got) || i >= len(want) || got[i] != want[i] {
				var g, w any = "none", "none"
				if i < len(got) {
					g = got[i]
				}
				if i < len(want) {
					w = want[i]
				}
				t.Fatalf("%d events, want %d; first difference at %d: %v, want %v", len(got), len(want), i, g, w)
			}
		}
	}
}

// TestSwitchNoGapNoDuplicate reads history files (events 0..999) and then
// a topic that holds events 900..1999 (the history's tail again) plus, in
// the middle, a straggler whose time belongs to the history: every event
// is read exactly once, for each way of starting the second phase.
func TestSwitchNoGapNoDuplicate(t *testing.T) {
	ctx := context.Background()
	hist := mkEvents(0, 1000)
	dir := writeHistory(t, hist, 300)
	brokers := newKafka(t, "live", 3)
	stream := mkEvents(900, 2000)
	straggler := ev{Key: "late", TS: 5000, V: 1} // produced among events ~1500
	stream = slices.Insert(stream, 600, straggler)
	produce(t, brokers, "live", 3, stream)
	all := mkEvents(0, 2000)

	for _, tc := range []struct {
		name      string
		next      func(k *kafka.Source[ev]) hybrid.Next[ev]
		eventTime bool
		want      []ev
	}{
		{"after max event time", func(k *kafka.Source[ev]) hybrid.Next[ev] { return hybrid.ThenAfter[ev](k) }, true, all},
		{"after max, event time from record timestamps", func(k *kafka.Source[ev]) hybrid.Next[ev] { return hybrid.ThenAfter[ev](k) }, false, nil},
		{"at a fixed time", func(k *kafka.Source[ev]) hybrid.Next[ev] { return hybrid.ThenAt[ev](k, time.UnixMilli(10000)) }, true, all},
		{"then the whole topic", func(k *kafka.Source[ev]) hybrid.Next[ev] { return hybrid.Then[ev](k) }, true,
			append(slices.Clone(all), append(mkEvents(900, 1000), straggler)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := hybrid.New[ev](fileio.JSONLines[ev](dir), tc.next(kafka.NewSource(brokers, kafka.JSON[ev](), kafka.Topics("live"))))
			if tc.eventTime {
				src = src.WithEventTime(evTime)
			}
			if src.Bounded() {
				t.Fatal("a hybrid ending in an unbounded source is bounded")
			}
			sc := dag.SplitContext{Parallelism: 2}
			splits, err := src.Splits(ctx, sc)
			if err != nil {
				t.Fatal(err)
			}
			p0 := readAll(t, src, splits, -1)
			equalEvents(t, p0.vals, hist)
			live, done, err := src.MoreSplits(ctx, sc, 1, p0.reports)
			if tc.want == nil {
				// The JSON reader sets no timestamps: the switch needs an
				// event time function, and says so.
				if err == nil || !strings.Contains(err.Error(), "WithEventTime") {
					t.Fatalf("MoreSplits without event times: %v, want an error naming WithEventTime", err)
				}
				return
			}
			if err != nil || !done || len(live) != 3 {
				t.Fatalf("MoreSplits(1) = %d splits, done %v, %v; want 3 splits, done", len(live), done, err)
			}
			for _, sp := range live {
				if !strings.HasPrefix(sp.ID, "p1/kafka:live:") {
					t.Errorf("phase 1 split id %q", sp.ID)
				}
			}
			p1 := readAll(t, src, live, len(tc.want)-len(hist))
			equalEvents(t, append(p0.vals, p1.vals...), tc.want)
			if more, done, err := src.MoreSplits(ctx, sc, 2, append(p0.reports, p1.reports...)); len(more) != 0 || !done || err != nil {
				t.Errorf("MoreSplits(2) = %v, %v, %v; want nothing, done", more, done, err)
			}
		})
	}
}

// TestRestoreInEitherPhase reads each phase in steps; after each step
// every reader is closed and reopened at its Position: the union is still
// exact, and the reports of restored readers still carry the phase's
// largest event time (so the switch lands at the same place).
func TestRestoreInEitherPhase(t *testing.T) {
	ctx := context.Background()
	dir := writeHistory(t, mkEvents(0, 500), 200)
	brokers := newKafka(t, "live", 2)
	produce(t, brokers, "live", 2, mkEvents(400, 900))
	src := hybrid.New[ev](fileio.JSONLines[ev](dir), hybrid.ThenAfter[ev](kafka.NewSource(brokers, kafka.JSON[ev](), kafka.Topics("live")))).WithEventTime(evTime)
	sc := dag.SplitContext{Parallelism: 1}

	// readSteps reads splits 11 records at a time, reopening every reader
	// at its position after each step, until want records were read or
	// every split ended.
	readSteps := func(splits []dag.Split, want int) ([]ev, []dag.FinishedSplit) {
		var out []ev
		var reports []dag.FinishedSplit
		var b dag.Batch[ev]
		deadline := time.Now().Add(30 * time.Second)
		for attempt := 0; len(splits) > 0 && (want < 0 || len(out) < want); attempt++ {
			if time.Now().After(deadline) {
				t.Fatalf("read %d, want %d", len(out), want)
			}
			var next []dag.Split
			for _, sp := range splits {
				r, err := src.OpenSplit(ctx, dag.ReaderContext{Parallelism: 1, Attempt: attempt}, sp)
				if err != nil {
					t.Fatal(err)
				}
				b.Reset()
				_, err = r.ReadBatch(ctx, &b, 11)
				out = append(out, b.Vals...)
				switch {
				case errors.Is(err, io.EOF):
					reports = append(reports, dag.FinishedSplit{ID: sp.ID, Report: r.(dag.FinishReporter).FinishReport()})
				case err != nil:
					t.Fatal(err)
				default:
					pos, err := r.(dag.PositionedReader).Position()
					if err != nil {
						t.Fatal(err)
					}
					if pos.ID != sp.ID {
						t.Fatalf("position of %s has id %s", sp.ID, pos.ID)
					}
					next = append(next, pos)
				}
				r.Close()
			}
			splits = next
		}
		return out, reports
	}
	splits, err := src.Splits(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	h, reps := readSteps(splits, -1)
	end, err := hybrid.EndOf(reps, 1)
	if err != nil || end.MaxEventTime != 4990 || end.Records != 500 || end.Splits != len(splits) {
		t.Fatalf("end of phase 0 = %+v, %v; want max 4990, 500 records, %d splits", end, err, len(splits))
	}
	live, _, err := src.MoreSplits(ctx, sc, 1, reps)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := readSteps(live, 400)
	equalEvents(t, append(h, l...), mkEvents(0, 900))
}

// TestNewRejectsUnboundedMiddle: only the last phase may be unbounded.
func TestNewRejectsUnboundedMiddle(t *testing.T) {
	held := &testkit.SliceSource[ev]{Items: mkEvents(0, 10), Hold: true}
	bounded := &testkit.SliceSource[ev]{Items: mkEvents(0, 10)}
	for _, tc := range []struct {
		name    string
		src     *hybrid.Source[ev]
		wantErr string
		bounded bool
	}{
		{"unbounded first", hybrid.New[ev](held, hybrid.Then[ev](bounded)), "phase 0", true},
		{"nil next", hybrid.New[ev](bounded, hybrid.Next[ev]{}), "phase 1 has no source", true},
		{"nil first", hybrid.New[ev](nil, hybrid.Then[ev](bounded)), "phase 0 has no source", true},
		{"bounded then unbounded", hybrid.New[ev](bounded, hybrid.Then[ev](held)), "", false},
		{"bounded then bounded", hybrid.New[ev](bounded, hybrid.Then[ev](bounded)), "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.src.Splits(context.Background(), dag.SplitContext{Parallelism: 1})
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Splits error %v, want %q", err, tc.wantErr)
			}
			if tc.src.Bounded() != tc.bounded {
				t.Errorf("Bounded() = %v", tc.src.Bounded())
			}
		})
	}
}

// TestOpenSplitErrors: splits that are not hybrid splits, or of a phase the
// source does not have, fail with an error naming the split.
func TestOpenSplitErrors(t *testing.T) {
	src := hybrid.New[ev](&testkit.SliceSource[ev]{Items: mkEvents(0, 10)})
	for _, sp := range []dag.Split{
		{ID: "raw", Data: []byte("{}")},
		{ID: "p3/x", Data: hybrid.SplitState{Phase: 3, InnerID: "x"}.Encode()},
	} {
		if _, err := src.OpenSplit(context.Background(), dag.ReaderContext{Parallelism: 1}, sp); err == nil || !strings.Contains(err.Error(), sp.ID) {
			t.Errorf("OpenSplit(%s) error %v, want one naming the split", sp.ID, err)
		}
	}
}

func TestEndOf(t *testing.T) {
	rep := func(phase int, max, n int64) dag.FinishedSplit {
		b, _ := json.Marshal(hybrid.Report{Phase: phase, MaxEventTime: max, Records: n})
		return dag.FinishedSplit{ID: fmt.Sprint(phase), Report: b}
	}
	for _, tc := range []struct {
		name     string
		finished []dag.FinishedSplit
		phase    int
		want     hybrid.End
		err      bool
	}{
		{"none", nil, 1, hybrid.End{Phase: 0, MaxEventTime: dag.MinTime}, false},
		{"max over splits", []dag.FinishedSplit{rep(0, 50, 3), rep(0, 70, 2), rep(0, dag.MinTime, 0)}, 1, hybrid.End{Phase: 0, MaxEventTime: 70, Records: 5, Splits: 3}, false},
		{"later phases ignored", []dag.FinishedSplit{rep(0, 50, 3), rep(1, 90, 1)}, 1, hybrid.End{Phase: 0, MaxEventTime: 50, Records: 3, Splits: 1}, false},
		{"empty phase carries the earlier end", []dag.FinishedSplit{rep(0, 50, 3)}, 2, hybrid.End{Phase: 1, MaxEventTime: 50, Records: 3, Splits: 1}, false},
		{"bad report", []dag.FinishedSplit{{ID: "x", Report: []byte("nope")}}, 1, hybrid.End{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := hybrid.EndOf(tc.finished, tc.phase)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("EndOf = %+v, %v; want %+v (error %v)", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestSplitStateRoundTrip(t *testing.T) {
	for _, st := range []hybrid.SplitState{
		{Phase: 0, Start: dag.MinTime, MaxEventTime: dag.MinTime, InnerID: "file:a.jsonl:0", Inner: []byte{1, 2, 3}},
		{Phase: 2, Start: 1714521600001, MaxEventTime: dag.MaxTime, Records: 1 << 40, InnerID: "", Inner: nil},
		{Phase: 1, Start: -5, MaxEventTime: 7, Records: 3, InnerID: "kafka:t:0", Inner: []byte("x")},
	} {
		got, err := hybrid.DecodeSplit(st.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if got.Phase != st.Phase || got.Start != st.Start || got.MaxEventTime != st.MaxEventTime || got.Records != st.Records ||
			got.InnerID != st.InnerID || string(got.Inner) != string(st.Inner) {
			t.Errorf("round trip of %+v gave %+v", st, got)
		}
		if want := fmt.Sprintf("p%d/%s", st.Phase, st.InnerID); st.ID() != want {
			t.Errorf("ID() = %q, want %q", st.ID(), want)
		}
	}
}

func FuzzDecodeSplit(f *testing.F) {
	f.Add(hybrid.SplitState{Phase: 1, Start: 10, MaxEventTime: 20, Records: 3, InnerID: "kafka:t:0", Inner: []byte{1, 2}}.Encode())
	f.Add([]byte{'h'})
	f.Add([]byte{'h', 0x80})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := hybrid.DecodeSplit(data)
		if err != nil {
			return
		}
		again, err := hybrid.DecodeSplit(st.Encode())
		if err != nil || again.Phase != st.Phase || again.InnerID != st.InnerID || string(again.Inner) != string(st.Inner) ||
			again.Start != st.Start || again.MaxEventTime != st.MaxEventTime || again.Records != st.Records {
			t.Fatalf("re-encoding %+v gave %+v, %v", st, again, err)
		}
	})
}
