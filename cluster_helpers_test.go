package caddyrealplexor

// Helpers of the scale-out tests (cluster_test.go): a real redis-server
// with AOF persistence, and several real caddy processes (the binary of
// ./cmd/caddy) sharing one hub through it. Everything listens on loopback
// ports 19600-19699. The wire helpers of harness_test.go (rawExchange,
// phpRequest, openRawPollAt, statusOf, bodyOf, masked, entryJSON, batch)
// talk to the nodes.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	clPortFirst = 19600
	clPortLast  = 19699
)

var (
	clPortMu   sync.Mutex
	clPortNext = clPortFirst + os.Getpid()%(clPortLast-clPortFirst+1)
)

// clFreePort returns a port of 19600-19699 that nothing listens on now,
// cycling through the range so a port is not reused soon after. Test
// processes running at the same time (go test in several packages or
// worktrees) coordinate through a lock file per port, held until the end
// of the test, so two of them never hand out the same port.
func clFreePort(t testing.TB) int {
	t.Helper()
	lockDir := filepath.Join(os.TempDir(), "caddy-realplexor-cluster-ports")
	if err := os.MkdirAll(lockDir, 0o777); err != nil {
		t.Fatal(err)
	}
	clPortMu.Lock()
	defer clPortMu.Unlock()
	for i := 0; i <= clPortLast-clPortFirst; i++ {
		p := clPortNext
		clPortNext++
		if clPortNext > clPortLast {
			clPortNext = clPortFirst
		}
		f, err := os.OpenFile(filepath.Join(lockDir, strconv.Itoa(p)), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			continue
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			f.Close()
			continue
		}
		l.Close()
		t.Cleanup(func() { f.Close() }) // releases the lock
		return p
	}
	t.Fatalf("no free port in %d-%d", clPortFirst, clPortLast)
	return 0
}

// eventuallyWithin is eventually with its own bound (the harness's is 5 s).
func eventuallyWithin(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// clTail returns the last n bytes of s.
func clTail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// ---------------------------------------------------------------------
// redis-server

// clRedis is a redis-server on loopback with AOF persistence (appendfsync
// always), so an acknowledged write survives a kill and restart.
type clRedis struct {
	t      testing.TB
	port   int
	dir    string
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// startClusterRedis starts a redis-server for the test and stops it at
// the end. Without redis-server on PATH the test fails: an integration
// test that cannot run is not a pass.
func startClusterRedis(t testing.TB) *clRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is not on PATH (scripts/test.sh installs it; or apt-get install redis-server): %v", err)
	}
	r := &clRedis{t: t, port: clFreePort(t), dir: t.TempDir()}
	t.Cleanup(func() {
		r.kill()
		if t.Failed() {
			t.Logf("redis-server :%d log:\n%s", r.port, clTail(r.log(), 3000))
		}
	})
	r.start()
	return r
}

func (r *clRedis) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *clRedis) log() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
	return string(b)
}

