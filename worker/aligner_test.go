package worker

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/dag/engine"
)

// TestAligner feeds event sequences and checks every answer. Events:
// "bN@c" barrier N on channel c, "tN" trigger N, "end@c", "data@c".
// Answers: "hold" (channel held), "rel=a,b" (channels released),
// "start=N", "done=N" (alignment of N complete), "abort=N", "err" (data
// on a held channel); "-" for none.
func TestAligner(t *testing.T) {
	tests := []struct {
		name     string
		blocking []bool
		last     int64
		steps    [][2]string // event, answer
	}{
		{"one channel aligns at once", []bool{false}, 0, [][2]string{
			{"b1@0", "hold start=1 done=1 rel=0"},
			{"data@0", "-"},
		}},
		{"two channels: hold first until second", []bool{false, false}, 0, [][2]string{
			{"b1@0", "hold start=1"},
			{"data@1", "-"},
			{"data@0", "err"},
			{"b1@1", "hold done=1 rel=0,1"},
			{"data@0", "-"},
		}},
		{"stale barrier passes", []bool{false, false}, 0, [][2]string{
			{"b2@0", "hold start=2"},
			{"b1@1", "-"},
			{"b2@1", "hold done=2 rel=0,1"},
			{"b2@0", "-"}, // at or below the last aligned
			{"b1@0", "-"},
		}},
		{"restored checkpoint is the last one", []bool{false}, 5, [][2]string{
			{"b5@0", "-"},
			{"b6@0", "hold start=6 done=6 rel=0"},
		}},
		{"newer barrier aborts alignment", []bool{false, false, false}, 0, [][2]string{
			{"b1@0", "hold start=1"},
			{"b1@1", "hold"},
			{"b2@2", "hold abort=1 start=2 rel=0,1"},
			{"b1@0", "-"}, // the old barrier still in flight is stale
			{"b2@0", "hold"},
			{"b2@1", "hold done=2 rel=0,1,2"},
		}},
		{"blocking channels are not waited for", []bool{true, false}, 0, [][2]string{
			{"b1@0", "-"},
			{"b1@1", "hold start=1 done=1 rel=1"},
		}},
		{"ended channel completes alignment", []bool{false, false}, 0, [][2]string{
			{"b1@0", "hold start=1"},
			{"end@1", "done=1 rel=0"},
			{"b2@0", "hold start=2 done=2 rel=0"},
		}},
		{"end without alignment", []bool{false, false}, 0, [][2]string{
			{"end@0", "-"},
			{"end@1", "-"},
		}},
		{"trigger completes when remaining channels end", []bool{false, false}, 0, [][2]string{
			{"t3", "start=3"},
			{"end@0", "-"},
			{"end@1", "done=3"},
		}},
		{"trigger with every channel ended completes at once", []bool{false}, 0, [][2]string{
			{"end@0", "-"},
			{"t1", "start=1 done=1"},
		}},
		{"trigger waits for barrier on live channel", []bool{false, false}, 0, [][2]string{
			{"end@0", "-"},
			{"t1", "start=1"},
			{"b1@1", "hold done=1 rel=1"},
		}},
		{"old or duplicate trigger ignored", []bool{false, false}, 4, [][2]string{
			{"t4", "-"},
			{"b5@0", "hold start=5"},
			{"t5", "-"},
			{"t6", "abort=5 start=6 rel=0"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAligner(tt.blocking, tt.last)
			for i, s := range tt.steps {
				got := feed(t, a, s[0])
				if got != s[1] {
					t.Fatalf("step %d %q: got %q, want %q", i, s[0], got, s[1])
				}
			}
		})
	}
}

// feed applies one event to a and renders the answer.
func feed(t *testing.T, a *aligner, ev string) string {
	t.Helper()
	var st alignStep
	var n, ch int
	switch {
	case strings.HasPrefix(ev, "data@"):
		fmt.Sscanf(ev, "data@%d", &ch)
		if err := a.Data(ch); err != nil {
			return "err"
		}
		return "-"
	case strings.HasPrefix(ev, "end@"):
		fmt.Sscanf(ev, "end@%d", &ch)
		st = a.End(ch)
	case strings.HasPrefix(ev, "t"):
		fmt.Sscanf(ev, "t%d", &n)
		st = a.Trigger(engine.Barrier{ID: int64(n)})
	default:
		if _, err := fmt.Sscanf(ev, "b%d@%d", &n, &ch); err != nil {
			t.Fatalf("bad event %q", ev)
		}
		st = a.Barrier(ch, engine.Barrier{ID: int64(n)})
	}
	var parts []string
	if st.Hold {
		parts = append(parts, "hold")
	}
	if st.Aborted != 0 {
		parts = append(parts, fmt.Sprintf("abort=%d", st.Aborted))
	}
	if st.Started {
		parts = append(parts, fmt.Sprintf("start=%d", st.Barrier.ID))
	}
	if st.Complete {
		parts = append(parts, fmt.Sprintf("done=%d", st.Barrier.ID))
	}
	if len(st.Release) > 0 {
		if !slices.IsSorted(st.Release) {
			t.Errorf("release %v not in order", st.Release)
		}
		parts = append(parts, "rel="+strings.Trim(strings.ReplaceAll(fmt.Sprint(st.Release), " ", ","), "[]"))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}
