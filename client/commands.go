package realplexor

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Online returns the ids that are online, with the namespace stripped, in
// the server's order (ascending bytes), like the PHP class's cmdOnline().
// An id is online while a browser polls it and for the server's
// offline_timeout after its last poll.
//
// With prefixes, only ids starting with one of them are listed; the
// namespace is added to each. Without prefixes the namespace alone is the
// prefix, and without a namespace every online id is listed. A prefix must
// match ^\w*$.
func (c *Client) Online(ctx context.Context, prefixes ...string) ([]string, error) {
	entries, err := c.online(ctx, prefixes)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.id
	}
	return ids, nil
}

// OnlineWithCounters is Online with, for every id, the number of polls
// parked on it now (0 for an id online only for its grace period), like
// the PHP class's cmdOnlineWithCounters(). The count is of connections,
// not of users: one browser listening to several ids counts once for each.
func (c *Client) OnlineWithCounters(ctx context.Context, prefixes ...string) (map[string]int, error) {
	entries, err := c.online(ctx, prefixes)
	if err != nil {
		return nil, err
	}
	counts := make(map[string]int, len(entries))
	for _, e := range entries {
		counts[e.id] = e.count
	}
	return counts, nil
}

type onlineEntry struct {
	id    string
	count int
}

// online sends `online[ <prefix>…]\n` (R-PHP-6) and parses the
// `<id> <count>\n` lines of the reply (R-CMD-5).
func (c *Client) online(ctx context.Context, prefixes []string) ([]onlineEntry, error) {
	if c.err != nil {
		return nil, c.err
	}
	ps, err := c.prefixes(prefixes)
	if err != nil {
		return nil, err
	}
	_, reply, err := c.post(ctx, "", []byte("online"+ps+"\n"))
	if err != nil {
		return nil, err
	}
	entries := []onlineEntry{}
	for _, line := range strings.Split(string(reply), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("%w: online line %q is not \"<id> <count>\"", ErrMalformedReply, line)
		}
		n, err := strconv.Atoi(f[1])
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w: online line %q: count is not a number", ErrMalformedReply, line)
		}
		entries = append(entries, onlineEntry{id: strings.TrimPrefix(f[0], c.namespace), count: n})
	}
	return entries, nil
}

// Event types of Watch.
const (
	EventOnline  = "online"  // the id came online: a browser started polling it
	EventOffline = "offline" // the id went offline: offline_timeout passed after its last poll
	EventFake    = "FAKE"    // the reply to Watch from 0: Pos is where the event log stands
)

// Event is one line of a Watch reply.
type Event struct {
	Type string // EventOnline, EventOffline or EventFake
	Pos  int64  // the event's position in the server's event log
	ID   string // the id, namespace stripped; "FAKE" for EventFake
}

// watchLineRE is the PHP class's event pattern (R-PHP-8).
var watchLineRE = regexp.MustCompile(`^(\w+)\s+([^:]+):(\S+)$`)

// Watch returns the online and offline events after position fromPos,
// oldest first and only the newest per id, like the PHP class's
// cmdWatch(). Prefixes and the namespace work as in Online.
//
// Watch from 0 returns just one EventFake whose Pos is the position the
// next event will get; continuing with Watch from there and then from the
// Pos of the last event received follows the log. The server, like the
// original, lists only events after the position given, so the event at
// exactly the FAKE position is not seen (kept for compatibility: the PHP
// class behaves the same); continue from Pos-1 after a FAKE event to see it
// (positions start at 10, so Pos-1 is never 0).
// The log is bounded by the server's event_chain_len.
func (c *Client) Watch(ctx context.Context, fromPos int64, prefixes ...string) ([]Event, error) {
	if c.err != nil {
		return nil, c.err
	}
	if fromPos < 0 {
		return nil, invalidf("position must not be negative, %d given", fromPos)
	}
	ps, err := c.prefixes(prefixes)
	if err != nil {
		return nil, err
	}
	_, reply, err := c.post(ctx, "", []byte("watch "+strconv.FormatInt(fromPos, 10)+ps+"\n"))
	if err != nil {
		return nil, err
	}
	events := []Event{}
	for _, line := range strings.Split(string(reply), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		m := watchLineRE.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("%w: cannot parse the event %q", ErrMalformedReply, line)
		}
		pos, err := strconv.ParseInt(m[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: event %q: position is not a whole number", ErrMalformedReply, line)
		}
		id := m[3]
		if fromPos != 0 { // as the PHP class: the FAKE line keeps its id
			id = strings.TrimPrefix(id, c.namespace)
		}
		events = append(events, Event{Type: m[1], Pos: pos, ID: id})
	}
	return events, nil
}

// prefixes renders the prefix arguments of ONLINE and WATCH: each with
// the namespace, or the namespace alone when none are given (R-PHP-6). The
// result is "" or starts with a space.
func (c *Client) prefixes(prefixes []string) (string, error) {
	if len(prefixes) == 0 {
		if c.namespace == "" {
			return "", nil
		}
		return " " + c.namespace, nil
	}
	var b strings.Builder
	all := false
	for _, p := range prefixes {
		if !wordsRE.MatchString(p) {
			return "", invalidf("prefix must be alphanumeric, %q given", p)
		}
		// An empty prefix matches every id, but the server cannot receive
		// it (prefixes are separated by white space): send none.
		all = all || c.namespace+p == ""
		b.WriteByte(' ')
		b.WriteString(c.namespace)
		b.WriteString(p)
	}
	if all {
		return "", nil
	}
	return b.String(), nil
}
