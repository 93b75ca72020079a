package caddyrealplexor

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// R-CMD-1 with the R-QUIRK-5 fix: a body is a command only when it is one
// command line, optionally ending in LF or CRLF.
func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		in        string
		ok        bool
		name, arg string
	}{
		{"online", true, "online", ""},
		{"ONLINE ns_", true, "online", "ns_"},
		{"online ns_\n", true, "online", "ns_"}, // the PHP client's body
		{"Online a_ b_\n", true, "online", "a_ b_"},
		{"online\tns_", true, "online", "ns_"},
		{"online   ns_  ", true, "online", "ns_"},
		{"watch 5\r\n", true, "watch", "5"}, // not recognised by Perl at EOF; recommended here
		{"watch 5 ", true, "watch", "5"},
		{"watch 5\n", true, "watch", "5"},
		{"WATCH", true, "watch", ""},
		{"watch 0 ns_ user_", true, "watch", "0 ns_ user_"},
		{"stats\n", true, "stats", ""},
		{"STATS", true, "stats", ""},
		{"stats whatever", true, "stats", "whatever"},
		{"onlinex", false, "", ""},
		{"online\nfoo", false, "", ""},
		{"online\n\n", false, "", ""},
		{"online\r\nstats", false, "", ""},
		{"watch 5\r\nfoo", false, "", ""},
		{"statsx 1", false, "", ""},
		{"watch5", false, "", ""},
		{"", false, "", ""},
		{"\n", false, "", ""},
		{"onlin", false, "", ""},
		{" online", false, "", ""},
		{"\nonline", false, "", ""},
		{`"online"`, false, "", ""},
		{`"aaa"`, false, "", ""},
		{"publish abc", false, "", ""},
		{"identifier=abc\n\nonline", false, "", ""},
	} {
		cmd, ok := parseCommand([]byte(tc.in))
		if ok != tc.ok || cmd.name != tc.name || cmd.arg != tc.arg {
			t.Errorf("parseCommand(%q) = %+v, %v; want {%s %q}, %v", tc.in, cmd, ok, tc.name, tc.arg, tc.ok)
		}
	}
}

// R-CMD-4, R-CMD-10, R-AUTH-7: prefixes are plain byte prefixes; with a
// login they are narrowed to `<login>_`, and with none given the login's
// own prefix is used (the C++ rule, R-DIFF-8); ONLINE `0` means no prefix.
func TestPrefixFilter(t *testing.T) {
	ids := []string{"abc", "abd", "def", "0abc", "user_abc", "user_def", "userx_abc", "user", "a.c"}
	login := IDList{HasCreds: true, Login: "user", Password: "password"}
	for _, tc := range []struct {
		name     string
		prefixes []string
		list     IDList
		online   bool
		want     []string
	}{
		{"no prefix", nil, IDList{}, true, ids},
		{"one prefix", []string{"ab"}, IDList{}, true, []string{"abc", "abd"}},
		{"two prefixes", []string{"abd", "us"}, IDList{}, true, []string{"abd", "user_abc", "user_def", "userx_abc", "user"}},
		{"whole id", []string{"abc"}, IDList{}, false, []string{"abc"}},
		{"no metacharacters", []string{"a."}, IDList{}, false, []string{"a.c"}},
		{"online 0 is no prefix", []string{"0"}, IDList{}, true, ids},
		{"watch 0 is a prefix", []string{"0"}, IDList{}, false, []string{"0abc"}},
		{"online 0 with another prefix", []string{"0", "d"}, IDList{}, true, []string{"def", "0abc"}},
		{"login, no prefix: own ids", nil, login, true, []string{"user_abc", "user_def"}},
		{"login, watch, no prefix", nil, login, false, []string{"user_abc", "user_def"}},
		{"login, online 0", []string{"0"}, login, true, []string{"user_abc", "user_def"}},
		{"login, foreign prefix: nothing", []string{"u"}, login, true, nil},
		{"login, foreign prefixes: nothing", []string{"a", "d", "user"}, login, false, nil},
		{"login, own prefix", []string{"user_"}, login, true, []string{"user_abc", "user_def"}},
		{"login, own narrower prefix", []string{"u", "user_a"}, login, true, []string{"user_abc"}},
		{"login, own id", []string{"user_def"}, login, false, []string{"user_def"}},
	} {
		match := prefixFilter(tc.prefixes, tc.list, tc.online)
		var got []string
		for _, id := range ids {
			if match(id) {
				got = append(got, id)
			}
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s: matched %q, want %q", tc.name, got, tc.want)
		}
	}
}

