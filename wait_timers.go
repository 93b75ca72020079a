package caddyrealplexor

import (
	"sync"
	"time"
)

// waitTimers fires WAIT_TIMEOUT for parked polls (R-WAIT-16). Like wheel,
// it keeps polls in buckets by deadline, so a parked poll costs no timer;
// unlike wheel, a poll is unlinked the moment it is released, so answered
// polls are not kept alive until their deadline (at 10,000 polls a second
// and the default 300 s, that would be three million dead polls).
type waitTimers struct {
	mu    sync.Mutex
	tick  time.Duration
	next  int64             // the first slot not yet expired
	slots map[int64]*waiter // each slot is a doubly linked list through the waiters
}

// waitTimerLink is the part of a waiter that waitTimers owns.
type waitTimerLink struct {
	prev, next *waiter
	slot       int64
	linked     bool
}

func newWaitTimers(tick time.Duration, now time.Time) *waitTimers {
	return &waitTimers{tick: tick, next: now.UnixNano() / int64(tick), slots: make(map[int64]*waiter)}
}

// add schedules w for w.deadline (rounded up to a tick, never early).
func (t *waitTimers) add(w *waiter) {
	n := w.deadline.UnixNano()
	s := n / int64(t.tick)
	if n%int64(t.tick) != 0 {
		s++
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if s < t.next {
		s = t.next
	}
	head := t.slots[s]
	w.timer = waitTimerLink{next: head, slot: s, linked: true}
	if head != nil {
		head.timer.prev = w
	}
	t.slots[s] = w
}

// remove unlinks w if it is still scheduled.
func (t *waitTimers) remove(w *waiter) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !w.timer.linked {
		return
	}
	l := w.timer
	if l.prev != nil {
		l.prev.timer.next = l.next
	} else if l.next != nil {
		t.slots[l.slot] = l.next
	} else {
		delete(t.slots, l.slot)
	}
	if l.next != nil {
		l.next.timer.prev = l.prev
	}
	w.timer = waitTimerLink{}
}

// expire unlinks and returns every poll whose slot is due at now, in
// deadline order.
func (t *waitTimers) expire(now time.Time) []*waiter {
	last := now.UnixNano() / int64(t.tick)
	t.mu.Lock()
	defer t.mu.Unlock()
	if last < t.next {
		return nil
	}
	due := dueSlots(t.slots, t.next, last)
	t.next = last + 1
	var out []*waiter
	for _, s := range due {
		for w := t.slots[s]; w != nil; {
			next := w.timer.next
			w.timer = waitTimerLink{}
			out = append(out, w)
			w = next
		}
		delete(t.slots, s)
	}
	return out
}

// len counts scheduled polls, for tests.
func (t *waitTimers) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, w := range t.slots {
		for ; w != nil; w = w.timer.next {
			n++
		}
	}
	return n
}
