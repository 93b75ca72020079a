package caddyrealplexor

import (
	"strings"
	"testing"
)

// Park, publish, wake: the quickstart of the README (R-WAIT-7, R-IN-12).
func TestParkPublishWake(t *testing.T) {
	s := startServer(t, "")
	p := openPoll(t, "alpha")
	if got := p.header("Content-Type"); got != "text/javascript; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
	if got := p.header("X-Realplexor-Cursor"); !generated.MatchString(`"` + got + `"`) {
		t.Errorf("cursor header %q is not a generated cursor", got)
	}
	if got := p.header("X-Realplexor-Wait-Timeout"); got != "300" {
		t.Errorf("wait timeout header %q, want 300", got)
	}
	s.waitCounters("1/0/1/1/0")
	reply := s.publish("alpha", `"Test!"`)
	if !strings.HasPrefix(reply, "HTTP/1.1 200 OK\r\n") || bodyOf(t, reply) != "" {
		t.Fatalf("publish reply %q", reply)
	}
	if got, want := masked(p.rest()), batch(entryJSON(`"alpha": "<cursor>"`, `"Test!"`)); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	s.waitCounters("0/1/0/1/1")
}
