// Package scheduler decides what runs where: it is dagflow's pure,
// deterministic scheduling core, in the style of etcd's raft.
//
// The package owns the job's execution state: which pipelined region of the
// job graph is waiting, running, finished or restarting, which attempt of
// every task (execution vertex) is current, which worker slot hosts it, where
// every blocking result lives, and how many restarts the job used. It owns no
// goroutines, channels, clocks, randomness or I/O. The runtime (the master or
// the embedded runner) owns the loop:
//
//	s, err := scheduler.New(topo, cfg)         // topo: task vertices and edges
//	run(s.Step(scheduler.WorkerJoined{...}))   // workers may join before Start
//	run(s.Start(now))
//	for !ended {
//		select {
//		case ev := <-events:                   // from workers, RPCs, the shuffle service
//			run(s.Step(ev))
//		case <-timer(s.NextWakeup()):
//			run(s.Step(scheduler.Tick{Now: now}))
//		}
//	}
//
// where run carries out the returned actions in order: Deploy, Cancel,
// DiscardResult, ReleaseResults, and one terminal action, JobFinished,
// JobFailed or JobCanceled. Every Deploy carries an attempt number and every
// task event must echo it; events about any other attempt are ignored, which
// makes late or duplicated messages from a canceled or lost attempt harmless.
//
// Time enters only through the Now field of events. Given the same Topology,
// Config and sequence of events, the scheduler emits the same actions.
//
// See README.md for the region algorithm, the failover rule and a glossary.
package scheduler
