package caddyrealplexor

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/net/http/httpguts"
)

// waitPrelude is what every parked poll receives first (R-WAIT-7): old
// browser consoles stay quiet about a pending request that has a body.
var waitPrelude = []byte(" \r\n")

// chunkedPrelude is the prelude as the first chunk of a kept-alive poll.
var chunkedPrelude = []byte("3\r\n \r\n\r\n")

// writeTimeoutMargin keeps a poll's own timeout inside the server's write
// timeout, so the poll ends with a clean empty reply rather than a cut
// connection.
const writeTimeoutMargin = 2 * time.Second

// CursorHeader carries the cursor a poll listens from when some ids were
// sent without one (R-ID-8, R-CUR-6). It is sent with the early headers,
// so a client that reconnects can continue from it and miss nothing in the
// reconnect gap (R-QUIRK-7, R-JS-21). The original client ignores it.
const CursorHeader = "X-Realplexor-Cursor"

// WaitTimeoutHeader tells the client how long this poll may park, in
// seconds: its bounce detection needs the real value (R-JS-16), which the
// original passed only to the iframe loader.
const WaitTimeoutHeader = "X-Realplexor-Wait-Timeout"

// serveWait answers one WAIT request: the static pages, or a long poll
// that parks until data, WAIT_TIMEOUT, the client leaving or shutdown.
func serveWait(hub *Hub, logger *zap.Logger, w http.ResponseWriter, r *http.Request, allowKeepAlive bool) error {
	cfg := hub.settings()
	list, rerr := findWaitMarker(r, cfg)
	if rerr != nil {
		return refuseWait(w, rerr, logger)
	}
	if len(list.Elements) == 0 {
		// The original closes without a byte (R-WAIT-5); a reason is kinder.
		return refuseWait(w, badRequest("Empty identifier passed"), logger)
	}
	switch list.Elements[0].ID { // R-WAIT-6: only the first element counts
	case cfg.iframeID:
		cfg.iframe.serve(w, r)
		return nil
	case cfg.scriptID:
		cfg.script.serve(w, r)
		return nil
	}

	if cfg.maxParked > 0 && hub.parked.Load() >= int64(cfg.maxParked) {
		hub.stats.pollsRefused.Add(1)
		// Refuse early, keeping open files for the publish line and the
		// rest of the server; the client retries with back-off.
		w.Header().Set("Retry-After", "5")
		w.Header().Set("Connection", "close")
		return refuseWait(w, &requestError{http.StatusServiceUnavailable, "too many parked polls (max_parked)"}, logger)
	}
	timeout := pollTimeout(cfg.waitTimeout, r, logger)
	waiter, err := hub.RegisterShared(list.Elements, timeout)
	if err != nil {
		return refuseWait(w, unavailable(err), logger)
	}

	h := w.Header()
	h.Set("Cache-Control", "no-store, no-cache, must-revalidate")
	h.Set("Expires", "Mon, 26 Jul 1997 05:00:00 GMT")
	h.Set("Content-Type", "text/javascript; charset="+cfg.charset)
	if lc := waiter.ListenCursor(); !lc.IsZero() {
		h.Set(CursorHeader, lc.String())
	}
	h.Set(WaitTimeoutHeader, seconds(timeout))
	keepAlive := allowKeepAlive && asksKeepAlive(r)
	if r.ProtoMajor == 1 && !keepAlive {
		// One poll per connection, body ended by closing it, as the
		// original does (R-GEN-4, R-PORT-3): "identity" makes net/http
		// skip chunking and close after the reply.
		h.Set("Connection", "close")
		h.Set("Transfer-Encoding", "identity")
	}

	waiter.proto = protoIndex(r.ProtoMajor)
	select {
	case <-waiter.Wake():
	default:
		if r.ProtoMajor == 1 && hijackPoll(hub, waiter, w, r, keepAlive, logger) {
			return nil // parked outside net/http (park.go)
		}
	}
	defer hub.Release(waiter, waitCancelled)
	defer func() { hub.stats.pollEnded(waiter) }()
	w.WriteHeader(http.StatusOK)

	immediate := false
	select {
	case <-waiter.Wake():
		immediate = true // data at registration (R-WAIT-9)
	default:
		if _, err := w.Write(waitPrelude); err != nil {
			return nil // client gone; the deferred Release unregisters it
		}
		if err := http.NewResponseController(w).Flush(); err != nil {
			return nil
		}
		hub.stats.parked[waiter.proto].Add(1)
		select {
		case <-waiter.Wake():
		case <-r.Context().Done():
			hub.finish(waiter, waitCancelled) // so the poll is counted as the client's
		}
		hub.stats.parked[waiter.proto].Add(-1)
	}

	outcome := waiter.Outcome()
	if outcome == WaitDelivered {
		body := waiter.Batch()
		if immediate {
			// One write for prelude and batch: one packet for the client.
			body = append(append(make([]byte, 0, len(waitPrelude)+len(body)), waitPrelude...), body...)
		}
		_, _ = w.Write(body) // a failed write means the client left; nothing to undo
	}
	if ce := logger.Check(zapcore.DebugLevel, "poll ended"); ce != nil {
		ce.Write(zap.String("outcome", outcome.String()), zap.Int("ids", len(waiter.subs)))
	}
	return nil
}

