// Package provision is the contract between the master and an active
// resource manager: a cluster manager (Kubernetes, YARN, local processes in
// tests) that starts worker processes when jobs need slots and stops them
// when they are idle.
//
// The master computes a Demand whenever it changes (a job is submitted or
// ends, a worker registers or is lost) and hands it to the Provider. The
// Provider compares the demand with the workers it has asked for and acts
// asynchronously: it never blocks the master. A worker the provider started
// registers with the master like any other worker; a worker that dies is
// reported by the master's failure detector (it leaves Demand.Workers) and
// the provider replaces it while the demand still needs it.
//
// Decide is the pure part every provider shares: from a demand, the
// workers the provider has pending or running, and the clock, it returns how
// many workers to start and which idle ones to stop.
package provision
