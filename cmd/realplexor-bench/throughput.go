package main

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// seqCheck verifies one subscriber's stream: every acknowledged sequence
// number once, in order.
type seqCheck struct {
	seen      []bool
	last      int64
	got       int64
	dups      int64
	reordered int64
	lastSeen  atomic.Int64 // for the drain: highest seq so far
}

func (v *seqCheck) add(seq int64) {
	if seq < 1 {
		return
	}
	for int64(len(v.seen)) <= seq {
		v.seen = append(v.seen, make([]bool, len(v.seen)+64)...)
	}
	v.got++
	if v.seen[seq] {
		v.dups++
		return
	}
	v.seen[seq] = true
	if seq < v.last {
		v.reordered++
	} else {
		v.last = seq
		v.lastSeen.Store(seq)
	}
}

// chanPub is what the publishers know about one channel; each channel
// has exactly one publisher, so its sequence is totally ordered.
type chanPub struct {
	next     int64
	acked    []bool // by seq
	maxAcked atomic.Int64
}

// runThroughput: n subscribers on the channels (one each by default),
// reconnecting from their cursor after each reply; publishers publish
// sequence-numbered messages round-robin over their own channels for the
// duration.
func runThroughput(b *bench) map[string]any {
	res := map[string]any{}
	C := b.channels
	P := min(b.publishers, C)
	subs := make([]*sub, b.n)
	checks := make([]*seqCheck, b.n)
	chans := make([]*chanPub, C)
	for c := range chans {
		chans[c] = &chanPub{}
	}
	var armed0, delivered, dead, polls atomic.Int64
	var measuring, stopping atomic.Bool
	var errs errCounter
	sem := make(chan struct{}, b.conc)
	var wg sync.WaitGroup

	for i := 0; i < b.n; i++ {
		s := newSub(b, i, b.channelName(i%C))
		v := &seqCheck{}
		subs[i], checks[i] = s, v
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { polls.Add(int64(s.polls)) }()
			first := true
			onMsg := func(data []byte, _ time.Time) {
				if seq, ok := seqOf(data); ok {
					v.add(seq)
					if measuring.Load() {
						delivered.Add(1)
					}
				}
			}
			for !stopping.Load() {
				if first {
					sem <- struct{}{}
				}
				var err error
				err = s.armRetrying(5, 20*time.Millisecond, stopping.Load)
				if first {
					<-sem
					first = false
					if err == nil {
						armed0.Add(1)
					}
				}
				if err != nil {
					if !stopping.Load() {
						errs.add(err)
						dead.Add(1)
					}
					return
				}
				if _, err := s.await(onMsg); err != nil && err != errRearm && !stopping.Load() {
					errs.add(err)
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}

	parkStart := time.Now()
	limit := time.Now().Add(60 * time.Second)
	for armed0.Load()+dead.Load() < int64(b.n) && time.Now().Before(limit) && !b.expired() {
		time.Sleep(10 * time.Millisecond)
	}
	if b.target == targetNchan && b.statusPath != "" {
		g := &getter{b: b}
		if v, _, err := waitNchanParked(g, armed0.Load(), 10*time.Second, 20*time.Millisecond); err != nil {
			errs.add(err)
		} else {
			res["server_subscribers"] = v
		}
		g.close()
	}
	logf("throughput: %d subscribers parked in %.2fs; publishing for %s with %d publishers", armed0.Load(), time.Since(parkStart).Seconds(), b.duration, P)

	win := openWindow(b.pids)
	cpu0 := win.server
	start := time.Now()
	measuring.Store(true)
	pubEnd := start.Add(b.duration)
	if pubEnd.After(b.deadline.Add(-15 * time.Second)) {
		pubEnd = b.deadline.Add(-15 * time.Second)
	}
	lats := make([][]float64, P)
	var published, pubFailed atomic.Int64
	var pwg sync.WaitGroup
	for p := 0; p < P; p++ {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			pb := newPub(b)
			defer pb.close()
			var mine []int
			for c := p; c < C; c += P {
				mine = append(mine, c)
			}
			var msg []byte
			for k := 0; time.Now().Before(pubEnd); k++ {
				c := mine[k%len(mine)]
				cp := chans[c]
				cp.next++
				seq := cp.next
				for int64(len(cp.acked)) <= seq {
					cp.acked = append(cp.acked, make([]bool, len(cp.acked)+64)...)
				}
				msg = message(msg, seq, b.msgSize)
				t := time.Now()
				err := pb.publish(b.channelName(c), msg)
				published.Add(1)
				if err != nil {
					pubFailed.Add(1)
					errs.add(err)
					time.Sleep(time.Millisecond)
					continue
				}
				lats[p] = append(lats[p], ms(time.Since(t)))
				cp.acked[seq] = true
				cp.maxAcked.Store(seq)
			}
		}()
	}
	progress := time.NewTicker(5 * time.Second)
	pubDone := make(chan struct{})
	go func() { pwg.Wait(); close(pubDone) }()
wait:
	for {
		select {
		case <-pubDone:
			break wait
		case <-progress.C:
			logf("throughput: %d published, %d delivered", published.Load(), delivered.Load())
		}
	}
	progress.Stop()
	pubStop := time.Now()

	// Drain: until every subscriber has its channel's last acknowledged
	// message, or 10 s.
	drainLimit := pubStop.Add(10 * time.Second)
	for {
		done := true
		for i, v := range checks {
			if v.lastSeen.Load() < chans[i%C].maxAcked.Load() {
				done = false
				break
			}
		}
		if done || time.Now().After(drainLimit) || b.expired() {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	end := time.Now()
	cpu1 := win.close(b.pids, res)
	measuring.Store(false)
	stopping.Store(true)
	for _, s := range subs {
		s.stop()
	}
	waitGroupTimeout(&wg, 10*time.Second)

	var all []float64
	for _, l := range lats {
		all = append(all, l...)
	}
	sort.Float64s(all)
	var lost, dups, reord, unacked, acked int64
	for _, cp := range chans {
		for seq := int64(1); seq <= cp.next; seq++ {
			if seq < int64(len(cp.acked)) && cp.acked[seq] {
				acked++
			}
		}
	}
	for i, v := range checks {
		cp := chans[i%C]
		for seq := int64(1); seq <= cp.next; seq++ {
			isAcked := seq < int64(len(cp.acked)) && cp.acked[seq]
			isSeen := seq < int64(len(v.seen)) && v.seen[seq]
			switch {
			case isAcked && !isSeen:
				lost++
			case !isAcked && isSeen:
				unacked++
			}
		}
		dups += v.dups
		reord += v.reordered
	}
	window := end.Sub(start).Seconds()
	d := delivered.Load()
	res["publishers"] = P
	res["duration_s"] = round3(pubStop.Sub(start).Seconds())
	res["drain_s"] = round3(end.Sub(pubStop).Seconds())
	res["published"] = published.Load()
	res["acked"] = acked
	res["publish_errors"] = pubFailed.Load()
	res["published_per_s"] = round1(float64(acked) / pubStop.Sub(start).Seconds())
	res["delivered"] = d
	res["delivered_per_s"] = round1(float64(d) / window)
	res["pub_p50_ms"] = round3(percentile(all, 50))
	res["pub_p99_ms"] = round3(percentile(all, 99))
	res["pub_max_ms"] = round3(percentile(all, 100))
	res["lost"] = lost
	res["duplicates"] = dups
	res["reordered"] = reord
	res["delivered_unacked"] = unacked
	res["dead_subscribers"] = dead.Load()
	res["polls"] = polls.Load()
	if p := polls.Load(); p > 0 {
		res["msgs_per_poll"] = round3(float64(d) / float64(p))
	}
	if len(b.pids) > 0 && cpu0.ok && cpu1.ok {
		cpu := cpu1.cpuSec - cpu0.cpuSec
		res["server_cpu_s"] = round3(cpu)
		res["server_cpu_pct"] = round1(cpu / window * 100)
		if d > 0 {
			res["cpu_s_per_1000"] = round3(cpu / float64(d) * 1000)
		}
		res["rss_end_kb"] = cpu1.rssKB
	}
	if e := errs.snapshot(); len(e) > 0 {
		res["errors"] = e
	}
	logf("throughput: %d delivered (%.0f/s), lost %d, duplicates %d, reordered %d", d, float64(d)/window, lost, dups, reord)
	return res
}
