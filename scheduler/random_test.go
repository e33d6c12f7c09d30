package scheduler

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestRandomEvents drives the scheduler with thousands of seeded random event
// sequences and checks invariants after every step against a model the
// driver keeps of what it was told (see sim.check*). Half of the sequences run
// in "liveness" mode: only retriable failures, an unlimited restart budget,
// no cancellation; there the driver finally completes every task it is given
// and the job must finish. To reproduce a failure, run with
// -run 'TestRandomEvents/seed=N'.
func TestRandomEvents(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	for seed := 0; seed < n; seed++ {
		sm := newSim(uint64(seed))
		if failure := sm.run(); failure != "" {
			t.Fatalf("seed=%d (liveness=%v): %s\ntopology: %+v\ntrace (last 40 steps):\n%s",
				seed, sm.liveness, failure, sm.topo, sm.trace())
		}
		// Determinism: replaying the same events yields the same actions.
		if seed%10 == 0 {
			if failure := sm.replay(); failure != "" {
				t.Fatalf("seed=%d: replay differs: %s", seed, failure)
			}
		}
	}
}

// simFailure aborts a sequence with a message; run recovers it.
type simFailure string

type liveTask struct {
	attempt   int
	worker    string
	slot      int
	running   bool
	canceling bool
}

type simResult struct {
	attempt  int
	worker   string
	external bool
}

type sim struct {
	rng      *rand.Rand
	liveness bool
	topo     Topology
	cfg      Config
	s        *Scheduler
	regionOf map[TaskID]int
	// producers lists, per task, the producer tasks in other regions whose
	// blocking results it needs.
	producers map[TaskID][]TaskID
	hasResult map[int]bool // vertex → has a blocking output

	now         time.Time
	workers     map[string]int // live worker → slots
	workerCount int
	active      map[TaskID]*liveTask
	lastAttempt map[TaskID]int
	results     map[TaskID]simResult
	ended       bool
	endAction   Action

	events  []Event
	outputs [][]Action
	lines   []string
}

func newSim(seed uint64) *sim {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	sm := &sim{
		rng:         rng,
		liveness:    seed%2 == 0,
		now:         epoch,
		workers:     map[string]int{},
		active:      map[TaskID]*liveTask{},
		lastAttempt: map[TaskID]int{},
		results:     map[TaskID]simResult{},
		regionOf:    map[TaskID]int{},
		producers:   map[TaskID][]TaskID{},
		hasResult:   map[int]bool{},
	}
	sm.topo = randomTopology(rng)
	if sm.liveness {
		sm.cfg = Config{
			Restart:         FixedDelay(1<<30, time.Duration(rng.IntN(3))*time.Second),
			SlotWaitTimeout: 1000 * time.Hour,
		}
		if rng.IntN(2) == 0 {
			sm.cfg.Restart = ExponentialBackoff(time.Second, 4*time.Second, 2, 1<<30)
		}
	} else {
		switch rng.IntN(3) {
		case 0:
			sm.cfg.Restart = NoRestart()
		case 1:
			sm.cfg.Restart = FixedDelay(rng.IntN(6), time.Duration(rng.IntN(3))*time.Second)
		case 2:
			sm.cfg.Restart = ExponentialBackoff(500*time.Millisecond, 3*time.Second, 2, rng.IntN(8))
		}
		sm.cfg.SlotWaitTimeout = time.Duration(1+rng.IntN(20)) * time.Second
	}
	return sm
}

// randomTopology draws a small valid topology (edges go from lower to higher
// IDs, so it is acyclic).
func randomTopology(rng *rand.Rand) Topology {
	n := 1 + rng.IntN(4)
	var topo Topology
	for i := 0; i < n; i++ {
		topo.Vertices = append(topo.Vertices, Vertex{
			ID: i, Name: fmt.Sprintf("v%d", i), Parallelism: 1 + rng.IntN(3), Bounded: rng.IntN(6) > 0,
		})
	}
	for to := 1; to < n; to++ {
		for from := 0; from < to; from++ {
			if rng.IntN(5) >= 2 {
				continue
			}
			e := Edge{From: from, To: to, Pattern: AllToAll}
			if topo.Vertices[from].Parallelism == topo.Vertices[to].Parallelism && rng.IntN(2) == 0 {
				e.Pattern = Pointwise
			}
			if topo.Vertices[from].Bounded && rng.IntN(2) == 0 {
				e.Mode = Blocking
			}
			topo.Edges = append(topo.Edges, e)
		}
	}
	return topo
}

