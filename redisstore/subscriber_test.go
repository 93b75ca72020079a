package redisstore

import (
	"bytes"
	"context"
	"math/rand"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func recv(t *testing.T, sb *Subscriber) Entry {
	t.Helper()
	select {
	case e, ok := <-sb.Entries():
		if !ok {
			t.Fatal("entries channel closed")
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no entry within 10s")
	}
	return Entry{}
}

func expectNothing(t *testing.T, sb *Subscriber, d time.Duration) {
	t.Helper()
	select {
	case e := <-sb.Entries():
		t.Fatalf("unexpected entry %+v", e)
	case <-time.After(d):
	}
}

func numSub(t *testing.T, s *Store, id string) int64 {
	t.Helper()
	m, err := s.client.PubSubNumSub(testCtx(t), s.channel(id)).Result()
	if err != nil {
		t.Fatal(err)
	}
	return m[s.channel(id)]
}

func TestSubscriberDelivery(t *testing.T) {
	base := runtime.NumGoroutine()
	s := newStore(t)
	ctx := testCtx(t)
	if err := s.client.Ping(ctx).Err(); err != nil { // let client-wide goroutines start
		t.Fatal(err)
	}
	base = max(base, runtime.NumGoroutine())
	sb := s.NewSubscriber(ctx)
	if err := sb.Subscribe(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	// Subscribe returned: Redis has applied the subscription, no sleep needed.
	big := make([]byte, 100*1024)
	rand.New(rand.NewSource(2)).Read(big)
	data := append([]byte("x\n\x00y\n"), big...)
	c, m, err := s.Publish(ctx, []Target{{ID: "b"}, {ID: "a"}}, []string{"l1", "l2"}, data, 30, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e := recv(t, sb)
	if e.ID != "a" || e.Cursor != c || e.MsgID != m || !bytes.Equal(e.Data, data) || strings.Join(e.Limiters, ",") != "l1,l2" {
		t.Errorf("entry %+v (cursor %s msg %d)", e, c, m)
	}
	expectNothing(t, sb, 200*time.Millisecond) // nothing for b

	// A publisher cursor arrives as written; an entry trimmed away by its
	// own publish is not published.
	publish(t, s, []Target{{ID: "a", Cursor: "9999999999.5"}}, "future", 2)
	if e := recv(t, sb); e.Cursor != "9999999999.5" || string(e.Data) != "future" {
		t.Errorf("entry %+v", e)
	}
	publish(t, s, []Target{{ID: "a", Cursor: "9999999999.7"}}, "future2", 2)
	recv(t, sb)
	publish(t, s, []Target{{ID: "a", Cursor: "1"}}, "dropped at once", 2)
	expectNothing(t, sb, 200*time.Millisecond)

	// Duplicate targets: stored twice, published twice.
	publish(t, s, []Target{{ID: "a", Cursor: "10000000000"}, {ID: "a", Cursor: "10000000001"}}, "dup", 5)
	e1, e2 := recv(t, sb), recv(t, sb)
	if e1.MsgID != e2.MsgID || e1.Cursor != "10000000000" || e2.Cursor != "10000000001" {
		t.Errorf("duplicate target entries %+v %+v", e1, e2)
	}

	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-sb.Entries(); ok {
		t.Error("entries channel open after Close")
	}
	if err := sb.Subscribe(ctx, "x"); err != ErrClosed {
		t.Errorf("Subscribe after Close: %v", err)
	}
	if err := sb.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	checkNoLeaks(t, base)
}

func TestSubscriberReferenceCounting(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	sb := s.NewSubscriber(ctx)
	defer sb.Close()
	if err := sb.Subscribe(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := sb.Subscribe(ctx, "a", "b"); err != nil {
		t.Fatal(err)
	}
	if n := numSub(t, s, "a"); n != 1 {
		t.Errorf("%d Redis subscriptions to a, want 1 (one per node)", n)
	}
	if err := sb.Unsubscribe(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	publish(t, s, []Target{{ID: "a"}}, "still", 30)
	if e := recv(t, sb); e.ID != "a" || string(e.Data) != "still" {
		t.Errorf("entry %+v", e)
	}
	if n := numSub(t, s, "a"); n != 1 {
		t.Errorf("%d Redis subscriptions to a after one of two Unsubscribe, want 1", n)
	}
	if err := sb.Unsubscribe(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	// Delivery stops at once, whatever is still in flight.
	publish(t, s, []Target{{ID: "a"}}, "gone", 30)
	publish(t, s, []Target{{ID: "b"}}, "b still", 30)
	if e := recv(t, sb); e.ID != "b" || string(e.Data) != "b still" {
		t.Errorf("entry %+v, want b's", e)
	}
	expectNothing(t, sb, 200*time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for numSub(t, s, "a") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("still subscribed to a in Redis after the last Unsubscribe")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Unsubscribing an id without references is a no-op; b stays.
	if err := sb.Unsubscribe(ctx, "a", "zzz"); err != nil {
		t.Fatal(err)
	}
	if ids := sb.IDs(); len(ids) != 1 || ids[0] != "b" {
		t.Errorf("IDs = %v, want [b]", ids)
	}
	// Re-subscribing works again.
	if err := sb.Subscribe(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	publish(t, s, []Target{{ID: "a"}}, "back", 30)
	if e := recv(t, sb); e.ID != "a" || string(e.Data) != "back" {
		t.Errorf("entry %+v", e)
	}
}

// Two subscribers (two nodes) on one id both get every entry; each gets
// only its own ids.
func TestTwoSubscribers(t *testing.T) {
	s1 := newStore(t)
	s2 := New(newClient(t, sharedRedis.addr()), s1.Hub()) // another node, same hub
	ctx := testCtx(t)
	sb1, sb2 := s1.NewSubscriber(ctx), s2.NewSubscriber(ctx)
	defer sb1.Close()
	defer sb2.Close()
	if err := sb1.Subscribe(ctx, "shared", "one"); err != nil {
		t.Fatal(err)
	}
	if err := sb2.Subscribe(ctx, "shared", "two"); err != nil {
		t.Fatal(err)
	}
	_, m, err := s2.Publish(ctx, []Target{{ID: "one"}, {ID: "two"}, {ID: "shared"}}, nil, []byte("x"), 30, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got1 := map[string]bool{}
	got2 := map[string]bool{}
	for i := 0; i < 2; i++ {
		e := recv(t, sb1)
		got1[e.ID] = e.MsgID == m
		e = recv(t, sb2)
		got2[e.ID] = e.MsgID == m
	}
	if !got1["one"] || !got1["shared"] || !got2["two"] || !got2["shared"] {
		t.Errorf("node 1 got %v, node 2 got %v", got1, got2)
	}
	expectNothing(t, sb1, 100*time.Millisecond)
	expectNothing(t, sb2, 100*time.Millisecond)
}

// Cancelling the context given to NewSubscriber closes it.
func TestSubscriberContextCancel(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	sb := s.NewSubscriber(ctx)
	if err := sb.Subscribe(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case _, ok := <-sb.Entries():
		if ok {
			t.Fatal("entry after cancel")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("subscriber not closed by its context")
	}
	if err := sb.Close(); err != nil {
		t.Error(err)
	}
}

// Killing the subscriber's connection (Redis stays up): go-redis
// reconnects and resubscribes, the callback fires, delivery goes on.
func TestSubscriberReconnectAfterClientKill(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	reconnected := make(chan error, 10)
	var sb *Subscriber
	sb = s.NewSubscriber(ctx, OnReconnect(func() {
		// The callback may change subscriptions.
		reconnected <- sb.Subscribe(ctx, "b")
	}))
	defer sb.Close()
	if err := sb.Subscribe(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.client.ClientKillByFilter(ctx, "TYPE", "pubsub").Result(); err != nil || n < 1 {
		t.Fatalf("CLIENT KILL TYPE pubsub: %d, %v", n, err)
	}
	select {
	case err := <-reconnected:
		if err != nil {
			t.Fatalf("Subscribe in the callback: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no reconnect reported")
	}
	if sb.Reconnects() < 1 {
		t.Errorf("Reconnects() = %d", sb.Reconnects())
	}
	publish(t, s, []Target{{ID: "a"}, {ID: "b"}}, "after", 30)
	got := map[string]string{}
	for i := 0; i < 2; i++ {
		e := recv(t, sb)
		got[e.ID] = string(e.Data)
	}
	if got["a"] != "after" || got["b"] != "after" {
		t.Errorf("got %v", got)
	}
}

// A Subscriber created while Redis is down connects once it is up.
func TestSubscriberStartsWhileRedisDown(t *testing.T) {
	srv, err := startRedis()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.cleanup()
	defer srv.stop()
	srv.stop()
	client := newClient(t, srv.addr())
	s := New(client, "late")
	ctx := testCtx(t)
	sb := s.NewSubscriber(ctx)
	defer sb.Close()
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	if err := sb.Subscribe(sctx, "a"); err == nil {
		t.Error("Subscribe succeeded with Redis down")
	}
	cancel()
	if err := srv.start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		err := sb.Subscribe(sctx, "a")
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Subscribe still failing after Redis came up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	publish(t, s, []Target{{ID: "a"}}, "hello", 30)
	if e := recv(t, sb); string(e.Data) != "hello" {
		t.Errorf("entry %+v", e)
	}
}

// A half-open connection (Redis paused: nothing answers, nothing closes)
// is detected by the health check and replaced.
func TestSubscriberHealthCheck(t *testing.T) {
	srv, err := startRedis()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.cleanup()
	defer srv.stop()
	client := newClient(t, srv.addr())
	s := New(client, "hc")
	ctx := testCtx(t)
	var reconnects atomic.Int64
	sb := s.NewSubscriber(ctx, HealthCheckInterval(200*time.Millisecond), OnReconnect(func() { reconnects.Add(1) }))
	defer sb.Close()
	if err := sb.Subscribe(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	// CLIENT PAUSE ALL stops Redis from answering anyone for 1.5 s; the
	// subscriber's ping goes unanswered, so it must drop and redial.
	if err := client.Do(ctx, "CLIENT", "PAUSE", "1500", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for reconnects.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a silent connection was not replaced")
		}
		time.Sleep(20 * time.Millisecond)
	}
	publish(t, s, []Target{{ID: "a"}}, "after pause", 30)
	if e := recv(t, sb); string(e.Data) != "after pause" {
		t.Errorf("entry %+v", e)
	}
}

// Redis killed and restarted mid-test: Publish fails while it is down
// (never a silent success), the Subscriber reconnects by itself and
// reports it, and entries published after the restart are received.
func TestRedisRestart(t *testing.T) {
	srv, err := startRedis()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.cleanup()
	defer srv.stop()
	base := runtime.NumGoroutine()
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:       []string{srv.addr()},
		DialTimeout: 500 * time.Millisecond,
	})
	s := New(client, "restart")
	ctx := testCtx(t)
	if err := client.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	base = max(base, runtime.NumGoroutine())
	reconnected := make(chan struct{}, 10)
	var calls atomic.Int64
	var resynced atomic.Value
	var sb *Subscriber
	sb = s.NewSubscriber(ctx, OnReconnect(func() {
		calls.Add(1)
		// What the hub will do: re-read the history of its ids.
		h, err := s.History(context.Background(), sb.IDs())
		resynced.Store(err == nil && h != nil)
		reconnected <- struct{}{}
	}))
	if err := sb.Subscribe(ctx, "x", "y"); err != nil {
		t.Fatal(err)
	}
	c1, _, err := s.Publish(ctx, []Target{{ID: "x"}}, nil, []byte("before"), 30, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if e := recv(t, sb); string(e.Data) != "before" || e.Cursor != c1 {
		t.Fatalf("entry %+v", e)
	}

	srv.stop()
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, _, err = s.Publish(pctx, []Target{{ID: "x"}}, nil, []byte("while down"), 30, time.Minute)
	cancel()
	if err == nil {
		t.Fatal("Publish succeeded with Redis down")
	}
	if !strings.HasPrefix(err.Error(), "redisstore: publish: ") {
		t.Errorf("error not wrapped: %v", err)
	}
	t.Logf("publish with Redis down failed after %v (default go-redis retries): %v", time.Since(start).Round(time.Millisecond), err)
	if _, err := s.History(ctx, []string{"x"}); err == nil {
		t.Error("History succeeded with Redis down")
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	if err := sb.Subscribe(sctx, "z"); err == nil {
		t.Error("Subscribe succeeded with Redis down")
	}
	cancel()
	if ids := sb.IDs(); len(ids) != 2 {
		t.Errorf("a failed Subscribe kept its reference: %v", ids)
	}
	time.Sleep(300 * time.Millisecond) // let the subscriber see the failure and retry

	if err := srv.start(); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	select {
	case <-reconnected:
	case <-time.After(15 * time.Second):
		t.Fatal("the subscriber did not report a reconnect")
	}
	t.Logf("reconnect reported %v after Redis came back", time.Since(start).Round(time.Millisecond))
	if ok, _ := resynced.Load().(bool); !ok {
		t.Error("History failed inside the reconnect callback")
	}
	// The restarted Redis kept nothing (no persistence); publishing works
	// again and reaches the subscriber, which is subscribed to x and y
	// again without any call.
	c2, _, err := s.Publish(ctx, []Target{{ID: "y"}, {ID: "x"}}, nil, []byte("after"), 30, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for i := 0; i < 2; i++ {
		e := recv(t, sb)
		got[e.ID] = string(e.Data)
		if e.Cursor != c2 {
			t.Errorf("entry %+v, cursor %s", e, c2)
		}
	}
	if got["x"] != "after" || got["y"] != "after" {
		t.Errorf("after restart got %v", got)
	}
	if calls.Load() < 1 || sb.Reconnects() < 1 {
		t.Errorf("callback calls %d, reconnects %d", calls.Load(), sb.Reconnects())
	}
	if err := sb.Close(); err != nil {
		t.Error(err)
	}
	client.Close()
	checkNoLeaks(t, base)
}

// Concurrent Subscribe/Unsubscribe on shared and own ids keep the
// reference counts and the Redis subscriptions consistent.
func TestSubscriberConcurrentRefs(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	sb := s.NewSubscriber(ctx)
	defer sb.Close()
	const workers, rounds = 8, 50
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func(w int) {
			own := "own" + strconv.Itoa(w)
			for i := 0; i < rounds; i++ {
				if err := sb.Subscribe(ctx, "shared", own); err != nil {
					errs <- err
					return
				}
				if err := sb.Unsubscribe(ctx, own); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}(w)
	}
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if ids := sb.IDs(); len(ids) != 1 || ids[0] != "shared" {
		t.Fatalf("IDs = %v, want [shared]", ids)
	}
	// Already subscribed and confirmed: returns without a round trip.
	if err := sb.Subscribe(ctx, "shared"); err != nil {
		t.Fatal(err)
	}
	publish(t, s, []Target{{ID: "shared"}, {ID: "own3"}}, "x", 30)
	if e := recv(t, sb); e.ID != "shared" {
		t.Errorf("entry %+v", e)
	}
	expectNothing(t, sb, 100*time.Millisecond)
	for i := 0; i < workers*rounds+1; i++ {
		if err := sb.Unsubscribe(ctx, "shared"); err != nil {
			t.Fatal(err)
		}
	}
	if ids := sb.IDs(); len(ids) != 0 {
		t.Fatalf("IDs = %v after releasing everything", ids)
	}
	deadline := time.Now().Add(5 * time.Second)
	for numSub(t, s, "shared")+numSub(t, s, "own0") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("Redis subscriptions left after releasing everything")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
