package redisstore

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var generatedCursor = regexp.MustCompile(`^[0-9]{10,}\.[0-9]{14}$`)

// compareCursors is the test's own exact decimal comparison.
func compareCursors(a, b string) int {
	norm := func(s string) (string, string) {
		i, f, _ := strings.Cut(s, ".")
		return strings.TrimLeft(i, "0"), strings.TrimRight(f, "0")
	}
	ai, af := norm(a)
	bi, bf := norm(b)
	if len(ai) != len(bi) {
		if len(ai) < len(bi) {
			return -1
		}
		return 1
	}
	if c := strings.Compare(ai, bi); c != 0 {
		return c
	}
	return strings.Compare(af, bf)
}

func TestNextCursorFormatAndClock(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	before := time.Now().Unix()
	c, err := s.NextCursor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !generatedCursor.MatchString(c) {
		t.Fatalf("cursor %q is not <sec>.<14 digits>", c)
	}
	sec, _ := strconv.ParseInt(c[:strings.IndexByte(c, '.')], 10, 64)
	if sec < before-5 || sec > time.Now().Unix()+5 {
		t.Errorf("cursor %s is not near the current time %d", c, before)
	}
	stored, err := s.client.Get(ctx, s.keyCursor).Result()
	if err != nil || stored != c {
		t.Errorf("cursor key = %q, %v; want %q", stored, err, c)
	}
}

// A stored last cursor ahead of the clock (another node's clock does not
// matter, but the Redis server's may have stepped back) is continued by
// +1e-14, carrying into the seconds.
func TestNextCursorAfterFutureCursor(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	for _, tc := range []struct{ last, want string }{
		{"9999999999.99999999999999", "10000000000.00000000000000"},
		{"5000000000.00000000000041", "5000000000.00000000000042"},
	} {
		if err := s.client.Set(ctx, s.keyCursor, tc.last, 0).Err(); err != nil {
			t.Fatal(err)
		}
		got, err := s.NextCursor(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("after %s: got %s, want %s", tc.last, got, tc.want)
		}
	}
	// And a publish continues from there too.
	c, _, err := s.Publish(ctx, []Target{{ID: "a"}}, nil, []byte("x"), 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if c != "5000000000.00000000000043" {
		t.Errorf("publish cursor = %s, want 5000000000.00000000000043", c)
	}
}

// 8 goroutines × 500 publishes (and some NextCursor calls in between):
// every generated cursor has 14 decimals, all are distinct, each
// goroutine sees them strictly increase, and in the global order of
// execution (message ids come from the same script) they strictly
// increase as well.
func TestCursorMonotonicConcurrent(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	const workers, perWorker = 8, 500
	type gen struct {
		cursor string
		msgID  int64
	}
	results := make([][]gen, workers)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			id := fmt.Sprintf("w%d", w)
			for i := 0; i < perWorker; i++ {
				c, m, err := s.Publish(ctx, []Target{{ID: id}}, nil, []byte("x"), 5, time.Minute)
				if err != nil {
					errs <- err
					return
				}
				results[w] = append(results[w], gen{c, m})
				if i%50 == 0 {
					nc, err := s.NextCursor(ctx)
					if err != nil {
						errs <- err
						return
					}
					if compareCursors(nc, c) <= 0 {
						errs <- fmt.Errorf("NextCursor %s not above publish cursor %s", nc, c)
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var all []gen
	seen := make(map[string]bool)
	for w, rs := range results {
		if len(rs) != perWorker {
			t.Fatalf("worker %d: %d results", w, len(rs))
		}
		for i, r := range rs {
			if !generatedCursor.MatchString(r.cursor) {
				t.Fatalf("cursor %q is not <sec>.<14 digits>", r.cursor)
			}
			if seen[r.cursor] {
				t.Fatalf("cursor %s generated twice", r.cursor)
			}
			seen[r.cursor] = true
			if i > 0 && compareCursors(rs[i-1].cursor, r.cursor) >= 0 {
				t.Fatalf("worker %d: cursor %s after %s", w, r.cursor, rs[i-1].cursor)
			}
			all = append(all, r)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].msgID < all[j].msgID })
	for i := 1; i < len(all); i++ {
		if all[i].msgID == all[i-1].msgID {
			t.Fatalf("message id %d used twice", all[i].msgID)
		}
		if compareCursors(all[i-1].cursor, all[i].cursor) >= 0 {
			t.Fatalf("msg %d has cursor %s, not above msg %d's %s", all[i].msgID, all[i].cursor, all[i-1].msgID, all[i-1].cursor)
		}
	}
	if len(all) != workers*perWorker {
		t.Fatalf("%d cursors", len(all))
	}
}
