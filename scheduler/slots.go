package scheduler

import "sort"

// worker is a live worker and what its slots host. Slot sharing follows
// Flink's default: a slot hosts at most one subtask of each task vertex, so a
// pipeline of parallelism p needs p slots.
type worker struct {
	name  string
	slots [][]int // slot index → task indices it hosts
	tasks int     // number of tasks on the worker
}

// hosts reports whether the slot hosts a subtask of vertex v.
func (s *Scheduler) hosts(slot []int, v int) bool {
	for _, i := range slot {
		if s.plan.ids[i].Vertex == v {
			return true
		}
	}
	return false
}

// totalSlots returns the number of slots of all live workers.
func (s *Scheduler) totalSlots() int {
	n := 0
	for _, w := range s.workers {
		n += len(w.slots)
	}
	return n
}

// fits reports whether region r can be deployed now. Because a slot hosts one
// subtask per vertex and vertices do not constrain each other, r fits exactly
// when, for every vertex, the number of slots not yet hosting that vertex is at
// least the number of r's subtasks of it.
func (s *Scheduler) fits(r int) bool {
	for _, d := range s.plan.regions[r].demand {
		free := 0
		for _, w := range s.workers {
			for _, slot := range w.slots {
				if !s.hosts(slot, d.vertex) {
					free++
				}
			}
		}
		if free < d.count {
			return false
		}
	}
	return true
}

// shortfall returns the first vertex of region r needing more slots than the
// whole cluster has, or ok=false if the cluster is big enough.
func (s *Scheduler) shortfall(r int) (d vertexDemand, ok bool) {
	total := s.totalSlots()
	for _, d := range s.plan.regions[r].demand {
		if d.count > total {
			return d, true
		}
	}
	return vertexDemand{}, false
}

// place assigns a worker and slot to every task of region r, which must fit.
// Tasks sharing a subtask index (a pipeline) go to one slot when possible.
// Workers are tried least-loaded first, ties broken by name; within a worker
// the emptiest compatible slot wins, ties broken by slot index.
func (s *Scheduler) place(r int) []placement {
	var out []placement
	for _, group := range s.plan.regions[r].groups {
		if w, slot, ok := s.pickSlot(group); ok {
			for _, i := range group {
				out = append(out, s.occupy(i, w, slot))
			}
			continue
		}
		for _, i := range group {
			w, slot, ok := s.pickSlot([]int{i})
			if !ok {
				panic("scheduler: place called for a region that does not fit")
			}
			out = append(out, s.occupy(i, w, slot))
		}
	}
	return out
}

type placement struct {
	task   int
	worker string
	slot   int
}

func (s *Scheduler) pickSlot(tasks []int) (*worker, int, bool) {
	for _, w := range s.workersByLoad() {
		best := -1
		for idx, slot := range w.slots {
			ok := true
			for _, i := range tasks {
				if s.hosts(slot, s.plan.ids[i].Vertex) {
					ok = false
					break
				}
			}
			if ok && (best < 0 || len(slot) < len(w.slots[best])) {
				best = idx
			}
		}
		if best >= 0 {
			return w, best, true
		}
	}
	return nil, 0, false
}

func (s *Scheduler) workersByLoad() []*worker {
	ws := make([]*worker, 0, len(s.workers))
	for _, w := range s.workers {
		ws = append(ws, w)
	}
	sort.Slice(ws, func(a, b int) bool {
		if ws[a].tasks != ws[b].tasks {
			return ws[a].tasks < ws[b].tasks
		}
		return ws[a].name < ws[b].name
	})
	return ws
}

func (s *Scheduler) occupy(i int, w *worker, slot int) placement {
	w.slots[slot] = append(w.slots[slot], i)
	w.tasks++
	s.tasks[i].worker, s.tasks[i].slot = w.name, slot
	return placement{task: i, worker: w.name, slot: slot}
}

// vacate frees the slot of task i, if its worker is still alive.
func (s *Scheduler) vacate(i int) {
	t := &s.tasks[i]
	if w, ok := s.workers[t.worker]; ok && t.slot < len(w.slots) {
		slot := w.slots[t.slot]
		for k, j := range slot {
			if j == i {
				w.slots[t.slot] = append(slot[:k:k], slot[k+1:]...)
				w.tasks--
				break
			}
		}
	}
}
