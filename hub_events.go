package caddyrealplexor

import (
	"sync"
)

// firstEventPosition: positions start at 10 (R-EVT-1).
const firstEventPosition = 10

// event is one presence transition in the WATCH log.
type event struct {
	pos    int64
	online bool
	id     string
}

// eventLog is the process-wide WATCH log (R-EVT-1, R-EVT-2). Events are
// kept in up to three chains of EVENT_CHAIN_LEN+1 and the oldest chain is
// dropped whole, as the Perl original does, so between 2·(L+1)+1 and
// 3·(L+1) recent events are retained.
type eventLog struct {
	mu       sync.Mutex
	next     int64
	chainLen int
	chains   [][]event
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
	e := event{pos: l.next, online: online, id: id}
	l.next++
	if n := len(l.chains); n == 0 || len(l.chains[n-1]) > l.chainLen {
		if n == eventChains {
			l.chains[0] = nil
			l.chains = append(l.chains[:0], l.chains[1:]...)
		}
		l.chains = append(l.chains, make([]event, 0, l.chainLen+1))
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
func (l *eventLog) since(after Cursor, match func(id string) bool) []event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var picked []event
	seen := make(map[string]bool)
scan:
	for c := len(l.chains) - 1; c >= 0; c-- {
		chain := l.chains[c]
		for i := len(chain) - 1; i >= 0; i-- {
			e := chain[i]
			if !after.Less(positionCursor(e.pos)) {
				break scan
			}
			if seen[e.id] || !match(e.id) {
				continue
			}
			seen[e.id] = true
			picked = append(picked, e)
		}
	}
	for i, j := 0, len(picked)-1; i < j; i, j = i+1, j-1 {
		picked[i], picked[j] = picked[j], picked[i]
	}
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
