package coordinator

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/scheduler"
)

// TestInteraction runs the scripts in testdata/. Commands:
//
//	init [interval=D] [backfill=D] [min-pause=D] [timeout=D] [retain=N]
//	     [restored=ID] [restored-commit=C] [manual=storage|commit|both]
//	     [start-above=ID]                               (StartAbove, as after a master failover)
//	deploy <task>... [attempt=N] [from=ID] [source]   (TaskDeployed; the task runs)
//	state <task>... deploying|running|canceling|finished
//	tick [+D] [settling] [backfilling]
//	request-checkpoint
//	savepoint req=N [drain] [dir=DIR]
//	report id=N [files=N]                               (input: one line per task)
//	  ack <task> [attempt=N] [bytes=N] [commit=C]
//	  decline <task> [attempt=N] [reason=WORD] [commit=C]
//	finish <task> [attempt=N] last=ID [commit=C]
//	fail <task> [attempt=N] [restore=ID] [cause=WORD]
//	worker-lost | job-finishing | job-aborted | retry
//	trigger-failed id=N [reason=WORD]
//	stored id=N | store-failed id=N [err=WORD]
//	committed seq=N | commit-failed seq=N vertex=V [err=WORD]
//	status
//
// A task is v<vertex>[<subtask>]; attempt defaults to the task's current
// one. Committables C are written <vertex>:<item>[:<item>...] joined by
// "/", e.g. 1:a:b/2:c. Unless init says manual=..., a Persist is answered
// with StorageCompleted and a Commit with CommitDone at once. Event commands
// print the actions of the event and of the outcomes fed back, one a line.
func TestInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		h := &harness{}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return h.run(t, d)
		})
	})
}

var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

type taskInfo struct {
	attempt int
	state   scheduler.TaskState
	source  bool
	worker  string
}

type harness struct {
	c                         *Coordinator
	now                       time.Time
	tasks                     map[scheduler.TaskID]*taskInfo
	manualStore, manualCommit bool
	persisted                 map[int64]Persist
}

// args splits a command's arguments into flags and key=value pairs.
func args(d *datadriven.TestData) (pos []string, kv map[string]string) {
	kv = make(map[string]string)
	for _, a := range d.CmdArgs {
		if len(a.Vals) == 0 {
			pos = append(pos, a.Key)
			continue
		}
		kv[a.Key] = strings.Join(a.Vals, ",")
	}
	return pos, kv
}

func fieldArgs(fields []string) (pos []string, kv map[string]string) {
	kv = make(map[string]string)
	for _, f := range fields {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = v
		} else {
			pos = append(pos, f)
		}
	}
	return pos, kv
}

