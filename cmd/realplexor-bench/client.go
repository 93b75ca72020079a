package main

// Raw-socket clients of both targets. One subscriber is one goroutine
// with one connection at a time, a small bufio.Reader and reused buffers.
//
//   Realplexor WAIT: a fresh connection per poll (the original protocol),
//   GET /?identifier=[<cursor>:]<id>; parked once the head and the " \r\n"
//   prelude are in; the reply lasts until the server closes. With
//   -poll-keepalive the poll says "Connection: keep-alive", as browsers
//   do, and the next poll reuses the connection when the reply was framed
//   (chunks, the prelude the first one, or Content-Length).
//   Nchan long-poll: one keep-alive connection, GET /sub/<id> with
//   If-Modified-Since / If-None-Match from the previous reply; one message
//   per reply, framed by Content-Length (or chunks).
//
//   Realplexor IN: the PHP client's bytes on a fresh connection, then a
//   half-close and a read to EOF; or (-keepalive) the same request on a
//   kept-alive connection. Nchan: POST /pub/<id>, kept alive or with
//   Connection: close.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"
)

const (
	targetRealplexor = "realplexor"
	targetNchan      = "nchan"

	readBufSize  = 2048
	maxReplySize = 8 << 20
)

var errStopped = errors.New("stopped")

// dialer spreads connections over source addresses.
type dialer struct {
	bySource []*net.Dialer // empty: the kernel picks (127.0.0.1)
	plain    *net.Dialer
	deadline time.Time
}

func newDialer(sources []net.IP, deadline time.Time) *dialer {
	d := &dialer{plain: &net.Dialer{Timeout: 10 * time.Second}, deadline: deadline}
	for _, ip := range sources {
		d.bySource = append(d.bySource, &net.Dialer{
			Timeout:   10 * time.Second,
			LocalAddr: &net.TCPAddr{IP: ip},
			Control:   bindControl,
		})
	}
	return d
}

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT (Linux 4.2+): the local
// port is chosen at connect time, per destination, so one source address
// gives a whole ephemeral range per server port. SO_REUSEADDR lets the
// bind share ports with this client's own TIME_WAIT sockets.
const ipBindAddressNoPort = 24

func bindControl(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
	if err != nil {
		return err
	}
	if serr != nil && serr != syscall.ENOPROTOOPT {
		return serr
	}
	return nil
}

// dial connects client number i (which picks its source address).
func (d *dialer) dial(addr string, i int, spread bool) (net.Conn, error) {
	nd := d.plain
	if spread && len(d.bySource) > 0 {
		nd = d.bySource[i%len(d.bySource)]
	}
	c, err := nd.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(d.deadline)
	return c, nil
}

// sub is one subscriber.
type sub struct {
	b   *bench
	idx int
	ch  string

	mu      sync.Mutex
	conn    net.Conn
	stopped bool

	br      *bufio.Reader
	req     []byte
	body    []byte
	entries []batchEntry
	head    respHead
	pre     [3]byte

	left     int64  // Realplexor: body bytes still due after the prelude (Content-Length), or -1
	cursor   string // Realplexor: where the next poll continues
	lm, etag string // Nchan: the last message id
	polls    int
	reused   bool // Nchan: the request went out on a kept-alive connection
}

func newSub(b *bench, idx int, ch string) *sub {
	return &sub{b: b, idx: idx, ch: ch}
}

func (s *sub) setConn(c net.Conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		c.Close()
		return errStopped
	}
	s.conn = c
	s.br = reuseReader(s.br, c)
	return nil
}

func (s *sub) dropConn() {
	s.mu.Lock()
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	s.mu.Unlock()
}

func (s *sub) stop() {
	s.mu.Lock()
	s.stopped = true
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	s.mu.Unlock()
}

func (s *sub) isStopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}

func (s *sub) currentConn() net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

// reuseReader points br at c, or makes one for it.
func reuseReader(br *bufio.Reader, c net.Conn) *bufio.Reader {
	if br == nil {
		return bufio.NewReaderSize(c, readBufSize)
	}
	br.Reset(c)
	return br
}

// armRetrying arms, retrying with doubling pauses from pause, at most
// attempts times, until it parks or stop says the run is over.
func (s *sub) armRetrying(attempts int, pause time.Duration, stop func() bool) error {
	var err error
	for attempt := 0; attempt < attempts; attempt++ {
		if err = s.arm(); err == nil || s.isStopped() || stop() {
			break
		}
		time.Sleep(pause << attempt)
	}
	return err
}

// arm sends one poll and returns once it is parked: for Realplexor when
// the head and the prelude have arrived (the server has registered the
// poll), for Nchan when the request is written (Nchan answers nothing
// before a message).
func (s *sub) arm() error {
	if s.b.target == targetNchan {
		return s.armNchan()
	}
	return s.armRealplexor()
}

