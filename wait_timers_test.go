package caddyrealplexor

import (
	"testing"
	"time"
)

// An answered or abandoned poll leaves the timeout buckets at once, so
// polls that ended are not kept alive until their WAIT_TIMEOUT.
func TestWaitTimersReleaseUnlinks(t *testing.T) {
	clk := newRpxClock()
	h := rpxNewHub(t, clk, nil)
	var polls []*waiter
	for i := 0; i < 5; i++ {
		polls = append(polls, rpxRegister(t, h, "a,b"))
	}
	if n := h.waitTimers.len(); n != 5 {
		t.Fatalf("scheduled %d, want 5", n)
	}
	// Release from the middle, the head and the tail of a slot's list.
	for _, i := range []int{2, 4, 0} {
		h.Release(polls[i], WaitCancelled)
	}
	if n := h.waitTimers.len(); n != 2 {
		t.Fatalf("after 3 releases: scheduled %d, want 2", n)
	}
	rpxPublish(t, h, "a", `"x"`) // answers the other two
	for _, i := range []int{1, 3} {
		<-polls[i].Wake()
		h.Release(polls[i], WaitCancelled)
	}
	if n := h.waitTimers.len(); n != 0 {
		t.Fatalf("after all ended: scheduled %d, want 0", n)
	}
	// A poll that times out is unlinked by the sweep itself.
	w := rpxRegister(t, h, "c")
	clk.Advance(DefaultWaitTimeout + time.Second)
	h.Sweep()
	if w.Outcome() != WaitTimedOut || h.waitTimers.len() != 0 {
		t.Fatalf("timeout: outcome %v, scheduled %d", w.Outcome(), h.waitTimers.len())
	}
	h.Release(w, WaitCancelled)
}
