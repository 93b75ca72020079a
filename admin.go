package caddyrealplexor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func init() {
	caddy.RegisterModule(new(AdminAPI))
}

// AdminAPI is the `admin.api.realplexor` module: hub state and a publish
// endpoint on Caddy's admin API, wherever Caddy's admin endpoint listens
// (it opens no port of its own). Caddy loads every registered admin.api
// module by itself; there is nothing to configure.
//
// Admin modules cannot see handler instances, so it reads the process-wide
// hub pool. Routes (JSON replies; errors are Caddy's `{"error": "…"}`):
//
//	GET  /realplexor/                      hubs and their storage counters
//	GET  /realplexor/<hub>                 one hub and its counters
//	GET  /realplexor/<hub>/online?prefix=… online ids with listener counts
//	GET  /realplexor/<hub>/watch?from=<pos>&prefix=…
//	                                       presence events at or after pos
//	GET  /realplexor/<hub>/channels/<id>   buffer and listeners of one id
//	POST /realplexor/<hub>/publish         {"ids":[…],"cursors":{…},"limiters":[…],"data":…}
//	GET  /realplexor/<hub>/live            the hub exists
//	GET  /realplexor/<hub>/ready           the hub can serve (Redis answers PING)
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (*AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "admin.api.realplexor", New: func() caddy.Module { return new(AdminAPI) }}
}

// Routes registers the /realplexor/ tree.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/realplexor/", Handler: caddy.AdminHandlerFunc(a.serve)}}
}

// adminReadyTimeout bounds the Redis PING of the ready endpoint.
const adminReadyTimeout = 2 * time.Second

// adminHub is one hub in the listing.
type adminHub struct {
	Name string `json:"name"`
	// Shared is true for a hub shared between nodes through Redis; its
	// counters then describe this node's mirror.
	Shared bool `json:"shared"`
	// Redis is the store's address, password redacted.
	Redis string `json:"redis,omitempty"`
	// References counts the loaded configs using the hub; 0 while a
	// replaced hub is being released.
	References int      `json:"references"`
	Counters   Counters `json:"counters"`
}

// adminEvent is one presence event of the watch endpoint.
type adminEvent struct {
	Type string `json:"type"` // "online" or "offline"
	Pos  int64  `json:"pos"`
	ID   string `json:"id"`
}

// adminWatchReply is the watch endpoint's reply. Events is absent for the
// initial request (no from, or from=0).
type adminWatchReply struct {
	// Next is the position the next event will get: pass it as `from`
	// to get every event after this reply, none skipped.
	Next   int64         `json:"next"`
	Events *[]adminEvent `json:"events,omitempty"`
}

// adminOnline is one online id.
type adminOnline struct {
	ID        string `json:"id"`
	Listeners int    `json:"listeners"`
}

// adminPublishRequest is the body of POST /realplexor/<hub>/publish.
type adminPublishRequest struct {
	// IDs receive the message.
	IDs []string `json:"ids"`
	// Cursors gives some ids their own cursor; the others get a generated one.
	Cursors map[string]string `json:"cursors,omitempty"`
	// Limiters restrict the message to polls that also listen to one of them.
	Limiters []string `json:"limiters,omitempty"`
	// Data is the message, any JSON value, stored verbatim.
	Data json.RawMessage `json:"data"`
}

// adminPublishReply is the publish endpoint's reply.
type adminPublishReply struct {
	// Cursor is the generated cursor, empty when every id had its own.
	Cursor string `json:"cursor"`
}

type adminStatus struct {
	Status string `json:"status"`
}

func (a *AdminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	rest := strings.TrimPrefix(r.URL.Path, "/realplexor/")
	if rest == "" {
		if err := allowMethods(w, r, http.MethodGet); err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, listHubs())
	}
	name, route, _ := strings.Cut(rest, "/")
	entry, ok := findHub(name)
	if !ok {
		return apiError(http.StatusNotFound, "hub %q not found", name)
	}
	hub := entry.hub
	switch {
	case route == "":
		if err := allowMethods(w, r, http.MethodGet); err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, entry.describe())
	case route == "online":
		if err := allowMethods(w, r, http.MethodGet); err != nil {
			return err
		}
		return adminOnlineIDs(w, r, hub)
	case route == "watch":
		if err := allowMethods(w, r, http.MethodGet); err != nil {
			return err
		}
		return adminWatch(w, r, hub)
	case strings.HasPrefix(route, "channels/"):
		if err := allowMethods(w, r, http.MethodGet); err != nil {
			return err
		}
		return adminChannel(w, hub, strings.TrimPrefix(route, "channels/"))
	case route == "publish":
		if err := allowMethods(w, r, http.MethodPost); err != nil {
			return err
		}
		return adminPublish(w, r, hub)
	case route == "live":
		if err := allowMethods(w, r, http.MethodGet); err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, adminStatus{"ok"})
	case route == "ready":
		if err := allowMethods(w, r, http.MethodGet); err != nil {
			return err
		}
		return adminReady(w, r, hub)
	}
	return apiError(http.StatusNotFound, "no such endpoint: %s", r.URL.Path)
}