func (s *sub) armRealplexor() error {
	for attempt := 0; ; attempt++ {
		c := s.currentConn()
		reused := c != nil
		if !s.b.pollKeep || c == nil {
			s.dropConn()
			nc, err := s.b.dialer.dial(s.b.waitAddr, s.idx, true)
			if err != nil {
				return err
			}
			if err := s.setConn(nc); err != nil {
				return err
			}
			c, reused = nc, false
		}
		err := s.pollRealplexor(c)
		if err == nil {
			return nil
		}
		s.dropConn()
		// A kept-alive connection the server closed between polls: the
		// request meets a reset or an EOF; poll again on a new one.
		if !reused || attempt > 0 || !(errors.Is(err, io.EOF) || isReset(err)) {
			return err
		}
	}
}

// pollRealplexor sends one poll on c and reads up to the prelude.
func (s *sub) pollRealplexor(c net.Conn) error {
	s.req = append(s.req[:0], "GET /?identifier="...)
	if s.cursor != "" {
		s.req = append(s.req, s.cursor...)
		s.req = append(s.req, ':')
	}
	s.req = append(s.req, s.ch...)
	s.req = append(s.req, " HTTP/1.1\r\nHost: "...)
	s.req = append(s.req, s.b.waitAddr...)
	if s.b.pollKeep {
		s.req = append(s.req, "\r\nConnection: keep-alive"...)
	}
	s.req = append(s.req, "\r\n\r\n"...)
	s.polls++
	if _, err := c.Write(s.req); err != nil {
		return err
	}
	if err := readHead(s.br, &s.head); err != nil {
		return err
	}
	if s.head.status != 200 {
		body, _ := readBody(s.br, &s.head, s.body[:0], 4096)
		return fmt.Errorf("WAIT answered %d: %s", s.head.status, clip(body))
	}
	if s.cursor == "" && s.head.cursor != "" {
		// The cursor this poll listens from: continuing from it after an
		// empty reply misses nothing.
		s.cursor = s.head.cursor
	}
	var err error
	if s.head.chunked {
		s.body, err = readChunk(s.br, s.body[:0], len(prelude))
		copy(s.pre[:], s.body)
	} else {
		_, err = io.ReadFull(s.br, s.pre[:])
	}
	if err != nil {
		return fmt.Errorf("prelude: %w", err)
	}
	if string(s.pre[:]) != string(prelude) {
		return fmt.Errorf("prelude %q, want %q", s.pre[:], prelude)
	}
	s.left = -1
	if s.head.contentLength >= 0 {
		s.left = s.head.contentLength - int64(len(prelude))
	}
	return nil
}

func (s *sub) armNchan() error {
	for attempt := 0; ; attempt++ {
		c := s.currentConn()
		s.reused = c != nil
		if c == nil {
			nc, err := s.b.dialer.dial(s.b.waitAddr, s.idx, true)
			if err != nil {
				return err
			}
			if err := s.setConn(nc); err != nil {
				return err
			}
			c = nc
		}
		s.req = append(s.req[:0], "GET /sub/"...)
		s.req = append(s.req, s.ch...)
		s.req = append(s.req, " HTTP/1.1\r\nHost: "...)
		s.req = append(s.req, s.b.waitAddr...)
		s.req = append(s.req, "\r\n"...)
		if s.lm != "" {
			s.req = append(s.req, "If-Modified-Since: "...)
			s.req = append(s.req, s.lm...)
			s.req = append(s.req, "\r\n"...)
		}
		if s.etag != "" {
			s.req = append(s.req, "If-None-Match: "...)
			s.req = append(s.req, s.etag...)
			s.req = append(s.req, "\r\n"...)
		}
		s.req = append(s.req, "\r\n"...)
		s.polls++
		_, err := c.Write(s.req)
		if err == nil {
			return nil
		}
		s.dropConn()
		if !s.reused || attempt > 0 {
			return err
		}
	}
}

// await reads the reply of an armed poll and calls onMsg for each message
// it carries, with the time the reply was complete. Zero messages: a
// timeout reply. For Nchan a kept-alive connection that the server closed
// before answering returns errRearm: arm again.
func (s *sub) await(onMsg func(data []byte, at time.Time)) (int, error) {
	if s.b.target == targetNchan {
		return s.awaitNchan(onMsg)
	}
	return s.awaitRealplexor(onMsg)
}

var errRearm = errors.New("connection closed by the server between polls; re-arm")

