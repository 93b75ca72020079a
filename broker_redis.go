package caddyrealplexor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/caddy-realplexor/caddy-realplexor/redisstore"
	"github.com/redis/go-redis/v9"
)

// redisBroker shares a hub between nodes through Redis (redisstore).
//
// Redis holds the truth: queues, cursors (generated from Redis's clock,
// so node clocks do not matter), presence and the WATCH log. Each node
// keeps its hub as a local mirror of the channels its own clients listen
// to: it subscribes to those ids only, loads their queues once (one range
// read per id), then applies every entry Redis publishes for them and
// wakes its parked polls exactly as a standalone hub does. A publish is
// acknowledged only once Redis stored it.
type redisBroker struct {
	hub    *Hub
	client redis.UniversalClient
	store  *redisstore.Store
	sub    *redisstore.Subscriber
	node   string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	leaving map[string]bool // ids whose last local listener left: report soon
	forgets []string        // ids no longer mirrored: unsubscribe soon

	msgs messageCache

	lastErr sync.Map // "op" -> error, read by Err
}

// brokerTimeout bounds one Redis operation made for a request, so a Redis
// outage answers 503 within a few seconds instead of holding requests.
const brokerTimeout = 3 * time.Second

// presenceTick is how often leaves are reported and grace periods
// expired; heartbeats (every id with listeners) go at most every second.
const presenceTick = 100 * time.Millisecond

func newRedisBroker(h *Hub, client redis.UniversalClient) *redisBroker {
	ctx, cancel := context.WithCancel(context.Background())
	b := &redisBroker{
		hub:     h,
		client:  client,
		store:   redisstore.New(client, h.name),
		node:    nodeID(),
		ctx:     ctx,
		cancel:  cancel,
		leaving: make(map[string]bool),
	}
	b.msgs.init()
	b.sub = b.store.NewSubscriber(ctx, redisstore.OnReconnect(b.resync))
	b.wg.Add(2)
	go b.consume()
	go b.presenceLoop()
	return b
}

// nodeID names this process in the presence keys.
func nodeID() string {
	host, _ := os.Hostname()
	var r [6]byte
	_, _ = rand.Read(r[:])
	return host + "-" + hex.EncodeToString(r[:])
}

func (b *redisBroker) close() {
	b.cancel()
	_ = b.sub.Close()
	b.wg.Wait()
	_ = b.client.Close()
}

func (b *redisBroker) opContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, brokerTimeout)
}

// publish stores a message in Redis, which fans it out to every node
// mirroring one of its ids (this one included).
func (b *redisBroker) publish(targets []Element, limiters []string, data []byte) (PublishResult, error) {
	cfg := b.hub.settings()
	ts := make([]redisstore.Target, len(targets))
	for i, t := range targets {
		ts[i] = redisstore.Target{ID: t.ID, Cursor: t.Cursor.String()}
	}
	if len(limiters) > 0 {
		limiters = sortedDistinct(limiters)
	}
	ctx, cancel := b.opContext()
	defer cancel()
	start := time.Now()
	cursor, _, err := b.store.Publish(ctx, ts, limiters, data, cfg.maxDataForID, cfg.cleanIDAfter)
	b.observeRedis("publish", start, err)
	if err != nil {
		return PublishResult{}, err
	}
	var res PublishResult
	if cursor != "" {
		res.Cursor, _ = ParseCursor(cursor)
	}
	return res, nil
}

// register mirrors the ids (subscribe, then load their queues), takes the
// listen cursor from Redis when needed, and parks the poll.
func (b *redisBroker) register(elems []Element, timeout time.Duration) (*waiter, error) {
	h := b.hub
	ids := make([]string, len(elems))
	needCursor := false
	for i, e := range elems {
		ids[i] = e.ID
		needCursor = needCursor || e.Cursor.IsZero()
	}
	chans, err := b.mirror(sortedDistinct(ids))
	defer h.unpin(chans)
	if err != nil {
		return nil, err
	}
	var listen Cursor
	if needCursor {
		// Taken after the mirror is live: anything published later has a
		// higher cursor and reaches this node.
		ctx, cancel := b.opContext()
		start := time.Now()
		c, err := b.store.NextCursor(ctx)
		b.observeRedis("next_cursor", start, err)
		cancel()
		if err != nil {
			return nil, err
		}
		listen, _ = ParseCursor(c)
	}
	fresh := b.freshlyListened(chans)
	w := h.register(elems, timeout, listen)
	if len(fresh) > 0 {
		// An id that had no listener here may be offline cluster-wide:
		// report it now, so its online event is not a heartbeat late.
		b.report(fresh)
	}
	return w, nil
}

