package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrClosed is returned by a closed Subscriber.
var ErrClosed = errors.New("redisstore: subscriber closed")

// SubscriberOption configures NewSubscriber.
type SubscriberOption func(*subscriberConfig)

type subscriberConfig struct {
	onReconnect func()
	health      time.Duration
	buffer      int
}

// OnReconnect sets a function called after the Pub/Sub connection was
// lost and re-established with every subscription restored. Entries
// published in between were not received: the caller re-reads
// Store.History for its ids and drops what it already has by (cursor,
// msgid). Calls are made one at a time from a goroutine of the
// Subscriber, coalesced if reconnects come faster than f returns; f may
// call Subscribe, Unsubscribe and IDs but must not call Close.
func OnReconnect(f func()) SubscriberOption {
	return func(c *subscriberConfig) { c.onReconnect = f }
}

// HealthCheckInterval sets how long the connection may stay silent before
// it is pinged; a ping unanswered for as long again drops the connection
// and reconnects. The default is 3 s.
func HealthCheckInterval(d time.Duration) SubscriberOption {
	return func(c *subscriberConfig) {
		if d > 0 {
			c.health = d
		}
	}
}

// EntryBuffer sets the capacity of the Entries channel (default 256).
// When it is full the Subscriber stops reading from Redis (nothing is
// dropped here); Redis may then close the connection once its Pub/Sub
// output buffer limit is hit, which is reported as a reconnect.
func EntryBuffer(n int) SubscriberOption {
	return func(c *subscriberConfig) {
		if n >= 0 {
			c.buffer = n
		}
	}
}

// Subscriber receives the entries stored under the ids it is subscribed
// to, over one Pub/Sub connection. It is safe for concurrent use.
type Subscriber struct {
	store   *Store
	ps      *redis.PubSub
	cfg     subscriberConfig
	entries chan Entry

	// opMu serialises subscription changes so that the Redis commands are
	// sent in the order of the reference count transitions.
	opMu sync.Mutex

	mu       sync.Mutex
	refs     map[string]*subscription // id -> its subscription
	pongs    map[string]chan struct{} // barrier token -> waiter
	reconnCh chan struct{}            // closed and replaced at each reconnect
	token    uint64

	reconnects atomic.Uint64
	notify     chan struct{} // cap 1: a reconnect to report

	closing    chan struct{}
	done       chan struct{} // the receive loop has exited
	notifyDone chan struct{} // the notifier has exited
	stopAfter  func() bool   // detaches the context.AfterFunc
	closeOnce  sync.Once
	closeErr   error
}

const (
	barrierPrefix = "rpl-barrier-"
	healthPayload = "rpl-health"
)

// NewSubscriber starts a Subscriber with no id subscriptions. Its
// connection is opened at once (a failure is retried in the background)
// and subscribed to the hub's control channel "rpl:{<hub>}:ctl", which
// carries nothing yet: it ties the connection to the hub's shard (a Ring
// client needs a channel) and keeps it in Pub/Sub mode. Cancelling ctx
// closes the Subscriber, as Close does.
func (s *Store) NewSubscriber(ctx context.Context, opts ...SubscriberOption) *Subscriber {
	cfg := subscriberConfig{health: 3 * time.Second, buffer: 256}
	for _, o := range opts {
		o(&cfg)
	}
	sb := &Subscriber{
		store:      s,
		ps:         s.client.Subscribe(context.WithoutCancel(ctx), s.prefix+"ctl"),
		cfg:        cfg,
		entries:    make(chan Entry, cfg.buffer),
		refs:       make(map[string]*subscription),
		pongs:      make(map[string]chan struct{}),
		reconnCh:   make(chan struct{}),
		notify:     make(chan struct{}, 1),
		closing:    make(chan struct{}),
		done:       make(chan struct{}),
		notifyDone: make(chan struct{}),
	}
	go sb.receive()
	go sb.notifier()
	sb.stopAfter = context.AfterFunc(ctx, func() { _ = sb.Close() })
	return sb
}

// Entries delivers the entries stored under the subscribed ids, in the
// order Redis published them. It is closed by Close.
func (sb *Subscriber) Entries() <-chan Entry { return sb.entries }

// Reconnects returns how many times the connection was re-established.
func (sb *Subscriber) Reconnects() uint64 { return sb.reconnects.Load() }

