// Package coordinator is dagflow's checkpoint coordinator: a pure,
// deterministic state machine in the style of package scheduler. It decides
// when checkpoints and savepoints start, collects acknowledgements and
// declines, decides when a checkpoint completes or is aborted, which sink
// output (committables) is committed after which checkpoint, which
// checkpoint a restarted task restores (falling back over corrupt ones) and
// when a finishing job's output may be committed. It owns no goroutines,
// clocks, RPCs or files: time enters only through the Now field of events,
// and the runtime (the job master) carries out the actions and feeds their
// outcomes back as events:
//
//	c := coordinator.New(cfg, restored)
//	run(c.Start(now))                          // commit the restored output again
//	for {
//		run(c.Step(ev))                        // Tick, Report, Task*, Storage*, Commit*, ...
//	}
//
// A checkpoint moves through these states (one at a time, ids increase):
//
//	          Tick (due, all tasks running)
//	idle ─────────────────────────────────▶ triggered ──(all acks)──▶ persisting
//	 ▲                                        │  decline, timeout,       │    │
//	 │                                        │  task failed, worker     │    │ StorageCompleted
//	 │◀──────────── Abort ────────────────────┘  lost, trigger failed    │    ▼
//	 │◀──────────── Abort ◀──── StorageFailed ───────────────────────────┘  completed
//	 │◀──────────────────────────────────────────────────────────────────────┘ (Commit, Notify)
//
// Commits form a queue of batches, one running at a time. A failed commit
// is retried from the failed vertex after ScheduleRetry (the runtime feeds
// RetryDue); after CommitAttempts failures of one vertex it is abandoned (a
// checkpoint's output is recorded in it, so a restore commits it again) or,
// for the final and the restored output, the job fails.
//
// Glossary:
//
//   - committable: an opaque piece of sink output prepared by a task (a
//     temporary file, a transaction); committing makes it visible, discarding
//     aborts it. Committables prepared before barrier N are committed after
//     checkpoint N completes; those of an aborted checkpoint are carried
//     forward to the next one; those a restarted subtask made after the
//     checkpoint it restores are discarded.
//   - acknowledgement: a task's state handles for checkpoint N, sent when
//     barrier N passed it; a late one (of an aborted checkpoint) only
//     contributes its committables.
//   - decline: a task's refusal to take checkpoint N; it aborts N.
//   - settled: a finished task whose last barrier's acknowledgement arrived;
//     a finishing job commits only when every task settled.
//   - retained: the completed checkpoints kept to fall back to when the
//     latest cannot be restored.
package coordinator