// R-CMD-5, C.6: `<id> <count>\n` per online id, sorted.
func TestCommandOnlineReply(t *testing.T) {
	h := rpxNewHub(t, newRpxClock(), nil)
	if got := must(t)(onlineReply(h, prefixFilter(nil, IDList{}, true))); got != "" {
		t.Fatalf("fresh hub: %q", got)
	}
	h.Release(rpxRegister(t, h, "abc"), WaitCancelled)
	w := rpxRegister(t, h, "def")
	w2 := rpxRegister(t, h, "user_abc,def")
	defer h.Release(w, WaitCancelled)
	defer h.Release(w2, WaitCancelled)
	for _, tc := range []struct {
		arg  string
		list IDList
		want string
	}{
		{"", IDList{}, "abc 0\ndef 2\nuser_abc 1\n"},
		{"0", IDList{}, "abc 0\ndef 2\nuser_abc 1\n"},
		{"d", IDList{}, "def 2\n"},
		{"x", IDList{}, ""},
		{"", IDList{HasCreds: true, Login: "user"}, "user_abc 1\n"},
		{"u", IDList{HasCreds: true, Login: "user"}, ""},
	} {
		if got := must(t)(onlineReply(h, prefixFilter(strings.Fields(tc.arg), tc.list, true))); got != tc.want {
			t.Errorf("online %q (login %q): %q, want %q", tc.arg, tc.list.Login, got, tc.want)
		}
	}
}

// R-CMD-6..8, R-QUIRK-2, R-AUTH-7, tests 220, 222, 225, 540: FAKE for an
// empty, `0` or non-numeric position (prefixes ignored), an event listing
// for a numeric one, `0.0` included (Perl, R-DIFF-7).
func TestCommandWatchReply(t *testing.T) {
	clk := newRpxClock()
	h := rpxNewHub(t, clk, func(s *settings) { s.offlineTimeout = time.Second })
	none := IDList{}
	for _, arg := range []string{"", "0", "?", "abc", "1e3", "-1", "0 abc"} {
		if got := must(t)(watchReply(h, arg, none)); got != "FAKE 10:FAKE\n" {
			t.Errorf("fresh hub, watch %q: %q, want FAKE 10:FAKE", arg, got)
		}
	}
	for _, arg := range []string{"1", "0.0", "9"} {
		if got := must(t)(watchReply(h, arg, none)); got != "" {
			t.Errorf("fresh hub, watch %q: %q, want empty (222)", arg, got)
		}
	}

	h.Release(rpxRegister(t, h, "10:user_abc"), WaitCancelled) // 10
	w := rpxRegister(t, h, "abc")                              // 11
	if got := must(t)(watchReply(h, "?", none)); got != "FAKE 12:FAKE\n" {
		t.Errorf("watch ?: %q", got)
	}
	login := IDList{HasCreds: true, Login: "user", Password: "password"}
	for _, tc := range []struct {
		arg  string
		list IDList
		want string
	}{
		{"1", none, "online 10:user_abc\nonline 11:abc\n"},
		{"0.0", none, "online 10:user_abc\nonline 11:abc\n"},
		{"9", none, "online 10:user_abc\nonline 11:abc\n"},
		{"10", none, "online 11:abc\n"},
		{"11", none, ""},
		{"1 a", none, "online 11:abc\n"},
		{"1  x   u ", none, "online 10:user_abc\n"},
		{"", login, "FAKE 12:FAKE\n"},
		{"1 u", login, ""},
		{"1 user_", login, "online 10:user_abc\n"},
		{"1", login, "online 10:user_abc\n"},
	} {
		if got := must(t)(watchReply(h, tc.arg, tc.list)); got != tc.want {
			t.Errorf("watch %q (login %q): %q, want %q", tc.arg, tc.list.Login, got, tc.want)
		}
	}
	h.Release(w, WaitCancelled)
	clk.Set(rpxBase.Add(time.Second))
	h.Sweep()
	if got := must(t)(watchReply(h, "1", none)); got != "offline 12:user_abc\noffline 13:abc\n" {
		t.Errorf("after both went offline: %q", got)
	}
}