var warnWriteTimeoutOnce sync.Once

// fixedWaitHeaders come first, in the original's order (R-WAIT-7).
var fixedWaitHeaders = map[string]bool{"Connection": true, "Cache-Control": true, "Expires": true, "Content-Type": true, "Transfer-Encoding": true}

// asksKeepAlive reports whether a poll may keep its connection for the
// next request. The original closed after every reply (R-GEN-4) and its
// clients may read to the end of the connection, so only a client that
// says so explicitly gets to keep it: browsers send "Connection:
// keep-alive" with HTTP/1.1, raw-socket clients and plain HTTP libraries
// usually do not.
func asksKeepAlive(r *http.Request) bool {
	return r.ProtoMajor == 1 && r.ProtoMinor == 1 && !r.Close &&
		httpguts.HeaderValuesContainsToken(r.Header["Connection"], "keep-alive")
}

// hijackPoll takes over an HTTP/1.x poll's connection, writes the head
// and the prelude itself and parks the poll in the hub (park.go). It
// reports false, changing nothing, when the connection cannot be taken.
// A kept-alive poll's reply is chunked, the prelude its first chunk.
func hijackPoll(hub *Hub, waiter *waiter, w http.ResponseWriter, r *http.Request, keepAlive bool, logger *zap.Logger) bool {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if rw.Reader.Buffered() > 0 || srv == nil {
		// Bytes past the request (a pipelined one, say) are net/http's
		// to parse, not ours: this connection ends with the reply.
		keepAlive = false
	}
	// Let the access log tell hijacked polls apart: Caddy logs them when
	// the handler returns, before they are answered.
	if extra, ok := r.Context().Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields); ok {
		extra.Add(zap.Bool("realplexor_parked", true))
	}

	_ = conn.SetDeadline(time.Now().Add(parkWriteTimeout))
	_, err = conn.Write(parkedHead(w.Header(), keepAlive))
	_ = conn.SetDeadline(time.Time{})
	if err != nil {
		conn.Close()
		hub.Release(waiter, waitCancelled)
		hub.stats.pollEnded(waiter)
		return true
	}
	hub.stats.parked[waiter.proto].Add(1)
	hub.park(waiter, &parkedConn{conn: conn, hub: hub, keepAlive: keepAlive, srv: srv})
	if ce := logger.Check(zapcore.DebugLevel, "poll parked"); ce != nil {
		ce.Write(zap.Int("ids", len(waiter.subs)), zap.String("remote_ip", r.RemoteAddr), zap.Bool("keep_alive", keepAlive))
	}
	return true
}

