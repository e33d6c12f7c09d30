// Package launch is an active resource manager built from two parts: the
// pure scaling rule of package provision (provision.Decide) and a Launcher
// that starts and stops worker processes on some cluster manager.
//
// Provider implements provision.Provider. It keeps the workers it asked
// for, counts those that have not registered yet as pending, replaces a
// worker whose process or pod ended (the master's failure detector then
// fails over its tasks), and stops workers idle for longer than the idle
// timeout. Launchers exist for Kubernetes pods (package kube) and for local
// processes (Local, used by tests and by a master on a single machine).
package launch
