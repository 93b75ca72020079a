package caddyrealplexor

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The admin API tests talk to the harness server's admin endpoint
// (localhost:<adminPort>), where Caddy mounts admin.api.realplexor by
// itself.

var adminClient = &http.Client{Timeout: 10 * time.Second}

// adminDo sends a request to the admin API and returns the status and body.
func adminDo(t testing.TB, method, path, body string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, fmt.Sprintf("http://localhost:%d%s", adminPort, path), r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := adminClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading: %v", method, path, err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type %q, body %s", method, path, ct, b)
	}
	return resp.StatusCode, b
}

// adminJSON does a request, checks the status and decodes the reply into v.
func adminJSON(t testing.TB, method, path, body string, wantStatus int, v any) {
	t.Helper()
	status, b := adminDo(t, method, path, body)
	if status != wantStatus {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, path, status, wantStatus, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// adminWantError checks an error reply: status and Caddy's {"error": …}.
func adminWantError(t testing.TB, method, path, body string, wantStatus int, wantIn string) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	adminJSON(t, method, path, body, wantStatus, &e)
	if !strings.Contains(e.Error, wantIn) {
		t.Fatalf("%s %s: error %q, want it to contain %q", method, path, e.Error, wantIn)
	}
}

func (s *server) adminPath(route string) string { return "/realplexor/" + s.hubName + route }

func TestAdminHubsAndOnline(t *testing.T) {
	s := startServer(t, "")
	p1 := openPoll(t, "abc")
	p2 := openPoll(t, "abd,xyz")
	defer p1.close()
	defer p2.close()
	s.publishOK("zzz", `"buffered"`)

	var list []adminHub
	adminJSON(t, "GET", "/realplexor/", "", http.StatusOK, &list)
	var mine *adminHub
	for i := range list {
		if list[i].Name == s.hubName {
			mine = &list[i]
		}
	}
	if mine == nil {
		t.Fatalf("hub %s not listed in %+v", s.hubName, list)
	}
	if mine.Shared || mine.Redis != "" || mine.References < 1 {
		t.Errorf("hub entry %+v: want standalone with references", mine)
	}
	want := Counters{Parked: 2, WithData: 1, WithListeners: 3, Online: 3, CleanupTimers: 1, Events: 3, Messages: 1, Bytes: len(`"buffered"`)}
	if mine.Counters != want {
		t.Errorf("counters %+v, want %+v", mine.Counters, want)
	}
	// The JSON names are the spec's storage counters.
	_, raw := adminDo(t, "GET", s.adminPath(""), "")
	for _, k := range []string{`"pairs_by_fhs":2`, `"data_to_send":1`, `"connected_fhs":3`, `"online_timers":3`, `"cleanup_timers":1`, `"events":3`} {
		if !strings.Contains(string(raw), k) {
			t.Errorf("GET %s: %s lacks %s", s.adminPath(""), raw, k)
		}
	}

	var online []adminOnline
	adminJSON(t, "GET", s.adminPath("/online"), "", http.StatusOK, &online)
	if got := fmt.Sprint(online); got != "[{abc 1} {abd 1} {xyz 1}]" {
		t.Errorf("online: %s", got)
	}
	adminJSON(t, "GET", s.adminPath("/online?prefix=ab&prefix=x"), "", http.StatusOK, &online)
	if got := fmt.Sprint(online); got != "[{abc 1} {abd 1} {xyz 1}]" {
		t.Errorf("online ab,x: %s", got)
	}
	adminJSON(t, "GET", s.adminPath("/online?prefix=abd"), "", http.StatusOK, &online)
	if got := fmt.Sprint(online); got != "[{abd 1}]" {
		t.Errorf("online abd: %s", got)
	}
	// No match is an empty list, not null.
	_, raw = adminDo(t, "GET", s.adminPath("/online?prefix=nope"), "")
	if strings.TrimSpace(string(raw)) != "[]" {
		t.Errorf("online nope: %s", raw)
	}
}

func TestAdminWatch(t *testing.T) {
	s := startServer(t, "offline_timeout 1s")
	var first adminWatchReply
	_, raw := adminDo(t, "GET", s.adminPath("/watch"), "")
	if err := json.Unmarshal(raw, &first); err != nil || first.Next < firstEventPosition || first.Events != nil {
		t.Fatalf("initial watch: %s (%v)", raw, err)
	}
	if strings.Contains(string(raw), "events") {
		t.Errorf("initial watch has events: %s", raw)
	}
	var zero adminWatchReply
	adminJSON(t, "GET", s.adminPath("/watch?from=0"), "", http.StatusOK, &zero)
	if zero.Next != first.Next || zero.Events != nil {
		t.Errorf("watch from=0: %+v, want next %d only", zero, first.Next)
	}

	p := openPoll(t, "abc")
	from := first.Next
	var r adminWatchReply
	adminJSON(t, "GET", s.adminPath("/watch?from="+strconv.FormatInt(from, 10)), "", http.StatusOK, &r)
	if r.Events == nil || fmt.Sprint(*r.Events) != fmt.Sprintf("[{online %d abc}]", from) || r.Next != from+1 {
		t.Fatalf("watch from %d: %+v", from, r)
	}
	// from is inclusive and prefixes filter.
	adminJSON(t, "GET", s.adminPath(fmt.Sprintf("/watch?from=%d&prefix=zz", from)), "", http.StatusOK, &r)
	if r.Events == nil || len(*r.Events) != 0 {
		t.Fatalf("watch prefix zz: %+v", r)
	}
	_, raw = adminDo(t, "GET", s.adminPath(fmt.Sprintf("/watch?from=%d&prefix=zz", from)), "")
	if !strings.Contains(string(raw), `"events":[]`) {
		t.Errorf("empty events should be [], got %s", raw)
	}

	p.close()
	next := from + 1
	eventually(t, "the offline event", func() bool {
		adminJSON(t, "GET", s.adminPath(fmt.Sprintf("/watch?from=%d&prefix=ab", next)), "", http.StatusOK, &r)
		return r.Events != nil && len(*r.Events) == 1
	})
	if got := fmt.Sprint(*r.Events); got != fmt.Sprintf("[{offline %d abc}]", next) || r.Next != next+1 {
		t.Errorf("offline: %s next %d", got, r.Next)
	}
	// The raw JSON shape.
	_, raw = adminDo(t, "GET", s.adminPath(fmt.Sprintf("/watch?from=%d", next)), "")
	if want := fmt.Sprintf(`{"next":%d,"events":[{"type":"offline","pos":%d,"id":"abc"}]}`, next+1, next); strings.TrimSpace(string(raw)) != want {
		t.Errorf("watch JSON %s, want %s", raw, want)
	}

	for _, bad := range []string{"-1", "x", "1.5"} {
		adminWantError(t, "GET", s.adminPath("/watch?from="+bad), "", http.StatusBadRequest, "from:")
	}
}

func TestAdminChannel(t *testing.T) {
	s := startServer(t, "max_data_for_id 3")
	s.publishOK("10:abc", `"one"`)
	s.publishOK("20:abc", `{"n":2}`)

	var info ChannelInfo
	adminJSON(t, "GET", s.adminPath("/channels/abc"), "", http.StatusOK, &info)
	want := ChannelInfo{ID: "abc", Messages: 2, Bytes: len(`"one"`) + len(`{"n":2}`), LowestCursor: "10", HighestCursor: "20"}
	if info != want {
		t.Errorf("channel abc: %+v, want %+v", info, want)
	}

	// Rotation drops the lowest cursors; a listener shows up.
	s.publishOK("30:abc", `3`)
	s.publishOK("40:abc", `4`)
	p := openPoll(t, "50:abc")
	defer p.close()
	adminJSON(t, "GET", s.adminPath("/channels/abc"), "", http.StatusOK, &info)
	want = ChannelInfo{ID: "abc", Messages: 3, Bytes: len(`{"n":2}`) + 2, LowestCursor: "20", HighestCursor: "40", Listeners: 1, Online: true}
	if info != want {
		t.Errorf("channel abc: %+v, want %+v", info, want)
	}

	// A listened channel without a buffer.
	q := openPoll(t, "quiet")
	defer q.close()
	info = ChannelInfo{}
	adminJSON(t, "GET", s.adminPath("/channels/quiet"), "", http.StatusOK, &info)
	if want := (ChannelInfo{ID: "quiet", Listeners: 1, Online: true}); info != want {
		t.Errorf("channel quiet: %+v, want %+v", info, want)
	}
	if _, raw := adminDo(t, "GET", s.adminPath("/channels/quiet"), ""); strings.Contains(string(raw), "cursor") {
		t.Errorf("empty buffer shows cursors: %s", raw)
	}

	adminWantError(t, "GET", s.adminPath("/channels/unknown"), "", http.StatusNotFound, `channel "unknown" not found`)
	adminWantError(t, "GET", s.adminPath("/channels/a-b"), "", http.StatusBadRequest, "letters, digits and _")
	adminWantError(t, "GET", s.adminPath("/channels/"), "", http.StatusBadRequest, "letters, digits and _")
}

func TestAdminPublish(t *testing.T) {
	s := startServer(t, "")
	p := openPoll(t, "abc")
	var rep adminPublishReply
	adminJSON(t, "POST", s.adminPath("/publish"), `{"ids":["abc","other"],"data":{"text":"hi"}}`, http.StatusOK, &rep)
	if _, ok := ParseCursor(rep.Cursor); !ok {
		t.Fatalf("publish reply cursor %q", rep.Cursor)
	}
	if got, want := p.rest(), batch(entryJSON(`"abc": "`+rep.Cursor+`"`, `{"text":"hi"}`)); got != want {
		t.Errorf("poll got\n%s\nwant\n%s", got, want)
	}
	if info, ok := s.hub().ChannelInfo("other"); !ok || info.HighestCursor != rep.Cursor {
		t.Errorf("other: %+v %v, want cursor %s", info, ok, rep.Cursor)
	}

	// Own cursors only: nothing generated. Limiters restrict delivery.
	adminJSON(t, "POST", s.adminPath("/publish"), `{"ids":["lim"],"cursors":{"lim":"7"},"limiters":["room"],"data":"x"}`, http.StatusOK, &rep)
	if rep.Cursor != "" {
		t.Errorf("cursor %q, want empty", rep.Cursor)
	}
	if stats := s.command("", "stats"); !strings.Contains(stats, "lim => [7: 3b, limited by (room)]") {
		t.Errorf("stats:\n%s", stats)
	}
	// data may be any JSON value, null included.
	adminJSON(t, "POST", s.adminPath("/publish"), `{"ids":["n"],"data":null}`, http.StatusOK, &rep)

	for _, c := range []struct{ body, want string }{
		{`not json`, "not a valid publish request"},
		{``, "not a valid publish request"},
		{`{"data":1}`, "ids: at least one id"},
		{`{"ids":[],"data":1}`, "ids: at least one id"},
		{`{"ids":["a-b"],"data":1}`, `ids: "a-b" is not an id`},
		{`{"ids":[""],"data":1}`, `ids: "" is not an id`},
		{`{"ids":["a"]}`, "data: required"},
		{`{"ids":["a"],"cursors":{"b":"1"},"data":1}`, `cursors: "b" is not one of the ids`},
		{`{"ids":["a"],"cursors":{"a":"x1"},"data":1}`, `"x1" is not a cursor`},
		{`{"ids":["a"],"cursors":{"a":"-1"},"data":1}`, `"-1" is not a cursor`},
		{`{"ids":["a"],"limiters":["*x"],"data":1}`, `limiters: "*x" is not an id`},
		{`{"ids":["a"],"data":1,"idz":2}`, "unknown field"},
		{`{"ids":["a"],"data":1} {}`, "unexpected data after"},
		{`{"ids":"a","data":1}`, "not a valid publish request"},
	} {
		adminWantError(t, "POST", s.adminPath("/publish"), c.body, http.StatusBadRequest, c.want)
	}
	if _, ok := s.hub().ChannelInfo("a"); ok {
		t.Error("a refused publish stored something")
	}
	adminWantError(t, "GET", s.adminPath("/publish"), "", http.StatusMethodNotAllowed, "use POST")
	adminWantError(t, "POST", s.adminPath("/online"), "{}", http.StatusMethodNotAllowed, "use GET")
}

func TestAdminHealthAndNotFound(t *testing.T) {
	s := startServer(t, "")
	for _, route := range []string{"/live", "/ready"} {
		var st adminStatus
		adminJSON(t, "GET", s.adminPath(route), "", http.StatusOK, &st)
		if st.Status != "ok" {
			t.Errorf("%s: %+v", route, st)
		}
	}
	for _, route := range []string{"/live", "/ready", "/online", "/watch", "/channels/abc", ""} {
		adminWantError(t, "GET", "/realplexor/no_such_hub"+route, "", http.StatusNotFound, `hub "no_such_hub" not found`)
	}
	adminWantError(t, "POST", "/realplexor/no_such_hub/publish", `{"ids":["a"],"data":1}`, http.StatusNotFound, "not found")
	adminWantError(t, "GET", s.adminPath("/nope"), "", http.StatusNotFound, "no such endpoint")
}

// adminRedis runs a throw-away redis-server on a port of the test range.
type adminRedis struct {
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
}

func startAdminRedis(t *testing.T) *adminRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is not on PATH (scripts/test.sh installs it): %v", err)
	}
	r := &adminRedis{port: portBase + 60, exited: make(chan struct{})}
	dir := t.TempDir()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	go func() { _ = r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(r.kill)
	eventually(t, "redis-server to answer PING", func() bool {
		select {
		case <-r.exited:
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			t.Fatalf("redis-server exited: %s", log)
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), 200*time.Millisecond)
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
		_, _ = io.WriteString(c, "PING\r\n")
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.HasPrefix(line, "+PONG")
	})
	return r
}