// parkedHead is a hijacked poll's response head and prelude, the fixed
// headers first in the original's order (R-WAIT-7), then the others in
// byte order. It writes what net/http would, without its sorting pool:
// this runs once per poll.
func parkedHead(h http.Header, keepAlive bool) []byte {
	b := make([]byte, 0, 512)
	b = append(b, "HTTP/1.1 200 OK\r\n"...)
	if !keepAlive {
		b = append(b, "Connection: close\r\n"...)
	}
	for _, k := range []string{"Cache-Control", "Expires", "Content-Type"} {
		if v := h[k]; len(v) > 0 { // set by serveWait: canonical keys
			b = appendHeader(b, k, v[0])
		} else {
			b = appendHeader(b, k, "")
		}
	}
	var others [16]string
	keys := others[:0]
	for k := range h {
		if !fixedWaitHeaders[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			b = appendHeader(b, k, v)
		}
	}
	if keepAlive {
		b = append(b, "Transfer-Encoding: chunked\r\n\r\n"...)
		return append(b, chunkedPrelude...)
	}
	b = append(b, "\r\n"...)
	return append(b, waitPrelude...)
}

// appendHeader appends one header line; a line break in a value (which
// net/http would refuse to send) becomes a space.
func appendHeader(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ": "...)
	start := len(b)
	b = append(b, strings.TrimSpace(v)...)
	for i := start; i < len(b); i++ {
		if b[i] == '\r' || b[i] == '\n' {
			b[i] = ' '
		}
	}
	return append(b, "\r\n"...)
}

// pollTimeout clamps WAIT_TIMEOUT below the server's write timeout, which
// a handler cannot extend (see the conventions guide, long-poll rules).
func pollTimeout(waitTimeout time.Duration, r *http.Request, logger *zap.Logger) time.Duration {
	srv, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if !ok || srv.WriteTimeout <= 0 {
		return waitTimeout
	}
	limit := time.Duration(srv.WriteTimeout) - writeTimeoutMargin
	if waitTimeout <= limit {
		return waitTimeout
	}
	if limit < time.Second {
		limit = time.Second
	}
	warnWriteTimeoutOnce.Do(func() {
		logger.Warn("wait_timeout exceeds the server's write timeout; polls end earlier",
			zap.Duration("wait_timeout", waitTimeout), zap.Duration("write_timeout", time.Duration(srv.WriteTimeout)), zap.Duration("poll_timeout", limit))
	})
	return limit
}

// findWaitMarker looks for the id list where R-QUIRK-6 suggests, in this
// order: the raw query string, the X-Realplexor header, the body (the JS
// client's POST form for long lists). Other headers are not searched, so a
// cookie named like the marker cannot take over a poll.
func findWaitMarker(r *http.Request, cfg *settings) (IDList, *requestError) {
	if l, ok := findMarker(r.URL.RawQuery, cfg.identifier); ok {
		return l, drainBody(r, cfg.waitMaxLen)
	}
	if l, ok := findMarker(r.Header.Get("X-Realplexor"), cfg.identifier); ok {
		return l, drainBody(r, cfg.waitMaxLen)
	}
	body, err := readLimited(r, cfg.waitMaxLen, "wait_maxlen")
	if err != nil {
		return IDList{}, err
	}
	if l, ok := findMarker(string(body), cfg.identifier); ok {
		return l, nil
	}
	// R-PORT-4: answer at once rather than hold the connection open.
	return IDList{}, badRequest("no %s= in request", cfg.identifier)
}

// drainBody consumes a body the poll does not need: until it is read, Go
// cannot notice an HTTP/1.1 client hanging up. A GET has none, and
// reading it anyway costs a deadline reset per poll.
func drainBody(r *http.Request, limit int64) *requestError {
	if r.ContentLength == 0 {
		return nil
	}
	_, err := readLimited(r, limit, "wait_maxlen")
	return err
}