func (sm *sim) run() (failure string) {
	defer func() {
		if r := recover(); r != nil {
			if f, ok := r.(simFailure); ok {
				failure = string(f)
				return
			}
			panic(r)
		}
	}()
	s, err := New(sm.topo, sm.cfg)
	if err != nil {
		return "New: " + err.Error()
	}
	sm.s = s
	for _, r := range s.Regions() {
		for _, id := range r.Tasks {
			sm.regionOf[id] = r.ID
		}
	}
	// The model's producers come from the topology's edges, pair by pair.
	for _, e := range sm.topo.Edges {
		if e.Mode != Blocking {
			continue
		}
		fp, tp := sm.topo.Vertices[e.From].Parallelism, sm.topo.Vertices[e.To].Parallelism
		for a := 0; a < fp; a++ {
			for b := 0; b < tp; b++ {
				if e.Pattern == Pointwise && a != b {
					continue
				}
				from, to := TaskID{Vertex: e.From, Subtask: a}, TaskID{Vertex: e.To, Subtask: b}
				if sm.regionOf[from] != sm.regionOf[to] && !slices.Contains(sm.producers[to], from) {
					sm.producers[to] = append(sm.producers[to], from)
				}
			}
		}
	}
	for _, e := range sm.topo.Edges {
		if e.Mode == Blocking {
			sm.hasResult[e.From] = true
		}
	}

	for i := 0; i < 1+sm.rng.IntN(3); i++ {
		sm.joinWorker()
	}
	sm.apply(nil, "start", s.Start(sm.now))
	steps := 20 + sm.rng.IntN(60)
	for i := 0; i < steps; i++ {
		sm.randomStep()
	}
	sm.complete()
	return ""
}

func (sm *sim) fail(format string, args ...any) {
	panic(simFailure(fmt.Sprintf(format, args...)))
}

// step sends ev and checks the actions it returns.
func (sm *sim) step(ev Event) {
	sm.apply(ev, fmt.Sprintf("%T%+v", ev, ev), sm.s.Step(ev))
}

func (sm *sim) apply(ev Event, desc string, actions []Action) {
	sm.events = append(sm.events, ev) // nil stands for Start
	sm.outputs = append(sm.outputs, actions)
	var b strings.Builder
	for _, a := range actions {
		b.WriteString("\n    " + a.String())
	}
	sm.lines = append(sm.lines, strings.TrimPrefix(desc, "scheduler.")+b.String())
	sm.checkActions(actions)
	sm.checkState()
}

// sortedActive returns the model's active tasks in a deterministic order.
func (sm *sim) sortedActive(pred func(*liveTask) bool) []TaskID {
	var out []TaskID
	for id, lt := range sm.active {
		if pred(lt) {
			out = append(out, id)
		}
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Vertex != out[b].Vertex {
			return out[a].Vertex < out[b].Vertex
		}
		return out[a].Subtask < out[b].Subtask
	})
	return out
}

func (sm *sim) pick(ids []TaskID) (TaskID, bool) {
	if len(ids) == 0 {
		return TaskID{}, false
	}
	return ids[sm.rng.IntN(len(ids))], true
}

func (sm *sim) joinWorker() {
	sm.workerCount++
	name := fmt.Sprintf("w%d", sm.workerCount)
	slots := 1 + sm.rng.IntN(3)
	sm.workers[name] = slots
	sm.step(WorkerJoined{Now: sm.now, Worker: name, Slots: slots})
}

func (sm *sim) loseWorker(name string) {
	delete(sm.workers, name)
	for id, lt := range sm.active {
		if lt.worker == name {
			delete(sm.active, id)
		}
	}
	for id, r := range sm.results {
		if r.worker == name && !r.external {
			delete(sm.results, id)
		}
	}
	sm.step(WorkerLost{Now: sm.now, Worker: name})
}

func (sm *sim) finish(id TaskID, external bool) {
	lt := sm.active[id]
	delete(sm.active, id)
	if !lt.canceling && sm.hasResult[id.Vertex] {
		sm.results[id] = simResult{attempt: lt.attempt, worker: lt.worker, external: external}
	}
	sm.step(TaskFinished{Now: sm.now, Task: id, Attempt: lt.attempt, External: external})
}

