//go:build !unix || aix

package hdfs

import "net"

// peerClosed cannot peek at sockets on this platform: a connection the
// NameNode closed is noticed when a call fails on it.
func peerClosed(net.Conn) bool { return false }
