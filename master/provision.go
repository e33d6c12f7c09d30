package master

import (
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/provision"
)

// updateProvider hands the configured active resource manager the current
// demand: the slots active jobs need and the registered workers, busy or
// idle. It never blocks (Provider.Update must not).
func (s *Server) updateProvider() {
	if s.cfg.Provider == nil {
		return
	}
	s.cfg.Provider.Update(s.demand())
}

// demand computes the provision.Demand: each active job needs as many
// slots as its largest task parallelism (tasks of one job share slots), and
// a worker is busy while an active job has a task deployed or running on it.
func (s *Server) demand() provision.Demand {
	s.mu.Lock()
	var jms []*JobMaster
	var d provision.Demand
	for _, j := range s.jobs {
		if j.final != nil {
			continue
		}
		d.Slots += jobSlots(j.plan)
		if j.jm != nil {
			jms = append(jms, j.jm)
		}
	}
	workers := make([]provision.Worker, 0, len(s.workers))
	for _, name := range sortedNames(s.workers) {
		workers = append(workers, provision.Worker{Name: name, Slots: s.workers[name].slots})
	}
	s.mu.Unlock()
	busy := make(map[string]bool)
	for _, jm := range jms {
		for _, t := range jm.Status().Tasks {
			switch t.State {
			case "deploying", "running", "canceling":
				if t.Worker != "" {
					busy[t.Worker] = true
				}
			}
		}
	}
	for i := range workers {
		workers[i].Busy = busy[workers[i].Name]
	}
	d.Workers = workers
	return d
}

// jobSlots is the number of slots a job needs with slot sharing: its
// largest task parallelism.
func jobSlots(p *dag.Plan) int {
	n := 0
	for _, t := range p.Tasks {
		n = max(n, t.Parallelism)
	}
	return n
}

// providerRefresh is how often the master re-sends the demand between
// job and worker events: tasks deploy and finish in between, and a worker
// must not look idle to the provider while it runs tasks.
const providerRefresh = 2 * time.Second

// refreshProvider re-sends the demand until the server closes.
func (s *Server) refreshProvider() {
	t := time.NewTicker(providerRefresh)
	defer t.Stop()
	for range t.C {
		if s.closing.Load() {
			return
		}
		s.updateProvider()
	}
}
