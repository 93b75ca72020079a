package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// hold-h2 against a stand-in WAIT server on loopback: every poll is an
// HTTP/2 stream, parks after the head and prelude, and the streams share
// the requested number of TLS connections.
func TestHoldH2(t *testing.T) {
	var mu sync.Mutex
	conns := map[string]bool{}
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 || !strings.HasPrefix(r.URL.RawQuery, "identifier=") {
			http.Error(w, "want an HTTP/2 poll", http.StatusBadRequest)
			return
		}
		mu.Lock()
		conns[r.RemoteAddr] = true
		mu.Unlock()
		_, _ = w.Write(prelude)
		w.(http.Flusher).Flush()
		select { // parked until the client leaves
		case <-r.Context().Done():
		case <-release:
		}
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	defer close(release)

	b := &bench{
		target: targetRealplexor, mode: "hold-h2", n: 20, channels: 5, h2Conns: 4, conc: 8,
		waitAddr: strings.TrimPrefix(srv.URL, "https://"), prefix: "t",
	}
	b.deadline = time.Now().Add(30 * time.Second)
	b.dialer = newDialer(nil, b.deadline)
	res := runHoldH2(b)
	if res["parked"] != int64(20) || res["failed"] != int64(0) || res["h2_connections"] != 4 {
		t.Fatalf("result %v", res)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(conns) != 4 {
		t.Fatalf("polls came over %d connections, want 4", len(conns))
	}
}
