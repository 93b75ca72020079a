package main

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

type roundStat struct {
	Round     int     `json:"round"`
	Expected  int64   `json:"expected"`
	Delivered int64   `json:"delivered"`
	P50       float64 `json:"p50_ms"`
	P99       float64 `json:"p99_ms"`
	Max       float64 `json:"max_ms"`
	Rearm     float64 `json:"rearm_ms"`
	Cycle     float64 `json:"cycle_ms"` // publish → all delivered and parked again
	Reconn99  float64 `json:"reconnect_p99_ms"`
	Pub       float64 `json:"publish_ms"`
}

// runFanout: n subscribers of one channel, rounds broadcasts. After each
// delivery every subscriber polls again at once from what it received
// (Realplexor: <cursor>:<id>; Nchan: the message id in the etag headers).
func runFanout(b *bench) map[string]any {
	res := map[string]any{}
	ch := b.channelName(0)
	R := b.rounds
	armAt := make([][]atomic.Int64, R+1) // ns since start; 0: not yet
	recvAt := make([][]atomic.Int64, R+1)
	for r := range armAt {
		armAt[r] = make([]atomic.Int64, b.n)
		recvAt[r] = make([]atomic.Int64, b.n)
	}
	armedFor := make([]atomic.Int64, R+1)
	delivered := make([]atomic.Int64, R+1)
	var dead, dups, polls atomic.Int64
	var stopping atomic.Bool
	var errs errCounter
	subs := make([]*sub, b.n)
	sem := make(chan struct{}, b.conc)
	var wg sync.WaitGroup

	for i := 0; i < b.n; i++ {
		s := newSub(b, i, ch)
		subs[i] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { polls.Add(int64(s.polls)) }()
			last := 0 // the highest round received
			first := true
			for !stopping.Load() {
				var err error
				if first {
					sem <- struct{}{} // only the initial stampede is throttled
				}
				err = s.armRetrying(5, 20*time.Millisecond, stopping.Load)
				if first {
					<-sem
					first = false
				}
				if err != nil {
					if !stopping.Load() {
						errs.add(err)
						dead.Add(1)
					}
					return
				}
				if armAt[last][s.idx].CompareAndSwap(0, int64(b.since())) {
					armedFor[last].Add(1)
				}
				_, err = s.await(func(data []byte, at time.Time) {
					seq, ok := seqOf(data)
					if !ok || seq < 1 || seq > int64(R) {
						return
					}
					if recvAt[seq][s.idx].CompareAndSwap(0, int64(at.Sub(b.start))) {
						delivered[seq].Add(1)
					} else {
						dups.Add(1)
					}
					if int(seq) > last {
						last = int(seq)
					}
				})
				if err != nil && err != errRearm && !stopping.Load() {
					errs.add(err)
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}

	alive := func() int64 { return int64(b.n) - dead.Load() }
	waitFor := func(what string, cond func() bool, limit time.Duration) bool {
		end := time.Now().Add(limit)
		nextLog := time.Now().Add(time.Second)
		for !cond() {
			if time.Now().After(end) || b.expired() {
				logf("fanout: gave up waiting for %s", what)
				return false
			}
			if time.Now().After(nextLog) {
				logf("fanout: waiting for %s", what)
				nextLog = time.Now().Add(time.Second)
			}
			time.Sleep(200 * time.Microsecond)
		}
		return true
	}

	initialLimit := b.roundTO + time.Duration(b.n/500)*time.Second
	parkStart := time.Now()
	waitFor("the initial park", func() bool { return armedFor[0].Load() >= alive() }, initialLimit)
	if b.target == targetNchan && b.statusPath != "" {
		// Nchan answers nothing before a message: let its own count
		// confirm the initial park (bounded: its counters can lag).
		g := &getter{b: b}
		if _, _, err := waitNchanParked(g, alive(), 5*time.Second, 20*time.Millisecond); err != nil {
			errs.add(err)
		}
		g.close()
	}
	logf("fanout: %d parked in %.2fs", armedFor[0].Load(), time.Since(parkStart).Seconds())
	res["park_s"] = round3(time.Since(parkStart).Seconds())

	win := openWindow(b.pids)
	cpu0 := win.server
	p := newPub(b)
	defer p.close()
	var msg []byte
	var rounds []roundStat
	var totalExp, totalDel int64
	for r := 1; r <= R && !b.expired(); r++ {
		expected := armedFor[r-1].Load()
		if a := alive(); a < expected {
			expected = a
		}
		msg = message(msg, int64(r), b.msgSize)
		t0 := b.since()
		err := p.publish(ch, msg)
		pubMs := ms(b.since() - t0)
		if err != nil {
			errs.add(err)
			logf("fanout: round %d publish failed: %v", r, err)
		}
		waitFor("deliveries", func() bool { return delivered[r].Load() >= expected }, b.roundTO)
		got := delivered[r].Load()
		waitFor("the re-arm", func() bool { return armedFor[r].Load() >= delivered[r].Load()-dead.Load() }, b.roundTO)

		var lats, reconn []float64
		var lastRecv, lastArm int64
		for i := 0; i < b.n; i++ {
			rv := recvAt[r][i].Load()
			if rv == 0 {
				continue
			}
			lats = append(lats, ms(time.Duration(rv)-t0))
			lastRecv = max(lastRecv, rv)
			if av := armAt[r][i].Load(); av != 0 {
				reconn = append(reconn, ms(time.Duration(av-rv)))
				lastArm = max(lastArm, av)
			}
		}
		sort.Float64s(lats)
		sort.Float64s(reconn)
		st := roundStat{
			Round: r, Expected: expected, Delivered: got,
			P50: round3(percentile(lats, 50)), P99: round3(percentile(lats, 99)),
			Max:      round3(percentile(lats, 100)),
			Reconn99: round3(percentile(reconn, 99)),
			Pub:      round3(pubMs),
		}
		rearmEnd := time.Duration(lastArm)
		if lastArm > 0 {
			st.Rearm = round3(ms(rearmEnd - time.Duration(lastRecv)))
			st.Cycle = round3(ms(rearmEnd - t0))
		}
		rounds = append(rounds, st)
		totalExp += expected
		totalDel += got
		logf("fanout: round %d: %d/%d delivered, p50 %.1f ms, p99 %.1f ms, max %.1f ms, re-arm %.1f ms",
			r, got, expected, st.P50, st.P99, st.Max, st.Rearm)
	}
	cpu1 := win.close(b.pids, res)
	stopping.Store(true)
	for _, s := range subs {
		s.stop()
	}
	waitGroupTimeout(&wg, 10*time.Second)

	var p50s, p99s, rearms, cycles []float64
	var maxLat, worstP99, maxRearm float64
	for _, st := range rounds {
		p50s = append(p50s, st.P50)
		p99s = append(p99s, st.P99)
		rearms = append(rearms, st.Rearm)
		cycles = append(cycles, st.Cycle)
		maxLat = max(maxLat, st.Max)
		worstP99 = max(worstP99, st.P99)
		maxRearm = max(maxRearm, st.Rearm)
	}
	res["rounds"] = len(rounds)
	res["expected"] = totalExp
	res["delivered"] = totalDel
	if want := int64(b.n) * int64(b.rounds); want > 0 {
		res["delivered_pct"] = round3(float64(totalDel) / float64(want) * 100)
	}
	if len(rounds) > 0 {
		res["round1_p50_ms"] = rounds[0].P50
		res["round1_p99_ms"] = rounds[0].P99
	}
	res["p50_ms"] = round3(median(p50s))
	res["p99_ms"] = round3(median(p99s))
	res["p99_worst_ms"] = worstP99
	res["max_ms"] = maxLat
	res["rearm_ms"] = round3(median(rearms))
	res["rearm_max_ms"] = maxRearm
	res["cycle_ms"] = round3(median(cycles))
	res["duplicates"] = dups.Load()
	res["dead_subscribers"] = dead.Load()
	res["polls"] = polls.Load()
	res["per_round"] = rounds
	if len(b.pids) > 0 && cpu0.ok && cpu1.ok {
		res["server_cpu_s"] = round3(cpu1.cpuSec - cpu0.cpuSec)
		res["rss_end_kb"] = cpu1.rssKB
	}
	if b.target == targetNchan {
		// Nchan's channel subscriber count was tried as a server-side
		// confirmation and dropped: with two workers it stuck below n for
		// seconds in some runs and never dropped between rounds in others,
		// and polling it cost both sides CPU inside the measurement.
		res["rearm_measured_by"] = "client: next poll written on the kept-alive connection (Nchan sends nothing before a message)"
	} else {
		res["rearm_measured_by"] = "client: head and prelude of the next poll received"
	}
	if e := errs.snapshot(); len(e) > 0 {
		res["errors"] = e
	}
	return res
}