func (sm *sim) stopped(id TaskID, ev Event) {
	delete(sm.active, id)
	sm.step(ev)
}

func (sm *sim) randomStep() {
	all := func(*liveTask) bool { return true }
	live := func(lt *liveTask) bool { return !lt.canceling }
	switch k := sm.rng.IntN(100); {
	case k < 30: // a task finishes
		if id, ok := sm.pick(sm.sortedActive(all)); ok {
			sm.finish(id, sm.rng.IntN(2) == 0)
		}
	case k < 38: // a task reports running (maybe twice)
		if id, ok := sm.pick(sm.sortedActive(all)); ok {
			sm.active[id].running = true
			sm.step(TaskRunning{Now: sm.now, Task: id, Attempt: sm.active[id].attempt})
		}
	case k < 46: // a task fails
		if id, ok := sm.pick(sm.sortedActive(all)); ok {
			fatal := !sm.liveness && sm.rng.IntN(8) == 0
			mustFail := fatal && !sm.active[id].canceling && !sm.ended
			if job, _ := sm.s.Job(); job != JobStateRunning {
				mustFail = false
			}
			sm.stopped(id, TaskFailed{Now: sm.now, Task: id, Attempt: sm.active[id].attempt, Err: "boom", Retriable: !fatal})
			if _, failed := sm.endAction.(JobFailed); mustFail && !failed {
				sm.fail("non-retriable failure of %s did not fail the job", id)
			}
		}
	case k < 54: // a canceled task acknowledges (or an unsolicited cancel)
		pred := func(lt *liveTask) bool { return lt.canceling }
		if sm.rng.IntN(5) == 0 {
			pred = live
		}
		if id, ok := sm.pick(sm.sortedActive(pred)); ok {
			sm.stopped(id, TaskCanceled{Now: sm.now, Task: id, Attempt: sm.active[id].attempt})
		}
	case k < 60:
		sm.joinWorker()
	case k < 65: // a worker dies
		var names []string
		for n := range sm.workers {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) > 0 {
			sm.loseWorker(names[sm.rng.IntN(len(names))])
		}
	case k < 70: // a consumer reports a lost result
		var ids []TaskID
		for id := range sm.results {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(a, b int) bool { return fmt.Sprint(ids[a]) < fmt.Sprint(ids[b]) })
		if len(ids) > 1 && sm.rng.IntN(4) == 0 { // an external shuffle service dies with several
			sm.rng.Shuffle(len(ids), func(a, b int) { ids[a], ids[b] = ids[b], ids[a] })
			var lost []LostResult
			for _, id := range ids[:1+sm.rng.IntN(len(ids))] {
				lost = append(lost, LostResult{Task: id, Attempt: sm.results[id].attempt})
				delete(sm.results, id)
			}
			before := sm.s.Restarts()
			sm.step(ResultsLost{Now: sm.now, Results: lost})
			if n := sm.s.Restarts(); n > before+1 {
				sm.fail("one ResultsLost event caused %d restarts", n-before)
			}
		} else if id, ok := sm.pick(ids); ok {
			r := sm.results[id]
			delete(sm.results, id)
			sm.step(ResultLost{Now: sm.now, Task: id, Attempt: r.attempt})
		}
	case k < 82:
		sm.staleEvent()
	case k < 97: // time passes
		if w, ok := sm.s.NextWakeup(); ok && sm.rng.IntN(2) == 0 && w.Before(sm.now.Add(time.Hour)) {
			sm.now = w
		} else {
			sm.now = sm.now.Add(time.Duration(sm.rng.IntN(3000)) * time.Millisecond)
		}
		sm.step(Tick{Now: sm.now})
	default:
		if !sm.liveness {
			sm.step(CancelJob{Now: sm.now})
		}
	}
}

