package caddyrealplexor

// The original's t/servertest suite (protocol spec, Appendix A.1), one Go
// test per .phpt file, driven over real HTTP against the in-process Caddy
// of harness_test.go. Where our documented behaviour differs from the raw
// original (HTTP-only WAIT, 200 replies on IN, 400 on empty lists, ...),
// the tests assert ours and say why. The original synchronises on the
// daemon's log; these tests observe state instead (counters, STATS,
// replies). 700_max_mem_mb has no counterpart: Caddy has no watchdog.

import (
	"fmt"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// stReply is a raw HTTP reply split into its parts.
type stReply struct {
	status string // the status line
	header http.Header
	body   string
}

// stParseReply splits a raw reply (or a bare header block) into status
// line, headers and body.
func stParseReply(t testing.TB, raw string) stReply {
	t.Helper()
	head, body, ok := strings.Cut(raw, "\r\n\r\n")
	if !ok {
		t.Fatalf("no header end in %q", raw)
	}
	lines := strings.Split(head, "\r\n")
	h := http.Header{}
	for _, l := range lines[1:] {
		name, val, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("bad header line %q in %q", l, raw)
		}
		h.Add(textproto.CanonicalMIMEHeaderKey(name), strings.TrimSpace(val))
	}
	return stReply{status: lines[0], header: h, body: body}
}

// stWantHeader fails unless the reply carries the header exactly once with
// the value want.
func stWantHeader(t testing.TB, r stReply, name, want string) {
	t.Helper()
	if got := r.header.Values(name); len(got) != 1 || got[0] != want {
		t.Errorf("header %s: got %q, want %q (status %q, headers %v)", name, got, want, r.status, r.header)
	}
}

var stGeneratedText = regexp.MustCompile(`^\d{10}\.\d{14}$`)

// stCheckWaitHead checks the header block of a WAIT reply (R-WAIT-7 as our
// server sends it): the original's four headers, nothing framing the body
// (it ends when the connection closes), net/http's Date and Server, and
// X-Realplexor-Cursor exactly when some element had no cursor.
func stCheckWaitHead(t testing.TB, head string, wantCursor bool) {
	t.Helper()
	r := stParseReply(t, head)
	if r.status != "HTTP/1.1 200 OK" {
		t.Errorf("WAIT status line %q", r.status)
	}
	stWantHeader(t, r, "Connection", "close")
	stWantHeader(t, r, "Cache-Control", "no-store, no-cache, must-revalidate")
	stWantHeader(t, r, "Expires", "Mon, 26 Jul 1997 05:00:00 GMT")
	stWantHeader(t, r, "Content-Type", "text/javascript; charset=utf-8")
	allowed := map[string]bool{"Connection": true, "Cache-Control": true, "Expires": true, "Content-Type": true, "Date": true, "Server": true, WaitTimeoutHeader: true}
	if v := r.header.Get(WaitTimeoutHeader); v == "" {
		t.Errorf("no %s header", WaitTimeoutHeader)
	}
	if wantCursor {
		allowed[CursorHeader] = true
		if c := r.header.Get(CursorHeader); !stGeneratedText.MatchString(c) {
			t.Errorf("%s %q is not a generated cursor", CursorHeader, c)
		}
	}
	for name := range r.header {
		if !allowed[name] {
			t.Errorf("unexpected WAIT header %s: %q", name, r.header.Values(name))
		}
	}
}

// stCheckPublished checks the reply to a successful publish: 200 with
// Content-Length 0 and no body (R-IN-12 via R-QUIRK-4, R-PORT-3).
func stCheckPublished(t testing.TB, raw string) {
	t.Helper()
	r := stParseReply(t, raw)
	if r.status != "HTTP/1.1 200 OK" || r.header.Get("Content-Length") != "0" || r.body != "" {
		t.Fatalf("publish reply: %q", raw)
	}
	if v := r.header.Get("X-Realplexor-Skipped"); v != "" {
		t.Fatalf("publish reply says %s ids were skipped: %q", v, raw)
	}
}

// stCommandReply checks the framing of a command reply (R-CMD-3: 200,
// `Content-Type: text/plain` without charset, exact Content-Length) and
// returns the body. net/http writes the status line as HTTP/1.1.
func stCommandReply(t testing.TB, raw string) string {
	t.Helper()
	if statusOf(raw) != 200 {
		t.Fatalf("command reply: %q", raw)
	}
	stWantHeader(t, stParseReply(t, raw), "Content-Type", "text/plain")
	return bodyOf(t, raw) // checks Content-Length against the body
}

// stCommand sends a command the PHP client's way (`X-Realplexor:
// identifier=[login:pass@]`, R-CMD-12) and returns the reply body.
func (s *server) stCommand(creds, cmd string) string {
	s.t.Helper()
	return stCommandReply(s.t, rawExchange(s.t, inPort, phpRequest(creds, cmd)))
}

// stRawCommand sends a command with no identifier marker at all, as the
// original tests' bare `stats\n` (R-CMD-12: executed as a guest), over
// HTTP since that is all our IN line speaks.
func (s *server) stRawCommand(cmd string) string {
	s.t.Helper()
	req := fmt.Sprintf("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n%s", len(cmd), cmd)
	return stCommandReply(s.t, rawExchange(s.t, inPort, req))
}

