package caddyrealplexor

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Hub unit tests: no Caddy, an injected clock and manual sweeps, so the
// timers of R-WAIT-16, R-ONL-3 and R-Q-4 are deterministic.

// rpxNewHub returns a hub on clk with manual sweeping and the default
// settings changed by tweak.
func rpxNewHub(t testing.TB, clk *rpxClock, tweak func(*settings)) *Hub {
	t.Helper()
	h, err := NewHub(t.Name(), HubOptions{Now: clk.Now, ManualSweep: true})
	if err != nil {
		t.Fatal(err)
	}
	s := defaultSettings()
	if tweak != nil {
		tweak(s)
	}
	h.configure(s)
	t.Cleanup(func() { _ = h.Destruct() })
	return h
}

// rpxEls parses an R-ID-5 list and insists every element is valid.
func rpxEls(t testing.TB, list string) []Element {
	t.Helper()
	elems := parseElements(list)
	if want := strings.Count(list, ",") + 1; len(elems) != want {
		t.Fatalf("test list %q has invalid elements", list)
	}
	return elems
}

// rpxPublish publishes data to an IN-style list: starred elements are
// limiters (R-ID-7), the others targets.
func rpxPublish(t testing.TB, h *Hub, list, data string) PublishResult {
	t.Helper()
	var targets []Element
	var limiters []string
	for _, e := range rpxEls(t, list) {
		if e.Limiter {
			limiters = append(limiters, e.ID)
		} else {
			targets = append(targets, e)
		}
	}
	return h.Publish(targets, limiters, []byte(data))
}

func rpxRegister(t testing.TB, h *Hub, list string) *waiter {
	t.Helper()
	return h.Register(rpxEls(t, list), 0)
}

// rpxCounters is P/D/C/O/T of Appendix B.
func rpxCounters(h *Hub) string {
	c := h.Counters()
	return fmt.Sprintf("%d/%d/%d/%d/%d", c.Parked, c.WithData, c.WithListeners, c.Online, c.CleanupTimers)
}

func rpxWantCounters(t testing.TB, h *Hub, want string) {
	t.Helper()
	if got := rpxCounters(h); got != want {
		t.Fatalf("P/D/C/O/T = %s, want %s", got, want)
	}
}

// rpxDelivered asserts w was answered with data and returns the batch.
func rpxDelivered(t testing.TB, w *waiter) string {
	t.Helper()
	select {
	case <-w.Wake():
	default:
		t.Fatal("waiter still parked, want a delivery")
	}
	if o := w.Outcome(); o != WaitDelivered {
		t.Fatalf("outcome %v, want data", o)
	}
	return string(w.Batch())
}

// rpxParked asserts w has no outcome yet.
func rpxParked(t testing.TB, w *waiter) {
	t.Helper()
	select {
	case <-w.Wake():
		t.Fatalf("waiter answered (%v) with %q, want it parked", w.Outcome(), w.Batch())
	default:
	}
	if o := w.Outcome(); o != waitParked {
		t.Fatalf("outcome %v without a wake", o)
	}
}

// rpxEntry and rpxBatch render the R-WAIT-13 body.
func rpxEntry(ids, data string) string {
	sep := " "
	if strings.Contains(data, "\n") {
		sep = "\n"
	}
	return "  {\n    \"ids\": { " + ids + " },\n    \"data\":" + sep + data + "\n  }"
}

func rpxBatch(entries ...string) string { return "[\n" + strings.Join(entries, ",\n") + "\n]" }

// rpxEvents renders Watch like the WATCH body (R-CMD-8).
func rpxEvents(h *Hub, after string, prefixes ...string) string {
	var b strings.Builder
	for _, e := range h.Watch(MustCursor(after), func(id string) bool {
		if len(prefixes) == 0 {
			return true
		}
		for _, p := range prefixes {
			if strings.HasPrefix(id, p) {
				return true
			}
		}
		return false
	}) {
		kind := "offline"
		if e.Online {
			kind = "online"
		}
		fmt.Fprintf(&b, "%s %d:%s\n", kind, e.Position, e.ID)
	}
	return b.String()
}

func rpxAll(string) bool { return true }

func rpxOnline(h *Hub) string {
	var b strings.Builder
	for _, o := range h.Online(rpxAll) {
		fmt.Fprintf(&b, "%s %d\n", o.ID, o.Listeners)
	}
	return b.String()
}

// rpxSweepAt moves the clock to base+d and sweeps.
func rpxSweepAt(h *Hub, clk *rpxClock, d time.Duration) {
	clk.Set(rpxBase.Add(d))
	h.Sweep()
}

const rpxEmptyStats = "[data_to_send]\n\n[connected_fhs]\n\n[online_timers]\n\n[cleanup_timers]\n\n[pairs_by_fhs]\n"

// 010 (R-IN-10): a message published with nobody listening is buffered
// for listeners whose cursor is lower; a cursor-less listener does not get
// it (R-CUR-6).
func TestHubBufferWithoutListeners(t *testing.T) {
	clk := newRpxClock()
	h := rpxNewHub(t, clk, nil)
	res := rpxPublish(t, h, "abc", `"aaa"`)
	if res.Delivered != 0 || !rpxGeneratedRE.MatchString(res.Cursor.String()) {
		t.Fatalf("publish result %+v", res)
	}
	rpxWantCounters(t, h, "0/1/0/0/1")
	if got, want := h.Stats(), "[data_to_send]\nabc => ["+res.Cursor.String()+": 5b]\n\n[connected_fhs]\n\n[online_timers]\n\n[cleanup_timers]\nabc => assigned\n\n[pairs_by_fhs]\n"; got != want {
		t.Fatalf("Stats:\n%q\nwant\n%q", got, want)
	}
	if len(h.Stats()) != 138 { // R-CMD-9: one id, one 3-byte message
		t.Fatalf("Stats is %d bytes, want 138", len(h.Stats()))
	}

	fresh := rpxRegister(t, h, "abc")
	rpxParked(t, fresh)
	h.Release(fresh, WaitCancelled)

	w := rpxRegister(t, h, "0:abc")
	if got, want := rpxDelivered(t, w), rpxBatch(rpxEntry(`"abc": "`+res.Cursor.String()+`"`, `"aaa"`)); got != want {
		t.Fatalf("batch %q, want %q", got, want)
	}
	h.Release(w, WaitCancelled)
	rpxWantCounters(t, h, "0/1/0/1/1")
}

// 025 and 027 (R-ID-8, R-IN-9, R-ID-7): cursor-less targets share one
// generated cursor; limiters are stored with the message, not as targets.
func TestHubPublishSharedCursorAndLimiters(t *testing.T) {
	t.Run("025", func(t *testing.T) {
		h := rpxNewHub(t, newRpxClock(), nil)
		res := rpxPublish(t, h, "12345.678:abc,def,hgi", `"aaa"`)
		c := res.Cursor.String()
		if !rpxGeneratedRE.MatchString(c) {
			t.Fatalf("generated cursor %q", c)
		}
		want := "[data_to_send]\nabc => [12345.678: 5b]\ndef => [" + c + ": 5b]\nhgi => [" + c + ": 5b]\n\n[connected_fhs]\n\n[online_timers]\n\n[cleanup_timers]\nabc => assigned\ndef => assigned\nhgi => assigned\n\n[pairs_by_fhs]\n"
		if got := h.Stats(); got != want {
			t.Fatalf("Stats:\n%q\nwant\n%q", got, want)
		}
		rpxWantCounters(t, h, "0/3/0/0/3")
	})
	t.Run("027", func(t *testing.T) {
		h := rpxNewHub(t, newRpxClock(), nil)
		elems := parseElements("12345.678:abc,def,hgi,*aa,1234:*bb")
		var targets []Element
		var limiters []string
		for _, e := range elems {
			if e.Limiter {
				limiters = append(limiters, e.ID)
			} else {
				targets = append(targets, e)
			}
		}
		res := h.Publish(targets, limiters, []byte(`"aaa"`))
		c := res.Cursor.String()
		want := "[data_to_send]\nabc => [12345.678: 5b, limited by (aa)]\ndef => [" + c + ": 5b, limited by (aa)]\nhgi => [" + c + ": 5b, limited by (aa)]\n\n[connected_fhs]\n\n[online_timers]\n\n[cleanup_timers]\nabc => assigned\ndef => assigned\nhgi => assigned\n\n[pairs_by_fhs]\n"
		if got := h.Stats(); got != want {
			t.Fatalf("Stats:\n%q\nwant\n%q", got, want)
		}
		rpxWantCounters(t, h, "0/3/0/0/3")
	})
	t.Run("all cursors given", func(t *testing.T) {
		h := rpxNewHub(t, newRpxClock(), nil)
		if res := rpxPublish(t, h, "1:abc,2:def", `"x"`); !res.Cursor.IsZero() {
			t.Fatalf("a cursor was generated though every target had one: %s", res.Cursor)
		}
	})
	t.Run("limiters sorted and distinct in STATS", func(t *testing.T) {
		h := rpxNewHub(t, newRpxClock(), nil)
		rpxPublish(t, h, "5:abc,*zz,*bb,*zz", `"x"`)
		if got := h.Stats(); !strings.Contains(got, "abc => [5: 3b, limited by (bb, zz)]\n") {
			t.Fatalf("Stats %q", got)
		}
	})
}

