package caddyrealplexor

import (
	"net"
	"net/http"
	"sync"
)

// Handing kept-alive poll connections back to net/http.
//
// A hijacked connection cannot be returned to the http.Server that
// accepted it, but an http.Server serves any number of listeners. Each
// server that hijacks a kept-alive poll gets one extra listener whose
// Accept yields the connections the hub is done with; the server then
// reads the next request from them like from any accepted connection:
// through Caddy's routes, matchers, access log and timeouts, and on to
// whatever handler the request is for (a browser reuses a connection for
// any request to the same origin, not only for polls).
//
// The server owns the listener's lifetime: Shutdown and Close close it
// like the server's other listeners, and a connection that arrives after
// that is closed instead (its client reconnects to whichever server now
// listens, after a reload the new one).

// handBackListener is the extra listener of one http.Server.
type handBackListener struct {
	srv    *http.Server
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

var handBacks = struct {
	sync.Mutex
	m map[*http.Server]*handBackListener
}{m: make(map[*http.Server]*handBackListener)}

// handBack gives conn back to srv, to read its next request. It reports
// false when srv no longer serves; the caller then closes conn.
func handBack(srv *http.Server, conn net.Conn) bool {
	if srv == nil {
		return false
	}
	l := handBackTo(srv)
	select {
	case l.conns <- conn:
		return true
	case <-l.closed:
		return false
	}
}

// handBackTo returns srv's hand-back listener, starting it on first use.
func handBackTo(srv *http.Server) *handBackListener {
	handBacks.Lock()
	defer handBacks.Unlock()
	if l, ok := handBacks.m[srv]; ok {
		return l
	}
	l := &handBackListener{srv: srv, conns: make(chan net.Conn), closed: make(chan struct{})}
	handBacks.m[srv] = l
	// Serve returns, closing l, when srv shuts down (or already has).
	go func() { _ = srv.Serve(l) }()
	return l
}

// Accept yields the next connection handed back.
func (l *handBackListener) Accept() (net.Conn, error) {
	select {
	case <-l.closed:
		return nil, net.ErrClosed
	default:
	}
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close stops the listener; the server calls it on Shutdown and Close.
func (l *handBackListener) Close() error {
	l.once.Do(func() {
		close(l.closed)
		handBacks.Lock()
		if handBacks.m[l.srv] == l {
			delete(handBacks.m, l.srv)
		}
		handBacks.Unlock()
	})
	return nil
}

// Addr is nominal: the connections come from the server's real listeners.
func (l *handBackListener) Addr() net.Addr { return handBackAddr{} }

type handBackAddr struct{}

func (handBackAddr) Network() string { return "realplexor-handback" }
func (handBackAddr) String() string  { return "realplexor-handback" }
