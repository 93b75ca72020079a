package caddyrealplexor

// Half-close on the IN line (R-IN-4, R-PHP-4, R-PHP-9): the PHP and
// Python clients shut their write side down after the request and read
// the reply to EOF. Go notices that EOF and cancels the request context;
// the publish or command must complete anyway and its reply must arrive.

import (
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// hcExchange writes chunks with a pause between them, half-closes if
// asked, and reads until the server closes (at most 10 s).
func hcExchange(t testing.TB, port int, chunks []string, pause time.Duration, halfClose bool) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		t.Fatalf("dial %d: %v", port, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	for i, c := range chunks {
		if i > 0 {
			time.Sleep(pause) // separate segments: the server sees two reads
		}
		if _, err := io.WriteString(conn, c); err != nil {
			t.Fatalf("write chunk %d: %v", i, err)
		}
	}
	if halfClose {
		if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatalf("half-close: %v", err)
		}
	}
	out, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read (server did not close?): %v; got so far %q", err, out)
	}
	return string(out)
}

// hcWantPublishOK checks the decided publish success: 200, Content-Length
// 0, empty body (R-QUIRK-4, R-PORT-3).
func hcWantPublishOK(t testing.TB, what, reply string) {
	t.Helper()
	if !strings.HasPrefix(reply, "HTTP/1.1 200 OK\r\n") ||
		!regexp.MustCompile(`(?mi)^Content-Length: 0\r$`).MatchString(reply) ||
		!strings.HasSuffix(reply, "\r\n\r\n") {
		t.Errorf("%s: reply %q, want a 200 with Content-Length: 0 and no body", what, reply)
	}
}

func TestHalfCloseRawPublisher(t *testing.T) {
	s := startServer(t, "")

	// 1. A command with half-close gets its reply (R-CMD-3).
	pc := openPoll(t, "hc_cmd")
	s.waitCounters("1/0/1/1/0")
	reply := hcExchange(t, inPort, []string{phpRequest("", "online hc_\n")}, 0, true)
	if statusOf(reply) != 200 || bodyOf(t, reply) != "hc_cmd 1\n" ||
		!regexp.MustCompile(`(?mi)^Content-Type: text/plain\r$`).MatchString(reply) {
		t.Errorf("online with half-close: %q", reply)
	}
	// The same command in two chunks, the second after a pause.
	req := phpRequest("", "watch 0\n")
	reply = hcExchange(t, inPort, []string{req[:len(req)-4], req[len(req)-4:]}, 200*time.Millisecond, true)
	if statusOf(reply) != 200 || bodyOf(t, reply) != "FAKE 11:FAKE\n" {
		t.Errorf("watch in two chunks with half-close: %q", reply)
	}

	// 2. The PHP bytes in two chunks with a pause, split inside the body,
	// then half-close: 200, and the parked poll gets the message.
	p := openPoll(t, "hc_a")
	s.waitCounters("2/0/2/2/0")
	req = phpRequest("hc_a", `{"n":"two chunks"}`)
	cut := len(req) - 8
	reply = hcExchange(t, inPort, []string{req[:cut], req[cut:]}, 200*time.Millisecond, true)
	hcWantPublishOK(t, "two chunks split in the body", reply)
	phpWantPoll(t, p, batch(entryJSON(`"hc_a": "<cursor>"`, `{"n":"two chunks"}`)))

	// Split inside the head, before the X-Realplexor header is complete.
	p = openPoll(t, "hc_b")
	req = phpRequest("hc_b", `"head split"`)
	cut = strings.Index(req, "identifier=") + 5
	reply = hcExchange(t, inPort, []string{req[:cut], req[cut:]}, 200*time.Millisecond, true)
	hcWantPublishOK(t, "two chunks split in the head", reply)
	phpWantPoll(t, p, batch(entryJSON(`"hc_b": "<cursor>"`, `"head split"`)))

	// 3. No half-close, but `Connection: close`: the reply comes and the
	// server closes the connection.
	p = openPoll(t, "hc_c")
	body := `"no half-close"`
	req = fmt.Sprintf("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\nConnection: close\r\nX-Realplexor: identifier=hc_c\r\n\r\n%s", len(body), body)
	reply = hcExchange(t, inPort, []string{req}, 0, false)
	hcWantPublishOK(t, "Connection: close without half-close", reply)
	phpWantPoll(t, p, batch(entryJSON(`"hc_c": "<cursor>"`, body)))

	// 4. A large body (150 KB, under the default in_maxlen) in many
	// small chunks, then half-close: stored and delivered intact.
	p = openPoll(t, "hc_d")
	big := `"` + strings.Repeat("0123456789", 15000) + `"`
	req = phpRequest("hc_d", big)
	var chunks []string
	for len(req) > 0 {
		n := min(16384, len(req))
		chunks = append(chunks, req[:n])
		req = req[n:]
	}
	reply = hcExchange(t, inPort, chunks, 5*time.Millisecond, true)
	hcWantPublishOK(t, "large body in chunks", reply)
	phpWantPoll(t, p, batch(entryJSON(`"hc_d": "<cursor>"`, big)))
	s.waitCounters("1/4/1/5/4")

	// 5. Half-close before the announced body is complete: the request is
	// refused and nothing is stored.
	req = phpRequest("hc_e", `"truncated"`)
	reply = hcExchange(t, inPort, []string{req[:len(req)-4]}, 0, true)
	if statusOf(reply) == 200 {
		t.Errorf("truncated body was accepted: %q", reply)
	}
	t.Logf("truncated body: reply %q", reply)
	if got := s.counters(); got != "1/4/1/5/4" {
		t.Errorf("after a truncated body: counters %s, want 1/4/1/5/4", got)
	}

	// The command's poll is still parked and still served.
	s.publishOK("hc_cmd", `"still here"`)
	phpWantPoll(t, pc, batch(entryJSON(`"hc_cmd": "<cursor>"`, `"still here"`)))
	s.waitCounters("0/5/0/5/5")
}
