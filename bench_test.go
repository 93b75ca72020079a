package caddyrealplexor

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Benchmarks of the hot paths. No network, no Caddy:
//
//	go test -run '^$' -bench . -benchmem .

var (
	rpxSinkInt     int
	rpxSinkBytes   []byte
	rpxSinkIDList  IDList
	rpxSinkPublish PublishResult
)

// A poll's query string with ten ids, each with a generated cursor.
func BenchmarkParseIDList(b *testing.B) {
	ids := make([]string, 10)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s:ns_channel%d", formatGeneratedCursor(1_700_000_000+int64(i), 12345678900000+int64(i)), i)
	}
	query := "identifier=" + strings.Join(ids, ",") + "&ncrnd=1700000000123"
	if l, ok := findMarker(query, DefaultIdentifier); !ok || len(l.Elements) != 10 {
		b.Fatalf("bad fixture: %v %d", ok, len(l.Elements))
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(query)))
	for b.Loop() {
		rpxSinkIDList, _ = findMarker(query, DefaultIdentifier)
	}
}

// Two generated cursors that differ in the last of their 24 digits.
func BenchmarkCursorCompare(b *testing.B) {
	x := formatGeneratedCursor(1_700_000_000, 12345678900000)
	y := formatGeneratedCursor(1_700_000_000, 12345678900001)
	b.ReportAllocs()
	for b.Loop() {
		rpxSinkInt += x.Compare(y)
	}
}

// A three-entry batch, one entry under two ids (R-WAIT-13).
func BenchmarkRenderBatch(b *testing.B) {
	c1 := formatGeneratedCursor(1_700_000_000, 1)
	c2 := formatGeneratedCursor(1_700_000_000, 2)
	c3 := formatGeneratedCursor(1_700_000_000, 3)
	items := []batchItem{
		{msg: &message{data: []byte(`{"text":"third","n":3}`)}, sortCursor: c3, ids: []idCursor{{"ns_abc", c3}}},
		{msg: &message{data: []byte(`{"text":"first","n":1}`)}, sortCursor: c1, ids: []idCursor{{"ns_def", c1}, {"ns_abc", c1}}},
		{msg: &message{data: []byte("{\n\"text\":\"second\"\n}")}, sortCursor: c2, ids: []idCursor{{"ns_abc", c2}}},
	}
	b.ReportAllocs()
	for b.Loop() {
		rpxSinkBytes = renderBatch(items)
	}
	if !strings.Contains(string(rpxSinkBytes), `"first"`) {
		b.Fatal("bad render")
	}
}

// One poll's life on one id: register, a publish wakes it, release.
func BenchmarkRegisterWake(b *testing.B) {
	h, err := NewHub(b.Name(), HubOptions{ManualSweep: true})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Destruct()
	elems := []Element{{ID: "abc"}}
	data := []byte(`"payload"`)
	b.ReportAllocs()
	for b.Loop() {
		w := h.Register(elems, 0)
		h.Publish(elems, nil, data)
		<-w.Wake()
		if w.Outcome() != WaitDelivered {
			b.Fatal("not delivered")
		}
		h.Release(w, WaitCancelled)
	}
	b.StopTimer()
	// Answered polls stay in the wait-timeout wheel until their deadline.
	b.ReportMetric(float64(h.waitTimers.len()), "retained-waiters")
}

// 10,000 parked single-id polls on one channel, one publish wakes them
// all. "shared-cursor" polls listen from the same cursor (clients that
// continue from the last message); "distinct-cursors" are cursor-less
// first polls, each with its own generated cursor.
func BenchmarkFanout10k(b *testing.B) {
	const n = 10_000
	for _, shared := range []bool{true, false} {
		name := "distinct-cursors"
		if shared {
			name = "shared-cursor"
		}
		b.Run(name, func(b *testing.B) {
			h, err := NewHub(b.Name(), HubOptions{ManualSweep: true})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Destruct()
			data := []byte(`{"event":"tick"}`)
			ws := make([]*waiter, n)
			last := h.Publish([]Element{{ID: "fan"}}, nil, data).Cursor
			b.ReportAllocs()
			var elapsed time.Duration
			for b.Loop() {
				b.StopTimer()
				elems := []Element{{ID: "fan"}}
				if shared {
					elems[0].Cursor = last
				}
				for i := range ws {
					ws[i] = h.Register(elems, time.Hour)
				}
				b.StartTimer()
				start := time.Now()
				res := h.Publish([]Element{{ID: "fan"}}, nil, data)
				for _, w := range ws {
					<-w.Wake()
				}
				elapsed += time.Since(start)
				b.StopTimer()
				if res.Delivered != n {
					b.Fatalf("delivered %d of %d", res.Delivered, n)
				}
				for _, w := range ws {
					h.Release(w, WaitCancelled)
				}
				last = res.Cursor
				b.StartTimer()
			}
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}

// A publish to one id with nobody listening (queue at MAX_DATA_FOR_ID).
func BenchmarkPublishNoListeners(b *testing.B) {
	h, err := NewHub(b.Name(), HubOptions{ManualSweep: true})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Destruct()
	targets := []Element{{ID: "abc"}}
	data := []byte(`"payload"`)
	b.ReportAllocs()
	for b.Loop() {
		rpxSinkPublish = h.Publish(targets, nil, data)
	}
}