// poolHub is a hub of the pool with its key.
type poolHub struct {
	key  string
	hub  *Hub
	refs int
}

func (p poolHub) describe() adminHub {
	d := adminHub{Name: p.hub.Name(), Shared: p.hub.Shared(), References: p.refs, Counters: p.hub.Counters()}
	if _, url, ok := strings.Cut(p.key, "@"); ok {
		d.Redis = redactURL(url)
	}
	return d
}

// poolHubs snapshots the pool. References are read after Range, which
// holds the pool's read lock.
func poolHubs() []poolHub {
	var out []poolHub
	hubs.Range(func(k, v any) bool {
		key, _ := k.(string)
		if h, ok := v.(*Hub); ok && h != nil {
			out = append(out, poolHub{key: key, hub: h})
		}
		return true
	})
	for i := range out {
		out[i].refs, _ = hubs.References(out[i].key)
	}
	slices.SortFunc(out, func(a, b poolHub) int { return strings.Compare(a.key, b.key) })
	return out
}

func listHubs() []adminHub {
	out := []adminHub{}
	for _, p := range poolHubs() {
		out = append(out, p.describe())
	}
	return out
}

// findHub returns the hub with that name. A standalone and a Redis-shared
// hub of one name coexist while a reload switches between them: the one
// in use (most references; the shared one on a tie) wins.
func findHub(name string) (poolHub, bool) {
	var best poolHub
	found := false
	for _, p := range poolHubs() {
		if p.hub.Name() != name {
			continue
		}
		if !found || p.refs > best.refs || p.refs == best.refs && p.hub.Shared() && !best.hub.Shared() {
			best, found = p, true
		}
	}
	return best, found
}

