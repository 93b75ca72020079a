package caddyrealplexor

import (
	"strconv"
	"strings"
)

// Cursor is an exact, non-negative decimal number (R-CUR-1).
//
// Cursors are compared numerically and exactly (R-CUR-2): generated cursors
// carry 24 significant digits, which float64 cannot hold, so a Cursor keeps
// the text it was written with and compares it as digit strings aligned on
// the decimal point. The text is echoed verbatim in WAIT replies (R-CUR-5),
// so `010` stays `010` even though it equals `10`.
type Cursor struct {
	text string
	// text[intStart:intEnd] is the integer part without leading zeros and
	// text[intEnd+1:fracEnd] the fraction without trailing zeros; both may be
	// empty ("0" and "0.000" are all-empty).
	intStart, intEnd, fracEnd int32
}

// ParseCursor parses `1*DIGIT [ "." 1*DIGIT ]` (R-ID-5): no sign, no
// exponent, no leading or trailing dot.
func ParseCursor(s string) (Cursor, bool) {
	if s == "" || len(s) > maxCursorLen {
		return Cursor{}, false
	}
	dot := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
		case c == '.' && dot < 0 && i > 0 && i < len(s)-1:
			dot = i
		default:
			return Cursor{}, false
		}
	}
	intEnd, fracEnd := len(s), len(s)
	if dot >= 0 {
		intEnd = dot
	}
	intStart := 0
	for intStart < intEnd && s[intStart] == '0' {
		intStart++
	}
	if dot >= 0 {
		for fracEnd > dot+1 && s[fracEnd-1] == '0' {
			fracEnd--
		}
	} else {
		// No fraction: make text[intEnd+1:fracEnd] empty without reading past the end.
		fracEnd = intEnd + 1
	}
	return Cursor{text: s, intStart: int32(intStart), intEnd: int32(intEnd), fracEnd: int32(fracEnd)}, true
}

// maxCursorLen bounds a cursor's text. The spec sets no limit; 64 digits is
// far beyond any real cursor and keeps comparisons cheap.
const maxCursorLen = 64

// MustCursor parses s and panics if it is not a cursor; for constants and tests.
func MustCursor(s string) Cursor {
	c, ok := ParseCursor(s)
	if !ok {
		panic("caddyrealplexor: invalid cursor " + s)
	}
	return c
}

// String returns the cursor as it was written.
func (c Cursor) String() string { return c.text }

// IsZero reports whether c is the zero Cursor value (not parsed from text).
func (c Cursor) IsZero() bool { return c.text == "" }

func (c Cursor) intPart() string { return c.text[c.intStart:c.intEnd] }

func (c Cursor) fracPart() string {
	if int(c.intEnd)+1 >= int(c.fracEnd) {
		return ""
	}
	return c.text[c.intEnd+1 : c.fracEnd]
}

// Compare returns -1, 0 or +1 as c is numerically less than, equal to or
// greater than d. The zero Cursor compares as 0.
func (c Cursor) Compare(d Cursor) int {
	ci, di := c.intPart(), d.intPart()
	if len(ci) != len(di) {
		if len(ci) < len(di) {
			return -1
		}
		return 1
	}
	if r := strings.Compare(ci, di); r != 0 {
		return r
	}
	// Without trailing zeros, fractions compare as plain strings: a proper
	// prefix is the smaller number (0.1 < 0.12).
	return strings.Compare(c.fracPart(), d.fracPart())
}

// Less reports whether c < d numerically.
func (c Cursor) Less(d Cursor) bool { return c.Compare(d) < 0 }

// floorInt64 returns the integer part of c, if it fits an int64.
func (c Cursor) floorInt64() (int64, bool) {
	ip := c.intPart()
	if ip == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(ip, 10, 64)
	return n, err == nil
}
