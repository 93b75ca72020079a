package caddyrealplexor

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// requestError is bad input: a 4xx status and a short reason.
type requestError struct {
	status int
	reason string
}

func (e *requestError) Error() string { return e.reason }

// unavailable is a request the shared store (Redis) could not serve.
func unavailable(err error) *requestError {
	return &requestError{http.StatusServiceUnavailable, "shared store unavailable: " + err.Error()}
}

func badRequest(format string, args ...any) *requestError {
	return &requestError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// ErrorHeader carries the reason of a refused request.
const ErrorHeader = "X-Realplexor-Error"

// refuseWait turns bad WAIT input into a Caddy error, so a site's
// handle_errors can shape the page; the reason also travels in a header,
// because without handle_errors Caddy sends the status alone.
func refuseWait(w http.ResponseWriter, err *requestError, logger *zap.Logger) error {
	w.Header().Set(ErrorHeader, err.reason)
	logger.Debug("wait request refused", zap.Int("status", err.status), zap.String("reason", err.reason))
	return caddyhttp.Error(err.status, errors.New(err.reason))
}

// refuseIn answers bad IN input with the reason as the body: the PHP
// client puts the body of a non-200 reply into its exception message
// (R-PHP-5), so a back-end developer sees why. It is logged at Info:
// a refused publish is a back-end bug worth seeing, unlike browser noise.
func refuseIn(hub *Hub, w http.ResponseWriter, err *requestError, logger *zap.Logger) error {
	logger.Info("publish refused", zap.Int("status", err.status), zap.String("reason", err.reason))
	hub.stats.publishError(err.status)
	w.Header().Set(ErrorHeader, err.reason)
	writePlain(w, err.status, err.reason+"\n")
	return nil
}

// readLimited reads the whole body, refusing one over limit bytes with 413.
func readLimited(r *http.Request, limit int64, option string) ([]byte, *requestError) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, badRequest("reading request body: %v", err)
	}
	if int64(len(body)) > limit {
		return nil, &requestError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %s (%d bytes)", option, limit)}
	}
	return body, nil
}
