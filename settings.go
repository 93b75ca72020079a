package caddyrealplexor

import (
	"time"
)

// parkedReserve is how many open files max_parked leaves by default for
// everything that is not a parked poll.
const parkedReserve = 500

// Defaults are the original's (R-CONF, section 10 of the protocol spec).
const (
	DefaultWaitTimeout     = 300 * time.Second
	DefaultOfflineTimeout  = 30 * time.Second
	DefaultCleanIDAfter    = time.Hour
	DefaultMaxDataForID    = 30
	DefaultEventChainLen   = 1000
	DefaultIdentifier      = "identifier"
	DefaultWaitMaxLen      = 5120
	DefaultInMaxLen        = 204800
	DefaultCharset         = "utf-8"
	DefaultIframeID        = "IFRAME"
	DefaultScriptID        = "SCRIPT"
	DefaultJSWaitURI       = "/"
	DefaultJSMaxBounces    = 10
	DefaultJSReconnectWait = 10 * time.Millisecond
)

// settings is the run-time view of one hub's configuration. A new value is
// built on every config load and swapped in atomically, so requests parked
// under the old config and new requests both see a consistent set.
type settings struct {
	waitTimeout    time.Duration
	offlineTimeout time.Duration
	cleanIDAfter   time.Duration
	maxDataForID   int
	eventChainLen  int
	identifier     string
	waitMaxLen     int64
	inMaxLen       int64
	charset        string
	iframeID       string
	scriptID       string
	maxParked      int    // 0: no limit
	users          *Users // nil: the IN line is anonymous
	iframe         staticPage
	script         staticPage
}

func defaultSettings() *settings {
	return &settings{
		waitTimeout:    DefaultWaitTimeout,
		offlineTimeout: DefaultOfflineTimeout,
		cleanIDAfter:   DefaultCleanIDAfter,
		maxDataForID:   DefaultMaxDataForID,
		eventChainLen:  DefaultEventChainLen,
		identifier:     DefaultIdentifier,
		waitMaxLen:     DefaultWaitMaxLen,
		inMaxLen:       DefaultInMaxLen,
		charset:        DefaultCharset,
		iframeID:       DefaultIframeID,
		scriptID:       DefaultScriptID,
	}
}
