// Package caddyrealplexor is a Caddy v2 module that serves the Dklab
// Realplexor comet protocol: browsers long-poll named channels through the
// realplexor_wait handler and back ends publish through realplexor_publish.
// The shared state lives in a hub (hub.go) configured by the realplexor app.
package caddyrealplexor

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(new(App))
	caddy.RegisterModule(new(Wait))
	caddy.RegisterModule(new(Publish))
}

// DefaultHub is the hub used when a directive or config names none.
const DefaultHub = "default"

// hubs holds every hub of the process by name. A hub outlives config
// reloads: each App instance takes a reference in Provision and drops it
// in Cleanup, and the hub is destroyed when the last reference goes.
var hubs = caddy.NewUsagePool()

// hubPoolKey names a hub in the pool. A hub shared through Redis is
// another hub than a standalone one of the same name: changing the redis
// setting on reload replaces the hub (its state is in Redis anyway).
func hubPoolKey(name, redisURL string) string {
	if redisURL == "" {
		return "realplexor.hub." + name
	}
	return "realplexor.hub." + name + "@" + redisURL
}

// App is the `realplexor` app: the settings of every hub.
type App struct {
	// Hubs maps a hub name to its settings. The hub "default" exists even
	// when it is not listed.
	Hubs map[string]*HubConfig `json:"hubs,omitempty"`

	hubs     map[string]*Hub
	pending  map[string]*settings // applied in Start, so a failed load changes nothing
	acquired []string
	logger   *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (*App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "realplexor", New: func() caddy.Module { return new(App) }}
}

// Provision takes a reference to each hub and prepares its new settings.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	a.hubs = make(map[string]*Hub)
	a.pending = make(map[string]*settings)
	configs := make(map[string]*HubConfig, len(a.Hubs)+1)
	for name, c := range a.Hubs {
		if c == nil {
			c = new(HubConfig)
		}
		configs[name] = c
	}
	if configs[DefaultHub] == nil {
		configs[DefaultHub] = new(HubConfig)
	}
	names := make([]string, 0, len(configs))
	for name := range configs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c := configs[name]
		if !wordRE.MatchString(name) {
			return fmt.Errorf("hub name %q: must be letters, digits and _", name)
		}
		if err := c.Validate(); err != nil {
			return fmt.Errorf("hub %s: %w", name, err)
		}
		s, warnings, err := c.build()
		if err != nil {
			return fmt.Errorf("hub %s: %w", name, err)
		}
		for _, w := range warnings {
			a.logger.Warn("users file line skipped", zap.String("hub", name), zap.String("users_file", c.UsersFile), zap.String("problem", w))
		}
		key := hubPoolKey(name, c.Redis)
		val, loaded, err := hubs.LoadOrNew(key, func() (caddy.Destructor, error) {
			opts := HubOptions{CursorFloorFile: cursorFloorPath(name)}
			if c.Redis != "" {
				client, err := dialRedis(c.Redis)
				if err != nil {
					return nil, fmt.Errorf("redis %s: %w", redactURL(c.Redis), err)
				}
				opts.Redis = client
			}
			return NewHub(name, opts)
		})
		if err != nil {
			return fmt.Errorf("hub %s: %w", name, err)
		}
		a.acquired = append(a.acquired, key)
		hub := val.(*Hub)
		a.hubs[name] = hub
		if loaded {
			a.pending[name] = s
			a.logger.Info("hub reused", zap.String("hub", name))
		} else {
			// Nobody else can see a fresh hub yet: configure it now, so
			// requests arriving before Start already get these settings.
			hub.configure(s)
			a.logger.Info("hub created", zap.String("hub", name))
		}
	}
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	events, err := ctx.App("events")
	if err != nil {
		return err
	}
	return events.(*caddyevents.App).On("stopping", stopHandler{a})
}

// cursorFloorPath is where a hub persists the floor under its generated
// cursors, in Caddy's data directory.
func cursorFloorPath(hub string) string {
	return filepath.Join(caddy.AppDataDir(), "realplexor", hub+".cursor")
}

// Validate is a no-op: each HubConfig was validated in Provision, before
// anything shared was touched.
func (a *App) Validate() error { return nil }

// Start applies the new settings to hubs kept from the previous config.
func (a *App) Start() error {
	for name, s := range a.pending {
		a.hubs[name].configure(s)
	}
	a.pending = nil
	return nil
}

