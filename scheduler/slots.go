package scheduler

// worker is a live worker and what its slots host. Slot sharing follows
// Flink's default: a slot hosts at most one subtask of each task vertex, so a
// pipeline of parallelism p needs p slots.
type worker struct {
	name  string
	slots [][]int // slot index → task indices it hosts
	tasks int     // number of tasks on the worker
	pos   int     // index in Scheduler.byLoad
}

// less orders workers least-loaded first, ties broken by name.
func (w *worker) less(o *worker) bool {
	if w.tasks != o.tasks {
		return w.tasks < o.tasks
	}
	return w.name < o.name
}

// addWorker registers a worker that joined.
func (s *Scheduler) addWorker(name string, slots int) {
	w := &worker{name: name, slots: make([][]int, slots), pos: len(s.byLoad)}
	s.workers[name] = w
	s.slots += slots
	s.byLoad = append(s.byLoad, w)
	s.resort(w)
}

// resort moves w to its place in byLoad after its load changed by one
// (or it was appended).
func (s *Scheduler) resort(w *worker) {
	for w.pos > 0 && w.less(s.byLoad[w.pos-1]) {
		s.swapLoad(w.pos, w.pos-1)
	}
	for w.pos+1 < len(s.byLoad) && s.byLoad[w.pos+1].less(w) {
		s.swapLoad(w.pos, w.pos+1)
	}
}

func (s *Scheduler) swapLoad(a, b int) {
	s.byLoad[a], s.byLoad[b] = s.byLoad[b], s.byLoad[a]
	s.byLoad[a].pos, s.byLoad[b].pos = a, b
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
func (s *Scheduler) totalSlots() int { return s.slots }

// removeWorker forgets a lost worker and the slots it offered.
func (s *Scheduler) removeWorker(name string) {
	w := s.workers[name]
	for _, slot := range w.slots {
		for _, i := range slot {
			s.hosting[s.plan.ids[i].Vertex]--
		}
	}
	s.slots -= len(w.slots)
	delete(s.workers, name)
	s.byLoad = append(s.byLoad[:w.pos], s.byLoad[w.pos+1:]...)
	for k := w.pos; k < len(s.byLoad); k++ {
		s.byLoad[k].pos = k
	}
}

// fits reports whether region r can be deployed now. Because a slot hosts one
// subtask per vertex and vertices do not constrain each other, r fits exactly
// when, for every vertex, the number of slots not yet hosting that vertex is at
// least the number of r's subtasks of it.
func (s *Scheduler) fits(r int) bool {
	for _, d := range s.plan.regions[r].demand {
		if s.slots-s.hosting[d.vertex] < d.count {
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
	for _, w := range s.byLoad {
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

func (s *Scheduler) occupy(i int, w *worker, slot int) placement {
	w.slots[slot] = append(w.slots[slot], i)
	w.tasks++
	s.resort(w)
	s.hosting[s.plan.ids[i].Vertex]++
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
				s.resort(w)
				s.hosting[s.plan.ids[i].Vertex]--
				break
			}
		}
	}
}
