package protocol

// Environment variables a cluster sets for the processes of a job binary.
const (
	// EnvMode holds the Role of a job process; unset, the binary runs its
	// job embedded.
	EnvMode        = "DAGFLOW_MODE"
	EnvJob         = "DAGFLOW_JOB"
	EnvWorker      = "DAGFLOW_WORKER"
	EnvMaster      = "DAGFLOW_MASTER"
	EnvFingerprint = "DAGFLOW_FINGERPRINT"
	EnvDir         = "DAGFLOW_EXECUTOR_DIR"
	EnvListen      = "DAGFLOW_EXECUTOR_LISTEN"
	// EnvAdvertise is the HOST:PORT an executor advertises (port 0: its
	// bound port); empty: chosen by netaddr.Advertised.
	EnvAdvertise = "DAGFLOW_EXECUTOR_ADVERTISE"
	// EnvShuffle is the job setting (dagctl submit --shuffle) choosing
	// where blocking partitions live: ShuffleWorker (default) or
	// ShuffleExternal.
	EnvShuffle = "DAGFLOW_SHUFFLE"
	// EnvShuffleDaemon and EnvShuffleDir locate the host's shuffle daemon
	// (worker flags --shuffle-daemon and --shuffle-dir).
	EnvShuffleDaemon = "DAGFLOW_SHUFFLE_DAEMON"
	EnvShuffleDir    = "DAGFLOW_SHUFFLE_DIR"
	// EnvShuffleHostLocal set to "0" makes executors read the partitions
	// of their own host's shuffle daemon through its gRPC read service
	// instead of straight from its files.
	EnvShuffleHostLocal = "DAGFLOW_SHUFFLE_HOST_LOCAL"
)

// Values of EnvShuffle: where a job's blocking partitions live.
const (
	// ShuffleWorker keeps blocking partitions in the executor that wrote
	// them (the default): they are lost with the executor or its worker.
	ShuffleWorker = "worker"
	// ShuffleExternal hands blocking partitions to the shuffle daemon of
	// the worker's host (dagctl shuffle): they survive the executor and the
	// worker, and the worker's slot is free as soon as the producer
	// finished.
	ShuffleExternal = "external"
)

const (
	// ExecutorReady prefixes the line an executor prints with its address.
	ExecutorReady = "DAGFLOW_EXECUTOR_ADDR "
	// ExitFatal is the exit code of a job process that must not be
	// restarted or retried (an executor whose binary builds a different
	// plan than the job's, a panicking dynamic split enumerator).
	ExitFatal = 3
)
