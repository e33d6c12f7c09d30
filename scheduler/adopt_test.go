package scheduler

import (
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// adopt runs the adopt command of TestInteraction: every input line is
// "<task> running|finished <worker>/<slot> attempt=N [external]".
func (h *harness) adopt(t *testing.T, d *datadriven.TestData) string {
	r := Reconcile{Now: h.now}
	d.MaybeScanArgs(t, "restarts", &r.Restarts)
	for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			d.Fatalf(t, "adopt: cannot parse %q", line)
		}
		a := AdoptedTask{Task: h.taskID(t, d, f[0])}
		switch f[1] {
		case "running":
			a.State = Running
		case "finished":
			a.State = Finished
		case "failed":
			a.State = Failed
		default:
			d.Fatalf(t, "adopt: unknown state in %q", line)
		}
		w, slot, _ := strings.Cut(f[2], "/")
		a.Worker = w
		var err error
		if a.Slot, err = strconv.Atoi(slot); err != nil {
			d.Fatalf(t, "adopt: bad slot in %q", line)
		}
		if a.Attempt, err = strconv.Atoi(strings.TrimPrefix(f[3], "attempt=")); err != nil {
			d.Fatalf(t, "adopt: bad attempt in %q", line)
		}
		a.External = len(f) > 4 && f[4] == "external"
		r.Tasks = append(r.Tasks, a)
	}
	out, err := h.s.Adopt(r)
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	return h.format(out)
}

// taskID parses one "<vertex>[<subtask>]" name.
func (h *harness) taskID(t *testing.T, d *datadriven.TestData, name string) TaskID {
	v, sub, _ := strings.Cut(strings.TrimSuffix(name, "]"), "[")
	for _, vx := range h.topo.Vertices {
		if vx.Name == v {
			i, err := strconv.Atoi(sub)
			if err != nil {
				d.Fatalf(t, "bad subtask in %q", name)
			}
			return TaskID{Vertex: vx.ID, Subtask: i}
		}
	}
	// An unknown vertex: a task the scheduler must reject.
	return TaskID{Vertex: len(h.topo.Vertices), Subtask: 0}
}
