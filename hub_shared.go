package caddyrealplexor

import (
	"slices"
	"strings"
	"time"
)

// The entry points the handlers use. They work on a standalone hub and on
// one shared through Redis alike; with Redis they can fail (the store is
// unreachable), and the handlers answer 503.

// PublishShared stores and delivers a publish (see Publish).
func (h *Hub) PublishShared(targets []Element, limiters []string, data []byte) (PublishResult, error) {
	if h.broker == nil {
		return h.Publish(targets, limiters, data), nil
	}
	return h.broker.publish(targets, limiters, data)
}

// RegisterShared parks a poll (see Register).
func (h *Hub) RegisterShared(elems []Element, timeout time.Duration) (*waiter, error) {
	if h.broker == nil {
		return h.Register(elems, timeout), nil
	}
	return h.broker.register(elems, timeout)
}

// OnlineShared lists the online ids (see Online), cluster-wide with Redis.
func (h *Hub) OnlineShared(match func(string) bool) ([]OnlineID, error) {
	if h.broker == nil {
		return h.Online(match), nil
	}
	return h.broker.online(match)
}

// WatchShared returns presence events (see Watch), cluster-wide with Redis.
func (h *Hub) WatchShared(after Cursor, match func(string) bool) ([]WatchEvent, error) {
	if h.broker == nil {
		return h.Watch(after, match), nil
	}
	return h.broker.watch(after, match)
}

// NextEventPositionShared is NextEventPosition, cluster-wide with Redis.
func (h *Hub) NextEventPositionShared() (int64, error) {
	if h.broker == nil {
		return h.NextEventPosition(), nil
	}
	return h.broker.nextEventPosition()
}

func sortOnline(ids []OnlineID) {
	slices.SortFunc(ids, func(a, b OnlineID) int { return strings.Compare(a.ID, b.ID) })
}
