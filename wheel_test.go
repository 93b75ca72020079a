package caddyrealplexor

import (
	"slices"
	"testing"
	"time"
)

// The wheel drives WAIT_TIMEOUT (R-WAIT-16), OFFLINE_TIMEOUT (R-ONL-1) and
// CLEAN_ID_AFTER (R-Q-4). Its resolution is one tick: an item fires on the
// first expire at or after its deadline rounded up to a tick boundary, so
// never early and at most one tick late.

const rpxTick = 100 * time.Millisecond

// rpxRoundUp is the first tick boundary at or after t.
func rpxRoundUp(t time.Time) time.Time {
	r := t.Truncate(rpxTick)
	if r.Before(t) {
		r = r.Add(rpxTick)
	}
	return r
}

func rpxExpireSorted(w *wheel[int], now time.Time) []int {
	got := w.expire(now)
	slices.Sort(got)
	return got
}

// Never before the deadline; on the first expire at or after it (at tick
// resolution); exactly once.
func TestWheelFiresOnTimeNeverEarly(t *testing.T) {
	w := newWheel[int](rpxTick, rpxBase)
	w.add(rpxBase, -1) // due at the start: fires on the first expire
	offsets := []time.Duration{
		5 * time.Second, 0, time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond,
		101 * time.Millisecond, 250 * time.Millisecond, time.Second, time.Second + time.Nanosecond,
		time.Second - time.Nanosecond, 2*time.Second + 50*time.Millisecond, 4999 * time.Millisecond,
	}
	deadlines := make(map[int]time.Time)
	for i, d := range offsets {
		deadlines[i] = rpxBase.Add(d)
		w.add(deadlines[i], i)
	}
	if n := w.len(); n != len(offsets)+1 {
		t.Fatalf("len = %d, want %d", n, len(offsets)+1)
	}
	fired := make(map[int]time.Time)
	for now := rpxBase; !now.After(rpxBase.Add(6 * time.Second)); now = now.Add(time.Millisecond) {
		for _, v := range w.expire(now) {
			if v < 0 {
				continue
			}
			if _, dup := fired[v]; dup {
				t.Fatalf("item %d fired twice", v)
			}
			fired[v] = now
		}
	}
	for i, d := range offsets {
		at, ok := fired[i]
		if !ok {
			t.Errorf("item at +%v never fired", d)
			continue
		}
		if at.Before(deadlines[i]) {
			t.Errorf("item at +%v fired early, at +%v", d, at.Sub(rpxBase))
		}
		if want := rpxRoundUp(deadlines[i]); !at.Equal(want) {
			t.Errorf("item at +%v fired at +%v, want +%v (first expire at or after the deadline's tick)", d, at.Sub(rpxBase), want.Sub(rpxBase))
		}
	}
	if n := w.len(); n != 0 {
		t.Fatalf("%d items left", n)
	}
}

// Tick-aligned deadlines fire exactly at the deadline, not one tick later.
func TestWheelAlignedDeadline(t *testing.T) {
	w := newWheel[int](rpxTick, rpxBase)
	w.add(rpxBase.Add(time.Second), 1)
	if got := w.expire(rpxBase.Add(time.Second - time.Nanosecond)); len(got) != 0 {
		t.Fatalf("fired 1 ns early: %v", got)
	}
	if got := w.expire(rpxBase.Add(time.Second)); !slices.Equal(got, []int{1}) {
		t.Fatalf("at the deadline: %v", got)
	}
}

