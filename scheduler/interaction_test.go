package scheduler

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

// TestInteraction runs the scripts in testdata/. Commands:
//
//	topology [restart=none|fixed|exp] [attempts=N] [delay=D] [max-delay=D] [mult=F] [slot-timeout=D]
//	<name> p=<parallelism> [unbounded]        (one line per vertex, IDs in order)
//	<from> -> <to> pipelined|blocking pointwise|all-to-all
//	worker-join <name> slots=<n>
//	lose-worker <name>
//	start
//	running|finish|canceled <task>... [attempt=N] [external]
//	fail <task> [attempt=N] [err=<word>] [fatal]
//	result-lost <task> [attempt=N]
//	ack-cancels                                (TaskCanceled for every canceling task)
//	tick [+D]                                  (advance the clock, then Tick)
//	cancel-job
//	adopt [restarts=N]                         (Adopt; one line per task: <task> running|finished <worker>/<slot> attempt=N [external])
//	status | regions | failovers | wakeup
//
// A task is <vertex name>[<subtask>] or <vertex name>[*] for all subtasks;
// attempt defaults to the task's current attempt. Event commands print the
// actions returned, or "(no actions)".
func TestInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		h := &harness{}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return h.run(t, d)
		})
	})
}

var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

type harness struct {
	s    *Scheduler
	topo Topology
	now  time.Time
}

func (h *harness) run(t *testing.T, d *datadriven.TestData) string {
	if d.Cmd == "topology" {
		return h.newTopology(t, d)
	}
	if h.s == nil {
		d.Fatalf(t, "%s before topology", d.Cmd)
	}
	switch d.Cmd {
	case "worker-join":
		var slots int
		d.ScanArgs(t, "slots", &slots)
		return h.step(WorkerJoined{Now: h.now, Worker: d.CmdArgs[0].Key, Slots: slots})
	case "lose-worker":
		return h.step(WorkerLost{Now: h.now, Worker: d.CmdArgs[0].Key})
	case "start":
		return h.format(h.s.Start(h.now))
	case "running", "finish", "canceled", "fail", "result-lost":
		return h.taskEvents(t, d)
	case "results-lost":
		var lost []LostResult
		for _, id := range h.tasks(t, d) {
			ts, _ := h.s.Task(id)
			lost = append(lost, LostResult{Task: id, Attempt: ts.Attempt})
		}
		return h.step(ResultsLost{Now: h.now, Results: lost})
	case "ack-cancels":
		var out []Action
		for _, ts := range h.s.Tasks() {
			if ts.State == Canceling {
				out = append(out, h.s.Step(TaskCanceled{Now: h.now, Task: ts.Task, Attempt: ts.Attempt})...)
			}
		}
		return h.format(out)
	case "tick":
		if len(d.CmdArgs) > 0 {
			dur, err := time.ParseDuration(strings.TrimPrefix(d.CmdArgs[0].Key, "+"))
			if err != nil {
				d.Fatalf(t, "bad duration: %v", err)
			}
			h.now = h.now.Add(dur)
		}
		return fmt.Sprintf("t=%s\n", h.now.Sub(epoch)) + h.step(Tick{Now: h.now})
	case "cancel-job":
		return h.step(CancelJob{Now: h.now})
	case "adopt":
		return h.adopt(t, d)
	case "status":
		return h.status()
	case "regions":
		return formatRegions(h.topo, h.s.Regions())
	case "failovers":
		var b strings.Builder
		for _, f := range h.s.Failovers() {
			fmt.Fprintf(&b, "#%d t=%s delay=%s: %s\n", f.Restart, f.Time.Sub(epoch), f.Delay, f)
		}
		if b.Len() == 0 {
			return "(none)\n"
		}
		return b.String()
	case "wakeup":
		if w, ok := h.s.NextWakeup(); ok {
			return fmt.Sprintf("t=%s\n", w.Sub(epoch))
		}
		return "none\n"
	}
	d.Fatalf(t, "unknown command %q", d.Cmd)
	return ""
}

func (h *harness) step(ev Event) string { return h.format(h.s.Step(ev)) }

func (h *harness) newTopology(t *testing.T, d *datadriven.TestData) string {
	var topo Topology
	names := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 5 && f[1] == "->":
			e := Edge{From: lookupVertex(t, d, names, f[0]), To: lookupVertex(t, d, names, f[2])}
			e.Mode = map[string]ExchangeMode{"pipelined": Pipelined, "blocking": Blocking}[f[3]]
			e.Pattern = map[string]Pattern{"pointwise": Pointwise, "all-to-all": AllToAll}[f[4]]
			topo.Edges = append(topo.Edges, e)
		case len(f) >= 2 && strings.HasPrefix(f[1], "p="):
			p, err := strconv.Atoi(strings.TrimPrefix(f[1], "p="))
			if err != nil {
				d.Fatalf(t, "bad parallelism in %q", line)
			}
			v := Vertex{ID: len(topo.Vertices), Name: f[0], Parallelism: p, Bounded: true}
			if len(f) > 2 && f[2] == "unbounded" {
				v.Bounded = false
			}
			names[f[0]] = v.ID
			topo.Vertices = append(topo.Vertices, v)
		default:
			d.Fatalf(t, "cannot parse topology line %q", line)
		}
	}
	cfg := Config{}
	dur := func(key string, def time.Duration) time.Duration {
		var s string
		if !d.MaybeScanArgs(t, key, &s) {
			return def
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			d.Fatalf(t, "bad %s: %v", key, err)
		}
		return v
	}
	var kind string
	attempts, mult := 0, 2.0
	d.MaybeScanArgs(t, "restart", &kind)
	d.MaybeScanArgs(t, "attempts", &attempts)
	d.MaybeScanArgs(t, "mult", &mult)
	switch kind {
	case "", "none":
	case "fixed":
		cfg.Restart = FixedDelay(attempts, dur("delay", 0))
	case "exp":
		cfg.Restart = ExponentialBackoff(dur("delay", time.Second), dur("max-delay", 0), mult, attempts)
	default:
		d.Fatalf(t, "unknown restart strategy %q", kind)
	}
	cfg.SlotWaitTimeout = dur("slot-timeout", 0)
	s, err := New(topo, cfg)
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	h.s, h.topo, h.now = s, topo, epoch
	return formatRegions(topo, s.Regions())
}

