package caddyrealplexor

import (
	"errors"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"time"
)

// Parking HTTP/1.x polls outside net/http.
//
// A poll parked inside its handler holds a goroutine with net/http's
// buffers and request state: about 30 KiB under Caddy. Once the poll's
// head is written, nothing of that is needed again, so an HTTP/1.x poll
// takes its connection over (hijacks it), writes the head itself and lets
// the handler return. What stays is the connection, the waiter and one
// small goroutine blocked in Read, which is how a client that hangs up is
// noticed (R-WAIT-17).
//
// The same goroutine writes the reply. Waking a poll moves its read
// deadline into the past, which ends the Read at once; the goroutine then
// writes the batch (or nothing, for a timeout) and either closes the
// connection, as every original Realplexor reply ends (R-GEN-4), or, for
// a client that asked to keep it alive, hands it back to the http.Server
// that accepted it (handback.go), so the next poll on it skips the TCP
// handshake and teardown. Writing in the poll's own goroutine keeps a
// slow client from holding up the others, and after a broadcast puts
// every reply in the run queue ahead of the reconnects it causes.
//
// Caddy neither sees nor waits for these connections, so the hub answers
// them itself: on exit (the stopping event), on Destruct, and on WAIT_TIMEOUT.

// parkedConn is a hijacked poll's connection.
type parkedConn struct {
	conn net.Conn
	hub  *Hub
	// keepAlive: the reply is chunked and the connection goes back to srv
	// afterwards, unless the client sent bytes while parked.
	keepAlive bool
	srv       *http.Server
}

// parkWriteTimeout bounds writing one reply to a parked client.
const parkWriteTimeout = 10 * time.Second

// aLongTimeAgo is a read deadline that ends a blocked Read at once.
var aLongTimeAgo = time.Unix(1, 0)

// park hands a hijacked connection whose head is written to the hub.
func (h *Hub) park(w *waiter, pc *parkedConn) {
	h.parkedConns.Add(1)
	w.parked.Store(pc)
	// The poll may have been woken between Register and now, before the
	// parkedConn was visible to signal: interrupt the first Read ourselves.
	select {
	case <-w.wake:
		pc.interrupt()
	default:
	}
	go pc.serve(w)
}

// interrupt ends the watching Read so that serve answers the poll.
func (pc *parkedConn) interrupt() {
	_ = pc.conn.SetReadDeadline(aLongTimeAgo)
}

// serve watches a parked connection until the poll ends, then answers it.
func (pc *parkedConn) serve(w *waiter) {
	h := pc.hub
	defer h.parkedConns.Add(-1)
	var b [1]byte
	reusable := pc.keepAlive
	var err error
	for {
		var n int
		if n, err = pc.conn.Read(b[:]); err != nil {
			break
		}
		if n > 0 {
			// Bytes after the request are ignored (R-WAIT-18); a client
			// that sends them does not get its connection back, since the
			// next request could start anywhere in them.
			reusable = false
		}
	}
	if h.finish(w, waitCancelled) {
		// The client left while parked (R-WAIT-17).
		h.stats.parked[w.proto].Add(-1)
		h.stats.pollEnded(w)
		pc.conn.Close()
		h.Release(w, waitCancelled)
		return
	}
	<-w.wake // claimed by a publish, WAIT_TIMEOUT or shutdown: the batch is set
	if reusable && pendingBytes(pc.conn) {
		// Sent before this reply (a client cannot have seen it yet) and
		// not read in time: stray bytes (R-WAIT-18) or a pipelined
		// request; either way the next request's start is unknown, so the
		// connection ends with the reply.
		reusable = false
	}
	h.stats.parked[w.proto].Add(-1)
	h.stats.pollEnded(w)
	outcome := w.Outcome()
	var reply []byte
	if outcome == WaitDelivered {
		reply = w.Batch()
	}
	if pc.keepAlive {
		reply = chunkedReply(reply)
	}
	var werr error
	if len(reply) > 0 { // a timeout or shutdown ends a close-delimited reply by closing
		_ = pc.conn.SetWriteDeadline(time.Now().Add(parkWriteTimeout))
		_, werr = pc.conn.Write(reply)
	}
	// After a broadcast every woken poll's goroutine is in the run queue:
	// let them all write before any of them unregisters, closes or hands
	// its connection back, which is what lets the clients' next polls in
	// to compete for the CPU.
	runtime.Gosched()
	h.Release(w, waitCancelled)

	reusable = reusable && werr == nil && outcome != WaitShutdown && errors.Is(err, os.ErrDeadlineExceeded)
	if reusable && pc.conn.SetDeadline(time.Time{}) == nil && handBack(pc.srv, pc.conn) {
		h.stats.handedBack.Add(1)
		return
	}
	pc.conn.Close()
}

// chunkedReply frames a reply body as the last chunks of a kept-alive
// poll's chunked response: the prelude went out as the first chunk.
func chunkedReply(body []byte) []byte {
	const end = "0\r\n\r\n"
	if len(body) == 0 {
		return []byte(end)
	}
	out := make([]byte, 0, len(body)+len(end)+12)
	out = strconv.AppendInt(out, int64(len(body)), 16)
	out = append(out, "\r\n"...)
	out = append(out, body...)
	out = append(out, "\r\n"...)
	return append(out, end...)
}

// drainParked waits, up to d, for the woken hijacked polls to be
// answered, so an exiting process closes them itself.
func (h *Hub) drainParked(d time.Duration) {
	deadline := time.Now().Add(d)
	for h.parkedConns.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}
