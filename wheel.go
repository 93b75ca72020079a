package caddyrealplexor

import (
	"slices"
	"sync"
	"time"
)

// wheel is a coarse timer: items are dropped into buckets by deadline and
// handed back by expire once the bucket's time has passed. It replaces a
// timer per parked request or per channel (the hub holds hundreds of
// thousands of them): adding is an append, and one sweeper goroutine
// expires everything. Items are not removed early; the callback decides
// whether an expired item still matters (its owner re-checks the state).
type wheel[T any] struct {
	mu      sync.Mutex
	tick    time.Duration
	buckets map[int64][]T
	next    int64 // the first bucket not yet expired
}

// newWheel starts the wheel at now: deadlines at or before now fire on
// the first expire.
func newWheel[T any](tick time.Duration, now time.Time) *wheel[T] {
	w := &wheel[T]{tick: tick, buckets: make(map[int64][]T)}
	w.next = now.UnixNano() / int64(tick)
	return w
}

func (w *wheel[T]) slot(t time.Time) int64 {
	// Round up, so an item never fires before its deadline.
	n := t.UnixNano()
	s := n / int64(w.tick)
	if n%int64(w.tick) != 0 {
		s++
	}
	return s
}

// add schedules v for at. A deadline already in the past fires on the next expire.
func (w *wheel[T]) add(at time.Time, v T) {
	s := w.slot(at)
	w.mu.Lock()
	if s < w.next {
		s = w.next
	}
	w.buckets[s] = append(w.buckets[s], v)
	w.mu.Unlock()
}

// expire removes and returns every item whose bucket is due at now.
func (w *wheel[T]) expire(now time.Time) []T {
	last := now.UnixNano() / int64(w.tick)
	w.mu.Lock()
	defer w.mu.Unlock()
	if last < w.next {
		return nil
	}
	var due []T
	for _, s := range dueSlots(w.buckets, w.next, last) {
		due = append(due, w.buckets[s]...)
		delete(w.buckets, s)
	}
	w.next = last + 1
	return due
}

// len returns the number of scheduled items, for tests and counters.
func (w *wheel[T]) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, items := range w.buckets {
		n += len(items)
	}
	return n
}

// dueSlots returns, in order, the occupied slots of m from next to last.
func dueSlots[V any](m map[int64]V, next, last int64) []int64 {
	var due []int64
	if last-next > int64(len(m)) {
		// Long gap (an idle hub, or a test clock jumping ahead): walking
		// the map is cheaper than walking every empty slot.
		for s := range m {
			if s <= last {
				due = append(due, s)
			}
		}
		slices.Sort(due)
		return due
	}
	for s := next; s <= last; s++ {
		if _, ok := m[s]; ok {
			due = append(due, s)
		}
	}
	return due
}
