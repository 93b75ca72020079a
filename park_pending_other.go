//go:build !linux

package caddyrealplexor

import "net"

// pendingBytes is Linux-only; elsewhere only the bytes the connection's
// goroutine read while parked keep a kept-alive connection from reuse.
func pendingBytes(net.Conn) bool { return false }
