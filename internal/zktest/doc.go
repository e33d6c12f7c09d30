// Package zktest starts real ZooKeeper servers on loopback for tests: one
// server or an ensemble, each a separate JVM process that tests can stop,
// restart, pause (SIGSTOP) and resume. It uses the zkServer.sh of an
// installed ZooKeeper (Debian's zookeeper package by default; set
// DAGFLOW_ZOOKEEPER_HOME to another installation).
//
// When no ZooKeeper is installed, Start skips the test, except under CI
// (CI set in the environment), where it fails: CI installs the package.
package zktest
