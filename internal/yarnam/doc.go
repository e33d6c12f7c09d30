// Package yarnam is dagflow's YARN ApplicationMaster: it runs the dagflow
// master inside the AM container, registers it with the ResourceManager
// (the application report's host and RPC port are the master's gRPC
// address, the tracking URL its REST API) and acts as the master's active
// resource manager (provision.Provider): it asks YARN for worker
// containers when jobs need slots, starts "dagctl worker" in them through
// the NodeManagers, and releases idle ones after a timeout. A worker's
// name is its container id, which is how the provider matches the
// master's registered workers to containers.
//
// A container that completes, or is lost with its node, is a lost worker:
// the master fails over the affected region and the provider asks for a
// new container when the demand still needs it. Containers YARN wants
// back (preemption) are stopped and released at once, which the master
// sees as lost workers. A new ApplicationMaster attempt adopts the
// containers of the previous attempt that YARN reports at registration
// (keep_containers_across_application_attempts); see docs/yarn.md for
// what that does and does not give.
//
// In per-job mode (Config.Job) the ApplicationMaster runs one job through
// its own master and unregisters with the job's final status and
// diagnostics.
package yarnam
