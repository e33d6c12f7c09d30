package provision

import (
	"context"
	"slices"
	"time"
)

// Demand is what the master needs from its cluster manager now.
type Demand struct {
	// Slots is the number of task slots the running and waiting jobs need
	// together (each job needs its largest parallelism, with slot sharing).
	Slots int
	// Workers are the workers registered with the master now.
	Workers []Worker
}

// Worker is a worker registered with the master.
type Worker struct {
	// Name is the worker's name (as given with --name, or the pod or
	// container name a provider assigned).
	Name string
	// Slots is the number of slots it offers.
	Slots int
	// Busy is true while it runs tasks of an active job.
	Busy bool
}

// Provider starts and stops workers on a cluster manager for the master.
type Provider interface {
	// Update hands the provider the master's current demand. It must not
	// block on the cluster manager.
	Update(d Demand)
	// Close stops the provider and releases the workers it started.
	Close(ctx context.Context) error
}

// Pool is what a provider knows of its own workers when it decides.
type Pool struct {
	// SlotsPerWorker is the number of slots each started worker offers
	// (at least 1).
	SlotsPerWorker int
	// Pending is the number of workers asked for that have not registered
	// with the master yet.
	Pending int
	// MaxWorkers caps started plus pending workers (0: no cap).
	MaxWorkers int
	// IdleTimeout is how long a registered worker may stay idle, with
	// more slots than the demand needs, before it is stopped (0: never).
	IdleTimeout time.Duration
	// IdleSince is when each registered worker became idle (absent: busy
	// or never seen idle). Decide updates it.
	IdleSince map[string]time.Time
}

// Decision is what a provider should do now.
type Decision struct {
	// Start is the number of workers to start.
	Start int
	// Stop names idle workers to stop.
	Stop []string
	// NextCheck, when not zero, is when Decide should be called again
	// even without a new demand (an idle timeout expires then).
	NextCheck time.Time
}

// Decide is the pure scaling rule shared by providers. It starts enough
// workers that registered plus pending slots cover the demand, and stops
// workers that have been idle for IdleTimeout while the remaining workers
// still cover the demand. It records idle times in pool.IdleSince.
func Decide(now time.Time, d Demand, pool *Pool) Decision {
	per := max(pool.SlotsPerWorker, 1)
	if pool.IdleSince == nil {
		pool.IdleSince = make(map[string]time.Time)
	}
	have := pool.Pending * per
	registered := make(map[string]bool, len(d.Workers))
	for _, w := range d.Workers {
		have += w.Slots
		registered[w.Name] = true
		if w.Busy {
			delete(pool.IdleSince, w.Name)
		} else if _, ok := pool.IdleSince[w.Name]; !ok {
			pool.IdleSince[w.Name] = now
		}
	}
	for name := range pool.IdleSince {
		if !registered[name] {
			delete(pool.IdleSince, name)
		}
	}
	var dec Decision
	if have < d.Slots {
		dec.Start = (d.Slots - have + per - 1) / per
		if pool.MaxWorkers > 0 {
			room := pool.MaxWorkers - pool.Pending - len(d.Workers)
			dec.Start = max(min(dec.Start, room), 0)
		}
		return dec
	}
	if pool.IdleTimeout <= 0 {
		return dec
	}
	// Stop the longest-idle workers first, while the rest cover the demand.
	idle := make([]Worker, 0, len(d.Workers))
	for _, w := range d.Workers {
		if !w.Busy {
			idle = append(idle, w)
		}
	}
	slices.SortFunc(idle, func(a, b Worker) int {
		if c := pool.IdleSince[a.Name].Compare(pool.IdleSince[b.Name]); c != 0 {
			return c
		}
		return compareStrings(a.Name, b.Name)
	})
	for _, w := range idle {
		since := pool.IdleSince[w.Name]
		expires := since.Add(pool.IdleTimeout)
		if now.Before(expires) {
			if dec.NextCheck.IsZero() || expires.Before(dec.NextCheck) {
				dec.NextCheck = expires
			}
			continue
		}
		if have-w.Slots < d.Slots {
			continue
		}
		have -= w.Slots
		dec.Stop = append(dec.Stop, w.Name)
	}
	return dec
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