// R-CMD-7, R-DIFF-7: a position made only of digits and dots is numeric
// in Perl ("5." and ".5" are 5 and 0.5) and parses as a non-zero number in
// C++, so both originals list events for it rather than answer FAKE.
func TestCommandWatchDotPositions(t *testing.T) {
	h := rpxNewHub(t, newRpxClock(), nil)
	w := rpxRegister(t, h, "abc") // event 10
	defer h.Release(w, WaitCancelled)
	for _, arg := range []string{"5.", ".5"} {
		if got := must(t)(watchReply(h, arg, IDList{})); got != "online 10:abc\n" {
			t.Errorf("watch %q: %q, want %q", arg, got, "online 10:abc\n")
		}
	}
}

// R-CMD-3: the reply framing through net/http (no network: a recorder).
func TestCommandRunReplies(t *testing.T) {
	h := rpxNewHub(t, newRpxClock(), nil)
	h.Release(rpxRegister(t, h, "abc"), WaitCancelled)
	w := rpxRegister(t, h, "def")
	defer h.Release(w, WaitCancelled)
	run := func(body string, list IDList) *httptest.ResponseRecorder {
		t.Helper()
		cmd, ok := parseCommand([]byte(body))
		if !ok {
			t.Fatalf("%q is not a command", body)
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		if err := runCommand(h, cmd, list, rec, req, zap.NewNop()); err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		return rec
	}
	for _, tc := range []struct {
		body, want string
	}{
		{"online\n", "abc 0\ndef 1\n"},
		{"watch 0\n", "FAKE 12:FAKE\n"},
		{"watch 9\n", "online 10:abc\nonline 11:def\n"},
		{"watch 99\n", ""},
	} {
		rec := run(tc.body, IDList{})
		if rec.Code != http.StatusOK || rec.Body.String() != tc.want {
			t.Errorf("%q: %d %q, want 200 %q", tc.body, rec.Code, rec.Body.String(), tc.want)
		}
		if ct, cl := rec.Header().Get("Content-Type"), rec.Header().Get("Content-Length"); ct != "text/plain" || cl != strconv.Itoa(len(tc.want)) {
			t.Errorf("%q: Content-Type %q Content-Length %q", tc.body, ct, cl)
		}
	}
	rec := run("stats\n", IDList{})
	if !strings.HasPrefix(rec.Body.String(), "[data_to_send]\n\n[connected_fhs]\ndef => (0x") || rec.Header().Get("Content-Length") != strconv.Itoa(rec.Body.Len()) {
		t.Errorf("stats: %q (Content-Length %s)", rec.Body.String(), rec.Header().Get("Content-Length"))
	}
	// R-AUTH-8: STATS is for guests only.
	rec = run("stats\n", IDList{HasCreds: true, Login: "user", Password: "password"})
	if rec.Code == http.StatusOK || strings.Contains(rec.Body.String(), "[data_to_send]") {
		t.Errorf("stats with a login: %d %q", rec.Code, rec.Body.String())
	}
}

// must fails the test on a reply error; the standalone hub never fails.
func must(t testing.TB) func(string, error) string {
	return func(s string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}
