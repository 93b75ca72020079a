package redisstore

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

// The Lua helpers, run by Redis through EVAL.

func evalLib(t *testing.T, body string, keys []string, args ...any) *redis.Cmd {
	t.Helper()
	s := newStore(t)
	return s.client.Eval(testCtx(t), luaLib+body, keys, args...)
}

func TestLuaCmp(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	cases := []struct {
		a, b string
		want int64
	}{
		{"10", "10.0", 0},
		{"10", "010", 0},
		{"010", "10.0", 0},
		{"10.000", "0010", 0},
		{"0", "0.000", 0},
		{"00", "0", 0},
		{"1.10", "1.1", 0},
		{"0.1", "0.12", -1},
		{"0.12", "0.1", 1},
		{"0.0001", "0.001", -1},
		{"2", "10", -1}, // length of the integer part first
		{"10", "9", 1},
		{"100", "99.99", 1},
		{"9.99999999999999", "10", -1},
		{"0.9", "1", -1},
		{"1", "0.99999999999999999999", 1},
		// 24 significant digits, 1e-14 apart: float64 cannot tell them apart.
		{"1389709561.12345600000001", "1389709561.12345600000002", -1},
		{"1389709561.12345600000002", "1389709561.12345600000001", 1},
		{"1389709561.12345600000001", "1389709561.123456000000010", 0},
		{"1700000000.99999999999999", "1700000001.00000000000000", -1},
		{"9999999999.99999999999999", "10000000000", -1},
		{"15", "15", 0},
	}
	for _, c := range cases {
		got, err := s.client.Eval(ctx, luaLib+"return cmp(ARGV[1], ARGV[2])", nil, c.a, c.b).Int64()
		if err != nil {
			t.Fatalf("cmp(%s, %s): %v", c.a, c.b, err)
		}
		if got != c.want {
			t.Errorf("cmp(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestLuaCmpRejectsNonCursors(t *testing.T) {
	for _, bad := range []string{"", "1.", ".5", "1.2.3", "-1", "1e5", "abc"} {
		if err := evalLib(t, "return cmp(ARGV[1], '1')", nil, bad).Err(); err == nil {
			t.Errorf("cmp(%q, 1) did not fail", bad)
		}
	}
}

func TestLuaIsCursor(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	for in, want := range map[string]bool{
		"0": true, "010": true, "1.5": true, "1389709561.12346000700000": true,
		"": false, "1.": false, ".1": false, "1..2": false, "+1": false, "1 ": false, "١": false,
	} {
		got, err := s.client.Eval(ctx, luaLib+"if is_cursor(ARGV[1]) then return 1 end return 0", nil, in).Int64()
		if err != nil {
			t.Fatal(err)
		}
		if (got == 1) != want {
			t.Errorf("is_cursor(%q) = %d, want %v", in, got, want)
		}
		if validCursor(in) != want {
			t.Errorf("validCursor(%q) = %v, want %v", in, !want, want)
		}
	}
}

func TestLuaBump(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	for in, want := range map[string]string{
		"1700000000.12345600000000": "1700000000.12345600000001",
		"1700000000.00000000000009": "1700000000.00000000000010",
		"1700000000.99999999999999": "1700000001.00000000000000",
		"9999999999.99999999999999": "10000000000.00000000000000",
		"0.00000000000000":          "0.00000000000001",
	} {
		got, err := s.client.Eval(ctx, luaLib+"return bump(ARGV[1])", nil, in).Text()
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("bump(%s) = %s, want %s", in, got, want)
		}
	}
}
