package caddyrealplexor

// A Go port, in test code, of the PHP publisher client's wire behaviour
// (R-PHP-1..8), and one test per original PHP-client test file
// (Appendix A.2, api/php/t/*.phpt), asserting the same results and the
// final P/D/C/O/T storage counters.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf16"
)

// phpError is a Dklab_Realplexor_Exception: only its message matters.
type phpError struct{ msg string }

func (e *phpError) Error() string { return e.msg }

func phpErrorf(format string, args ...any) error { return &phpError{fmt.Sprintf(format, args...)} }

// phpClient mirrors Dklab_Realplexor (R-PHP-1).
type phpClient struct {
	host       string
	port       int
	namespace  string
	identifier string
	login      string
	password   string

	// What the last call wrote to the socket, for wire assertions.
	lastRequest string
	// PHP notices raised by cmdWatch (R-PHP-8).
	notices []string
}

// newPHPClient is `new Dklab_Realplexor($host, $port, $namespace = null,
// $identifier = "identifier")`.
func newPHPClient(host string, port int, namespace string) *phpClient {
	return &phpClient{host: host, port: port, namespace: namespace, identifier: "identifier"}
}

// phpIDCursor is one element of send()'s $idsAndCursors: an integer key (the
// value is an id without a cursor) is {id, nil}; `id => cursor` is
// {id, cursor}. The cursor may be an int, a float64 or a string.
type phpIDCursor struct {
	id     string
	cursor any
}

// ids builds an $idsAndCursors list of plain ids (integer keys).
func phpIDs(list ...string) []phpIDCursor {
	out := make([]phpIDCursor, len(list))
	for i, id := range list {
		out[i] = phpIDCursor{id: id}
	}
	return out
}

// logon is R-PHP-2: remember the credentials and put `<login>_` in front
// of the namespace. Nothing is checked here.
func (c *phpClient) logon(login, password string) {
	c.login = login
	c.password = password
	c.namespace = login + "_" + c.namespace
}

var phpWordRE = regexp.MustCompile(`^\w+$`)

// phpIsNumeric is PHP 5's is_numeric for strings: leading whitespace, an
// optional sign, a decimal number (with digits on at least one side of
// the point) and an optional exponent; no trailing whitespace.
var phpIsNumericRE = regexp.MustCompile(`^[ \t\n\r\v\f]*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$`)

// phpString renders a scalar the way PHP's string interpolation does.
func phpString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case bool:
		if x {
			return "1"
		}
		return ""
	case float64:
		if x == float64(int64(x)) {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'G', 14, 64)
	default:
		return fmt.Sprint(x)
	}
}

func phpIsNumeric(v any) bool {
	switch x := v.(type) {
	case int, int64, float64:
		return true
	case string:
		return phpIsNumericRE.MatchString(x)
	}
	return false
}

// phpFalsy is PHP's boolean conversion being false.
func phpFalsy(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case int:
		return x == 0
	case int64:
		return x == 0
	case float64:
		return x == 0
	case string:
		return x == "" || x == "0"
	}
	return false
}

