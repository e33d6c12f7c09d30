// Package master owns job lifecycles: the job master that drives the
// pure scheduler (feeding it task and worker events, carrying out its
// deploy and cancel decisions), source split assignment, two-phase sink
// commits when a job succeeds, progress and metrics aggregation, and the
// embedded mini-cluster (master, workers and shuffle in one process) that is
// dagflow's default runtime. It never runs user code itself: workers do.
package master
