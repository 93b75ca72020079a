package main

// Server-side confirmation of parked subscribers for Nchan, which sends
// nothing to a long-poll before a message: nchan_stub_status counts all
// subscribers (bounded waits only: with two workers the count can lag).

import (
	"bufio"
	"fmt"
	"net"
	"time"
)

// getter issues GETs on one kept-alive connection to the -in address.
type getter struct {
	b    *bench
	conn net.Conn
	br   *bufio.Reader
	head respHead
	body []byte
}

func (g *getter) close() {
	if g.conn != nil {
		g.conn.Close()
		g.conn = nil
	}
}

func (g *getter) get(path, accept string) (int, []byte, error) {
	for attempt := 0; ; attempt++ {
		st, body, err := g.getOnce(path, accept)
		if err == nil || attempt > 0 {
			return st, body, err
		}
	}
}

func (g *getter) getOnce(path, accept string) (int, []byte, error) {
	if g.conn == nil {
		c, err := g.b.dialer.dial(g.b.inAddr, 0, false)
		if err != nil {
			return 0, nil, err
		}
		g.conn = c
		g.br = reuseReader(g.br, c)
	}
	_ = g.conn.SetDeadline(g.b.requestDeadline())
	req := "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	if accept != "" {
		req += "Accept: " + accept + "\r\n"
	}
	req += "\r\n"
	if _, err := g.conn.Write([]byte(req)); err != nil {
		g.close()
		return 0, nil, err
	}
	if err := readHead(g.br, &g.head); err != nil {
		g.close()
		return 0, nil, err
	}
	var err error
	g.body, err = readBody(g.br, &g.head, g.body[:0], 1<<20)
	if err != nil || g.head.close || (g.head.contentLength < 0 && !g.head.chunked) {
		g.close()
	}
	return g.head.status, g.body, err
}

// nchanTotalSubscribers reads "subscribers: N" from nchan_stub_status.
func (g *getter) nchanTotalSubscribers() (int64, error) {
	if g.b.statusPath == "" {
		return 0, fmt.Errorf("-nchan-status is off")
	}
	st, body, err := g.get(g.b.statusPath, "")
	if err != nil {
		return 0, err
	}
	if st != 200 {
		return 0, fmt.Errorf("%s answered %d", g.b.statusPath, st)
	}
	v, ok := intAfter(body, []byte("\nsubscribers:"))
	if !ok {
		return 0, fmt.Errorf("no subscribers line in %s", g.b.statusPath)
	}
	return v, nil
}

// waitNchanParked polls the stub status until at least want subscribers
// are counted or the wait ends; it returns the last count and when it
// was reached.
func waitNchanParked(g *getter, want int64, wait time.Duration, poll time.Duration) (int64, time.Time, error) {
	end := time.Now().Add(wait)
	var last int64 = -1
	for {
		v, err := g.nchanTotalSubscribers()
		now := time.Now()
		if err != nil {
			return last, now, err
		}
		last = v
		if v >= want || now.After(end) {
			return v, now, nil
		}
		time.Sleep(poll)
	}
}
