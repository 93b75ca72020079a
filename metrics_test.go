package caddyrealplexor

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
)

// scrape returns the value of one series on Caddy's admin /metrics.
func scrape(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://localhost:%d/metrics", adminPort))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no series %s in /metrics", series)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// The series move as a poll parks, a publish arrives, and bad input and
// refused logins come in.
func TestMetricsMove(t *testing.T) {
	s := startServer(t, "max_parked 1")
	hub := `hub="` + s.hubName + `"`
	parked := `caddy_realplexor_parked_requests{` + hub + `,protocol="http1"}`
	if v := scrape(t, parked); v != 0 {
		t.Fatalf("parked before: %v", v)
	}
	p := openPoll(t, "alpha")
	eventually(t, "parked gauge", func() bool { return scrape(t, parked) == 1 })
	if v := scrape(t, `caddy_realplexor_online_ids{`+hub+`}`); v != 1 {
		t.Errorf("online ids %v", v)
	}
	refused := rawExchange(t, waitPort, "GET /?identifier=beta HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if statusOf(refused) != 503 || scrape(t, `caddy_realplexor_polls_refused_total{`+hub+`}`) != 1 {
		t.Errorf("max_parked refusal not counted: %q", refused)
	}

	s.publishOK("alpha", `"hello"`)
	p.rest()
	eventually(t, "delivery counted", func() bool {
		return scrape(t, `caddy_realplexor_deliveries_total{`+hub+`}`) == 1 && scrape(t, parked) == 0
	})
	for series, want := range map[string]float64{
		`caddy_realplexor_messages_published_total{` + hub + `}`:                  1,
		`caddy_realplexor_polls_answered_total{` + hub + `,outcome="data"}`:       1,
		`caddy_realplexor_buffered_messages{` + hub + `}`:                         1,
		`caddy_realplexor_buffered_bytes{` + hub + `}`:                            7,
		`caddy_realplexor_channels_buffered{` + hub + `}`:                         1,
		`caddy_realplexor_watch_events_total{` + hub + `}`:                        1,
		`caddy_realplexor_publish_errors_total{` + hub + `,reason="bad_request"}`: 0,
	} {
		if got := scrape(t, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if scrape(t, `caddy_realplexor_delivered_bytes_total{`+hub+`}`) < 7 {
		t.Error("delivered bytes not counted")
	}

	s.publish("alpha", `not json`)
	if got := scrape(t, `caddy_realplexor_publish_errors_total{`+hub+`,reason="bad_request"}`); got != 1 {
		t.Errorf("bad publish counted %v times", got)
	}
	// A client that hangs up is counted as client_gone.
	gone := openPoll(t, "gamma")
	gone.close()
	eventually(t, "client_gone counted", func() bool {
		return scrape(t, `caddy_realplexor_polls_answered_total{`+hub+`,outcome="client_gone"}`) == 1
	})
}