// 040 (R-CUR-2, R-WAIT-16): only strictly greater cursors are delivered;
// numerically equal texts are equal; the poll ends by WAIT_TIMEOUT.
func TestHubStrictlyGreater(t *testing.T) {
	clk := newRpxClock()
	h := rpxNewHub(t, clk, func(s *settings) { s.waitTimeout = 2 * time.Second })
	rpxPublish(t, h, "5:abc", `"five"`)
	w := rpxRegister(t, h, "10:abc")
	rpxParked(t, w)
	for _, list := range []string{"6:abc", "10:abc", "10.0:abc", "010:abc", "9.99999999999999999999:abc"} {
		data := `"` + list + `"`
		if res := rpxPublish(t, h, list, data); res.Delivered != 0 {
			t.Fatalf("publish %s delivered to a listener at 10", list)
		}
		rpxParked(t, w)
	}
	rpxSweepAt(h, clk, 2*time.Second-time.Millisecond)
	rpxParked(t, w)
	rpxSweepAt(h, clk, 2*time.Second)
	select {
	case <-w.Wake():
	default:
		t.Fatal("not timed out after WAIT_TIMEOUT")
	}
	if w.Outcome() != WaitTimedOut || w.Batch() != nil {
		t.Fatalf("outcome %v batch %q, want timeout without data", w.Outcome(), w.Batch())
	}
	h.Release(w, WaitCancelled)
	if w.Outcome() != WaitTimedOut {
		t.Fatalf("Release changed the outcome to %v", w.Outcome())
	}
	rpxWantCounters(t, h, "0/1/0/1/1")

	// Cursors are echoed as written (R-CUR-5); equal cursors are ordered
	// by data bytes (R-WAIT-12).
	w2 := rpxRegister(t, h, "9.999:abc")
	want := rpxBatch(
		rpxEntry(`"abc": "9.99999999999999999999"`, `"9.99999999999999999999:abc"`),
		rpxEntry(`"abc": "010"`, `"010:abc"`),
		rpxEntry(`"abc": "10.0"`, `"10.0:abc"`), // '.' sorts before ':'
		rpxEntry(`"abc": "10"`, `"10:abc"`),
	)
	if got := rpxDelivered(t, w2); got != want {
		t.Fatalf("batch\n%s\nwant\n%s", got, want)
	}
	h.Release(w2, WaitCancelled)
}

// 045 (R-WAIT-14): one response per poll; the poll is unregistered at
// send time, before its request ends.
func TestHubOneResponsePerPoll(t *testing.T) {
	h := rpxNewHub(t, newRpxClock(), nil)
	w := rpxRegister(t, h, "10:abc")
	rpxWantCounters(t, h, "1/0/1/1/0")
	if res := rpxPublish(t, h, "15:abc", `"aaa"`); res.Delivered != 1 {
		t.Fatalf("Delivered = %d, want 1", res.Delivered)
	}
	rpxWantCounters(t, h, "0/1/0/1/1")
	if res := rpxPublish(t, h, "20:abc", `"bbb"`); res.Delivered != 0 {
		t.Fatalf("second publish Delivered = %d, want 0", res.Delivered)
	}
	if got, want := rpxDelivered(t, w), rpxBatch(rpxEntry(`"abc": "15"`, `"aaa"`)); got != want {
		t.Fatalf("batch %q, want %q", got, want)
	}
	h.Release(w, WaitCancelled)

	w2 := rpxRegister(t, h, "15:abc")
	if got, want := rpxDelivered(t, w2), rpxBatch(rpxEntry(`"abc": "20"`, `"bbb"`)); got != want {
		t.Fatalf("second poll %q, want %q", got, want)
	}
	h.Release(w2, WaitCancelled)
	rpxWantCounters(t, h, "0/1/0/1/1")
}

// 047 (R-Q-1, R-WAIT-12): publish 20, 11, 18, 15; delivered ascending.
func TestHubSortedByCursor(t *testing.T) {
	h := rpxNewHub(t, newRpxClock(), nil)
	for _, p := range [][2]string{{"20:abc", `"ccc"`}, {"11:abc", `"aaa"`}, {"18:abc", `"ddd"`}, {"15:abc", `"bbb"`}} {
		rpxPublish(t, h, p[0], p[1])
	}
	w := rpxRegister(t, h, "10:abc")
	want := rpxBatch(
		rpxEntry(`"abc": "11"`, `"aaa"`),
		rpxEntry(`"abc": "15"`, `"bbb"`),
		rpxEntry(`"abc": "18"`, `"ddd"`),
		rpxEntry(`"abc": "20"`, `"ccc"`),
	)
	if got := rpxDelivered(t, w); got != want {
		t.Fatalf("batch\n%s\nwant\n%s", got, want)
	}
	h.Release(w, WaitCancelled)
	rpxWantCounters(t, h, "0/1/0/1/1")
}

// 049 (R-WAIT-11): a listener sees only its own ids, grouped in one
// entry, ids sorted by bytes whatever the request order.
func TestHubReadOwnIDsOnly(t *testing.T) {
	h := rpxNewHub(t, newRpxClock(), nil)
	rpxPublish(t, h, "20:abc,30:def,40:ghi", `"ccc"`)
	for _, list := range []string{"10:abc,20:def", "20:def,10:abc"} {
		w := rpxRegister(t, h, list)
		if got, want := rpxDelivered(t, w), rpxBatch(rpxEntry(`"abc": "20", "def": "30"`, `"ccc"`)); got != want {
			t.Fatalf("WAIT %s: %q, want %q", list, got, want)
		}
		h.Release(w, WaitCancelled)
	}
	rpxWantCounters(t, h, "0/3/0/2/3")

	// Byte order: upper case before "_" before lower case.
	rpxPublish(t, h, "5:b,5:a_,5:B", `"x"`)
	w := rpxRegister(t, h, "1:b,1:a_,1:B")
	if got, want := rpxDelivered(t, w), rpxBatch(rpxEntry(`"B": "5", "a_": "5", "b": "5"`, `"x"`)); got != want {
		t.Fatalf("%q, want %q", got, want)
	}
	h.Release(w, WaitCancelled)
}

// 050 (R-WAIT-12): equal cursors are ordered by data bytes, whatever the
// publish order; then the offline timeout leaves 0/2/0/0/2.
func TestHubTieBrokenByData(t *testing.T) {
	for _, order := range [][]string{{`"aaa"`, `"bbb"`}, {`"bbb"`, `"aaa"`}} {
		t.Run(order[0]+" first", func(t *testing.T) {
			clk := newRpxClock()
			h := rpxNewHub(t, clk, func(s *settings) { s.offlineTimeout = time.Second })
			for _, d := range order {
				rpxPublish(t, h, "2:abc,2:def", d)
			}
			w := rpxRegister(t, h, "1:abc,1:def")
			want := rpxBatch(rpxEntry(`"abc": "2", "def": "2"`, `"aaa"`), rpxEntry(`"abc": "2", "def": "2"`, `"bbb"`))
			if got := rpxDelivered(t, w); got != want {
				t.Fatalf("batch\n%s\nwant\n%s", got, want)
			}
			h.Release(w, WaitCancelled)
			rpxSweepAt(h, clk, time.Second)
			rpxWantCounters(t, h, "0/2/0/0/2")
		})
	}
}

