package caddyrealplexor

import (
	"embed"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"time"
)

// The browser client files served at ?identifier=SCRIPT and
// ?identifier=IFRAME (R-STATIC-2). They are embedded so a bare binary
// serves them; iframe_file and script_file replace them.
//
//go:embed js/dklab_realplexor.html js/dklab_realplexor.js js/demo.html
var embeddedJS embed.FS

const (
	embeddedIframe = "js/dklab_realplexor.html"
	embeddedScript = "js/dklab_realplexor.js"
	embeddedDemo   = "js/demo.html"
	// staticExpires is the original's far-future Expires (R-STATIC-1).
	staticExpires = "Wed, 08 Jul 2037 22:53:52 GMT"
)

// embeddedModTime is the Last-Modified of the embedded files: embed keeps
// no file times, and a fixed value keeps replies identical across
// restarts so browser caches stay valid.
var embeddedModTime = time.Date(2026, time.November, 22, 0, 0, 0, 0, time.UTC)

// staticPage is a substituted IFRAME or SCRIPT file, ready to serve.
type staticPage struct {
	body         []byte
	contentType  string
	lastModified string
}

// placeholder is `$` followed by a letter and word characters (R-STATIC-2).
var placeholder = regexp.MustCompile(`\$[A-Za-z]\w*`)

// loadStaticPage reads path (or the embedded file when path is empty) and
// substitutes the $NAME placeholders with vars. An unknown name becomes
// `undefined-NAME`, as in the original.
func loadStaticPage(path, embedded, contentType string, vars map[string]string) (staticPage, error) {
	var raw []byte
	mtime := embeddedModTime
	if path == "" {
		b, err := embeddedJS.ReadFile(embedded)
		if err != nil {
			return staticPage{}, err
		}
		raw = b
	} else {
		b, err := os.ReadFile(path)
		if err != nil {
			return staticPage{}, err
		}
		st, err := os.Stat(path)
		if err != nil {
			return staticPage{}, err
		}
		raw, mtime = b, st.ModTime()
	}
	body := placeholder.ReplaceAllFunc(raw, func(m []byte) []byte {
		if v, ok := vars[string(m[1:])]; ok {
			return []byte(v)
		}
		return []byte("undefined-" + string(m[1:]))
	})
	return staticPage{
		body:         body,
		contentType:  contentType,
		lastModified: mtime.UTC().Format(http.TimeFormat),
	}, nil
}

// serve writes the page with the R-STATIC-1 headers. The original closes
// the connection instead of sending a length; a length is equally valid
// HTTP and lets the connection be reused.
func (p *staticPage) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", p.contentType)
	h.Set("Last-Modified", p.lastModified)
	h.Set("Expires", staticExpires)
	h.Set("Cache-Control", "public")
	// The loader page and its host page script each other across
	// sub-domains through document.domain (R-JS-22), which modern browsers
	// allow only outside origin-keyed agent clusters.
	h.Set("Origin-Agent-Cluster", "?0")
	h.Set("Content-Length", strconv.Itoa(len(p.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(p.body)
	}
}

// seconds renders a duration as the original's config values: whole
// seconds as an integer, otherwise a decimal.
func seconds(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10)
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// substitutionVars are the config keys a page can reference (R-CONF-1).
// The users file path is deliberately absent: it must not reach browsers.
func substitutionVars(c *HubConfig, s *settings) map[string]string {
	return map[string]string{
		"WAIT_TIMEOUT":            seconds(s.waitTimeout),
		"OFFLINE_TIMEOUT":         seconds(s.offlineTimeout),
		"CLEAN_ID_AFTER":          seconds(s.cleanIDAfter),
		"MAX_DATA_FOR_ID":         strconv.Itoa(s.maxDataForID),
		"EVENT_CHAIN_LEN":         strconv.Itoa(s.eventChainLen),
		"WAIT_MAXLEN":             strconv.FormatInt(s.waitMaxLen, 10),
		"IN_MAXLEN":               strconv.FormatInt(s.inMaxLen, 10),
		"IDENTIFIER":              s.identifier,
		"CHARSET":                 s.charset,
		"IFRAME_ID":               s.iframeID,
		"SCRIPT_ID":               s.scriptID,
		"JS_WAIT_URI":             c.jsWaitURI(),
		"JS_MAX_BOUNCES":          strconv.Itoa(c.jsMaxBounces()),
		"JS_WAIT_RECONNECT_DELAY": seconds(c.jsReconnectDelay()),
		"JS_DEBUG":                fmt.Sprint(c.JSDebug),
	}
}
