package caddyrealplexor

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

func init() {
	caddy.RegisterModule(new(Demo))
}

// Demo is the `realplexor_demo` handler: the sandbox of the original
// announcement. GET serves the page (two "browsers": channels on top, a
// send form below); POST is the page's server side, which publishes what a
// visitor typed. It is safe on a public site: it only publishes into its
// own namespace, one channel per request, size- and rate-limited, and
// never exposes the IN line.
type Demo struct {
	// Hub names the hub to publish to. Default "default".
	Hub string `json:"hub,omitempty"`
	// Namespace prefixes every demo channel. Default "demo_".
	Namespace string `json:"namespace,omitempty"`
	// MaxText is the longest message, in characters. Default 500.
	MaxText int `json:"max_text,omitempty"`
	// RatePerMinute is how many messages one client address may send per
	// minute (bursts of up to 5). Default 20.
	RatePerMinute int `json:"rate_per_minute,omitempty"`

	hub      *Hub
	page     string
	limiters *clientLimiters
	logger   *zap.Logger
}

const (
	defaultDemoNamespace = "demo_"
	defaultDemoMaxText   = 500
	defaultDemoRate      = 20
	demoBurst            = 5
	demoMaxAuthor        = 32
	demoMaxBody          = 16 << 10
)

var demoChannelRE = regexp.MustCompile(`^[A-Za-z0-9]{1,32}$`)

// CaddyModule returns the Caddy module information.
func (*Demo) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.realplexor_demo", New: func() caddy.Module { return new(Demo) }}
}

// Provision applies defaults and prepares the page.
func (h *Demo) Provision(ctx caddy.Context) (err error) {
	h.logger = ctx.Logger()
	h.Namespace = orDefault(h.Namespace, defaultDemoNamespace)
	h.MaxText = orDefault(h.MaxText, defaultDemoMaxText)
	h.RatePerMinute = orDefault(h.RatePerMinute, defaultDemoRate)
	page, err := embeddedJS.ReadFile(embeddedDemo)
	if err != nil {
		return err
	}
	h.page = strings.NewReplacer("__RPL_NAMESPACE__", h.Namespace, "__RPL_MAX_TEXT__", strconv.Itoa(h.MaxText)).Replace(string(page))
	h.limiters = newClientLimiters(rate.Limit(float64(h.RatePerMinute)/60), demoBurst)
	h.hub, err = provisionHub(ctx, h.Hub)
	return err
}

// Validate checks the settings.
func (h *Demo) Validate() error {
	if !wordRE.MatchString(h.Namespace) {
		return fmt.Errorf("namespace: must be letters, digits and _, got %q", h.Namespace)
	}
	if h.MaxText <= 0 || h.RatePerMinute <= 0 {
		return fmt.Errorf("max_text and rate_per_minute must be positive, got %d and %d", h.MaxText, h.RatePerMinute)
	}
	return nil
}

// ServeHTTP serves the page or publishes a visitor's message.
func (h *Demo) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		// The path lands inside a JS string of the page: escape it, or a
		// crafted URL would script the WAIT origin.
		page := strings.Replace(h.page, "__RPL_SEND_URL__", template.JSEscapeString(r.URL.Path), 1)
		_, _ = w.Write([]byte(page))
		return nil
	case http.MethodPost:
		return h.send(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		return caddyhttp.Error(http.StatusMethodNotAllowed, errors.New("use GET or POST"))
	}
}

// demoMessage is what the page sends and, with a time, what it receives.
type demoMessage struct {
	Channel string `json:"channel,omitempty"`
	Author  string `json:"author"`
	Text    string `json:"text"`
	Time    string `json:"time,omitempty"`
}

func (h *Demo) send(w http.ResponseWriter, r *http.Request) error {
	var m demoMessage
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, demoMaxBody))
	if err := dec.Decode(&m); err != nil {
		return demoReply(w, http.StatusBadRequest, "send JSON: {\"channel\": ..., \"author\": ..., \"text\": ...}")
	}
	m.Author, m.Text = strings.TrimSpace(m.Author), strings.TrimSpace(m.Text)
	switch {
	case !demoChannelRE.MatchString(m.Channel):
		return demoReply(w, http.StatusBadRequest, "channel: 1 to 32 letters and digits")
	case !utf8.ValidString(m.Text) || !utf8.ValidString(m.Author):
		return demoReply(w, http.StatusBadRequest, "text must be UTF-8")
	case m.Text == "":
		return demoReply(w, http.StatusBadRequest, "text is empty")
	case utf8.RuneCountInString(m.Text) > h.MaxText:
		return demoReply(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("text: at most %d characters", h.MaxText))
	case utf8.RuneCountInString(m.Author) > demoMaxAuthor:
		return demoReply(w, http.StatusBadRequest, fmt.Sprintf("author: at most %d characters", demoMaxAuthor))
	}
	// Only valid messages spend the sender's allowance, so a typo gets
	// its reason rather than a wait.
	if !h.limiters.allow(clientAddr(r)) {
		w.Header().Set("Retry-After", strconv.Itoa(int(60/h.RatePerMinute)+1))
		return demoReply(w, http.StatusTooManyRequests, "too many messages: wait a little")
	}
	id := h.Namespace + m.Channel
	m.Channel, m.Time = "", time.Now().UTC().Format(time.RFC3339)
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	h.hub.Publish([]Element{{ID: id}}, nil, data)
	return demoReply(w, http.StatusOK, "")
}

func demoReply(w http.ResponseWriter, status int, reason string) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if status == http.StatusOK {
		_, _ = w.Write([]byte(`{"ok":true}`))
		return nil
	}
	b, _ := json.Marshal(map[string]string{"error": reason})
	_, _ = w.Write(b)
	return nil
}

// clientAddr is the client's IP as Caddy determined it (trusted proxies
// applied), falling back to the socket's peer.
func clientAddr(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// clientLimiters is a token bucket per client address. The table is
// dropped whole when it grows past a bound: the worst case is a fresh
// burst for everyone, never unbounded memory.
type clientLimiters struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	clients map[string]*rate.Limiter
}

const maxDemoClients = 10000

func newClientLimiters(every rate.Limit, burst int) *clientLimiters {
	return &clientLimiters{every: every, burst: burst, clients: make(map[string]*rate.Limiter)}
}

func (c *clientLimiters) allow(addr string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.clients[addr]
	if !ok {
		if len(c.clients) >= maxDemoClients {
			c.clients = make(map[string]*rate.Limiter)
		}
		l = rate.NewLimiter(c.every, c.burst)
		c.clients[addr] = l
	}
	return l.Allow()
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Demo)(nil)
	_ caddy.Validator             = (*Demo)(nil)
	_ caddyhttp.MiddlewareHandler = (*Demo)(nil)
)
