package caddyrealplexor

import (
	"crypto/tls"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// pendingBytes reports whether the client has sent bytes that nobody has
// read yet (or closed its side), without reading them. Through TLS it
// looks at the socket under it: any record counts.
func pendingBytes(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	pending := false
	_ = raw.Control(func(fd uintptr) {
		var b [1]byte
		// n == 0 with no error: the client closed its side; EAGAIN: nothing.
		_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		pending = err == nil
	})
	return pending
}
