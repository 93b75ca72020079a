package main

import (
	"bufio"
	"io"
	"strings"
	"testing"
	"time"
)

func reader(s string) *bufio.Reader {
	return bufio.NewReaderSize(strings.NewReader(s), 256)
}

func TestReadHeadRealplexorWait(t *testing.T) {
	// The head of a parked poll, as the module sends it, then the prelude
	// and a batch until the connection closes.
	raw := "HTTP/1.1 200 OK\r\n" +
		"Cache-Control: no-store, no-cache, must-revalidate\r\n" +
		"Connection: close\r\n" +
		"Content-Type: text/javascript; charset=utf-8\r\n" +
		"Expires: Mon, 26 Jul 1997 05:00:00 GMT\r\n" +
		"X-Realplexor-Cursor: 1795308048.91507592100000\r\n" +
		"X-Realplexor-Wait-Timeout: 300\r\n" +
		"Date: Sat, 22 Nov 2026 01:00:00 GMT\r\n" +
		"\r\n" +
		" \r\n" +
		"[\n  {\n    \"ids\": { \"alpha\": \"1795308049.1\" },\n    \"data\": {\"seq\":7}\n  }\n]"
	br := reader(raw)
	var h respHead
	if err := readHead(br, &h); err != nil {
		t.Fatal(err)
	}
	if h.status != 200 || !h.close || h.chunked || h.contentLength != -1 {
		t.Fatalf("head %+v", h)
	}
	if h.cursor != "1795308048.91507592100000" {
		t.Fatalf("cursor %q", h.cursor)
	}
	pre := make([]byte, 3)
	if _, err := io.ReadFull(br, pre); err != nil || string(pre) != " \r\n" {
		t.Fatalf("prelude %q %v", pre, err)
	}
	body, err := readBody(br, &h, nil, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := parseBatch(body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || string(entries[0].cursorFor("alpha")) != "1795308049.1" || string(entries[0].data) != `{"seq":7}` {
		t.Fatalf("entries %+v", entries)
	}
	if seq, ok := seqOf(entries[0].data); !ok || seq != 7 {
		t.Fatalf("seq %d %v", seq, ok)
	}
}

func TestReadHeadNchan(t *testing.T) {
	raw := "HTTP/1.1 200 OK\r\n" +
		"Server: nginx/1.22.1\r\n" +
		"content-length: 9\r\n" +
		"Connection: keep-alive\r\n" +
		"Last-Modified: Sat, 22 Nov 2026 01:00:00 GMT\r\n" +
		"Etag: 0\r\n" +
		"Vary: If-None-Match, If-Modified-Since\r\n" +
		"\r\n" +
		`{"seq":3}` +
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"4\r\n{\"se\r\n5;ext=1\r\nq\":4}\r\n0\r\nX-Trailer: 1\r\n\r\n"
	br := reader(raw)
	var h respHead
	if err := readHead(br, &h); err != nil {
		t.Fatal(err)
	}
	if h.status != 200 || h.close || h.contentLength != 9 || h.lastModified != "Sat, 22 Nov 2026 01:00:00 GMT" || h.etag != "0" {
		t.Fatalf("head %+v", h)
	}
	body, err := readBody(br, &h, nil, 1<<20)
	if err != nil || string(body) != `{"seq":3}` {
		t.Fatalf("body %q %v", body, err)
	}
	// The next response on the same connection, chunked.
	if err := readHead(br, &h); err != nil {
		t.Fatal(err)
	}
	if !h.chunked || h.contentLength != -1 {
		t.Fatalf("head %+v", h)
	}
	body, err = readBody(br, &h, body[:0], 1<<20)
	if err != nil || string(body) != `{"seq":4}` {
		t.Fatalf("chunked body %q %v", body, err)
	}
	if err := readHead(br, &h); err != io.EOF {
		t.Fatalf("idle close: %v, want io.EOF", err)
	}
}

func TestReadHeadErrors(t *testing.T) {
	for _, raw := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
		"SSH-2.0-OpenSSH\r\n\r\n",
		"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",
	} {
		var h respHead
		if err := readHead(reader(raw), &h); err == nil {
			t.Errorf("%q: no error", raw)
		}
	}
	var h respHead
	if err := readHead(reader("HTTP/1.1 200 OK\r\nServer: x\r\n"), &h); err != io.ErrUnexpectedEOF {
		t.Errorf("truncated head: %v", err)
	}
	// HTTP/1.0 without keep-alive closes; the original's refusal.
	if err := readHead(reader("HTTP/1.0 403 Access Deined\r\nContent-Length: 5\r\n\r\n"), &h); err != nil || h.status != 403 || !h.close {
		t.Errorf("HTTP/1.0: %+v %v", h, err)
	}
}

func TestParseBatch(t *testing.T) {
	body := `[
  {
    "ids": { "a": "10.5", "b": "10.5" },
    "data": {"seq":1,"text":"a \"quoted\" ] } string","list":[1,{"x":[]}]}
  },
  {
    "ids": { "a": "11" },
    "extra": [true, null],
    "data": "plain string"
  },
  {
    "ids": { "a": "12" },
    "data": 42
  }
]`
	entries, err := parseBatch([]byte(body), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("%d entries", len(entries))
	}
	if got := string(entries[0].data); got != `{"seq":1,"text":"a \"quoted\" ] } string","list":[1,{"x":[]}]}` {
		t.Fatalf("data 0 %s", got)
	}
	if string(entries[0].cursorFor("b")) != "10.5" || entries[0].cursorFor("c") != nil {
		t.Fatalf("ids 0 %+v", entries[0].ids)
	}
	if string(entries[1].data) != `"plain string"` || string(entries[2].data) != "42" || string(entries[2].cursorFor("a")) != "12" {
		t.Fatalf("entries %+v", entries)
	}
	// Reuse of the output slice keeps working.
	entries, err = parseBatch([]byte(`[{"ids":{"z":"1"},"data":{"seq":9}}]`), entries)
	if err != nil || len(entries) != 1 || string(entries[0].cursorFor("z")) != "1" || len(entries[0].ids) != 1 {
		t.Fatalf("reuse: %+v %v", entries, err)
	}
	// A timeout reply has no batch at all.
	for _, empty := range []string{"", "  \r\n", "[]", "[ ]\n"} {
		if e, err := parseBatch([]byte(empty), entries); err != nil || len(e) != 0 {
			t.Errorf("%q: %v %v", empty, e, err)
		}
	}
	for _, bad := range []string{
		`[`,
		`{}`,
		`[{"ids":{"a":"1"}}]`,
		`[{"data":1}]`,
		`[{"ids":{"a":"1"},"data":1}`,
		`[{"ids":{"a":"1"},"data":1}] x`,
		`[{"ids":{"a":"1"},"data":"unterminated}]`,
		`[{"ids":{"a":1},"data":1}]`,
	} {
		if _, err := parseBatch([]byte(bad), nil); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestMessageAndSeq(t *testing.T) {
	m := message(nil, 12345, 64)
	if len(m) != 64 {
		t.Fatalf("len %d: %s", len(m), m)
	}
	if seq, ok := seqOf(m); !ok || seq != 12345 {
		t.Fatalf("seq %d %v", seq, ok)
	}
	if m := message(nil, 1, 1); string(m) != `{"seq":1}` {
		t.Fatalf("short %s", m)
	}
	if _, ok := seqOf([]byte(`{"x":1}`)); ok {
		t.Fatal("seq found in a message without one")
	}
}

func TestSeqCheck(t *testing.T) {
	var v seqCheck
	for _, s := range []int64{1, 2, 4, 3, 4, 5} {
		v.add(s)
	}
	if v.got != 6 || v.dups != 1 || v.reordered != 1 || v.lastSeen.Load() != 5 {
		t.Fatalf("got %d dups %d reordered %d last %d", v.got, v.dups, v.reordered, v.lastSeen.Load())
	}
}

func TestParseStatCPU(t *testing.T) {
	stat := "1234 (caddy (x) y) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 12 0 100 0 0"
	c, err := parseStatCPU([]byte(stat))
	if err != nil || c != 3.0 {
		t.Fatalf("%v %v", c, err)
	}
	v, err := kbField([]byte("Name:\tcaddy\nVmRSS:\t  51234 kB\nThreads: 9\n"), "VmRSS:")
	if err != nil || v != 51234 {
		t.Fatalf("%v %v", v, err)
	}
	if n, ok := intAfter([]byte("channels: 4\nsubscribers: 10000\n"), []byte("\nsubscribers:")); !ok || n != 10000 {
		t.Fatalf("%v %v", n, ok)
	}
}

func TestFlagLimits(t *testing.T) {
	ok := []string{"-mode", "hold", "-n", "10", "-wait", "127.0.0.1:1", "-in", "localhost:2", "-source-count", "3"}
	b, err := parseFlags(ok)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.sources) != 3 || b.sources[2].String() != "127.0.0.4" || b.channels != 1 {
		t.Fatalf("%+v", b)
	}
	for _, bad := range [][]string{
		{"-n", "19901"},
		{"-n", "0"},
		{"-mode", "throughput", "-duration", "11m"},
		{"-timeout", "11m"},
		{"-hold", "10m1s"},
		{"-wait", "10.0.0.1:80"},
		{"-in", "192.168.1.1:80"},
		{"-in", "example.com:80"},
		{"-sources", "10.1.1.1"},
		{"-target", "other"},
		{"-mode", "other"},
		{"-rounds", "1001"},
		{"-n", "10", "-channels", "11"},
	} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}

func TestPercentile(t *testing.T) {
	v := make([]float64, 100)
	for i := range v {
		v[i] = float64(i + 1)
	}
	if percentile(v, 50) != 50 || percentile(v, 99) != 99 || percentile(v, 100) != 100 || percentile(nil, 50) != 0 {
		t.Fatal("percentile")
	}
	if median([]float64{3, 1, 2}) != 2 || median([]float64{4, 1, 2, 3}) != 2.5 {
		t.Fatal("median")
	}
	if ms(1500*time.Microsecond) != 1.5 {
		t.Fatal("ms")
	}
}

func TestReport(t *testing.T) {
	lines := []map[string]any{
		{"mode": "hold", "target": "realplexor", "n": 10000.0, "channels": 1000.0, "hold_s": 5.0, "rss_per_parked_kb": 5.5, "parked": 10000.0, "hold_pub_ok": 99.0, "hold_pub_fail": 1.0},
		{"mode": "hold", "target": "realplexor", "n": 10000.0, "channels": 1000.0, "hold_s": 5.0, "rss_per_parked_kb": 6.5, "parked": 10000.0},
		{"mode": "hold", "target": "nchan", "n": 10000.0, "channels": 1000.0, "hold_s": 5.0, "rss_per_parked_kb": 10.5, "parked": 10000.0},
		{"mode": "throughput", "target": "nchan", "keepalive_publishers": true, "n": 1000.0, "channels": 1000.0, "publishers": 16.0, "duration_s": 20.0, "cpu_s_per_1000": 0.022},
		{"mode": "throughput", "target": "realplexor", "keepalive_publishers": true, "keepalive_polls": true, "n": 1000.0, "channels": 1000.0, "publishers": 16.0, "duration_s": 20.0, "cpu_s_per_1000": 0.09},
	}
	var sb strings.Builder
	if err := renderReport(&sb, lines); err != nil {
		t.Fatal(err)
	}
	out := sb.String()
	for _, want := range []string{
		"### hold: 10,000 parked polls on 1,000 channels, held 5 s",
		"| **server RSS per parked poll, KB** | 6.00 (5.50 / 6.50) | – | 10.50 |",
		"| publishes answered while holding, % | 99.0 | – | – |",
		"### throughput, kept-alive publisher connections: 1,000 subscribers on 1,000 channels, 16 publishers for 20 s",
		"| **server CPU-seconds per 1,000 deliveries** | – | 0.090 | 0.022 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "### fanout") {
		t.Error("fanout section without results")
	}
}

func TestParseMachineBusy(t *testing.T) {
	stat := "cpu  100 5 50 1000 20 3 7 0 11 0\ncpu0 50 2 25 500 10 1 3 0 0 0\n"
	v, ok := parseMachineBusy([]byte(stat))
	if !ok || v != 1.65 { // (100+5+50+3+7+0)/100
		t.Fatalf("%v %v", v, ok)
	}
}
