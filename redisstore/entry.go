package redisstore

import (
	"errors"
	"strconv"
	"strings"
)

// Entry is one message stored under one id.
type Entry struct {
	ID string
	// Cursor is the entry's cursor as text: a publisher's cursor verbatim,
	// or a generated "<sec>.<14 digits>".
	Cursor string
	// MsgID is the message identity, shared by every entry of one publish.
	MsgID    int64
	Limiters []string // nil when the message has none
	Data     []byte
}

// decodeEntry parses `<cursor> <msgid> <limiters|->\n<data>`.
func decodeEntry(id, s string) (Entry, error) {
	nl := strings.IndexByte(s, '\n')
	if nl < 0 {
		return Entry{}, errors.New("entry without a header line")
	}
	head := s[:nl]
	sp1 := strings.IndexByte(head, ' ')
	if sp1 < 0 {
		return Entry{}, errors.New("entry header without a message id")
	}
	sp2 := strings.IndexByte(head[sp1+1:], ' ')
	if sp2 < 0 {
		return Entry{}, errors.New("entry header without limiters")
	}
	sp2 += sp1 + 1
	cursor, lim := head[:sp1], head[sp2+1:]
	if !validCursor(cursor) {
		return Entry{}, errors.New("entry with an invalid cursor")
	}
	msgID, err := strconv.ParseInt(head[sp1+1:sp2], 10, 64)
	if err != nil {
		return Entry{}, errors.New("entry with an invalid message id")
	}
	e := Entry{ID: id, Cursor: cursor, MsgID: msgID, Data: []byte(s[nl+1:])}
	if lim != "-" && lim != "" {
		e.Limiters = strings.Split(lim, ",")
	}
	return e, nil
}

// maxCursorLen matches the hub's bound on a cursor's text.
const maxCursorLen = 64

// validCursor reports whether s is `1*DIGIT [ "." 1*DIGIT ]` (R-ID-5).
func validCursor(s string) bool {
	if s == "" || len(s) > maxCursorLen {
		return false
	}
	dot := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
		case c == '.' && dot < 0 && i > 0 && i < len(s)-1:
			dot = i
		default:
			return false
		}
	}
	return true
}

// validLimiter rejects what the entry encoding cannot carry.
func validLimiter(s string) bool {
	return s != "" && s != "-" && !strings.ContainsAny(s, ", \n")
}
