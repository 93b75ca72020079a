package main

// Wire parsing shared by both targets: HTTP/1.x response heads, bodies
// framed by Content-Length, chunks or the connection's end, the
// Realplexor reply batch (R-WAIT-13) and the sequence numbers the
// benchmark puts into its messages. Everything works on caller-owned
// buffers, so a connection that polls thousands of times allocates
// little.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// respHead is the part of a response head the benchmark needs.
type respHead struct {
	status        int
	contentLength int64 // -1: absent
	chunked       bool
	close         bool   // Connection: close, or HTTP/1.0 without keep-alive
	cursor        string // X-Realplexor-Cursor
	lastModified  string // Nchan message id, first half
	etag          string // Nchan message id, second half
}

var errBadHead = errors.New("malformed response head")

// maxHeadBytes bounds one response head; both servers send a few hundred.
const maxHeadBytes = 16 << 10

// readHead reads a response head up to and including the empty line.
// The bufio.Reader must be at least 256 bytes; longer lines are refused.
func readHead(br *bufio.Reader, h *respHead) error {
	*h = respHead{contentLength: -1}
	line, err := br.ReadSlice('\n')
	if err != nil {
		if err == bufio.ErrBufferFull {
			return errBadHead
		}
		return err // io.EOF before any byte: the server closed an idle connection
	}
	total := len(line)
	line = trimEOL(line)
	// HTTP/1.1 200 OK
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return fmt.Errorf("%w: status line %q", errBadHead, clip(line))
	}
	http10 := line[7] == '0'
	st, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return fmt.Errorf("%w: status %q", errBadHead, clip(line))
	}
	h.status = st
	keepAlive := false
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			if err == bufio.ErrBufferFull {
				return errBadHead
			}
			return err
		}
		total += len(line)
		if total > maxHeadBytes {
			return fmt.Errorf("%w: head over %d bytes", errBadHead, maxHeadBytes)
		}
		line = trimEOL(line)
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return fmt.Errorf("%w: header line %q", errBadHead, clip(line))
		}
		name := line[:colon]
		value := bytes.TrimSpace(line[colon+1:])
		switch {
		case asciiEqualFold(name, "content-length"):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("%w: Content-Length %q", errBadHead, clip(value))
			}
			h.contentLength = n
		case asciiEqualFold(name, "transfer-encoding"):
			if bytes.Contains(bytes.ToLower(value), []byte("chunked")) {
				h.chunked = true
			}
		case asciiEqualFold(name, "connection"):
			v := bytes.ToLower(value)
			if bytes.Contains(v, []byte("close")) {
				h.close = true
			}
			if bytes.Contains(v, []byte("keep-alive")) {
				keepAlive = true
			}
		case asciiEqualFold(name, "x-realplexor-cursor"):
			h.cursor = string(value)
		case asciiEqualFold(name, "last-modified"):
			h.lastModified = string(value)
		case asciiEqualFold(name, "etag"):
			h.etag = string(value)
		}
	}
	if http10 && !keepAlive {
		h.close = true
	}
	if h.chunked {
		h.contentLength = -1
	}
	return nil
}

// readBody appends the body that follows h to dst. A body without a
// length or chunks lasts until the connection closes. limit bounds it.
func readBody(br *bufio.Reader, h *respHead, dst []byte, limit int) ([]byte, error) {
	switch {
	case h.chunked:
		return readChunked(br, dst, limit)
	case h.contentLength >= 0:
		if h.contentLength > int64(limit) {
			return dst, fmt.Errorf("body of %d bytes over the %d limit", h.contentLength, limit)
		}
		return readN(br, dst, int(h.contentLength))
	default:
		return readToEOF(br, dst, limit)
	}
}

func readN(br *bufio.Reader, dst []byte, n int) ([]byte, error) {
	start := len(dst)
	dst = grow(dst, n)
	_, err := io.ReadFull(br, dst[start:start+n])
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return dst[:start], err
	}
	return dst[:start+n], nil
}

