package redisstore

import (
	"testing"
	"time"
)

// BenchmarkPublish: one id, generated cursor, 100-byte message, against
// the local redis-server (one EVALSHA per publish).
func BenchmarkPublish(b *testing.B) {
	s := newStore(b)
	ctx := testCtx(b)
	data := make([]byte, 100)
	targets := []Target{{ID: "bench"}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := s.Publish(ctx, targets, nil, data, 30, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublishParallel: publish throughput with concurrent publishers
// on 16 ids (the pool pipelines nothing: each publish is its own EVALSHA).
func BenchmarkPublishParallel(b *testing.B) {
	s := newStore(b)
	ctx := testCtx(b)
	data := make([]byte, 100)
	ids := []string{"p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10", "p11", "p12", "p13", "p14", "p15"}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, _, err := s.Publish(ctx, []Target{{ID: ids[i%len(ids)]}}, nil, data, 30, time.Hour); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkPublishSubscribeLatency: time from calling Publish to the
// entry arriving on a Subscriber's channel, one message at a time.
func BenchmarkPublishSubscribeLatency(b *testing.B) {
	s := newStore(b)
	ctx := testCtx(b)
	sb := s.NewSubscriber(ctx)
	defer sb.Close()
	if err := sb.Subscribe(ctx, "lat"); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 100)
	targets := []Target{{ID: "lat"}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, m, err := s.Publish(ctx, targets, nil, data, 30, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		select {
		case e := <-sb.Entries():
			if e.MsgID != m {
				b.Fatalf("got msg %d, want %d", e.MsgID, m)
			}
		case <-time.After(10 * time.Second):
			b.Fatal("entry not received")
		}
	}
}

// BenchmarkHistory: one History call for 3 ids of 30 entries each.
func BenchmarkHistory(b *testing.B) {
	s := newStore(b)
	ctx := testCtx(b)
	data := make([]byte, 100)
	for i := 0; i < 30; i++ {
		if _, _, err := s.Publish(ctx, []Target{{ID: "h1"}, {ID: "h2"}, {ID: "h3"}}, nil, data, 30, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	ids := []string{"h1", "h2", "h3"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h, err := s.History(ctx, ids)
		if err != nil || len(h["h3"]) != 30 {
			b.Fatal(err, len(h["h3"]))
		}
	}
}

// BenchmarkPingReference: one plain round trip on the same client, the
// floor under every benchmark above.
func BenchmarkPingReference(b *testing.B) {
	s := newStore(b)
	ctx := testCtx(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.client.Ping(ctx).Err(); err != nil {
			b.Fatal(err)
		}
	}
}
