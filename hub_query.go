package caddyrealplexor

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// OnlineID is one line of the ONLINE reply (R-CMD-5).
type OnlineID struct {
	ID string
	// Listeners counts the connections parked on the id now; 0 during the
	// grace period (R-ONL-1).
	Listeners int
}

// Online lists the online ids accepted by match, sorted by bytes (R-CMD-4, R-CMD-5).
func (h *Hub) Online(match func(id string) bool) []OnlineID {
	var out []OnlineID
	for _, ch := range h.allChannels() {
		if !match(ch.id) {
			continue
		}
		ch.mu.Lock()
		if ch.online && !ch.dead {
			out = append(out, OnlineID{ID: ch.id, Listeners: len(ch.waiters)})
		}
		ch.mu.Unlock()
	}
	return out
}

// WatchEvent is one line of the WATCH reply (R-CMD-8).
type WatchEvent struct {
	Online   bool
	Position int64
	ID       string
}

// Watch returns the newest event per id with a position above after,
// oldest first (R-CMD-8).
func (h *Hub) Watch(after Cursor, match func(id string) bool) []WatchEvent {
	return h.events.since(after, match)
}

// NextEventPosition is what the WATCH initial request reports (R-CMD-7).
func (h *Hub) NextEventPosition() int64 { return h.events.nextPosition() }

func positionCursor(pos int64) Cursor { return MustCursor(strconv.FormatInt(pos, 10)) }

// Counters are the storage counters of Appendix B (R-PORT-7).
type Counters struct {
	Parked        int `json:"pairs_by_fhs"`   // P: parked WAIT requests
	WithData      int `json:"data_to_send"`   // D: ids with a non-empty queue
	WithListeners int `json:"connected_fhs"`  // C: ids with a parked request
	Online        int `json:"online_timers"`  // O: online ids
	CleanupTimers int `json:"cleanup_timers"` // T: ids with an armed cleanup countdown
	Events        int `json:"events"`         // E: retained events
	Messages      int `json:"messages"`       // queued entries over all ids
	Bytes         int `json:"bytes"`          // their data bytes
}

// Counters scans the hub; it is for tests, STATS and the admin API, not
// for hot paths.
func (h *Hub) Counters() Counters {
	c := Counters{Parked: int(h.parked.Load()), Events: h.events.len()}
	for _, ch := range h.allChannels() {
		ch.mu.Lock()
		if !ch.dead {
			if len(ch.queue) > 0 {
				c.WithData++
				c.CleanupTimers++
				c.Messages += len(ch.queue)
				for _, e := range ch.queue {
					c.Bytes += len(e.msg.data)
				}
			}
			if len(ch.waiters) > 0 {
				c.WithListeners++
			}
			if ch.online {
				c.Online++
			}
		}
		ch.mu.Unlock()
	}
	return c
}

// Stats renders the STATS dump (R-CMD-9).
func (h *Hub) Stats() string {
	var data, conns, online, cleanup strings.Builder
	pairs := make(map[uint64]*waiter)
	for _, ch := range h.allChannels() {
		ch.mu.Lock()
		if ch.dead {
			ch.mu.Unlock()
			continue
		}
		if len(ch.queue) > 0 {
			fmt.Fprintf(&data, "%s => ", ch.id)
			for i := len(ch.queue) - 1; i >= 0; i-- { // highest cursor first
				e := ch.queue[i]
				if i != len(ch.queue)-1 {
					data.WriteString(", ")
				}
				fmt.Fprintf(&data, "[%s: %db", e.cursor, len(e.msg.data))
				if len(e.msg.limiters) > 0 {
					fmt.Fprintf(&data, ", limited by (%s)", strings.Join(e.msg.limiters, ", "))
				}
				data.WriteString("]")
			}
			data.WriteString("\n")
			fmt.Fprintf(&cleanup, "%s => assigned\n", ch.id)
		}
		var live []*waiter
		for w := range ch.waiters {
			if w.Outcome() == waitParked {
				live = append(live, w)
			}
		}
		if len(live) > 0 {
			sortWaiters(live)
			fmt.Fprintf(&conns, "%s => ", ch.id)
			for i, w := range live {
				if i > 0 {
					conns.WriteString(", ")
				}
				fmt.Fprintf(&conns, "(0x%x)", w.handle)
				pairs[w.handle] = w
			}
			conns.WriteString("\n")
		}
		if ch.online {
			fmt.Fprintf(&online, "%s => assigned\n", ch.id)
		}
		ch.mu.Unlock()
	}
	var ps strings.Builder
	handles := make([]*waiter, 0, len(pairs))
	for _, w := range pairs {
		handles = append(handles, w)
	}
	sortWaiters(handles)
	for _, w := range handles {
		fmt.Fprintf(&ps, "(0x%x) => ", w.handle)
		for i, e := range w.elems {
			if i > 0 {
				ps.WriteString(", ")
			}
			c := e.Cursor
			if c.IsZero() {
				c = w.listenCursor
			}
			fmt.Fprintf(&ps, "%s:%s", c, e.ID)
		}
		ps.WriteString("\n")
	}
	return "[data_to_send]\n" + data.String() +
		"\n[connected_fhs]\n" + conns.String() +
		"\n[online_timers]\n" + online.String() +
		"\n[cleanup_timers]\n" + cleanup.String() +
		"\n[pairs_by_fhs]\n" + ps.String()
}

func sortWaiters(ws []*waiter) {
	slices.SortFunc(ws, func(a, b *waiter) int { return cmp.Compare(a.handle, b.handle) })
}
