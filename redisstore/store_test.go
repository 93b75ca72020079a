package redisstore

import (
	"bytes"
	"errors"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestServerIsEphemeral(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	cfg, err := s.client.ConfigGet(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if cfg["save"] != "" || cfg["appendonly"] != "no" {
		t.Errorf("save=%q appendonly=%q, want no persistence", cfg["save"], cfg["appendonly"])
	}
}

func TestKeyLayout(t *testing.T) {
	for hub, want := range map[string]string{
		"default": "rpl:{default}:",
		"":        "rpl:{%}:",
		"a}b{c%":  "rpl:{a%7Db%7Bc%25}:",
	} {
		s := New(nil, hub)
		if s.KeyPrefix() != want {
			t.Errorf("hub %q: prefix %q, want %q", hub, s.KeyPrefix(), want)
		}
		if s.queueKey("x") != want+"q:x" || s.channel("x") != want+"n:x" || s.keyCursor != want+"cursor" ||
			s.keyMsgSeq != want+"msgseq" || s.keyEvSeq != want+"evseq" || s.keyEvents != want+"events" {
			t.Errorf("hub %q: unexpected keys %+v", hub, s)
		}
	}
}

func historyCursors(t *testing.T, s *Store, id string) []string {
	t.Helper()
	h, err := s.History(testCtx(t), []string{id})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range h[id] {
		out = append(out, e.Cursor+"="+string(e.Data))
	}
	return out
}

func publish(t *testing.T, s *Store, targets []Target, data string, maxPerID int) (string, int64) {
	t.Helper()
	c, m, err := s.Publish(testCtx(t), targets, nil, []byte(data), maxPerID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return c, m
}

// R-Q-1: publishing 20, 11, 18, 15 yields 11, 15, 18, 20.
func TestSortedInsert(t *testing.T) {
	s := newStore(t)
	for _, c := range []string{"20", "11", "18", "15"} {
		publish(t, s, []Target{{ID: "abc", Cursor: c}}, "m"+c, 30)
	}
	want := []string{"11=m11", "15=m15", "18=m18", "20=m20"}
	if got := historyCursors(t, s, "abc"); !reflect.DeepEqual(got, want) {
		t.Errorf("history %v, want %v", got, want)
	}
	// Publisher cursors are kept verbatim and compared exactly.
	publish(t, s, []Target{{ID: "abc", Cursor: "015.5"}}, "x", 30)
	publish(t, s, []Target{{ID: "abc", Cursor: "0.5"}}, "y", 30)
	publish(t, s, []Target{{ID: "abc", Cursor: "100"}}, "z", 30)
	want = []string{"0.5=y", "11=m11", "15=m15", "015.5=x", "18=m18", "20=m20", "100=z"}
	if got := historyCursors(t, s, "abc"); !reflect.DeepEqual(got, want) {
		t.Errorf("history %v, want %v", got, want)
	}
}

// R-Q-2: equal cursors keep both entries, the newer after the older,
// also when the equal texts differ ("5" and "5.0") and in the middle.
func TestEqualCursorsKeepBothNewerAfter(t *testing.T) {
	s := newStore(t)
	publish(t, s, []Target{{ID: "a", Cursor: "5"}}, "first", 30)
	publish(t, s, []Target{{ID: "a", Cursor: "9"}}, "nine", 30)
	publish(t, s, []Target{{ID: "a", Cursor: "5.0"}}, "second", 30)
	publish(t, s, []Target{{ID: "a", Cursor: "005"}}, "third", 30)
	publish(t, s, []Target{{ID: "a", Cursor: "9"}}, "nine-b", 30)
	want := []string{"5=first", "5.0=second", "005=third", "9=nine", "9=nine-b"}
	if got := historyCursors(t, s, "a"); !reflect.DeepEqual(got, want) {
		t.Errorf("history %v, want %v", got, want)
	}
}

// R-Q-3: trimming keeps the highest cursors.
func TestTrimKeepsHighest(t *testing.T) {
	s := newStore(t)
	for _, d := range []string{"a", "bb", "ccc"} {
		publish(t, s, []Target{{ID: "gen"}}, d, 2)
		publish(t, s, []Target{{ID: "same", Cursor: "7"}}, d, 2)
	}
	if got := historyCursors(t, s, "gen"); len(got) != 2 || !strings.HasSuffix(got[0], "=bb") || !strings.HasSuffix(got[1], "=ccc") {
		t.Errorf("generated: history %v, want [bb ccc]", got)
	}
	if got := historyCursors(t, s, "same"); !reflect.DeepEqual(got, []string{"7=bb", "7=ccc"}) {
		t.Errorf("same cursor: history %v, want [7=bb 7=ccc]", got)
	}
	// Out of order: a cursor below a full queue's lowest is dropped at once.
	for _, c := range []string{"30", "20", "10", "25"} {
		publish(t, s, []Target{{ID: "ooo", Cursor: c}}, "m"+c, 2)
	}
	if got := historyCursors(t, s, "ooo"); !reflect.DeepEqual(got, []string{"25=m25", "30=m30"}) {
		t.Errorf("out of order: history %v, want [25 30]", got)
	}
}

// R-ID-8, R-ID-9, R-Q-6: one generated cursor and one message id for the
// whole publish; a duplicate target stores twice.
func TestPublishSharesCursorAndMsgID(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	c, m, err := s.Publish(ctx, []Target{{ID: "a"}, {ID: "b"}, {ID: "c", Cursor: "7"}, {ID: "a"}}, nil, []byte("hello"), 30, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !generatedCursor.MatchString(c) {
		t.Fatalf("generated cursor %q", c)
	}
	h, err := s.History(ctx, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	if len(h["a"]) != 2 || len(h["b"]) != 1 || len(h["c"]) != 1 {
		t.Fatalf("history %+v", h)
	}
	for _, e := range []Entry{h["a"][0], h["a"][1], h["b"][0], h["c"][0]} {
		if e.MsgID != m {
			t.Errorf("%s: msg id %d, want %d", e.ID, e.MsgID, m)
		}
		wantCursor := c
		if e.ID == "c" {
			wantCursor = "7"
		}
		if e.Cursor != wantCursor || string(e.Data) != "hello" {
			t.Errorf("%s: entry %+v", e.ID, e)
		}
	}
	// Only publisher cursors: nothing generated; the next message id follows.
	c2, m2, err := s.Publish(ctx, []Target{{ID: "a", Cursor: "1"}}, nil, []byte("x"), 30, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if c2 != "" || m2 != m+1 {
		t.Errorf("second publish: cursor %q msg %d; want \"\" and %d", c2, m2, m+1)
	}
}

func TestLimitersRoundTrip(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	if _, _, err := s.Publish(ctx, []Target{{ID: "a"}}, []string{"aa", "b_b", "123"}, []byte("x"), 30, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Publish(ctx, []Target{{ID: "a"}}, nil, []byte("y"), 30, time.Minute); err != nil {
		t.Fatal(err)
	}
	h, err := s.History(ctx, []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	if got := h["a"][0].Limiters; !reflect.DeepEqual(got, []string{"aa", "b_b", "123"}) {
		t.Errorf("limiters %q", got)
	}
	if got := h["a"][1].Limiters; got != nil {
		t.Errorf("no limiters came back as %q", got)
	}
}

func TestDataRoundTripsByteExact(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	big := make([]byte, 100*1024)
	rand.New(rand.NewSource(1)).Read(big)
	payloads := [][]byte{
		[]byte("line1\nline2\n\n"),
		[]byte("nul\x00byte\x00"),
		[]byte("\n"),
		[]byte("- \n7 8 9\n"),
		{},
		[]byte(`{"json": "\u0000 ☃"}`),
		big,
	}
	for _, p := range payloads {
		if _, _, err := s.Publish(ctx, []Target{{ID: "d"}}, []string{"l"}, p, 30, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	h, err := s.History(ctx, []string{"d"})
	if err != nil {
		t.Fatal(err)
	}
	if len(h["d"]) != len(payloads) {
		t.Fatalf("%d entries", len(h["d"]))
	}
	for i, e := range h["d"] {
		if !bytes.Equal(e.Data, payloads[i]) {
			t.Errorf("payload %d: got %d bytes, want %d", i, len(e.Data), len(payloads[i]))
		}
		if !reflect.DeepEqual(e.Limiters, []string{"l"}) {
			t.Errorf("payload %d: limiters %q", i, e.Limiters)
		}
	}
}

// R-Q-4: every publish sets PEXPIRE CLEAN_ID_AFTER on the queue, and the
// whole queue disappears after it.
func TestCleanAfterExpiresQueue(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	if _, _, err := s.Publish(ctx, []Target{{ID: "long"}, {ID: "short"}}, nil, []byte("x"), 30, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	pttl, err := s.client.PTTL(ctx, s.queueKey("long")).Result()
	if err != nil {
		t.Fatal(err)
	}
	if pttl <= 9*time.Second || pttl > 10*time.Second {
		t.Errorf("PTTL %v, want within (9s, 10s]", pttl)
	}
	if _, _, err := s.Publish(ctx, []Target{{ID: "short"}}, nil, []byte("y"), 30, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if pttl, _ := s.client.PTTL(ctx, s.queueKey("short")).Result(); pttl <= 0 || pttl > 300*time.Millisecond {
		t.Errorf("PTTL %v after the 300ms publish", pttl)
	}
	if got := historyCursors(t, s, "short"); len(got) != 2 {
		t.Fatalf("history before expiry: %v", got)
	}
	time.Sleep(600 * time.Millisecond)
	h, err := s.History(ctx, []string{"short", "long"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h["short"]; ok {
		t.Errorf("queue still there after clean_id_after: %v", h["short"])
	}
	if n, _ := s.client.Exists(ctx, s.queueKey("short")).Result(); n != 0 {
		t.Errorf("queue key still exists")
	}
	if len(h["long"]) != 1 {
		t.Errorf("the other queue went too: %v", h["long"])
	}
	// cleanAfter <= 0: no expiry at all.
	if _, _, err := s.Publish(ctx, []Target{{ID: "long"}}, nil, []byte("z"), 30, 0); err != nil {
		t.Fatal(err)
	}
	if pttl, _ := s.client.PTTL(ctx, s.queueKey("long")).Result(); pttl != -1 {
		t.Errorf("PTTL %v with cleanAfter 0, want -1 (none)", pttl)
	}
}

// Publish is one EVALSHA; History of three ids is one pipelined round trip.
func TestRoundTrips(t *testing.T) {
	hook := &countingHook{}
	s := newStore(t, hook)
	ctx := testCtx(t)
	// The first run may need EVAL after NOSCRIPT; later ones never do.
	// Connection set-up (HELLO, CLIENT SETINFO) is not part of an
	// operation: warm the pool up first.
	publish(t, s, []Target{{ID: "warm"}}, "x", 30)
	if _, err := s.History(ctx, []string{"warm"}); err != nil {
		t.Fatal(err)
	}
	hook.reset()
	publish(t, s, []Target{{ID: "a"}, {ID: "b", Cursor: "12"}, {ID: "c"}}, "abc", 30)
	if n := hook.roundTrips.Load(); n != 1 || hook.calls()[0] != "evalsha" {
		t.Errorf("publish took %d round trips: %v", n, hook.calls())
	}
	hook.reset()
	h, err := s.History(ctx, []string{"a", "b", "c", "a"})
	if err != nil {
		t.Fatal(err)
	}
	if n := hook.roundTrips.Load(); n != 1 {
		t.Errorf("history took %d round trips: %v", n, hook.calls())
	}
	if calls := hook.calls(); len(calls) != 1 || calls[0] != "pipeline[lrange,lrange,lrange]" {
		t.Errorf("history calls %v, want one pipeline of 3 LRANGE", calls)
	}
	if len(h) != 3 || h["b"][0].Cursor != "12" || h["a"][0].MsgID != h["c"][0].MsgID {
		t.Errorf("history %+v", h)
	}
	hook.reset()
	if _, err := s.NextCursor(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NextCursor(ctx); err != nil {
		t.Fatal(err)
	}
	if n := hook.roundTrips.Load(); n > 3 { // first may be EVALSHA+EVAL
		t.Errorf("two NextCursor took %d round trips: %v", n, hook.calls())
	}
}

func TestPublishValidation(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	for name, call := range map[string]func() error{
		"no targets": func() error { _, _, err := s.Publish(ctx, nil, nil, []byte("x"), 30, time.Minute); return err },
		"empty id":   func() error { _, _, err := s.Publish(ctx, []Target{{}}, nil, []byte("x"), 30, time.Minute); return err },
		"bad cursor": func() error {
			_, _, err := s.Publish(ctx, []Target{{ID: "a", Cursor: "1."}}, nil, []byte("x"), 30, time.Minute)
			return err
		},
		"bad limiter": func() error {
			_, _, err := s.Publish(ctx, []Target{{ID: "a"}}, []string{"a,b"}, []byte("x"), 30, time.Minute)
			return err
		},
		"zero max": func() error {
			_, _, err := s.Publish(ctx, []Target{{ID: "a"}}, nil, []byte("x"), 0, time.Minute)
			return err
		},
	} {
		err := call()
		if err == nil || !strings.HasPrefix(err.Error(), "redisstore: publish: ") {
			t.Errorf("%s: error %v", name, err)
		}
	}
	// Nothing was stored, and a bad cursor among good targets stores none.
	if _, _, err := s.Publish(ctx, []Target{{ID: "a", Cursor: "1"}, {ID: "a", Cursor: "x"}}, nil, []byte("x"), 30, time.Minute); err == nil {
		t.Error("bad second cursor accepted")
	}
	if got := historyCursors(t, s, "a"); len(got) != 0 {
		t.Errorf("history after rejected publishes: %v", got)
	}
}

// The script validates on its own too: nothing is written when a cursor
// it receives is invalid (a caller bypassing the Go checks).
func TestPublishScriptRejectsBadCursor(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	keys := []string{s.keyCursor, s.keyMsgSeq, s.queueKey("a"), s.queueKey("b")}
	err := publishScript.Run(ctx, s.client, keys, 30, 1000, "-", "x", s.channelPfx, "a", "", "b", "1.2.3").Err()
	if err == nil || !strings.Contains(err.Error(), "invalid cursor") {
		t.Fatalf("error %v", err)
	}
	if n, _ := s.client.Exists(ctx, keys...).Result(); n != 0 {
		t.Errorf("%d keys written by a rejected publish", n)
	}
}

func TestHistoryDecodeError(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	s.client.RPush(ctx, s.queueKey("bad"), "garbage")
	if _, err := s.History(ctx, []string{"bad"}); err == nil || !strings.HasPrefix(err.Error(), "redisstore: history: ") {
		t.Errorf("error %v", err)
	}
	h, err := s.History(ctx, nil)
	if err != nil || len(h) != 0 {
		t.Errorf("History(nil) = %v, %v", h, err)
	}
}

func TestDecodeEntry(t *testing.T) {
	e, err := decodeEntry("x", "1.5 42 a,b\nda\nta")
	if err != nil || e.Cursor != "1.5" || e.MsgID != 42 || !reflect.DeepEqual(e.Limiters, []string{"a", "b"}) || string(e.Data) != "da\nta" || e.ID != "x" {
		t.Errorf("decode: %+v, %v", e, err)
	}
	for _, bad := range []string{"", "1 2 -", "1 -\nx", "x 1 -\n", "1 y -\n", "1\nx"} {
		if _, err := decodeEntry("x", bad); err == nil {
			t.Errorf("decodeEntry(%q) accepted", bad)
		}
	}
	if !errors.Is(ErrClosed, ErrClosed) {
		t.Fatal()
	}
}