// 060 (R-VIS-1): limiter visibility, the four WAITs of the test plus the
// Perl rule that a star is ignored on WAIT (R-ID-7).
func TestHubLimiterVisibility(t *testing.T) {
	h := rpxNewHub(t, newRpxClock(), nil)
	rpxPublish(t, h, "100:aa", `"data to limiter ID"`)
	rpxPublish(t, h, "20:abc", `"public data"`)
	rpxPublish(t, h, "20:abc,30:def,40:ghi,*aa,*bb", `"limited data"`)
	for _, tc := range []struct {
		wait string
		want string
	}{
		{"10:abc,20:def", rpxBatch(rpxEntry(`"abc": "20"`, `"public data"`))},
		{"10:abc,100:def,200:aa", rpxBatch(rpxEntry(`"abc": "20"`, `"limited data"`), rpxEntry(`"abc": "20"`, `"public data"`))},
		{"100:abc,10:def,bb", rpxBatch(rpxEntry(`"def": "30"`, `"limited data"`))},
		{"50:aa", rpxBatch(rpxEntry(`"aa": "100"`, `"data to limiter ID"`))},
		{"10:abc,*bb", rpxBatch(rpxEntry(`"abc": "20"`, `"limited data"`), rpxEntry(`"abc": "20"`, `"public data"`))},
	} {
		w := rpxRegister(t, h, tc.wait)
		if got := rpxDelivered(t, w); got != tc.want {
			t.Errorf("WAIT %s:\n%s\nwant\n%s", tc.wait, got, tc.want)
		}
		h.Release(w, WaitCancelled)
	}
	rpxWantCounters(t, h, "0/4/0/4/4")

	// A parked listener is woken only by messages it may see.
	w := rpxRegister(t, h, "40:ghi")
	if res := rpxPublish(t, h, "50:ghi,*aa", `"hidden"`); res.Delivered != 0 {
		t.Fatal("a limited message woke a listener without the limiter")
	}
	rpxParked(t, w)
	if res := rpxPublish(t, h, "60:ghi", `"open"`); res.Delivered != 1 {
		t.Fatal("a public message did not wake the listener")
	}
	if got, want := rpxDelivered(t, w), rpxBatch(rpxEntry(`"ghi": "60"`, `"open"`)); got != want {
		t.Fatalf("%q, want %q", got, want)
	}
	h.Release(w, WaitCancelled)
}

// 070 (R-WAIT-11, R-ID-8): a cursor-less listener on abc,def gets a
// publish to def alone, listed under def only.
func TestHubCursorlessMultiID(t *testing.T) {
	h := rpxNewHub(t, newRpxClock(), nil)
	w := rpxRegister(t, h, "abc,def")
	rpxParked(t, w)
	lc := w.ListenCursor()
	if !rpxGeneratedRE.MatchString(lc.String()) {
		t.Fatalf("listen cursor %q", lc)
	}
	res := rpxPublish(t, h, "def", `"aaa"`)
	if res.Delivered != 1 || !lc.Less(res.Cursor) {
		t.Fatalf("publish %+v after listen cursor %s", res, lc)
	}
	if got, want := rpxDelivered(t, w), rpxBatch(rpxEntry(`"def": "`+res.Cursor.String()+`"`, `"aaa"`)); got != want {
		t.Fatalf("%q, want %q", got, want)
	}
	h.Release(w, WaitCancelled)
	rpxWantCounters(t, h, "0/1/0/2/1")

	// One generated cursor for every cursor-less element (R-ID-8).
	w2 := rpxRegister(t, h, "5:abc,def,ghi")
	c := w2.ListenCursor().String()
	if got := h.Stats(); !strings.Contains(got, ") => 5:abc, "+c+":def, "+c+":ghi\n") {
		t.Fatalf("pairs_by_fhs does not show one shared cursor %s:\n%s", c, got)
	}
	h.Release(w2, WaitCancelled)

	// Every element with a cursor: none is generated.
	w3 := rpxRegister(t, h, "5:xyz")
	if !w3.ListenCursor().IsZero() {
		t.Fatalf("listen cursor %s generated for a list with cursors", w3.ListenCursor())
	}
	h.Release(w3, WaitCancelled)
}

// C.1 and C.2: immediate delivery, and multi-line data grouped under two
// ids, byte for byte.
func TestHubWorkedExchanges(t *testing.T) {
	h := rpxNewHub(t, newRpxClock(), nil)
	rpxPublish(t, h, "10:abc", `"hello"`)
	w := rpxRegister(t, h, "5:abc,def")
	if got, want := rpxDelivered(t, w), "[\n  {\n    \"ids\": { \"abc\": \"10\" },\n    \"data\": \"hello\"\n  }\n]"; got != want {
		t.Fatalf("C.1: %q, want %q", got, want)
	}
	h.Release(w, WaitCancelled)

	w2 := rpxRegister(t, h, "abc,def")
	res := rpxPublish(t, h, "abc,def", "{\n\"a\":1\n}")
	c := res.Cursor.String()
	want := "[\n  {\n    \"ids\": { \"abc\": \"" + c + "\", \"def\": \"" + c + "\" },\n    \"data\":\n{\n\"a\":1\n}\n  }\n]"
	if got := rpxDelivered(t, w2); got != want {
		t.Fatalf("C.2: %q, want %q", got, want)
	}
	h.Release(w2, WaitCancelled)
}

