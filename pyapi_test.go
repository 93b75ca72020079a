package caddyrealplexor

// The Python client's wire differences from the PHP one (R-PY-1): the
// body is followed by an extra `\r\n` beyond Content-Length, `cmdWatch`
// sends `watch <pos> ` with a trailing space when there are no prefixes,
// json.dumps formats with `, ` and `: ` separators, and cursors are
// checked with float(). Everything else (socket, half-close, reply
// checks, messages) is the PHP client's, so the port reuses phpClient.
//
// Assumption: like the PHP client, the Python one terminates a command
// with `\n` before its own extra `\r\n`.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
)

type pyClient struct{ phpClient }

func newTestPyClient(namespace string) *pyClient {
	return &pyClient{*newTestPHPClient(namespace)}
}

// pyJSONDumps is Python 2's json.dumps with default arguments:
// ensure_ascii (\uXXXX escapes), `, ` and `: ` separators, `/` kept.
func pyJSONDumps(data any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(data); err != nil {
		return "", err
	}
	raw := strings.TrimSuffix(buf.String(), "\n")
	var out strings.Builder
	inString, escaped := false, false
	for _, r := range raw {
		switch {
		case r >= 0x80:
			if r > 0xFFFF {
				a, b := utf16.EncodeRune(r)
				fmt.Fprintf(&out, `\u%04x\u%04x`, a, b)
			} else {
				fmt.Fprintf(&out, `\u%04x`, r)
			}
			continue
		case inString:
			switch {
			case escaped:
				escaped = false
			case r == '\\':
				escaped = true
			case r == '"':
				inString = false
			}
		case r == '"':
			inString = true
		case r == ',' || r == ':':
			out.WriteRune(r)
			out.WriteByte(' ')
			continue
		}
		out.WriteRune(r)
	}
	return out.String(), nil
}

// pySendRaw is the Python _send: the PHP bytes plus `\r\n` after the body.
func (c *pyClient) pySendRaw(list, body string) (string, error) {
	reply, err := c.exchange(c.request(list, body) + "\r\n")
	if err != nil {
		return "", err
	}
	return phpCheckReply(reply)
}

// send mirrors the PHP send, with float() as the cursor check.
func (c *pyClient) send(idsAndCursors []phpIDCursor, data any, showOnlyForIds []string) error {
	body, err := pyJSONDumps(data)
	if err != nil {
		return err
	}
	var pairs []string
	for _, ic := range idsAndCursors {
		if !phpWordRE.MatchString(ic.id) {
			return phpErrorf("Identifier must be alphanumeric, \"%s\" given", ic.id)
		}
		id := c.namespace + ic.id
		if ic.cursor == nil {
			pairs = append(pairs, id)
			continue
		}
		cur := phpString(ic.cursor)
		if _, err := strconv.ParseFloat(strings.TrimSpace(cur), 64); err != nil {
			return phpErrorf("Cursor must be numeric, \"%s\" given", cur)
		}
		pairs = append(pairs, cur+":"+id)
	}
	for _, id := range showOnlyForIds {
		pairs = append(pairs, "*"+c.namespace+id)
	}
	_, err = c.pySendRaw(strings.Join(pairs, ","), body)
	return err
}

// cmdWatch sends `watch <pos> <prefixes>`: a trailing space when there
// are none.
func (c *pyClient) cmdWatch(fromPos any, idPrefixes []string) ([]phpWatchEvent, error) {
	if phpFalsy(fromPos) {
		fromPos = 0
	}
	pos := phpString(fromPos)
	if !phpPosRE.MatchString(pos) {
		return nil, phpErrorf("Position value must be numeric, \"%s\" given", pos)
	}
	resp, err := c.pySendRaw("", "watch "+pos+" "+strings.Join(c.nsPrefixes(idPrefixes), " ")+"\n")
	if err != nil {
		return nil, err
	}
	events := []phpWatchEvent{}
	for _, line := range strings.Split(strings.TrimSpace(resp), "\n") {
		m := phpEventRE.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		id := m[3]
		if !phpFalsy(fromPos) && c.namespace != "" && strings.HasPrefix(id, c.namespace) {
			id = id[len(c.namespace):]
		}
		events = append(events, phpWatchEvent{event: m[1], pos: m[2], id: id})
	}
	return events, nil
}