// Stop does nothing: hubs survive reloads; see stopHandler for exit.
func (a *App) Stop() error { return nil }

// Cleanup drops this config's references to the hubs.
func (a *App) Cleanup() error {
	for _, key := range a.acquired {
		if _, err := hubs.Delete(key); err != nil {
			a.logger.Error("releasing hub", zap.String("hub", key), zap.Error(err))
		}
	}
	a.acquired = nil
	return nil
}

// hub returns the named hub of this config.
func (a *App) hub(name string) (*Hub, error) {
	if name == "" {
		name = DefaultHub
	}
	h, ok := a.hubs[name]
	if !ok {
		return nil, fmt.Errorf("hub %q is not configured: add `realplexor %s { ... }` to the global options", name, name)
	}
	return h, nil
}

// stopHandler answers every parked request when the process exits. It
// runs on the "stopping" event, before the HTTP servers shut down, because
// an exiting server waits for its requests: left parked, they would hold
// the exit for up to wait_timeout. On a plain reload the requests stay
// parked in the shared hub and keep receiving messages.
type stopHandler struct{ app *App }

func (s stopHandler) Handle(context.Context, caddy.Event) error {
	if !caddy.Exiting() {
		return nil
	}
	for name, h := range s.app.hubs {
		n := h.ReleaseAll()
		h.drainParked(2 * time.Second)
		s.app.logger.Info("shutting down: answered parked requests", zap.String("hub", name), zap.Int("requests", n))
	}
	return nil
}

// Wait is the `realplexor_wait` handler: the browser-facing WAIT line.
type Wait struct {
	// Hub names the hub to listen on. Default "default".
	Hub string `json:"hub,omitempty"`
	// Origins whose pages may poll from another site (CORS), such as
	// "https://www.example.com". "*" admits any origin, without cookies.
	CORSOrigins []string `json:"cors_origins,omitempty"`
	// KeepAlive lets a poll that asks for it ("Connection: keep-alive",
	// as browsers send) keep its connection for the next request, which
	// saves a TCP handshake and teardown per delivery. Default true;
	// false closes after every reply, as the original does (R-GEN-4).
	KeepAlive *bool `json:"keep_alive,omitempty"`

	hub    *Hub
	cors   *corsPolicy
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (*Wait) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.realplexor_wait", New: func() caddy.Module { return new(Wait) }}
}

// Provision finds the hub and prepares the CORS policy.
func (h *Wait) Provision(ctx caddy.Context) (err error) {
	h.logger = ctx.Logger()
	if h.cors, err = newCORSPolicy(h.CORSOrigins); err != nil {
		return err
	}
	h.hub, err = provisionHub(ctx, h.Hub)
	return err
}

// ServeHTTP answers one WAIT request (section 4 of the protocol spec).
func (h *Wait) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if h.cors.apply(w, r) {
		return nil
	}
	return serveWait(h.hub, h.logger, w, r, h.KeepAlive == nil || *h.KeepAlive)
}

// Publish is the `realplexor_publish` handler: the back-end IN line.
type Publish struct {
	// Hub names the hub to publish to. Default "default".
	Hub string `json:"hub,omitempty"`

	hub    *Hub
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (*Publish) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.realplexor_publish", New: func() caddy.Module { return new(Publish) }}
}

// Provision finds the hub.
func (h *Publish) Provision(ctx caddy.Context) (err error) {
	h.logger = ctx.Logger()
	h.hub, err = provisionHub(ctx, h.Hub)
	return err
}

// ServeHTTP answers one IN request: a publish or a command (section 6).
func (h *Publish) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	return servePublish(h.hub, h.logger, w, r)
}

func provisionHub(ctx caddy.Context, name string) (*Hub, error) {
	app, err := ctx.App("realplexor")
	if err != nil {
		return nil, err
	}
	return app.(*App).hub(name)
}

// Interface guards
var (
	_ caddy.App                   = (*App)(nil)
	_ caddy.Provisioner           = (*App)(nil)
	_ caddy.Validator             = (*App)(nil)
	_ caddy.CleanerUpper          = (*App)(nil)
	_ caddy.Provisioner           = (*Wait)(nil)
	_ caddyhttp.MiddlewareHandler = (*Wait)(nil)
	_ caddy.Provisioner           = (*Publish)(nil)
	_ caddyhttp.MiddlewareHandler = (*Publish)(nil)
	_ caddy.Destructor            = (*Hub)(nil)
	_ caddyevents.Handler         = stopHandler{}
)