// After a long gap (an idle hub, a stalled sweeper, a clock jump) every
// due item fires on the next expire, and no item that is not due.
func TestWheelLongGap(t *testing.T) {
	t.Run("few buckets (map scan)", func(t *testing.T) {
		w := newWheel[int](rpxTick, rpxBase)
		w.add(rpxBase.Add(time.Second), 1)
		w.add(rpxBase.Add(2*time.Second), 2)
		w.add(rpxBase.Add(50*time.Second), 3)
		w.add(rpxBase.Add(time.Hour), 4)
		for _, s := range []struct {
			at   time.Duration
			want []int
		}{
			{0, nil},
			{10 * time.Second, []int{1, 2}},
			{49900 * time.Millisecond, nil},
			{50 * time.Second, []int{3}},
			{2 * time.Hour, []int{4}},
			{3 * time.Hour, nil},
		} {
			if got := rpxExpireSorted(w, rpxBase.Add(s.at)); !slices.Equal(got, s.want) {
				t.Fatalf("expire(+%v) = %v, want %v", s.at, got, s.want)
			}
		}
		if n := w.len(); n != 0 {
			t.Fatalf("%d items left", n)
		}
	})
	t.Run("many buckets (slot walk)", func(t *testing.T) {
		w := newWheel[int](rpxTick, rpxBase)
		for i := range 100 { // one item per tick, 0.1 s .. 10 s
			w.add(rpxBase.Add(time.Duration(i+1)*rpxTick), i+1)
		}
		// A gap of 30 ticks, shorter than the 100 buckets.
		got := rpxExpireSorted(w, rpxBase.Add(3*time.Second+50*time.Millisecond))
		want := make([]int, 30)
		for i := range want {
			want[i] = i + 1
		}
		if !slices.Equal(got, want) {
			t.Fatalf("expire(+3.05 s) = %v, want 1..30", got)
		}
		if got := rpxExpireSorted(w, rpxBase.Add(3*time.Second+99*time.Millisecond)); len(got) != 0 {
			t.Fatalf("expire(+3.099 s) = %v", got)
		}
		if got := rpxExpireSorted(w, rpxBase.Add(3100*time.Millisecond)); !slices.Equal(got, []int{31}) {
			t.Fatalf("expire(+3.1 s) = %v", got)
		}
		if got := rpxExpireSorted(w, rpxBase.Add(time.Minute)); len(got) != 69 || got[0] != 32 || got[68] != 100 {
			t.Fatalf("expire(+60 s) = %v", got)
		}
	})
	t.Run("order within the slot walk", func(t *testing.T) {
		w := newWheel[int](rpxTick, rpxBase)
		w.add(rpxBase, 0) // due at the start
		if got := w.expire(rpxBase); !slices.Equal(got, []int{0}) {
			t.Fatalf("anchor: %v", got)
		}
		for _, i := range []int{3, 1, 2} {
			w.add(rpxBase.Add(time.Duration(i)*rpxTick), i)
		}
		w.add(rpxBase.Add(rpxTick), 4) // same bucket as 1, added later
		if got := w.expire(rpxBase.Add(3 * rpxTick)); !slices.Equal(got, []int{1, 4, 2, 3}) {
			t.Fatalf("expire = %v, want deadline order, then add order", got)
		}
	})
}

// A deadline already in the past fires on the next expire, whatever the
// gap since the last one.
func TestWheelPastDeadline(t *testing.T) {
	w := newWheel[int](rpxTick, rpxBase)
	w.add(rpxBase.Add(-time.Hour), 1) // the very first add, in the past
	if got := w.expire(rpxBase); !slices.Equal(got, []int{1}) {
		t.Fatalf("first expire: %v", got)
	}
	w.add(rpxBase.Add(-5*time.Second), 2)
	w.add(rpxBase, 3)
	w.add(rpxBase.Add(rpxTick), 4)
	if got := rpxExpireSorted(w, rpxBase.Add(rpxTick)); !slices.Equal(got, []int{2, 3, 4}) {
		t.Fatalf("next tick: %v, want [2 3 4]", got)
	}
	w.add(rpxBase.Add(-time.Minute), 5)
	if got := w.expire(rpxBase.Add(time.Hour)); !slices.Equal(got, []int{5}) {
		t.Fatalf("after a long gap: %v", got)
	}
	if got := w.expire(rpxBase.Add(2 * time.Hour)); len(got) != 0 {
		t.Fatalf("fired again: %v", got)
	}
}

// An item added after another one, with an earlier deadline, must not wait
// for the first one's deadline. The hub adds WAIT timeouts of different
// lengths (the per-request timeout of Register, a reloaded wait_timeout),
// and offline and cleanup countdowns after a reload that shortened them.
func TestWheelEarlierDeadlineAddedLater(t *testing.T) {
	w := newWheel[int](rpxTick, rpxBase)
	w.add(rpxBase.Add(300*time.Second), 1)
	w.add(rpxBase.Add(time.Second), 2)
	if got := w.expire(rpxBase.Add(time.Second)); !slices.Equal(got, []int{2}) {
		t.Errorf("expire(+1 s) = %v, want [2]: the 1 s item waits for the 300 s item's slot", got)
	}
	if got := w.expire(rpxBase.Add(300 * time.Second)); !slices.Contains(got, 1) {
		t.Errorf("expire(+300 s) = %v, want 1 among them", got)
	}
}

func TestWheelEmpty(t *testing.T) {
	w := newWheel[string](rpxTick, rpxBase)
	if got := w.expire(rpxBase); got != nil || w.len() != 0 {
		t.Fatalf("empty wheel: %v, len %d", got, w.len())
	}
	w.add(rpxBase.Add(rpxTick), "a")
	if got := w.expire(rpxBase); got != nil {
		t.Fatalf("early: %v", got)
	}
	if got := w.expire(rpxBase.Add(rpxTick)); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("on time: %v", got)
	}
}
