package caddyrealplexor

import (
	"hash/maphash"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Hub is the shared state of one Realplexor: per-channel message queues,
// cursors, presence, the WATCH event log and the parked WAIT requests. It
// is plain Go (no Caddy types) so it can be tested on its own, and it lives
// in a caddy.UsagePool so a config reload keeps it (R-PORT-5).
//
// Concurrency (R-GEN-6, R-PORT-6): every channel has its own mutex. An
// operation that touches several channels (a registration, a publish to
// several ids) locks all of them in id order, which keeps it atomic with
// respect to every other operation on those channels without a global
// lock. Cursor generation happens while those locks are held, so a
// registering listener and a publish on a common channel are strictly
// ordered: the publish is either stored before the listener's "now" cursor
// was taken or delivered to it.
type Hub struct {
	name string
	now  func() time.Time

	cfg    atomic.Pointer[settings]
	cursor *cursorGenerator
	events *eventLog

	seed   maphash.Seed
	shards [channelShards]channelShard

	waitTimers    *waitTimers
	offlineTimers *wheel[*channel]
	cleanTimers   *wheel[*channel]

	parked       atomic.Int64  // parked WAIT requests (P of Appendix B)
	waiterSerial atomic.Uint64 // opaque handles for STATS

	stop     chan struct{}
	stopOnce sync.Once
	sweeping sync.WaitGroup

	// broker shares the hub between nodes (Redis); nil for a standalone hub.
	broker *redisBroker

	parkedConns atomic.Int64 // hijacked polls not yet answered (park.go)
	stats       hubStats     // event counters for metrics (metrics.go)
}

const (
	channelShards = 64
	// sweepTick is the resolution of WAIT_TIMEOUT, OFFLINE_TIMEOUT and
	// CLEAN_ID_AFTER: coarse enough to cost nothing, fine enough that a
	// 1 s offline timeout fires within 10 % of its time.
	sweepTick = 100 * time.Millisecond
)

type channelShard struct {
	mu sync.Mutex
	m  map[string]*channel
}

// HubOptions are the parts of a hub fixed at creation.
type HubOptions struct {
	// Now replaces the clock, for tests. Nil means time.Now.
	Now func() time.Time
	// CursorFloorFile, when set, persists a floor under generated cursors
	// so they keep increasing across a restart (R-QUIRK-9).
	CursorFloorFile string
	// ManualSweep disables the sweeper goroutine; tests call Sweep.
	ManualSweep bool
	// Redis, when set, shares the hub with every node using the same
	// Redis and hub name. The hub closes the client when destroyed.
	Redis redis.UniversalClient
}

// NewHub creates a hub with the default settings.
func NewHub(name string, opts HubOptions) (*Hub, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	gen, err := newCursorGenerator(now, opts.CursorFloorFile)
	if err != nil {
		return nil, err
	}
	h := &Hub{
		name:          name,
		now:           now,
		cursor:        gen,
		events:        newEventLog(),
		seed:          maphash.MakeSeed(),
		waitTimers:    newWaitTimers(sweepTick, now()),
		offlineTimers: newWheel[*channel](sweepTick, now()),
		cleanTimers:   newWheel[*channel](sweepTick, now()),
		stop:          make(chan struct{}),
	}
	for i := range h.shards {
		h.shards[i].m = make(map[string]*channel)
	}
	h.cfg.Store(defaultSettings())
	if opts.Redis != nil {
		h.broker = newRedisBroker(h, opts.Redis)
	}
	if !opts.ManualSweep {
		h.sweeping.Add(1)
		go h.sweepLoop()
	}
	return h, nil
}

// Name returns the hub's name.
func (h *Hub) Name() string { return h.name }

func (h *Hub) settings() *settings { return h.cfg.Load() }

// configure swaps in new settings; they apply to the next operation.
func (h *Hub) configure(s *settings) {
	h.cfg.Store(s)
	h.events.setChainLen(s.eventChainLen)
}

// Destruct stops the sweeper and answers every parked request; the hub is
// unusable afterwards. It implements caddy.Destructor for the UsagePool.
func (h *Hub) Destruct() error {
	h.stopOnce.Do(func() {
		close(h.stop)
		h.sweeping.Wait()
		h.ReleaseAll()
		// Hijacked polls are answered by their own goroutines; a write
		// is bounded by parkWriteTimeout.
		h.drainParked(parkWriteTimeout + time.Second)
		if h.broker != nil {
			h.broker.close()
		}
	})
	return nil
}

func (h *Hub) sweepLoop() {
	defer h.sweeping.Done()
	t := time.NewTicker(sweepTick)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			h.Sweep()
		}
	}
}