// R-ONL-1..3, test 240: online at registration; offline only
// OFFLINE_TIMEOUT after the last listener left; no offline while another
// listener remains; re-registration restarts the countdown silently.
func TestHubPresence(t *testing.T) {
	t.Run("online at once", func(t *testing.T) {
		h := rpxNewHub(t, newRpxClock(), nil)
		w := rpxRegister(t, h, "abc")
		if got := rpxOnline(h); got != "abc 1\n" {
			t.Fatalf("Online %q", got)
		}
		if got := rpxEvents(h, "1"); got != "online 10:abc\n" {
			t.Fatalf("events %q", got)
		}
		rpxWantCounters(t, h, "1/0/1/1/0")
		h.Release(w, WaitCancelled)
		if got := rpxOnline(h); got != "abc 0\n" {
			t.Fatalf("Online during the grace period %q", got)
		}
		rpxWantCounters(t, h, "0/0/0/1/0")
	})
	t.Run("240 no offline while another listener remains", func(t *testing.T) {
		clk := newRpxClock()
		h := rpxNewHub(t, clk, func(s *settings) { s.offlineTimeout = time.Second })
		w1 := rpxRegister(t, h, "1:abc")
		w2 := rpxRegister(t, h, "2:abc")
		if got := rpxOnline(h); got != "abc 2\n" {
			t.Fatalf("Online %q", got)
		}
		h.Release(w2, WaitCancelled)
		rpxSweepAt(h, clk, 3*time.Second)
		if got := rpxEvents(h, "1"); got != "online 10:abc\n" {
			t.Fatalf("events after 3 s with a listener left: %q", got)
		}
		if got := rpxOnline(h); got != "abc 1\n" {
			t.Fatalf("Online %q", got)
		}
		clk.Set(rpxBase.Add(3 * time.Second))
		h.Release(w1, WaitCancelled)
		rpxSweepAt(h, clk, 3200*time.Millisecond)
		if got := rpxEvents(h, "1"); got != "online 10:abc\n" {
			t.Fatalf("offline 0.2 s after the last listener: %q", got)
		}
		rpxSweepAt(h, clk, 4*time.Second-time.Millisecond)
		if got := rpxOnline(h); got != "abc 0\n" {
			t.Fatalf("offline before OFFLINE_TIMEOUT: Online %q", got)
		}
		rpxSweepAt(h, clk, 4*time.Second)
		if got := rpxEvents(h, "1"); got != "offline 11:abc\n" {
			t.Fatalf("events %q, want offline 11:abc", got)
		}
		if got := rpxOnline(h); got != "" {
			t.Fatalf("Online %q after going offline", got)
		}
		rpxWantCounters(t, h, "0/0/0/0/0")
	})
	t.Run("countdown restarts from full length", func(t *testing.T) {
		clk := newRpxClock()
		h := rpxNewHub(t, clk, func(s *settings) { s.offlineTimeout = time.Second })
		h.Release(rpxRegister(t, h, "abc"), WaitCancelled) // countdown to 1.0 s
		clk.Set(rpxBase.Add(500 * time.Millisecond))
		w := rpxRegister(t, h, "abc") // cancels it, no event
		clk.Set(rpxBase.Add(700 * time.Millisecond))
		h.Release(w, WaitCancelled) // restarts: 1.7 s
		for _, d := range []time.Duration{time.Second, 1200 * time.Millisecond, 1699 * time.Millisecond} {
			rpxSweepAt(h, clk, d)
			if got := rpxOnline(h); got != "abc 0\n" {
				t.Fatalf("at %v: Online %q, want abc still in its grace period", d, got)
			}
		}
		rpxSweepAt(h, clk, 1700*time.Millisecond)
		if got := rpxEvents(h, "1"); got != "offline 11:abc\n" {
			t.Fatalf("events %q", got)
		}
		if got := rpxEvents(h, "9"); got != "offline 11:abc\n" {
			t.Fatalf("newest per id only (R-CMD-8): %q", got)
		}
		if got := rpxEvents(h, "10"); got != "offline 11:abc\n" {
			t.Fatalf("events after 10: %q", got)
		}
		if n := h.Counters().Events; n != 2 {
			t.Fatalf("%d events, want online+offline only", n)
		}
	})
	t.Run("delivery ends the poll and starts the countdown", func(t *testing.T) {
		clk := newRpxClock()
		h := rpxNewHub(t, clk, func(s *settings) { s.offlineTimeout = time.Second })
		rpxPublish(t, h, "5:abc", `"x"`)
		w := rpxRegister(t, h, "1:abc") // immediate delivery (R-WAIT-9)
		rpxDelivered(t, w)
		clk.Set(rpxBase.Add(500 * time.Millisecond))
		h.Release(w, WaitCancelled) // the request ends later; it was unregistered at send time
		rpxSweepAt(h, clk, time.Second)
		if got := rpxEvents(h, "1"); got != "offline 11:abc\n" {
			t.Fatalf("events %q: the countdown should start at delivery", got)
		}
	})
	t.Run("215 online listing", func(t *testing.T) {
		h := rpxNewHub(t, newRpxClock(), nil)
		h.Release(rpxRegister(t, h, "abc"), WaitCancelled)
		w := rpxRegister(t, h, "def")
		if got := rpxOnline(h); got != "abc 0\ndef 1\n" {
			t.Fatalf("Online %q", got)
		}
		if got := h.Online(func(id string) bool { return strings.HasPrefix(id, "d") }); len(got) != 1 || got[0] != (OnlineID{"def", 1}) {
			t.Fatalf("Online(d) %v", got)
		}
		rpxWantCounters(t, h, "1/0/1/2/0")
		h.Release(w, WaitCancelled)
	})
	t.Run("published-only ids are never online", func(t *testing.T) {
		h := rpxNewHub(t, newRpxClock(), nil)
		rpxPublish(t, h, "abc", `"x"`)
		if got := rpxOnline(h); got != "" || h.NextEventPosition() != 10 {
			t.Fatalf("Online %q, next position %d", got, h.NextEventPosition())
		}
	})
}

// 220 (R-EVT-1, R-CMD-8): positions from 10, newest per id, oldest first.
func TestHubWatchEvents(t *testing.T) {
	clk := newRpxClock()
	h := rpxNewHub(t, clk, func(s *settings) { s.offlineTimeout = time.Second })
	if got := rpxEvents(h, "1"); got != "" {
		t.Fatalf("fresh hub events %q", got)
	}
	wa := rpxRegister(t, h, "abc")
	if got := rpxEvents(h, "1"); got != "online 10:abc\n" {
		t.Fatalf("%q", got)
	}
	wd := rpxRegister(t, h, "def")
	if got := rpxEvents(h, "1"); got != "online 10:abc\nonline 11:def\n" {
		t.Fatalf("%q", got)
	}
	h.Release(wa, WaitCancelled)
	h.Release(wd, WaitCancelled)
	rpxSweepAt(h, clk, time.Second)
	for after, want := range map[string]string{
		"1":   "offline 12:abc\noffline 13:def\n",
		"0.0": "offline 12:abc\noffline 13:def\n",
		"11":  "offline 12:abc\noffline 13:def\n",
		"12":  "offline 13:def\n",
		"13":  "",
		"99":  "",
	} {
		if got := rpxEvents(h, after); got != want {
			t.Errorf("Watch(%s) = %q, want %q", after, got, want)
		}
	}
	if got := rpxEvents(h, "1", "d"); got != "offline 13:def\n" {
		t.Errorf("Watch(1, d) = %q", got)
	}
	if got := rpxEvents(h, "1", "x", "ab"); got != "offline 12:abc\n" {
		t.Errorf("Watch(1, x ab) = %q", got)
	}
	rpxWantCounters(t, h, "0/0/0/0/0")
}

// 225 (R-CMD-7, R-QUIRK-2): the next position is 10 on a fresh hub and
// moves with every event; continuing from it skips that event.
func TestHubNextEventPosition(t *testing.T) {
	h := rpxNewHub(t, newRpxClock(), nil)
	if got := h.NextEventPosition(); got != 10 {
		t.Fatalf("fresh hub: next position %d, want 10", got)
	}
	w := rpxRegister(t, h, "abc")
	if got := h.NextEventPosition(); got != 11 {
		t.Fatalf("after one event: %d, want 11", got)
	}
	w2 := rpxRegister(t, h, "abc") // already online: no event
	if got := h.NextEventPosition(); got != 11 {
		t.Fatalf("a second listener made an event: next %d", got)
	}
	rpxRegister(t, h, "def")
	if got := rpxEvents(h, "11"); got != "" {
		t.Fatalf("Watch(11) = %q: R-QUIRK-2 kept, the event at the FAKE position is not listed", got)
	}
	h.Release(w, WaitCancelled)
	h.Release(w2, WaitCancelled)
	rpxWantCounters(t, h, "1/0/1/2/0")
}

// 230 (R-EVT-2): EVENT_CHAIN_LEN=3 and 20 events keep positions 18..29.
func TestHubEventChainRetention(t *testing.T) {
	h := rpxNewHub(t, newRpxClock(), func(s *settings) { s.eventChainLen = 3 })
	for i := range 20 {
		h.Release(rpxRegister(t, h, fmt.Sprintf("abc%02d", i)), WaitCancelled)
	}
	var want strings.Builder
	for i := 8; i < 20; i++ {
		fmt.Fprintf(&want, "online %d:abc%02d\n", 10+i, i)
	}
	got := rpxEvents(h, "1")
	if got != want.String() || len(got) != 192 {
		t.Fatalf("Watch(1) (%d bytes):\n%s\nwant (192 bytes):\n%s", len(got), got, want.String())
	}
	if n := h.Counters().Events; n != 12 {
		t.Fatalf("%d retained events, want 12", n)
	}
	rpxWantCounters(t, h, "0/0/0/20/0")
}

// R-EVT-2 at the log level: between 2(L+1)+1 and 3(L+1) events retained.
func TestEventLogChains(t *testing.T) {
	for _, tc := range []struct{ chainLen, events, retained, first int }{
		{3, 4, 4, 10},
		{3, 8, 8, 10},
		{3, 12, 12, 10},
		{3, 13, 9, 14},
		{3, 16, 12, 14},
		{3, 17, 9, 18},
		{3, 20, 12, 18},
		{0, 5, 3, 12},
	} {
		l := newEventLog()
		l.setChainLen(tc.chainLen)
		for i := range tc.events {
			l.add(i%2 == 0, fmt.Sprintf("id%02d", i))
		}
		evs := l.since(MustCursor("0"), rpxAll)
		if l.len() != tc.retained || len(evs) != tc.retained || evs[0].Position != int64(tc.first) || evs[len(evs)-1].Position != int64(9+tc.events) {
			t.Errorf("L=%d, %d events: len %d, listed %d from %d; want %d from %d", tc.chainLen, tc.events, l.len(), len(evs), evs[0].Position, tc.retained, tc.first)
		}
		if l.nextPosition() != int64(10+tc.events) {
			t.Errorf("next position %d", l.nextPosition())
		}
	}
}

