// Package buildinfo describes the running binary's build: the module
// version, the VCS revision and the Go version, read from
// runtime/debug.ReadBuildInfo. dagctl version prints it for the client and,
// through the master's Version RPC, for the master.
package buildinfo