// staleEvent sends an event about an attempt that is not live and asserts it
// is ignored entirely.
func (sm *sim) staleEvent() {
	var ids []TaskID
	for id := range sm.lastAttempt {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool { return fmt.Sprint(ids[a]) < fmt.Sprint(ids[b]) })
	id, ok := sm.pick(ids)
	if !ok {
		return
	}
	attempt := sm.lastAttempt[id]
	if sm.active[id] != nil || sm.rng.IntN(2) == 0 {
		attempt -= 1 + sm.rng.IntN(2) // an older attempt (or -1, -2: never deployed)
	}
	if sm.rng.IntN(6) == 0 {
		attempt = sm.lastAttempt[id] + 1 // not deployed yet
	}
	var ev Event
	switch sm.rng.IntN(5) {
	case 0:
		ev = TaskRunning{Now: sm.now, Task: id, Attempt: attempt}
	case 1:
		ev = TaskFinished{Now: sm.now, Task: id, Attempt: attempt}
	case 2:
		ev = TaskFailed{Now: sm.now, Task: id, Attempt: attempt, Err: "stale", Retriable: sm.rng.IntN(2) == 0}
	case 3:
		ev = TaskCanceled{Now: sm.now, Task: id, Attempt: attempt}
	case 4:
		if r, ok := sm.results[id]; ok && r.attempt == attempt {
			return // that would be a genuine loss
		}
		ev = ResultLost{Now: sm.now, Task: id, Attempt: attempt}
	}
	before := sm.snapshot()
	actions := sm.s.Step(ev)
	sm.events = append(sm.events, ev)
	sm.outputs = append(sm.outputs, actions)
	sm.lines = append(sm.lines, fmt.Sprintf("stale %T%+v", ev, ev))
	if len(actions) != 0 {
		sm.fail("stale event %T%+v returned %v", ev, ev, actions)
	}
	if after := sm.snapshot(); !reflect.DeepEqual(before, after) {
		sm.fail("stale event %T%+v changed the state", ev, ev)
	}
}

func (sm *sim) snapshot() any {
	job, reason := sm.s.Job()
	return []any{sm.s.Tasks(), sm.s.RegionStatuses(), sm.s.Workers(), job, reason, sm.s.Now(), sm.s.Restarts()}
}

// complete drives the job to its end: every live task finishes, canceled
// ones acknowledge, time passes. In liveness mode the job must finish.
func (sm *sim) complete() {
	if sm.liveness {
		// Make sure the cluster is big enough for every region.
		maxPar := 0
		for _, v := range sm.topo.Vertices {
			maxPar = max(maxPar, v.Parallelism)
		}
		sm.workerCount++
		name := fmt.Sprintf("w%d", sm.workerCount)
		sm.workers[name] = maxPar
		sm.step(WorkerJoined{Now: sm.now, Worker: name, Slots: maxPar})
	}
	for round := 0; round < 200 && !sm.ended; round++ {
		ids := sm.sortedActive(func(*liveTask) bool { return true })
		for _, id := range ids {
			lt := sm.active[id]
			if lt == nil {
				continue // stopped by an earlier event of this round
			}
			if lt.canceling {
				sm.stopped(id, TaskCanceled{Now: sm.now, Task: id, Attempt: lt.attempt})
			} else {
				sm.finish(id, sm.rng.IntN(2) == 0)
			}
		}
		if len(ids) == 0 {
			if w, ok := sm.s.NextWakeup(); ok {
				sm.now = w
			} else {
				sm.now = sm.now.Add(time.Second)
			}
			sm.step(Tick{Now: sm.now})
		}
	}
	if !sm.ended {
		if sm.liveness {
			sm.fail("job did not end: %v", sm.s.RegionStatuses())
		}
		return
	}
	if _, ok := sm.endAction.(JobFinished); sm.liveness && !ok {
		sm.fail("liveness run ended with %s", sm.endAction)
	}
	// After the end nothing happens any more.
	sm.step(Tick{Now: sm.now.Add(time.Hour)})
	sm.joinWorker()
}

// replay feeds the recorded events to a fresh scheduler and compares actions.
func (sm *sim) replay() string {
	s, err := New(sm.topo, sm.cfg)
	if err != nil {
		return err.Error()
	}
	for i, ev := range sm.events {
		var got []Action
		if ev == nil {
			got = s.Start(epoch)
		} else {
			got = s.Step(ev)
		}
		if fmt.Sprint(got) != fmt.Sprint(sm.outputs[i]) {
			return fmt.Sprintf("event %d %T%+v: got %v, want %v", i, ev, ev, got, sm.outputs[i])
		}
	}
	return ""
}

func (sm *sim) trace() string {
	lines := sm.lines
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}