func (r *adminRedis) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// kill stops the server (only the process this test started).
func (r *adminRedis) kill() {
	select {
	case <-r.exited:
		return
	default:
	}
	_ = r.cmd.Process.Kill()
	<-r.exited
}

func TestAdminRedisHub(t *testing.T) {
	r := startAdminRedis(t)
	s := startServer(t, "redis "+r.url())

	var entry adminHub
	adminJSON(t, "GET", s.adminPath(""), "", http.StatusOK, &entry)
	if !entry.Shared || entry.Redis != r.url() || entry.References < 1 {
		t.Errorf("hub entry %+v: want shared through %s", entry, r.url())
	}
	var st adminStatus
	adminJSON(t, "GET", s.adminPath("/ready"), "", http.StatusOK, &st)

	// A publish through the admin API goes through Redis to a parked poll.
	p := openPoll(t, "abc")
	var rep adminPublishReply
	adminJSON(t, "POST", s.adminPath("/publish"), `{"ids":["abc"],"data":[1,2]}`, http.StatusOK, &rep)
	if got, want := p.rest(), batch(entryJSON(`"abc": "`+rep.Cursor+`"`, `[1,2]`)); got != want {
		t.Errorf("poll got\n%s\nwant\n%s", got, want)
	}
	// The channel as Redis stores it.
	var info ChannelInfo
	adminJSON(t, "GET", s.adminPath("/channels/abc"), "", http.StatusOK, &info)
	if info.Messages != 1 || info.Bytes != 5 || info.LowestCursor != rep.Cursor || info.HighestCursor != rep.Cursor {
		t.Errorf("channel abc: %+v", info)
	}
	adminWantError(t, "GET", s.adminPath("/channels/nothing"), "", http.StatusNotFound, "not found")

	// Redis gone: not ready, publishes refused, still live.
	r.kill()
	adminWantError(t, "GET", s.adminPath("/ready"), "", http.StatusServiceUnavailable, "redis:")
	adminWantError(t, "POST", s.adminPath("/publish"), `{"ids":["abc"],"data":1}`, http.StatusServiceUnavailable, "shared store unavailable")
	adminJSON(t, "GET", s.adminPath("/live"), "", http.StatusOK, &st)
}