// freshlyListened returns the ids among chans with no local listener yet.
func (b *redisBroker) freshlyListened(chans []*channel) []redisstore.Listeners {
	var out []redisstore.Listeners
	for _, ch := range chans {
		ch.mu.Lock()
		if len(ch.waiters) == 0 {
			out = append(out, redisstore.Listeners{ID: ch.id, Count: 1})
		}
		ch.mu.Unlock()
	}
	return out
}

func (b *redisBroker) report(ls []redisstore.Listeners) {
	cfg := b.hub.settings()
	ctx, cancel := b.opContext()
	defer cancel()
	b.note("presence", b.store.Touch(ctx, b.node, ls, false, cfg.offlineTimeout, b.aliveFor(), b.retain()))
}

// mirror makes sure every id's channel mirrors Redis, and pins them so
// they are not forgotten before the poll parks. The caller unpins.
func (b *redisBroker) mirror(ids []string) ([]*channel, error) {
	h := b.hub
	var chans, mine []*channel
	for _, id := range ids {
		for {
			ch := h.channelFor(id)
			ch.mu.Lock()
			if ch.dead {
				ch.mu.Unlock()
				continue
			}
			ch.pins++
			if ch.sync == nil {
				ch.sync = make(chan struct{})
				mine = append(mine, ch)
			}
			ch.mu.Unlock()
			chans = append(chans, ch)
			break
		}
	}
	if len(mine) > 0 {
		b.load(mine)
	}
	for _, ch := range chans {
		select {
		case <-ch.sync:
		case <-b.ctx.Done():
			return chans, b.ctx.Err()
		}
		ch.mu.Lock()
		ok := ch.synced
		if !ok && ch.sync != nil {
			select {
			case <-ch.sync:
				ch.sync = nil // a failed load: let the next poll try again
			default:
			}
		}
		ch.mu.Unlock()
		if !ok {
			return chans, errors.New("redis: could not load the channel")
		}
	}
	return chans, nil
}

// load subscribes to the channels' ids and loads their queues. Entries
// published meanwhile are kept in pending and applied after the load, so
// nothing falls between the subscription and the read.
func (b *redisBroker) load(chans []*channel) {
	ids := make([]string, len(chans))
	for i, ch := range chans {
		ids[i] = ch.id
	}
	ctx, cancel := b.opContext()
	defer cancel()
	start := time.Now()
	err := b.sub.Subscribe(ctx, ids...)
	b.observeRedis("subscribe", start, err)
	var hist map[string][]redisstore.Entry
	if err == nil {
		start = time.Now()
		hist, err = b.store.History(ctx, ids)
		b.observeRedis("history", start, err)
		if err != nil {
			_ = b.sub.Unsubscribe(ctx, ids...)
		}
	}
	b.note("subscribe", err)
	now := b.hub.now()
	for _, ch := range chans {
		ch.mu.Lock()
		if err == nil {
			ch.synced = true
			for _, e := range hist[ch.id] {
				b.insert(ch, e)
			}
			for _, e := range ch.pending {
				if !ch.has(e.cursor, e.msg.id) {
					ch.insert(e)
				}
			}
			ch.pending = nil
			b.hub.trim(ch, b.hub.settings().maxDataForID)
			if len(ch.queue) > 0 {
				b.hub.touchClean(ch, now)
			}
		}
		close(ch.sync)
		ch.mu.Unlock()
	}
}

// insert adds a store entry to a locked mirror unless it is there already.
func (b *redisBroker) insert(ch *channel, e redisstore.Entry) (*message, bool) {
	c, ok := ParseCursor(e.Cursor)
	if !ok {
		return nil, false
	}
	msg := b.msgs.get(e)
	if ch.has(c, msg.id) {
		return msg, false
	}
	ch.insert(entry{cursor: c, msg: msg})
	return msg, true
}

