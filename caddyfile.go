package caddyrealplexor

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("realplexor", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("realplexor_wait", parseWait)
	httpcaddyfile.RegisterHandlerDirective("realplexor_publish", parsePublish)
	httpcaddyfile.RegisterHandlerDirective("realplexor_demo", parseDemo)
	// Both answer requests themselves, like respond: no `order` needed.
	httpcaddyfile.RegisterDirectiveOrder("realplexor_wait", httpcaddyfile.Before, "respond")
	httpcaddyfile.RegisterDirectiveOrder("realplexor_publish", httpcaddyfile.Before, "respond")
	httpcaddyfile.RegisterDirectiveOrder("realplexor_demo", httpcaddyfile.Before, "respond")
}

// parseGlobalOption parses the `realplexor` global option; it may appear
// once per hub:
//
//	realplexor [<hub>] {
//		wait_timeout            <duration>
//		offline_timeout         <duration>
//		clean_id_after          <duration>
//		max_data_for_id         <count>
//		event_chain_len         <count>
//		users_file              <path>
//		identifier              <name>
//		wait_maxlen             <size>
//		in_maxlen               <size>
//		charset                 <charset>
//		iframe_id               <id>
//		script_id               <id>
//		iframe_file             <path>
//		script_file             <path>
//		js_wait_uri             <path>
//		js_max_bounces          <count>
//		js_wait_reconnect_delay <duration>
//		js_debug
//		redis                   <url>
//		max_parked              <count>
//	}
func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	app := new(App)
	if existing != nil {
		prev, ok := existing.(httpcaddyfile.App)
		if !ok {
			return nil, d.Errf("realplexor: unexpected existing value %T", existing)
		}
		if err := json.Unmarshal(prev.Value, app); err != nil {
			return nil, d.Errf("realplexor: %v", err)
		}
	}
	if app.Hubs == nil {
		app.Hubs = make(map[string]*HubConfig)
	}
	d.Next() // the option name
	name := DefaultHub
	if d.NextArg() {
		name = d.Val()
		if !wordRE.MatchString(name) {
			return nil, d.Errf("hub name %q: must be letters, digits and _", name)
		}
	}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	if _, dup := app.Hubs[name]; dup {
		return nil, d.Errf("hub %q is configured twice", name)
	}
	d.Reset() // HubConfig reads the whole segment itself
	cfg := new(HubConfig)
	if err := cfg.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	app.Hubs[name] = cfg
	return httpcaddyfile.App{Name: "realplexor", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile reads a whole `realplexor [<hub>] { ... }` segment;
// see parseGlobalOption for the syntax. The hub name, if any, is the
// App's business and is skipped here.
func (c *HubConfig) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the option name
	d.NextArg()
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		if opt == "js_debug" {
			if d.NextArg() {
				return d.ArgErr()
			}
			c.JSDebug = true
			continue
		}
		val, ok := oneArg(d)
		if !ok {
			return d.ArgErr()
		}
		var err error
		switch opt {
		case "wait_timeout":
			err = parseDuration(val, &c.WaitTimeout)
		case "offline_timeout":
			err = parseDuration(val, &c.OfflineTimeout)
		case "clean_id_after":
			err = parseDuration(val, &c.CleanIDAfter)
		case "js_wait_reconnect_delay":
			err = parseDuration(val, &c.JSWaitReconnectDelay)
		case "max_data_for_id":
			err = parseCount(val, &c.MaxDataForID)
		case "event_chain_len":
			err = parseCount(val, &c.EventChainLen)
		case "js_max_bounces":
			err = parseCount(val, &c.JSMaxBounces)
		case "max_parked":
			err = parseCount(val, &c.MaxParked)
		case "wait_maxlen":
			err = parseSize(val, &c.WaitMaxLen)
		case "in_maxlen":
			err = parseSize(val, &c.InMaxLen)
		case "users_file":
			c.UsersFile = val
		case "identifier":
			c.Identifier = val
		case "charset":
			c.Charset = val
		case "iframe_id":
			c.IframeID = val
		case "script_id":
			c.ScriptID = val
		case "iframe_file":
			c.IframeFile = val
		case "script_file":
			c.ScriptFile = val
		case "js_wait_uri":
			c.JSWaitURI = val
		case "redis":
			c.Redis = val
		default:
			return d.Errf("unknown realplexor option %q", opt)
		}
		if err != nil {
			return d.Errf("%s: %v", opt, err)
		}
	}
	return c.Validate()
}

