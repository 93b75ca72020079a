package caddyrealplexor

import (
	"testing"
)

// A config reload keeps the hub: buffered messages, presence, WATCH
// positions and requests parked under the old config (R-PORT-5), and the
// new settings apply to new requests.
func TestReloadKeepsStateAndParkedRequests(t *testing.T) {
	s := startServer(t, "max_data_for_id 30")
	s.publishOK("10:alpha", `"buffered"`)
	parked := openPoll(t, "beta")
	s.waitCounters("1/1/1/1/1")
	if got := s.command("", "watch 1\n"); got != "online 10:beta\n" {
		t.Fatalf("watch before reload: %q", got)
	}
	before := s.hub()

	s.options = "max_data_for_id 1"
	s.load() // the reload

	if s.hub() != before {
		t.Fatal("reload replaced the hub")
	}
	if got := s.hub().settings().maxDataForID; got != 1 {
		t.Fatalf("new settings not applied: max_data_for_id %d", got)
	}
	// The request parked under the old config still gets its message.
	s.publishOK("beta", `"after reload"`)
	if got := masked(parked.rest()); got != batch(entryJSON(`"beta": "<cursor>"`, `"after reload"`)) {
		t.Fatalf("parked poll got %q", got)
	}
	// The buffered message survived.
	if got := openPoll(t, "5:alpha").rest(); got != batch(entryJSON(`"alpha": "10"`, `"buffered"`)) {
		t.Fatalf("buffer lost: %q", got)
	}
	// Presence did not flap and positions continue: only the online
	// events, never an offline one for beta, next position after them.
	if got := s.command("", "watch 1\n"); got != "online 10:beta\nonline 11:alpha\n" {
		t.Fatalf("watch after reload: %q", got)
	}
	if got := s.command("", "watch\n"); got != "FAKE 12:FAKE\n" {
		t.Fatalf("positions restarted: %q", got)
	}
	// The new max_data_for_id applies at the next publish.
	s.publishOK("20:alpha", `"newer"`)
	if got := openPoll(t, "5:alpha").rest(); got != batch(entryJSON(`"alpha": "20"`, `"newer"`)) {
		t.Fatalf("rotation with the new setting: %q", got)
	}
}