// unpin releases the pins mirror took.
func (h *Hub) unpin(chans []*channel) {
	for _, ch := range chans {
		ch.mu.Lock()
		ch.pins--
		h.forgetIfIdle(ch)
		ch.mu.Unlock()
	}
}

// consume applies the entries Redis publishes to the mirrored channels.
func (b *redisBroker) consume() {
	defer b.wg.Done()
	for {
		select {
		case <-b.ctx.Done():
			return
		case e, ok := <-b.sub.Entries():
			if !ok {
				return
			}
			b.apply(e)
		}
	}
}

// apply puts one entry into its mirror and wakes the polls that can now
// see it, as a local publish would (R-IN-11).
func (b *redisBroker) apply(e redisstore.Entry) {
	h := b.hub
	ch := h.lookupChannel(e.ID)
	if ch == nil {
		return
	}
	now := h.now()
	ch.mu.Lock()
	if ch.dead || ch.sync == nil {
		ch.mu.Unlock()
		return
	}
	if !ch.synced {
		if c, ok := ParseCursor(e.Cursor); ok {
			ch.pending = append(ch.pending, entry{cursor: c, msg: b.msgs.get(e)})
		}
		ch.mu.Unlock()
		return
	}
	msg, added := b.insert(ch, e)
	var woken []*waiter
	if added {
		h.trim(ch, h.settings().maxDataForID)
		h.touchClean(ch, now)
		woken = h.wakeListeners(ch, []*channel{ch}, msg, now, nil)
	}
	ch.mu.Unlock()
	h.deliver(woken, now)
}

// resync reloads every mirrored queue after the subscription connection
// came back: what was published while it was down is applied now.
func (b *redisBroker) resync() {
	var ids []string
	for _, ch := range b.hub.allChannels() {
		ch.mu.Lock()
		if ch.synced && !ch.dead {
			ids = append(ids, ch.id)
		}
		ch.mu.Unlock()
	}
	if len(ids) == 0 {
		return
	}
	ctx, cancel := b.opContext()
	defer cancel()
	hist, err := b.store.History(ctx, ids)
	b.note("resync", err)
	for _, id := range ids {
		for _, e := range hist[id] {
			b.apply(e)
		}
	}
}

// forget is called (channel locked) when a mirror is dropped.
func (b *redisBroker) forget(id string) {
	b.mu.Lock()
	b.forgets = append(b.forgets, id)
	b.mu.Unlock()
}

// left is called when an id's last local listener went away: its grace
// period starts from now, cluster-wide (R-ONL-3).
func (b *redisBroker) left(id string) {
	b.mu.Lock()
	b.leaving[id] = true
	b.mu.Unlock()
}

// presenceLoop reports leaves and unsubscribes promptly, sends a
// heartbeat with every locally listened id, and ends grace periods.
func (b *redisBroker) presenceLoop() {
	defer b.wg.Done()
	t := time.NewTicker(presenceTick)
	defer t.Stop()
	var lastBeat time.Time
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		b.flushLeaves()
		if time.Since(lastBeat) >= b.beatEvery() {
			lastBeat = time.Now()
			b.heartbeat()
		}
	}
}

func (b *redisBroker) flushLeaves() {
	b.mu.Lock()
	leaving, forgets := b.leaving, b.forgets
	b.leaving, b.forgets = make(map[string]bool), nil
	b.mu.Unlock()
	ctx, cancel := b.opContext()
	defer cancel()
	if len(leaving) > 0 {
		ls := make([]redisstore.Listeners, 0, len(leaving))
		for id := range leaving {
			n := 0
			if ch := b.hub.lookupChannel(id); ch != nil {
				ch.mu.Lock()
				n = len(ch.waiters)
				ch.mu.Unlock()
			}
			ls = append(ls, redisstore.Listeners{ID: id, Count: n})
		}
		cfg := b.hub.settings()
		b.note("presence", b.store.Touch(ctx, b.node, ls, false, cfg.offlineTimeout, b.aliveFor(), b.retain()))
	}
	if len(forgets) > 0 {
		b.note("unsubscribe", b.sub.Unsubscribe(ctx, forgets...))
	}
}