// start runs redis-server on r.port with r.dir (its AOF is reloaded on a
// restart) and waits until it answers PING with PONG (not LOADING).
func (r *clRedis) start() {
	r.t.Helper()
	cmd := exec.Command("redis-server",
		"--port", strconv.Itoa(r.port),
		"--bind", "127.0.0.1",
		"--appendonly", "yes",
		"--appendfsync", "always",
		"--dir", r.dir,
		"--save", "",
		"--logfile", filepath.Join(r.dir, "redis.log"),
		"--daemonize", "no",
	)
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("starting redis-server: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	r.mu.Lock()
	r.cmd, r.exited = cmd, exited
	r.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			r.t.Fatalf("redis-server on port %d exited: %v\n%s", r.port, cmd.ProcessState, clTail(r.log(), 2000))
		default:
		}
		if r.ping() {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on port %d does not answer PING\n%s", r.port, clTail(r.log(), 2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ping sends an inline PING and reports whether the reply is +PONG.
func (r *clRedis) ping() bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// kill stops redis-server with SIGKILL (a crash: no shutdown save; the
// AOF with appendfsync always already holds every acknowledged write) and
// waits until it is gone. A no-op when it is not running.
func (r *clRedis) kill() { r.signal(syscall.SIGKILL) }

// stop stops redis-server with SIGTERM (a clean shutdown) and waits.
func (r *clRedis) stop() { r.signal(syscall.SIGTERM) }

func (r *clRedis) signal(sig syscall.Signal) {
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	r.cmd, r.exited = nil, nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// restart starts redis-server again on the same port and directory.
func (r *clRedis) restart() {
	r.t.Helper()
	r.kill()
	r.start()
}

// ---------------------------------------------------------------------
// caddy binary and nodes

var (
	clBuildOnce sync.Once
	clBinary    string
	clBuildErr  error
)

// clusterCaddy builds ./cmd/caddy once per test process. The binary goes
// under the XDG_DATA_HOME that TestMain creates and removes at the end.
func clusterCaddy(t testing.TB) string {
	t.Helper()
	clBuildOnce.Do(func() {
		base := os.Getenv("XDG_DATA_HOME")
		if base == "" {
			var err error
			if base, err = os.MkdirTemp("", "realplexor-cluster-"); err != nil {
				clBuildErr = err
				return
			}
		}
		clBinary = filepath.Join(base, "cluster-bin", "caddy")
		out, err := exec.Command("go", "build", "-o", clBinary, "./cmd/caddy").CombinedOutput()
		if err != nil {
			clBuildErr = fmt.Errorf("go build ./cmd/caddy: %v\n%s", err, out)
		}
	})
	if clBuildErr != nil {
		t.Fatal(clBuildErr)
	}
	return clBinary
}

// clNode is one caddy process of the cluster.
type clNode struct {
	t      testing.TB
	name   string
	wait   int // WAIT line port
	in     int // IN line port
	dir    string
	config string
	logs   *lockedBuffer

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
	killed  time.Time
}

// clOptions are per-test additions to the cluster's hub config.
type clOptions struct {
	waitTimeout string // default 20s
	extra       string // more lines of the realplexor block
}

// clusterConfig renders a node's Caddyfile: the hub with the Redis URL
// and the test's options, a WAIT site and an IN site.
func clusterConfig(redisURL string, wait, in int, o clOptions) string {
	wt := o.waitTimeout
	if wt == "" {
		wt = "20s"
	}
	return fmt.Sprintf(`{
	admin off
	persist_config off
	default_bind 127.0.0.1
	realplexor {
		redis %s
		offline_timeout 1s
		wait_timeout %s
%s
	}
}
http://:%d {
	realplexor_wait
}
http://:%d {
	realplexor_publish
}
`, redisURL, wt, o.extra, wait, in)
}

// newClusterNode prepares a node (ports, dir, config) without starting it.
func newClusterNode(t testing.TB, name, redisURL string, o clOptions) *clNode {
	t.Helper()
	n := &clNode{t: t, name: name, wait: clFreePort(t), in: clFreePort(t), dir: t.TempDir(), logs: new(lockedBuffer)}
	n.config = clusterConfig(redisURL, n.wait, n.in, o)
	if err := os.WriteFile(filepath.Join(n.dir, "Caddyfile"), []byte(n.config), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.stop()
		n.mu.Lock()
		launched := n.cmd != nil
		n.mu.Unlock()
		if t.Failed() && launched {
			t.Logf("node %s (wait :%d, in :%d) exit %v, logs:\n%s", n.name, n.wait, n.in, n.exitError(), clTail(n.logs.String(), 6000))
		}
	})
	return n
}

// launch starts the caddy process and returns at once.
func (n *clNode) launch() {
	n.t.Helper()
	bin := clusterCaddy(n.t)
	cmd := exec.Command(bin, "run", "--config", filepath.Join(n.dir, "Caddyfile"), "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(),
		"XDG_CONFIG_HOME="+filepath.Join(n.dir, "config"),
		"XDG_DATA_HOME="+filepath.Join(n.dir, "data"),
		"XDG_CACHE_HOME="+filepath.Join(n.dir, "cache"),
		"XDG_STATE_HOME="+filepath.Join(n.dir, "state"),
	)
	cmd.Stdout, cmd.Stderr = n.logs, n.logs
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("node %s: start: %v", n.name, err)
	}
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		n.mu.Lock()
		n.exitErr = err
		n.mu.Unlock()
		close(exited)
	}()
	n.mu.Lock()
	n.cmd, n.exited = cmd, exited
	n.mu.Unlock()
}

