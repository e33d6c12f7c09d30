package scheduler

import (
	"math/bits"
	"time"
)

// This file keeps the counters that let every event cost time proportional
// to what it changes, not to the size of the job: per region the number of
// active and finished tasks and of incomplete input groups, per input group
// the number of available results, per vertex the number of slots hosting
// one of its subtasks, and the sets of ready and restarting regions. Every
// change of a task's state, a task's result availability or a region's
// state goes through the setters below.

// setTaskState moves task i to st, keeping the region's counters.
func (s *Scheduler) setTaskState(i int, st TaskState) {
	t := &s.tasks[i]
	if t.state == st {
		return
	}
	r := s.plan.regionOf[i]
	reg := &s.regions[r]
	if t.state.Active() {
		reg.active--
		s.active--
		if reg.active == 0 && reg.state == RegionRestarting {
			s.recheck.set(r, true)
		}
	}
	if t.state == Finished {
		reg.finished--
	}
	t.state = st
	if st.Active() {
		reg.active++
		s.active++
	}
	if st == Finished {
		reg.finished++
	}
}

// setResult replaces task i's result, keeping the input groups' counters.
func (s *Scheduler) setResult(i int, res result) {
	s.setAvailable(i, res.available)
	s.tasks[i].result = res
}

// setAvailable marks task i's result available or not. When an input group
// becomes complete or incomplete, its consumer regions are told.
func (s *Scheduler) setAvailable(i int, available bool) {
	t := &s.tasks[i]
	if t.result.available == available {
		return
	}
	t.result.available = available
	s.plan.groupsOf(i, func(g int) {
		size := s.plan.groups[g].size()
		if available {
			s.avail[g]++
			if s.avail[g] == size {
				for _, c := range s.plan.groups[g].consumers {
					s.regions[c].missing--
					s.updateReady(c)
				}
			}
			return
		}
		if s.avail[g] == size {
			for _, c := range s.plan.groups[g].consumers {
				s.regions[c].missing++
				s.updateReady(c)
			}
		}
		s.avail[g]--
	})
}

// setRegionState moves region r to st, keeping the job's counters and sets.
func (s *Scheduler) setRegionState(r int, st RegionState) {
	reg := &s.regions[r]
	if reg.state == st {
		return
	}
	if reg.state == RegionFinished {
		s.finishedRegions--
	}
	reg.state = st
	if st == RegionFinished {
		s.finishedRegions++
	}
	s.restarting.set(r, st == RegionRestarting)
	s.updateReady(r)
}

// updateReady adds region r to the ready set (created, every blocking input
// available) or removes it. A region leaving the set stops waiting for
// slots.
func (s *Scheduler) updateReady(r int) {
	reg := &s.regions[r]
	ready := reg.state == RegionCreated && reg.missing == 0
	if !ready {
		reg.slotWaitSince = time.Time{}
	}
	s.ready.set(r, ready)
}

// regionSet is a set of region IDs iterated in ascending order.
type regionSet struct {
	words []uint64
	n     int
}

func newRegionSet(n int) regionSet { return regionSet{words: make([]uint64, (n+63)/64)} }

func (b *regionSet) set(r int, on bool) {
	w, m := r/64, uint64(1)<<(r%64)
	switch has := b.words[w]&m != 0; {
	case on && !has:
		b.words[w] |= m
		b.n++
	case !on && has:
		b.words[w] &^= m
		b.n--
	}
}

func (b *regionSet) has(r int) bool { return b.words[r/64]&(uint64(1)<<(r%64)) != 0 }

// each calls fn for every member in ascending order; fn may remove members
// (the one it got or later ones) and stops the walk by returning false.
func (b *regionSet) each(fn func(r int) bool) {
	for w := 0; w < len(b.words) && b.n > 0; w++ {
		for word := b.words[w]; word != 0; {
			k := bits.TrailingZeros64(word)
			word &^= uint64(1) << k
			r := w*64 + k
			if !b.has(r) {
				continue
			}
			if !fn(r) {
				return
			}
		}
	}
}
