package caddyrealplexor

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rpxClock is an injected clock for hub, generator and wheel tests. The
// rpx prefix keeps the helpers of these files apart from other test files
// of the package.
type rpxClock struct {
	mu sync.Mutex
	t  time.Time
}

// rpxBase is a tick-aligned instant, so deadlines land on wheel slots and
// generated cursors have 10 integer digits (25 characters, R-CUR-3).
var rpxBase = time.Unix(1_700_000_000, 0)

func newRpxClock() *rpxClock { return &rpxClock{t: rpxBase} }

func (c *rpxClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *rpxClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *rpxClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// rpxGeneratedRE is the R-CUR-3 text form of a generated cursor.
var rpxGeneratedRE = regexp.MustCompile(`^\d+\.\d{14}$`)

// R-ID-5: cursor = 1*DIGIT [ "." 1*DIGIT ]; no sign, no exponent, no
// leading or trailing dot. Accepted text is kept verbatim (R-CUR-5).
func TestCursorParse(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"0", true},
		{"10", true},
		{"1.5", true},
		{"010", true},
		{"10.0", true},
		{"0.000", true},
		{"12345.678", true},
		{"1389709561.12346000700000", true},
		{strings.Repeat("9", 30) + "." + strings.Repeat("1", 33), true}, // 64 characters
		{"", false},
		{"10.", false},
		{".5", false},
		{".", false},
		{"-5", false},
		{"+5", false},
		{"1e3", false},
		{"1E3", false},
		{"1.2.3", false},
		{"1..2", false},
		{" 5", false},
		{"5 ", false},
		{"abc", false},
		{"1,5", false},
		{"0x10", false},
		{"\u0661", false}, // ARABIC-INDIC DIGIT ONE is not an ASCII digit
	} {
		c, ok := ParseCursor(tc.in)
		if ok != tc.ok {
			t.Errorf("ParseCursor(%q) ok = %v, want %v", tc.in, ok, tc.ok)
			continue
		}
		if !ok {
			if !c.IsZero() {
				t.Errorf("ParseCursor(%q) rejected but returned non-zero %q", tc.in, c)
			}
			continue
		}
		if c.String() != tc.in {
			t.Errorf("ParseCursor(%q).String() = %q, want the text verbatim (R-CUR-5)", tc.in, c.String())
		}
		if c.IsZero() {
			t.Errorf("ParseCursor(%q) IsZero", tc.in)
		}
	}
}

func TestCursorMustCursorPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("MustCursor(\"10.\") did not panic")
		}
	}()
	MustCursor("10.")
}

// R-CUR-2: cursors compare numerically and exactly.
func TestCursorCompare(t *testing.T) {
	gen := func(sec, frac int64) string { return formatGeneratedCursor(sec, frac).String() }
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"10", "10.0", 0},
		{"10", "010", 0},
		{"010", "10.0", 0},
		{"10.0", "10.000", 0},
		{"0", "0.000", 0},
		{"0", "00", 0},
		{"1.5", "1.50", 0},
		{"0.1", "0.12", -1},
		{"0.12", "0.1", 1},
		{"0.09", "0.1", -1},
		{"1.05", "1.5", -1},
		{"9", "10", -1},
		{"09", "10", -1},
		{"10", "9.99999", 1},
		{"100", "99.999", 1},
		{"0.5", "1", -1},
		{"0.0001", "0", 1},
		{"5", "6", -1},
		{"12345.678", "12345.6779999", 1},
		// Generated cursors 1e-14 apart: 24 significant digits (R-CUR-2).
		{gen(1389709561, 12346000700000), gen(1389709561, 12346000700001), -1},
		{gen(1700000000, 99999999999999), gen(1700000001, 0), -1},
		{"1389709561.12346000700000", "1389709561.123460007", 0},
		// The shared number line (R-CUR-1, R-CUR-7).
		{"9999999999", gen(1700000000, 12345678900000), 1},
		{"10", gen(1700000000, 0), -1},
	} {
		a, b := MustCursor(tc.a), MustCursor(tc.b)
		if got := a.Compare(b); got != tc.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := b.Compare(a); got != -tc.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
		if got := a.Less(b); got != (tc.want < 0) {
			t.Errorf("Less(%s, %s) = %v", tc.a, tc.b, got)
		}
		// Texts are never normalised (R-CUR-5).
		if a.String() != tc.a || b.String() != tc.b {
			t.Errorf("texts changed: %q %q", a, b)
		}
	}
}

