package scheduler

import (
	"fmt"
	"time"
)

// failover restarts the regions in seeds (ascending) and everything they drag
// along (see restartSet), or fails the job when the restart strategy is
// exhausted. Still-running tasks of the restart set are canceled, results of
// its finished tasks are discarded, and the regions become RegionRestarting
// until the restart delay passed and every cancellation was acknowledged.
func (s *Scheduler) failover(out []Action, cause string, seeds []int) []Action {
	n := s.restarts + 1
	if !s.cfg.Restart.allows(n) {
		if s.cfg.Restart.Kind == RestartNone {
			return s.failJob(out, cause+"; restarts are disabled")
		}
		return s.failJob(out, fmt.Sprintf("%s; restart strategy %s exhausted after %d restarts",
			cause, s.cfg.Restart, s.restarts))
	}
	s.restarts = n
	delay := s.cfg.Restart.delay(n)
	due := s.clock.Add(delay)
	set := s.restartSet(seeds)
	for _, r := range set {
		s.setRegionState(r, RegionRestarting)
		reg := &s.regions[r]
		reg.restarts++
		reg.restartDue, reg.elapsed = due, false
		if !s.pendingDue || due.Before(s.nextDue) {
			s.nextDue, s.pendingDue = due, true
		}
		reg.slotWaitSince = time.Time{}
		for _, i := range s.plan.regions[r].tasks {
			t := &s.tasks[i]
			switch {
			case t.state == Deploying || t.state == Running:
				out = s.cancel(out, i)
			case t.state == Finished && t.result.available:
				out = append(out, DiscardResult{Task: s.plan.ids[i], Attempt: t.result.attempt,
					Worker: t.result.worker, External: t.result.external})
				s.setAvailable(i, false)
			}
		}
	}
	s.failovers = append(s.failovers, Failover{
		Time: s.clock, Cause: cause, Failed: seeds, Restarted: set, Restart: n, Delay: delay,
	})
	return out
}

// restartSet returns, ascending, the closure of seeds under two rules
// (Flink's RestartPipelinedRegionFailoverStrategy):
//
//   - a region that reruns needs all its blocking inputs again, so a producer
//     region whose needed result is lost reruns too;
//   - a consumer region that already started (running or finished) read data
//     from a region that reruns, so it reruns too.
//
// Consumer regions that have not started (created or already restarting) are
// left alone: they will wait for the new results.
func (s *Scheduler) restartSet(seeds []int) []int {
	in := make([]bool, len(s.regions))
	// Each input group is looked at once from either side: what the rules
	// ask of it does not change while the set grows.
	seenIn := make([]bool, len(s.plan.groups))
	seenOut := make([]bool, len(s.plan.groups))
	queue := append([]int(nil), seeds...)
	for _, r := range seeds {
		in[r] = true
	}
	add := func(q int) {
		if !in[q] {
			in[q] = true
			queue = append(queue, q)
		}
	}
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		for _, g := range s.plan.regions[r].in {
			if seenIn[g] {
				continue
			}
			seenIn[g] = true
			s.plan.groups[g].each(func(p int) {
				if s.resultLost(p) {
					add(s.plan.regionOf[p])
				}
			})
		}
		for _, g := range s.plan.regions[r].out {
			if seenOut[g] {
				continue
			}
			seenOut[g] = true
			for _, c := range s.plan.groups[g].consumers {
				if st := s.regions[c].state; st == RegionRunning || st == RegionFinished {
					add(c)
				}
			}
		}
	}
	var set []int
	for r, ok := range in {
		if ok {
			set = append(set, r)
		}
	}
	return set
}

// resultLost reports whether task i finished in a region that will not rerun
// on its own, and its blocking result is gone.
func (s *Scheduler) resultLost(i int) bool {
	t := &s.tasks[i]
	if t.state != Finished || t.result.available || !s.hasResult(i) {
		return false
	}
	st := s.regions[s.plan.regionOf[i]].state
	return st == RegionRunning || st == RegionFinished
}

// willRun reports whether task i will (re)run or is running: it did not
// finish, or its region is about to rerun.
func (s *Scheduler) willRun(i int) bool {
	switch s.regions[s.plan.regionOf[i]].state {
	case RegionCreated, RegionRestarting:
		return true
	case RegionRunning:
		return s.tasks[i].state != Finished
	}
	return false
}

// lostNeededResults returns, ascending, the regions of tasks whose blocking
// result is lost while a consumer that will still run needs it. Those regions
// must rerun now: waiting would leave the consumer stuck.
func (s *Scheduler) lostNeededResults() []int {
	var out []int
	// willRunAny caches, per all-to-all consumer vertex, whether any of its
	// tasks will run.
	willRunAny := map[int]bool{}
	for i := range s.tasks {
		if !s.resultLost(i) {
			continue
		}
		id := s.plan.ids[i]
		for _, e := range s.plan.blockingOut[id.Vertex] {
			var needed bool
			if e.Pattern == Pointwise {
				needed = s.willRun(s.plan.offset[e.To] + id.Subtask)
			} else {
				any, ok := willRunAny[e.To]
				if !ok {
					for k := 0; k < s.plan.topo.Vertices[e.To].Parallelism && !any; k++ {
						any = s.willRun(s.plan.offset[e.To] + k)
					}
					willRunAny[e.To] = any
				}
				needed = any
			}
			if needed {
				out = append(out, s.plan.regionOf[i])
				break
			}
		}
	}
	return sortedUnique(out)
}

// fireRestarts returns restarting regions to RegionCreated once the clock
// reached their restart time and none of their tasks is still canceling.
//
// It looks only at regions that may have changed: all restarting regions
// once the clock reaches the earliest pending restart time, otherwise those
// whose last canceling task just stopped.
func (s *Scheduler) fireRestarts() {
	if s.restarting.n == 0 {
		return
	}
	if s.pendingDue && !s.clock.Before(s.nextDue) {
		s.pendingDue = false
		s.restarting.each(func(r int) bool {
			reg := &s.regions[r]
			switch {
			case reg.elapsed:
			case !s.clock.Before(reg.restartDue):
				reg.elapsed = true
				s.recheck.set(r, true)
			case !s.pendingDue || reg.restartDue.Before(s.nextDue):
				s.nextDue, s.pendingDue = reg.restartDue, true
			}
			return true
		})
	}
	s.recheck.each(func(r int) bool {
		s.recheck.set(r, false)
		reg := &s.regions[r]
		if reg.state != RegionRestarting || !reg.elapsed || reg.active > 0 {
			return true
		}
		for _, i := range s.plan.regions[r].tasks {
			s.setTaskState(i, Created)
			s.setResult(i, result{})
		}
		s.setRegionState(r, RegionCreated)
		return true
	})
}