// stWantBody compares a command body and its length with the spec's.
func stWantBody(t testing.TB, what, got, want string, wantLen int) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %q, want %q", what, got, want)
	}
	if len(got) != wantLen {
		t.Errorf("%s: Content-Length %d, want %d", what, len(got), wantLen)
	}
}

var (
	stHandleRE     = regexp.MustCompile(`\(0x[0-9a-f]+\)`)
	stBareCursorRE = regexp.MustCompile(`\b\d{10}\.\d{14}\b`)
)

// stMaskedIn masks an IN reply as the original tests do (Appendix A):
// connection handles become (0x*) and generated cursors *. Event
// positions are deterministic here (one hub per test), so they stay.
func stMaskedIn(s string) string {
	return stBareCursorRE.ReplaceAllString(stHandleRE.ReplaceAllString(s, "(0x*)"), "*")
}

// stEmptyStats is STATS on an empty hub (Appendix C.6, 83 bytes).
const stEmptyStats = "[data_to_send]\n\n[connected_fhs]\n\n[online_timers]\n\n[cleanup_timers]\n\n[pairs_by_fhs]\n"

// stStats compares masked STATS with want and the unmasked length
// with wantLen (the spec's Content-Length, computed with 25-character
// generated cursors).
func (s *server) stStats(what, want string, wantLen int) string {
	s.t.Helper()
	got := s.stCommand("", "stats\n")
	if m := stMaskedIn(got); m != want {
		s.t.Errorf("%s: STATS\n%s\nwant\n%s", what, m, want)
	}
	if len(got) != wantLen {
		s.t.Errorf("%s: STATS Content-Length %d, want %d", what, len(got), wantLen)
	}
	return got
}

// stStored checks the queued entries and bytes over all ids.
func (s *server) stStored(messages, bytes int) {
	s.t.Helper()
	if c := s.hub().Counters(); c.Messages != messages || c.Bytes != bytes {
		s.t.Errorf("stored %d messages of %d bytes, want %d of %d", c.Messages, c.Bytes, messages, bytes)
	}
}