// phpJSONEncode is json_encode with its default flags: like
// json.Marshal, but `/` is escaped as `\/`, non-ASCII characters become
// \uXXXX escapes (UTF-16 pairs beyond the BMP), and <, >, & are kept.
func phpJSONEncode(data any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(data); err != nil {
		return "", err
	}
	raw := strings.TrimSuffix(buf.String(), "\n")
	var out strings.Builder
	// `/` and non-ASCII can only occur inside JSON strings, so a plain
	// character pass is exact.
	for _, r := range raw {
		switch {
		case r == '/':
			out.WriteString(`\/`)
		case r < 0x80:
			out.WriteRune(r)
		case r > 0xFFFF:
			a, b := utf16.EncodeRune(r)
			fmt.Fprintf(&out, `\u%04x\u%04x`, a, b)
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
	}
	return out.String(), nil
}

// buildIdentifier is steps 2-7 of R-PHP-3.
func (c *phpClient) buildIdentifier(idsAndCursors []phpIDCursor, showOnlyForIds []string) (string, error) {
	var pairs []string
	for _, ic := range idsAndCursors {
		if !phpWordRE.MatchString(ic.id) {
			return "", phpErrorf("Identifier must be alphanumeric, \"%s\" given", ic.id)
		}
		id := c.namespace + ic.id
		if ic.cursor != nil {
			if !phpIsNumeric(ic.cursor) {
				return "", phpErrorf("Cursor must be numeric, \"%s\" given", phpString(ic.cursor))
			}
			pairs = append(pairs, phpString(ic.cursor)+":"+id)
		} else {
			pairs = append(pairs, id)
		}
	}
	// Only an array counts; the limiter ids are not validated.
	for _, id := range showOnlyForIds {
		pairs = append(pairs, "*"+c.namespace+id)
	}
	return strings.Join(pairs, ","), nil
}

// send is R-PHP-3: publish data (any value, JSON-encoded) to the ids.
func (c *phpClient) send(idsAndCursors []phpIDCursor, data any, showOnlyForIds []string) error {
	body, err := phpJSONEncode(data)
	if err != nil {
		return err
	}
	list, err := c.buildIdentifier(idsAndCursors, showOnlyForIds)
	if err != nil {
		return err
	}
	_, err = c.sendRaw(list, body)
	return err
}

// request renders R-PHP-4 byte for byte.
func (c *phpClient) request(list, body string) string {
	creds := ""
	if !phpFalsy(c.login) {
		creds = c.login + ":" + c.password + "@"
	}
	return "POST / HTTP/1.1\r\n" +
		"Host: " + c.host + "\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		"X-Realplexor: " + c.identifier + "=" + creds + list + "\r\n" +
		"\r\n" +
		body
}

// sendRaw is the client's _send: write, half-close, read to EOF, check
// the reply (R-PHP-5) and return the body.
func (c *phpClient) sendRaw(list, body string) (string, error) {
	req := c.request(list, body)
	reply, err := c.exchange(req)
	if err != nil {
		return "", err
	}
	return phpCheckReply(reply)
}

// exchange talks to the server over a raw TCP socket (R-PHP-4): a 5 s
// connect timeout, the request, a shutdown of the write side, then
// everything until the server closes.
func (c *phpClient) exchange(req string) (string, error) {
	c.lastRequest = req
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(c.host, strconv.Itoa(c.port)), 5*time.Second)
	if err != nil {
		return "", phpSocketError(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		return "", phpSocketError(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		return "", phpSocketError(err)
	}
	out, err := io.ReadAll(conn)
	if err != nil {
		return "", phpSocketError(err)
	}
	return string(out), nil
}

// phpSocketError renders `Error #<errno>: <errstr>`, errstr being the C
// library's strerror text (capitalised, unlike Go's).
func phpSocketError(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		if s != "" {
			s = strings.ToUpper(s[:1]) + s[1:]
		}
		return phpErrorf("Error #%d: %s", int(errno), s)
	}
	return &phpError{err.Error()}
}

var (
	phpStatusRE = regexp.MustCompile(`^HTTP/(\S+)\s+(\d+)\s+([^\r\n]+)`)
	phpCLRE     = regexp.MustCompile(`(?mi)^Content-Length:\s*(\d+)`)
)

// phpCheckReply is R-PHP-5.
func phpCheckReply(reply string) (string, error) {
	if reply == "" {
		return "", nil // a silent success, as the original server answers
	}
	headers, body, _ := strings.Cut(reply, "\r\n\r\n")
	m := phpStatusRE.FindStringSubmatch(headers)
	if m == nil {
		return "", phpErrorf("Non-HTTP response received:\n%s", reply)
	}
	if m[2] != "200" {
		return "", phpErrorf("Request failed: %s %s\n%s", m[2], m[3], body)
	}
	cl := phpCLRE.FindStringSubmatch(headers)
	if cl == nil {
		return "", phpErrorf("No Content-Length header in response headers:\n%s", headers)
	}
	need, _ := strconv.Atoi(cl[1])
	if len(body) != need {
		return "", phpErrorf("Response length (%d) is different than specified in Content-Length header (%d): possibly broken response\n", len(body), need)
	}
	return body, nil
}

// nsPrefixes applies the namespace to command prefixes (R-PHP-6): each
// prefix gets it in front; with none, the namespace alone is used.
func (c *phpClient) nsPrefixes(idPrefixes []string) []string {
	out := append([]string(nil), idPrefixes...)
	if c.namespace != "" {
		if len(out) == 0 {
			out = []string{""}
		}
		for i := range out {
			out[i] = c.namespace + out[i]
		}
	}
	return out
}

// sendCmd sends a command with the identifier `[login:pass@]` and an
// empty list (R-PHP-6, R-CMD-12).
func (c *phpClient) sendCmd(cmd string) (string, error) {
	return c.sendRaw("", cmd+"\n")
}

// phpOnlineCounter is one `id => "<count>"` pair of cmdOnlineWithCounters.
type phpOnlineCounter struct{ id, counter string }

// cmdOnlineWithCounters is R-PHP-6; the result keeps PHP's array order,
// and a repeated key overwrites the earlier value in place.
func (c *phpClient) cmdOnlineWithCounters(idPrefixes []string) ([]phpOnlineCounter, error) {
	prefixes := c.nsPrefixes(idPrefixes)
	cmd := "online"
	if len(prefixes) > 0 {
		cmd += " " + strings.Join(prefixes, " ")
	}
	resp, err := c.sendCmd(cmd)
	if err != nil {
		return nil, err
	}
	result := []phpOnlineCounter{}
	if strings.TrimSpace(resp) == "" {
		return result, nil
	}
	index := map[string]int{}
	for _, line := range strings.Split(resp, "\n") {
		parts := strings.Split(line, " ")
		id, counter := parts[0], ""
		if len(parts) > 1 {
			counter = parts[1]
		}
		if id == "" {
			continue
		}
		if c.namespace != "" && strings.HasPrefix(id, c.namespace) {
			id = id[len(c.namespace):]
		}
		if i, ok := index[id]; ok {
			result[i].counter = counter
			continue
		}
		index[id] = len(result)
		result = append(result, phpOnlineCounter{id, counter})
	}
	return result, nil
}

// cmdOnline is R-PHP-7: the keys of cmdOnlineWithCounters.
func (c *phpClient) cmdOnline(idPrefixes []string) ([]string, error) {
	counters, err := c.cmdOnlineWithCounters(idPrefixes)
	if err != nil {
		return nil, err
	}
	keys := []string{}
	for _, oc := range counters {
		keys = append(keys, oc.id)
	}
	return keys, nil
}

// phpWatchEvent is one `array('event' => …, 'pos' => …, 'id' => …)`.
type phpWatchEvent struct{ event, pos, id string }

var (
	phpPosRE   = regexp.MustCompile(`^[\d.]+$`)
	phpEventRE = regexp.MustCompile(`^(\w+)\s+([^:]+):(\S+)\s*$`)
)

// cmdWatch is R-PHP-8. fromPos is a PHP scalar (int or string).
func (c *phpClient) cmdWatch(fromPos any, idPrefixes []string) ([]phpWatchEvent, error) {
	if phpFalsy(fromPos) {
		fromPos = 0
	}
	pos := phpString(fromPos)
	if !phpPosRE.MatchString(pos) {
		return nil, phpErrorf("Position value must be numeric, \"%s\" given", pos)
	}
	prefixes := c.nsPrefixes(idPrefixes)
	cmd := "watch " + pos
	if len(prefixes) > 0 {
		cmd += " " + strings.Join(prefixes, " ")
	}
	resp, err := c.sendCmd(cmd)
	if err != nil {
		return nil, err
	}
	events := []phpWatchEvent{}
	if strings.TrimSpace(resp) == "" {
		return events, nil
	}
	for _, line := range strings.Split(strings.TrimSpace(resp), "\n") {
		m := phpEventRE.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			c.notices = append(c.notices, fmt.Sprintf("Cannot parse the event: \"%s\"", line))
			continue
		}
		id := m[3]
		if !phpFalsy(fromPos) && c.namespace != "" && strings.HasPrefix(id, c.namespace) {
			id = id[len(c.namespace):]
		}
		events = append(events, phpWatchEvent{event: m[1], pos: m[2], id: id})
	}
	return events, nil
}