// 320 and 325 (R-Q-2, R-Q-3, R-CMD-9): MAX_DATA_FOR_ID=2 keeps the
// highest cursors; equal cursors do not replace each other and the newest
// is listed first.
func TestHubRotation(t *testing.T) {
	for _, tc := range []struct {
		name, list string
		size       int
	}{{"320 generated cursors", "abc,def", 259}, {"325 equal cursors", "1:abc,1:def", 163}} {
		t.Run(tc.name, func(t *testing.T) {
			h := rpxNewHub(t, newRpxClock(), func(s *settings) { s.maxDataForID = 2 })
			cur := func(r PublishResult) string {
				if r.Cursor.IsZero() {
					return "1"
				}
				return r.Cursor.String()
			}
			stats := func(a, b string, la, lb int) string {
				line := fmt.Sprintf("[%s: %db], [%s: %db]", a, la, b, lb)
				return "[data_to_send]\nabc => " + line + "\ndef => " + line + "\n\n[connected_fhs]\n\n[online_timers]\n\n[cleanup_timers]\nabc => assigned\ndef => assigned\n\n[pairs_by_fhs]\n"
			}
			c1 := cur(rpxPublish(t, h, tc.list, `"a"`))
			c2 := cur(rpxPublish(t, h, tc.list, `"bb"`))
			got := h.Stats()
			if want := stats(c2, c1, 4, 3); got != want || len(got) != tc.size {
				t.Fatalf("after a, bb (%d bytes):\n%s\nwant (%d bytes):\n%s", len(got), got, tc.size, want)
			}
			c3 := cur(rpxPublish(t, h, tc.list, `"ccc"`))
			got = h.Stats()
			if want := stats(c3, c2, 5, 4); got != want || len(got) != tc.size {
				t.Fatalf("after ccc (%d bytes):\n%s\nwant (%d bytes):\n%s", len(got), got, tc.size, want)
			}
			rpxWantCounters(t, h, "0/2/0/0/2")
			if c := h.Counters(); c.Messages != 4 || c.Bytes != 18 {
				t.Fatalf("counters %+v, want 4 messages of 18 bytes", c)
			}
		})
	}
	t.Run("lowest cursor dropped, whatever the arrival order", func(t *testing.T) {
		h := rpxNewHub(t, newRpxClock(), func(s *settings) { s.maxDataForID = 2 })
		rpxPublish(t, h, "5:abc", `"e"`)
		rpxPublish(t, h, "3:abc", `"c"`)
		rpxPublish(t, h, "4:abc", `"d"`)
		if got := h.Stats(); !strings.HasPrefix(got, "[data_to_send]\nabc => [5: 3b], [4: 3b]\n\n") {
			t.Fatalf("Stats %q", got)
		}
		rpxPublish(t, h, "1:abc", `"a"`) // below both: trimmed at once
		if got := h.Stats(); !strings.HasPrefix(got, "[data_to_send]\nabc => [5: 3b], [4: 3b]\n\n") {
			t.Fatalf("Stats %q", got)
		}
	})
	t.Run("registration trims first", func(t *testing.T) {
		h := rpxNewHub(t, newRpxClock(), nil)
		for i := 1; i <= 4; i++ {
			rpxPublish(t, h, fmt.Sprintf("%d:abc", i), fmt.Sprintf(`"m%d"`, i))
		}
		s := defaultSettings()
		s.maxDataForID = 2
		h.configure(s)
		w := rpxRegister(t, h, "0:abc") // R-WAIT-10 step 1, R-Q-3
		want := rpxBatch(rpxEntry(`"abc": "3"`, `"m3"`), rpxEntry(`"abc": "4"`, `"m4"`))
		if got := rpxDelivered(t, w); got != want {
			t.Fatalf("%q, want %q", got, want)
		}
		h.Release(w, WaitCancelled)
		if c := h.Counters(); c.Messages != 2 {
			t.Fatalf("%d messages queued after the trimming registration, want 2", c.Messages)
		}
	})
}

// 330 (R-Q-4): CLEAN_ID_AFTER drops the whole queue after the deadline,
// not before; a publish restarts the countdown, a listener does not.
func TestHubCleanIDAfter(t *testing.T) {
	t.Run("330", func(t *testing.T) {
		clk := newRpxClock()
		h := rpxNewHub(t, clk, func(s *settings) { s.cleanIDAfter = time.Second })
		res := rpxPublish(t, h, "abc", `"a"`)
		want := "[data_to_send]\nabc => [" + res.Cursor.String() + ": 3b]\n\n[connected_fhs]\n\n[online_timers]\n\n[cleanup_timers]\nabc => assigned\n\n[pairs_by_fhs]\n"
		if got := h.Stats(); got != want || len(got) != 138 {
			t.Fatalf("Stats (%d bytes) %q", len(got), got)
		}
		rpxSweepAt(h, clk, 999*time.Millisecond)
		if got := h.Stats(); got != want {
			t.Fatalf("cleaned before CLEAN_ID_AFTER: %q", got)
		}
		rpxSweepAt(h, clk, time.Second)
		if got := h.Stats(); got != rpxEmptyStats || len(got) != 83 {
			t.Fatalf("after CLEAN_ID_AFTER (%d bytes): %q", len(got), got)
		}
		rpxWantCounters(t, h, "0/0/0/0/0")
	})
	t.Run("publish restarts the countdown", func(t *testing.T) {
		clk := newRpxClock()
		h := rpxNewHub(t, clk, func(s *settings) { s.cleanIDAfter = time.Second })
		rpxPublish(t, h, "1:abc,1:def", `"a"`)
		clk.Set(rpxBase.Add(600 * time.Millisecond))
		rpxPublish(t, h, "2:abc", `"b"`)
		rpxSweepAt(h, clk, time.Second) // def is due, abc is not
		if c := h.Counters(); c.WithData != 1 || c.Messages != 2 {
			t.Fatalf("at 1.0 s: %+v, want abc's two messages only", c)
		}
		rpxSweepAt(h, clk, 1599*time.Millisecond)
		if c := h.Counters(); c.Messages != 2 {
			t.Fatalf("at 1.599 s: %+v", c)
		}
		rpxSweepAt(h, clk, 1600*time.Millisecond)
		rpxWantCounters(t, h, "0/0/0/0/0")
	})
	t.Run("listener activity does not restart it", func(t *testing.T) {
		clk := newRpxClock()
		h := rpxNewHub(t, clk, func(s *settings) { s.cleanIDAfter = time.Second })
		rpxPublish(t, h, "5:abc", `"a"`)
		clk.Set(rpxBase.Add(500 * time.Millisecond))
		w := rpxRegister(t, h, "1:abc")
		rpxDelivered(t, w)
		h.Release(w, WaitCancelled)
		w2 := rpxRegister(t, h, "5:abc")
		rpxParked(t, w2)
		rpxSweepAt(h, clk, time.Second)
		rpxWantCounters(t, h, "1/0/1/1/0")
		h.Release(w2, WaitCancelled)
	})
}

// R-WAIT-16: the poll ends by WAIT_TIMEOUT (or the per-request timeout)
// with WaitTimedOut, not before.
func TestHubWaitTimeout(t *testing.T) {
	clk := newRpxClock()
	h := rpxNewHub(t, clk, func(s *settings) { s.waitTimeout = 2 * time.Second })
	short := h.Register(rpxEls(t, "xyz"), 500*time.Millisecond)
	w := rpxRegister(t, h, "10:abc")
	rpxSweepAt(h, clk, 499*time.Millisecond)
	rpxParked(t, short)
	rpxSweepAt(h, clk, 500*time.Millisecond)
	if short.Outcome() != WaitTimedOut {
		t.Fatalf("per-request timeout: outcome %v", short.Outcome())
	}
	rpxSweepAt(h, clk, 1999*time.Millisecond)
	rpxParked(t, w)
	rpxSweepAt(h, clk, 2*time.Second)
	select {
	case <-w.Wake():
	default:
		t.Fatal("not woken at WAIT_TIMEOUT")
	}
	if w.Outcome() != WaitTimedOut || w.Batch() != nil {
		t.Fatalf("outcome %v batch %q", w.Outcome(), w.Batch())
	}
	if c := h.Counters(); c.Parked != 0 {
		t.Fatalf("Parked = %d after the timeouts", c.Parked)
	}
	h.Release(short, WaitCancelled)
	h.Release(w, WaitCancelled)
	if w.Outcome() != WaitTimedOut {
		t.Fatalf("Release replaced the outcome: %v", w.Outcome())
	}
	rpxWantCounters(t, h, "0/0/0/2/0")
	// A publish after the timeout finds nobody.
	if res := rpxPublish(t, h, "20:abc", `"late"`); res.Delivered != 0 {
		t.Fatal("a timed-out poll received data")
	}
}

