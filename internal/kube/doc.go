// Package kube is dagflow's native Kubernetes integration: a
// launch.Launcher that runs each worker as a pod created through
// client-go. The master (dagctl master --kubernetes) creates worker pods
// when jobs need slots and deletes them when idle; a pod that fails, is
// evicted, OOM-killed or deleted is reported as an exited worker, so the
// provider replaces it. Every pod carries an owner reference to the
// master's own pod (found from the downward API variables POD_NAME and
// POD_UID), so deleting the master deletes its workers.
package kube