// Sweep fires every due WAIT timeout, offline countdown and queue cleanup.
// The sweeper goroutine calls it every sweepTick; tests with an injected
// clock call it directly.
func (h *Hub) Sweep() {
	now := h.now()
	for _, w := range h.waitTimers.expire(now) {
		h.finish(w, waitTimedOut)
	}
	for _, ch := range h.offlineTimers.expire(now) {
		h.expireOffline(ch, now)
	}
	for _, ch := range h.cleanTimers.expire(now) {
		h.expireClean(ch, now)
	}
}

func (h *Hub) shard(id string) *channelShard {
	return &h.shards[maphash.String(h.seed, id)%channelShards]
}

// channelFor returns the live channel for id, creating it if needed.
func (h *Hub) channelFor(id string) *channel {
	s := h.shard(id)
	s.mu.Lock()
	ch := s.m[id]
	if ch == nil {
		ch = newChannel(id)
		s.m[id] = ch
	}
	s.mu.Unlock()
	return ch
}

// lookupChannel returns the channel for id or nil, without creating one.
func (h *Hub) lookupChannel(id string) *channel {
	s := h.shard(id)
	s.mu.Lock()
	ch := s.m[id]
	s.mu.Unlock()
	return ch
}

// lockChannels returns the channels for the distinct, sorted ids, all
// locked. Locking in id order everywhere is what makes multi-channel
// operations deadlock-free. A channel deleted between lookup and lock
// (its dead flag is set under its lock) is looked up again.
func (h *Hub) lockChannels(sortedIDs []string) []*channel {
	chans := make([]*channel, len(sortedIDs))
	for {
		for i, id := range sortedIDs {
			chans[i] = h.channelFor(id)
		}
		dead := false
		for i, ch := range chans {
			ch.mu.Lock()
			if ch.dead {
				for _, locked := range chans[:i+1] {
					locked.mu.Unlock()
				}
				dead = true
				break
			}
		}
		if !dead {
			return chans
		}
	}
}

func unlockChannels(chans []*channel) {
	for _, ch := range chans {
		ch.mu.Unlock()
	}
}

// forgetIfIdle deletes ch from the index when nothing refers to it any
// more: no queue, no listener, not online. ch must be locked.
func (h *Hub) forgetIfIdle(ch *channel) {
	if !ch.idle(h.broker != nil) {
		return
	}
	s := h.shard(ch.id)
	s.mu.Lock()
	if s.m[ch.id] == ch {
		delete(s.m, ch.id)
	}
	s.mu.Unlock()
	ch.dead = true
	if h.broker != nil && ch.synced {
		h.broker.forget(ch.id)
	}
}

// allChannels returns a snapshot of the live channels sorted by id.
func (h *Hub) allChannels() []*channel {
	var out []*channel
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.Lock()
		for _, ch := range s.m {
			out = append(out, ch)
		}
		s.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// sortedDistinct returns the distinct ids in byte order.
func sortedDistinct(ids []string) []string {
	out := append([]string(nil), ids...)
	sort.Strings(out)
	n := 0
	for i, id := range out {
		if i == 0 || id != out[n-1] {
			out[n] = id
			n++
		}
	}
	return out[:n]
}
