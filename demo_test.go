package caddyrealplexor

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// startDemoServer serves the demo under /demo and polls elsewhere on the
// WAIT site, as Caddyfile.example does.
func startDemoServer(t *testing.T, demoBlock string) *server {
	t.Helper()
	return startServerWith(t, "", func(s *server) {
		s.waitSite = "handle /demo* {\n\t\trealplexor_demo %[1]s {\n" + demoBlock + "\n\t\t}\n\t}\n\thandle {\n\t\trealplexor_wait %[1]s\n\t}"
	})
}

func demoPost(t *testing.T, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/demo/send", waitPort), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The demo's server side publishes a visitor's message into the demo
// namespace only, and a poll on that channel receives it.
func TestDemoSendReachesChannel(t *testing.T) {
	s := startDemoServer(t, "namespace sandbox_")
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/demo/", waitPort))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(page), "__RPL_") || !strings.Contains(string(page), "sandbox_") {
		t.Fatalf("page: %d, placeholders left or namespace missing", resp.StatusCode)
	}
	p := openPoll(t, "sandbox_Alpha")
	if code, body := demoPost(t, `{"channel":"Alpha","author":"Ann","text":"Hi <b>all</b>"}`); code != 200 || body != `{"ok":true}` {
		t.Fatalf("send: %d %s", code, body)
	}
	got := masked(p.rest())
	if !strings.Contains(got, `"ids": { "sandbox_Alpha": "<cursor>" }`) || !strings.Contains(got, `"author":"Ann","text":"Hi \u003cb\u003eall\u003c/b\u003e","time":"`) {
		t.Fatalf("poll got %q", got)
	}
	s.waitCounters("0/1/0/1/1")
}

// Everything the demo refuses, and its rate limit.
func TestDemoRefusesBadInput(t *testing.T) {
	s := startDemoServer(t, "max_text 10\n\t\t\trate_per_minute 60")
	rows := []struct {
		body   string
		code   int
		reason string
	}{
		{`not json`, 400, "send JSON"},
		{`{"channel":"a_b","text":"x"}`, 400, "channel"},
		{`{"channel":"","text":"x"}`, 400, "channel"},
		{`{"channel":"Alpha","text":"   "}`, 400, "empty"},
		{`{"channel":"Alpha","text":"01234567890"}`, 413, "at most 10"},
		{`{"channel":"Alpha","author":"` + strings.Repeat("a", 33) + `","text":"x"}`, 400, "author"},
	}
	for _, r := range rows {
		code, body := demoPost(t, r.body)
		if code != r.code || !strings.Contains(body, r.reason) {
			t.Errorf("%s: got %d %s, want %d ~%q", r.body, code, body, r.code, r.reason)
		}
	}
	if c := s.hub().Counters(); c.Messages != 0 {
		t.Fatalf("bad input stored %d messages", c.Messages)
	}
	// A burst of 5 valid messages, then refused until tokens refill.
	for i := 0; i < 5; i++ {
		if code, body := demoPost(t, `{"channel":"Alpha","text":"ok"}`); code != 200 {
			t.Fatalf("message %d of the burst: %d %s", i, code, body)
		}
	}
	code, body := demoPost(t, `{"channel":"Alpha","text":"ok"}`)
	if code != http.StatusTooManyRequests || !strings.Contains(body, "too many") {
		t.Fatalf("rate limit: %d %s", code, body)
	}
}

// Pages on listed origins may poll cross-origin; others get no CORS grant.
func TestWaitCORSOrigins(t *testing.T) {
	s := startServerWith(t, "", func(s *server) {
		s.waitSite = "realplexor_wait %[1]s {\n\t\tcors_origins http://site.test:8080 https://app.example.com\n\t}"
	})
	p := openRawPoll(t, "GET /?identifier=alpha HTTP/1.1\r\nHost: rpl\r\nOrigin: http://site.test:8080\r\n\r\n")
	if p.header("Access-Control-Allow-Origin") != "http://site.test:8080" || p.header("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(p.header("Access-Control-Expose-Headers"), "X-Realplexor-Cursor") {
		t.Fatalf("allowed origin head: %q", p.head)
	}
	other := openRawPoll(t, "GET /?identifier=beta HTTP/1.1\r\nHost: rpl\r\nOrigin: http://evil.test\r\n\r\n")
	if other.header("Access-Control-Allow-Origin") != "" {
		t.Fatalf("other origin granted: %q", other.head)
	}
	pre := rawExchange(t, waitPort, "OPTIONS /?identifier=alpha HTTP/1.1\r\nHost: rpl\r\nOrigin: https://app.example.com\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\nConnection: close\r\n\r\n")
	if statusOf(pre) != 204 || !strings.Contains(pre, "Access-Control-Allow-Methods: GET, POST") || !strings.Contains(pre, "Access-Control-Allow-Headers: content-type") {
		t.Fatalf("preflight: %q", pre)
	}
	s.publishOK("alpha", `1`)
	if got := p.rest(); !strings.Contains(got, `"data": 1`) {
		t.Fatalf("cross-origin poll got %q", got)
	}
}

// The page's send URL is the request path, escaped for its JS string.
func TestDemoPageEscapesPath(t *testing.T) {
	startDemoServer(t, "")
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/demo/%%27);alert(1);//%%3C/script%%3E", waitPort))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The quote stays escaped inside the string and no tag closes the script.
	if !strings.Contains(string(page), `fetch('/demo/\');alert(1);//\u003C/script\u003E'`) || strings.Contains(string(page), "//</script>") {
		t.Fatalf("path not escaped for its JS string")
	}
}