// The reason for exact comparison (R-CUR-2): float64 cannot tell two
// consecutive generated cursors apart, Compare can.
func TestCursorCompareBeyondFloat64(t *testing.T) {
	a := formatGeneratedCursor(1389709561, 12346000700000)
	b := formatGeneratedCursor(1389709561, 12346000700001)
	fa, _ := strconv.ParseFloat(a.String(), 64)
	fb, _ := strconv.ParseFloat(b.String(), 64)
	if fa != fb {
		t.Fatalf("test premise: float64 distinguishes %s and %s", a, b)
	}
	if a.Compare(b) != -1 || b.Compare(a) != 1 || a.Compare(a) != 0 {
		t.Fatalf("Compare(%s, %s) = %d", a, b, a.Compare(b))
	}
}

// The zero Cursor (no cursor given) compares as 0.
func TestCursorZeroValue(t *testing.T) {
	var z Cursor
	if !z.IsZero() || z.String() != "" {
		t.Fatalf("zero cursor: IsZero %v, String %q", z.IsZero(), z.String())
	}
	if z.Compare(MustCursor("0")) != 0 || z.Compare(MustCursor("0.1")) != -1 || MustCursor("1").Compare(z) != 1 {
		t.Fatal("zero cursor does not compare as 0")
	}
}

// R-CUR-3, R-CUR-4, R-QUIRK-9: 14 decimals, strictly increasing under a
// frozen clock and a clock stepping back.
func TestCursorGeneratorMonotonic(t *testing.T) {
	clk := newRpxClock()
	g, err := newCursorGenerator(clk.Now, "")
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		set  time.Time // zero: keep the clock
		want string
	}{
		{rpxBase, "1700000000.00000000000000"},
		{time.Time{}, "1700000000.00000000000001"}, // frozen clock
		{time.Time{}, "1700000000.00000000000002"},
		{rpxBase.Add(123456789 * time.Nanosecond), "1700000000.12345678900000"},
		{rpxBase.Add(2 * time.Second), "1700000002.00000000000000"},
		{rpxBase.Add(-5 * time.Second), "1700000002.00000000000001"}, // stepped back
		{rpxBase.Add(-time.Hour), "1700000002.00000000000002"},
		{rpxBase.Add(2*time.Second + time.Nanosecond), "1700000002.00000000100000"},
		{rpxBase.Add(2 * time.Second), "1700000002.00000000100001"},
		{rpxBase.Add(3*time.Second - time.Nanosecond), "1700000002.99999999900000"},
	}
	var prev Cursor
	for i, s := range steps {
		if !s.set.IsZero() {
			clk.Set(s.set)
		}
		c := g.Next()
		if c.String() != s.want {
			t.Errorf("step %d: Next() = %s, want %s", i, c, s.want)
		}
		if !rpxGeneratedRE.MatchString(c.String()) || len(c.String()) != 25 {
			t.Errorf("step %d: %q is not the 25-character 14-decimal form", i, c)
		}
		if i > 0 && !prev.Less(c) {
			t.Errorf("step %d: %s is not above %s", i, c, prev)
		}
		prev = c
	}

	// Many cursors under a frozen clock stay distinct and increasing.
	for i := 0; i < 5000; i++ {
		c := g.Next()
		if !prev.Less(c) {
			t.Fatalf("after %d frozen steps: %s is not above %s", i, c, prev)
		}
		prev = c
	}
}

// The 1e-14 step carries into the seconds.
func TestCursorGeneratorFractionCarry(t *testing.T) {
	clk := newRpxClock()
	g, _ := newCursorGenerator(clk.Now, "")
	g.lastSec, g.lastFrac = 1_700_000_000, fracUnitsPerSecond-1
	if got := g.Next().String(); got != "1700000001.00000000000000" {
		t.Fatalf("Next() = %s, want 1700000001.00000000000000", got)
	}
	if got := g.Next().String(); got != "1700000001.00000000000001" {
		t.Fatalf("Next() = %s, want 1700000001.00000000000001", got)
	}
}

func TestCursorGeneratorConcurrent(t *testing.T) {
	clk := newRpxClock() // frozen: every cursor comes from the +1e-14 rule
	g, _ := newCursorGenerator(clk.Now, "")
	const workers, each = 8, 500
	out := make([][]Cursor, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				out[i] = append(out[i], g.Next())
			}
		}()
	}
	wg.Wait()
	seen := make(map[string]bool)
	for i := range out {
		for j, c := range out[i] {
			if seen[c.String()] {
				t.Fatalf("duplicate cursor %s", c)
			}
			seen[c.String()] = true
			if j > 0 && !out[i][j-1].Less(c) {
				t.Fatalf("worker %d: %s then %s", i, out[i][j-1], c)
			}
		}
	}
	if len(seen) != workers*each {
		t.Fatalf("%d distinct cursors, want %d", len(seen), workers*each)
	}
}