// R-WAIT-16: a poll with a shorter timeout than one registered before it
// still ends on time.
func TestHubWaitTimeoutShorterAfterLonger(t *testing.T) {
	clk := newRpxClock()
	h := rpxNewHub(t, clk, nil) // WAIT_TIMEOUT 300 s
	long := rpxRegister(t, h, "abc")
	short := h.Register(rpxEls(t, "def"), time.Second)
	rpxSweepAt(h, clk, time.Second)
	if got := short.Outcome(); got != WaitTimedOut {
		t.Errorf("1 s poll registered after a 300 s poll: outcome at 1 s is %v, want timeout", got)
	}
	rpxSweepAt(h, clk, 10*time.Second)
	if got := short.Outcome(); got != WaitTimedOut {
		t.Errorf("1 s poll: outcome at 10 s is %v, want timeout", got)
	}
	rpxParked(t, long)
}

// R-WAIT-17: a poll released while still parked ends as WaitCancelled and
// leaves nothing registered; later timers and publishes do not touch it.
func TestHubReleaseParked(t *testing.T) {
	clk := newRpxClock()
	h := rpxNewHub(t, clk, func(s *settings) { s.waitTimeout = time.Second })
	w := rpxRegister(t, h, "10:abc,20:def")
	rpxWantCounters(t, h, "1/0/2/2/0")
	h.Release(w, WaitCancelled)
	select {
	case <-w.Wake():
	default:
		t.Fatal("Wake not closed by Release")
	}
	if w.Outcome() != WaitCancelled {
		t.Fatalf("outcome %v", w.Outcome())
	}
	rpxWantCounters(t, h, "0/0/0/2/0")
	if got := h.Stats(); strings.Contains(got, "(0x") {
		t.Fatalf("released poll still in STATS:\n%s", got)
	}
	if res := rpxPublish(t, h, "30:abc", `"x"`); res.Delivered != 0 {
		t.Fatal("a released poll received data")
	}
	rpxSweepAt(h, clk, 5*time.Second)
	if w.Outcome() != WaitCancelled || w.Batch() != nil {
		t.Fatalf("outcome changed to %v", w.Outcome())
	}
	h.Release(w, WaitCancelled) // a second release is harmless
	rpxWantCounters(t, h, "0/1/0/2/1")
}

