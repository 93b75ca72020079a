package caddyrealplexor

import (
	"strings"
)

// Element is one element of an id list (R-ID-5):
// `[ "*" ] [ cursor ":" ] id`.
type Element struct {
	ID string
	// Cursor is the zero Cursor when the element carried none (R-ID-8).
	Cursor Cursor
	// Limiter marks a starred element (R-ID-7).
	Limiter bool
}

// IDList is what follows the identifier marker (R-ID-3).
type IDList struct {
	// HasCreds is set when the optional `LOGIN:PASSWORD@` part was present (R-ID-6).
	HasCreds bool
	Login    string
	Password string
	// Elements keeps the valid elements in request order, duplicates
	// included (R-ID-9); invalid ones are silently dropped (R-ID-5).
	Elements []Element
}

// findMarker looks for the first `<identifier>=` marker in s that matches
// the whole R-ID-3 pattern and parses what follows it. The end of s counts
// as a terminator (R-ID-4): callers pass one complete source at a time (a
// raw query string, a header value, a request body), the way R-PORT-2
// approximates the original's raw-buffer scan.
func findMarker(s, identifier string) (IDList, bool) {
	for from := 0; from < len(s); {
		i := strings.Index(s[from:], identifier)
		if i < 0 {
			return IDList{}, false
		}
		start := from + i
		afterName := start + len(identifier)
		from = start + 1
		// A word boundary before the name, so `xidentifier=` does not match.
		if start > 0 && isWordByte(s[start-1]) {
			continue
		}
		if afterName >= len(s) || s[afterName] != '=' {
			continue
		}
		return parseMarkerValue(s[afterName+1:]), true
	}
	return IDList{}, false
}

// parseMarkerValue parses `[LOGIN:PASSWORD@]list` up to the first character
// outside the list alphabet.
func parseMarkerValue(v string) IDList {
	var l IDList
	// LOGIN is a run of word characters followed by ':'; PASSWORD runs to
	// the first '@' or whitespace and must end at '@' and be non-empty.
	// Otherwise there are no credentials and the same bytes are the list:
	// `10:abc,def&x` is a list, `10:abc&x=y@z` is login 10, password abc&x=y.
	login := 0
	for login < len(v) && isWordByte(v[login]) {
		login++
	}
	if login > 0 && login < len(v) && v[login] == ':' {
		p := login + 1
		for p < len(v) && v[p] != '@' && !isPerlSpace(v[p]) {
			p++
		}
		if p > login+1 && p < len(v) && v[p] == '@' {
			l.HasCreds, l.Login, l.Password = true, v[:login], v[login+1:p]
			v = v[p+1:]
		}
	}
	end := 0
	for end < len(v) && isListByte(v[end]) {
		end++
	}
	l.Elements = parseElements(v[:end])
	return l
}

// parseElements splits a list on ',' and keeps the elements that match the
// R-ID-5 grammar exactly.
func parseElements(list string) []Element {
	if list == "" {
		return nil
	}
	elems := make([]Element, 0, strings.Count(list, ",")+1)
	for list != "" {
		var item string
		if i := strings.IndexByte(list, ','); i >= 0 {
			item, list = list[:i], list[i+1:]
		} else {
			item, list = list, ""
		}
		if e, ok := parseElement(item); ok {
			elems = append(elems, e)
		}
	}
	return elems
}

func parseElement(item string) (Element, bool) {
	var e Element
	if strings.HasPrefix(item, "*") {
		e.Limiter = true
		item = item[1:]
	}
	if i := strings.IndexByte(item, ':'); i >= 0 {
		c, ok := ParseCursor(item[:i])
		if !ok {
			return Element{}, false
		}
		e.Cursor = c
		item = item[i+1:]
	}
	if !isID(item) {
		return Element{}, false
	}
	e.ID = item
	return e, true
}

// isID reports whether s is a valid id: one or more ASCII word characters (R-GEN-3).
func isID(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isWordByte(s[i]) {
			return false
		}
	}
	return true
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// isListByte is the list alphabet of R-ID-3: word characters, `*`, `,`, `.` and `:`.
func isListByte(c byte) bool {
	return isWordByte(c) || c == '*' || c == ',' || c == '.' || c == ':'
}

// isPerlSpace matches Perl's \s, which ends a password in R-ID-3.
func isPerlSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