// --- helpers for the tests ---------------------------------------------

// phpFixture returns the absolute path of a fixture (Caddy resolves
// relative paths against its own working directory).
func phpFixture(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// phpUsersOption is the hub option pointing at a users file fixture.
func phpUsersOption(t testing.TB, name string) string {
	return "users_file " + phpFixture(t, name)
}

// newTestPHPClient is a client for the test server's IN line.
func newTestPHPClient(namespace string) *phpClient {
	return newPHPClient("127.0.0.1", inPort, namespace)
}

// phpNoErr fails the test on a client exception.
func phpNoErr(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected exception: %v", what, err)
	}
}

// phpWantRequest checks the exact bytes the client wrote (R-PHP-4).
func phpWantRequest(t testing.TB, c *phpClient, list, body string) {
	t.Helper()
	want := "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + strconv.Itoa(len(body)) +
		"\r\nX-Realplexor: identifier=" + list + "\r\n\r\n" + body
	if c.lastRequest != want {
		t.Errorf("request bytes\n got %q\nwant %q", c.lastRequest, want)
	}
}

// phpWantPoll reads the poll to EOF and compares the masked batch.
func phpWantPoll(t testing.TB, p *poll, want string) {
	t.Helper()
	if got := masked(p.rest()); got != want {
		t.Errorf("WAIT reply\n got %q\nwant %q", got, want)
	}
}

