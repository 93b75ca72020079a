package caddyrealplexor

import (
	"fmt"
	"regexp"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// HubConfig is one hub's settings, set by the `realplexor` global option.
// Every field is optional; zero means the original's default (section 10
// of the protocol spec).
type HubConfig struct {
	// How long a WAIT request stays parked without data (WAIT_TIMEOUT). Default 300s.
	WaitTimeout caddy.Duration `json:"wait_timeout,omitempty"`
	// How long an id stays online after its last listener left (OFFLINE_TIMEOUT). Default 30s.
	OfflineTimeout caddy.Duration `json:"offline_timeout,omitempty"`
	// An id's queue is dropped when nothing was published to it for this long (CLEAN_ID_AFTER). Default 1h.
	CleanIDAfter caddy.Duration `json:"clean_id_after,omitempty"`
	// Messages kept per id; older ones rotate out (MAX_DATA_FOR_ID). Default 30.
	MaxDataForID int `json:"max_data_for_id,omitempty"`
	// WATCH event retention unit: 2·(n+1)+1 to 3·(n+1) events are kept (EVENT_CHAIN_LEN). Default 1000.
	EventChainLen int `json:"event_chain_len,omitempty"`
	// Publisher logins, htpasswd-style (USERS_FILE). Without it the publish line is anonymous.
	UsersFile string `json:"users_file,omitempty"`
	// Name of the id-list marker in requests (IDENTIFIER). Default "identifier".
	Identifier string `json:"identifier,omitempty"`
	// Largest WAIT request body, in bytes, searched for the marker (WAIT_MAXLEN). Default 5120.
	WaitMaxLen int64 `json:"wait_maxlen,omitempty"`
	// Largest publish body, in bytes (IN_MAXLEN). Default 204800.
	InMaxLen int64 `json:"in_maxlen,omitempty"`
	// Charset named in WAIT and static Content-Type headers (CHARSET). Default "utf-8".
	Charset string `json:"charset,omitempty"`
	// The id that serves the iframe loader page (IFRAME_ID). Default "IFRAME".
	IframeID string `json:"iframe_id,omitempty"`
	// The id that serves the client script (SCRIPT_ID). Default "SCRIPT".
	ScriptID string `json:"script_id,omitempty"`
	// A loader page to serve instead of the embedded one (IFRAME_FILE).
	IframeFile string `json:"iframe_file,omitempty"`
	// A client script to serve instead of the embedded one (SCRIPT_FILE).
	ScriptFile string `json:"script_file,omitempty"`
	// Path the loader page polls, relative to its origin (JS_WAIT_URI). Default "/".
	JSWaitURI string `json:"js_wait_uri,omitempty"`
	// Bounces the loader tolerates before backing off (JS_MAX_BOUNCES). Default 10.
	JSMaxBounces int `json:"js_max_bounces,omitempty"`
	// Delay before the loader's next poll (JS_WAIT_RECONNECT_DELAY). Default 10ms.
	JSWaitReconnectDelay caddy.Duration `json:"js_wait_reconnect_delay,omitempty"`
	// Turns on the loader's console logging (JS_DEBUG). Off by default,
	// unlike the original, so production consoles stay quiet.
	JSDebug bool `json:"js_debug,omitempty"`
	// Shares the hub with every node that uses the same Redis and hub
	// name: redis://[:password@]host:port/db, rediss:// for TLS, or with
	// ?addr=host:port parameters for a Redis Cluster. Without it the hub
	// lives in this process only.
	Redis string `json:"redis,omitempty"`
	// Most polls parked at once; more are refused at once with 503 and
	// the client retries with back-off. Default: the process's open-files
	// limit less 500, a reserve for the publish line, the admin endpoint
	// and the rest of Caddy, so they keep working when browsers
	// saturate the server.
	MaxParked int `json:"max_parked,omitempty"`
}

var (
	wordRE    = regexp.MustCompile(`^\w+$`)
	charsetRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	// The wait URI is substituted raw inside a JS string (R-QUIRK-12): allow
	// path characters only, so it can never break out of the quotes.
	waitURIRE = regexp.MustCompile(`^/[A-Za-z0-9/_.~%-]*$`)
)

// Validate checks ranges and the values substituted into pages (R-QUIRK-12).
func (c *HubConfig) Validate() error {
	checks := []struct {
		ok    bool
		field string
		value any
		rule  string
	}{
		{c.WaitTimeout >= 0, "wait_timeout", time.Duration(c.WaitTimeout), "must be positive"},
		{c.OfflineTimeout >= 0, "offline_timeout", time.Duration(c.OfflineTimeout), "must be positive"},
		{c.CleanIDAfter >= 0, "clean_id_after", time.Duration(c.CleanIDAfter), "must be positive"},
		{c.MaxDataForID >= 0, "max_data_for_id", c.MaxDataForID, "must be positive"},
		{c.EventChainLen >= 0, "event_chain_len", c.EventChainLen, "must be positive"},
		{c.WaitMaxLen >= 0, "wait_maxlen", c.WaitMaxLen, "must be positive"},
		{c.InMaxLen >= 0, "in_maxlen", c.InMaxLen, "must be positive"},
		{c.JSMaxBounces >= 0, "js_max_bounces", c.JSMaxBounces, "must be positive"},
		{c.MaxParked >= 0, "max_parked", c.MaxParked, "must be positive"},
		{c.JSWaitReconnectDelay >= 0, "js_wait_reconnect_delay", time.Duration(c.JSWaitReconnectDelay), "must be positive"},
		{c.Identifier == "" || wordRE.MatchString(c.Identifier), "identifier", c.Identifier, "must be letters, digits and _"},
		{c.IframeID == "" || wordRE.MatchString(c.IframeID), "iframe_id", c.IframeID, "must be letters, digits and _"},
		{c.ScriptID == "" || wordRE.MatchString(c.ScriptID), "script_id", c.ScriptID, "must be letters, digits and _"},
		{c.Charset == "" || charsetRE.MatchString(c.Charset), "charset", c.Charset, "must be a charset token"},
		{c.JSWaitURI == "" || waitURIRE.MatchString(c.JSWaitURI), "js_wait_uri", c.JSWaitURI, "must be a path starting with / (letters, digits, / _ . ~ % -)"},
	}
	for _, ch := range checks {
		if !ch.ok {
			return fmt.Errorf("%s: %s, got %v", ch.field, ch.rule, ch.value)
		}
	}
	if c.Redis != "" {
		if _, err := redisOptions(c.Redis); err != nil {
			return fmt.Errorf("redis: %w", err)
		}
	}
	if c.iframeID() == c.scriptID() {
		return fmt.Errorf("iframe_id and script_id must differ, both are %q", c.iframeID())
	}
	return nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (c *HubConfig) iframeID() string  { return orDefault(c.IframeID, DefaultIframeID) }
func (c *HubConfig) scriptID() string  { return orDefault(c.ScriptID, DefaultScriptID) }
func (c *HubConfig) jsWaitURI() string { return orDefault(c.JSWaitURI, DefaultJSWaitURI) }
func (c *HubConfig) jsMaxBounces() int { return orDefault(c.JSMaxBounces, DefaultJSMaxBounces) }
func (c *HubConfig) jsReconnectDelay() time.Duration {
	return orDefault(time.Duration(c.JSWaitReconnectDelay), DefaultJSReconnectWait)
}

// build turns the config into run-time settings: defaults applied, the
// users file read, the static pages substituted. It changes nothing
// shared, so a config that fails to load leaves the running hub alone.
func (c *HubConfig) build() (*settings, []string, error) {
	s := &settings{
		waitTimeout:    orDefault(time.Duration(c.WaitTimeout), DefaultWaitTimeout),
		offlineTimeout: orDefault(time.Duration(c.OfflineTimeout), DefaultOfflineTimeout),
		cleanIDAfter:   orDefault(time.Duration(c.CleanIDAfter), DefaultCleanIDAfter),
		maxDataForID:   orDefault(c.MaxDataForID, DefaultMaxDataForID),
		eventChainLen:  orDefault(c.EventChainLen, DefaultEventChainLen),
		identifier:     orDefault(c.Identifier, DefaultIdentifier),
		waitMaxLen:     orDefault(c.WaitMaxLen, int64(DefaultWaitMaxLen)),
		inMaxLen:       orDefault(c.InMaxLen, int64(DefaultInMaxLen)),
		charset:        orDefault(c.Charset, DefaultCharset),
		iframeID:       c.iframeID(),
		scriptID:       c.scriptID(),
		maxParked:      orDefault(c.MaxParked, defaultMaxParked()),
	}
	var warnings []string
	if c.UsersFile != "" {
		users, warns, err := LoadUsers(c.UsersFile)
		if err != nil {
			return nil, nil, fmt.Errorf("users_file: %w", err)
		}
		s.users, warnings = users, warns
	}
	vars := substitutionVars(c, s)
	var err error
	if s.iframe, err = loadStaticPage(c.IframeFile, embeddedIframe, "text/html; charset="+s.charset, vars); err != nil {
		return nil, nil, fmt.Errorf("iframe_file: %w", err)
	}
	if s.script, err = loadStaticPage(c.ScriptFile, embeddedScript, "text/javascript; charset="+s.charset, vars); err != nil {
		return nil, nil, fmt.Errorf("script_file: %w", err)
	}
	return s, warnings, nil
}
