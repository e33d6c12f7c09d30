// Package worker executes tasks: operator chains of a plan, one goroutine
// per task attempt. It owns the task runtime (chained operators passing
// batches, input gates with watermark alignment, network outputs through a
// shuffle.Service, source split reading, sink preparation), slots, and
// turning user panics into task failures with the user's stack.
//
// A worker does not decide placement: the master's scheduler does, and
// sends TaskDeployments. The same worker runs in the embedded mini-cluster
// and, later, as a daemon.
package worker
