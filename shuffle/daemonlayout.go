package shuffle

// Names shared by the external shuffle daemon (package shuffle/daemon) and
// the processes that talk to it (the master, which tells daemons from
// workers in the membership, and executors, which write partitions into
// the daemon's staging directory and read its data directory directly).
const (
	// DaemonMemberPrefix starts the memberlist name of every shuffle
	// daemon, so the master tells daemons from workers.
	DaemonMemberPrefix = "shuffle-daemon:"
	// DaemonDataDir is the subdirectory of a daemon's directory holding
	// the partitions it adopted and serves.
	DaemonDataDir = "data"
	// DaemonStagingDir is the subdirectory of a daemon's directory where
	// producers write partitions before the daemon adopts them.
	DaemonStagingDir = "staging"
)
