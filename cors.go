package caddyrealplexor

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// corsPolicy lets pages on other origins poll the WAIT line with fetch.
// A listed origin is echoed back with credentials allowed; `*` admits any
// origin but never with credentials, as browsers require.
type corsPolicy struct {
	origins []string
	any     bool
}

func newCORSPolicy(origins []string) (*corsPolicy, error) {
	p := &corsPolicy{}
	for _, o := range origins {
		if o == "*" {
			p.any = true
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("cors_origins: %q is not an origin like https://www.example.com", o)
		}
		p.origins = append(p.origins, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	if len(p.origins) == 0 && !p.any {
		return nil, nil
	}
	return p, nil
}

// apply sets the CORS response headers for r; it reports whether r was a
// preflight request, which it has answered.
func (p *corsPolicy) apply(w http.ResponseWriter, r *http.Request) (preflight bool) {
	origin := r.Header.Get("Origin")
	if p == nil || origin == "" {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	switch {
	case slices.Contains(p.origins, strings.ToLower(origin)):
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	case p.any:
		h.Set("Access-Control-Allow-Origin", "*")
	default:
		return false // not allowed: the browser will block the reply
	}
	// The client reads the listen cursor and refusal reasons (R-JS-21 fix).
	h.Set("Access-Control-Expose-Headers", CursorHeader+", "+WaitTimeoutHeader+", "+ErrorHeader)
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, POST")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
		}
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}
