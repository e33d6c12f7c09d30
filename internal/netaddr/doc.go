// Package netaddr chooses the address a daemon advertises to the rest of
// the cluster: the address other hosts dial, registered with the master,
// gossiped, or handed to executors.
//
// A daemon that listens on a wildcard address (0.0.0.0, [::] or an empty
// host) is bound to every interface, and its listener reports an
// unspecified address such as [::]:7070 that no other host can dial.
// [Advertised] turns the listen address, the bound address and an optional
// operator-given advertise address into a routable HOST:PORT; it is pure
// (the interface addresses are an argument), so every rule has a table
// test. [InterfaceAddrs] gives the addresses of the interfaces that are up,
// for production callers.
package netaddr
