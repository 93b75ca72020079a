package caddyrealplexor

// The integration harness: a real Caddy (in this test process, through
// caddytest) listening on loopback, and raw TCP clients that send the
// exact bytes the original's PHP client, tests and browsers send.
//
// Every test gets its own hub name, so state never leaks between tests
// even though the hub pool survives config reloads. Ports come from
// RPL_TEST_PORT_BASE (default 18000), all below the ephemeral range.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-realplexor/caddy-realplexor/internal/testcaddy"
	"github.com/caddyserver/caddy/v2/caddytest"
)

func TestMain(m *testing.M) {
	// Keep Caddy's autosave and data (the cursor floor) out of $HOME.
	dir, err := os.MkdirTemp("", "realplexor-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CONFIG_HOME", dir)
	os.Setenv("XDG_DATA_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var portBase = func() int {
	if v, err := strconv.Atoi(os.Getenv("RPL_TEST_PORT_BASE")); err == nil && v > 0 {
		return v
	}
	return 18000
}()

var (
	adminPort = portBase
	httpPort  = portBase + 1
	httpsPort = portBase + 2
	waitPort  = portBase + 3
	inPort    = portBase + 4
)

// server is a running Caddy with one WAIT site and one IN site on a hub of
// the test's own.
type server struct {
	t       testing.TB
	tester  *caddytest.Tester
	hubName string
	options string // the hub's realplexor block
	extra   string // more Caddyfile after the two sites
	// waitSite replaces the body of the WAIT site; %[1]s is the hub name.
	waitSite string
	// globals are more global options.
	globals string
}

var hubNameRE = regexp.MustCompile(`\W+`)

// startServer loads a config whose realplexor hub block holds options
// (Caddyfile lines, may be empty).
func startServer(t testing.TB, options string) *server {
	t.Helper()
	return startServerWith(t, options, nil)
}

// startServerWith is startServer with a hook to adjust the config first.
func startServerWith(t testing.TB, options string, adjust func(*server)) *server {
	t.Helper()
	s := &server{
		t:       t,
		tester:  testcaddy.NewTester(t, adminPort),
		hubName: "t_" + hubNameRE.ReplaceAllString(t.Name(), "_"),
		options: options,
	}
	if adjust != nil {
		adjust(s)
	}
	s.load()
	return s
}

// caddyfile renders the test config.
func (s *server) caddyfile() string {
	return fmt.Sprintf(`{
	admin localhost:%d
	http_port %d
	https_port %d
	skip_install_trust
	persist_config off
	default_bind 127.0.0.1
	%s
	realplexor %s {
%s
	}
}
http://:%d {
	%s
}
http://:%d {
	realplexor_publish %s
}
%s`, adminPort, httpPort, httpsPort, s.globals, s.hubName, s.options, waitPort, s.waitBody(), inPort, s.hubName, s.extra)
}

func (s *server) waitBody() string {
	if s.waitSite == "" {
		return "realplexor_wait " + s.hubName
	}
	return fmt.Sprintf(s.waitSite, s.hubName)
}

// load (re)loads the config; calling it again is a config reload.
func (s *server) load() {
	s.t.Helper()
	testcaddy.Load(s.t, s.tester, s.caddyfile(), waitPort, inPort)
}

// hub returns the test's hub from the process-wide pool.
func (s *server) hub() *Hub {
	s.t.Helper()
	var found *Hub
	hubs.Range(func(k, v any) bool {
		if k == hubPoolKey(s.hubName, "") {
			found = v.(*Hub)
			return false
		}
		return true
	})
	if found == nil {
		s.t.Fatalf("hub %s not in the pool", s.hubName)
	}
	return found
}

// counters returns P/D/C/O/T (Appendix B) as a string like "0/1/0/0/1".
func (s *server) counters() string {
	c := s.hub().Counters()
	return fmt.Sprintf("%d/%d/%d/%d/%d", c.Parked, c.WithData, c.WithListeners, c.Online, c.CleanupTimers)
}

// eventually and listeners come from the shared test helpers.
var (
	eventually = testcaddy.Eventually
	listeners  = testcaddy.Listeners
)

// waitCounters waits until the storage counters read want.
func (s *server) waitCounters(want string) {
	s.t.Helper()
	var got string
	eventually(s.t, "counters "+want, func() bool { got = s.counters(); return got == want })
}

// rawExchange sends req to addr, half-closes like the PHP client
// (R-PHP-4) and returns everything received until the server closes.
func rawExchange(t testing.TB, port int, req string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		t.Fatalf("dial %d: %v", port, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatalf("write: %v", err)
	}
	_ = conn.(*net.TCPConn).CloseWrite()
	out, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(out)
}

// phpRequest builds the exact request of the PHP client (R-PHP-4).
func phpRequest(identifier, body string) string {
	return fmt.Sprintf("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\nX-Realplexor: identifier=%s\r\n\r\n%s", len(body), identifier, body)
}

// publish sends data (already JSON) to the ids the way the PHP client
// does and returns the raw reply.
func (s *server) publish(ids, data string) string {
	s.t.Helper()
	return rawExchange(s.t, inPort, phpRequest(ids, data))
}

// publishOK publishes and fails the test unless the reply is a plain 200.
func (s *server) publishOK(ids, data string) {
	s.t.Helper()
	if r := s.publish(ids, data); statusOf(r) != 200 {
		s.t.Fatalf("publish %s: %q", ids, r)
	}
}

// command sends an IN command with the PHP client's head
// (`X-Realplexor: identifier=[login:pass@]`, R-PHP-6) and returns the body
// of a 200 reply.
func (s *server) command(creds, cmd string) string {
	s.t.Helper()
	r := rawExchange(s.t, inPort, phpRequest(creds, cmd))
	if statusOf(r) != 200 {
		s.t.Fatalf("command %q: %q", cmd, r)
	}
	return bodyOf(s.t, r)
}

// statusOf returns the status code of a raw HTTP reply (0 if none).
func statusOf(reply string) int {
	f := strings.Fields(reply)
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// bodyOf returns the body of a raw reply and checks Content-Length
// against it, as the PHP client does (R-PHP-5).
func bodyOf(t testing.TB, reply string) string {
	t.Helper()
	head, body, ok := strings.Cut(reply, "\r\n\r\n")
	if !ok {
		t.Fatalf("no header end in %q", reply)
	}
	m := regexp.MustCompile(`(?im)^Content-Length:\s*(\d+)`).FindStringSubmatch(head)
	if m == nil {
		t.Fatalf("no Content-Length in %q", head)
	}
	if n, _ := strconv.Atoi(m[1]); n != len(body) {
		t.Fatalf("Content-Length %d but body has %d bytes: %q", n, len(body), reply)
	}
	return body
}

// poll is one WAIT request on a raw connection.
type poll struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	head string
}

// openPoll sends `GET /?identifier=<ids>` and returns once the reply's
// header block and prelude arrived, i.e. once the request is registered.
func openPoll(t testing.TB, ids string) *poll {
	t.Helper()
	return openRawPoll(t, fmt.Sprintf("GET /?identifier=%s&ncrnd=1 HTTP/1.1\r\nHost: rpl.example.com\r\n\r\n", ids))
}

// openRawPoll sends req and reads the header block and, for a parked
// poll, the ` \r\n` prelude (R-WAIT-7).
func openRawPoll(t testing.TB, req string) *poll {
	t.Helper()
	return openRawPollAt(t, waitPort, req)
}

// openRawPollAt is openRawPoll on another port.
func openRawPollAt(t testing.TB, port int, req string) *poll {
	t.Helper()
	conn := dialPoll(t, port)
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatalf("write: %v", err)
	}
	p := &poll{t: t, conn: conn, r: bufio.NewReader(conn)}
	var head strings.Builder
	for {
		line, err := p.r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading poll head: %v (so far %q)", err, head.String())
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
	}
	p.head = head.String()
	if statusOf(p.head) != 200 {
		t.Fatalf("poll refused: %q", p.head)
	}
	prelude := make([]byte, 3)
	if _, err := io.ReadFull(p.r, prelude); err != nil || string(prelude) != " \r\n" {
		t.Fatalf("prelude: %q %v", prelude, err)
	}
	return p
}

