// Package yarntest runs an in-process stand-in for a YARN cluster in
// tests: a ResourceManager (optionally two, for HA) and NodeManagers on
// loopback that serve ApplicationClientProtocol, ApplicationMasterProtocol
// and ContainerManagementProtocol over Hadoop RPC to the unmodified
// client of package internal/yarn. It is a test double, not a scheduler:
// real Hadoop 3.x clusters are the production target (see docs/yarn.md).
//
//	c := yarntest.StartTest(t, yarntest.Options{Nodes: 2})
//	t.Setenv("HADOOP_CONF_DIR", c.ConfDir())
//
// # What it does
//
// Submitted applications get an ApplicationMaster container on a node
// with room; containers run as local processes (bash -c with the launch
// context's command, in their own process group) with YARN's
// environment: CONTAINER_ID, NM_HOST, NM_PORT, NM_HTTP_PORT, LOCAL_DIRS,
// LOG_DIRS, PWD, USER, LOGNAME, HADOOP_CONF_DIR,
// APP_SUBMIT_TIME_ENV and MAX_APP_ATTEMPTS, with <LOG_DIR> in commands
// and {{VAR}} expanded as a NodeManager does. LocalResources (hdfs:// or
// file:// URLs) are localized into the container's working directory
// after checking size and timestamp, so a resource that changed fails the
// container as on a real NodeManager. Container requests (the "*" ask of
// each priority) are met while nodes have memory and vcores left, except
// on blacklisted nodes. Completed containers, node updates and preemption
// requests reach the ApplicationMaster on its next allocate. An
// ApplicationMaster that exits without unregistering fails its attempt; a
// new attempt starts while attempts remain (maxAppAttempts, default 2),
// keeping the other containers when the submission asks for
// keep_containers_across_application_attempts and reporting them in the
// new attempt's register response. Unknown queues fail the application
// with the ResourceManager's diagnostics.
//
// Where a real ResourceManager identifies an ApplicationMaster by its
// AMRMToken (SASL), the stand-in gives each attempt its own scheduler
// endpoint, written to the attempt's HADOOP_CONF_DIR; the client is the
// same.
//
// # Faults
//
// KillContainer (SIGKILL), LoseNode (the node's containers end with
// ABORTED, the node is reported LOST), FailAttempt (the ApplicationMaster
// process is killed), Preempt (a strict preemption request), Failover
// (with Options.HA: the active ResourceManager turns standby and answers
// StandbyException) and StopResourceManager.
package yarntest