// IDs returns the ids with at least one reference, in no order.
func (sb *Subscriber) IDs() []string {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	out := make([]string, 0, len(sb.refs))
	for id := range sb.refs {
		out = append(out, id)
	}
	return out
}

// subscription is one id's reference count. ready is set once a barrier
// sent after its SUBSCRIBE has come back: Redis has applied it.
type subscription struct {
	refs  int
	ready bool
}

// Subscribe adds one reference to each id (an id listed twice gets two)
// and subscribes to the ids that had none. It returns once Redis has
// applied the subscriptions: an entry stored after Subscribe returns is
// delivered on Entries, unless the connection is lost meanwhile, which
// OnReconnect reports. A call whose ids are all subscribed already
// returns at once; otherwise it costs one round trip on the Pub/Sub
// connection. On error no reference is added. ctx bounds the wait; while
// Redis is unreachable Subscribe fails.
func (sb *Subscriber) Subscribe(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	for _, id := range ids {
		if id == "" {
			return errors.New("redisstore: subscribe: empty id")
		}
	}
	sb.opMu.Lock()
	if sb.isClosing() {
		sb.opMu.Unlock()
		return ErrClosed
	}
	var fresh []string
	allReady := true
	subs := make([]*subscription, len(ids))
	sb.mu.Lock()
	for i, id := range ids {
		sub := sb.refs[id]
		if sub == nil {
			sub = &subscription{}
			sb.refs[id] = sub
			fresh = append(fresh, sb.store.channel(id))
		}
		sub.refs++
		allReady = allReady && sub.ready
		subs[i] = sub
	}
	sb.mu.Unlock()
	if len(fresh) > 0 {
		if err := sb.ps.Subscribe(ctx, fresh...); err != nil {
			sb.releaseLocked(context.WithoutCancel(ctx), ids)
			sb.opMu.Unlock()
			return fmt.Errorf("redisstore: subscribe: %w", err)
		}
	}
	sb.opMu.Unlock()
	if allReady {
		return nil
	}
	// The barrier also covers ids another call subscribed to and is still
	// confirming: their SUBSCRIBE was written before this PING (opMu).
	if err := sb.barrier(ctx); err != nil {
		_ = sb.Unsubscribe(context.WithoutCancel(ctx), ids...)
		return fmt.Errorf("redisstore: subscribe: %w", err)
	}
	sb.mu.Lock()
	for _, sub := range subs {
		sub.ready = true // a released subscription is no longer in refs: harmless
	}
	sb.mu.Unlock()
	return nil
}

// Unsubscribe removes one reference from each id and unsubscribes from
// the ids left with none; their entries stop being delivered at once.
// Ids without a reference are ignored. An error means the UNSUBSCRIBE
// could not be sent; the ids are released all the same (go-redis does not
// restore them after a reconnect, and their entries are filtered out).
func (sb *Subscriber) Unsubscribe(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	sb.opMu.Lock()
	defer sb.opMu.Unlock()
	if sb.isClosing() {
		return ErrClosed
	}
	if err := sb.releaseLocked(ctx, ids); err != nil {
		return fmt.Errorf("redisstore: unsubscribe: %w", err)
	}
	return nil
}

// releaseLocked drops one reference per id and unsubscribes the ids left
// without one. sb.opMu must be held.
func (sb *Subscriber) releaseLocked(ctx context.Context, ids []string) error {
	var gone []string
	sb.mu.Lock()
	for _, id := range ids {
		sub := sb.refs[id]
		if sub == nil {
			continue
		}
		if sub.refs--; sub.refs <= 0 {
			delete(sb.refs, id)
			gone = append(gone, sb.store.channel(id))
		}
	}
	sb.mu.Unlock()
	if len(gone) == 0 {
		return nil
	}
	return sb.ps.Unsubscribe(ctx, gone...)
}

// barrier returns once Redis has processed every subscription command
// sent before it: it sends a PING with a unique payload on the Pub/Sub
// connection and waits for the reply, which Redis sends in order. If the
// connection is replaced meanwhile (the new one is subscribed to every id
// at connect time), it pings again on the new one.
func (sb *Subscriber) barrier(ctx context.Context) error {
	for {
		sb.mu.Lock()
		sb.token++
		token := barrierPrefix + strconv.FormatUint(sb.token, 10)
		ch := make(chan struct{})
		sb.pongs[token] = ch
		reconn := sb.reconnCh
		sb.mu.Unlock()
		forget := func() {
			sb.mu.Lock()
			delete(sb.pongs, token)
			sb.mu.Unlock()
		}
		if err := sb.ps.Ping(ctx, token); err != nil {
			forget()
			return err
		}
		select {
		case <-ch:
			return nil
		case <-reconn:
			forget()
		case <-ctx.Done():
			forget()
			return ctx.Err()
		case <-sb.closing:
			forget()
			return ErrClosed
		}
	}
}