// R-QUIRK-9 across a restart: a generator created from the floor file of a
// previous one, with its clock set EARLIER, still returns cursors above
// every cursor the previous one returned.
func TestCursorGeneratorFloorFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dir", "cursor-floor")
	clk := newRpxClock()
	g1, err := newCursorGenerator(clk.Now, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("floor file written before any cursor was handed out")
	}
	var maxSeen Cursor
	next := func(g *cursorGenerator) Cursor {
		c := g.Next()
		if maxSeen.IsZero() || maxSeen.Less(c) {
			maxSeen = c
		}
		return c
	}
	next(g1)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("floor file not written: %v", err)
	}
	if got := string(b); got != "1700000060\n" {
		t.Fatalf("floor file %q, want %q", got, "1700000060\n")
	}
	// Advance across the reserved range: the floor moves ahead again.
	for _, d := range []time.Duration{10 * time.Second, 59 * time.Second, 61 * time.Second, 100*time.Second + 999*time.Millisecond} {
		clk.Set(rpxBase.Add(d))
		next(g1)
		next(g1)
	}
	b, _ = os.ReadFile(path)
	floor, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("floor file %q: %v", b, err)
	}
	if floor != 1_700_000_121 {
		t.Errorf("floor %d after a cursor at +61 s, want 1700000121", floor)
	}
	if err := g1.takeFloorError(); err != nil {
		t.Fatalf("floor error: %v", err)
	}
	if MustCursor(strconv.FormatInt(floor, 10)).Compare(maxSeen) <= 0 {
		t.Fatalf("floor %d is not above the newest cursor %s", floor, maxSeen)
	}
	prevMax := maxSeen

	// "Restart" with a clock an hour earlier than anything seen.
	clk2 := newRpxClock()
	clk2.Set(rpxBase.Add(-time.Hour))
	g2, err := newCursorGenerator(clk2.Now, path)
	if err != nil {
		t.Fatal(err)
	}
	var prev Cursor = prevMax
	for i := 0; i < 3; i++ {
		c := g2.Next()
		if !prev.Less(c) {
			t.Fatalf("restarted generator: cursor %d = %s, not above %s", i, c, prev)
		}
		if !rpxGeneratedRE.MatchString(c.String()) {
			t.Fatalf("restarted generator: %q is not 14-decimal", c)
		}
		prev = c
	}

	// A third generation, clock far ahead: the wall clock wins again.
	clk3 := newRpxClock()
	clk3.Set(rpxBase.Add(24 * time.Hour))
	g3, err := newCursorGenerator(clk3.Now, path)
	if err != nil {
		t.Fatal(err)
	}
	if c := g3.Next(); c.String() != "1700086400.00000000000000" || !prev.Less(c) {
		t.Fatalf("generator with a later clock: %s", c)
	}
}

func TestCursorGeneratorFloorFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("not a number\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newCursorGenerator(time.Now, bad); err == nil {
		t.Error("a floor file that is not a number was accepted")
	}
	neg := filepath.Join(dir, "neg")
	if err := os.WriteFile(neg, []byte("-5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newCursorGenerator(time.Now, neg); err == nil {
		t.Error("a negative floor was accepted")
	}

	// A floor that cannot be written is reported, and cursors still flow.
	// The floor is written through <path>.tmp; a directory there makes
	// every write fail, even for root.
	floor := filepath.Join(dir, "floor")
	if err := os.Mkdir(floor+".tmp", 0o700); err != nil {
		t.Fatal(err)
	}
	clk := newRpxClock()
	g, err := newCursorGenerator(clk.Now, floor)
	if err != nil {
		t.Fatal(err)
	}
	a, b := g.Next(), g.Next()
	if !a.Less(b) || a.String() != "1700000000.00000000000000" {
		t.Fatalf("cursors %s, %s", a, b)
	}
	if err := g.takeFloorError(); err == nil {
		t.Fatal("unwritable floor file: no error reported")
	}
	if err := g.takeFloorError(); err != nil {
		t.Fatalf("takeFloorError did not clear the error: %v", err)
	}
}