// Zero means "default" in the JSON config, so the Caddyfile refuses an
// explicit zero instead of silently turning it into the default.
func parseDuration(s string, dst *caddy.Duration) error {
	d, err := caddy.ParseDuration(s)
	if err != nil {
		return err
	}
	if d <= 0 {
		return fmt.Errorf("must be positive, got %s", s)
	}
	*dst = caddy.Duration(d)
	return nil
}

func parseCount(s string, dst *int) error {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return fmt.Errorf("must be a positive whole number, got %s", s)
	}
	*dst = n
	return nil
}

func parseSize(s string, dst *int64) error {
	n, err := humanize.ParseBytes(s)
	if err != nil || n == 0 || n > 1<<40 {
		return fmt.Errorf("must be a positive size such as 5KiB, got %s", s)
	}
	*dst = int64(n)
	return nil
}

// UnmarshalCaddyfile parses:
//
//	realplexor_wait [<matcher>] [<hub>] {
//		cors_origins <origin...>
//		keep_alive on|off
//	}
func (h *Wait) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return parseHubArg(d, &h.Hub, func(opt string) error {
		switch opt {
		case "cors_origins":
			origins := d.RemainingArgs()
			if len(origins) == 0 {
				return d.ArgErr()
			}
			h.CORSOrigins = append(h.CORSOrigins, origins...)
		case "keep_alive":
			v, ok := oneArg(d)
			if !ok {
				return d.ArgErr()
			}
			on, ok := map[string]bool{"on": true, "off": false}[v]
			if !ok {
				return d.Errf("keep_alive: must be on or off, got %q", v)
			}
			h.KeepAlive = &on
		default:
			return d.Errf("unknown option %q", opt)
		}
		return nil
	})
}

// UnmarshalCaddyfile parses:
//
//	realplexor_publish [<matcher>] [<hub>]
func (h *Publish) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return parseHubArg(d, &h.Hub, nil)
}

// oneArg reads an option's single value: false if it has none or more.
func oneArg(d *caddyfile.Dispenser) (string, bool) {
	if !d.NextArg() {
		return "", false
	}
	val := d.Val()
	return val, !d.NextArg()
}

// parseHubArg reads `<directive> [<hub>]` and hands each block option to
// option; a nil option means the directive takes no block.
func parseHubArg(d *caddyfile.Dispenser, hub *string, option func(name string) error) error {
	d.Next() // the directive name
	if d.NextArg() {
		*hub = d.Val()
		if !wordRE.MatchString(*hub) {
			return d.Errf("hub name %q: must be letters, digits and _", *hub)
		}
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		if option == nil {
			return d.Errf("unknown option %q", d.Val())
		}
		if err := option(d.Val()); err != nil {
			return err
		}
	}
	return nil
}

// UnmarshalCaddyfile parses:
//
//	realplexor_demo [<matcher>] [<hub>] {
//		namespace       <prefix>
//		max_text        <characters>
//		rate_per_minute <count>
//	}
func (h *Demo) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return parseHubArg(d, &h.Hub, func(opt string) error {
		val, ok := oneArg(d)
		if !ok {
			return d.ArgErr()
		}
		var err error
		switch opt {
		case "namespace":
			if !wordRE.MatchString(val) {
				return d.Errf("namespace %q: must be letters, digits and _", val)
			}
			h.Namespace = val
		case "max_text":
			err = parseCount(val, &h.MaxText)
		case "rate_per_minute":
			err = parseCount(val, &h.RatePerMinute)
		default:
			return d.Errf("unknown option %q", opt)
		}
		if err != nil {
			return d.Errf("%s: %v", opt, err)
		}
		return nil
	})
}

func parseDemo(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Demo)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

func parseWait(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Wait)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

func parsePublish(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Publish)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*HubConfig)(nil)
	_ caddyfile.Unmarshaler = (*Wait)(nil)
	_ caddyfile.Unmarshaler = (*Publish)(nil)
	_ caddyfile.Unmarshaler = (*Demo)(nil)
)
