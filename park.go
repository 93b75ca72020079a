package caddyrealplexor

import (
	"net"
	"sync"
	"sync/atomic"
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
// noticed (R-WAIT-17). The reply is written by a few writer goroutines of
// the hub when the poll is woken; the connection is then closed, as every
// Realplexor reply ends (R-GEN-4).
//
// Caddy neither sees nor waits for these connections, so the hub answers
// them itself: on exit (the stopping event), on Destruct, and on WAIT_TIMEOUT.

// parkedConn is a hijacked poll's connection.
type parkedConn struct {
	conn   net.Conn
	hub    *Hub
	queued atomic.Bool // handed to the writers once
}

// parkWriters is how many goroutines write replies of hijacked polls.
// Writes go to socket buffers and rarely block; a few keep a slow client
// from holding up the rest.
const parkWriters = 4

// parkWriteTimeout bounds writing one reply to a parked client.
const parkWriteTimeout = 10 * time.Second

// parkQueue feeds the writers. It is unbounded so that waking never
// blocks a publisher holding no locks but many listeners to wake.
type parkQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	items  []*waiter
	closed bool
	wg     sync.WaitGroup
}

func (h *Hub) startParkWriters() {
	q := &h.parkQueue
	q.cond = sync.NewCond(&q.mu)
	for i := 0; i < parkWriters; i++ {
		q.wg.Add(1)
		go h.parkWriter()
	}
}

// stopParkWriters lets the writers finish what is queued, then stops them.
func (h *Hub) stopParkWriters() {
	q := &h.parkQueue
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
	q.wg.Wait()
}

func (q *parkQueue) push(w *waiter) {
	q.mu.Lock()
	q.items = append(q.items, w)
	q.cond.Signal()
	q.mu.Unlock()
}

func (h *Hub) parkWriter() {
	q := &h.parkQueue
	defer q.wg.Done()
	for {
		q.mu.Lock()
		for len(q.items) == 0 && !q.closed {
			q.cond.Wait()
		}
		if len(q.items) == 0 {
			q.mu.Unlock()
			return
		}
		w := q.items[0]
		q.items[0] = nil
		q.items = q.items[1:]
		q.mu.Unlock()
		h.answerParked(w)
	}
}

// park hands a hijacked connection whose head is written to the hub.
func (h *Hub) park(w *waiter, conn net.Conn) {
	pc := &parkedConn{conn: conn, hub: h}
	w.parked.Store(pc)
	// The poll may have been woken between Register and now: then nobody
	// has queued it yet.
	select {
	case <-w.wake:
		pc.enqueue(w)
	default:
	}
	go pc.watch(w)
}

// enqueue queues the reply of a woken hijacked poll, once.
func (pc *parkedConn) enqueue(w *waiter) {
	if pc.queued.CompareAndSwap(false, true) {
		pc.hub.parkQueue.push(w)
	}
}

// watch reads until the client hangs up or the connection is closed
// after the reply. Bytes sent after the request are ignored (R-WAIT-18).
func (pc *parkedConn) watch(w *waiter) {
	var b [1]byte
	for {
		if _, err := pc.conn.Read(b[:]); err != nil {
			break
		}
	}
	// The client left while parked (R-WAIT-17), or the reply was written
	// and the connection closed: either way a writer has the last word.
	pc.hub.finish(w, waitCancelled)
}

// answerParked writes a woken hijacked poll's reply, closes the
// connection and unregisters the poll.
func (h *Hub) answerParked(w *waiter) {
	pc := w.parked.Load()
	h.stats.parked[w.proto].Add(-1)
	h.stats.pollEnded(w)
	if w.Outcome() == WaitDelivered {
		_ = pc.conn.SetWriteDeadline(time.Now().Add(parkWriteTimeout))
		_, _ = pc.conn.Write(w.Batch()) // a failed write means the client left
	}
	pc.conn.Close()
	h.Release(w, waitCancelled)
}

// drainParked waits, up to d, for queued replies of hijacked polls to be
// written, so an exiting process closes them itself.
func (h *Hub) drainParked(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		q := &h.parkQueue
		q.mu.Lock()
		n := len(q.items)
		q.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