// heartbeat reports all locally listened ids (keeping them online and
// this node alive) and takes expired ids offline.
func (b *redisBroker) heartbeat() {
	var ls []redisstore.Listeners
	for _, ch := range b.hub.allChannels() {
		ch.mu.Lock()
		if n := len(ch.waiters); n > 0 && !ch.dead {
			ls = append(ls, redisstore.Listeners{ID: ch.id, Count: n})
		}
		ch.mu.Unlock()
	}
	cfg := b.hub.settings()
	ctx, cancel := b.opContext()
	defer cancel()
	start := time.Now()
	err := b.store.Touch(ctx, b.node, ls, true, cfg.offlineTimeout, b.aliveFor(), b.retain())
	b.observeRedis("heartbeat", start, err)
	b.note("presence", err)
	_, err = b.store.ExpirePresence(ctx, b.retain())
	b.note("presence", err)
}

// beatEvery keeps an id's online mark fresh well within OFFLINE_TIMEOUT.
func (b *redisBroker) beatEvery() time.Duration {
	d := b.hub.settings().offlineTimeout / 3
	if d > time.Second {
		d = time.Second
	}
	if d < presenceTick {
		d = presenceTick
	}
	return d
}

// aliveFor: a node missing three heartbeats is dead; its counts go.
func (b *redisBroker) aliveFor() time.Duration { return 3*b.beatEvery() + time.Second }

// retain keeps as many events as the in-memory log's upper bound (R-EVT-2).
func (b *redisBroker) retain() int { return eventChains * (b.hub.settings().eventChainLen + 1) }

func (b *redisBroker) note(op string, err error) {
	if err != nil {
		b.lastErr.Store(op, err)
	} else {
		b.lastErr.Delete(op)
	}
}

// online lists the cluster's online ids with summed listener counts.
func (b *redisBroker) online(match func(string) bool) ([]OnlineID, error) {
	ctx, cancel := b.opContext()
	defer cancel()
	ls, err := b.store.Online(ctx)
	if err != nil {
		return nil, err
	}
	var out []OnlineID
	for _, l := range ls {
		if match(l.ID) {
			out = append(out, OnlineID{ID: l.ID, Listeners: l.Count})
		}
	}
	sortOnline(out)
	return out, nil
}

// watch returns the newest event per matching id above after, oldest first (R-CMD-8).
func (b *redisBroker) watch(after Cursor, match func(string) bool) ([]WatchEvent, error) {
	floor, ok := after.floorInt64()
	if !ok {
		return nil, nil // beyond any position
	}
	ctx, cancel := b.opContext()
	defer cancel()
	evs, err := b.store.Events(ctx, floor)
	if err != nil {
		return nil, err
	}
	log := make([]WatchEvent, len(evs))
	for i, e := range evs {
		log[i] = WatchEvent{Online: e.Online, Position: e.Pos, ID: e.ID}
	}
	return newestPerID(log, after, match), nil
}

func (b *redisBroker) nextEventPosition() (int64, error) {
	ctx, cancel := b.opContext()
	defer cancel()
	return b.store.NextEventPosition(ctx)
}

// messageCache gives entries of one publish (one message id) one
// *message, so a poll on several of its ids gets it once (R-WAIT-11).
type messageCache struct {
	mu   sync.Mutex
	cur  map[int64]*message
	prev map[int64]*message
}

const messageCacheSize = 4096

func (m *messageCache) init() { m.cur = make(map[int64]*message) }

func (m *messageCache) get(e redisstore.Entry) *message {
	m.mu.Lock()
	defer m.mu.Unlock()
	if msg, ok := m.cur[e.MsgID]; ok {
		return msg
	}
	if msg, ok := m.prev[e.MsgID]; ok {
		m.cur[e.MsgID] = msg
		return msg
	}
	if len(m.cur) >= messageCacheSize {
		// Two generations: recent ids survive one rotation.
		m.prev, m.cur = m.cur, make(map[int64]*message)
	}
	msg := &message{data: e.Data, limiters: e.Limiters, id: e.MsgID}
	m.cur[e.MsgID] = msg
	return msg
}