func (h *harness) run(t *testing.T, d *datadriven.TestData) string {
	pos, kv := args(d)
	if d.Cmd == "init" {
		return h.init(t, d, kv)
	}
	if h.c == nil {
		d.Fatalf(t, "%s before init", d.Cmd)
	}
	switch d.Cmd {
	case "deploy":
		var out []Action
		for _, p := range pos {
			if p == "source" {
				continue
			}
			id := parseTask(t, d, p)
			ti := h.tasks[id]
			if ti == nil {
				ti = &taskInfo{attempt: -1, worker: "w1"}
				h.tasks[id] = ti
			}
			ti.attempt++
			if a, ok := kv["attempt"]; ok {
				ti.attempt = atoi(t, d, a)
			}
			ti.state = scheduler.Running
			ti.source = contains(pos, "source")
			out = append(out, h.c.Step(TaskDeployed{Now: h.now, Task: id, Attempt: ti.attempt,
				RestoredFrom: int64(atoi(t, d, kv["from"])), Vertices: []int{id.Vertex}})...)
		}
		return h.drive(out)
	case "state":
		st := map[string]scheduler.TaskState{"deploying": scheduler.Deploying, "running": scheduler.Running,
			"canceling": scheduler.Canceling, "finished": scheduler.Finished}[pos[len(pos)-1]]
		for _, p := range pos[:len(pos)-1] {
			h.task(t, d, p).state = st
		}
		return "ok\n"
	case "tick":
		if len(pos) > 0 && strings.HasPrefix(pos[0], "+") {
			dur, err := time.ParseDuration(pos[0][1:])
			if err != nil {
				d.Fatalf(t, "bad duration: %v", err)
			}
			h.now = h.now.Add(dur)
		}
		ev := Tick{Now: h.now, Settling: contains(pos, "settling"), Backfilling: contains(pos, "backfilling")}
		ids := make([]scheduler.TaskID, 0, len(h.tasks))
		for id := range h.tasks {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return lessTask(ids[i], ids[j]) })
		for _, id := range ids {
			ti := h.tasks[id]
			ev.Tasks = append(ev.Tasks, Task{ID: id, Attempt: ti.attempt, Worker: ti.worker, State: ti.state, Trigger: ti.source})
		}
		return fmt.Sprintf("t=%s\n", h.now.Sub(epoch)) + h.step(ev)
	case "request-checkpoint":
		return h.step(TriggerRequested{Now: h.now})
	case "savepoint":
		kind := engine.KindSavepoint
		if contains(pos, "drain") {
			kind = engine.KindDrainSavepoint
		}
		dir := kv["dir"]
		if dir == "" {
			dir = "sp"
		}
		return h.step(SavepointRequested{Now: h.now, Req: int64(atoi(t, d, kv["req"])), Dir: dir, Kind: kind})
	case "report":
		return h.report(t, d, kv)
	case "finish":
		id := parseTask(t, d, pos[0])
		ti := h.task(t, d, pos[0])
		ev := TaskFinished{Now: h.now, Task: id, Attempt: h.attempt(t, d, ti, kv), LastCheckpoint: int64(atoi(t, d, kv["last"])),
			Committables: parseCommittables(t, d, kv["commit"])}
		if ev.Attempt == ti.attempt {
			ti.state = scheduler.Finished
		}
		return h.step(ev)
	case "fail":
		id := parseTask(t, d, pos[0])
		ti := h.task(t, d, pos[0])
		ev := TaskFailed{Now: h.now, Task: id, Attempt: h.attempt(t, d, ti, kv), Cause: kv["cause"]}
		if ev.Cause == "" {
			ev.Cause = "boom"
		}
		if r, ok := kv["restore"]; ok {
			ev.RestoreFailed, ev.Checkpoint = true, int64(atoi(t, d, r))
		}
		ti.state = scheduler.Failed
		return h.step(ev)
	case "worker-lost":
		return h.step(WorkerLost{Now: h.now})
	case "job-finishing":
		return h.step(JobFinishing{Now: h.now})
	case "job-aborted":
		return h.step(JobAborted{Now: h.now})
	case "retry":
		return h.step(RetryDue{Now: h.now})
	case "trigger-failed":
		return h.step(TriggerFailed{Now: h.now, ID: int64(atoi(t, d, kv["id"])), Reason: orDefault(kv["reason"], "unreachable")})
	case "stored":
		return h.step(h.storedEvent(int64(atoi(t, d, kv["id"]))))
	case "store-failed":
		return h.step(StorageFailed{Now: h.now, ID: int64(atoi(t, d, kv["id"])), Err: orDefault(kv["err"], "disk full")})
	case "committed":
		return h.step(CommitDone{Now: h.now, Seq: int64(atoi(t, d, kv["seq"]))})
	case "commit-failed":
		return h.step(CommitFailed{Now: h.now, Seq: int64(atoi(t, d, kv["seq"])), Vertex: atoi(t, d, kv["vertex"]), Err: orDefault(kv["err"], "unavailable")})
	case "status":
		return h.status()
	}
	d.Fatalf(t, "unknown command %q", d.Cmd)
	return ""
}

func (h *harness) init(t *testing.T, d *datadriven.TestData, kv map[string]string) string {
	var cfg dag.CheckpointConfig
	dur := func(k string) time.Duration {
		if v, ok := kv[k]; ok {
			x, err := time.ParseDuration(v)
			if err != nil {
				d.Fatalf(t, "bad %s: %v", k, err)
			}
			return x
		}
		return 0
	}
	cfg.Interval, cfg.BackfillInterval, cfg.MinPause, cfg.Timeout = dur("interval"), dur("backfill"), dur("min-pause"), dur("timeout")
	cfg.Retain = atoi(t, d, kv["retain"])
	var restored *checkpoint.Metadata
	if r, ok := kv["restored"]; ok {
		restored = &checkpoint.Metadata{ID: int64(atoi(t, d, r)), Committables: parseCommittables(t, d, kv["restored-commit"])}
	}
	*h = harness{c: New(cfg, restored), now: epoch, tasks: make(map[scheduler.TaskID]*taskInfo), persisted: make(map[int64]Persist)}
	if a, ok := kv["start-above"]; ok {
		h.c.StartAbove(int64(atoi(t, d, a)))
	}
	switch kv["manual"] {
	case "storage":
		h.manualStore = true
	case "commit":
		h.manualCommit = true
	case "both":
		h.manualStore, h.manualCommit = true, true
	}
	return h.drive(h.c.Start(h.now))
}

