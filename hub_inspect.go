package caddyrealplexor

import (
	"slices"
)

// Read-only views of a hub for the admin API. Nothing here is on a hot
// path: each call locks the channels it reads, one at a time.

// ChannelInfo describes one id: its buffered messages and its listeners.
type ChannelInfo struct {
	ID string `json:"id"`
	// Messages and Bytes are the buffered messages and their data bytes.
	Messages int `json:"messages"`
	Bytes    int `json:"bytes"`
	// LowestCursor and HighestCursor bound the buffer; empty when it is
	// empty. A poll with a cursor below LowestCursor may have missed
	// messages dropped by rotation or cleanup.
	LowestCursor  string `json:"lowest_cursor,omitempty"`
	HighestCursor string `json:"highest_cursor,omitempty"`
	// Listeners counts the polls parked on the id now (cluster-wide for a
	// hub shared through Redis, refreshed every second there).
	Listeners int `json:"listeners"`
	// Online is the id's presence (R-ONL-1): listened to now, or within
	// offline_timeout of its last poll.
	Online bool `json:"online"`
}

// ChannelInfo returns what the hub holds for id in this process; false
// when the hub knows nothing of it (no buffer, no listener, offline).
// For a hub shared through Redis this is the node's local mirror; see
// ChannelInfoShared.
func (h *Hub) ChannelInfo(id string) (ChannelInfo, bool) {
	ch := h.lookupChannel(id)
	if ch == nil {
		return ChannelInfo{}, false
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.dead {
		return ChannelInfo{}, false
	}
	info := ChannelInfo{ID: id, Online: ch.online, Messages: len(ch.queue)}
	for _, e := range ch.queue {
		info.Bytes += len(e.msg.data)
	}
	if n := len(ch.queue); n > 0 {
		// The queue is sorted by cursor ascending (R-Q-1).
		info.LowestCursor = ch.queue[0].cursor.String()
		info.HighestCursor = ch.queue[n-1].cursor.String()
	}
	for w := range ch.waiters {
		if w.Outcome() == waitParked {
			info.Listeners++
		}
	}
	if info.Messages == 0 && info.Listeners == 0 && !info.Online {
		return ChannelInfo{}, false
	}
	return info, true
}

// ChannelInfoShared is ChannelInfo for the whole cluster when the hub is
// shared through Redis: the buffer as Redis stores it and the presence
// the nodes report. It fails only when the store is unreachable.
func (h *Hub) ChannelInfoShared(id string) (ChannelInfo, bool, error) {
	if h.broker == nil {
		info, ok := h.ChannelInfo(id)
		return info, ok, nil
	}
	b := h.broker
	ctx, cancel := b.opContext()
	defer cancel()
	hist, err := b.store.History(ctx, []string{id})
	if err != nil {
		return ChannelInfo{}, false, err
	}
	online, err := b.online(func(s string) bool { return s == id })
	if err != nil {
		return ChannelInfo{}, false, err
	}
	info := ChannelInfo{ID: id}
	entries := hist[id]
	info.Messages = len(entries)
	var lowest, highest Cursor
	for _, e := range entries {
		info.Bytes += len(e.Data)
		c, ok := ParseCursor(e.Cursor)
		if !ok {
			continue
		}
		if lowest.IsZero() || c.Less(lowest) {
			lowest = c
		}
		if highest.IsZero() || highest.Less(c) {
			highest = c
		}
	}
	info.LowestCursor, info.HighestCursor = lowest.String(), highest.String()
	if i := slices.IndexFunc(online, func(o OnlineID) bool { return o.ID == id }); i >= 0 {
		info.Online = true
		info.Listeners = online[i].Listeners
	}
	if info.Messages == 0 && !info.Online {
		return ChannelInfo{}, false, nil
	}
	return info, true, nil
}

// Shared reports whether the hub is shared between nodes through Redis.
func (h *Hub) Shared() bool { return h.broker != nil }
