package caddyrealplexor

import (
	"sort"
	"sync/atomic"
	"time"
)

// WaitOutcome says how a parked WAIT request ended.
type WaitOutcome int32

const (
	waitParked WaitOutcome = iota
	// WaitDelivered: a batch is ready (R-WAIT-10).
	WaitDelivered
	// WaitTimedOut: WAIT_TIMEOUT passed with nothing to send (R-WAIT-16).
	WaitTimedOut
	// WaitCancelled: the client went away (R-WAIT-17).
	WaitCancelled
	// WaitShutdown: the server is stopping.
	WaitShutdown
)

// Aliases used inside the hub, where the short names read better.
const (
	waitDelivered = WaitDelivered
	waitTimedOut  = WaitTimedOut
	waitCancelled = WaitCancelled
	waitShutdown  = WaitShutdown
)

func (o WaitOutcome) String() string {
	switch o {
	case waitParked:
		return "parked"
	case WaitDelivered:
		return "data"
	case WaitTimedOut:
		return "timeout"
	case WaitCancelled:
		return "client_gone"
	case WaitShutdown:
		return "shutdown"
	}
	return "unknown"
}

// waiter is one parked WAIT request (one poll). It is answered at most
// once: whoever moves state away from waitParked owns the answer, and the
// request's goroutine is woken by closing wake.
type waiter struct {
	elems  []Element // as requested, for STATS (R-CMD-9)
	subs   []sub     // distinct ids in byte order
	ids    []string  // the same ids, for limiter checks (R-VIS-1)
	handle uint64

	state    atomic.Int32
	wake     chan struct{}
	batch    []byte        // set by the claimer before wake is closed
	deadline time.Time     // WAIT_TIMEOUT
	timer    waitTimerLink // guarded by Hub.waitTimers
	// ListenCursor is the cursor generated for elements without one
	// (R-ID-8); zero if every element carried its own.
	listenCursor Cursor
	// parked is set when the poll's connection was hijacked (park.go).
	parked atomic.Pointer[parkedConn]
	// proto is the poll's protocol, for the parked_requests metric.
	proto int
}

// sub is one id a waiter listens to, with its listen cursor.
type sub struct {
	ch     *channel
	cursor Cursor
}

// Wake is closed when the waiter has an outcome.
func (w *waiter) Wake() <-chan struct{} { return w.wake }

// Outcome is valid once Wake is closed.
func (w *waiter) Outcome() WaitOutcome { return WaitOutcome(w.state.Load()) }

// Batch is the R-WAIT-13 body for a delivered waiter.
func (w *waiter) Batch() []byte { return w.batch }

// ListenCursor is the generated cursor the poll listens from, if any.
func (w *waiter) ListenCursor() Cursor { return w.listenCursor }

// claim moves a parked waiter to outcome o. Only one claim succeeds.
func (w *waiter) claim(o WaitOutcome, h *Hub) bool {
	if !w.state.CompareAndSwap(int32(waitParked), int32(o)) {
		return false
	}
	h.parked.Add(-1)
	return true
}

func (w *waiter) signal() {
	close(w.wake)
	if pc := w.parked.Load(); pc != nil {
		pc.interrupt() // a hijacked poll's goroutine waits in Read, not on wake
	}
}

// finish claims and wakes in one step, for outcomes that carry no batch.
func (h *Hub) finish(w *waiter, o WaitOutcome) bool {
	if !w.claim(o, h) {
		return false
	}
	w.signal()
	return true
}

// sees reports whether a message is visible to this request: it has no
// limiters, or the request lists at least one of them (R-VIS-1).
func (w *waiter) sees(m *message) bool {
	if len(m.limiters) == 0 {
		return true
	}
	a, b := m.limiters, w.ids // both sorted
	for len(a) > 0 && len(b) > 0 {
		switch {
		case a[0] == b[0]:
			return true
		case a[0] < b[0]:
			a = a[1:]
		default:
			b = b[1:]
		}
	}
	return false
}

// Register parks a WAIT request on the ids of elems (R-WAIT-8) and runs
// the immediate delivery check (R-WAIT-9). elems must not be empty. The
// returned waiter may already be answered. timeout overrides WAIT_TIMEOUT
// when positive; otherwise wait on Wake and call
// Release when done.
func (h *Hub) Register(elems []Element, timeout time.Duration) *waiter {
	return h.register(elems, timeout, Cursor{})
}

// register is Register with the listen cursor for cursor-less elements
// given (from the shared store); zero means generate one here.
func (h *Hub) register(elems []Element, timeout time.Duration, listen Cursor) *waiter {
	cfg := h.settings()
	now := h.now()
	ids := make([]string, len(elems))
	needCursor := false
	for i, e := range elems {
		ids[i] = e.ID // a star is ignored on WAIT (R-ID-7, Perl)
		needCursor = needCursor || e.Cursor.IsZero()
	}
	sorted := sortedDistinct(ids)
	w := &waiter{
		elems:  elems,
		ids:    sorted,
		handle: h.waiterSerial.Add(1),
		wake:   make(chan struct{}),
	}
	if timeout <= 0 {
		timeout = cfg.waitTimeout
	}
	w.deadline = now.Add(timeout)

	chans := h.lockChannels(sorted)
	defer unlockChannels(chans)
	switch {
	case !listen.IsZero():
		w.listenCursor = listen
	case needCursor:
		// One generated cursor for every cursor-less element (R-ID-8),
		// taken under the channel locks (see Hub).
		w.listenCursor = h.cursor.Next()
	}
	w.subs = make([]sub, len(chans))
	for i, ch := range chans {
		w.subs[i].ch = ch
	}
	for _, e := range elems {
		c := e.Cursor
		if c.IsZero() {
			c = w.listenCursor
		}
		i := sort.SearchStrings(sorted, e.ID)
		w.subs[i].cursor = c // a later duplicate wins (R-ID-9)
	}

	h.parked.Add(1)
	for _, s := range w.subs {
		h.trim(s.ch, cfg.maxDataForID) // R-Q-3: every delivery run starts by trimming
		if s.ch.addWaiter(w, s.cursor) && h.broker == nil {
			h.events.add(true, s.ch.id)
			h.stats.watchEvents.Add(1)
		}
	}
	if items := collect(w, nil); len(items) > 0 {
		w.claim(waitDelivered, h)
		h.answer(w, items, now)
		w.signal()
		return w
	}
	h.waitTimers.add(w)
	return w
}

// Release unregisters a waiter from all its ids after its request ended
// (R-WAIT-14, R-WAIT-17). If it was still parked (the client went away),
// it is marked so first; a batch claimed meanwhile is dropped, and its
// messages stay queued for the next poll.
func (h *Hub) Release(w *waiter, outcome WaitOutcome) {
	if !h.finish(w, outcome) {
		// Someone else ended the poll; if a publish claimed it, its batch
		// may still be being built: wait for the wake that follows.
		<-w.wake
	}
	h.waitTimers.remove(w)
	now := h.now()
	for _, s := range w.subs {
		s.ch.mu.Lock()
		h.removeWaiter(s.ch, w, now)
		h.forgetIfIdle(s.ch)
		s.ch.mu.Unlock()
	}
	w.batch = nil
}

// ReleaseAll answers every parked request with waitShutdown.
func (h *Hub) ReleaseAll() int {
	var woken []*waiter
	for _, ch := range h.allChannels() {
		ch.mu.Lock()
		for w := range ch.waiters {
			if w.claim(waitShutdown, h) {
				woken = append(woken, w)
			}
		}
		ch.mu.Unlock()
	}
	for _, w := range woken {
		w.signal()
	}
	return len(woken)
}
