package caddyrealplexor

import (
	"sort"
	"time"
)

// PublishResult reports what a publish stored.
type PublishResult struct {
	// Cursor is the generated cursor used for targets without one; zero if
	// every target carried its own.
	Cursor Cursor
	// Delivered is how many parked requests were answered at once.
	Delivered int
}

// Publish stores data under every target (R-IN-9) with the limiter set
// (R-VIS-1) and answers the parked requests that can now see it (R-IN-11).
// targets must not be empty and data must not be empty; limiters need not
// be sorted. The caller has already applied the login prefix rule.
//
// Fan-out cost is one cursor comparison per parked listener of each target
// channel, under that channel's lock only; listeners with the same listen
// cursor on a single channel share one rendered reply.
func (h *Hub) Publish(targets []Element, limiters []string, data []byte) PublishResult {
	cfg := h.settings()
	now := h.now()
	msg := &message{data: data}
	if len(limiters) > 0 {
		msg.limiters = sortedDistinct(limiters)
	}
	ids := make([]string, len(targets))
	needCursor := false
	for i, t := range targets {
		ids[i] = t.ID
		needCursor = needCursor || t.Cursor.IsZero()
	}
	sorted := sortedDistinct(ids)

	chans := h.lockChannels(sorted)
	var res PublishResult
	if needCursor {
		res.Cursor = h.cursor.Next() // one cursor per request (R-ID-8)
	}
	for _, t := range targets {
		c := t.Cursor
		if c.IsZero() {
			c = res.Cursor
		}
		// Duplicate targets store the message twice (R-ID-9).
		chans[sort.SearchStrings(sorted, t.ID)].insert(entry{cursor: c, msg: msg})
	}

	var woken []*waiter
	for _, ch := range chans {
		h.trim(ch, cfg.maxDataForID)
		h.touchClean(ch, now)
		woken = h.wakeListeners(ch, chans, msg, now, woken)
	}
	unlockChannels(chans)
	h.deliver(woken, now)
	res.Delivered = len(woken)
	return res
}

// deliver completes and wakes the listeners wakeListeners claimed. It runs
// outside the channel locks: collectAll and the woken goroutines take
// them again.
func (h *Hub) deliver(woken []*waiter, now time.Time) {
	for _, w := range woken {
		if w.batch == nil {
			h.collectAll(w, now)
		}
		w.signal()
	}
}

// wakeListeners claims every parked listener of ch that can see msg under
// a cursor above its listen cursor. A listener had nothing to receive when
// it parked and every later publish on its ids went through here, so only
// the new message can make it deliverable. A single-id listener gets its
// batch here, from ch; others get theirs in collectAll.
func (h *Hub) wakeListeners(ch *channel, locked []*channel, msg *message, now time.Time, woken []*waiter) []*waiter {
	// The message's highest cursor here (a duplicate target stores it
	// twice); none if rotation already dropped it.
	var newest Cursor
	for _, e := range ch.queue {
		if e.msg == msg && (newest.IsZero() || newest.Less(e.cursor)) {
			newest = e.cursor
		}
	}
	if newest.IsZero() {
		return woken
	}
	var shared map[int][]byte
	for w, listen := range ch.waiters {
		if w.Outcome() != waitParked {
			h.removeWaiter(ch, w, now) // answered elsewhere; drop the stale entry
			continue
		}
		if !listen.Less(newest) || !w.sees(msg) || !w.claim(waitDelivered, h) {
			continue
		}
		woken = append(woken, w)
		if len(w.subs) > 1 {
			// A listener on several ids gets its batch once this publish
			// has released its locks, from all its ids at once
			// (collectAll): a concurrent publish to another of its ids
			// with a lower cursor is then in the same batch, in order.
			continue
		}
		// A single-id listener's batch is the queue's tail above its
		// listen cursor, so every listener whose cursor falls between the
		// same two queued entries gets the same bytes: render once per
		// tail, not once per listener (after a broadcast, all of a
		// channel's listeners come back with the same or a fresh cursor).
		tail := sort.Search(len(ch.queue), func(i int) bool { return listen.Less(ch.queue[i].cursor) })
		b, ok := shared[tail]
		if !ok {
			b = renderBatch(collect(w, locked))
			if shared == nil {
				shared = make(map[int][]byte)
			}
			shared[tail] = b
		}
		w.batch = b
		h.removeWaiter(ch, w, now)
	}
	return woken
}

// collectAll builds the batch of a claimed listener from all its ids,
// locked together in id order, so the batch is a consistent snapshot:
// every message with a cursor generated before the locks were taken is
// in it (cursors are generated under the target's lock).
func (h *Hub) collectAll(w *waiter, now time.Time) {
	for _, s := range w.subs {
		s.ch.mu.Lock()
	}
	h.answer(w, collect(w, nil), now)
	for _, s := range w.subs {
		s.ch.mu.Unlock()
	}
}

// answer gives a claimed listener its batch and unregisters it from all
// its ids (R-WAIT-14); its channels must be locked.
func (h *Hub) answer(w *waiter, items []batchItem, now time.Time) {
	w.batch = renderBatch(items)
	for _, s := range w.subs {
		h.removeWaiter(s.ch, w, now)
	}
}
