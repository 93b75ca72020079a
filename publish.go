package caddyrealplexor

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// servePublish answers one IN request (section 6 of the protocol spec).
//
// Nothing here watches the request context: the PHP and Python clients
// half-close their socket after the body, which makes Go cancel the
// context although the client is still reading the reply.
func servePublish(hub *Hub, logger *zap.Logger, w http.ResponseWriter, r *http.Request) error {
	cfg := hub.settings()
	// Read the whole body before any reply: closing a socket with unread
	// bytes resets it, and the client would lose the reply.
	body, rerr := readLimited(r, cfg.inMaxLen, "in_maxlen") // R-QUIRK-3: 413, nothing published
	if rerr != nil {
		return refuseIn(hub, w, rerr, logger)
	}
	list, found := findPublishMarker(r, cfg.identifier)

	// Credentials are checked on every request, as a guest when there
	// are none, commands included (R-IN-3, R-AUTH-5, R-CMD-12).
	if refusal := cfg.users.Authenticate(list.Login, list.Password, list.HasCreds); refusal != "" {
		logger.Info("publisher refused", zap.String("login", list.Login), zap.String("reason", refusal), zap.String("remote_ip", r.RemoteAddr))
		hub.stats.loginsRefused.Add(1)
		return writeAccessDenied(w, r, refusal)
	}

	// R-QUIRK-5 fixed: a body is a command only when no id is listed and
	// the whole body is one command line.
	if len(list.Elements) == 0 {
		if cmd, ok := parseCommand(body); ok {
			return runCommand(hub, cmd, list, w, r, logger)
		}
	}
	if !found {
		return refuseIn(hub, w, badRequest("no identifier: send the ids in the X-Realplexor header"), logger)
	}

	var targets []Element
	var limiters []string
	skipped := 0
	for _, e := range list.Elements {
		switch {
		case e.Limiter: // R-ID-7; limiters ignore the login rule (R-AUTH-9)
			limiters = append(limiters, e.ID)
		case list.HasCreds && !strings.HasPrefix(e.ID, list.Login+"_"):
			skipped++ // R-AUTH-6, R-IN-8: silently not stored
		default:
			targets = append(targets, e)
		}
	}
	if len(targets) == 0 {
		if skipped > 0 {
			// The original answers nothing here (R-IN-13); a success with a
			// header keeps PHP clients working and still tells the caller.
			logger.Info("ids not owned by login skipped", zap.String("login", list.Login), zap.Int("skipped", skipped))
			w.Header().Set("X-Realplexor-Skipped", strconv.Itoa(skipped))
			w.WriteHeader(http.StatusOK)
			return nil
		}
		return refuseIn(hub, w, badRequest("no ids to publish to"), logger)
	}
	if len(body) == 0 {
		// R-QUIRK-8 fixed: an empty body would render as invalid JSON.
		return refuseIn(hub, w, badRequest("empty body: nothing to publish"), logger)
	}
	if !json.Valid(body) {
		// The body is spliced verbatim into every listener's reply
		// (R-WAIT-13): one invalid message would make the whole batch
		// unparseable and stall the channel for every browser.
		return refuseIn(hub, w, badRequest("body is not valid JSON"), logger)
	}
	res, err := hub.PublishShared(targets, limiters, body)
	if err != nil {
		// Not stored, so not acknowledged: the publisher may retry.
		logger.Error("publish not stored", zap.Error(err))
		return refuseIn(hub, w, unavailable(err), logger)
	}
	if ce := logger.Check(zapcore.DebugLevel, "published"); ce != nil {
		ce.Write(zap.Int("ids", len(targets)), zap.Int("limiters", len(limiters)), zap.Int("bytes", len(body)),
			zap.Int("delivered", res.Delivered), zap.Int("skipped", skipped))
	}
	if skipped > 0 {
		w.Header().Set("X-Realplexor-Skipped", strconv.Itoa(skipped))
	}
	if !res.Cursor.IsZero() {
		// The cursor given to the ids sent without one, for back ends
		// that want to know it; the original clients ignore headers.
		w.Header().Set(CursorHeader, res.Cursor.String())
	}
	hub.stats.published.Add(1)
	// R-QUIRK-4: 200 with an empty body (Content-Length: 0), which the PHP
	// and Python clients take as success (R-PHP-9).
	w.WriteHeader(http.StatusOK)
	return nil
}

// findPublishMarker takes the list from the X-Realplexor header, or else
// the raw query string (R-QUIRK-6). The body is data, never searched.
func findPublishMarker(r *http.Request, identifier string) (IDList, bool) {
	for _, v := range r.Header.Values("X-Realplexor") {
		if l, ok := findMarker(v, identifier); ok {
			return l, true
		}
	}
	return findMarker(r.URL.RawQuery, identifier)
}

// writeAccessDenied writes the original's 403 byte for byte (R-IN-16,
// R-QUIRK-1): PHP clients put the misspelt reason phrase into their
// exception messages. net/http cannot send a custom reason phrase, so on
// HTTP/1.x the connection is taken over for this one reply.
func writeAccessDenied(w http.ResponseWriter, r *http.Request, message string) error {
	body := message + "\n"
	if r.ProtoMajor == 1 {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err == nil {
			defer conn.Close()
			_, _ = rw.WriteString("HTTP/1.0 403 Access Deined\r\nContent-Type: text/plain\r\nContent-Length: " +
				strconv.Itoa(len(body)) + "\r\n\r\n" + body)
			_ = rw.Flush()
			return nil
		}
	}
	// HTTP/2 and HTTP/3 have no reason phrase; the status and body remain.
	writePlain(w, http.StatusForbidden, body)
	return nil
}

// writePlain writes a text/plain reply with an exact Content-Length, the
// framing of every command reply (R-CMD-3).
func writePlain(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
