package caddyrealplexor

import (
	"slices"
	"sync"
)

// firstEventPosition: positions start at 10 (R-EVT-1).
const firstEventPosition = 10

// eventLog is the process-wide WATCH log (R-EVT-1, R-EVT-2). Events are
// kept in up to three chains of EVENT_CHAIN_LEN+1 and the oldest chain is
// dropped whole, as the Perl original does, so between 2·(L+1)+1 and
// 3·(L+1) recent events are retained.
type eventLog struct {
	mu       sync.Mutex
	next     int64
	chainLen int
	chains   [][]WatchEvent
}

const eventChains = 3

func newEventLog() *eventLog {
	return &eventLog{next: firstEventPosition, chainLen: DefaultEventChainLen}
}

func (l *eventLog) setChainLen(n int) {
	l.mu.Lock()
	l.chainLen = n
	l.mu.Unlock()
}

func (l *eventLog) add(online bool, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := WatchEvent{Online: online, Position: l.next, ID: id}
	l.next++
	if n := len(l.chains); n == 0 || len(l.chains[n-1]) > l.chainLen {
		if n == eventChains {
			l.chains[0] = nil
			l.chains = append(l.chains[:0], l.chains[1:]...)
		}
		l.chains = append(l.chains, make([]WatchEvent, 0, l.chainLen+1))
	}
	last := len(l.chains) - 1
	l.chains[last] = append(l.chains[last], e)
}

// nextPosition is the position the next event will get (R-CMD-7).
func (l *eventLog) nextPosition() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

// since returns, oldest first, the newest retained event of each id that
// is newer than after and accepted by match (R-CMD-8).
func (l *eventLog) since(after Cursor, match func(id string) bool) []WatchEvent {
	l.mu.Lock()
	var all []WatchEvent
	for _, chain := range l.chains {
		all = append(all, chain...)
	}
	l.mu.Unlock()
	return newestPerID(all, after, match)
}

// newestPerID applies R-CMD-8 to a log held oldest first: scanning from
// the newest event down to the first at or below after, it keeps the
// newest event of each id accepted by match, and returns them oldest
// first. The in-memory log and the shared (Redis) one both answer with it.
func newestPerID(log []WatchEvent, after Cursor, match func(id string) bool) []WatchEvent {
	var picked []WatchEvent
	seen := make(map[string]bool)
	for i := len(log) - 1; i >= 0; i-- {
		e := log[i]
		if !after.Less(positionCursor(e.Position)) {
			break
		}
		if seen[e.ID] || !match(e.ID) {
			continue
		}
		seen[e.ID] = true
		picked = append(picked, e)
	}
	slices.Reverse(picked)
	return picked
}

// len returns the number of retained events (E of Appendix B).
func (l *eventLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.chains {
		n += len(c)
	}
	return n
}