// Close stops the Subscriber, closes its connection and the Entries
// channel, and waits for its goroutines to end. It must not be called
// from the OnReconnect function.
func (sb *Subscriber) Close() error {
	sb.closeOnce.Do(func() {
		sb.stopAfter()
		close(sb.closing)
		err := sb.ps.Close()
		if err != nil && !errors.Is(err, redis.ErrClosed) {
			sb.closeErr = fmt.Errorf("redisstore: close subscriber: %w", err)
		}
		<-sb.done
		<-sb.notifyDone
	})
	return sb.closeErr
}

func (sb *Subscriber) isClosing() bool {
	select {
	case <-sb.closing:
		return true
	default:
		return false
	}
}

// receive is the Subscriber's read loop. go-redis's PubSub reconnects and
// resubscribes on its own after a read error; the loop notices the
// failure, backs off while Redis stays unreachable, and reports a
// reconnect at the first reply read after it.
func (sb *Subscriber) receive() {
	defer close(sb.done)
	defer close(sb.entries)
	ctx := context.Background()
	var (
		disconnected bool
		pingSent     bool
		backoff      time.Duration
	)
	for !sb.isClosing() {
		var msg any
		var err error
		if pingSent {
			// A read deadline from ctx with no timeout makes go-redis treat
			// a silent connection as broken and replace it.
			rctx, cancel := context.WithTimeout(ctx, sb.cfg.health)
			msg, err = sb.ps.Receive(rctx)
			cancel()
		} else {
			msg, err = sb.ps.ReceiveTimeout(ctx, sb.cfg.health)
		}
		if err != nil {
			if sb.isClosing() || errors.Is(err, redis.ErrClosed) {
				return
			}
			if !pingSent && isTimeout(err) {
				if sb.ps.Ping(ctx, healthPayload) == nil {
					pingSent = true
					continue
				}
			}
			disconnected, pingSent = true, false
			backoff = min(max(2*backoff, 50*time.Millisecond), time.Second)
			select {
			case <-sb.closing:
				return
			case <-time.After(backoff):
			}
			continue
		}
		pingSent, backoff = false, 0
		if disconnected {
			disconnected = false
			sb.reconnected()
		}
		switch m := msg.(type) {
		case *redis.Message:
			e, ok := sb.decode(m)
			if !ok {
				continue
			}
			select {
			case sb.entries <- e:
			case <-sb.closing:
				return
			}
		case *redis.Pong:
			sb.mu.Lock()
			ch := sb.pongs[m.Payload]
			delete(sb.pongs, m.Payload)
			sb.mu.Unlock()
			if ch != nil {
				close(ch)
			}
		}
	}
}

// decode turns a Pub/Sub message into an Entry of a subscribed id.
// Messages for ids no longer referenced (in flight when they were
// unsubscribed) and payloads that are not entries are dropped.
func (sb *Subscriber) decode(m *redis.Message) (Entry, bool) {
	pfx := sb.store.channelPfx
	if len(m.Channel) <= len(pfx) || m.Channel[:len(pfx)] != pfx {
		return Entry{}, false
	}
	id := m.Channel[len(pfx):]
	sb.mu.Lock()
	live := sb.refs[id] != nil
	sb.mu.Unlock()
	if !live {
		return Entry{}, false
	}
	e, err := decodeEntry(id, m.Payload)
	return e, err == nil
}

func (sb *Subscriber) reconnected() {
	sb.reconnects.Add(1)
	sb.mu.Lock()
	close(sb.reconnCh)
	sb.reconnCh = make(chan struct{})
	sb.mu.Unlock()
	select {
	case sb.notify <- struct{}{}:
	default:
	}
}

func (sb *Subscriber) notifier() {
	defer close(sb.notifyDone)
	for {
		select {
		case <-sb.closing:
			return
		case <-sb.notify:
			if sb.cfg.onReconnect != nil {
				sb.cfg.onReconnect()
			}
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
