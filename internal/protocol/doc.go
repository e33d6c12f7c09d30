// Package protocol owns the protocol between the processes of a dagflow
// cluster: the master, the workers, the executors they start and the
// short-lived job processes (plan, commit, more-splits).
//
// It holds the types both sides of a connection use — task ids,
// deployments, task statuses, checkpoint messages, metrics, split
// requests — their conversion to and from the typed protobuf messages of
// internal/rpcpb, the environment variables a cluster sets for a job
// binary, and the job-process roles with Launch (parent side) and Serve
// (child side).
//
// It sits in the "libraries" layer (it uses dag, scheduler, shuffle and
// internal/checkpoint types) and never imports master or worker, so both
// can import it.
package protocol