// ReleaseAll (server stop) answers every parked poll with WaitShutdown
// and leaves answered polls alone; so does Destruct.
func TestHubReleaseAll(t *testing.T) {
	h := rpxNewHub(t, newRpxClock(), nil)
	ws := []*waiter{rpxRegister(t, h, "abc"), rpxRegister(t, h, "abc,def"), rpxRegister(t, h, "ghi")}
	rpxPublish(t, h, "5:xyz", `"x"`)
	done := rpxRegister(t, h, "1:xyz")
	rpxDelivered(t, done)
	if n := h.ReleaseAll(); n != 3 {
		t.Fatalf("ReleaseAll = %d, want 3", n)
	}
	for i, w := range ws {
		select {
		case <-w.Wake():
		default:
			t.Fatalf("poll %d not woken", i)
		}
		if w.Outcome() != WaitShutdown {
			t.Fatalf("poll %d outcome %v", i, w.Outcome())
		}
	}
	if done.Outcome() != WaitDelivered {
		t.Fatalf("delivered poll became %v", done.Outcome())
	}
	if c := h.Counters(); c.Parked != 0 {
		t.Fatalf("Parked = %d", c.Parked)
	}
	for _, w := range append(ws, done) {
		h.Release(w, WaitCancelled)
	}
	rpxWantCounters(t, h, "0/1/0/4/1")
	if n := h.ReleaseAll(); n != 0 {
		t.Fatalf("second ReleaseAll = %d", n)
	}

	h2, err := NewHub("destruct", HubOptions{Now: newRpxClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	w := rpxRegister(t, h2, "abc")
	if err := h2.Destruct(); err != nil {
		t.Fatal(err)
	}
	if w.Outcome() != WaitShutdown {
		t.Fatalf("Destruct: outcome %v", w.Outcome())
	}
	_ = h2.Destruct() // idempotent
}

// R-ID-9 on WAIT: a later duplicate's cursor wins, the poll counts once.
func TestHubDuplicateWaitIDs(t *testing.T) {
	t.Run("later cursor wins", func(t *testing.T) {
		h := rpxNewHub(t, newRpxClock(), nil)
		w := rpxRegister(t, h, "10:abc,30:abc")
		if got := rpxOnline(h); got != "abc 1\n" {
			t.Fatalf("Online %q: the poll counts once", got)
		}
		rpxWantCounters(t, h, "1/0/1/1/0")
		if got := h.Stats(); !regexp.MustCompile(`\n\[pairs_by_fhs\]\n\(0x[0-9a-f]+\) => 10:abc, 30:abc\n$`).MatchString(got) {
			t.Fatalf("pairs_by_fhs should list the request as sent:\n%s", got)
		}
		if res := rpxPublish(t, h, "20:abc", `"20"`); res.Delivered != 0 {
			t.Fatal("cursor 20 delivered to 10:abc,30:abc")
		}
		rpxPublish(t, h, "40:abc", `"40"`)
		if got, want := rpxDelivered(t, w), rpxBatch(rpxEntry(`"abc": "40"`, `"40"`)); got != want {
			t.Fatalf("%q, want %q", got, want)
		}
		h.Release(w, WaitCancelled)
	})
	t.Run("earlier cursor last", func(t *testing.T) {
		h := rpxNewHub(t, newRpxClock(), nil)
		w := rpxRegister(t, h, "30:abc,10:abc")
		rpxPublish(t, h, "20:abc", `"20"`)
		if got, want := rpxDelivered(t, w), rpxBatch(rpxEntry(`"abc": "20"`, `"20"`)); got != want {
			t.Fatalf("%q, want %q", got, want)
		}
		h.Release(w, WaitCancelled)
	})
}

// R-ID-9 on IN: a duplicate target stores the message twice, and a poll
// receives it once.
func TestHubDuplicatePublishIDs(t *testing.T) {
	h := rpxNewHub(t, newRpxClock(), nil)
	parked := rpxRegister(t, h, "10:abc")
	if res := rpxPublish(t, h, "20:abc,30:abc", `"x"`); res.Delivered != 1 {
		t.Fatalf("Delivered = %d", res.Delivered)
	}
	if got, want := rpxDelivered(t, parked), rpxBatch(rpxEntry(`"abc": "30"`, `"x"`)); got != want {
		t.Fatalf("parked poll: %q, want %q", got, want)
	}
	h.Release(parked, WaitCancelled)
	if got := h.Stats(); !strings.HasPrefix(got, "[data_to_send]\nabc => [30: 3b], [20: 3b]\n\n") {
		t.Fatalf("Stats %q", got)
	}
	if c := h.Counters(); c.Messages != 2 || c.WithData != 1 {
		t.Fatalf("counters %+v", c)
	}
	for _, from := range []string{"10:abc", "25:abc"} {
		w := rpxRegister(t, h, from)
		if got, want := rpxDelivered(t, w), rpxBatch(rpxEntry(`"abc": "30"`, `"x"`)); got != want {
			t.Fatalf("%s: %q, want %q", from, got, want)
		}
		h.Release(w, WaitCancelled)
	}
	w := rpxRegister(t, h, "30:abc")
	rpxParked(t, w)
	h.Release(w, WaitCancelled)

	// Cursor-less duplicates share the generated cursor.
	res := rpxPublish(t, h, "def,def", `"y"`)
	c := res.Cursor.String()
	if got := h.Stats(); !strings.Contains(got, "def => ["+c+": 3b], ["+c+": 3b]\n") {
		t.Fatalf("Stats %q", got)
	}
	w = rpxRegister(t, h, "0:def")
	if got, want := rpxDelivered(t, w), rpxBatch(rpxEntry(`"def": "`+c+`"`, `"y"`)); got != want {
		t.Fatalf("%q, want %q", got, want)
	}
	h.Release(w, WaitCancelled)
}

// C.6: STATS on an empty hub is the 83-byte body.
func TestHubStatsEmpty(t *testing.T) {
	h := rpxNewHub(t, newRpxClock(), nil)
	got := h.Stats()
	if got != rpxEmptyStats || len(got) != 83 {
		t.Fatalf("Stats (%d bytes) %q", len(got), got)
	}
	rpxWantCounters(t, h, "0/0/0/0/0")
}

// 210 (R-CMD-9, R-ONL-1): STATS while a poll is parked, after it left and
// after the offline timeout. online_timers lists every online id (O of
// Appendix B counts them; 030 shows O=1 while the poll is parked).
func TestHubStatsWhileParked(t *testing.T) {
	clk := newRpxClock()
	h := rpxNewHub(t, clk, func(s *settings) { s.offlineTimeout = time.Second })
	w := rpxRegister(t, h, "abc")
	mask := func(s string) string {
		s = regexp.MustCompile(`\(0x[0-9a-f]+\)`).ReplaceAllString(s, "(0x*)")
		return strings.ReplaceAll(s, w.ListenCursor().String(), "*")
	}
	rpxWantCounters(t, h, "1/0/1/1/0")
	if got, want := mask(h.Stats()), "[data_to_send]\n\n[connected_fhs]\nabc => (0x*)\n\n[online_timers]\nabc => assigned\n\n[cleanup_timers]\n\n[pairs_by_fhs]\n(0x*) => *:abc\n"; got != want {
		t.Errorf("STATS with a parked poll:\n%q\nwant\n%q", got, want)
	}
	h.Release(w, WaitCancelled)
	if got, want := h.Stats(), "[data_to_send]\n\n[connected_fhs]\n\n[online_timers]\nabc => assigned\n\n[cleanup_timers]\n\n[pairs_by_fhs]\n"; got != want {
		t.Errorf("STATS after the poll left:\n%q\nwant\n%q", got, want)
	}
	rpxSweepAt(h, clk, time.Second)
	if got := h.Stats(); got != rpxEmptyStats {
		t.Errorf("STATS after the offline timeout: %q", got)
	}
	rpxWantCounters(t, h, "0/0/0/0/0")
}

// R-EVT-1, R-ONL-2: offline events get positions in the order the ids
// went offline, also when the sweep comes late (a stalled sweeper, or a
// clock that jumped).
func TestHubOfflineEventOrderAfterLongGap(t *testing.T) {
	const trials = 200
	bad := 0
	var sample string
	for range trials {
		clk := newRpxClock()
		h := rpxNewHub(t, clk, func(s *settings) { s.offlineTimeout = time.Second })
		wa := rpxRegister(t, h, "abc")
		wd := rpxRegister(t, h, "def")
		h.Release(wa, WaitCancelled) // offline due at 1.0 s
		clk.Set(rpxBase.Add(500 * time.Millisecond))
		h.Release(wd, WaitCancelled) // offline due at 1.5 s
		rpxSweepAt(h, clk, 10*time.Second)
		if got := rpxEvents(h, "11"); got != "offline 12:abc\noffline 13:def\n" {
			bad++
			sample = got
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d trials listed the offline events out of deadline order, e.g. %q; want %q",
			bad, trials, sample, "offline 12:abc\noffline 13:def\n")
	}
}

// R-GEN-6: registrations and publishes on shared channels, concurrently
// and on the real clock. A publish is never both missed by a listener's
// generated "now" and left out of its delivery.
//
// Why the assertions hold: a registration and a publish sharing a channel
// both take that channel's lock and generate their cursor under it, and
// the generator is strictly increasing, so a publish's cursor is above a
// listener's listen cursor exactly when the publish ran after the
// registration on that channel. Such a publish finds the listener parked
// (or already answered), so:
//   - a listener still parked when every publish is over has no publish
//     with a cursor above its listen cursor on any of its ids;
//   - an answered listener's batch lists, in cursor order, publishes above
//     its listen cursor that share an id with it, each under exactly those
//     ids at the publish's cursor, and it has no gap: every such publish
//     with a cursor below the batch's highest one is in it (a batch is a
//     snapshot of the listener's ids taken under their locks, and a cursor
//     is generated and stored under the same lock). In particular the
//     lowest such publish is always in it.
//   - a single-id listener gets exactly that lowest publish: publishes on
//     its id are ordered by the id's lock, and the first one after the
//     registration answers it.
//
// Listeners are released only after all publishes are done, so none is
// cancelled while data may still be coming. Rotation is disabled so no
// message leaves a queue during the test.
func TestHubConcurrentRegisterPublish(t *testing.T) {
	before := runtime.NumGoroutine()
	h, err := NewHub(t.Name(), HubOptions{}) // real clock, real sweeper
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultSettings()
	cfg.maxDataForID = 1 << 20
	h.configure(cfg)
	ids := []string{"c0", "c1", "c2", "c3"}
	const listeners, publishers, publishesEach = 16, 4, 150

	type published struct {
		cursor    Cursor
		ids       []string
		data      string
		delivered int
	}
	type polled struct {
		listen  Cursor
		ids     []string
		outcome WaitOutcome
		batch   string
	}
	subset := func(r *rand.Rand, max int) []string {
		n := 1 + r.IntN(max)
		p := r.Perm(len(ids))[:n]
		out := make([]string, n)
		for i, j := range p {
			out[i] = ids[j]
		}
		return out
	}

	done := make(chan struct{})
	var lwg, pwg sync.WaitGroup
	polls := make([][]polled, listeners)
	pubs := make([][]published, publishers)
	for i := range listeners {
		lwg.Add(1)
		go func() {
			defer lwg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 7))
			for {
				select {
				case <-done:
					return
				default:
				}
				sub := subset(r, 3)
				elems := make([]Element, len(sub))
				for j, id := range sub {
					elems[j] = Element{ID: id}
				}
				w := h.Register(elems, 0)
				p := polled{listen: w.ListenCursor(), ids: sub}
				select {
				case <-w.Wake():
					p.outcome, p.batch = w.Outcome(), string(w.Batch())
				case <-done:
					// Every publish has returned, and a publish wakes
					// before it returns: Wake is final now.
					select {
					case <-w.Wake():
						p.outcome, p.batch = w.Outcome(), string(w.Batch())
					default:
						p.outcome = WaitCancelled
					}
				}
				h.Release(w, WaitCancelled)
				if p.outcome == WaitCancelled && w.Outcome() != WaitCancelled {
					t.Errorf("poll answered (%v) after all publishes ended", w.Outcome())
				}
				polls[i] = append(polls[i], p)
			}
		}()
	}
	for i := range publishers {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 99))
			for j := range publishesEach {
				sub := subset(r, 2)
				targets := make([]Element, len(sub))
				for k, id := range sub {
					targets[k] = Element{ID: id}
				}
				data := fmt.Sprintf(`"p%d-%d"`, i, j)
				res := h.Publish(targets, nil, []byte(data))
				pubs[i] = append(pubs[i], published{cursor: res.Cursor, ids: sub, data: data, delivered: res.Delivered})
				if j%8 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	pwg.Wait()
	close(done)
	lwg.Wait()

	var all []*published
	byData := make(map[string]*published)
	for i := range pubs {
		for j := range pubs[i] {
			p := &pubs[i][j]
			all = append(all, p)
			byData[p.data] = p
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].cursor.Less(all[j].cursor) })
	for i := 1; i < len(all); i++ {
		if !all[i-1].cursor.Less(all[i].cursor) {
			t.Fatalf("two publishes share cursor %s", all[i].cursor)
		}
	}
	intersect := func(a, b []string) []string {
		var out []string
		for _, x := range a {
			if slices.Contains(b, x) {
				out = append(out, x)
			}
		}
		sort.Strings(out)
		return out
	}
	idsOf := func(p *published, listener []string) string {
		var parts []string
		for _, id := range intersect(listener, p.ids) {
			parts = append(parts, `"`+id+`": "`+p.cursor.String()+`"`)
		}
		return strings.Join(parts, ", ")
	}
	entryRE := regexp.MustCompile(`  \{\n    "ids": \{ ([^}\n]*) \},\n    "data": ("p\d+-\d+")\n  \}`)
	nPolls, nDelivered, nMultiEntry, sumDelivered := 0, 0, 0, 0
	for _, pub := range all {
		sumDelivered += pub.delivered
	}
	for i := range polls {
		for _, p := range polls[i] {
			nPolls++
			var qualifying []*published // above the listen cursor on a shared id, ascending
			for _, pub := range all {
				if p.listen.Less(pub.cursor) && len(intersect(p.ids, pub.ids)) > 0 {
					qualifying = append(qualifying, pub)
				}
			}
			switch p.outcome {
			case WaitCancelled:
				if len(qualifying) > 0 {
					first := qualifying[0]
					t.Errorf("listener %v from %s stayed parked although %s was published to %v at %s",
						p.ids, p.listen, first.data, first.ids, first.cursor)
				}
			case WaitDelivered:
				nDelivered++
				ms := entryRE.FindAllStringSubmatch(p.batch, -1)
				var got []*published
				var rebuilt []string
				for _, m := range ms {
					got = append(got, byData[m[2]])
					rebuilt = append(rebuilt, rpxEntry(m[1], m[2]))
				}
				if len(ms) == 0 || rpxBatch(rebuilt...) != p.batch || slices.Contains(got, nil) {
					t.Errorf("listener %v from %s: malformed batch %q", p.ids, p.listen, p.batch)
					continue
				}
				if len(got) > 1 {
					nMultiEntry++
				}
				// Expected: every qualifying publish up to the batch's highest cursor.
				var want []*published
				for _, q := range qualifying {
					if q.cursor.Compare(got[len(got)-1].cursor) <= 0 {
						want = append(want, q)
					}
				}
				if !slices.Equal(got, want) {
					var gotD, wantD []string
					for _, g := range got {
						gotD = append(gotD, g.data+"@"+g.cursor.String())
					}
					for _, w := range want {
						wantD = append(wantD, w.data+"@"+w.cursor.String())
					}
					t.Errorf("listener %v from %s got %v, want %v (every publish above its listen cursor on its ids, up to the highest one it got, in cursor order)",
						p.ids, p.listen, gotD, wantD)
					continue
				}
				for j, m := range ms {
					if wantIDs := idsOf(got[j], p.ids); m[1] != wantIDs {
						t.Errorf("listener %v got %s under { %s }, want { %s }", p.ids, got[j].data, m[1], wantIDs)
					}
				}
				if len(p.ids) == 1 && len(got) != 1 {
					t.Errorf("single-id listener %v from %s got %d entries, want the first publish only", p.ids, p.listen, len(got))
				}
			default:
				t.Errorf("listener %v: outcome %v", p.ids, p.outcome)
			}
		}
	}
	if sumDelivered != nDelivered {
		t.Errorf("publishes reported %d deliveries, %d polls were answered with data", sumDelivered, nDelivered)
	}
	t.Logf("%d polls, %d answered with data, %d of them with more than one entry", nPolls, nDelivered, nMultiEntry)
	if nDelivered == 0 {
		t.Fatal("no poll was answered: the test exercised nothing")
	}
	if c := h.Counters(); c.Parked != 0 || c.WithListeners != 0 {
		t.Fatalf("after every poll was released: %+v", c)
	}
	if err := h.Destruct(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left behind (%d before):\n%s", runtime.NumGoroutine()-before, before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// R-GEN-6 with two concurrent publishes on disjoint channels, one to a and
// one to b, and listeners parked on a and b: in the single-threaded
// original the one that ran first (the lower cursor, R-CUR-4) answers
// them all. A listener here must get that one first; it may also get the
// other, which ran at the same time, in the same batch, after it. It must
// never get the later one without the earlier one.
func TestHubConcurrentPublishesMultiIDOrder(t *testing.T) {
	h, err := NewHub(t.Name(), HubOptions{ManualSweep: true})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Destruct()
	const rounds, listeners = 40, 200
	bad, both, total := 0, 0, 0
	var example string
	for r := range rounds {
		ws := make([]*waiter, listeners)
		for i := range ws {
			ws[i] = h.Register([]Element{{ID: "a"}, {ID: "b"}}, time.Hour)
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		ids := []string{"a", "b"}
		res := make([]PublishResult, 2)
		data := make([]string, 2)
		for j, id := range ids {
			data[j] = fmt.Sprintf(`"%s%d"`, id, r)
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res[j] = h.Publish([]Element{{ID: id}}, nil, []byte(data[j]))
			}()
		}
		close(start)
		wg.Wait()
		first := 0
		if res[1].Cursor.Less(res[0].Cursor) {
			first = 1
		}
		entry := func(k int) string {
			return rpxEntry(`"`+ids[k]+`": "`+res[k].Cursor.String()+`"`, data[k])
		}
		alone, withSecond := rpxBatch(entry(first)), rpxBatch(entry(first), entry(1-first))
		for _, w := range ws {
			got := rpxDelivered(t, w)
			total++
			switch got {
			case alone:
			case withSecond:
				both++
			default:
				bad++
				example = fmt.Sprintf("%s at %s ran before %s at %s, the listener got %q",
					data[first], res[first].Cursor, data[1-first], res[1-first].Cursor, got)
			}
			h.Release(w, WaitCancelled)
		}
		if res[0].Delivered+res[1].Delivered != listeners {
			t.Fatalf("round %d: %d + %d deliveries for %d listeners", r, res[0].Delivered, res[1].Delivered, listeners)
		}
	}
	t.Logf("%d listeners, %d got both publishes in one batch", total, both)
	if bad > 0 {
		t.Errorf("%d of %d listeners parked on a,b did not get the earlier of two concurrent publishes first; e.g. %s", bad, total, example)
	}
}

// R-WAIT-17 racing R-IN-11: a poll whose client goes away (Release) while
// a publish to one of its ids is answering it. Whichever wins, the poll
// ends once, its Wake is closed and nothing stays registered. Run with
// -race: the answer's batch and Release must not touch the poll unordered.
func TestHubReleaseRacesPublish(t *testing.T) {
	h, err := NewHub(t.Name(), HubOptions{ManualSweep: true})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Destruct()
	delivered, cancelled, retained := 0, 0, 0
	for i := range 2000 {
		lists := [][]Element{{{ID: "a"}, {ID: "b"}}, {{ID: "a"}}}
		w := h.Register(lists[i%2], time.Hour)
		start := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			h.Publish([]Element{{ID: "a"}}, nil, []byte(`"x"`))
		}()
		close(start)
		if i%4 < 2 {
			// Release right after the publish claimed the poll: the
			// window between the claim and the batch being in place.
			for w.Outcome() == waitParked {
				runtime.Gosched()
			}
		}
		h.Release(w, WaitCancelled)
		wg.Wait()
		select {
		case <-w.Wake():
		case <-time.After(5 * time.Second):
			t.Fatalf("iteration %d: Wake not closed", i)
		}
		if b := w.Batch(); b != nil {
			retained++
		}
		switch w.Outcome() {
		case WaitDelivered:
			delivered++
		case WaitCancelled:
			cancelled++
		default:
			t.Fatalf("iteration %d: outcome %v", i, w.Outcome())
		}
	}
	t.Logf("%d answered with data before the release, %d cancelled first", delivered, cancelled)
	if retained > 0 {
		t.Errorf("%d polls still hold a batch after Release returned (Release drops it)", retained)
	}
	if c := h.Counters(); c.Parked != 0 || c.WithListeners != 0 {
		t.Fatalf("counters after all releases: %+v", c)
	}
}