// phpParked opens polls on each list and waits until they are registered.
func phpParked(t testing.TB, lists ...string) []*poll {
	t.Helper()
	out := make([]*poll, 0, len(lists))
	for _, l := range lists {
		out = append(out, openPoll(t, l))
	}
	return out
}

// --- Appendix A.2 -------------------------------------------------------

// 500_phpapi_json.phpt (R-PHP-3, R-PHP-4).
func TestPHPAPI500Json(t *testing.T) {
	s := startServer(t, "")
	p := openPoll(t, "abc")
	s.waitCounters("1/0/1/1/0")
	c := newTestPHPClient("")
	phpNoErr(t, "send", c.send(phpIDs("abc", "def"), "Test!", nil))
	phpWantRequest(t, c, "abc,def", `"Test!"`)
	phpWantPoll(t, p, batch(entryJSON(`"abc": "<cursor>"`, `"Test!"`)))
	s.waitCounters("0/2/0/1/2")
}

// 505_phpapi_json_ns.phpt: the namespace goes in front of every id.
func TestPHPAPI505JsonNs(t *testing.T) {
	s := startServer(t, "")
	p := openPoll(t, "ns_abc")
	s.waitCounters("1/0/1/1/0")
	c := newTestPHPClient("ns_")
	phpNoErr(t, "send", c.send(phpIDs("abc", "def"), "Test!", nil))
	phpWantRequest(t, c, "ns_abc,ns_def", `"Test!"`)
	phpWantPoll(t, p, batch(entryJSON(`"ns_abc": "<cursor>"`, `"Test!"`)))
	s.waitCounters("0/2/0/1/2")
}

// 505_phpapi_json_ns_limited.phpt: $showOnlyForIds become limiters
// (R-PHP-3 step 6, R-VIS-1).
func TestPHPAPI505JsonNsLimited(t *testing.T) {
	s := startServer(t, "")
	c := newTestPHPClient("ns_")
	phpNoErr(t, "send public", c.send([]phpIDCursor{{"abc", 10}, {"def", 10}}, "public data", nil))
	phpWantRequest(t, c, "10:ns_abc,10:ns_def", `"public data"`)
	phpNoErr(t, "send private", c.send([]phpIDCursor{{"abc", 11}, {"def", 11}}, "private data", []string{"myid1", "myid2"}))
	phpWantRequest(t, c, "11:ns_abc,11:ns_def,*ns_myid1,*ns_myid2", `"private data"`)

	p := openPoll(t, "5:ns_abc")
	phpWantPoll(t, p, batch(entryJSON(`"ns_abc": "10"`, `"public data"`)))

	p = openPoll(t, "5:ns_abc,666:ns_myid1")
	phpWantPoll(t, p, batch(
		entryJSON(`"ns_abc": "10"`, `"public data"`),
		entryJSON(`"ns_abc": "11"`, `"private data"`),
	))
	s.waitCounters("0/2/0/2/2")
}

// 520_phpapi_stamps.phpt: `id => cursor` pairs (R-PHP-3 step 5).
func TestPHPAPI520Stamps(t *testing.T) {
	s := startServer(t, "")
	c := newTestPHPClient("")
	phpNoErr(t, "send", c.send([]phpIDCursor{{"abc", 10}, {"def", 20}, {"ghi", nil}}, "Test!", nil))
	phpWantRequest(t, c, "10:abc,20:def,ghi", `"Test!"`)
	p := openPoll(t, "5:abc")
	phpWantPoll(t, p, batch(entryJSON(`"abc": "10"`, `"Test!"`)))
	s.waitCounters("0/3/0/1/3")
}

