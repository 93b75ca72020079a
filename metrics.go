package caddyrealplexor

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics. Hot paths only add to atomic counters of the hub (hubStats);
// one collector turns them, and a scan of the hub's state for the gauges,
// into Prometheus series at scrape time. Every series is labelled by hub
// only, never by channel id or client address (unbounded cardinality).

// Protocols of parked polls, as metric label values.
const (
	protoHTTP1 = iota
	protoHTTP2
	protoHTTP3
	protoCount
)

var protoNames = [protoCount]string{"http1", "http2", "http3"}

func protoIndex(major int) int {
	switch major {
	case 2:
		return protoHTTP2
	case 3:
		return protoHTTP3
	}
	return protoHTTP1
}

// hubStats are a hub's event counters.
type hubStats struct {
	parked         [protoCount]atomic.Int64
	answered       [5]atomic.Uint64 // by WaitOutcome (index 0 unused)
	published      atomic.Uint64
	deliveries     atomic.Uint64
	deliveredBytes atomic.Uint64
	publishErrors  [3]atomic.Uint64 // bad_request, too_large, store_unavailable
	loginsRefused  atomic.Uint64
	watchEvents    atomic.Uint64
	droppedRotate  atomic.Uint64
	droppedClean   atomic.Uint64
	pollsRefused   atomic.Uint64
	handedBack     atomic.Uint64 // kept-alive poll connections given back to their server
	redisErrors    atomic.Uint64
	redisRTT       *prometheus.HistogramVec // by op; nil without Redis
}

var publishErrorReasons = [3]string{"bad_request", "too_large", "store_unavailable"}

// publishError counts a refused publish by the status it got.
func (s *hubStats) publishError(status int) {
	switch status {
	case 413:
		s.publishErrors[1].Add(1)
	case 503:
		s.publishErrors[2].Add(1)
	default:
		s.publishErrors[0].Add(1)
	}
}

// pollEnded counts an answered poll and what it delivered.
func (s *hubStats) pollEnded(w *waiter) {
	o := w.Outcome()
	if o > 0 && int(o) < len(s.answered) {
		s.answered[o].Add(1)
	}
	if o == WaitDelivered {
		s.deliveries.Add(1)
		s.deliveredBytes.Add(uint64(len(w.Batch())))
	}
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("caddy_realplexor_"+name, help, append([]string{"hub"}, labels...), nil)
}

var (
	descParked         = desc("parked_requests", "Polls parked now.", "protocol")
	descChannels       = desc("channels_buffered", "Ids with at least one buffered message.")
	descMessages       = desc("buffered_messages", "Messages buffered over all ids.")
	descBytes          = desc("buffered_bytes", "Bytes of the buffered messages.")
	descOnline         = desc("online_ids", "Online ids (listened to now or within offline_timeout).")
	descAnswered       = desc("polls_answered_total", "Polls ended, by how.", "outcome")
	descPublished      = desc("messages_published_total", "Publishes accepted.")
	descDeliveries     = desc("deliveries_total", "Polls answered with data.")
	descDeliveredBytes = desc("delivered_bytes_total", "Bytes of the replies of polls answered with data.")
	descPublishErrors  = desc("publish_errors_total", "Publishes refused, by reason.", "reason")
	descLoginsRefused  = desc("logins_refused_total", "Publish-line requests refused for their credentials.")
	descWatchEvents    = desc("watch_events_total", "Presence events logged by this node.")
	descDropped        = desc("dropped_messages_total", "Messages dropped from buffers, by reason.", "reason")
	descPollsRefused   = desc("polls_refused_total", "Polls refused because max_parked was reached.")
	descHandedBack     = desc("connections_kept_alive_total", "Connections of kept-alive HTTP/1.1 polls given back to the server for the next request after a reply.")
	descRedisReconnect = desc("redis_reconnects_total", "Reconnections of the Redis subscription.")
	descRedisErrors    = desc("redis_errors_total", "Failed Redis operations.")
)

// collector reports every hub of the process.
type collector struct{}

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descParked, descChannels, descMessages, descBytes, descOnline, descAnswered,
		descPublished, descDeliveries, descDeliveredBytes, descPublishErrors, descLoginsRefused, descWatchEvents,
		descDropped, descPollsRefused, descHandedBack, descRedisReconnect, descRedisErrors} {
		ch <- d
	}
	redisRTT.Describe(ch)
}

func (collector) Collect(ch chan<- prometheus.Metric) {
	seen := make(map[string]bool)
	hubs.Range(func(_, v any) bool {
		h := v.(*Hub)
		if seen[h.name] { // a standalone and a shared hub of one name: report one
			return true
		}
		seen[h.name] = true
		h.collect(ch)
		return true
	})
	redisRTT.Collect(ch)
}

func (h *Hub) collect(ch chan<- prometheus.Metric) {
	s, n := &h.stats, h.name
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{n}, labels...)...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{n}, labels...)...)
	}
	for p := 0; p < protoCount; p++ {
		gauge(descParked, float64(s.parked[p].Load()), protoNames[p])
	}
	c := h.Counters()
	gauge(descChannels, float64(c.WithData))
	gauge(descMessages, float64(c.Messages))
	gauge(descBytes, float64(c.Bytes))
	gauge(descOnline, float64(c.Online))
	for o := WaitDelivered; o <= WaitShutdown; o++ {
		counter(descAnswered, s.answered[o].Load(), o.String())
	}
	counter(descPublished, s.published.Load())
	counter(descDeliveries, s.deliveries.Load())
	counter(descDeliveredBytes, s.deliveredBytes.Load())
	for i, r := range publishErrorReasons {
		counter(descPublishErrors, s.publishErrors[i].Load(), r)
	}
	counter(descLoginsRefused, s.loginsRefused.Load())
	counter(descWatchEvents, s.watchEvents.Load())
	counter(descDropped, s.droppedRotate.Load(), "rotation")
	counter(descDropped, s.droppedClean.Load(), "cleanup")
	counter(descPollsRefused, s.pollsRefused.Load())
	counter(descHandedBack, s.handedBack.Load())
	if h.broker != nil {
		counter(descRedisReconnect, h.broker.sub.Reconnects())
		counter(descRedisErrors, s.redisErrors.Load())
	}
}

// redisRTT times Redis operations, by hub and operation.
var redisRTT = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "caddy_realplexor_redis_roundtrip_seconds",
	Help:    "Duration of Redis operations.",
	Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
}, []string{"hub", "op"})

// observeRedis records one Redis operation's duration and outcome.
func (b *redisBroker) observeRedis(op string, start time.Time, err error) {
	redisRTT.WithLabelValues(b.hub.name, op).Observe(time.Since(start).Seconds())
	if err != nil {
		b.hub.stats.redisErrors.Add(1)
	}
}

// registerMetrics adds the collector to a config's registry; every
// config load has a new registry, and registering twice in one is fine.
func registerMetrics(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	err := reg.Register(collector{})
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		return nil
	}
	return err
}