func (n *clNode) exitError() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.exitErr
}

// start launches the node and waits until both its ports accept; a node
// that exits first fails the test with its logs.
func (n *clNode) start() {
	n.t.Helper()
	n.launch()
	deadline := time.Now().Add(15 * time.Second)
	for _, port := range []int{n.wait, n.in} {
		for {
			select {
			case <-n.exited:
				n.t.Fatalf("node %s exited while starting (%v); config:\n%s", n.name, n.exitError(), n.config)
			default:
			}
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				n.t.Fatalf("node %s is not listening on %d within 15 s: %v", n.name, port, err)
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
}

// waitExit waits up to d for the process to end and reports whether it did.
func (n *clNode) waitExit(d time.Duration) bool {
	n.mu.Lock()
	exited := n.exited
	n.mu.Unlock()
	if exited == nil {
		return true
	}
	select {
	case <-exited:
		return true
	case <-time.After(d):
		return false
	}
}

// stop sends SIGINT (a graceful stop) and waits, killing after 15 s.
func (n *clNode) stop() {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		n.t.Errorf("node %s did not exit within 15 s of SIGINT", n.name)
		_ = cmd.Process.Kill()
		<-exited
	}
}

// kill sends SIGKILL (the node dies without any cleanup), waits until the
// process is gone and returns the moment of death.
func (n *clNode) kill() time.Time {
	n.t.Helper()
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if cmd == nil {
		n.t.Fatalf("node %s was never started", n.name)
	}
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		n.t.Fatalf("kill node %s: %v", n.name, err)
	}
	<-exited
	n.killed = time.Now()
	return n.killed
}

// startCluster starts a node per name, all on the same Redis and hub.
func startCluster(t testing.TB, r *clRedis, o clOptions, names ...string) []*clNode {
	t.Helper()
	nodes := make([]*clNode, len(names))
	for i, name := range names {
		nodes[i] = newClusterNode(t, name, r.url(), o)
		nodes[i].start()
	}
	return nodes
}

// ---------------------------------------------------------------------
// wire helpers on a node

// publish sends data (JSON) to ids the PHP client's way and returns the
// raw reply.
func (n *clNode) publish(ids, data string) string {
	n.t.Helper()
	return rawExchange(n.t, n.in, phpRequest(ids, data))
}

// publishOK publishes and fails the test unless the reply is a 200 with
// an empty body.
func (n *clNode) publishOK(ids, data string) {
	n.t.Helper()
	r := n.publish(ids, data)
	if statusOf(r) != 200 || bodyOf(n.t, r) != "" {
		n.t.Fatalf("node %s: publish %s %s: %q", n.name, ids, data, r)
	}
}

// publishWithin is publish with a deadline of its own: it returns the
// raw reply (possibly empty or partial) and how long it took, and never
// fails the test on a timeout or reset.
func (n *clNode) publishWithin(d time.Duration, ids, data string) (string, time.Duration) {
	start := time.Now()
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.in), d)
	if err != nil {
		return "", time.Since(start)
	}
	defer conn.Close()
	_ = conn.SetDeadline(start.Add(d))
	if _, err := io.WriteString(conn, phpRequest(ids, data)); err != nil {
		return "", time.Since(start)
	}
	_ = conn.(*net.TCPConn).CloseWrite()
	out, _ := io.ReadAll(conn)
	return string(out), time.Since(start)
}

// command sends an IN command (empty id list) and returns the body of
// its 200 reply.
func (n *clNode) command(cmd string) string {
	n.t.Helper()
	r := rawExchange(n.t, n.in, phpRequest("", cmd))
	if statusOf(r) != 200 {
		n.t.Fatalf("node %s: command %q: %q", n.name, cmd, r)
	}
	return bodyOf(n.t, r)
}

