package caddyrealplexor

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Kept-alive polls: a client that sends "Connection: keep-alive" (as
// browsers do) gets a chunked reply and keeps its connection for the next
// request, which goes through Caddy's routes again; everyone else gets the
// original one-poll-per-connection behaviour (R-GEN-4).

// kaConn is one client connection that sends kept-alive requests.
type kaConn struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	head string
}

func dialKeepAlive(t testing.TB) *kaConn {
	t.Helper()
	conn := dialPoll(t, waitPort)
	return &kaConn{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// send writes a GET for target with Connection: keep-alive (extra header
// lines may follow) and reads the response head.
func (c *kaConn) send(target string, extra ...string) {
	c.t.Helper()
	req := "GET " + target + " HTTP/1.1\r\nHost: rpl.example.com\r\nConnection: keep-alive\r\n"
	for _, h := range extra {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(c.conn, req+"\r\n"); err != nil {
		c.t.Fatalf("write: %v", err)
	}
	var head strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading head: %v (so far %q)", err, head.String())
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
	}
	c.head = head.String()
}

func (c *kaConn) header(name string) string {
	return (&poll{head: c.head}).header(name)
}

// chunk reads one chunk; "" is the last one (and its trailer line).
func (c *kaConn) chunk() string {
	c.t.Helper()
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("chunk size: %v", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(line), 16, 32)
	if err != nil {
		c.t.Fatalf("chunk size line %q", line)
	}
	data := make([]byte, n+2)
	if _, err := io.ReadFull(c.r, data); err != nil || string(data[n:]) != "\r\n" {
		c.t.Fatalf("chunk data %q: %v", data, err)
	}
	return string(data[:n])
}

// parkPoll sends a poll and checks it parked: a chunked reply whose first
// chunk is the prelude (R-WAIT-7), the connection not marked for closing.
func (c *kaConn) parkPoll(identifier string) {
	c.t.Helper()
	c.send("/?identifier=" + identifier)
	if statusOf(c.head) != 200 || c.header("Transfer-Encoding") != "chunked" || c.header("Connection") != "" {
		c.t.Fatalf("kept-alive poll head: %q", c.head)
	}
	if got := c.chunk(); got != " \r\n" {
		c.t.Fatalf("first chunk %q, want the prelude", got)
	}
}

// reply reads the rest of a parked poll's chunked reply.
func (c *kaConn) reply() string {
	c.t.Helper()
	var body strings.Builder
	for {
		ch := c.chunk()
		if ch == "" {
			break
		}
		body.WriteString(ch)
	}
	return body.String()
}

// closed reports whether the server closed the connection (EOF) rather
// than leaving it open for another request.
func (c *kaConn) closed() bool {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := c.r.ReadByte()
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return err != nil
}

func TestKeepAlivePollsShareAConnection(t *testing.T) {
	s := startServerWith(t, "", func(s *server) {
		s.waitSite = "handle /other {\n\t\trespond \"other route\"\n\t}\n\trealplexor_wait %s"
	})
	c := dialKeepAlive(t)
	c.parkPoll("alpha")
	s.publishOK("alpha", `"one"`)
	first := c.reply()
	if masked(first) != batch(entryJSON(`"alpha": "<cursor>"`, `"one"`)) {
		t.Fatalf("first reply %q", first)
	}
	cursor := generated.FindString(first)
	cursor = cursor[1 : len(cursor)-1]
	eventually(t, "the connection to be handed back", func() bool { return s.hub().stats.handedBack.Load() == 1 })

	// The next poll on the same connection, from the cursor it got.
	c.parkPoll(cursor + ":alpha")
	s.publishOK("alpha", `"two"`)
	if got := masked(c.reply()); got != batch(entryJSON(`"alpha": "<cursor>"`, `"two"`)) {
		t.Fatalf("second reply %q", got)
	}

	// Any request may follow on the connection, and Caddy routes it.
	c.send("/other")
	if statusOf(c.head) != 200 || c.header("Content-Length") != "11" {
		t.Fatalf("other route head %q", c.head)
	}
	body := make([]byte, 11)
	if _, err := io.ReadFull(c.r, body); err != nil || string(body) != "other route" {
		t.Fatalf("other route body %q %v", body, err)
	}

	// A poll answered at once (data already queued) goes through net/http
	// and keeps the connection too.
	c.send("/?identifier=" + cursor + ":alpha")
	if statusOf(c.head) != 200 || c.header("Connection") == "close" {
		t.Fatalf("immediate reply head %q", c.head)
	}
	n, _ := strconv.Atoi(c.header("Content-Length"))
	if n == 0 {
		t.Fatalf("immediate reply without Content-Length: %q", c.head)
	}
	body = make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil || !strings.Contains(string(body), `"two"`) {
		t.Fatalf("immediate reply %q %v", body, err)
	}
	c.parkPoll("beta")
	if c.closed() {
		t.Fatal("connection closed after an immediate reply")
	}
}

func TestKeepAliveTimeoutReplyKeepsConnection(t *testing.T) {
	startServer(t, "wait_timeout 1s")
	c := dialKeepAlive(t)
	c.parkPoll("alpha")
	if got := c.reply(); got != "" {
		t.Fatalf("timeout reply %q, want empty", got)
	}
	c.parkPoll("alpha") // same connection
	if got := c.reply(); got != "" {
		t.Fatalf("second timeout reply %q", got)
	}
}

// Clients that do not ask for keep-alive, and every client when the
// handler says keep_alive off, get the original close-delimited reply.
func TestKeepAliveOnlyWhenAskedAndAllowed(t *testing.T) {
	s := startServer(t, "")
	p := openPoll(t, "alpha") // HTTP/1.1, no Connection header
	if p.header("Connection") != "close" || p.header("Transfer-Encoding") != "" {
		t.Fatalf("plain poll head %q", p.head)
	}
	s.publishOK("alpha", `"x"`)
	if got := masked(p.rest()); got != batch(entryJSON(`"alpha": "<cursor>"`, `"x"`)) {
		t.Fatalf("plain poll reply %q", got)
	}

	s.waitSite = "realplexor_wait %s {\n\t\tkeep_alive off\n\t}"
	s.load()
	p = openRawPoll(t, "GET /?identifier=beta HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n")
	if p.header("Connection") != "close" || p.header("Transfer-Encoding") != "" {
		t.Fatalf("keep_alive off head %q", p.head)
	}
	s.publishOK("beta", `"y"`)
	if got := masked(p.rest()); got != batch(entryJSON(`"beta": "<cursor>"`, `"y"`)) {
		t.Fatalf("keep_alive off reply %q", got)
	}
}

// Bytes sent while parked are ignored (R-WAIT-18); the reply still comes,
// framed, and then the connection is closed, since the next request's
// start is unknown.
func TestKeepAliveBytesWhileParkedEndTheConnection(t *testing.T) {
	s := startServer(t, "")
	c := dialKeepAlive(t)
	c.parkPoll("alpha")
	if _, err := io.WriteString(c.conn, "garbage"); err != nil {
		t.Fatal(err)
	}
	s.publishOK("alpha", `"z"`)
	if got := masked(c.reply()); got != batch(entryJSON(`"alpha": "<cursor>"`, `"z"`)) {
		t.Fatalf("reply %q", got)
	}
	if !c.closed() {
		t.Fatal("connection kept after stray bytes")
	}
	if n := s.hub().stats.handedBack.Load(); n != 0 {
		t.Fatalf("%d connections counted as kept alive", n)
	}
}

// A kept-alive poll parked across a reload still gets its message; its
// connection then closes (the server that accepted it is gone), and the
// client's next poll reaches the new config.
func TestKeepAlivePollAcrossReload(t *testing.T) {
	s := startServer(t, "")
	c := dialKeepAlive(t)
	c.parkPoll("alpha")
	s.options = "max_data_for_id 5"
	s.load()
	s.publishOK("alpha", `"after reload"`)
	if got := masked(c.reply()); got != batch(entryJSON(`"alpha": "<cursor>"`, `"after reload"`)) {
		t.Fatalf("reply %q", got)
	}
	if !c.closed() {
		t.Fatal("connection of the old server kept open after its reply")
	}
	// The old server's hand-back listener went with it.
	eventually(t, "no hand-back listener left", func() bool {
		handBacks.Lock()
		defer handBacks.Unlock()
		return len(handBacks.m) == 0
	})
	c = dialKeepAlive(t)
	c.parkPoll("alpha")
}

// A client that hangs up while parked is noticed (R-WAIT-17) and its
// poll unregistered, with keep-alive as without.
func TestKeepAliveClientGone(t *testing.T) {
	s := startServer(t, "")
	c := dialKeepAlive(t)
	c.parkPoll("alpha")
	c.conn.Close()
	eventually(t, "the poll to be unregistered", func() bool { return s.hub().parked.Load() == 0 })
	eventually(t, "the parked connection's goroutine to end", func() bool { return s.hub().parkedConns.Load() == 0 })
}

// Over TLS (HTTP/1.1), a kept-alive poll's connection goes back to the
// server too: the next poll reuses it.
func TestKeepAliveOverTLS(t *testing.T) {
	s := startServerWith(t, "", func(s *server) {
		// Go sends no SNI for an IP address: name the certificate to use.
		s.globals = "default_sni 127.0.0.1"
		s.extra = fmt.Sprintf("https://127.0.0.1:%d {\n\ttls internal\n\trealplexor_wait %s\n}\n", httpsPort, s.hubName)
	})
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true},                  //nolint:gosec // the test server's internal CA
			TLSNextProto:    map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1
		},
	}
	defer client.CloseIdleConnections()
	// Caddy obtains the certificate in the background after the load.
	eventually(t, "the internal certificate", func() bool {
		c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", httpsPort), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // as above
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	poll := func(identifier string) (string, bool) {
		t.Helper()
		var reused bool
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet,
			fmt.Sprintf("https://127.0.0.1:%d/?identifier=%s", httpsPort, identifier), nil)
		req.Header.Set("Connection", "keep-alive")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != 1 || resp.Close || len(resp.TransferEncoding) == 0 {
			t.Fatalf("%s, close %v, transfer encoding %v", resp.Proto, resp.Close, resp.TransferEncoding)
		}
		pre := make([]byte, 3)
		if _, err := io.ReadFull(resp.Body, pre); err != nil {
			t.Fatal(err)
		}
		s.publishOK("alpha", `"tls"`)
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(body), reused
	}
	first, _ := poll("alpha")
	cursor := generated.FindString(first)
	if cursor == "" {
		t.Fatalf("first reply %q", first)
	}
	second, reused := poll(cursor[1:len(cursor)-1] + ":alpha")
	if !reused {
		t.Fatal("the second poll did not reuse the connection")
	}
	if masked(second) != batch(entryJSON(`"alpha": "<cursor>"`, `"tls"`)) {
		t.Fatalf("second reply %q", second)
	}
}
