package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// runHoldH2 is hold over TLS and HTTP/2 (Realplexor only): n polls as
// streams spread over -h2-conns connections, as browsers multiplex their
// polls. HTTP/2 streams cannot be taken over like HTTP/1.1 connections,
// so each parked poll keeps its handler; this measures what that costs.
// The server's certificate is not verified (a loopback test server with
// Caddy's internal CA).
func runHoldH2(b *bench) map[string]any {
	res := map[string]any{}
	before := sampleProcs(b.pids)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	conns := min(b.h2Conns, b.n)
	transports := make([]*http2.Transport, conns)
	for i := range transports {
		transports[i] = &http2.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}, //nolint:gosec // loopback test server
			DialTLSContext: func(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
				c, err := b.dialer.dial(addr, i, true)
				if err != nil {
					return nil, err
				}
				tc := tls.Client(c, cfg)
				if err := tc.HandshakeContext(ctx); err != nil {
					c.Close()
					return nil, err
				}
				return tc, nil
			},
		}
	}
	defer func() {
		for _, t := range transports {
			t.CloseIdleConnections()
		}
	}()

	var parked, failed atomic.Int64
	var errs errCounter
	var wg sync.WaitGroup
	sem := make(chan struct{}, b.conc)
	bodies := make([]io.ReadCloser, b.n)
	t0 := time.Now()
	var lastParkNs atomic.Int64
	for i := 0; i < b.n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			url := fmt.Sprintf("https://%s/?identifier=%s", b.waitAddr, b.channelName(i%b.channels))
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				errs.add(err)
				failed.Add(1)
				return
			}
			resp, err := transports[i%conns].RoundTrip(req)
			if err != nil {
				errs.add(err)
				failed.Add(1)
				return
			}
			pre := make([]byte, len(prelude))
			if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
				err = fmt.Errorf("WAIT answered %s over %s", resp.Status, resp.Proto)
			} else if _, err = io.ReadFull(resp.Body, pre); err == nil && string(pre) != string(prelude) {
				err = fmt.Errorf("prelude %q", pre)
			}
			if err != nil {
				resp.Body.Close()
				errs.add(err)
				failed.Add(1)
				return
			}
			bodies[i] = resp.Body
			parked.Add(1)
			lastParkNs.Store(int64(time.Since(t0)))
		}()
	}
	wg.Wait()
	parkDur := time.Duration(lastParkNs.Load())
	logf("hold-h2: %d parked, %d failed over %d connections in %.2fs", parked.Load(), failed.Load(), conns, parkDur.Seconds())

	time.Sleep(settleTime)
	after := sampleProcs(b.pids)
	c0, c1 := holdWindow(b, res)

	cancel()
	for _, body := range bodies {
		if body != nil {
			body.Close()
		}
	}

	res["parked"] = parked.Load()
	res["failed"] = failed.Load()
	res["h2_connections"] = conns
	addHoldResults(b, res, parkDur, parked.Load(), before, after, c0, c1)
	if e := errs.snapshot(); len(e) > 0 {
		res["errors"] = e
	}
	return res
}