// readToEOF reads until the peer closes; a clean EOF is success.
func readToEOF(br *bufio.Reader, dst []byte, limit int) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = grow(dst, 4096)
		}
		n, err := br.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst) > limit {
			return dst, fmt.Errorf("body over the %d limit", limit)
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

func readChunked(br *bufio.Reader, dst []byte, limit int) ([]byte, error) {
	for {
		size, err := readChunkSize(br)
		if err != nil {
			return dst, err
		}
		if size == 0 {
			// Trailer section, ended by an empty line.
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					if err == io.EOF {
						err = io.ErrUnexpectedEOF
					}
					return dst, err
				}
				if len(trimEOL(line)) == 0 {
					return dst, nil
				}
			}
		}
		if len(dst)+size > limit {
			return dst, fmt.Errorf("body over the %d limit", limit)
		}
		if dst, err = readChunkData(br, dst, size); err != nil {
			return dst, err
		}
	}
}

// readChunk appends one chunk of a chunked body (not the last, empty one)
// of at most limit bytes to dst.
func readChunk(br *bufio.Reader, dst []byte, limit int) ([]byte, error) {
	size, err := readChunkSize(br)
	if err != nil {
		return dst, err
	}
	if size == 0 || size > limit {
		return dst, fmt.Errorf("chunk of %d bytes, want 1 to %d", size, limit)
	}
	return readChunkData(br, dst, size)
}

// readChunkSize reads a chunk's size line.
func readChunkSize(br *bufio.Reader) (int, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, err
	}
	line = trimEOL(line)
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	size, err := strconv.ParseUint(string(bytes.TrimSpace(line)), 16, 31)
	if err != nil {
		return 0, fmt.Errorf("bad chunk size %q", clip(line))
	}
	return int(size), nil
}

// readChunkData appends a chunk's size bytes and checks the CRLF after.
func readChunkData(br *bufio.Reader, dst []byte, size int) ([]byte, error) {
	dst, err := readN(br, dst, size)
	if err != nil {
		return dst, err
	}
	crlf, err := br.ReadSlice('\n')
	if err != nil || len(trimEOL(crlf)) != 0 {
		return dst, fmt.Errorf("chunk not followed by CRLF")
	}
	return dst, nil
}

// grow makes room for n more bytes after len(b).
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), 2*cap(b)+n)
	copy(nb, b)
	return nb
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// prelude is what a parked Realplexor poll receives right after the head
// (R-WAIT-7); after WAIT_TIMEOUT it is the whole body.
var prelude = []byte(" \r\n")

// batchEntry is one element of a Realplexor reply: the ids (with their
// cursors) the message was published to that this poll listens to, and
// the published JSON verbatim. The slices point into the parsed body.
type batchEntry struct {
	ids  []idCursor
	data []byte
}

type idCursor struct {
	id, cursor []byte
}

// parseBatch parses a WAIT reply body after the prelude:
//
//	[
//	  { "ids": { "<id>": "<cursor>", … }, "data": <JSON> },
//	  …
//	]
//
// An empty (or all-blank) body is a timeout: no entries. out and its
// ids slices are reused.
func parseBatch(b []byte, out []batchEntry) ([]batchEntry, error) {
	out = out[:0]
	p := &scanner{b: b}
	p.ws()
	if p.i == len(b) {
		return out, nil
	}
	if !p.eat('[') {
		return out, p.errf("batch does not start with [")
	}
	p.ws()
	if p.eat(']') {
		return out, p.end()
	}
	for {
		p.ws()
		if !p.eat('{') {
			return out, p.errf("entry is not an object")
		}
		var e batchEntry
		if len(out) < cap(out) {
			e.ids = out[:len(out)+1][len(out)].ids[:0]
		}
		haveData := false
		p.ws()
		if !p.eat('}') {
			for {
				p.ws()
				key, err := p.str()
				if err != nil {
					return out, err
				}
				p.ws()
				if !p.eat(':') {
					return out, p.errf("missing : after key")
				}
				p.ws()
				switch string(key) {
				case "ids":
					if e.ids, err = p.idsObject(e.ids); err != nil {
						return out, err
					}
				case "data":
					start := p.i
					if err := p.skipValue(); err != nil {
						return out, err
					}
					e.data = b[start:p.i]
					haveData = true
				default:
					if err := p.skipValue(); err != nil {
						return out, err
					}
				}
				p.ws()
				if p.eat(',') {
					continue
				}
				if p.eat('}') {
					break
				}
				return out, p.errf("expected , or } in entry")
			}
		}
		if !haveData || len(e.ids) == 0 {
			return out, p.errf("entry without ids or data")
		}
		out = append(out, e)
		p.ws()
		if p.eat(',') {
			continue
		}
		if p.eat(']') {
			return out, p.end()
		}
		return out, p.errf("expected , or ] after entry")
	}
}

