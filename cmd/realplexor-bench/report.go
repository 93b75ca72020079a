package main

// -report: the Markdown table of a side-by-side run, medians of the
// result lines per scenario and target, every run's value beside it.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

type metricRow struct {
	name     string
	decimals int
	get      func(r map[string]any) (float64, bool)
}

func field(key string) func(map[string]any) (float64, bool) {
	return func(r map[string]any) (float64, bool) {
		v, ok := r[key].(float64)
		return v, ok
	}
}

func sumFields(keys ...string) func(map[string]any) (float64, bool) {
	return func(r map[string]any) (float64, bool) {
		total, found := 0.0, false
		for _, k := range keys {
			if v, ok := r[k].(float64); ok {
				total += v
				found = true
			}
		}
		return total, found
	}
}

func holdPubPct(r map[string]any) (float64, bool) {
	ok, _ := r["hold_pub_ok"].(float64)
	fail, _ := r["hold_pub_fail"].(float64)
	if ok+fail == 0 {
		return 0, false
	}
	return ok / (ok + fail) * 100, true
}

type scenario struct {
	key, title string
	rows       []metricRow
}

func throughputRows() []metricRow {
	return []metricRow{
		{"delivered messages/s", 0, field("delivered_per_s")},
		{"publish latency p50, ms", 2, field("pub_p50_ms")},
		{"publish latency p99, ms", 2, field("pub_p99_ms")},
		{"**server CPU-seconds per 1,000 deliveries**", 3, field("cpu_s_per_1000")},
		{"server CPU, % of one core", 0, field("server_cpu_pct")},
		{"messages per poll", 2, field("msgs_per_poll")},
		{"lost + duplicated + reordered", 0, sumFields("lost", "duplicates", "reordered")},
		{"load tool CPU in the window, s", 2, field("window_tool_cpu_s")},
		{"noise: CPU of everything else in the window, s", 2, field("window_other_cpu_s")},
	}
}

func h2Rows() []metricRow {
	return []metricRow{
		{"parked", 0, field("parked")},
		{"TLS connections", 0, field("h2_connections")},
		{"**server RSS per parked poll, KB**", 2, field("rss_per_parked_kb")},
		{"server CPU while holding, % of one core", 1, field("server_cpu_pct_held")},
		{"time to park all, s", 2, field("park_s")},
	}
}

var scenarios = []scenario{
	{"hold", "hold", []metricRow{
		{"parked", 0, field("parked")},
		{"**server RSS per parked poll, KB**", 2, field("rss_per_parked_kb")},
		{"server PSS per parked poll, KB", 2, field("pss_per_parked_kb")},
		{"server RSS with all parked, MB", 1, func(r map[string]any) (float64, bool) {
			v, ok := r["rss_after_kb"].(float64)
			return v / 1024, ok
		}},
		{"server CPU while holding, % of one core", 1, field("server_cpu_pct_held")},
		{"publishes answered while holding, %", 1, holdPubPct},
		{"dropped while holding", 0, field("dropped_while_held")},
		{"time to park all, s", 2, field("park_s")},
		{"noise: CPU of everything else while holding, s", 2, field("window_other_cpu_s")},
	}},
	{"hold-h2", "hold over TLS + HTTP/2, polls multiplexed as streams", h2Rows()},
	{"hold-h2-single", "hold over TLS + HTTP/2, a connection per poll", h2Rows()},
	{"fanout", "fanout", []metricRow{
		{"**one broadcast to all (round 1), p99 ms**", 1, field("round1_p99_ms")},
		{"round 1 p50, ms", 1, field("round1_p50_ms")},
		{"round p50, ms (median of rounds)", 1, field("p50_ms")},
		{"**round p99, ms (median of rounds)**", 1, field("p99_ms")},
		{"worst round p99, ms", 1, field("p99_worst_ms")},
		{"max latency, ms", 1, field("max_ms")},
		{"**re-arm of all, ms (median of rounds)**", 1, field("rearm_ms")},
		{"re-arm, worst round, ms", 1, field("rearm_max_ms")},
		{"cycle: publish → all delivered and parked again, ms (median)", 1, field("cycle_ms")},
		{"delivered, %", 2, field("delivered_pct")},
		{"server CPU over the rounds, s", 2, field("server_cpu_s")},
		{"load tool CPU in the window, s", 2, field("window_tool_cpu_s")},
		{"noise: CPU of everything else in the window, s", 2, field("window_other_cpu_s")},
	}},
	{"throughput", "throughput, a connection per publish (the PHP client)", throughputRows()},
	{"throughput-keepalive", "throughput, kept-alive publisher connections", throughputRows()},
}

