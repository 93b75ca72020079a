package caddyrealplexor

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Two hubs on one Redis behave as two nodes: a poll on one gets what the
// other published, grouped once for a poll on both of its ids, and no
// goroutine of either outlives Destruct.
func TestBrokerTwoHubsNoLeak(t *testing.T) {
	r := startClusterRedis(t)
	before := runtime.NumGoroutine()
	a, b := redisHub(t, r, "shared"), redisHub(t, r, "shared")

	w, err := b.RegisterShared(rpxEls(t, "x,y"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.PublishShared(rpxEls(t, "x,y"), nil, []byte(`"both"`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Wake():
	case <-time.After(5 * time.Second):
		t.Fatal("the poll on b got nothing")
	}
	if got := masked(string(w.Batch())); strings.Count(got, `"both"`) != 1 {
		t.Fatalf("batch %q: the message must come once", got)
	}
	b.Release(w, WaitCancelled)

	_ = a.Destruct()
	_ = b.Destruct()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d after Destruct:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// redisHub is a hub shared through r, as a node would create it.
func redisHub(t testing.TB, r *clRedis, name string) *Hub {
	t.Helper()
	client, err := dialRedis(r.url())
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHub(name, HubOptions{Redis: client})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Destruct() })
	return h
}

// Publish-to-delivery latency: one parked poll, one publish, the poll
// woken; in memory and through Redis (two hubs as two nodes).
func BenchmarkPublishToDelivery(b *testing.B) {
	run := func(b *testing.B, pub, sub *Hub) {
		els := rpxEls(b, "bench")
		for i := 0; i < b.N; i++ {
			w, err := sub.RegisterShared(els, time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := pub.PublishShared(els, nil, []byte(fmt.Sprint(i))); err != nil {
				b.Fatal(err)
			}
			<-w.Wake()
			sub.Release(w, WaitCancelled)
		}
	}
	b.Run("memory", func(b *testing.B) {
		h, err := NewHub("bench", HubOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer h.Destruct()
		run(b, h, h)
	})
	b.Run("redis-two-nodes", func(b *testing.B) {
		r := startClusterRedis(b)
		run(b, redisHub(b, r, "bench"), redisHub(b, r, "bench"))
	})
}
