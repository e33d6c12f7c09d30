//go:build unix && !aix

package hdfs

import (
	"errors"
	"net"
	"syscall"
)

// peerClosed reports whether the peer of conn has closed it (or reset
// it), without blocking and without consuming data: a non-blocking
// MSG_PEEK receive returns 0 bytes only at end of stream.
func peerClosed(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	var buf [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = (n == 0 && rerr == nil) || errors.Is(rerr, syscall.ECONNRESET)
		return true // never wait
	})
	return err == nil && closed
}
