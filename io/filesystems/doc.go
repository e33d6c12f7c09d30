// Package filesystems assembles the registry of dagflow's built-in file
// systems: local files (plain paths and file:// URIs) and HDFS (hdfs://
// URIs, package io/hdfs). It is the one place that imports every
// built-in store, so that package filesystem (the abstraction) and
// package fileio (sources and sinks) do not have to, and the runtime
// (master, worker, checkpoint restore) resolves URIs without importing
// the file sources and sinks.
package filesystems