// cmdOnline returns the ids of `online[ <prefixes>]`.
func (c *pyClient) cmdOnline(idPrefixes []string) ([]string, error) {
	cmd := "online"
	if p := c.nsPrefixes(idPrefixes); len(p) > 0 {
		cmd += " " + strings.Join(p, " ")
	}
	resp, err := c.pySendRaw("", cmd+"\n")
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, line := range strings.Split(resp, "\n") {
		id, _, _ := strings.Cut(line, " ")
		if id == "" {
			continue
		}
		out = append(out, strings.TrimPrefix(id, c.namespace))
	}
	return out, nil
}

func TestPythonAPISendAndWatch(t *testing.T) {
	s := startServer(t, "")
	c := newTestPyClient("")

	// The extra CRLF is beyond Content-Length: the server honours
	// Content-Length, so the message arrives intact and keeps the
	// one-line `"data": ` form (the original would store the CRLF, R-PY-1).
	p := openPoll(t, "abc")
	s.waitCounters("1/0/1/1/0")
	phpNoErr(t, "send", c.send(phpIDs("abc", "def"), "Test!", nil))
	if want := "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 7\r\nX-Realplexor: identifier=abc,def\r\n\r\n\"Test!\"\r\n"; c.lastRequest != want {
		t.Errorf("request bytes\n got %q\nwant %q", c.lastRequest, want)
	}
	phpWantPoll(t, p, batch(entryJSON(`"abc": "<cursor>"`, `"Test!"`)))
	s.waitCounters("0/2/0/1/2")

	// Structured data in json.dumps' own format, with a cursor.
	p = openPoll(t, "abc")
	s.waitCounters("1/2/1/1/2")
	phpNoErr(t, "send", c.send([]phpIDCursor{{"abc", "9999999999"}}, map[string]any{"a": []any{1, "x/y"}}, nil))
	if want := `{"a": [1, "x/y"]}` + "\r\n"; !strings.HasSuffix(c.lastRequest, "\r\n\r\n"+want) || !strings.Contains(c.lastRequest, "Content-Length: 17\r\n") {
		t.Errorf("request bytes %q", c.lastRequest)
	}
	phpWantPoll(t, p, batch(entryJSON(`"abc": "9999999999"`, `{"a": [1, "x/y"]}`)))
	s.waitCounters("0/2/0/1/2")

	// `watch 0 ` with its trailing space: the FAKE line (R-CMD-7). Only
	// abc came online (position 10), so the next position is 11.
	ev, err := c.cmdWatch(0, nil)
	phpNoErr(t, "cmdWatch(0)", err)
	if want := "\r\n\r\nwatch 0 \n\r\n"; !strings.HasSuffix(c.lastRequest, want) || !strings.Contains(c.lastRequest, "Content-Length: 9\r\n") {
		t.Errorf("request bytes %q", c.lastRequest)
	}
	if want := []phpWatchEvent{{"FAKE", "11", "FAKE"}}; !reflect.DeepEqual(ev, want) {
		t.Errorf("cmdWatch(0) = %v, want %v", ev, want)
	}
	ev, err = c.cmdWatch(1, nil)
	phpNoErr(t, "cmdWatch(1)", err)
	if !strings.HasSuffix(c.lastRequest, "\r\n\r\nwatch 1 \n\r\n") {
		t.Errorf("request bytes %q", c.lastRequest)
	}
	if want := []phpWatchEvent{{"online", "10", "abc"}}; !reflect.DeepEqual(ev, want) {
		t.Errorf("cmdWatch(1) = %v, want %v", ev, want)
	}

	// ONLINE with the extra CRLF: abc is in its grace period.
	ids, err := c.cmdOnline(nil)
	phpNoErr(t, "cmdOnline", err)
	if want := []string{"abc"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("cmdOnline() = %q, want %q", ids, want)
	}
	s.waitCounters("0/2/0/1/2")
}