func (h *harness) task(t *testing.T, d *datadriven.TestData, s string) *taskInfo {
	ti := h.tasks[parseTask(t, d, s)]
	if ti == nil {
		d.Fatalf(t, "task %s was not deployed", s)
	}
	return ti
}

func (h *harness) attempt(t *testing.T, d *datadriven.TestData, ti *taskInfo, kv map[string]string) int {
	if a, ok := kv["attempt"]; ok {
		return atoi(t, d, a)
	}
	return ti.attempt
}

func (h *harness) report(t *testing.T, d *datadriven.TestData, kv map[string]string) string {
	ev := Report{Now: h.now, ID: int64(atoi(t, d, kv["id"])), Files: atoi(t, d, kv["files"])}
	for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			d.Fatalf(t, "bad report line %q", line)
		}
		pos, lkv := fieldArgs(f[1:])
		id := parseTask(t, d, pos[0])
		ti := h.task(t, d, pos[0])
		att := h.attempt(t, d, ti, lkv)
		cs := parseCommittables(t, d, lkv["commit"])
		switch f[0] {
		case "ack":
			ts := checkpoint.TaskState{Task: id.Vertex, Subtask: id.Subtask, Bytes: int64(atoi(t, d, lkv["bytes"]))}
			for _, v := range sortedInts(cs) {
				ts.Operators = append(ts.Operators, checkpoint.OperatorState{Vertex: v, Committables: cs[v]})
			}
			ev.Acks = append(ev.Acks, Ack{Task: id, Attempt: att, State: ts})
		case "decline":
			ev.Declines = append(ev.Declines, Decline{Task: id, Attempt: att, Reason: orDefault(lkv["reason"], "busy"), Committables: cs})
		default:
			d.Fatalf(t, "bad report line %q", line)
		}
	}
	return h.step(ev)
}

func (h *harness) storedEvent(id int64) StorageCompleted {
	p := h.persisted[id]
	return StorageCompleted{Now: h.now, ID: id, Metadata: &checkpoint.Metadata{ID: id, Kind: p.Kind.String(), Tasks: p.Tasks, Committables: p.Committables}}
}

func (h *harness) step(ev Event) string { return h.drive(h.c.Step(ev)) }

// drive formats actions and, unless manual, answers Persist and Commit.
func (h *harness) drive(actions []Action) string {
	var b strings.Builder
	for len(actions) > 0 {
		a := actions[0]
		actions = actions[1:]
		b.WriteString(a.String() + "\n")
		switch a := a.(type) {
		case Persist:
			h.persisted[a.ID] = a
			if !h.manualStore {
				actions = append(actions, h.c.Step(h.storedEvent(a.ID))...)
			}
		case Commit:
			if !h.manualCommit {
				actions = append(actions, h.c.Step(CommitDone{Now: h.now, Seq: a.Seq})...)
			}
		}
	}
	if b.Len() == 0 {
		return "(no actions)\n"
	}
	return b.String()
}

func (h *harness) status() string {
	var b strings.Builder
	if id, ok := h.c.InFlight(); ok {
		fmt.Fprintf(&b, "in flight: %d\n", id)
	} else {
		b.WriteString("in flight: none\n")
	}
	if md := h.c.Latest(); md != nil {
		fmt.Fprintf(&b, "latest: %d\n", md.ID)
	} else {
		b.WriteString("latest: none\n")
	}
	fmt.Fprintf(&b, "held: %s\n", FormatCommittables(h.c.Held()))
	if w, ok := h.c.NextWakeup(); ok {
		fmt.Fprintf(&b, "retry: t=%s\n", w.Sub(epoch))
	}
	return b.String()
}

func parseTask(t *testing.T, d *datadriven.TestData, s string) scheduler.TaskID {
	var id scheduler.TaskID
	if _, err := fmt.Sscanf(s, "v%d[%d]", &id.Vertex, &id.Subtask); err != nil {
		d.Fatalf(t, "bad task %q (want v<vertex>[<subtask>])", s)
	}
	return id
}

func parseCommittables(t *testing.T, d *datadriven.TestData, s string) map[int][][]byte {
	if s == "" {
		return nil
	}
	out := make(map[int][][]byte)
	for _, part := range strings.Split(s, "/") {
		f := strings.Split(part, ":")
		if len(f) < 2 {
			d.Fatalf(t, "bad committables %q (want <vertex>:<item>...)", s)
		}
		v := atoi(t, d, f[0])
		for _, c := range f[1:] {
			out[v] = append(out[v], []byte(c))
		}
	}
	return out
}

func atoi(t *testing.T, d *datadriven.TestData, s string) int {
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		d.Fatalf(t, "bad number %q", s)
	}
	return n
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
