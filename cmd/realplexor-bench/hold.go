package main

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// runHold parks n polls over the channels, measures the server's memory
// per parked poll and its CPU while saturated, and probes the IN line.
func runHold(b *bench) map[string]any {
	res := map[string]any{}
	before := sampleProcs(b.pids)
	if len(b.pids) > 0 && !before.ok {
		logf("warning: some -pid processes are unreadable")
	}

	var parked, failed, dropped, woken atomic.Int64
	var errs errCounter
	subs := make([]*sub, b.n)
	sem := make(chan struct{}, b.conc)
	var wg sync.WaitGroup
	var stopping atomic.Bool
	t0 := time.Now()
	var lastParkNs atomic.Int64

	for i := 0; i < b.n; i++ {
		s := newSub(b, i, b.channelName(i%b.channels))
		subs[i] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			err := s.armRetrying(3, 50*time.Millisecond, stopping.Load)
			<-sem
			if err != nil {
				if !stopping.Load() {
					errs.add(err)
				}
				failed.Add(1)
				return
			}
			parked.Add(1)
			lastParkNs.Store(int64(time.Since(t0)))
			// Parked: anything now, before the end, is a server-side event.
			n, err := s.await(func([]byte, time.Time) {})
			if stopping.Load() {
				return
			}
			if n > 0 {
				woken.Add(1)
			} else {
				if err != nil {
					errs.add(err)
				}
				dropped.Add(1)
			}
		}()
	}

	// Wait until every client has parked or failed.
	tick := time.NewTicker(time.Second)
	for {
		p, f := parked.Load(), failed.Load()
		if p+f >= int64(b.n) || b.expired() {
			break
		}
		select {
		case <-tick.C:
			logf("hold: parked %d, failed %d of %d", p, f, b.n)
		case <-time.After(20 * time.Millisecond):
		}
	}
	tick.Stop()
	parkDur := time.Duration(lastParkNs.Load())
	logf("hold: %d parked, %d failed in %.2fs", parked.Load(), failed.Load(), parkDur.Seconds())

	if b.target == targetNchan && b.statusPath != "" {
		g := &getter{b: b}
		v, _, err := waitNchanParked(g, parked.Load()-dropped.Load(), 10*time.Second, 50*time.Millisecond)
		g.close()
		if err != nil {
			errs.add(err)
		} else {
			res["server_subscribers"] = v
		}
	}
	time.Sleep(settleTime)
	after := sampleProcs(b.pids)

	// Saturated: sample the server's CPU over the hold while probing the
	// publish line at a low rate on a channel nobody listens to.
	var pubOK, pubFail int64
	var pubLat []float64
	pubDone := make(chan struct{})
	holdStop := make(chan struct{})
	go func() {
		defer close(pubDone)
		if b.holdPubHz == 0 || b.hold == 0 {
			return
		}
		p := newPub(b)
		defer p.close()
		msg := message(nil, 1, b.msgSize)
		interval := time.Second / time.Duration(b.holdPubHz)
		t := time.NewTicker(interval)
		defer t.Stop()
		for seq := int64(1); ; seq++ {
			select {
			case <-holdStop:
				return
			case <-t.C:
			}
			msg = message(msg, seq, b.msgSize)
			st := time.Now()
			if err := p.publish(b.prefix+"_probe", msg); err != nil {
				pubFail++
				errs.add(err)
			} else {
				pubOK++
				pubLat = append(pubLat, ms(time.Since(st)))
			}
		}
	}()
	c0, c1 := holdWindow(b, res)
	close(holdStop)
	<-pubDone
	stillParked := parked.Load() - dropped.Load() - woken.Load()
	logf("hold: held %.1fs, %d still parked, %d dropped, %d woken", c1.at.Sub(c0.at).Seconds(), stillParked, dropped.Load(), woken.Load())

	stopping.Store(true)
	for _, s := range subs {
		s.stop()
	}
	waitGroupTimeout(&wg, 10*time.Second)

	res["parked"] = parked.Load()
	res["failed"] = failed.Load()
	res["dropped_while_held"] = dropped.Load()
	res["woken_while_held"] = woken.Load()
	res["still_parked_at_end"] = stillParked
	addHoldResults(b, res, parkDur, parked.Load(), before, after, c0, c1)
	if b.holdPubHz > 0 {
		sort.Float64s(pubLat)
		res["hold_pub_ok"] = pubOK
		res["hold_pub_fail"] = pubFail
		res["hold_pub_p50_ms"] = round3(percentile(pubLat, 50))
		res["hold_pub_p99_ms"] = round3(percentile(pubLat, 99))
	}
	if e := errs.snapshot(); len(e) > 0 {
		res["errors"] = e
	}
	return res
}

// holdWindow keeps the polls parked for -hold (within the run's deadline)
// and samples the server over that window.
func holdWindow(b *bench, res map[string]any) (start, end procSample) {
	win := openWindow(b.pids)
	holdEnd := time.Now().Add(b.hold)
	if holdEnd.After(b.deadline) {
		holdEnd = b.deadline
	}
	time.Sleep(time.Until(holdEnd))
	return win.server, win.close(b.pids, res)
}

// addHoldResults adds the memory per parked poll (before: the server
// before any poll; after: with all parked) and the CPU while holding.
func addHoldResults(b *bench, res map[string]any, parkDur time.Duration, parked int64, before, after, c0, c1 procSample) {
	res["park_s"] = round3(parkDur.Seconds())
	res["hold_s"] = round3(c1.at.Sub(c0.at).Seconds())
	if len(b.pids) == 0 {
		return
	}
	res["rss_before_kb"] = before.rssKB
	res["rss_after_kb"] = after.rssKB
	res["rss_end_kb"] = c1.rssKB
	res["pss_before_kb"] = before.pssKB
	res["pss_after_kb"] = after.pssKB
	res["server_fds"] = after.fds
	if parked > 0 {
		res["rss_per_parked_kb"] = round3(float64(after.rssKB-before.rssKB) / float64(parked))
		res["pss_per_parked_kb"] = round3(float64(after.pssKB-before.pssKB) / float64(parked))
	}
	if d := c1.at.Sub(c0.at).Seconds(); d > 0 {
		res["server_cpu_pct_held"] = round1((c1.cpuSec - c0.cpuSec) / d * 100)
	}
}

func waitGroupTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		logf("warning: some connections did not finish within %s", d)
		return false
	}
}