// online is the ONLINE command's body.
func (n *clNode) online() string { n.t.Helper(); return n.command("online\n") }

// watch is `watch <pos>`'s body.
func (n *clNode) watch(pos int) string {
	n.t.Helper()
	return n.command(fmt.Sprintf("watch %d\n", pos))
}

// poll parks `GET /?identifier=<ids>` on the node's WAIT line; it returns
// after the header block and the prelude, so the poll is registered.
func (n *clNode) poll(ids string) *poll {
	n.t.Helper()
	p := openRawPollAt(n.t, n.wait, fmt.Sprintf("GET /?identifier=%s&ncrnd=1 HTTP/1.1\r\nHost: rpl.example.com\r\n\r\n", ids))
	_ = p.conn.SetDeadline(time.Now().Add(60 * time.Second))
	return p
}

// clBody reads what follows the prelude until the server closes, waiting
// at most d; it fails the test on a timeout or an empty body (a poll that
// ended without data).
func clBody(t testing.TB, p *poll, d time.Duration, what string) string {
	t.Helper()
	start := time.Now()
	_ = p.conn.SetReadDeadline(start.Add(d))
	b, err := io.ReadAll(p.r)
	if err != nil {
		t.Fatalf("%s: no complete reply within %v: %v (got %q)", what, d, err, b)
	}
	if len(b) == 0 {
		t.Fatalf("%s: the poll ended without data after %v (wait_timeout or an error?)", what, time.Since(start).Round(time.Millisecond))
	}
	return string(b)
}

// clSilent checks that the poll stays open and sends nothing for d.
func clSilent(t testing.TB, p *poll, d time.Duration, what string) {
	t.Helper()
	_ = p.conn.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 256)
	n, err := p.r.Read(buf)
	var ne net.Error
	if n > 0 || !errors.As(err, &ne) || !ne.Timeout() {
		rest, _ := io.ReadAll(io.LimitReader(p.r, 4096))
		t.Fatalf("%s: the poll was expected to stay parked for %v, got %q (err %v)", what, d, string(buf[:n])+string(rest), err)
	}
	_ = p.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
}

// clEntry is one entry of a WAIT batch, for one id.
type clEntry struct {
	cursor string
	data   string
}

// clEntries parses a batch whose entries each name only id (R-WAIT-13,
// single-line data).
func clEntries(t testing.TB, body, id string) []clEntry {
	t.Helper()
	re := regexp.MustCompile(`(?m)^  \{\n    "ids": \{ "` + regexp.QuoteMeta(id) + `": "([0-9.]+)" \},\n    "data": (.*)\n  \}`)
	var out []clEntry
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		out = append(out, clEntry{cursor: m[1], data: m[2]})
	}
	return out
}

// clGeneratedCursor matches a server-generated cursor (R-CUR-3): fixed
// width, so strings compare like the numbers.
var clGeneratedCursor = regexp.MustCompile(`^\d{10}\.\d{14}$`)

var clEventRE = regexp.MustCompile(`(?m)^(online|offline) (\d+):(\w+)$`)

// clEvent is one WATCH line.
type clEvent struct {
	kind string
	pos  int
	id   string
}

// clEvents parses a WATCH body, failing on lines that are not events.
func clEvents(t testing.TB, body string) []clEvent {
	t.Helper()
	var out []clEvent
	for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if line == "" {
			continue
		}
		m := clEventRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not a WATCH line: %q in %q", line, body)
		}
		pos, _ := strconv.Atoi(m[2])
		out = append(out, clEvent{kind: m[1], pos: pos, id: m[3]})
	}
	return out
}

var clFakeRE = regexp.MustCompile(`^FAKE (\d+):FAKE\n$`)

// fake returns the position of `watch 0`'s FAKE line.
func (n *clNode) fake() int {
	n.t.Helper()
	body := n.watch(0)
	m := clFakeRE.FindStringSubmatch(body)
	if m == nil {
		n.t.Fatalf("node %s: watch 0: %q, want FAKE <n>:FAKE", n.name, body)
	}
	p, _ := strconv.Atoi(m[1])
	return p
}