// stDeliveredCursor extracts the cursor of id from a WAIT batch.
func stDeliveredCursor(t testing.TB, body, id string) string {
	t.Helper()
	m := regexp.MustCompile(`"` + id + `": "([0-9.]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no cursor for %s in %q", id, body)
	}
	return m[1]
}

// stStart starts the test's server (kept as the name the tests use).
func stStart(t *testing.T, options string) *server {
	t.Helper()
	return startServer(t, options)
}

// stAbsPath returns the absolute path of a testdata file.
func stAbsPath(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// 010_send: a publish with nobody listening is buffered (R-IN-10); the
// reply is our 200 with no body instead of silence (R-IN-12, R-QUIRK-4).
func TestServer010Send(t *testing.T) {
	s := stStart(t, "")
	stCheckPublished(t, s.publish("abc", `"aaa"`))
	s.stStored(1, 5)
	s.waitCounters("0/1/0/0/1")
}

// 025_send_multi_with_stamp: one message under three ids; abc keeps the
// publisher's cursor verbatim, def and hgi share one generated cursor
// (R-ID-5, R-ID-8, R-CUR-5).
func TestServer025SendMultiWithStamp(t *testing.T) {
	s := stStart(t, "")
	stCheckPublished(t, s.publish("12345.678:abc,def,hgi", `"aaa"`))
	stats := s.stStats("after publish",
		"[data_to_send]\nabc => [12345.678: 5b]\ndef => [*: 5b]\nhgi => [*: 5b]\n"+
			"\n[connected_fhs]\n\n[online_timers]\n"+
			"\n[cleanup_timers]\nabc => assigned\ndef => assigned\nhgi => assigned\n"+
			"\n[pairs_by_fhs]\n",
		15+23+2*39+17+17+18+3*16+16)
	m := regexp.MustCompile(`\ndef => \[(\S+): 5b\]\nhgi => \[(\S+): 5b\]\n`).FindStringSubmatch(stats)
	if m == nil || m[1] != m[2] {
		t.Errorf("def and hgi must share one generated cursor (R-ID-8): %q", stats)
	}
	s.stStored(3, 15)
	s.waitCounters("0/3/0/0/3")
}

// 026_send_ignore_referrer: a marker in a Referer header is never used
// (R-ID-2, R-QUIRK-6). Our marker comes from the query or, for POST, the
// body, so the iframe loader's `Referer: …?identifier=IFRAME` must neither
// serve the iframe nor override the list. The parked polls get the
// R-WAIT-7 headers and then the R-WAIT-13 batch.
func TestServer026SendIgnoreReferrer(t *testing.T) {
	s := stStart(t, "")
	const referer = "Referer: http://rpl.example.com/blabla?identifier=IFRAME\r\n"

	// A Referer is the only place with a marker: no marker at all, so
	// our 400 (R-PORT-4), and certainly not the iframe page.
	r := rawExchange(t, waitPort, "GET /blabla HTTP/1.1\r\nHost: rpl.example.com\r\nAbc: def\r\n"+referer+"\r\n")
	if statusOf(r) != 400 || strings.Contains(r, "text/html") {
		t.Errorf("Referer-only marker: %q", r)
	}
	s.waitCounters("0/0/0/0/0")

	// The list in the query, the Referer after it.
	p1 := openRawPoll(t, "GET /?identifier=abc,def&ncrnd=1 HTTP/1.1\r\nHost: rpl.example.com\r\nAbc: def\r\n"+referer+"\r\n")
	stCheckWaitHead(t, p1.head, true)
	s.waitCounters("1/0/2/2/0")

	// The original's shape: Abc, Referer, then the list in the body
	// (R-WAIT-1 form 2, the JS client's POST).
	body := "identifier=abc,def\n"
	p2 := openRawPoll(t, fmt.Sprintf("POST / HTTP/1.1\r\nHost: rpl.example.com\r\nAbc: def\r\n%sContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s", referer, len(body), body))
	stCheckWaitHead(t, p2.head, true)
	s.waitCounters("2/0/2/2/0")

	stCheckPublished(t, s.publish("abc", `"aaa"`))
	want := batch(entryJSON(`"abc": "<cursor>"`, `"aaa"`))
	for i, p := range []*poll{p1, p2} {
		got := p.rest()
		if masked(got) != want {
			t.Errorf("poll %d: got %q, want %q", i+1, got, want)
			continue
		}
		// The message is newer than the poll's "now" (R-QUIRK-9).
		if c, l := stDeliveredCursor(t, got, "abc"), p.header(CursorHeader); c <= l {
			t.Errorf("poll %d: delivered cursor %s not above listen cursor %s", i+1, c, l)
		}
	}
	s.waitCounters("0/1/0/2/1")
}

// 027_send_multi_limited: starred elements are limiters, not targets;
// `1234:*bb` is invalid and dropped (R-ID-5, R-ID-7).
func TestServer027SendMultiLimited(t *testing.T) {
	s := stStart(t, "")
	stCheckPublished(t, s.publish("12345.678:abc,def,hgi,*aa,1234:*bb", `"aaa"`))
	s.stStats("after publish",
		"[data_to_send]\nabc => [12345.678: 5b, limited by (aa)]\ndef => [*: 5b, limited by (aa)]\nhgi => [*: 5b, limited by (aa)]\n"+
			"\n[connected_fhs]\n\n[online_timers]\n"+
			"\n[cleanup_timers]\nabc => assigned\ndef => assigned\nhgi => assigned\n"+
			"\n[pairs_by_fhs]\n",
		15+40+2*56+17+17+18+3*16+16)
	s.stStored(3, 15)
	s.waitCounters("0/3/0/0/3")
}

// 030_pass_to_connected: a publish answers the parked poll, which is
// unregistered at once (R-WAIT-10, R-WAIT-14); its id goes offline
// OFFLINE_TIMEOUT later (R-ONL-3) and the message stays buffered.
func TestServer030PassToConnected(t *testing.T) {
	s := stStart(t, "offline_timeout 500ms")
	p := openPoll(t, "abc")
	stCheckWaitHead(t, p.head, true)
	s.waitCounters("1/0/1/1/0")

	start := time.Now()
	stCheckPublished(t, s.publish("abc", `"aaa"`))
	if got := s.counters(); got != "0/1/0/1/1" {
		t.Errorf("right after delivery: counters %s, want 0/1/0/1/1 (unregistered, still online)", got)
	}
	if got, want := masked(p.rest()), batch(entryJSON(`"abc": "<cursor>"`, `"aaa"`)); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	s.waitCounters("0/1/0/0/1")
	if el := time.Since(start); el < 500*time.Millisecond {
		t.Errorf("abc went offline %v after the delivery, before offline_timeout", el)
	}
	// Only the newest event per id is listed (R-CMD-8).
	stWantBody(t, "watch 1", s.stCommand("", "watch 1\n"), "offline 11:abc\n", 15)
	s.stStored(1, 5)
}

// 040_stamp_compare_empty: only cursors strictly above the listen cursor
// are delivered (R-CUR-2); with nothing to send the poll ends at
// WAIT_TIMEOUT with the whitespace body only (R-WAIT-16, Appendix C.3).
func TestServer040StampCompareEmpty(t *testing.T) {
	s := stStart(t, "wait_timeout 1s")
	stCheckPublished(t, s.publish("5:abc", `"aaa"`))
	start := time.Now()
	p := openPoll(t, "10:abc")
	stCheckWaitHead(t, p.head, false) // every element has a cursor
	s.waitCounters("1/1/1/1/1")
	stCheckPublished(t, s.publish("6:abc", `"bbb"`))
	// Delivery happens within the publish, so a still parked poll now
	// proves the message was not delivered.
	if got := s.counters(); got != "1/1/1/1/1" {
		t.Fatalf("after publishing at cursor 6: counters %s, want 1/1/1/1/1", got)
	}
	if got := p.rest(); got != "" {
		t.Errorf("poll got %q after the prelude, want nothing", got)
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("poll ended after %v, before wait_timeout", el)
	}
	s.stStored(2, 10)
	s.waitCounters("0/1/0/1/1")
}

// 045_not_grouped_sequence: a poll is answered once, by the first
// delivery, and closed (R-WAIT-14); the next poll continues from the
// cursor it received (R-CUR-2).
func TestServer045NotGroupedSequence(t *testing.T) {
	s := stStart(t, "")
	p1 := openPoll(t, "10:abc")
	s.waitCounters("1/0/1/1/0")
	stCheckPublished(t, s.publish("15:abc", `"aaa"`))
	stCheckPublished(t, s.publish("20:abc", `"bbb"`))
	if got, want := p1.rest(), batch(entryJSON(`"abc": "15"`, `"aaa"`)); got != want {
		t.Errorf("first poll: got %q, want %q", got, want)
	}
	p2 := openPoll(t, "15:abc")
	stCheckWaitHead(t, p2.head, false)
	if got, want := p2.rest(), batch(entryJSON(`"abc": "20"`, `"bbb"`)); got != want {
		t.Errorf("second poll: got %q, want %q", got, want)
	}
	s.waitCounters("0/1/0/1/1")
}

// 047_grouped_sorted: the queue is kept in cursor order whatever the
// publish order, and one reply lists everything ascending (R-Q-1, R-WAIT-12).
func TestServer047GroupedSorted(t *testing.T) {
	s := stStart(t, "")
	for _, m := range [][2]string{{"20", "ccc"}, {"11", "aaa"}, {"18", "ddd"}, {"15", "bbb"}} {
		stCheckPublished(t, s.publish(m[0]+":abc", `"`+m[1]+`"`))
	}
	p := openPoll(t, "10:abc")
	want := batch(
		entryJSON(`"abc": "11"`, `"aaa"`),
		entryJSON(`"abc": "15"`, `"bbb"`),
		entryJSON(`"abc": "18"`, `"ddd"`),
		entryJSON(`"abc": "20"`, `"ccc"`))
	if got := p.rest(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	s.waitCounters("0/1/0/1/1")
}

// 049_multiple_matched_read_own_ids_only: one entry for one publish, with
// only the listener's own ids, sorted (R-WAIT-11).
func TestServer049MultipleMatchedReadOwnIdsOnly(t *testing.T) {
	s := stStart(t, "")
	stCheckPublished(t, s.publish("20:abc,30:def,40:ghi", `"ccc"`))
	p := openPoll(t, "10:abc,20:def")
	if got, want := p.rest(), batch(entryJSON(`"abc": "20", "def": "30"`, `"ccc"`)); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	s.waitCounters("0/3/0/2/3")
}

// 050_pass_to_online_buffered_multi: two buffered publishes to two ids
// reach one poll as two entries; equal cursors are ordered by data bytes
// (R-WAIT-11, R-WAIT-12). Both ids go offline after the timeout.
func TestServer050PassToOnlineBufferedMulti(t *testing.T) {
	s := stStart(t, "offline_timeout 300ms")
	stCheckPublished(t, s.publish("2:abc,2:def", `"aaa"`))
	stCheckPublished(t, s.publish("2:abc,2:def", `"bbb"`))
	p := openPoll(t, "1:abc,1:def")
	want := batch(
		entryJSON(`"abc": "2", "def": "2"`, `"aaa"`),
		entryJSON(`"abc": "2", "def": "2"`, `"bbb"`))
	if got := p.rest(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	s.waitCounters("0/2/0/0/2")
}

// 060_multiple_matched_limited: limiter visibility (R-VIS-1).
func TestServer060MultipleMatchedLimited(t *testing.T) {
	s := stStart(t, "")
	stCheckPublished(t, s.publish("100:aa", `"data to limiter ID"`))
	stCheckPublished(t, s.publish("20:abc", `"public data"`))
	stCheckPublished(t, s.publish("20:abc,30:def,40:ghi,*aa,*bb", `"limited data"`))

	cases := []struct {
		ids        string
		wantCursor bool
		want       string
	}{
		{"10:abc,20:def", false, batch(entryJSON(`"abc": "20"`, `"public data"`))},
		{"10:abc,100:def,200:aa", false, batch(
			entryJSON(`"abc": "20"`, `"limited data"`),
			entryJSON(`"abc": "20"`, `"public data"`))},
		// bb has no cursor: a limiter listed without one still qualifies.
		{"100:abc,10:def,bb", true, batch(entryJSON(`"def": "30"`, `"limited data"`))},
		{"50:aa", false, batch(entryJSON(`"aa": "100"`, `"data to limiter ID"`))},
	}
	for _, c := range cases {
		p := openPoll(t, c.ids)
		stCheckWaitHead(t, p.head, c.wantCursor)
		if got := p.rest(); got != c.want {
			t.Errorf("WAIT %s: got %q, want %q", c.ids, got, c.want)
		}
	}
	s.waitCounters("0/4/0/4/4")
}

// 070_pass_to_connected_readmulti: a poll on abc,def woken by a publish to
// def lists def only (R-WAIT-11).
func TestServer070PassToConnectedReadmulti(t *testing.T) {
	s := stStart(t, "")
	p := openPoll(t, "abc,def")
	stCheckWaitHead(t, p.head, true)
	s.waitCounters("1/0/2/2/0")
	stCheckPublished(t, s.publish("def", `"aaa"`))
	got := p.rest()
	if want := batch(entryJSON(`"def": "<cursor>"`, `"aaa"`)); masked(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if c, l := stDeliveredCursor(t, got, "def"), p.header(CursorHeader); c <= l {
		t.Errorf("delivered cursor %s not above listen cursor %s (R-QUIRK-9)", c, l)
	}
	s.waitCounters("0/1/0/2/1")
}

// 210_stats_after_wait: STATS while parked, after the client left, and
// after the offline timeout (R-CMD-9, R-ONL-1). The original's bare
// `stats\n` is sent as an HTTP body without a marker (R-CMD-12).
func TestServer210StatsAfterWait(t *testing.T) {
	s := stStart(t, "offline_timeout 300ms")
	p := openPoll(t, "abc")
	s.waitCounters("1/0/1/1/0")

	// online_timers lists the online ids, parked or in their grace
	// period: O counts it (1/0/1/1/0) and A.1 210 shows it here.
	stats := s.stRawCommand("stats\n")
	want := "[data_to_send]\n\n[connected_fhs]\nabc => (0x*)\n\n[online_timers]\nabc => assigned\n" +
		"\n[cleanup_timers]\n\n[pairs_by_fhs]\n(0x*) => *:abc\n"
	if got := stMaskedIn(stats); got != want {
		t.Errorf("parked: STATS\n%s\nwant\n%s", got, want)
	}
	// The same handle in both sections, listening from the cursor the
	// poll was told.
	m := regexp.MustCompile(`\nabc => (\(0x[0-9a-f]+\))\n[\s\S]*\n(\(0x[0-9a-f]+\)) => (\S+):abc\n$`).FindStringSubmatch(stats)
	if m == nil || m[1] != m[2] || m[3] != p.header(CursorHeader) {
		t.Errorf("handles/cursor inconsistent (cursor header %q): %q", p.header(CursorHeader), stats)
	}

	p.close()
	s.waitCounters("0/0/0/1/0")
	if got, want := stMaskedIn(s.stRawCommand("stats\n")), "[data_to_send]\n\n[connected_fhs]\n\n[online_timers]\nabc => assigned\n"+
		"\n[cleanup_timers]\n\n[pairs_by_fhs]\n"; got != want {
		t.Errorf("after disconnect: STATS\n%s\nwant\n%s", got, want)
	}

	s.waitCounters("0/0/0/0/0")
	stWantBody(t, "after offline", s.stRawCommand("stats\n"), stEmptyStats, 83)
}

// 215_online_cmd: ONLINE counts parked connections; an id in its grace
// period shows 0 (R-CMD-5, R-ONL-1).
func TestServer215OnlineCmd(t *testing.T) {
	s := stStart(t, "")
	p1 := openPoll(t, "abc")
	p1.close()
	s.waitCounters("0/0/0/1/0")
	p2 := openPoll(t, "def")
	s.waitCounters("1/0/1/2/0")
	stWantBody(t, "online", s.stRawCommand("online"), "abc 0\ndef 1\n", 12)
	p2.close()
	s.waitCounters("0/0/0/2/0")
}

// 220_watch_event_online_offline: WATCH lists the newest event per id,
// positions from 10 (R-CMD-8, R-EVT-1).
func TestServer220WatchEventOnlineOffline(t *testing.T) {
	s := stStart(t, "offline_timeout 300ms")
	p1 := openPoll(t, "abc")
	stWantBody(t, "watch 1 with abc", s.stRawCommand("watch 1\n"), "online 10:abc\n", 14)
	p2 := openPoll(t, "def")
	stWantBody(t, "watch 1 with abc, def", s.stRawCommand("watch 1\n"), "online 10:abc\nonline 11:def\n", 28)
	// One at a time, so the offline events have a known order.
	p1.close()
	s.waitCounters("1/0/1/1/0")
	p2.close()
	s.waitCounters("0/0/0/0/0")
	stWantBody(t, "watch 1 after offline", s.stRawCommand("watch 1\n"), "offline 12:abc\noffline 13:def\n", 30)
}

// 222_watch_event_empty: nothing newer than the position: an empty body
// with Content-Length 0 (R-CMD-8, R-CMD-3).
func TestServer222WatchEventEmpty(t *testing.T) {
	s := stStart(t, "")
	raw := rawExchange(t, inPort, phpRequest("", "watch 1\n"))
	if r := stParseReply(t, raw); r.header.Get("Content-Length") != "0" {
		t.Errorf("reply %q: want Content-Length: 0", raw)
	}
	stWantBody(t, "watch 1", stCommandReply(t, raw), "", 0)
	s.waitCounters("0/0/0/0/0")
}

// 225_watch_event_initial: `watch ?` is the initial request and reports
// the next position; R-QUIRK-2 is kept on the wire (R-CMD-7).
func TestServer225WatchEventInitial(t *testing.T) {
	s := stStart(t, "")
	stWantBody(t, "watch ? on a fresh hub", s.stRawCommand("watch ?\n"), "FAKE 10:FAKE\n", 13)
	p := openPoll(t, "abc")
	stWantBody(t, "watch ? after one event", s.stRawCommand("watch ?\n"), "FAKE 11:FAKE\n", 13)
	p.close()
	s.waitCounters("0/0/0/1/0")
}

// 230_watch_event_chain_size_pl: the Perl three-chain retention (R-EVT-2):
// with EVENT_CHAIN_LEN=3, 20 events leave the 12 newest.
func TestServer230WatchEventChainSize(t *testing.T) {
	s := stStart(t, "event_chain_len 3")
	var want strings.Builder
	for i := 0; i < 20; i++ {
		id := fmt.Sprintf("abc%02d", i)
		p := openPoll(t, id) // returns once registered: events in order
		p.close()
		if i >= 8 {
			fmt.Fprintf(&want, "online %d:%s\n", 10+i, id)
		}
	}
	stWantBody(t, "watch 1", s.stRawCommand("watch 1\n"), want.String(), 192)
	if e := s.hub().Counters().Events; e != 12 {
		t.Errorf("%d events retained, want 12", e)
	}
	s.waitCounters("0/0/0/20/0")
}

// 240_watch_event_no_extra_offline: an id goes offline only after its last
// connection closed, OFFLINE_TIMEOUT later (R-ONL-3).
func TestServer240WatchEventNoExtraOffline(t *testing.T) {
	const offline = 500 * time.Millisecond
	s := stStart(t, "offline_timeout 500ms")
	p1 := openPoll(t, "1:abc")
	p2 := openPoll(t, "2:abc")
	s.waitCounters("2/0/1/1/0")
	p2.close()
	s.waitCounters("1/0/1/1/0")
	// Proving that no countdown started needs a sleep past the timeout.
	time.Sleep(offline + 300*time.Millisecond)
	stWantBody(t, "watch 1 with connection 1 open", s.stRawCommand("watch 1\n"), "online 10:abc\n", 14)
	if got := s.counters(); got != "1/0/1/1/0" {
		t.Errorf("with connection 1 open: counters %s, want 1/0/1/1/0", got)
	}

	start := time.Now()
	p1.close()
	s.waitCounters("0/0/0/1/0")
	if el := time.Since(start); el < offline {
		stWantBody(t, "watch 1 right after the last close", s.stRawCommand("watch 1\n"), "online 10:abc\n", 14)
	}
	s.waitCounters("0/0/0/0/0")
	if el := time.Since(start); el < offline {
		t.Errorf("abc went offline %v after its last connection closed, before offline_timeout", el)
	}
	stWantBody(t, "watch 1 after offline", s.stRawCommand("watch 1\n"), "offline 11:abc\n", 15)
}

// 320_rotate_queue: MAX_DATA_FOR_ID keeps the highest cursors (R-Q-3, R-CMD-9).
func TestServer320RotateQueue(t *testing.T) {
	s := stStart(t, "max_data_for_id 2")
	stCheckPublished(t, s.publish("abc,def", `"a"`))
	stCheckPublished(t, s.publish("abc,def", `"bb"`))
	const tail = "\n[connected_fhs]\n\n[online_timers]\n\n[cleanup_timers]\nabc => assigned\ndef => assigned\n\n[pairs_by_fhs]\n"
	s.stStats("after a, bb", "[data_to_send]\nabc => [*: 4b], [*: 3b]\ndef => [*: 4b], [*: 3b]\n"+tail, 259)
	stCheckPublished(t, s.publish("abc,def", `"ccc"`))
	s.stStats("after ccc", "[data_to_send]\nabc => [*: 5b], [*: 4b]\ndef => [*: 5b], [*: 4b]\n"+tail, 259)
	s.stStored(4, 18)
	s.waitCounters("0/2/0/0/2")
}

// 325_rotate_queue_with_same_id: equal cursors do not replace each other;
// the newer entry counts as newer for rotation (R-Q-2, R-Q-3).
func TestServer325RotateQueueWithSameId(t *testing.T) {
	s := stStart(t, "max_data_for_id 2")
	stCheckPublished(t, s.publish("1:abc,1:def", `"a"`))
	stCheckPublished(t, s.publish("1:abc,1:def", `"bb"`))
	const tail = "\n[connected_fhs]\n\n[online_timers]\n\n[cleanup_timers]\nabc => assigned\ndef => assigned\n\n[pairs_by_fhs]\n"
	s.stStats("after a, bb", "[data_to_send]\nabc => [1: 4b], [1: 3b]\ndef => [1: 4b], [1: 3b]\n"+tail, 163)
	stCheckPublished(t, s.publish("1:abc,1:def", `"ccc"`))
	s.stStats("after ccc", "[data_to_send]\nabc => [1: 5b], [1: 4b]\ndef => [1: 5b], [1: 4b]\n"+tail, 163)
	s.stStored(4, 18)
	s.waitCounters("0/2/0/0/2")
}

// 330_cleanup_queue_on_expire: CLEAN_ID_AFTER drops the whole queue (R-Q-4).
func TestServer330CleanupQueueOnExpire(t *testing.T) {
	s := stStart(t, "clean_id_after 500ms")
	start := time.Now()
	stCheckPublished(t, s.publish("abc", `"a"`))
	s.stStats("after publish", "[data_to_send]\nabc => [*: 3b]\n\n[connected_fhs]\n\n[online_timers]\n"+
		"\n[cleanup_timers]\nabc => assigned\n\n[pairs_by_fhs]\n", 138)
	s.waitCounters("0/0/0/0/0")
	if el := time.Since(start); el < 500*time.Millisecond {
		t.Errorf("queue dropped %v after the publish, before clean_id_after", el)
	}
	s.stStats("after cleanup", stEmptyStats, 83)
	s.stStored(0, 0)
}

// stCheckStatic requests a static page three times (twice by query, once
// with the original's raw bytes as a POST body) and checks the
// R-STATIC-1 reply. Our server frames it with Content-Length instead of
// closing (documented in static.go); Date is masked for the comparison.
func stCheckStatic(t *testing.T, s *server, special, file, contentType, want string) {
	t.Helper()
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	post := "identifier=" + special + "\naaa"
	reqs := []string{
		"GET /?identifier=" + special + " HTTP/1.1\r\nHost: rpl.example.com\r\n\r\n",
		"GET /?identifier=" + special + " HTTP/1.1\r\nHost: rpl.example.com\r\n\r\n",
		fmt.Sprintf("POST / HTTP/1.1\r\nHost: rpl.example.com\r\nContent-Length: %d\r\n\r\n%s", len(post), post),
	}
	dateRE := regexp.MustCompile(`(?m)^Date: .*\r$`)
	var first string
	for i, req := range reqs {
		raw := rawExchange(t, waitPort, req)
		r := stParseReply(t, raw)
		if r.status != "HTTP/1.1 200 OK" {
			t.Errorf("request %d: status %q", i+1, r.status)
		}
		stWantHeader(t, r, "Content-Type", contentType)
		stWantHeader(t, r, "Last-Modified", st.ModTime().UTC().Format(http.TimeFormat))
		stWantHeader(t, r, "Expires", "Wed, 08 Jul 2037 22:53:52 GMT")
		stWantHeader(t, r, "Cache-Control", "public")
		if body := bodyOf(t, raw); body != want {
			t.Errorf("request %d: body %q, want %q", i+1, body, want)
		}
		if m := dateRE.ReplaceAllString(raw, "Date: *\r"); i == 0 {
			first = m
		} else if m != first {
			t.Errorf("request %d: reply differs from the first:\n%q\n%q", i+1, m, first)
		}
		// Nothing registered, nobody online, no event (R-STATIC-1).
		s.waitCounters("0/0/0/0/0")
		if e := s.hub().Counters().Events; e != 0 {
			t.Errorf("request %d: %d events", i+1, e)
		}
	}
}

// 400_iframe: the IFRAME page with $NAME substitution (R-STATIC-1, R-STATIC-2).
func TestServer400Iframe(t *testing.T) {
	file := stAbsPath(t, "iframe-stub.html")
	s := stStart(t, "iframe_file "+file)
	stCheckStatic(t, s, "IFRAME", file, "text/html; charset=utf-8", "IFRAME stub: [IFRAME].")
}

// 410_script: the same for SCRIPT (R-STATIC-1, R-STATIC-2).
func TestServer410Script(t *testing.T) {
	file := stAbsPath(t, "script-stub.js")
	s := stStart(t, "script_file "+file)
	stCheckStatic(t, s, "SCRIPT", file, "text/javascript; charset=utf-8", "SCRIPT stub: [SCRIPT].")
}

// 500_login_send_unknown_user: the byte-exact 403 (R-IN-16, R-QUIRK-1);
// the users file has no guest entry, so anonymous publishing is refused
// too (R-AUTH-4). Nothing is stored.
func TestServer500LoginSendUnknownUser(t *testing.T) {
	s := stStart(t, "users_file "+stAbsPath(t, "users.htpasswd"))
	if got, want := s.publish("unk:pass@abc", `"aaa"`),
		"HTTP/1.0 403 Access Deined\r\nContent-Type: text/plain\r\nContent-Length: 19\r\n\r\nunknown login: unk\n"; got != want {
		t.Errorf("unknown login: got %q, want %q", got, want)
	}
	if got, want := s.publish("abc", `"aaa"`),
		"HTTP/1.0 403 Access Deined\r\nContent-Type: text/plain\r\nContent-Length: 29\r\n\r\naccess denied for guest user\n"; got != want {
		t.Errorf("guest: got %q, want %q", got, want)
	}
	s.stStored(0, 0)
	s.waitCounters("0/0/0/0/0")
}

// 510_login_send_wrong_pass: a wrong password gets the 403 (R-AUTH-3, R-IN-16).
func TestServer510LoginSendWrongPass(t *testing.T) {
	s := stStart(t, "users_file "+stAbsPath(t, "users.htpasswd"))
	if got, want := s.publish("user:wrong@abc", `"aaa"`),
		"HTTP/1.0 403 Access Deined\r\nContent-Type: text/plain\r\nContent-Length: 33\r\n\r\ninvalid password for login: user\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	s.stStored(0, 0)
	s.waitCounters("0/0/0/0/0")
}

// 520_login_send_pass_skip_not_own: an id without the `user_` prefix is
// skipped without an error (R-AUTH-6, R-IN-8); since all were skipped our
// 200 says so in X-Realplexor-Skipped (R-IN-13 via R-PORT-3).
func TestServer520LoginSendPassSkipNotOwn(t *testing.T) {
	s := stStart(t, "users_file "+stAbsPath(t, "users.htpasswd"))
	raw := s.publish("user:password@abc", `"aaa"`)
	r := stParseReply(t, raw)
	if r.status != "HTTP/1.1 200 OK" || r.header.Get("Content-Length") != "0" || r.body != "" {
		t.Errorf("reply %q: want 200 with an empty body", raw)
	}
	stWantHeader(t, r, "X-Realplexor-Skipped", "1")
	s.stStored(0, 0)
	s.waitCounters("0/0/0/0/0")
}

// 530_login_send_ok: an owned id is stored (R-AUTH-6).
func TestServer530LoginSendOk(t *testing.T) {
	s := stStart(t, "users_file "+stAbsPath(t, "users.htpasswd"))
	stCheckPublished(t, s.publish("user:password@user_abc", `"aaa"`))
	s.stStored(1, 5)
	s.waitCounters("0/1/0/0/1")
}

// 535_login_online_no_id: a logged-in ONLINE with an empty id list
// (R-CMD-12, R-AUTH-7); with no prefix the login's own prefix is used
// (R-DIFF-8, the C++ rule).
func TestServer535LoginOnlineNoId(t *testing.T) {
	s := stStart(t, "users_file "+stAbsPath(t, "users.htpasswd"))
	p := openPoll(t, "user_abc")
	p.close()
	s.waitCounters("0/0/0/1/0")
	// The original's raw `identifier=user:password@\n\nonline user_`.
	stWantBody(t, "online user_", s.stCommand("user:password@", "online user_"), "user_abc 0\n", 11)
	stWantBody(t, "online (no prefix)", s.stCommand("user:password@", "online\n"), "user_abc 0\n", 11)
	s.waitCounters("0/0/0/1/0")
}

// 540_login_online_not_own: prefixes outside `user_` are dropped, and if
// none remain nothing matches (R-AUTH-7).
func TestServer540LoginOnlineNotOwn(t *testing.T) {
	s := stStart(t, "users_file "+stAbsPath(t, "users.htpasswd"))
	p := openPoll(t, "user_abc")
	p.close()
	s.waitCounters("0/0/0/1/0")
	stWantBody(t, "online u", s.stCommand("user:password@", "online u\n"), "", 0)
	stWantBody(t, "online u again", s.stCommand("user:password@", "online u\n"), "", 0)
	stWantBody(t, "online user_", s.stCommand("user:password@", "online user_\n"), "user_abc 0\n", 11)
	s.waitCounters("0/0/0/1/0")
}

// 540_login_watch: WATCH with a login: the initial request ignores
// prefixes (R-CMD-7), others are filtered to `user_` (R-AUTH-7), and no
// prefix means `user_` (R-DIFF-8).
func TestServer540LoginWatch(t *testing.T) {
	s := stStart(t, "users_file "+stAbsPath(t, "users.htpasswd"))
	p := openPoll(t, "10:user_abc")
	p.close()
	s.waitCounters("0/0/0/1/0")
	stWantBody(t, "watch", s.stCommand("user:password@", "watch\n"), "FAKE 11:FAKE\n", 13)
	stWantBody(t, "watch 1 u", s.stCommand("user:password@", "watch 1 u\n"), "", 0)
	stWantBody(t, "watch 1 user_", s.stCommand("user:password@", "watch 1 user_\n"), "online 10:user_abc\n", 19)
	stWantBody(t, "watch 1 (no prefix)", s.stCommand("user:password@", "watch 1\n"), "online 10:user_abc\n", 19)
	s.waitCounters("0/0/0/1/0")
}

// 600_send_empty_id: an empty WAIT list registers nothing (R-WAIT-5); we
// answer 400 `Empty identifier passed` instead of closing silently.
func TestServer600SendEmptyId(t *testing.T) {
	s := stStart(t, "")
	post := "identifier=\n" // the original's raw request, as a POST body
	for _, req := range []string{
		"GET /?identifier=&ncrnd=1 HTTP/1.1\r\nHost: rpl.example.com\r\n\r\n",
		"GET /?identifier=,,&ncrnd=1 HTTP/1.1\r\nHost: rpl.example.com\r\n\r\n", // all elements dropped (R-ID-11)
		fmt.Sprintf("POST / HTTP/1.1\r\nHost: rpl.example.com\r\nContent-Length: %d\r\n\r\n%s", len(post), post),
	} {
		raw := rawExchange(t, waitPort, req)
		if statusOf(raw) != 400 {
			t.Errorf("%q: got %q, want 400", req, raw)
		}
		if strings.Contains(raw, " \r\n[") || strings.Contains(raw, "text/javascript") {
			t.Errorf("%q: reply looks like a poll: %q", req, raw)
		}
		s.waitCounters("0/0/0/0/0")
	}
	if e := s.hub().Counters().Events; e != 0 {
		t.Errorf("%d events, want none", e)
	}
}