var reportTargets = []struct{ key, title string }{
	{targetRealplexor, "caddy-realplexor"},
	{targetRealplexor + "-keepalive", "caddy-realplexor, kept-alive HTTP/1.1 polls"},
	{targetNchan, "nginx + Nchan"},
}

// targetKey is a result's column: Realplexor runs with kept-alive polls
// (as browsers poll) get their own beside the original clients' runs.
func targetKey(r map[string]any) string {
	t, _ := r["target"].(string)
	if ka, _ := r["keepalive_polls"].(bool); ka && t == targetRealplexor {
		return t + "-keepalive"
	}
	return t
}

func scenarioKey(r map[string]any) string {
	mode, _ := r["mode"].(string)
	if mode == "hold-h2" {
		if conns, n := r["h2_connections"].(float64), r["n"].(float64); conns >= n {
			return "hold-h2-single"
		}
	}
	if mode == "throughput" {
		if ka, _ := r["keepalive_publishers"].(bool); ka {
			return "throughput-keepalive"
		}
	}
	return mode
}

func writeReport(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var lines []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal(line, &r); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		lines = append(lines, r)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return renderReport(w, lines)
}

func renderReport(w io.Writer, lines []map[string]any) error {
	var out strings.Builder
	for _, s := range scenarios {
		byTarget := map[string][]map[string]any{}
		var first map[string]any
		for _, r := range lines {
			if scenarioKey(r) != s.key {
				continue
			}
			t := targetKey(r)
			byTarget[t] = append(byTarget[t], r)
			if first == nil {
				first = r
			}
		}
		if first == nil {
			continue
		}
		fmt.Fprintf(&out, "### %s: %s\n\n", s.title, describe(s.key, first))
		out.WriteString("| |")
		for _, t := range reportTargets {
			fmt.Fprintf(&out, " %s (runs: %d) |", t.title, len(byTarget[t.key]))
		}
		out.WriteString("\n|---|")
		for range reportTargets {
			out.WriteString("---|")
		}
		out.WriteString("\n")
		for _, row := range s.rows {
			fmt.Fprintf(&out, "| %s |", row.name)
			for _, t := range reportTargets {
				var vals []float64
				for _, r := range byTarget[t.key] {
					if v, ok := row.get(r); ok {
						vals = append(vals, v)
					}
				}
				out.WriteString(" " + cell(vals, row.decimals) + " |")
			}
			out.WriteString("\n")
		}
		out.WriteString("\n")
	}
	_, err := io.WriteString(w, out.String())
	return err
}

// cell is "median (run 1 / run 2 …)".
func cell(vals []float64, decimals int) string {
	if len(vals) == 0 {
		return "–"
	}
	m := strconv.FormatFloat(median(vals), 'f', decimals, 64)
	if len(vals) == 1 {
		return m
	}
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = strconv.FormatFloat(v, 'f', decimals, 64)
	}
	return m + " (" + strings.Join(parts, " / ") + ")"
}

func num(r map[string]any, k string) string {
	v, ok := r[k].(float64)
	if !ok {
		return "?"
	}
	return groupThousands(int64(v))
}

func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return "-" + groupThousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func describe(key string, r map[string]any) string {
	switch key {
	case "hold", "hold-h2", "hold-h2-single":
		hold, _ := r["hold_s"].(float64)
		return fmt.Sprintf("%s parked polls on %s channels, held %.0f s", num(r, "n"), num(r, "channels"), hold)
	case "fanout":
		return fmt.Sprintf("%s subscribers of one channel, %s broadcasts, each followed by an immediate reconnect", num(r, "n"), num(r, "rounds"))
	default:
		d, _ := r["duration_s"].(float64)
		return fmt.Sprintf("%s subscribers on %s channels, %s publishers for %.0f s", num(r, "n"), num(r, "channels"), num(r, "publishers"), d)
	}
}
