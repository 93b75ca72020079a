package caddyrealplexor

import "testing"

func (p *parkPoller) waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Parked HTTP/1.1 polls wait in the hub's epoll poller, without a
// goroutine each; a client hanging up is still noticed (R-WAIT-17), and a
// publish still answers every one.
func TestParkedPollsWaitInThePoller(t *testing.T) {
	s := startServer(t, "")
	const n = 20
	polls := make([]*poll, n)
	for i := range polls {
		polls[i] = openPoll(t, "alpha")
	}
	p := s.hub().poller()
	if p == nil {
		t.Fatal("no poller on Linux")
	}
	if got := p.waiting(); got != n {
		t.Fatalf("%d polls wait in the poller, want %d", got, n)
	}
	for _, pl := range polls[:5] {
		pl.close()
	}
	eventually(t, "the hang-ups to be noticed", func() bool {
		return p.waiting() == n-5 && s.hub().parked.Load() == n-5
	})
	s.publishOK("alpha", `"all"`)
	for i, pl := range polls[5:] {
		if got := masked(pl.rest()); got != batch(entryJSON(`"alpha": "<cursor>"`, `"all"`)) {
			t.Fatalf("poll %d got %q", i, got)
		}
	}
	if got := p.waiting(); got != 0 {
		t.Fatalf("%d left in the poller", got)
	}
	eventually(t, "every parked connection to finish", func() bool { return s.hub().parkedConns.Load() == 0 })
}
