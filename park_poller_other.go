//go:build !linux

package caddyrealplexor

import "net"

// parkPoller is Linux-only (park_poller_linux.go); elsewhere every parked
// connection waits in a goroutine of its own (park.go).
type parkPoller struct{}

func newParkPoller() *parkPoller              { return nil }
func (p *parkPoller) add(*parkedConn) bool    { return false }
func (p *parkPoller) remove(*parkedConn) bool { return false }
func (p *parkPoller) close()                  {}
func (p *parkPoller) forget(*parkedConn)      {}

// pendingBytes is Linux-only; elsewhere only the bytes the connection's
// goroutine read while parked keep a kept-alive connection from reuse.
func pendingBytes(net.Conn) bool { return false }
