package caddyrealplexor

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// parkPoller lets a parked connection wait without a goroutine of its own.
//
// A goroutine blocked in Read is the portable way to notice a client
// hanging up, but it costs every parked poll a goroutine stack (about
// 2 KB, a third of a parked poll's memory) and the garbage collector a
// stack to scan each cycle. On Linux the hub instead registers a parked
// connection's socket with one epoll instance of its own, one-shot: the
// poll's goroutine is started only when something happens (the client
// hangs up or sends bytes: the poller sees the socket readable) or when
// the poll is woken. From then on everything runs as in park.go.
//
// Go's own poller keeps its registration of the socket; a second epoll
// registration of the same socket is allowed and independent. Events
// carry an id, not a pointer, and the id's entry is removed before the
// goroutine starts, so a late event finds nothing.
type parkPoller struct {
	epfd int
	stop int // eventfd: written to end the loop

	mu    sync.Mutex
	conns map[uint64]*parkedConn
	next  uint64
	done  chan struct{}
}

// stopID is the event id of the stop eventfd; connection ids start at 1.
const stopID = 0

func newParkPoller() *parkPoller {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil // parked polls get a goroutine each (park.go)
	}
	stop, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setEventID(&ev, stopID)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, stop, &ev); err != nil {
		unix.Close(stop)
		unix.Close(epfd)
		return nil
	}
	p := &parkPoller{epfd: epfd, stop: stop, conns: make(map[uint64]*parkedConn), next: stopID + 1, done: make(chan struct{})}
	go p.loop()
	return p
}

func setEventID(ev *unix.EpollEvent, id uint64) {
	ev.Fd = int32(uint32(id))
	ev.Pad = int32(uint32(id >> 32))
}

func eventID(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// socketOf returns the raw socket under a hijacked connection (through
// TLS), if it has one.
func socketOf(c net.Conn) (syscall.RawConn, bool) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, false
	}
	raw, err := sc.SyscallConn()
	return raw, err == nil
}

// add registers pc; false means it cannot wait here (the poller is closed,
// or the connection has no socket of its own) and needs its goroutine now.
func (p *parkPoller) add(pc *parkedConn) bool {
	if p == nil {
		return false
	}
	raw, ok := socketOf(pc.conn)
	if !ok {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false // closed
	}
	id := p.next
	p.next++
	var cerr error
	err := raw.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT}
		setEventID(&ev, id)
		cerr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
		if errors.Is(cerr, unix.EEXIST) {
			// A kept-alive connection parked before: its old one-shot
			// registration is still there (remove leaves it); re-arm it.
			cerr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(fd), &ev)
		}
	})
	if err != nil || cerr != nil {
		return false
	}
	p.conns[id] = pc
	pc.pollID = id
	pc.registered = true
	return true
}

// forget drops a connection's epoll registration before it goes back to
// net/http, so its next request does not wake the poller for nothing. A
// connection that is closed instead needs no call: closing drops it.
func (p *parkPoller) forget(pc *parkedConn) {
	if p == nil || !pc.registered {
		return
	}
	if raw, ok := socketOf(pc.conn); ok {
		_ = raw.Control(func(fd uintptr) { _ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
	}
	pc.registered = false
}

// remove takes pc out of the poller, if it is in; it reports whether it
// was, that is whether the caller now owns starting its goroutine.
//
// The socket's epoll registration stays: removing it is a system call per
// woken poll, in the publisher's loop over a broadcast's listeners. A
// late event finds no id and is dropped; the connection's goroutine calls
// forget before handing it back, and closing the socket drops it.
func (p *parkPoller) remove(pc *parkedConn) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if pc.pollID == 0 || p.conns[pc.pollID] != pc {
		return false
	}
	delete(p.conns, pc.pollID)
	pc.pollID = 0
	return true
}

// loop starts the goroutine of each connection that becomes readable.
func (p *parkPoller) loop() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		for i := 0; i < n; i++ {
			id := eventID(&events[i])
			if id == stopID {
				return
			}
			p.mu.Lock()
			pc := p.conns[id]
			p.mu.Unlock()
			if pc != nil && p.remove(pc) {
				pc.start()
			}
		}
	}
}

// close ends the loop and hands every connection still registered its
// goroutine, which answers it as usual.
func (p *parkPoller) close() {
	if p == nil {
		return
	}
	var one = [8]byte{1}
	_, _ = unix.Write(p.stop, one[:])
	<-p.done
	p.mu.Lock()
	left := make([]*parkedConn, 0, len(p.conns))
	for _, pc := range p.conns {
		pc.pollID = 0
		left = append(left, pc)
	}
	p.conns = nil
	p.mu.Unlock()
	unix.Close(p.stop)
	unix.Close(p.epfd) // drops every registration left
	for _, pc := range left {
		pc.start()
	}
}

// pendingBytes reports whether the client has sent bytes that nobody has
// read yet (or closed its side), without reading them.
func pendingBytes(c net.Conn) bool {
	raw, ok := socketOf(c)
	if !ok {
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
