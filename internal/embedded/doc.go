// Package embedded is the in-process mini-cluster behind dagflow.Run: a
// job master (package master) and in-process workers (package worker)
// with their shuffle services, wired through the same interfaces a
// distributed cluster uses. It sits above both runtime packages (layer
// "apps") so that master and worker never import each other.
package embedded
