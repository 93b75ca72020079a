package realplexor

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// IDCursor is one target of Send: a channel id (without the namespace)
// and an optional cursor.
type IDCursor struct {
	ID string
	// Cursor is a decimal number such as "42" or "1795308048.915"; "" lets
	// the server generate one. Polls receive the message when their own
	// cursor for the id is lower, so an explicit cursor is how a back end
	// replaces or orders messages itself.
	Cursor string
}

// IDs turns ids into targets without cursors.
func IDs(ids ...string) []IDCursor {
	out := make([]IDCursor, len(ids))
	for i, id := range ids {
		out[i] = IDCursor{ID: id}
	}
	return out
}

// SendResult is what Send knows about a stored message.
type SendResult struct {
	// Cursor is the cursor the server generated for the targets sent
	// without one, taken from the X-Realplexor-Cursor reply header. It is
	// "" when every target carried a cursor, or when the server does not
	// report it (the original Realplexor never does).
	Cursor string
	// Cursors maps each target id (without the namespace) to its cursor,
	// when known: the one given, or else Cursor when the server reported it
	// (for an id listed twice, the later one).
	Cursors map[string]string
	// Skipped is how many ids the server skipped because they do not start
	// with the login's prefix (the X-Realplexor-Skipped reply header). The
	// Client adds that prefix itself, so it is 0 in practice.
	Skipped int
}

// Send publishes data to the ids, like the PHP class's send().
//
// data is encoded with encoding/json (as PHP's json_encode does), except a
// json.RawMessage, which is sent as it is and must be valid JSON. The
// namespace is added to every id and limiter. Ids and limiters must match
// ^\w+$ and cursors ^\d+(\.\d+)?$; otherwise nothing is sent and the error
// (`identifier must be alphanumeric, "<id>" given`, …) wraps
// ErrInvalidArgument.
//
// limiters restrict the message to the polls that also listen to one of
// them (the PHP class's $showOnlyForIds); a limiter receives nothing
// itself.
//
// A nil error means the server stored the message. The server does not
// acknowledge delivery to browsers: whoever listens to an id now gets the
// message at once, later polls with a lower cursor get it from the id's
// buffer.
func (c *Client) Send(ctx context.Context, ids []IDCursor, data any, limiters ...string) (SendResult, error) {
	if c.err != nil {
		return SendResult{}, c.err
	}
	if len(ids) == 0 {
		return SendResult{}, invalidf("no ids to send to")
	}
	var list strings.Builder
	for i, t := range ids {
		if !idRE.MatchString(t.ID) {
			return SendResult{}, invalidf("identifier must be alphanumeric, %q given", t.ID)
		}
		if t.Cursor != "" && !cursorRE.MatchString(t.Cursor) {
			return SendResult{}, invalidf("cursor must be numeric, %q given", t.Cursor)
		}
		if i > 0 {
			list.WriteByte(',')
		}
		if t.Cursor != "" {
			list.WriteString(t.Cursor)
			list.WriteByte(':')
		}
		list.WriteString(c.namespace)
		list.WriteString(t.ID)
	}
	// Unlike the PHP class, limiters are checked too: the server drops an
	// invalid one silently, which would make the message public.
	for _, l := range limiters {
		if !idRE.MatchString(l) {
			return SendResult{}, invalidf("limiter must be alphanumeric, %q given", l)
		}
		list.WriteString(",*")
		list.WriteString(c.namespace)
		list.WriteString(l)
	}

	var body []byte
	if raw, ok := data.(json.RawMessage); ok {
		if !json.Valid(raw) {
			return SendResult{}, invalidf("data is not valid JSON")
		}
		body = raw
	} else {
		var err error
		if body, err = json.Marshal(data); err != nil {
			return SendResult{}, fmt.Errorf("%w: encoding data: %w", ErrInvalidArgument, err)
		}
	}

	header, _, err := c.post(ctx, list.String(), body)
	if err != nil {
		return SendResult{}, err
	}
	res := SendResult{Cursors: make(map[string]string, len(ids))}
	// The server may report the generated cursor; a malformed value is
	// ignored rather than reported, because the message was stored.
	if v := strings.TrimSpace(header.Get("X-Realplexor-Cursor")); cursorRE.MatchString(v) {
		res.Cursor = v
	}
	for _, t := range ids {
		switch {
		case t.Cursor != "":
			res.Cursors[t.ID] = t.Cursor
		case res.Cursor != "":
			res.Cursors[t.ID] = res.Cursor
		}
	}
	if n, err := strconv.Atoi(header.Get("X-Realplexor-Skipped")); err == nil && n > 0 {
		res.Skipped = n
	}
	return res, nil
}
