// Package ha is master high availability on ZooKeeper: leader election
// with a leader epoch, leader discovery for clients, workers and executors,
// and a small store of job pointers whose writes are fenced by the epoch.
//
// Layout under Root/Cluster (default /dagflow/default):
//
//	election/c_<seq>   ephemeral sequential candidate nodes; the lowest
//	                   sequence leads (no herd: each candidate watches only
//	                   its predecessor)
//	epoch              the leader epoch; a new leader increments it with a
//	                   compare-and-set, so epochs are unique and increase
//	leader             ephemeral: the leader's Info (epoch, addresses)
//	jobs/<id>          job pointers (Store), written only under a check of
//	                   the epoch node's version: a deposed leader's writes
//	                   fail with ErrFenced
//
// The election order is the pure function Order; everything else is the
// ZooKeeper I/O around it.
package ha