// dialPoll opens a client connection to port for one test, bounded in time.
func dialPoll(t testing.TB, port int) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		t.Fatalf("dial wait: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	return conn
}

// rest reads the body after the prelude until the server closes.
func (p *poll) rest() string {
	p.t.Helper()
	b, err := io.ReadAll(p.r)
	if err != nil {
		p.t.Fatalf("reading poll: %v", err)
	}
	return string(b)
}

// header returns a header value of the poll's reply.
func (p *poll) header(name string) string {
	m := regexp.MustCompile(`(?im)^` + regexp.QuoteMeta(name) + `:\s*(.*?)\r$`).FindStringSubmatch(p.head)
	if m == nil {
		return ""
	}
	return m[1]
}

// close hangs up, as a browser closing a tab (R-WAIT-17).
func (p *poll) close() { p.conn.Close() }

// generated matches a server-generated cursor (R-CUR-3), as the
// original tests mask it.
var generated = regexp.MustCompile(`"\d{10}\.\d{14}"`)

// masked replaces generated cursors with "<cursor>".
func masked(s string) string { return generated.ReplaceAllString(s, `"<cursor>"`) }

// entry renders one R-WAIT-13 batch entry for expected values.
func entryJSON(ids, data string) string {
	sep := " "
	if strings.Contains(data, "\n") {
		sep = "\n"
	}
	return "  {\n    \"ids\": { " + ids + " },\n    \"data\":" + sep + data + "\n  }"
}

// batch renders a whole R-WAIT-13 body from entries.
func batch(entries ...string) string {
	return "[\n" + strings.Join(entries, ",\n") + "\n]"
}