// 530_phpapi_errors.phpt: socket and validation errors (R-PHP-3, R-PHP-5).
func TestPHPAPI530Errors(t *testing.T) {
	s := startServer(t, "")

	// A port in this test run's range that nothing listens on.
	closed := newPHPClient("127.0.0.1", portBase+9, "")
	err := closed.send(phpIDs("abc"), "Test!", nil)
	if err == nil || err.Error() != "Error #111: Connection refused" {
		t.Errorf("closed port: got %v, want %q", err, "Error #111: Connection refused")
	}

	// Validation happens before connecting: nothing reaches the server.
	c := newTestPHPClient("")
	err = c.send(phpIDs("no-num"), "Test!", nil)
	if want := `Identifier must be alphanumeric, "no-num" given`; err == nil || err.Error() != want {
		t.Errorf("bad id: got %v, want %q", err, want)
	}
	err = c.send([]phpIDCursor{{"abc", "aaa"}}, "Test!", nil)
	if want := `Cursor must be numeric, "aaa" given`; err == nil || err.Error() != want {
		t.Errorf("bad cursor: got %v, want %q", err, want)
	}
	if c.lastRequest != "" {
		t.Errorf("a request was sent: %q", c.lastRequest)
	}
	if got := s.counters(); got != "0/0/0/0/0" {
		t.Errorf("counters %s, want 0/0/0/0/0", got)
	}
}

// 540_phpapi_online.phpt (R-PHP-7).
func TestPHPAPI540Online(t *testing.T) {
	s := startServer(t, "")
	phpParked(t, "5:abc,10:def")
	s.waitCounters("1/0/2/2/0")
	c := newTestPHPClient("")
	got, err := c.cmdOnline(nil)
	phpNoErr(t, "cmdOnline", err)
	phpWantRequest(t, c, "", "online\n")
	if want := []string{"abc", "def"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cmdOnline() = %q, want %q", got, want)
	}
	s.waitCounters("1/0/2/2/0")
}

