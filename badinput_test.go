package caddyrealplexor

// Bad input on both lines, against one running server: every bad request
// gets a status (and a short reason where the body carries one), nothing
// is stored or corrupted, and a poll parked beforehand on another id is
// still served by a later good publish: everyone else keeps being served.

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

type badInputRow struct {
	name   string
	port   int
	req    string
	status int
	// reason is what a non-empty reply body must contain. Errors that the
	// handler returns go through Caddy's error handling, which (with no
	// handle_errors in the site) answers the status with an empty body:
	// then only the status is asserted and the test notes it.
	reason string
	// exact is the whole reply, byte for byte (the 403s of R-IN-16).
	exact string
	// accessDenied: the 403 framing of R-IN-16 with any message.
	accessDenied bool
	// park marks the positive control: a valid poll that must park.
	park bool
}

// badWaitGet is a WAIT GET with the given request target.
func badWaitGet(target string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: rpl.example.com\r\n\r\n"
}

// badWaitPost is a WAIT POST of body.
func badWaitPost(body string) string {
	return fmt.Sprintf("POST / HTTP/1.1\r\nHost: rpl.example.com\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

// badDenied renders the exact R-IN-16 reply for message.
func badDenied(message string) string {
	return "HTTP/1.0 403 Access Deined\r\nContent-Type: text/plain\r\nContent-Length: " +
		strconv.Itoa(len(message)+1) + "\r\n\r\n" + message + "\n"
}

var badDeniedRE = regexp.MustCompile(`^HTTP/1\.0 403 Access Deined\r\nContent-Type: text/plain\r\nContent-Length: (\d+)\r\n\r\n([^\n]*\n)$`)

func TestBadInput(t *testing.T) {
	// Guests may publish, so only the bad part of each request fails.
	s := startServer(t, phpUsersOption(t, "users-guest.htpasswd")+"\nin_maxlen 1KiB")

	healthy := openPoll(t, "healthy")
	s.waitCounters("1/0/1/1/0")

	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 300)
	for i := range garbage {
		garbage[i] = byte(rng.UintN(256))
	}
	garbage[0], garbage[150] = 0, 0 // NUL bytes, and never a command or JSON

	rows := []badInputRow{
		// WAIT line.
		{name: "WAIT no identifier", port: waitPort, req: badWaitGet("/favicon.ico"), status: 400, reason: "identifier"},
		{name: "WAIT empty list", port: waitPort, req: badWaitGet("/?identifier="), status: 400, reason: "Empty identifier passed"},
		{name: "WAIT all-garbage list", port: waitPort, req: badWaitGet("/?identifier=,,-,%2C"), status: 400, reason: "Empty identifier passed"},
		{name: "WAIT oversized POST body without marker", port: waitPort, req: badWaitPost(strings.Repeat("a", 6000)), status: 413, reason: "wait_maxlen"},
		{name: "WAIT POST form with marker in body (positive control)", port: waitPort, req: badWaitPost("identifier=formpoll\n"), park: true},
		// IN line.
		{name: "IN oversized body", port: inPort, req: phpRequest("victim", `"`+strings.Repeat("x", 2000)+`"`), status: 413, reason: "in_maxlen"},
		{name: "IN bad cursor only", port: inPort, req: phpRequest("abc:def", `"x"`), status: 400, reason: "no ids"},
		{name: "IN wrong password", port: inPort, req: phpRequest("user:wrong@user_victim", `"x"`), status: 403, exact: badDenied("invalid password for login: user")},
		{name: "IN unknown user", port: inPort, req: phpRequest("unk:pass@victim", `"x"`), status: 403, exact: badDenied("unknown login: unk")},
		{name: "IN unknown command", port: inPort, req: phpRequest("", "frobnicate\n"), status: 400, reason: "no ids"},
		{name: "IN body not JSON", port: inPort, req: phpRequest("victim", "hello"), status: 400, reason: "JSON"},
		{name: "IN binary garbage body", port: inPort, req: phpRequest("victim", string(garbage)), status: 400, reason: "JSON"},
		{name: "IN empty body", port: inPort, req: phpRequest("victim", ""), status: 400, reason: "empty"},
		{name: "IN no identifier", port: inPort, req: "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\n\"x\"", status: 400, reason: "identifier"},
		{name: "IN ids with non-ASCII bytes", port: inPort, req: phpRequest("\xc3\xa9t\xc3\xa9,\xffvictim", `"x"`), status: 400, reason: "no ids"},
		{name: "IN stats with credentials", port: inPort, req: phpRequest("user:password@", "stats\n"), status: 403, accessDenied: true},
	}

	for _, row := range rows {
		before := s.counters()
		if row.park {
			c := s.hub().Counters()
			p := openRawPoll(t, row.req)
			eventually(t, row.name+": parked", func() bool { return s.hub().Counters().Parked == c.Parked+1 })
			s.publishOK("formpoll", `"form ok"`)
			if got := masked(p.rest()); got != batch(entryJSON(`"formpoll": "<cursor>"`, `"form ok"`)) {
				t.Errorf("%s: poll got %q", row.name, got)
			}
			continue
		}
		reply := rawExchange(t, row.port, row.req)
		if got := statusOf(reply); got != row.status {
			t.Errorf("%s: status %d, want %d; reply %q", row.name, got, row.status, reply)
			continue
		}
		switch {
		case row.exact != "":
			if reply != row.exact {
				t.Errorf("%s: reply\n got %q\nwant %q", row.name, reply, row.exact)
			}
		case row.accessDenied:
			m := badDeniedRE.FindStringSubmatch(reply)
			if m == nil || m[1] != strconv.Itoa(len(m[2])) {
				t.Errorf("%s: not the R-IN-16 403 framing: %q", row.name, reply)
			}
		default:
			body := bodyOf(t, reply)
			switch {
			case body == "":
				t.Logf("%s: %d with an empty body (Caddy's error handling: the reason %q is not sent)", row.name, row.status, row.reason)
			case !strings.Contains(body, row.reason):
				t.Errorf("%s: body %q does not give the reason %q", row.name, body, row.reason)
			}
		}
		if got := s.counters(); got != before {
			t.Errorf("%s: counters %s after the request, want %s unchanged", row.name, got, before)
		}
	}

	// Everyone else keeps being served: the poll parked before all that
	// gets exactly the next good publish.
	s.waitCounters("1/1/1/2/1")
	s.publishOK("healthy", `"still served"`)
	if got := masked(healthy.rest()); got != batch(entryJSON(`"healthy": "<cursor>"`, `"still served"`)) {
		t.Errorf("healthy poll got %q", got)
	}
	s.waitCounters("0/2/0/2/2")

	// No backlog anywhere the bad requests aimed at: a poll from cursor 0
	// on those ids parks instead of getting anything.
	openPoll(t, "0:victim,0:user_victim,0:abc,0:def,0:unk")
	s.waitCounters("1/2/5/7/2")
}
