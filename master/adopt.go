package master

import (
	"context"
	"fmt"

	"github.com/dagflow/dagflow/coordinator"
	"github.com/dagflow/dagflow/scheduler"
)

// Adoption is what a new leader learned from the workers about a job whose
// tasks kept running through a master failover (JobConfig.Adopt): the job
// master continues with those attempts instead of deploying the job again.
type Adoption struct {
	// Tasks are the attempts the workers reported, running or finished.
	Tasks []AdoptedTask
	// Restarts is how many restarts the job had used.
	Restarts int
}

// AdoptedTask is one reported attempt and what the job master needs to
// continue with it.
type AdoptedTask struct {
	scheduler.AdoptedTask
	// Location is where the attempt's outputs are read (its executor);
	// OutLocs overrides it per edge for outputs on an external shuffle
	// service.
	Location string
	OutLocs  map[int]string
	// LastBarrier is the highest checkpoint barrier the attempt took.
	LastBarrier int64
	// Splits are the splits a source attempt took (finished ones too).
	Splits []AdoptedSplit
	// Committables are what a finished attempt's sinks prepared after
	// LastBarrier (its final output, by sink vertex): committed after the
	// next checkpoint unless a completed checkpoint already holds it.
	Committables map[int][][]byte
}

// adopt builds the job master's state from cfg.Adopt: the scheduler adopts
// the attempts, the split coordinator their splits, the checkpoint
// coordinator starts above every barrier they took. The actions that follow
// (regions now ready) run first in Run. An error wraps
// scheduler.ErrNotReconciled when the reports cannot be continued from:
// the caller then restarts the job instead.
func (jm *JobMaster) adopt(ad *Adoption) error {
	now := jm.clock.Now()
	for _, name := range jm.order {
		jm.sched.Step(scheduler.WorkerJoined{Now: now, Worker: name, Slots: jm.workers[name].Slots()})
	}
	var restored int64
	if md := jm.cfg.Restore; md != nil {
		restored = md.ID
	}
	if err := jm.checkSinkBarriers(ad, restored); err != nil {
		return err
	}
	rec := scheduler.Reconcile{Now: now, Restarts: ad.Restarts}
	var highest int64
	for _, t := range ad.Tasks {
		rec.Tasks = append(rec.Tasks, t.AdoptedTask)
		highest = max(highest, t.LastBarrier)
		if t.Task.Vertex < 0 || t.Task.Vertex >= len(jm.plan.Tasks) {
			continue // the scheduler rejects it
		}
		if v := jm.plan.Tasks[t.Task.Vertex].Vertices[0]; jm.plan.Vertices[v].Kind == "source" {
			if err := jm.splits.adopt(v, t.Task.Subtask, t.Attempt, t.Splits, restored); err != nil {
				return fmt.Errorf("%w: job %s: %w", scheduler.ErrNotReconciled, jm.cfg.ID, err)
			}
		}
	}
	actions, err := jm.sched.Adopt(rec)
	if err != nil {
		return fmt.Errorf("master: job %s: %w", jm.cfg.ID, err)
	}
	jm.ckpt.c.StartAbove(highest)
	for _, t := range ad.Tasks {
		jm.exec[t.Task] = &execution{attempt: t.Attempt, worker: t.Worker, location: t.Location, outLocs: t.OutLocs}
		jm.execVersion[t.Task.Vertex]++
		if t.State != scheduler.Finished && t.Location != "" {
			jm.locs[t.Worker] = t.Location
		}
		// Barriers up to LastBarrier were the old leader's: the new
		// coordinator waits for no acknowledgement of them.
		jm.ckptStep(context.Background(), coordinator.TaskDeployed{Now: now, Task: t.Task, Attempt: t.Attempt,
			RestoredFrom: t.LastBarrier, Vertices: jm.plan.Tasks[t.Task.Vertex].Vertices})
		if t.State == scheduler.Finished && len(t.Committables) > 0 && t.LastBarrier+1 > restored {
			jm.ckptStep(context.Background(), coordinator.TaskFinished{Now: now, Task: t.Task, Attempt: t.Attempt,
				LastCheckpoint: t.LastBarrier, Committables: t.Committables})
		}
	}
	jm.adopted = actions
	return nil
}

// checkSinkBarriers refuses to adopt a job in which a task holding a sink
// took a barrier above the latest completed checkpoint: it handed what its
// sinks prepared for that barrier to the old leader in its acknowledgement,
// and that checkpoint never completed, so the new leader cannot commit the
// output. Restarting from the latest completed checkpoint replays it
// instead, so no output is lost. (Tasks without sinks may be ahead: their
// snapshots of the abandoned checkpoint are simply never used.)
func (jm *JobMaster) checkSinkBarriers(ad *Adoption, restored int64) error {
	for _, t := range ad.Tasks {
		if t.LastBarrier <= restored || t.Task.Vertex < 0 || t.Task.Vertex >= len(jm.plan.Tasks) {
			continue
		}
		for _, v := range jm.plan.Tasks[t.Task.Vertex].Vertices {
			if v >= 0 && v < len(jm.plan.Vertices) && jm.plan.Vertices[v].Kind == "sink" {
				return fmt.Errorf("%w: job %s: sink %q of task %v took barrier %d but the latest completed checkpoint is %d: its prepared output went to the old leader",
					scheduler.ErrNotReconciled, jm.cfg.ID, jm.plan.Vertices[v].Name, t.Task, t.LastBarrier, restored)
			}
		}
	}
	return nil
}