// 541_phpapi_online_with_counters.phpt: a duplicated id counts the
// connection once (R-ID-9, R-CMD-5).
func TestPHPAPI541OnlineWithCounters(t *testing.T) {
	s := startServer(t, "")
	phpParked(t, "5:abc,10:def,6:abc")
	s.waitCounters("1/0/2/2/0")
	c := newTestPHPClient("")
	got, err := c.cmdOnlineWithCounters(nil)
	phpNoErr(t, "cmdOnlineWithCounters", err)
	if want := []phpOnlineCounter{{"abc", "1"}, {"def", "1"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("cmdOnlineWithCounters() = %v, want %v", got, want)
	}
}

// 542_phpapi_online_empty.phpt: an empty body gives an empty array.
func TestPHPAPI542OnlineEmpty(t *testing.T) {
	s := startServer(t, "")
	c := newTestPHPClient("")
	reply, err := c.exchange(c.request("", "online\n"))
	phpNoErr(t, "online", err)
	if statusOf(reply) != 200 || !regexp.MustCompile(`(?mi)^Content-Type: text/plain\r$`).MatchString(reply) {
		t.Errorf("reply %q, want a 200 text/plain (R-CMD-3)", reply)
	}
	if body := bodyOf(t, reply); body != "" {
		t.Errorf("body %q, want empty", body)
	}
	got, err := c.cmdOnline(nil)
	phpNoErr(t, "cmdOnline", err)
	if len(got) != 0 {
		t.Errorf("cmdOnline() = %q, want empty", got)
	}
	if got := s.counters(); got != "0/0/0/0/0" {
		t.Errorf("counters %s", got)
	}
}

// 545_phpapi_online_prefix.phpt (R-CMD-4).
func TestPHPAPI545OnlinePrefix(t *testing.T) {
	s := startServer(t, "")
	phpParked(t, "A_abc", "def", "B_ghi")
	s.waitCounters("3/0/3/3/0")
	c := newTestPHPClient("")
	got, err := c.cmdOnline([]string{"A_", "B_"})
	phpNoErr(t, "cmdOnline", err)
	phpWantRequest(t, c, "", "online A_ B_\n")
	if want := []string{"A_abc", "B_ghi"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cmdOnline() = %q, want %q", got, want)
	}
}

// 545_phpapi_online_prefix_ns.phpt: prefixes get the namespace, results
// lose it (R-PHP-6).
func TestPHPAPI545OnlinePrefixNs(t *testing.T) {
	s := startServer(t, "")
	phpParked(t, "ns_A_abc", "def", "ns_B_ghi")
	s.waitCounters("3/0/3/3/0")
	c := newTestPHPClient("ns_")
	got, err := c.cmdOnline([]string{"A_", "B_"})
	phpNoErr(t, "cmdOnline", err)
	phpWantRequest(t, c, "", "online ns_A_ ns_B_\n")
	if want := []string{"A_abc", "B_ghi"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cmdOnline() = %q, want %q", got, want)
	}
}

// 547_phpapi_no_online_prefix.phpt: no match gives an empty array.
func TestPHPAPI547NoOnlinePrefix(t *testing.T) {
	s := startServer(t, "")
	phpParked(t, "abc")
	s.waitCounters("1/0/1/1/0")
	c := newTestPHPClient("")
	got, err := c.cmdOnline([]string{"xxx_"})
	phpNoErr(t, "cmdOnline", err)
	phpWantRequest(t, c, "", "online xxx_\n")
	if len(got) != 0 {
		t.Errorf("cmdOnline() = %q, want empty", got)
	}
}

// phpRegisterAndLeave parks a poll on each list in turn and hangs up, waiting
// for the server to notice each time.
func phpRegisterAndLeave(t testing.TB, s *server, lists ...string) {
	t.Helper()
	for _, l := range lists {
		p := openPoll(t, l)
		p.close()
		eventually(t, "poll on "+l+" released", func() bool { return s.hub().Counters().Parked == 0 })
	}
}

// 560_phpapi_watch.phpt (R-PHP-8).
func TestPHPAPI560Watch(t *testing.T) {
	s := startServer(t, "")
	phpRegisterAndLeave(t, s, "abc", "def")
	s.waitCounters("0/0/0/2/0")
	c := newTestPHPClient("")
	got, err := c.cmdWatch(1, nil)
	phpNoErr(t, "cmdWatch", err)
	phpWantRequest(t, c, "", "watch 1\n")
	want := []phpWatchEvent{{"online", "10", "abc"}, {"online", "11", "def"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cmdWatch(1) = %v, want %v", got, want)
	}
	if len(c.notices) != 0 {
		t.Errorf("notices: %q", c.notices)
	}
}

// 562_phpapi_watch_event_empty.phpt: the FAKE line (R-CMD-7).
func TestPHPAPI562WatchEventEmpty(t *testing.T) {
	startServer(t, "")
	c := newTestPHPClient("")
	got, err := c.cmdWatch(0, nil)
	phpNoErr(t, "cmdWatch", err)
	phpWantRequest(t, c, "", "watch 0\n")
	if want := []phpWatchEvent{{"FAKE", "10", "FAKE"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("cmdWatch(0) = %v, want %v", got, want)
	}
}

// 562_phpapi_watch_ns.phpt: the namespace is the prefix and is stripped.
func TestPHPAPI562WatchNs(t *testing.T) {
	s := startServer(t, "")
	phpParked(t, "ns_abc", "def", "ns_ghi")
	s.waitCounters("3/0/3/3/0")
	c := newTestPHPClient("ns_")
	got, err := c.cmdWatch(1, nil)
	phpNoErr(t, "cmdWatch", err)
	phpWantRequest(t, c, "", "watch 1 ns_\n")
	want := []phpWatchEvent{{"online", "10", "abc"}, {"online", "12", "ghi"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cmdWatch(1) = %v, want %v", got, want)
	}
}

// 564_phpapi_watch_idp_ns.phpt: prefixes get the namespace.
func TestPHPAPI564WatchIdpNs(t *testing.T) {
	s := startServer(t, "")
	phpParked(t, "ns_demo_abc", "def", "ns_ghi")
	s.waitCounters("3/0/3/3/0")
	c := newTestPHPClient("ns_")
	got, err := c.cmdWatch(1, []string{"demo_"})
	phpNoErr(t, "cmdWatch", err)
	phpWantRequest(t, c, "", "watch 1 ns_demo_\n")
	if want := []phpWatchEvent{{"online", "10", "demo_abc"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("cmdWatch(1, demo_) = %v, want %v", got, want)
	}
}

// 600_phpapi_login.phpt: logon adds `<login>_` (R-PHP-2, R-AUTH-6).
func TestPHPAPI600Login(t *testing.T) {
	s := startServer(t, phpUsersOption(t, "users.htpasswd"))
	p := openPoll(t, "user_abc")
	s.waitCounters("1/0/1/1/0")
	c := newTestPHPClient("")
	c.logon("user", "password")
	phpNoErr(t, "send", c.send(phpIDs("abc", "def"), "Test!", nil))
	phpWantRequest(t, c, "user:password@user_abc,user_def", `"Test!"`)
	phpWantPoll(t, p, batch(entryJSON(`"user_abc": "<cursor>"`, `"Test!"`)))
	s.waitCounters("0/2/0/1/2")
}

// 605_phpapi_login_invalid.phpt: the 403 becomes the exception (R-PHP-5,
// R-IN-16, R-QUIRK-1).
func TestPHPAPI605LoginInvalid(t *testing.T) {
	s := startServer(t, phpUsersOption(t, "users.htpasswd"))
	openPoll(t, "unknown_abc")
	s.waitCounters("1/0/1/1/0")
	c := newTestPHPClient("")
	c.logon("unknown", "password")
	err := c.send(phpIDs("abc", "def"), "Test!", nil)
	phpWantRequest(t, c, "unknown:password@unknown_abc,unknown_def", `"Test!"`)
	if want := "Request failed: 403 Access Deined\nunknown login: unknown\n"; err == nil || err.Error() != want {
		t.Errorf("exception %q, want %q", fmt.Sprint(err), want)
	}
	// The same refusal byte for byte (R-IN-16, Appendix C.5).
	reply, err := c.exchange(c.lastRequest)
	phpNoErr(t, "resend", err)
	if want := "HTTP/1.0 403 Access Deined\r\nContent-Type: text/plain\r\nContent-Length: 23\r\n\r\nunknown login: unknown\n"; reply != want {
		t.Errorf("403 reply\n got %q\nwant %q", reply, want)
	}
	// A known login with a wrong password.
	bad := newTestPHPClient("")
	bad.logon("user", "wrong")
	err = bad.send(phpIDs("abc"), "Test!", nil)
	if want := "Request failed: 403 Access Deined\ninvalid password for login: user\n"; err == nil || err.Error() != want {
		t.Errorf("wrong password: exception %q, want %q", fmt.Sprint(err), want)
	}

	// The parked WAIT is untouched: the refusal came after nothing was
	// stored, so the counters can be read at once.
	if got := s.counters(); got != "1/0/1/1/0" {
		t.Errorf("counters %s, want 1/0/1/1/0", got)
	}
}

// 610_phpapi_login_ns.phpt: the login goes before the namespace.
func TestPHPAPI610LoginNs(t *testing.T) {
	s := startServer(t, phpUsersOption(t, "users.htpasswd"))
	p := openPoll(t, "user_ns_abc")
	s.waitCounters("1/0/1/1/0")
	c := newTestPHPClient("ns_")
	c.logon("user", "password")
	phpNoErr(t, "send", c.send(phpIDs("abc", "def"), "Test!", nil))
	phpWantRequest(t, c, "user:password@user_ns_abc,user_ns_def", `"Test!"`)
	phpWantPoll(t, p, batch(entryJSON(`"user_ns_abc": "<cursor>"`, `"Test!"`)))
	s.waitCounters("0/2/0/1/2")
}

// 620_phpapi_login_online.phpt: `online user_` and the prefix stripped.
func TestPHPAPI620LoginOnline(t *testing.T) {
	s := startServer(t, phpUsersOption(t, "users.htpasswd"))
	// other_xyz is not the login's: it must not show (R-AUTH-7).
	phpParked(t, "5:user_abc", "10:user_def", "other_xyz")
	s.waitCounters("3/0/3/3/0")
	c := newTestPHPClient("")
	c.logon("user", "password")
	got, err := c.cmdOnline(nil)
	phpNoErr(t, "cmdOnline", err)
	phpWantRequest(t, c, "user:password@", "online user_\n")
	if want := []string{"abc", "def"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cmdOnline() = %q, want %q", got, want)
	}

	// With credentials and no prefixes the server uses `<login>_`
	// (R-DIFF-8, the C++ rule this project chose); a foreign prefix
	// matches nothing.
	if body := s.command("user:password@", "online\n"); body != "user_abc 1\nuser_def 1\n" {
		t.Errorf("online with credentials, no prefix: %q", body)
	}
	if body := s.command("user:password@", "online other_\n"); body != "" {
		t.Errorf("online other_ with credentials: %q", body)
	}
	if body := s.command("user:password@", "watch 1\n"); body != "online 10:user_abc\nonline 11:user_def\n" {
		t.Errorf("watch with credentials, no prefix: %q", body)
	}
}

// The client port's own R-PHP-5 reply checks, against a stub that plays
// back canned replies (no Caddy involved).
func TestPHPAPIClientReplyHandling(t *testing.T) {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", portBase+8))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	replies := make(chan string, 1)
	requests := make(chan string, 1)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			req, _ := io.ReadAll(conn) // the client half-closes
			requests <- string(req)
			_, _ = io.WriteString(conn, <-replies)
			conn.Close()
		}
	}()
	c := newPHPClient("127.0.0.1", portBase+8, "")
	call := func(reply string) (string, error) {
		replies <- reply
		body, err := c.sendCmd("stats")
		if got := <-requests; got != c.lastRequest {
			t.Errorf("stub received %q, client sent %q", got, c.lastRequest)
		}
		return body, err
	}
	for _, tc := range []struct{ reply, body, err string }{
		{"", "", ""},
		{"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc", "abc", ""},
		{"HTTP/1.1 200 OK\r\ncontent-length:0\r\n\r\n", "", ""},
		{"garbage", "", "Non-HTTP response received:\ngarbage"},
		{"HTTP/1.0 500 Oops\r\nContent-Length: 4\r\n\r\nbad\n", "", "Request failed: 500 Oops\nbad\n"},
		{"HTTP/1.0 200 OK\r\nX: y\r\n\r\nabc", "", "No Content-Length header in response headers:\nHTTP/1.0 200 OK\r\nX: y"},
		{"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nabc", "", "Response length (3) is different than specified in Content-Length header (5): possibly broken response\n"},
	} {
		body, err := call(tc.reply)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("reply %q: error %v, want %q", tc.reply, err, tc.err)
			}
			continue
		}
		if err != nil || body != tc.body {
			t.Errorf("reply %q: body %q, error %v; want %q", tc.reply, body, err, tc.body)
		}
	}

	// cmdWatch: unparsable lines raise a notice and are skipped; the
	// namespace is stripped only for a truthy position (R-PHP-8).
	c.namespace = "ns_"
	replies <- "HTTP/1.0 200 OK\r\nContent-Length: 34\r\n\r\nonline 12:ns_abc\nbroken\nFAKE 13:x\n"
	ev, err := c.cmdWatch(5, nil)
	<-requests
	phpNoErr(t, "cmdWatch", err)
	if want := []phpWatchEvent{{"online", "12", "abc"}, {"FAKE", "13", "x"}}; !reflect.DeepEqual(ev, want) {
		t.Errorf("cmdWatch = %v, want %v", ev, want)
	}
	if want := []string{`Cannot parse the event: "broken"`}; !reflect.DeepEqual(c.notices, want) {
		t.Errorf("notices %q, want %q", c.notices, want)
	}
	phpWantRequest(t, c, "", "watch 5 ns_\n")
	replies <- "HTTP/1.0 200 OK\r\nContent-Length: 17\r\n\r\nonline 12:ns_abc\n"
	ev, err = c.cmdWatch("", nil)
	<-requests
	phpNoErr(t, "cmdWatch", err)
	if want := []phpWatchEvent{{"online", "12", "ns_abc"}}; !reflect.DeepEqual(ev, want) {
		t.Errorf("cmdWatch(falsy) = %v, want %v", ev, want)
	}
	phpWantRequest(t, c, "", "watch 0 ns_\n")
	if _, err := c.cmdWatch("1x", nil); err == nil || err.Error() != `Position value must be numeric, "1x" given` {
		t.Errorf("cmdWatch(1x): %v", err)
	}

	// json_encode's default escaping and is_numeric's leniency.
	if got, _ := phpJSONEncode(map[string]any{"a/b": "é<€>😀"}); got != `{"a\/b":"\u00e9<\u20ac>\ud83d\ude00"}` {
		t.Errorf("json_encode: %s", got)
	}
	if l, err := c.buildIdentifier([]phpIDCursor{{"a", "1e3"}, {"b", " 5"}, {"c", "+5"}, {"d", 1.5}}, []string{"x-y"}); err != nil || l != "1e3:ns_a, 5:ns_b,+5:ns_c,1.5:ns_d,*ns_x-y" {
		t.Errorf("identifier %q, %v", l, err)
	}
}
