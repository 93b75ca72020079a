// Command realplexor-bench is a load generator for caddy-realplexor (and
// any Dklab Realplexor compatible server) and, for side-by-side runs,
// for nginx with Nchan's long-poll subscribers. It speaks both wire
// protocols over raw sockets, measures the server from /proc, and ends
// with one JSON result line on stdout; progress goes to stderr.
//
// Modes:
//
//	hold        -n parked polls over -channels channels: how many park,
//	            server RSS per parked client, server CPU while saturated,
//	            and whether the publish line still answers.
//	fanout      -n subscribers of one channel, -rounds broadcasts; each
//	            subscriber reconnects at once from the cursor it got:
//	            delivery latency p50/p99/max and re-arm time per round.
//	throughput  -n subscribers on -channels channels (one each by
//	            default), -publishers publishing for -duration: delivered
//	            messages per second, publish latency, server CPU-seconds
//	            per 1,000 deliveries, and loss/duplicate/reorder counts.
//	hold-h2     hold over TLS and HTTP/2 (Realplexor only): the polls as
//	            streams over -h2-conns connections; server RSS per poll.
//
// Only loopback targets are accepted, and counts and times are capped:
// the tool is bounded by design (at most 19,900 connections, 10 minutes).
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Hard caps: the open-files limit of these machines is 20,000 per
// process, and no run may go on for long.
const (
	maxConns     = 19900
	maxDuration  = 10 * time.Minute
	maxRounds    = 1000
	maxPubs      = 1000
	maxSources   = 250
	maxMsgSize   = 64 << 10
	maxPubRate   = 1000
	fdReserve    = 32
	settleTime   = time.Second
	defaultTimer = 5 * time.Minute
)

// bench is the parsed command line plus shared state.
type bench struct {
	target     string
	mode       string
	waitAddr   string
	inAddr     string
	pids       []int
	n          int
	channels   int
	rounds     int
	duration   time.Duration
	hold       time.Duration
	publishers int
	keepalive  bool
	pollKeep   bool
	h2Conns    int
	sources    []net.IP
	msgSize    int
	conc       int
	prefix     string
	statusPath string
	roundTO    time.Duration
	reqTO      time.Duration
	holdPubHz  int
	timeout    time.Duration
	cpuProfile string
	label      string
	report     string

	start    time.Time
	deadline time.Time
	dialer   *dialer
}

func main() {
	b, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "realplexor-bench:", err)
		os.Exit(2)
	}
	if b.report != "" {
		if err := writeReport(os.Stdout, b.report); err != nil {
			fmt.Fprintln(os.Stderr, "realplexor-bench:", err)
			os.Exit(1)
		}
		return
	}
	b.start = time.Now()
	b.deadline = b.start.Add(b.timeout)
	b.dialer = newDialer(b.sources, b.deadline)
	logf("%s against %s (wait %s, in %s), n=%d, timeout %s", b.mode, b.target, b.waitAddr, b.inAddr, b.n, b.timeout)

	if b.cpuProfile != "" {
		f, err := os.Create(b.cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "realplexor-bench:", err)
			os.Exit(2)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "realplexor-bench:", err)
			os.Exit(2)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	var res map[string]any
	switch b.mode {
	case "hold":
		res = runHold(b)
	case "fanout":
		res = runFanout(b)
	case "throughput":
		res = runThroughput(b)
	case "hold-h2":
		res = runHoldH2(b)
	}
	out := orderedResult(b, res)
	line, err := json.Marshal(out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "realplexor-bench:", err)
		os.Exit(1)
	}
	fmt.Println(string(line))
}

