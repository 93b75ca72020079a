package caddyrealplexor

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// HTTP/2 streams park inside the handler: the poll flushes its headers at
// once, then gets its batch and the stream ends (no Connection header,
// no identity framing, which HTTP/2 forbids).
func TestHTTP2Poll(t *testing.T) {
	s := startServerWith(t, "", func(s *server) {
		s.globals = "servers {\n\t\tprotocols h1 h2c\n\t}"
	})
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &protocols}, Timeout: 10 * time.Second}

	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/?identifier=alpha", waitPort))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
		t.Fatalf("got %s %d", resp.Proto, resp.StatusCode)
	}
	if resp.Header.Get("X-Realplexor-Cursor") == "" || resp.Header.Get("Connection") != "" {
		t.Fatalf("headers %v", resp.Header)
	}
	prelude := make([]byte, 3)
	if _, err := io.ReadFull(resp.Body, prelude); err != nil || string(prelude) != " \r\n" {
		t.Fatalf("prelude %q %v", prelude, err)
	}
	s.waitCounters("1/0/1/1/0")
	s.publishOK("alpha", `"over h2"`)
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := masked(string(rest)); got != batch(entryJSON(`"alpha": "<cursor>"`, `"over h2"`)) {
		t.Fatalf("batch %q", got)
	}
	if !strings.HasPrefix(resp.Proto, "HTTP/2") {
		t.Fatalf("proto %s", resp.Proto)
	}
}
