package realplexor

// Tests against a real caddy-realplexor: Caddy runs in this test process
// (caddytest) with the module, a WAIT site on 127.0.0.1:20101 and an IN
// site on 127.0.0.1:20102; browsers are raw TCP polls. Every test loads a
// config with a hub of its own, so channel and presence state never leak
// between tests. A few tests need replies the real server never sends
// (malformed lines, no reply at all) and use a small fake on port 20110.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/caddy-realplexor/caddy-realplexor"

	"github.com/caddy-realplexor/caddy-realplexor/internal/testcaddy"
)

const (
	adminPort = 20100
	waitPort  = 20101
	inPort    = 20102
	httpPort  = 20103 // Caddy's http_port/https_port, kept off 80/443
	httpsPort = 20104
	fakePort  = 20110
	deadPort  = 20199 // nothing listens here
)

var inAddr = fmt.Sprintf("http://127.0.0.1:%d", inPort)

func TestMain(m *testing.M) {
	// Keep Caddy's autosave and data (the cursor floor) out of $HOME.
	dir, err := os.MkdirTemp("", "realplexor-client-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CONFIG_HOME", dir)
	os.Setenv("XDG_DATA_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	nonWord = regexp.MustCompile(`\W+`)
	loads   atomic.Int32
)

// startServer loads a config whose hub (named after the test) has the
// given realplexor options (Caddyfile lines, may be empty).
func startServer(t *testing.T, options string) {
	t.Helper()
	// A fresh hub per load: a reload keeps the hubs it still names.
	hub := fmt.Sprintf("c_%s_%d", nonWord.ReplaceAllString(t.Name(), "_"), loads.Add(1))
	testcaddy.Load(t, testcaddy.NewTester(t, adminPort), fmt.Sprintf(`{
	admin localhost:%d
	http_port %d
	https_port %d
	skip_install_trust
	persist_config off
	default_bind 127.0.0.1
	realplexor %s {
%s
	}
}
http://:%[6]d {
	realplexor_wait %[4]s
}
http://:%[7]d {
	realplexor_publish %[4]s
}
`, adminPort, httpPort, httpsPort, hub, options, waitPort, inPort), waitPort, inPort)
}

var eventually = testcaddy.Eventually

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// poll is a browser's long-poll on a raw connection.
type poll struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// openPoll sends `GET /?<marker>=<ids>` to the WAIT site and returns once
// the reply's headers and ` \r\n` prelude arrived: the poll is parked.
func openPoll(t *testing.T, ids string) *poll { return openPollMarker(t, "identifier", ids) }

func openPollMarker(t *testing.T, marker, ids string) *poll {
	t.Helper()
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", waitPort), 5*time.Second)
	if err != nil {
		t.Fatalf("dial wait: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET /?%s=%s HTTP/1.1\r\nHost: rpl.example.com\r\n\r\n", marker, ids); err != nil {
		t.Fatalf("write: %v", err)
	}
	p := &poll{t: t, conn: conn, r: bufio.NewReader(conn)}
	status := ""
	for {
		line, err := p.r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading poll head: %v", err)
		}
		if status == "" {
			status = line
		}
		if line == "\r\n" {
			break
		}
	}
	if !strings.HasPrefix(status, "HTTP/1.1 200 ") {
		t.Fatalf("poll %s refused: %q", ids, status)
	}
	prelude := make([]byte, 3)
	if _, err := io.ReadFull(p.r, prelude); err != nil || string(prelude) != " \r\n" {
		t.Fatalf("prelude: %q %v", prelude, err)
	}
	return p
}

// entry is one element of a WAIT reply.
type entry struct {
	IDs  map[string]string `json:"ids"`
	Data json.RawMessage   `json:"data"`
}

// receive reads the poll's reply until the server closes and parses it.
func (p *poll) receive() []entry {
	p.t.Helper()
	b, err := io.ReadAll(p.r)
	if err != nil {
		p.t.Fatalf("reading poll: %v", err)
	}
	var out []entry
	if err := json.Unmarshal(b, &out); err != nil {
		p.t.Fatalf("poll reply %q: %v", b, err)
	}
	return out
}

var generatedCursor = regexp.MustCompile(`^\d{10}\.\d{14}$`)

// one expects a reply of exactly one entry for the ids with the data.
func (p *poll) one(wantIDs []string, wantData string) entry {
	p.t.Helper()
	got := p.receive()
	if len(got) != 1 {
		p.t.Fatalf("got %d entries, want 1: %+v", len(got), got)
	}
	e := got[0]
	var ids []string
	for id := range e.IDs {
		ids = append(ids, id)
	}
	if !reflect.DeepEqual(ids, wantIDs) || string(e.Data) != wantData {
		p.t.Fatalf("got ids %v data %s, want ids %v data %s", e.IDs, e.Data, wantIDs, wantData)
	}
	return e
}

func mustSend(t *testing.T, c *Client, ids []IDCursor, data any, limiters ...string) SendResult {
	t.Helper()
	res, err := c.Send(ctxT(t), ids, data, limiters...)
	if err != nil {
		t.Fatalf("Send(%v, %v, %v): %v", ids, data, limiters, err)
	}
	return res
}

func TestSendToIDs(t *testing.T) {
	startServer(t, "")
	p := openPoll(t, "alpha")
	c := New(inAddr)
	res := mustSend(t, c, IDs("alpha", "beta"), map[string]string{"text": "Hello!"})
	e := p.one([]string{"alpha"}, `{"text":"Hello!"}`)
	if !generatedCursor.MatchString(e.IDs["alpha"]) {
		t.Errorf("cursor %q is not a generated one", e.IDs["alpha"])
	}
	// The server does not report the cursor today; if it starts to (the
	// X-Realplexor-Cursor header), it must be the one the poll got.
	if res.Cursor != "" && (res.Cursor != e.IDs["alpha"] || res.Cursors["alpha"] != res.Cursor || res.Cursors["beta"] != res.Cursor) {
		t.Errorf("reported cursor %q / %v, poll got %q", res.Cursor, res.Cursors, e.IDs["alpha"])
	}
	if res.Cursor == "" && len(res.Cursors) != 0 {
		t.Errorf("cursors %v without a reported cursor", res.Cursors)
	}

	// beta buffered it: a poll from cursor 0 replays it.
	openPoll(t, "0:beta").one([]string{"beta"}, `{"text":"Hello!"}`)

	// json.RawMessage is sent byte for byte; other values as encoding/json writes them.
	p = openPoll(t, "alpha")
	mustSend(t, c, IDs("alpha"), json.RawMessage(`{"a": [1, 2],  "b": "\u00e9"}`))
	p.one([]string{"alpha"}, `{"a": [1, 2],  "b": "\u00e9"}`)
	p = openPoll(t, "alpha")
	mustSend(t, c, IDs("alpha"), "Test!")
	p.one([]string{"alpha"}, `"Test!"`)
	p = openPoll(t, "alpha")
	mustSend(t, c, IDs("alpha"), nil)
	p.one([]string{"alpha"}, `null`)
}

// 505_phpapi_json_ns: the namespace goes in front of every id.
func TestSendNamespace(t *testing.T) {
	startServer(t, "")
	p := openPoll(t, "ns_abc")
	c := New(inAddr, WithNamespace("ns_"))
	if c.Namespace() != "ns_" {
		t.Errorf("Namespace() = %q", c.Namespace())
	}
	mustSend(t, c, IDs("abc", "def"), "Test!")
	p.one([]string{"ns_abc"}, `"Test!"`)
	// ns_def buffered it; "abc" and "def" themselves got nothing (a poll
	// from cursor 0 would replay it).
	openPoll(t, "0:abc,0:def,0:ns_def").one([]string{"ns_def"}, `"Test!"`)
}

// 520_phpapi_stamps: explicit cursors; the result reports them.
func TestSendCursors(t *testing.T) {
	startServer(t, "")
	c := New(inAddr)
	p := openPoll(t, "5:abc")
	res := mustSend(t, c, []IDCursor{{ID: "abc", Cursor: "10"}, {ID: "def", Cursor: "20.5"}, {ID: "ghi"}}, "Test!")
	p.one([]string{"abc"}, `"Test!"`)
	if res.Cursors["abc"] != "10" || res.Cursors["def"] != "20.5" {
		t.Errorf("cursors %v", res.Cursors)
	}
	if _, known := res.Cursors["ghi"]; known != (res.Cursor != "") {
		t.Errorf("ghi's cursor %v known without a reported cursor %q", res.Cursors, res.Cursor)
	}
	e := openPoll(t, "15:def").one([]string{"def"}, `"Test!"`)
	if e.IDs["def"] != "20.5" {
		t.Errorf("def cursor %q", e.IDs["def"])
	}
	// A poll whose cursor is past the message's does not get it again.
	p = openPoll(t, "20.5:def")
	mustSend(t, c, []IDCursor{{ID: "def", Cursor: "30"}}, "newer")
	if e := p.one([]string{"def"}, `"newer"`); e.IDs["def"] != "30" {
		t.Errorf("def cursor %q", e.IDs["def"])
	}
}

// 505_phpapi_json_ns_limited: limiters get the namespace and restrict the message.
func TestSendLimiters(t *testing.T) {
	startServer(t, "")
	c := New(inAddr, WithNamespace("ns_"))
	mustSend(t, c, []IDCursor{{"abc", "10"}, {"def", "10"}}, "public data")
	mustSend(t, c, []IDCursor{{"abc", "11"}, {"def", "11"}}, "private data", "myid1", "myid2")

	got := openPoll(t, "5:ns_abc").receive()
	if len(got) != 1 || string(got[0].Data) != `"public data"` || got[0].IDs["ns_abc"] != "10" {
		t.Fatalf("poll without the limiter got %+v", got)
	}
	got = openPoll(t, "5:ns_abc,666:ns_myid1").receive()
	if len(got) != 2 || string(got[0].Data) != `"public data"` || string(got[1].Data) != `"private data"` || got[1].IDs["ns_abc"] != "11" {
		t.Fatalf("poll with the limiter got %+v", got)
	}
	// Without the namespace the limiter does not open it.
	got = openPoll(t, "5:ns_def,666:myid2").receive()
	if len(got) != 1 || string(got[0].Data) != `"public data"` {
		t.Fatalf("poll with the un-namespaced limiter got %+v", got)
	}
}

// WithIdentifier: a server configured with another marker name.
func TestIdentifierOption(t *testing.T) {
	startServer(t, "identifier rpl")
	p := openPollMarker(t, "rpl", "alpha")
	if _, err := New(inAddr).Send(ctxT(t), IDs("alpha"), "x"); err == nil {
		t.Fatal("a publish with the default marker was accepted by a server using rpl")
	}
	mustSend(t, New(inAddr, WithIdentifier("rpl")), IDs("alpha"), "marked")
	p.one([]string{"alpha"}, `"marked"`)
	if _, err := New(inAddr, WithIdentifier("rpl")).Online(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func usersFile(t *testing.T) string {
	t.Helper()
	path, err := filepath.Abs("testdata/users.htpasswd")
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// 600_phpapi_login, 610_phpapi_login_ns, 620_phpapi_login_online.
func TestLogin(t *testing.T) {
	startServer(t, "users_file "+usersFile(t))
	p := openPoll(t, "user_abc")
	c := New(inAddr, WithLogin("user", "password"))
	if c.Namespace() != "user_" {
		t.Errorf("Namespace() = %q", c.Namespace())
	}
	if res := mustSend(t, c, IDs("abc", "def"), "Test!"); res.Skipped != 0 {
		t.Errorf("skipped %d", res.Skipped)
	}
	p.one([]string{"user_abc"}, `"Test!"`)

	// The login's prefix comes before the namespace, whatever the option order.
	p = openPoll(t, "user_ns_abc")
	cns := New(inAddr, WithLogin("user", "password"), WithNamespace("ns_"))
	if cns.Namespace() != "user_ns_" {
		t.Errorf("Namespace() = %q", cns.Namespace())
	}
	mustSend(t, cns, IDs("abc"), "ns")
	p.one([]string{"user_ns_abc"}, `"ns"`)

	// Commands see the login's ids, stripped of the login's prefix.
	openPoll(t, "5:user_abc,10:user_def")
	ids, err := c.Online(ctxT(t))
	if err != nil || !reflect.DeepEqual(ids, []string{"abc", "def", "ns_abc"}) {
		t.Errorf("Online() = %q, %v", ids, err)
	}
	ids, err = cns.Online(ctxT(t))
	if err != nil || !reflect.DeepEqual(ids, []string{"abc"}) {
		t.Errorf("namespaced Online() = %q, %v", ids, err)
	}
	events, err := c.Watch(ctxT(t), 1, "a")
	if err != nil || len(events) != 1 || events[0].ID != "abc" || events[0].Type != EventOnline {
		t.Errorf("Watch(1, a) = %+v, %v", events, err)
	}
}

// 605_phpapi_login_invalid: refused logins are *AccessDeniedError and
// publish nothing.
func TestAccessDenied(t *testing.T) {
	startServer(t, "users_file "+usersFile(t))
	p := openPoll(t, "user_abc,unknown_abc")
	for _, tc := range []struct {
		opts []Option
		msg  string
	}{
		{[]Option{WithLogin("unknown", "password")}, "unknown login: unknown"},
		{[]Option{WithLogin("user", "wrong")}, "invalid password for login: user"},
		{nil, "access denied for guest user"},
	} {
		c := New(inAddr, tc.opts...)
		_, err := c.Send(ctxT(t), IDs("abc"), "Test!")
		var denied *AccessDeniedError
		if !errors.As(err, &denied) || denied.Message != tc.msg {
			t.Errorf("Send: %v (%T), want access denied %q", err, err, tc.msg)
		} else if err.Error() != "realplexor: access denied: "+tc.msg {
			t.Errorf("error text %q", err)
		}
		if _, err := c.Online(ctxT(t)); !errors.As(err, &denied) || denied.Message != tc.msg {
			t.Errorf("Online: %v", err)
		}
		if _, err := c.Watch(ctxT(t), 0); !errors.As(err, &denied) || denied.Message != tc.msg {
			t.Errorf("Watch: %v", err)
		}
	}
	// The parked poll got nothing from the refused sends: the next
	// message is the only one it receives.
	mustSend(t, New(inAddr, WithLogin("user", "password")), IDs("abc"), "ok")
	p.one([]string{"user_abc"}, `"ok"`)
}

// 540..547: online lists and counters, prefixes, namespaces.
func TestOnline(t *testing.T) {
	startServer(t, "")
	c := New(inAddr)
	ctx := ctxT(t)
	if ids, err := c.Online(ctx); err != nil || ids == nil || len(ids) != 0 {
		t.Fatalf("Online() on a fresh hub = %#v, %v", ids, err)
	}
	if m, err := c.OnlineWithCounters(ctx); err != nil || m == nil || len(m) != 0 {
		t.Fatalf("OnlineWithCounters() on a fresh hub = %#v, %v", m, err)
	}

	openPoll(t, "5:abc,10:def,6:abc") // one connection: counts once per id
	if m, err := c.OnlineWithCounters(ctx); err != nil || !reflect.DeepEqual(m, map[string]int{"abc": 1, "def": 1}) {
		t.Errorf("OnlineWithCounters() = %v, %v", m, err)
	}
	openPoll(t, "abc")
	openPoll(t, "A_abc")
	openPoll(t, "ns_A_abc,ns_B_ghi,ns_C_x")
	openPoll(t, "B_ghi")
	if m, err := c.OnlineWithCounters(ctx); err != nil || !reflect.DeepEqual(m, map[string]int{
		"abc": 2, "def": 1, "A_abc": 1, "B_ghi": 1, "ns_A_abc": 1, "ns_B_ghi": 1, "ns_C_x": 1,
	}) {
		t.Errorf("OnlineWithCounters() = %v, %v", m, err)
	}
	if ids, err := c.Online(ctx); err != nil || !reflect.DeepEqual(ids, []string{"A_abc", "B_ghi", "abc", "def", "ns_A_abc", "ns_B_ghi", "ns_C_x"}) {
		t.Errorf("Online() = %q, %v", ids, err)
	}
	if ids, err := c.Online(ctx, "A_", "B_"); err != nil || !reflect.DeepEqual(ids, []string{"A_abc", "B_ghi"}) {
		t.Errorf("Online(A_, B_) = %q, %v", ids, err)
	}
	if ids, err := c.Online(ctx, "xxx_"); err != nil || len(ids) != 0 {
		t.Errorf("Online(xxx_) = %q, %v", ids, err)
	}
	// An empty prefix matches every id.
	if ids, err := c.Online(ctx, "A_", ""); err != nil || len(ids) != 7 {
		t.Errorf(`Online(A_, "") = %q, %v`, ids, err)
	}

	ns := New(inAddr, WithNamespace("ns_"))
	if ids, err := ns.Online(ctx, "A_", "B_"); err != nil || !reflect.DeepEqual(ids, []string{"A_abc", "B_ghi"}) {
		t.Errorf("namespaced Online(A_, B_) = %q, %v", ids, err)
	}
	if ids, err := ns.Online(ctx); err != nil || !reflect.DeepEqual(ids, []string{"A_abc", "B_ghi", "C_x"}) {
		t.Errorf("namespaced Online() = %q, %v", ids, err)
	}
	if m, err := ns.OnlineWithCounters(ctx, ""); err != nil || !reflect.DeepEqual(m, map[string]int{"A_abc": 1, "B_ghi": 1, "C_x": 1}) {
		t.Errorf(`namespaced OnlineWithCounters("") = %v, %v`, m, err)
	}
}

// 560..564: watch from 0 (FAKE), events with namespaces and prefixes, offline.
func TestWatch(t *testing.T) {
	startServer(t, "offline_timeout 1s")
	c := New(inAddr)
	ns := New(inAddr, WithNamespace("ns_"))
	ctx := ctxT(t)

	events, err := c.Watch(ctx, 0)
	if err != nil || len(events) != 1 || events[0].Type != EventFake || events[0].ID != "FAKE" || events[0].Pos <= 0 {
		t.Fatalf("Watch(0) = %+v, %v", events, err)
	}
	// The namespaced client gets the FAKE line as it is, too.
	fake, err := ns.Watch(ctx, 0, "x")
	if err != nil || !reflect.DeepEqual(fake, events) {
		t.Fatalf("namespaced Watch(0) = %+v, %v", fake, err)
	}
	from := events[0].Pos - 1 // the first event gets exactly the FAKE position

	openPoll(t, "ns_abc")
	openPoll(t, "def")
	ghiPoll := openPoll(t, "ns_demo_ghi")
	all, err := c.Watch(ctx, from)
	if err != nil || len(all) != 3 {
		t.Fatalf("Watch(%d) = %+v, %v", from, all, err)
	}
	for i, want := range []string{"ns_abc", "def", "ns_demo_ghi"} {
		if all[i].Type != EventOnline || all[i].ID != want || (i > 0 && all[i].Pos <= all[i-1].Pos) {
			t.Errorf("event %d: %+v, want online %s", i, all[i], want)
		}
	}
	if all[0].Pos != events[0].Pos {
		t.Errorf("first event at %d, FAKE said %d", all[0].Pos, events[0].Pos)
	}
	got, err := ns.Watch(ctx, from)
	if err != nil || !reflect.DeepEqual(got, []Event{{EventOnline, all[0].Pos, "abc"}, {EventOnline, all[2].Pos, "demo_ghi"}}) {
		t.Errorf("namespaced Watch(%d) = %+v, %v", from, got, err)
	}
	got, err = ns.Watch(ctx, from, "demo_")
	if err != nil || !reflect.DeepEqual(got, []Event{{EventOnline, all[2].Pos, "demo_ghi"}}) {
		t.Errorf("namespaced Watch(%d, demo_) = %+v, %v", from, got, err)
	}
	if got, err := c.Watch(ctx, all[2].Pos); err != nil || len(got) != 0 {
		t.Errorf("Watch(last) = %+v, %v", got, err)
	}

	// Hanging up: the id goes offline after offline_timeout.
	last := all[2].Pos
	ghiPoll.conn.Close()
	eventually(t, "the offline event", func() bool {
		got, err = ns.Watch(ctx, last)
		return err == nil && len(got) == 1
	})
	if got[0].Type != EventOffline || got[0].ID != "demo_ghi" || got[0].Pos <= last {
		t.Errorf("after hanging up: %+v", got)
	}
}

// 530_phpapi_errors and the checks the PHP class lacks: nothing invalid
// reaches the server.
func TestValidation(t *testing.T) {
	var dials atomic.Int32
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return nil, errors.New("no dial expected")
	}}}
	ctx := ctxT(t)
	c := New(inAddr, WithHTTPClient(hc))
	check := func(what string, err error, want string) {
		t.Helper()
		if err == nil || !errors.Is(err, ErrInvalidArgument) || (want != "" && err.Error() != want) {
			t.Errorf("%s: %v, want %q (ErrInvalidArgument)", what, err, want)
		}
	}
	send := func(ids []IDCursor, data any, limiters ...string) error {
		_, err := c.Send(ctx, ids, data, limiters...)
		return err
	}
	check("id no-num", send(IDs("abc", "no-num"), "x"), `identifier must be alphanumeric, "no-num" given`)
	check("empty id", send(IDs(""), "x"), `identifier must be alphanumeric, "" given`)
	check("id with comma", send(IDs("a,b"), "x"), `identifier must be alphanumeric, "a,b" given`)
	check("cursor aaa", send([]IDCursor{{"abc", "aaa"}}, "x"), `cursor must be numeric, "aaa" given`)
	for _, cur := range []string{"1e3", " 5", "+5", "-5", "5.", ".5", "1.2.3", "0x10"} {
		check("cursor "+cur, send([]IDCursor{{"abc", cur}}, "x"), fmt.Sprintf("cursor must be numeric, %q given", cur))
	}
	check("limiter", send(IDs("abc"), "x", "ok", "not ok"), `limiter must be alphanumeric, "not ok" given`)
	check("no ids", send(nil, "x"), "no ids to send to")
	check("raw not JSON", send(IDs("abc"), json.RawMessage(`{"a":`)), "data is not valid JSON")
	check("raw empty", send(IDs("abc"), json.RawMessage(nil)), "data is not valid JSON")
	check("unencodable", send(IDs("abc"), make(chan int)), "")
	_, err := c.Online(ctx, "ok", "a b")
	check("prefix", err, `prefix must be alphanumeric, "a b" given`)
	_, err = c.OnlineWithCounters(ctx, "a\nstats")
	check("prefix newline", err, `prefix must be alphanumeric, "a\nstats" given`)
	_, err = c.Watch(ctx, 1, "a-b")
	check("watch prefix", err, `prefix must be alphanumeric, "a-b" given`)
	_, err = c.Watch(ctx, -1)
	check("watch position", err, "position must not be negative, -1 given")

	// Bad options: every call returns the error.
	for _, tc := range []struct {
		c    *Client
		want string
	}{
		{New("ftp://127.0.0.1:1", WithHTTPClient(hc)), `invalid address "ftp://127.0.0.1:1": want http://host:port or https://host:port`},
		{New("http://", WithHTTPClient(hc)), ""},
		{New(inAddr, WithHTTPClient(hc), WithNamespace("a-b")), `namespace must be alphanumeric, "a-b" given`},
		{New(inAddr, WithHTTPClient(hc), WithIdentifier("")), `identifier name must be alphanumeric, "" given`},
		{New(inAddr, WithHTTPClient(hc), WithLogin("us_er", "password")), `login must be letters and digits, "us_er" given`},
		{New(inAddr, WithHTTPClient(hc), WithLogin("", "password")), `login must be letters and digits, "" given`},
		{New(inAddr, WithHTTPClient(hc), WithLogin("user", "pass@word")), ""},
		{New(inAddr, WithHTTPClient(hc), WithLogin("user", "pass word")), ""},
		{New(inAddr, WithHTTPClient(hc), WithLogin("user", "")), ""},
	} {
		_, err := tc.c.Send(ctx, IDs("abc"), "x")
		check("option", err, tc.want)
		_, err = tc.c.Online(ctx)
		check("option", err, tc.want)
		_, err = tc.c.OnlineWithCounters(ctx)
		check("option", err, tc.want)
		_, err = tc.c.Watch(ctx, 0)
		check("option", err, tc.want)
	}
	if n := dials.Load(); n != 0 {
		t.Errorf("%d dials for invalid calls", n)
	}
}

// Refusals other than 403 are *ServerError with the server's reason.
func TestServerError(t *testing.T) {
	startServer(t, "in_maxlen 1KiB")
	_, err := New(inAddr).Send(ctxT(t), IDs("abc"), strings.Repeat("x", 2000))
	var se *ServerError
	if !errors.As(err, &se) || se.Status != http.StatusRequestEntityTooLarge || se.Reason != "request body over in_maxlen (1024 bytes)" {
		t.Fatalf("oversized send: %v (%T)", err, err)
	}
	if err.Error() != "realplexor: server replied 413: request body over in_maxlen (1024 bytes)" {
		t.Errorf("error text %q", err)
	}
}

// fake runs an HTTP server on fakePort whose handler is h.
func fake(t *testing.T, h http.HandlerFunc) {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", fakePort))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

var fakeAddr = fmt.Sprintf("http://127.0.0.1:%d", fakePort)

// The exact requests: the PHP class's header and bodies (R-PHP-3..8).
func TestWireFormat(t *testing.T) {
	type req struct{ method, path, header, body, contentLength string }
	var mu sync.Mutex
	var got []req
	reply := ""
	fake(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, req{r.Method, r.URL.RequestURI(), r.Header.Get("X-Realplexor"), string(b), strconv.FormatInt(r.ContentLength, 10)})
		body := reply
		mu.Unlock()
		_, _ = io.WriteString(w, body)
	})
	ctx := ctxT(t)
	c := New(fakeAddr, WithLogin("user", "p4ss:w,rd"), WithNamespace("ns_"))
	mustSend(t, c, []IDCursor{{"abc", "10"}, {"def", "20"}, {"ghi", ""}}, "Test!", "l1", "l2")
	mustSend(t, New(fakeAddr), IDs("abc", "def"), map[string]any{"a": 1})
	mustSend(t, New(fakeAddr+"/in/line?x=1"), IDs("abc"), 1)
	if _, err := c.Online(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := New(fakeAddr, WithNamespace("ns_")).Online(ctx, "A_", "B_"); err != nil {
		t.Fatal(err)
	}
	if _, err := New(fakeAddr).OnlineWithCounters(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := New(fakeAddr, WithNamespace("ns_")).Watch(ctx, 1, "demo_"); err != nil {
		t.Fatal(err)
	}
	if _, err := New(fakeAddr).Watch(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := New(strings.TrimPrefix(fakeAddr, "http://"), WithIdentifier("rpl")).Watch(ctx, 5); err != nil {
		t.Fatal(err)
	}
	want := []req{
		{"POST", "/", "identifier=user:p4ss:w,rd@10:user_ns_abc,20:user_ns_def,user_ns_ghi,*user_ns_l1,*user_ns_l2", `"Test!"`, "7"},
		{"POST", "/", "identifier=abc,def", `{"a":1}`, "7"},
		{"POST", "/in/line?x=1", "identifier=abc", `1`, "1"},
		{"POST", "/", "identifier=user:p4ss:w,rd@", "online user_ns_\n", "16"},
		{"POST", "/", "identifier=", "online ns_A_ ns_B_\n", "19"},
		{"POST", "/", "identifier=", "online\n", "7"},
		{"POST", "/", "identifier=", "watch 1 ns_demo_\n", "17"},
		{"POST", "/", "identifier=", "watch 0\n", "8"},
		{"POST", "/", "rpl=", "watch 5\n", "8"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("requests:\n got %q\nwant %q", got, want)
	}

	// Replies the real server does not send (yet).
	mu.Lock()
	reply = "garbage\n"
	mu.Unlock()
	if _, err := c.Online(ctx); !errors.Is(err, ErrMalformedReply) {
		t.Errorf("online garbage: %v", err)
	}
	if _, err := c.OnlineWithCounters(ctx); !errors.Is(err, ErrMalformedReply) {
		t.Errorf("online garbage: %v", err)
	}
	if _, err := c.Watch(ctx, 1); !errors.Is(err, ErrMalformedReply) || !strings.Contains(err.Error(), `cannot parse the event "garbage"`) {
		t.Errorf("watch garbage: %v", err)
	}
	for _, r := range []string{"abc x\n", "abc -1\n", "abc 1 2\n"} {
		mu.Lock()
		reply = r
		mu.Unlock()
		if _, err := c.OnlineWithCounters(ctx); !errors.Is(err, ErrMalformedReply) {
			t.Errorf("online %q: %v", r, err)
		}
	}
	mu.Lock()
	reply = "online 1.5:abc\n"
	mu.Unlock()
	if _, err := c.Watch(ctx, 1); !errors.Is(err, ErrMalformedReply) {
		t.Errorf("watch fractional position: %v", err)
	}
	// Whitespace-only replies are empty lists; CRLF lines are accepted.
	mu.Lock()
	reply = " \n"
	mu.Unlock()
	if ids, err := c.Online(ctx); err != nil || len(ids) != 0 {
		t.Errorf("blank online: %q %v", ids, err)
	}
	mu.Lock()
	reply = "user_ns_a 1\r\nuser_ns_b 0\r\n"
	mu.Unlock()
	if m, err := c.OnlineWithCounters(ctx); err != nil || !reflect.DeepEqual(m, map[string]int{"a": 1, "b": 0}) {
		t.Errorf("CRLF online: %v %v", m, err)
	}
	mu.Lock()
	reply = "online 11:user_ns_a\r\noffline 12:user_ns_b\n"
	mu.Unlock()
	if ev, err := c.Watch(ctx, 10); err != nil || !reflect.DeepEqual(ev, []Event{{"online", 11, "a"}, {"offline", 12, "b"}}) {
		t.Errorf("CRLF watch: %+v %v", ev, err)
	}
}

// A future server may report the generated cursor in X-Realplexor-Cursor
// and the ids skipped for a login in X-Realplexor-Skipped.
func TestSendResultHeaders(t *testing.T) {
	cursor := "1795308048.91507592100000"
	fake(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Realplexor-Cursor", cursor)
		w.Header().Set("X-Realplexor-Skipped", "2")
	})
	res, err := New(fakeAddr).Send(ctxT(t), []IDCursor{{"a", ""}, {"b", "7"}}, "x")
	want := SendResult{Cursor: cursor, Cursors: map[string]string{"a": cursor, "b": "7"}, Skipped: 2}
	if err != nil || !reflect.DeepEqual(res, want) {
		t.Errorf("Send = %+v, %v; want %+v", res, err, want)
	}
	cursor = "not a cursor"
	res, err = New(fakeAddr).Send(ctxT(t), []IDCursor{{"a", ""}, {"b", "7"}}, "x")
	want = SendResult{Cursors: map[string]string{"b": "7"}, Skipped: 2}
	if err != nil || !reflect.DeepEqual(res, want) {
		t.Errorf("Send with a malformed cursor header = %+v, %v; want %+v", res, err, want)
	}
}

// Calls end with their context.
func TestContextTimeout(t *testing.T) {
	release := make(chan struct{})
	fake(t, func(w http.ResponseWriter, r *http.Request) {
		select { // a server that never answers
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c := New(fakeAddr)
	for name, call := range map[string]func(context.Context) error{
		"Send":   func(ctx context.Context) error { _, err := c.Send(ctx, IDs("a"), "x"); return err },
		"Online": func(ctx context.Context) error { _, err := c.Online(ctx); return err },
		"Watch":  func(ctx context.Context) error { _, err := c.Watch(ctx, 1); return err },
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		start := time.Now()
		err := call(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: %v, want a deadline error", name, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s took %v", name, d)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Send(ctx, IDs("a"), "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	// Nothing listening: a plain transport error, neither typed reply.
	_, err := New(fmt.Sprintf("127.0.0.1:%d", deadPort)).Send(ctxT(t), IDs("a"), "x")
	var denied *AccessDeniedError
	var se *ServerError
	if err == nil || errors.As(err, &denied) || errors.As(err, &se) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("dead port: %v", err)
	}
}

// The default HTTP client keeps its connection: five sends and the
// commands dial once.
func TestConnectionReuse(t *testing.T) {
	startServer(t, "")
	c := New(inAddr)
	tr := c.http.Transport.(*http.Transport)
	var dials atomic.Int32
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return dial(ctx, network, addr)
	}
	p := openPoll(t, "alpha")
	for i := range 5 {
		mustSend(t, c, IDs("alpha"), i)
	}
	if got := p.receive(); len(got) == 0 {
		t.Fatal("nothing delivered")
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("5 sends dialled %d times, want 1", n)
	}
	if _, err := c.Online(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Watch(ctxT(t), 0); err != nil {
		t.Fatal(err)
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("sends and commands dialled %d times, want 1", n)
	}
	c.CloseIdleConnections()
	mustSend(t, c, IDs("alpha"), "again")
	if n := dials.Load(); n != 2 {
		t.Errorf("after CloseIdleConnections: %d dials, want 2", n)
	}
}

// One Client shared by many goroutines.
func TestConcurrentSends(t *testing.T) {
	startServer(t, "")
	c := New(inAddr)
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Send(ctxT(t), IDs(fmt.Sprintf("id%d", i)), i)
			if err == nil {
				_, err = c.Online(ctxT(t))
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		id := fmt.Sprintf("id%d", i)
		openPoll(t, "0:"+id).one([]string{id}, strconv.Itoa(i))
	}
}