func lookupVertex(t *testing.T, d *datadriven.TestData, names map[string]int, name string) int {
	v, ok := names[name]
	if !ok {
		d.Fatalf(t, "unknown vertex %q", name)
	}
	return v
}

// tasks parses the task arguments ("map[1]", "map[*]") of a command.
func (h *harness) tasks(t *testing.T, d *datadriven.TestData) []TaskID {
	var out []TaskID
	for _, a := range d.CmdArgs {
		if len(a.Vals) > 0 || !strings.HasSuffix(a.Key, "]") {
			continue
		}
		name, sub, _ := strings.Cut(strings.TrimSuffix(a.Key, "]"), "[")
		v := -1
		for _, vx := range h.topo.Vertices {
			if vx.Name == name {
				v = vx.ID
			}
		}
		if v < 0 {
			d.Fatalf(t, "unknown vertex in %q", a.Key)
		}
		if sub == "*" {
			for i := 0; i < h.topo.Vertices[v].Parallelism; i++ {
				out = append(out, TaskID{Vertex: v, Subtask: i})
			}
			continue
		}
		i, err := strconv.Atoi(sub)
		if err != nil {
			d.Fatalf(t, "bad subtask in %q", a.Key)
		}
		out = append(out, TaskID{Vertex: v, Subtask: i})
	}
	return out
}

func (h *harness) taskEvents(t *testing.T, d *datadriven.TestData) string {
	var out []Action
	for _, id := range h.tasks(t, d) {
		ts, _ := h.s.Task(id)
		attempt := ts.Attempt
		d.MaybeScanArgs(t, "attempt", &attempt)
		var ev Event
		switch d.Cmd {
		case "running":
			ev = TaskRunning{Now: h.now, Task: id, Attempt: attempt}
		case "finish":
			ev = TaskFinished{Now: h.now, Task: id, Attempt: attempt, External: d.HasArg("external")}
		case "canceled":
			ev = TaskCanceled{Now: h.now, Task: id, Attempt: attempt}
		case "fail":
			msg := "boom"
			d.MaybeScanArgs(t, "err", &msg)
			ev = TaskFailed{Now: h.now, Task: id, Attempt: attempt, Err: msg, Retriable: !d.HasArg("fatal")}
		case "result-lost":
			ev = ResultLost{Now: h.now, Task: id, Attempt: attempt}
		}
		out = append(out, h.s.Step(ev)...)
	}
	return h.format(out)
}

func (h *harness) format(actions []Action) string {
	if len(actions) == 0 {
		return "(no actions)\n"
	}
	var b strings.Builder
	for _, a := range actions {
		switch a := a.(type) {
		case Deploy:
			fmt.Fprintf(&b, "deploy %s attempt=%d on %s/%d\n", h.topo.TaskName(a.Task), a.Attempt, a.Worker, a.Slot)
		case Cancel:
			fmt.Fprintf(&b, "cancel %s attempt=%d on %s\n", h.topo.TaskName(a.Task), a.Attempt, a.Worker)
		case DiscardResult:
			where := a.Worker
			if a.External {
				where = "external"
			}
			fmt.Fprintf(&b, "discard-result %s attempt=%d on %s\n", h.topo.TaskName(a.Task), a.Attempt, where)
		default:
			fmt.Fprintln(&b, a)
		}
	}
	return b.String()
}

func (h *harness) status() string {
	var b strings.Builder
	job, reason := h.s.Job()
	fmt.Fprintf(&b, "job %s, restarts %d", job, h.s.Restarts())
	if reason != "" {
		fmt.Fprintf(&b, ": %s", reason)
	}
	b.WriteString("\n")
	tasks := h.s.Tasks()
	for _, rs := range h.s.RegionStatuses() {
		fmt.Fprintf(&b, "r%d %s (restarts %d):", rs.ID, rs.State, rs.Restarts)
		for _, ts := range tasks {
			if ts.Region != rs.ID {
				continue
			}
			fmt.Fprintf(&b, " %s=%s", h.topo.TaskName(ts.Task), ts.State)
			if ts.Attempt >= 0 {
				fmt.Fprintf(&b, "#%d@%s/%d", ts.Attempt, ts.Worker, ts.Slot)
			}
			if ts.ResultAvailable {
				b.WriteString("+result")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func formatRegions(topo Topology, regions []Region) string {
	var b strings.Builder
	for _, r := range regions {
		names := make([]string, len(r.Tasks))
		for i, id := range r.Tasks {
			names[i] = topo.TaskName(id)
		}
		fmt.Fprintf(&b, "region %d: %s", r.ID, strings.Join(names, " "))
		if len(r.Inputs) > 0 {
			fmt.Fprintf(&b, " <- {%s}", joinInts(r.Inputs, ","))
		}
		b.WriteString("\n")
	}
	return b.String()
}