func parseFlags(args []string) (*bench, error) {
	fs := flag.NewFlagSet("realplexor-bench", flag.ContinueOnError)
	b := &bench{}
	var pids, sources string
	var sourceCount int
	fs.StringVar(&b.target, "target", targetRealplexor, "server protocol: realplexor or nchan")
	fs.StringVar(&b.mode, "mode", "hold", "hold, fanout, throughput, or hold-h2 (hold over TLS + HTTP/2, Realplexor only)")
	fs.StringVar(&b.waitAddr, "wait", "127.0.0.1:8088", "WAIT address (Realplexor) or subscriber address (Nchan), loopback host:port")
	fs.StringVar(&b.inAddr, "in", "127.0.0.1:10010", "IN address (Realplexor) or publisher address (Nchan), loopback host:port")
	fs.StringVar(&pids, "pid", "", "server process id(s), comma-separated (nginx: master and workers), for RSS and CPU from /proc")
	fs.IntVar(&b.n, "n", 1000, "subscribers (parked polls); at most 19,900")
	fs.IntVar(&b.channels, "channels", 0, "channels (hold: default n/10; fanout: always 1; throughput: default n)")
	fs.IntVar(&b.rounds, "rounds", 20, "fanout: broadcasts")
	fs.DurationVar(&b.duration, "duration", 20*time.Second, "throughput: publishing time (at most 10m)")
	fs.DurationVar(&b.hold, "hold", 5*time.Second, "hold: time to keep the polls parked while sampling CPU (at most 10m)")
	fs.IntVar(&b.publishers, "publishers", 16, "throughput: concurrent publishers")
	fs.BoolVar(&b.keepalive, "keepalive", false, "publishers keep their HTTP connection alive (default: the PHP client's connection per publish)")
	fs.BoolVar(&b.pollKeep, "poll-keepalive", false, "Realplexor: WAIT polls keep their connection alive between polls with \"Connection: keep-alive\", as browsers do (default: a connection per poll, as the original clients)")
	fs.IntVar(&b.h2Conns, "h2-conns", 100, "hold-h2: TLS connections the polls are spread over as HTTP/2 streams")
	fs.StringVar(&sources, "sources", "", "loopback source addresses for subscriber connections, comma-separated (127.0.0.2,127.0.0.3,…)")
	fs.IntVar(&sourceCount, "source-count", 0, "spread subscriber connections over 127.0.0.2 … 127.0.0.(K+1)")
	fs.IntVar(&b.msgSize, "msg-size", 64, "bytes per published message (at least the {\"seq\":N} it carries)")
	fs.IntVar(&b.conc, "concurrency", 256, "connections being opened at once")
	fs.StringVar(&b.prefix, "prefix", "", "channel name prefix (default: a random one per run, so runs never share channels)")
	fs.StringVar(&b.statusPath, "nchan-status", "/nchan_status", "Nchan: nchan_stub_status location on the -in address, to confirm parked subscribers (empty: off)")
	fs.DurationVar(&b.reqTO, "request-timeout", 10*time.Second, "longest wait for one publish (or status query) reply; a slower one counts as failed")
	fs.DurationVar(&b.roundTO, "round-timeout", 30*time.Second, "fanout: longest wait for one round's deliveries or re-arm")
	fs.IntVar(&b.holdPubHz, "hold-publish-rate", 20, "hold: publishes per second to an unwatched channel while saturated, to check the IN line answers (0: off)")
	fs.DurationVar(&b.timeout, "timeout", defaultTimer, "hard limit on the whole run (at most 10m)")
	fs.StringVar(&b.cpuProfile, "cpuprofile", "", "write the load tool's own CPU profile to this file")
	fs.StringVar(&b.label, "label", "", "free text copied into the result line (a run's name)")
	fs.StringVar(&b.report, "report", "", "no benchmark: read result lines from this file and print a Markdown table of medians per mode and target")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	switch b.target {
	case targetRealplexor, targetNchan:
	default:
		return nil, fmt.Errorf("-target must be realplexor or nchan")
	}
	switch b.mode {
	case "hold", "fanout", "throughput":
	case "hold-h2":
		if b.target != targetRealplexor {
			return nil, fmt.Errorf("-mode hold-h2 runs against -target realplexor only")
		}
		if b.h2Conns < 1 || b.h2Conns > 4096 {
			return nil, fmt.Errorf("-h2-conns must be 1…4096")
		}
	default:
		return nil, fmt.Errorf("-mode must be hold, fanout, throughput or hold-h2")
	}
	for _, a := range []struct{ flag, addr string }{{"-wait", b.waitAddr}, {"-in", b.inAddr}} {
		if err := checkLoopbackAddr(a.addr); err != nil {
			return nil, fmt.Errorf("%s: %w", a.flag, err)
		}
	}
	var err error
	if b.pids, err = parsePids(pids); err != nil {
		return nil, err
	}
	if b.sources, err = parseSources(sources, sourceCount); err != nil {
		return nil, err
	}
	switch {
	case b.n < 1 || b.n > maxConns:
		return nil, fmt.Errorf("-n must be 1…%d", maxConns)
	case b.duration <= 0 || b.duration > maxDuration:
		return nil, fmt.Errorf("-duration must be above 0 and at most %s", maxDuration)
	case b.hold < 0 || b.hold > maxDuration:
		return nil, fmt.Errorf("-hold must be 0…%s", maxDuration)
	case b.timeout <= 0 || b.timeout > maxDuration:
		return nil, fmt.Errorf("-timeout must be above 0 and at most %s", maxDuration)
	case b.reqTO <= 0 || b.reqTO > maxDuration:
		return nil, fmt.Errorf("-request-timeout must be above 0 and at most %s", maxDuration)
	case b.roundTO <= 0 || b.roundTO > maxDuration:
		return nil, fmt.Errorf("-round-timeout must be above 0 and at most %s", maxDuration)
	case b.rounds < 1 || b.rounds > maxRounds:
		return nil, fmt.Errorf("-rounds must be 1…%d", maxRounds)
	case b.publishers < 1 || b.publishers > maxPubs:
		return nil, fmt.Errorf("-publishers must be 1…%d", maxPubs)
	case b.msgSize < 1 || b.msgSize > maxMsgSize:
		return nil, fmt.Errorf("-msg-size must be 1…%d", maxMsgSize)
	case b.conc < 1 || b.conc > 4096:
		return nil, fmt.Errorf("-concurrency must be 1…4096")
	case b.holdPubHz < 0 || b.holdPubHz > maxPubRate:
		return nil, fmt.Errorf("-hold-publish-rate must be 0…%d", maxPubRate)
	case b.channels < 0 || b.channels > b.n:
		return nil, fmt.Errorf("-channels must be 1…n")
	}
	if b.mode == "throughput" && b.duration+30*time.Second > b.timeout {
		b.timeout = min(b.duration+2*time.Minute, maxDuration)
	}
	switch b.mode {
	case "hold", "hold-h2":
		if b.channels == 0 {
			b.channels = max(1, b.n/10)
		}
	case "fanout":
		b.channels = 1
	case "throughput":
		if b.channels == 0 {
			b.channels = b.n
		}
	}
	pubs := 1
	if b.mode == "throughput" {
		pubs = b.publishers
	}
	if b.n+pubs > maxConns {
		return nil, fmt.Errorf("-n plus publishers must stay at most %d", maxConns)
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil {
		// Go raises the soft limit to the hard one at start.
		if uint64(b.n+pubs+fdReserve) > rl.Cur {
			return nil, fmt.Errorf("-n %d needs %d open files, the limit is %d (ulimit -n)", b.n, b.n+pubs+fdReserve, rl.Cur)
		}
	}
	if b.prefix == "" {
		var r [4]byte
		_, _ = rand.Read(r[:])
		b.prefix = "rb" + hex.EncodeToString(r[:])
	}
	for _, c := range b.prefix {
		if !(c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return nil, fmt.Errorf("-prefix may contain only [A-Za-z0-9_]")
		}
	}
	return b, nil
}

// checkLoopbackAddr accepts host:port with a loopback IP or "localhost".
// No name is resolved: a target elsewhere is refused before any packet.
func checkLoopbackAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("bad port %q", port)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return fmt.Errorf("%q: give a loopback IP address (127.0.0.1, ::1) or localhost", host)
	}
	if !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address: this tool only loads servers on this machine", ip)
	}
	return nil
}