// queryPrefixes returns the non-empty prefix parameters.
func queryPrefixes(r *http.Request) []string {
	var out []string
	for _, p := range r.URL.Query()["prefix"] {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

func adminOnlineIDs(w http.ResponseWriter, r *http.Request, hub *Hub) error {
	ids, err := hub.OnlineShared(prefixFilter(queryPrefixes(r), IDList{}, false))
	if err != nil {
		return storeUnavailable(err)
	}
	out := make([]adminOnline, len(ids))
	for i, o := range ids {
		out[i] = adminOnline{ID: o.ID, Listeners: o.Listeners}
	}
	return writeJSON(w, http.StatusOK, out)
}

// adminWatch answers the watch endpoint. Unlike the IN line's WATCH, whose
// argument is exclusive (and whose initial `FAKE <next>` then skips event
// <next>, R-QUIRK-2), `from` is inclusive: `from=<next>` misses nothing.
func adminWatch(w http.ResponseWriter, r *http.Request, hub *Hub) error {
	var from int64
	if s := r.URL.Query().Get("from"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return apiError(http.StatusBadRequest, "from: must be a non-negative integer position, got %q", s)
		}
		from = n
	}
	next, err := hub.NextEventPositionShared()
	if err != nil {
		return storeUnavailable(err)
	}
	if from == 0 {
		return writeJSON(w, http.StatusOK, adminWatchReply{Next: next})
	}
	evs, err := hub.WatchShared(positionCursor(from-1), prefixFilter(queryPrefixes(r), IDList{}, false))
	if err != nil {
		return storeUnavailable(err)
	}
	events := make([]adminEvent, len(evs))
	for i, e := range evs {
		typ := "offline"
		if e.Online {
			typ = "online"
		}
		events[i] = adminEvent{Type: typ, Pos: e.Position, ID: e.ID}
		// An event logged between the two reads is in the list: continue
		// after it.
		next = max(next, e.Position+1)
	}
	return writeJSON(w, http.StatusOK, adminWatchReply{Next: next, Events: &events})
}

func adminChannel(w http.ResponseWriter, hub *Hub, id string) error {
	if !isID(id) {
		return apiError(http.StatusBadRequest, "channel id %q: must be letters, digits and _", id)
	}
	info, ok, err := hub.ChannelInfoShared(id)
	if err != nil {
		return storeUnavailable(err)
	}
	if !ok {
		return apiError(http.StatusNotFound, "channel %q not found: nothing buffered, nobody listening", id)
	}
	return writeJSON(w, http.StatusOK, info)
}

// adminPublishOverhead is what the publish body may hold beyond the data
// (ids, cursors, limiters).
const adminPublishOverhead = 1 << 20

func adminPublish(w http.ResponseWriter, r *http.Request, hub *Hub) error {
	maxData := hub.settings().inMaxLen
	body, err := io.ReadAll(io.LimitReader(r.Body, maxData+adminPublishOverhead+1))
	if err != nil {
		return apiError(http.StatusBadRequest, "reading body: %v", err)
	}
	if int64(len(body)) > maxData+adminPublishOverhead {
		return apiError(http.StatusRequestEntityTooLarge, "body too large")
	}
	var req adminPublishRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return apiError(http.StatusBadRequest, "body: not a valid publish request: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return apiError(http.StatusBadRequest, "body: unexpected data after the JSON object")
	}
	targets, limiters, err := req.validate()
	if err != nil {
		return apiError(http.StatusBadRequest, "%v", err)
	}
	if int64(len(req.Data)) > maxData {
		return apiError(http.StatusRequestEntityTooLarge, "data: over in_maxlen (%d bytes)", maxData)
	}
	res, err := hub.PublishShared(targets, limiters, req.Data)
	if err != nil {
		return storeUnavailable(err)
	}
	return writeJSON(w, http.StatusOK, adminPublishReply{Cursor: res.Cursor.String()})
}

// validate checks the request and builds the publish's targets.
func (req *adminPublishRequest) validate() ([]Element, []string, error) {
	if len(req.IDs) == 0 {
		return nil, nil, errors.New("ids: at least one id is required")
	}
	targets := make([]Element, len(req.IDs))
	for i, id := range req.IDs {
		if !isID(id) {
			return nil, nil, fmt.Errorf("ids: %q is not an id (letters, digits and _)", id)
		}
		targets[i].ID = id
	}
	for id, s := range req.Cursors {
		if !slices.Contains(req.IDs, id) {
			return nil, nil, fmt.Errorf("cursors: %q is not one of the ids", id)
		}
		c, ok := ParseCursor(s)
		if !ok {
			return nil, nil, fmt.Errorf("cursors: %s: %q is not a cursor (digits, optionally a dot and digits)", id, s)
		}
		for i := range targets {
			if targets[i].ID == id {
				targets[i].Cursor = c
			}
		}
	}
	for _, l := range req.Limiters {
		if !isID(l) {
			return nil, nil, fmt.Errorf("limiters: %q is not an id (letters, digits and _)", l)
		}
	}
	if len(req.Data) == 0 {
		return nil, nil, errors.New(`data: required (any JSON value, such as "text" or {"a":1})`)
	}
	if !json.Valid(req.Data) {
		return nil, nil, errors.New("data: not valid JSON")
	}
	return targets, req.Limiters, nil
}

func adminReady(w http.ResponseWriter, r *http.Request, hub *Hub) error {
	if hub.broker != nil {
		ctx, cancel := context.WithTimeout(r.Context(), adminReadyTimeout)
		defer cancel()
		if err := hub.broker.client.Ping(ctx).Err(); err != nil {
			return apiError(http.StatusServiceUnavailable, "redis: %v", err)
		}
	}
	return writeJSON(w, http.StatusOK, adminStatus{"ok"})
}

func allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) error {
	if slices.Contains(methods, r.Method) {
		return nil
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	return caddy.APIError{
		HTTPStatus: http.StatusMethodNotAllowed,
		Err:        fmt.Errorf("method %s not allowed; use %s", r.Method, strings.Join(methods, ", ")),
	}
}

func apiError(status int, format string, args ...any) error {
	return caddy.APIError{HTTPStatus: status, Err: fmt.Errorf(format, args...)}
}

func storeUnavailable(err error) error {
	return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: fmt.Errorf("shared store unavailable: %w", err)}
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

// Interface guards
var (
	_ caddy.AdminRouter = (*AdminAPI)(nil)
)