// cursorFor returns the cursor of id in e, or nil.
func (e *batchEntry) cursorFor(id string) []byte {
	for _, ic := range e.ids {
		if string(ic.id) == id {
			return ic.cursor
		}
	}
	return nil
}

type scanner struct {
	b []byte
	i int
}

func (p *scanner) errf(msg string) error {
	lo := p.i - 20
	if lo < 0 {
		lo = 0
	}
	hi := p.i + 20
	if hi > len(p.b) {
		hi = len(p.b)
	}
	return fmt.Errorf("batch: %s at byte %d near %q", msg, p.i, p.b[lo:hi])
}

func (p *scanner) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

func (p *scanner) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *scanner) end() error {
	p.ws()
	if p.i != len(p.b) {
		return p.errf("bytes after the batch")
	}
	return nil
}

// str reads a JSON string and returns its raw contents (escapes kept:
// ids and cursors never contain any).
func (p *scanner) str() ([]byte, error) {
	if !p.eat('"') {
		return nil, p.errf("expected a string")
	}
	start := p.i
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case '\\':
			p.i += 2
		case '"':
			s := p.b[start:p.i]
			p.i++
			return s, nil
		default:
			p.i++
		}
	}
	return nil, p.errf("unterminated string")
}

func (p *scanner) idsObject(dst []idCursor) ([]idCursor, error) {
	dst = dst[:0]
	if !p.eat('{') {
		return dst, p.errf("ids is not an object")
	}
	p.ws()
	if p.eat('}') {
		return dst, nil
	}
	for {
		p.ws()
		id, err := p.str()
		if err != nil {
			return dst, err
		}
		p.ws()
		if !p.eat(':') {
			return dst, p.errf("missing : in ids")
		}
		p.ws()
		cur, err := p.str()
		if err != nil {
			return dst, err
		}
		dst = append(dst, idCursor{id: id, cursor: cur})
		p.ws()
		if p.eat(',') {
			continue
		}
		if p.eat('}') {
			return dst, nil
		}
		return dst, p.errf("expected , or } in ids")
	}
}

// skipValue skips one JSON value (not validated beyond its structure).
func (p *scanner) skipValue() error {
	if p.i >= len(p.b) {
		return p.errf("missing value")
	}
	switch p.b[p.i] {
	case '"':
		_, err := p.str()
		return err
	case '{', '[':
		depth := 0
		for p.i < len(p.b) {
			switch p.b[p.i] {
			case '"':
				if _, err := p.str(); err != nil {
					return err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					p.i++
					return nil
				}
			}
			p.i++
		}
		return p.errf("unterminated value")
	default:
		start := p.i
		for p.i < len(p.b) {
			switch p.b[p.i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				if p.i == start {
					return p.errf("missing value")
				}
				return nil
			}
			p.i++
		}
		if p.i == start {
			return p.errf("missing value")
		}
		return nil
	}
}

// The benchmark's messages are {"seq":N,...}; seqOf finds N.
var seqKey = []byte(`"seq":`)

func seqOf(data []byte) (int64, bool) { return intAfter(data, seqKey) }

// intAfter parses the integer following key (spaces skipped).
func intAfter(b, key []byte) (int64, bool) {
	i := bytes.Index(b, key)
	if i < 0 {
		return 0, false
	}
	i += len(key)
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	var n int64
	digits := 0
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		n = n*10 + int64(b[i]-'0')
		i++
		digits++
	}
	return n, digits > 0
}

// message builds a benchmark message of at least size bytes:
// {"seq":N,"p":"xxx…"}.
func message(dst []byte, seq int64, size int) []byte {
	dst = append(dst[:0], `{"seq":`...)
	dst = strconv.AppendInt(dst, seq, 10)
	if pad := size - len(dst) - len(`,"p":""}`); pad > 0 {
		dst = append(dst, `,"p":"`...)
		for j := 0; j < pad; j++ {
			dst = append(dst, 'x')
		}
		dst = append(dst, '"')
	}
	return append(dst, '}')
}