func parseSources(list string, count int) ([]net.IP, error) {
	if list != "" && count > 0 {
		return nil, errors.New("give -sources or -source-count, not both")
	}
	var ips []net.IP
	if count > 0 {
		if count > maxSources {
			return nil, fmt.Errorf("-source-count must be 1…%d", maxSources)
		}
		for k := 0; k < count; k++ {
			ips = append(ips, net.IPv4(127, 0, 0, byte(2+k)).To4())
		}
		return ips, nil
	}
	if list == "" {
		return nil, nil
	}
	for _, f := range strings.Split(list, ",") {
		ip := net.ParseIP(strings.TrimSpace(f))
		if ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("-sources: %q is not a loopback address", f)
		}
		if ip4 := ip.To4(); ip4 != nil {
			ip = ip4
		}
		ips = append(ips, ip)
	}
	if len(ips) > maxSources {
		return nil, fmt.Errorf("-sources: at most %d", maxSources)
	}
	return ips, nil
}

func (b *bench) channelName(i int) string {
	return b.prefix + "_" + strconv.Itoa(i)
}

// requestDeadline bounds one publish or status query.
func (b *bench) requestDeadline() time.Time {
	d := time.Now().Add(b.reqTO)
	if d.After(b.deadline) {
		return b.deadline
	}
	return d
}

