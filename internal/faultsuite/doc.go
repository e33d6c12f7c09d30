// Package faultsuite is a seeded fault-injection suite: a small table of
// jobs with exactly checkable output, each run while one fault is injected
// at a chosen point of its input, on the embedded runtime and on real
// processes alike.
//
// The pieces:
//
//   - Cases and Build: the jobs (batch wordcount over blocking edges, a
//     streaming keyed window job with exactly-once checkpoints and a
//     transactional file sink, a pipelined all-to-all exchange, and a
//     blocking exchange meant for the external shuffle daemon). The job
//     binary internal/testjobs/faultjob builds the same graphs from flags.
//   - Expected: each job's output computed in plain Go over the generated
//     input, as a multiset of lines, never by the engine.
//   - Plan: from a seed, which fault each case gets (fail a task attempt,
//     SIGKILL the executor, kill the worker, SIGKILL the shuffle daemon)
//     and at which record of the probed task's input.
//   - The fault point: a wrapper around the probed task's source or sink
//     that, once its subtask attempt has read At records and still has
//     input left, records where it stands (Reached: pid, worker, records
//     read, split progress) in the fault directory and pauses until the
//     test has injected the fault (the task is cancelled or its process
//     killed) or asks it to fail. Only the first attempt to get there
//     pauses, in any process, so reruns run through.
//
// A runner waits for Reached, injects the fault on the process or worker
// Reached names, waits for the job to end, and checks: the job finished,
// restarted at least once, its committed output equals Expected as a
// multiset, and the kill landed while the probed task was mid-input.
package faultsuite
