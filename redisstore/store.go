package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// FirstEventPosition is the position of a hub's first WATCH event (R-EVT-1).
const FirstEventPosition = 10

// Store is one hub's shared state in Redis. It is safe for concurrent use.
type Store struct {
	client redis.UniversalClient
	hub    string

	prefix     string // "rpl:{<hub>}:"
	keyCursor  string
	keyMsgSeq  string
	keyEvSeq   string
	keyEvents  string
	queuePfx   string // prefix of the q:<id> keys
	channelPfx string // prefix of the n:<id> Pub/Sub channels
}

// New returns the store of the named hub on client. Nothing is sent to
// Redis until the first call.
func New(client redis.UniversalClient, hub string) *Store {
	p := "rpl:{" + escapeHub(hub) + "}:"
	return &Store{
		client:     client,
		hub:        hub,
		prefix:     p,
		keyCursor:  p + "cursor",
		keyMsgSeq:  p + "msgseq",
		keyEvSeq:   p + "evseq",
		keyEvents:  p + "events",
		queuePfx:   p + "q:",
		channelPfx: p + "n:",
	}
}

// escapeHub makes the hub name safe inside a hash tag: a '}' would end
// the tag early and an empty tag "{}" is ignored by Redis Cluster, either
// of which could scatter a hub's keys over several slots.
func escapeHub(hub string) string {
	if hub == "" {
		return "%"
	}
	if !strings.ContainsAny(hub, "{}%") {
		return hub
	}
	var b strings.Builder
	for i := 0; i < len(hub); i++ {
		switch c := hub[i]; c {
		case '%', '{', '}':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Hub returns the hub name the store was created with.
func (s *Store) Hub() string { return s.hub }

// KeyPrefix returns the prefix shared by all of the hub's keys and
// channels, "rpl:{<hub>}:".
func (s *Store) KeyPrefix() string { return s.prefix }

func (s *Store) queueKey(id string) string { return s.queuePfx + id }
func (s *Store) channel(id string) string  { return s.channelPfx + id }

// Target is one id a message is published to.
type Target struct {
	ID     string
	Cursor string // "" = use the publish's generated cursor
}

// Publish stores data under every target in one round trip (one EVALSHA,
// atomic in Redis): it generates at most one cursor, shared by all
// cursor-less targets (R-ID-8), and takes one message id shared by all
// targets; it inserts each entry in cursor order (R-Q-1, R-Q-2), trims
// each queue to its maxPerID highest entries (R-Q-3), sets each queue's
// expiry to cleanAfter (R-Q-4; cleanAfter <= 0 means no expiry), and
// publishes every stored entry on the id's channel. A duplicate target
// stores the message twice (R-ID-9). Publisher cursors must be
// `1*DIGIT ["." 1*DIGIT]`; limiters must not contain ',', ' ' or '\n'.
//
// It returns the generated cursor ("" when every target had its own) and
// the message id. On error nothing was acknowledged by this call; with a
// go-redis client that retries (MaxRetries > 0), a failure after Redis ran
// the script but before the reply arrived can store the message twice.
func (s *Store) Publish(ctx context.Context, targets []Target, limiters []string, data []byte, maxPerID int, cleanAfter time.Duration) (cursor string, msgID int64, err error) {
	if len(targets) == 0 {
		return "", 0, errors.New("redisstore: publish: no targets")
	}
	if maxPerID < 1 {
		return "", 0, fmt.Errorf("redisstore: publish: maxPerID %d is not positive", maxPerID)
	}
	lim := "-"
	if len(limiters) > 0 {
		for _, l := range limiters {
			if !validLimiter(l) {
				return "", 0, fmt.Errorf("redisstore: publish: invalid limiter %q", l)
			}
		}
		lim = strings.Join(limiters, ",")
	}
	var cleanMs int64
	if cleanAfter > 0 {
		cleanMs = max(cleanAfter.Milliseconds(), 1)
	}
	keys := make([]string, 2, 2+len(targets))
	keys[0], keys[1] = s.keyCursor, s.keyMsgSeq
	args := make([]any, 5, 5+2*len(targets))
	args[0], args[1], args[2], args[3], args[4] = maxPerID, cleanMs, lim, data, s.channelPfx
	for _, t := range targets {
		if t.ID == "" {
			return "", 0, errors.New("redisstore: publish: empty id")
		}
		if t.Cursor != "" && !validCursor(t.Cursor) {
			return "", 0, fmt.Errorf("redisstore: publish: invalid cursor %q", t.Cursor)
		}
		keys = append(keys, s.queueKey(t.ID))
		args = append(args, t.ID, t.Cursor)
	}
	res, err := publishScript.Run(ctx, s.client, keys, args...).Slice()
	if err != nil {
		return "", 0, fmt.Errorf("redisstore: publish: %w", err)
	}
	if len(res) != 2 {
		return "", 0, fmt.Errorf("redisstore: publish: unexpected reply %v", res)
	}
	cursor, ok1 := res[0].(string)
	msgID, ok2 := res[1].(int64)
	if !ok1 || !ok2 {
		return "", 0, fmt.Errorf("redisstore: publish: unexpected reply %v", res)
	}
	return cursor, msgID, nil
}

// History returns the queue of each id, oldest (lowest cursor) first: one
// LRANGE per distinct id, pipelined in one round trip. Ids with an empty
// queue are absent from the map.
func (s *Store) History(ctx context.Context, ids []string) (map[string][]Entry, error) {
	out := make(map[string][]Entry, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	seen := make(map[string]bool, len(ids))
	distinct := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			distinct = append(distinct, id)
		}
	}
	pipe := s.client.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(distinct))
	for i, id := range distinct {
		cmds[i] = pipe.LRange(ctx, s.queueKey(id), 0, -1)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redisstore: history: %w", err)
	}
	for i, id := range distinct {
		raw := cmds[i].Val()
		if len(raw) == 0 {
			continue
		}
		entries := make([]Entry, 0, len(raw))
		for _, r := range raw {
			e, err := decodeEntry(id, r)
			if err != nil {
				return nil, fmt.Errorf("redisstore: history: %s: %w", s.queueKey(id), err)
			}
			entries = append(entries, e)
		}
		out[id] = entries
	}
	return out, nil
}

// NextCursor generates a cursor, for a listener that came without one
// (R-CUR-6), in one round trip. It is strictly greater than every cursor
// generated before for this hub, by any node.
func (s *Store) NextCursor(ctx context.Context) (string, error) {
	c, err := nextCursorScript.Run(ctx, s.client, []string{s.keyCursor}).Text()
	if err != nil {
		return "", fmt.Errorf("redisstore: next cursor: %w", err)
	}
	return c, nil
}

// Event is one presence transition in the WATCH log.
type Event struct {
	Pos    int64
	Online bool
	ID     string
}

// AddEvent appends an event to the hub's WATCH log, keeping the newest
// retain events (retain >= 1), and returns its position. Positions are
// one hub-wide sequence starting at FirstEventPosition.
func (s *Store) AddEvent(ctx context.Context, online bool, id string, retain int) (int64, error) {
	if retain < 1 {
		return 0, fmt.Errorf("redisstore: add event: retain %d is not positive", retain)
	}
	kind := "offline"
	if online {
		kind = "online"
	}
	pos, err := addEventScript.Run(ctx, s.client, []string{s.keyEvSeq, s.keyEvents}, kind, id, retain).Int64()
	if err != nil {
		return 0, fmt.Errorf("redisstore: add event: %w", err)
	}
	return pos, nil
}

// Events returns the retained events with a position above after, oldest
// first, in one round trip.
func (s *Store) Events(ctx context.Context, after int64) ([]Event, error) {
	raw, err := eventsScript.Run(ctx, s.client, []string{s.keyEvents}, after).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redisstore: events: %w", err)
	}
	var out []Event
	for _, r := range raw {
		e, err := decodeEvent(r)
		if err != nil {
			return nil, fmt.Errorf("redisstore: events: %w", err)
		}
		if e.Pos > after {
			out = append(out, e)
		}
	}
	return out, nil
}

func decodeEvent(s string) (Event, error) {
	pos, rest, ok1 := strings.Cut(s, " ")
	kind, id, ok2 := strings.Cut(rest, " ")
	p, err := strconv.ParseInt(pos, 10, 64)
	if !ok1 || !ok2 || err != nil || (kind != "online" && kind != "offline") {
		return Event{}, fmt.Errorf("invalid event %q", s)
	}
	return Event{Pos: p, Online: kind == "online", ID: id}, nil
}

// NextEventPosition returns the position the next event will get
// (R-CMD-7).
func (s *Store) NextEventPosition(ctx context.Context) (int64, error) {
	n, err := s.client.Get(ctx, s.keyEvSeq).Int64()
	switch {
	case errors.Is(err, redis.Nil):
		return FirstEventPosition, nil
	case err != nil:
		return 0, fmt.Errorf("redisstore: next event position: %w", err)
	}
	return n + 1, nil
}
