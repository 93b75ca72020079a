package caddyrealplexor

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCORSPolicyOrigins(t *testing.T) {
	for _, bad := range []string{"example.com", "ftp://a.b", "https://a.b/path", "https://a.b?x=1", "https://u:p@a.b", "https://"} {
		if _, err := newCORSPolicy([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if p, err := newCORSPolicy(nil); p != nil || err != nil {
		t.Errorf("no origins: %v %v", p, err)
	}
	p, err := newCORSPolicy([]string{"https://App.Example.com", "*"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ origin, allow, creds string }{
		{"https://app.example.com", "https://app.example.com", "true"},
		{"http://other.test", "*", ""}, // the wildcard never carries credentials
		{"", "", ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/?identifier=a", nil)
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		w := httptest.NewRecorder()
		if p.apply(w, r) {
			t.Fatalf("%q: a GET is not a preflight", tt.origin)
		}
		if got := w.Header().Get("Access-Control-Allow-Origin"); got != tt.allow {
			t.Errorf("%q: allow origin %q, want %q", tt.origin, got, tt.allow)
		}
		if got := w.Header().Get("Access-Control-Allow-Credentials"); got != tt.creds {
			t.Errorf("%q: credentials %q, want %q", tt.origin, got, tt.creds)
		}
	}
}
