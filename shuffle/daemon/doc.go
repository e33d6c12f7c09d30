// Package daemon is dagflow's external shuffle service: a standalone
// per-host process (`dagctl shuffle`) that stores the blocking partitions
// of jobs whose executors may die, like YARN's shuffle service.
//
// A Daemon owns a directory:
//
//	<Dir>/data/     a shuffle.Local holding adopted partitions (sort-merge files)
//	<Dir>/staging/  where producers on the same host write their partitions
//	<Dir>/LOCK      locked while the daemon runs: two daemons never share a Dir
//
// An executor of a job submitted with external shuffle writes each blocking
// partition with its own shuffle.Local under <Dir>/staging and, once the
// partition is committed, calls Adopt: the daemon validates the index (checksum,
// regions tiling the data file), renames both files into <Dir>/data (an
// atomic rename on the same file system, no copy) and serves the
// partition from then on. Consumers read it from the daemon's address with
// shuffle/remote (credit-based flow control), so the partition survives the
// executor and the worker that produced it.
//
// # Protocol
//
// One gRPC server carries the read service of shuffle/remote
// (shufflepb.ShuffleService) and the control API rpcpb.ShuffleDaemon:
// Adopt (idempotent), Stat, ReleaseJob (delete a job's partitions; later
// adoptions for it are refused) and ListJobs. With a master configured the
// daemon registers with it (rpcpb.Master.RegisterShuffleDaemon) and joins
// the cluster's memberlist gossip under a name unique to this incarnation,
// so the master learns within the failure timeout that the daemon died and
// that the partitions it held are lost. A restarted daemon starts empty:
// partitions of a previous incarnation are deleted at start, the master
// having declared them lost.
//
// # Orphans
//
// A reaper deletes the partitions of jobs not touched (adopted, read or
// stat'ed) for Config.TTL, unless the master still lists the job as
// running. If the master cannot be asked, it keeps the data; without a
// master it deletes on the TTL alone. Staged files older than the TTL
// (producers that died mid-write) are deleted too.
package daemon
