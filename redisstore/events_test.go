package redisstore

import (
	"fmt"
	"reflect"
	"testing"
)

func TestEvents(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	next, err := s.NextEventPosition(ctx)
	if err != nil || next != 10 {
		t.Fatalf("NextEventPosition before any event = %d, %v; want 10", next, err)
	}
	if evs, err := s.Events(ctx, 0); err != nil || len(evs) != 0 {
		t.Fatalf("Events(0) on an empty log = %v, %v", evs, err)
	}
	for i := 0; i < 5; i++ {
		pos, err := s.AddEvent(ctx, i%2 == 0, fmt.Sprintf("id%d", i), 3)
		if err != nil {
			t.Fatal(err)
		}
		if pos != int64(10+i) {
			t.Errorf("event %d at position %d, want %d", i, pos, 10+i)
		}
	}
	if next, _ := s.NextEventPosition(ctx); next != 15 {
		t.Errorf("NextEventPosition = %d, want 15", next)
	}
	all := []Event{{12, true, "id2"}, {13, false, "id3"}, {14, true, "id4"}}
	for _, tc := range []struct {
		after int64
		want  []Event
	}{
		{-5, all}, {0, all}, {11, all}, {12, all[1:]}, {13, all[2:]}, {14, nil}, {1000, nil},
	} {
		got, err := s.Events(ctx, tc.after)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Events(%d) = %v, want %v", tc.after, got, tc.want)
		}
	}
	// Retention is applied at each append: a larger count keeps more.
	for i := 5; i < 20; i++ {
		if _, err := s.AddEvent(ctx, true, fmt.Sprintf("id%d", i), 12); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Events(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 12 || got[0].Pos != 18 || got[11].Pos != 29 {
		t.Errorf("after 20 events with retention 12: %v (want positions 18-29)", got)
	}
	if _, err := s.AddEvent(ctx, true, "x", 0); err == nil {
		t.Error("retain 0 accepted")
	}
}

// An id with spaces survives the log's text form.
func TestEventIDWithSpaces(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	if _, err := s.AddEvent(ctx, false, "a b c", 10); err != nil {
		t.Fatal(err)
	}
	got, err := s.Events(ctx, 0)
	if err != nil || len(got) != 1 || got[0] != (Event{10, false, "a b c"}) {
		t.Errorf("Events = %v, %v", got, err)
	}
}