func (b *bench) expired() bool { return time.Now().After(b.deadline) }

// since is a monotonic timestamp relative to the start of the run.
func (b *bench) since() time.Duration { return time.Since(b.start) }

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// orderedResult puts the common fields first; json.Marshal sorts map
// keys, so the line is built from an ordered list of pairs.
type kv struct {
	k string
	v any
}

type ordered []kv

func (o ordered) MarshalJSON() ([]byte, error) {
	buf := []byte{'{'}
	for i, p := range o {
		if i > 0 {
			buf = append(buf, ',')
		}
		k, _ := json.Marshal(p.k)
		v, err := json.Marshal(p.v)
		if err != nil {
			return nil, err
		}
		buf = append(buf, k...)
		buf = append(buf, ':')
		buf = append(buf, v...)
	}
	return append(buf, '}'), nil
}

func orderedResult(b *bench, res map[string]any) ordered {
	src := make([]string, len(b.sources))
	for i, ip := range b.sources {
		src[i] = ip.String()
	}
	out := ordered{
		{"mode", b.mode}, {"target", b.target}, {"wait", b.waitAddr}, {"in", b.inAddr},
		{"n", b.n}, {"channels", b.channels},
	}
	if b.label != "" {
		out = append(out, kv{"label", b.label})
	}
	keys := make([]string, 0, len(res))
	for k := range res {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, kv{k, res[k]})
	}
	out = append(out,
		kv{"keepalive_publishers", b.keepalive},
		kv{"keepalive_polls", b.pollKeep},
		kv{"sources", src},
		kv{"pids", b.pids},
		kv{"client_cpu_s", round3(selfCPU())},
		kv{"elapsed_s", round3(time.Since(b.start).Seconds())},
		kv{"gomaxprocs", runtime.GOMAXPROCS(0)},
	)
	return out
}

// percentile of sorted values (nearest rank).
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.5) - 1
	if rank < 0 {
		rank = 0
	}
	if rank >= len(sorted) {
		rank = len(sorted) - 1
	}
	return sorted[rank]
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func round3(f float64) float64 {
	return float64(int64(f*1000+copysign(0.5, f))) / 1000
}

func round1(f float64) float64 {
	return float64(int64(f*10+copysign(0.5, f))) / 10
}

func copysign(a, f float64) float64 {
	if f < 0 {
		return -a
	}
	return a
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// errCounter keeps a count per error text, for the result line.
type errCounter struct {
	mu sync.Mutex
	m  map[string]int
}

func (e *errCounter) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = map[string]int{}
	}
	msg := err.Error()
	if len(msg) > 120 {
		msg = msg[:120]
	}
	if len(e.m) < 20 || e.m[msg] > 0 {
		e.m[msg]++
	}
}

func (e *errCounter) snapshot() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]int, len(e.m))
	for k, v := range e.m {
		out[k] = v
	}
	return out
}