func (s *sub) awaitRealplexor(onMsg func([]byte, time.Time)) (int, error) {
	var err error
	framed := true
	switch {
	case s.head.chunked:
		s.body, err = readChunked(s.br, s.body[:0], maxReplySize)
	case s.left >= 0 && s.left <= maxReplySize:
		s.body, err = readN(s.br, s.body[:0], int(s.left))
	default:
		framed = false
		s.body, err = readToEOF(s.br, s.body[:0], maxReplySize)
	}
	at := time.Now()
	if err != nil || !framed || s.head.close || !s.b.pollKeep {
		s.dropConn()
	}
	if err != nil {
		return 0, err
	}
	s.entries, err = parseBatch(s.body, s.entries)
	if err != nil {
		return 0, err
	}
	for i := range s.entries {
		e := &s.entries[i]
		if c := e.cursorFor(s.ch); c != nil && string(c) != s.cursor {
			s.cursor = string(c)
		}
		onMsg(e.data, at)
	}
	return len(s.entries), nil
}

func (s *sub) awaitNchan(onMsg func([]byte, time.Time)) (int, error) {
	if err := readHead(s.br, &s.head); err != nil {
		s.dropConn()
		if s.reused && (err == io.EOF || isReset(err)) {
			return 0, errRearm
		}
		return 0, err
	}
	var err error
	s.body, err = readBody(s.br, &s.head, s.body[:0], maxReplySize)
	at := time.Now()
	if err != nil {
		s.dropConn()
		return 0, err
	}
	if s.head.close || (s.head.contentLength < 0 && !s.head.chunked) {
		s.dropConn()
	}
	switch s.head.status {
	case 200:
		if s.head.lastModified != "" {
			s.lm = s.head.lastModified
		}
		if s.head.etag != "" {
			s.etag = s.head.etag
		}
		onMsg(s.body, at)
		return 1, nil
	case 304, 408: // no message: poll again from the same id
		return 0, nil
	default:
		return 0, fmt.Errorf("subscriber answered %d: %s", s.head.status, clip(s.body))
	}
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// pub is one publisher.
type pub struct {
	b    *bench
	conn net.Conn
	br   *bufio.Reader
	req  []byte
	body []byte
	head respHead
}

func newPub(b *bench) *pub { return &pub{b: b} }

func (p *pub) close() {
	if p.conn != nil {
		p.conn.Close()
		p.conn = nil
	}
}

// publish sends msg to channel ch and waits for the whole reply.
func (p *pub) publish(ch string, msg []byte) error {
	for attempt := 0; ; attempt++ {
		reused := p.conn != nil
		err := p.publishOnce(ch, msg)
		if err == nil || !reused || attempt > 0 {
			return err
		}
		if err != io.EOF && !isReset(err) {
			return err
		}
		// A kept-alive connection the server had closed: once more.
	}
}

type statusError struct {
	status int
	body   string
}

func (e statusError) Error() string {
	return fmt.Sprintf("publish answered %d: %s", e.status, e.body)
}

func (p *pub) publishOnce(ch string, msg []byte) error {
	keep := p.b.keepalive
	if p.conn == nil {
		c, err := p.b.dialer.dial(p.b.inAddr, 0, false)
		if err != nil {
			return err
		}
		p.conn = c
		p.br = reuseReader(p.br, c)
	}
	_ = p.conn.SetDeadline(p.b.requestDeadline())
	p.req = p.req[:0]
	if p.b.target == targetNchan {
		p.req = append(p.req, "POST /pub/"...)
		p.req = append(p.req, ch...)
		p.req = append(p.req, " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "...)
		p.req = strconv.AppendInt(p.req, int64(len(msg)), 10)
		p.req = append(p.req, "\r\n"...)
		if !keep {
			p.req = append(p.req, "Connection: close\r\n"...)
		}
		p.req = append(p.req, "\r\n"...)
	} else {
		// Dklab_Realplexor::_send, byte for byte.
		p.req = append(p.req, "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "...)
		p.req = strconv.AppendInt(p.req, int64(len(msg)), 10)
		p.req = append(p.req, "\r\nX-Realplexor: identifier="...)
		p.req = append(p.req, ch...)
		p.req = append(p.req, "\r\n\r\n"...)
	}
	p.req = append(p.req, msg...)
	if _, err := p.conn.Write(p.req); err != nil {
		p.close()
		return err
	}
	if !keep && p.b.target == targetRealplexor {
		if tc, ok := p.conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}
	if err := readHead(p.br, &p.head); err != nil {
		p.close()
		return err
	}
	var err error
	if !keep || p.head.close {
		// The PHP client reads to EOF whatever the framing.
		p.body, err = readToEOF(p.br, p.body[:0], maxReplySize)
		if err == nil && p.head.contentLength >= 0 && int64(len(p.body)) < p.head.contentLength {
			err = io.ErrUnexpectedEOF
		}
		p.close()
	} else {
		p.body, err = readBody(p.br, &p.head, p.body[:0], maxReplySize)
		if err != nil || p.head.contentLength < 0 && !p.head.chunked {
			p.close()
		}
	}
	if err != nil {
		return err
	}
	if p.head.status < 200 || p.head.status > 299 {
		return statusError{p.head.status, clip(p.body)}
	}
	return nil
}
