package caddyrealplexor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// fracUnitsPerSecond: generated cursors carry exactly 14 fractional digits
// (R-CUR-3), so one unit is 1e-14 s.
const fracUnitsPerSecond = 100_000_000_000_000

// cursorReserveAhead is how far beyond the newest generated cursor the
// persisted floor is written. It bounds the floor-file writes to one per
// interval, and after a restart new cursors start above it.
const cursorReserveAhead = 60 // seconds

// cursorGenerator hands out the server's cursors: Unix time in seconds with
// 14 decimals, strictly increasing (R-QUIRK-9 fixed), including across a
// process restart when a floor file is configured: before any cursor in a
// given second range is handed out, a floor above it is persisted, and a
// restarted generator never goes at or below that floor even if the wall
// clock stepped back.
type cursorGenerator struct {
	mu          sync.Mutex
	now         func() time.Time
	lastSec     int64
	lastFrac    int64 // in 1e-14 s units
	floorPath   string
	reservedSec int64 // cursors below reservedSec.0 are covered by the floor file
	floorErr    error // last error writing the floor file, reported by the hub
}

func newCursorGenerator(now func() time.Time, floorPath string) (*cursorGenerator, error) {
	g := &cursorGenerator{now: now, floorPath: floorPath}
	if floorPath == "" {
		return g, nil
	}
	b, err := os.ReadFile(floorPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("reading cursor floor %s: %w", floorPath, err)
	default:
		sec, perr := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if perr != nil || sec < 0 {
			return nil, fmt.Errorf("cursor floor %s: not a number of seconds: %q", floorPath, b)
		}
		// Every cursor handed out by the previous process is below sec.0,
		// so starting at sec.0 keeps the sequence strictly increasing.
		g.lastSec, g.reservedSec = sec, sec
	}
	return g, nil
}

// Next returns a new cursor, strictly greater than every cursor this
// generator (or the process that wrote its floor file) returned before.
func (g *cursorGenerator) Next() Cursor {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.now()
	sec, frac := t.Unix(), int64(t.Nanosecond())*(fracUnitsPerSecond/1_000_000_000)
	if sec < g.lastSec || (sec == g.lastSec && frac <= g.lastFrac) {
		sec, frac = g.lastSec, g.lastFrac+1
		if frac == fracUnitsPerSecond {
			sec, frac = sec+1, 0
		}
	}
	g.lastSec, g.lastFrac = sec, frac
	if g.floorPath != "" && sec >= g.reservedSec {
		g.reserve(sec + cursorReserveAhead)
	}
	return formatGeneratedCursor(sec, frac)
}

// reserve persists a new floor. A failed write is remembered (and the
// cursor still handed out): losing the guarantee across a restart is better
// than refusing every publish because a disk is full.
func (g *cursorGenerator) reserve(sec int64) {
	dir := filepath.Dir(g.floorPath)
	tmp := g.floorPath + ".tmp"
	err := os.MkdirAll(dir, 0o700)
	if err == nil {
		err = os.WriteFile(tmp, []byte(strconv.FormatInt(sec, 10)+"\n"), 0o600)
	}
	if err == nil {
		err = os.Rename(tmp, g.floorPath)
	}
	g.floorErr = err
	if err == nil {
		g.reservedSec = sec
	}
}

// takeFloorError returns and clears the last floor-file error.
func (g *cursorGenerator) takeFloorError() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	err := g.floorErr
	g.floorErr = nil
	return err
}

func formatGeneratedCursor(sec, frac int64) Cursor {
	buf := make([]byte, 0, 26)
	buf = strconv.AppendInt(buf, sec, 10)
	buf = append(buf, '.')
	var digits [14]byte
	for i := 13; i >= 0; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	buf = append(buf, digits[:]...)
	c, _ := ParseCursor(string(buf))
	return c
}
