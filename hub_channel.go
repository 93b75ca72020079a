package caddyrealplexor

import (
	"sort"
	"sync"
	"time"
)

// message is one publish's body. The same *message is stored under every
// id of the publish, so a listener on several of them gets it once with
// all its ids (R-Q-6, R-WAIT-11).
type message struct {
	data     []byte
	limiters []string // sorted, distinct (R-VIS-1)
	id       int64    // the shared store's message id; 0 in a standalone hub
}

// entry is a message in one id's queue with that id's cursor.
type entry struct {
	cursor Cursor
	msg    *message
}

// channel is one id: its queue, its parked listeners and its presence.
// Every field is guarded by mu.
type channel struct {
	id string
	mu sync.Mutex

	// dead is set when the channel is deleted from the index; a holder of
	// a stale pointer sees it after locking and looks the id up again.
	dead bool

	// queue is sorted by cursor ascending; among equal cursors the newer
	// entry comes later (R-Q-1, R-Q-2). Trimming drops from the front.
	queue []entry

	// waiters are the parked requests listening here, with their listen
	// cursor. A request that was answered may linger here until it is
	// released; its state says so and it is skipped.
	waiters map[*waiter]Cursor

	online           bool      // R-ONL-1
	offlineAt        time.Time // when a listener-less online id goes offline
	offlineScheduled bool      // an offlineTimers entry exists
	cleanAt          time.Time // CLEAN_ID_AFTER deadline (R-Q-4)
	cleanScheduled   bool      // a cleanTimers entry exists

	// With a shared store (Redis) the queue is a local mirror of the
	// store's, kept while the channel has local listeners. sync is closed
	// once the mirror is loaded (synced says whether that succeeded);
	// entries arriving while it loads wait in pending; pins counts
	// registrations between loading and parking, which keep the channel.
	sync    chan struct{}
	synced  bool
	pending []entry
	pins    int
}

func newChannel(id string) *channel {
	return &channel{id: id, waiters: make(map[*waiter]Cursor)}
}

// idle reports whether nothing needs the channel. A mirror's queue does
// not count: the shared store keeps the messages.
func (ch *channel) idle(mirror bool) bool {
	return (mirror || len(ch.queue) == 0) && len(ch.waiters) == 0 && !ch.online && ch.pins == 0
}

// has reports whether the queue already holds the store's message id
// under cursor c (a mirror receives entries both from history and live).
func (ch *channel) has(c Cursor, id int64) bool {
	for _, e := range ch.queue {
		if e.msg.id == id && e.cursor.Compare(c) == 0 {
			return true
		}
	}
	return false
}

// insert adds an entry ahead of (newer than) entries with an equal cursor
// (R-Q-2) and returns its index.
func (ch *channel) insert(e entry) int {
	i := sort.Search(len(ch.queue), func(i int) bool { return e.cursor.Less(ch.queue[i].cursor) })
	ch.queue = append(ch.queue, entry{})
	copy(ch.queue[i+1:], ch.queue[i:])
	ch.queue[i] = e
	return i
}

// trim keeps the max newest entries (R-Q-3), dropping the lowest cursors,
// and counts what it dropped.
func (h *Hub) trim(ch *channel, max int) {
	if over := len(ch.queue) - max; over > 0 {
		clear(ch.queue[:over]) // let dropped messages be collected
		ch.queue = append(ch.queue[:0], ch.queue[over:]...)
		h.stats.droppedRotate.Add(uint64(over))
	}
}

// addWaiter registers w with its listen cursor and brings the id online
// (R-WAIT-8); it returns true when the id just came online.
func (ch *channel) addWaiter(w *waiter, c Cursor) (cameOnline bool) {
	ch.waiters[w] = c
	cameOnline = !ch.online
	ch.online = true
	return cameOnline
}

// removeWaiter unregisters w. When the last listener leaves, the id stays
// online for OFFLINE_TIMEOUT, restarted from full length (R-ONL-3).
func (h *Hub) removeWaiter(ch *channel, w *waiter, now time.Time) {
	if _, ok := ch.waiters[w]; !ok {
		return
	}
	delete(ch.waiters, w)
	if len(ch.waiters) > 0 || !ch.online {
		return
	}
	if h.broker != nil {
		h.broker.left(ch.id)
	}
	ch.offlineAt = now.Add(h.settings().offlineTimeout)
	if !ch.offlineScheduled {
		ch.offlineScheduled = true
		h.offlineTimers.add(ch.offlineAt, ch)
	}
}

// expireOffline ends an id's grace period if it is still due (R-ONL-2).
func (h *Hub) expireOffline(ch *channel, now time.Time) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.offlineScheduled = false
	if ch.dead || !ch.online || len(ch.waiters) > 0 {
		return
	}
	if now.Before(ch.offlineAt) {
		// Restarted since it was scheduled: wait for the new deadline.
		ch.offlineScheduled = true
		h.offlineTimers.add(ch.offlineAt, ch)
		return
	}
	ch.online = false
	if h.broker == nil {
		h.events.add(false, ch.id) // the shared store keeps its own log
		h.stats.watchEvents.Add(1)
	}
	h.forgetIfIdle(ch)
}

// touchClean restarts the CLEAN_ID_AFTER countdown after a publish (R-Q-4).
func (h *Hub) touchClean(ch *channel, now time.Time) {
	ch.cleanAt = now.Add(h.settings().cleanIDAfter)
	if !ch.cleanScheduled {
		ch.cleanScheduled = true
		h.cleanTimers.add(ch.cleanAt, ch)
	}
}

// expireClean drops an id's whole queue when nothing was published to it
// for CLEAN_ID_AFTER (R-Q-4).
func (h *Hub) expireClean(ch *channel, now time.Time) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.cleanScheduled = false
	if ch.dead || len(ch.queue) == 0 {
		return
	}
	if now.Before(ch.cleanAt) {
		ch.cleanScheduled = true
		h.cleanTimers.add(ch.cleanAt, ch)
		return
	}
	h.stats.droppedClean.Add(uint64(len(ch.queue)))
	clear(ch.queue)
	ch.queue = nil
	h.forgetIfIdle(ch)
}
