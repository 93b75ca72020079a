package redisstore

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The tests run against a real redis-server started here, on a free port
// of 127.0.0.1, without persistence, in a temporary directory. Without
// redis-server the tests fail: an integration test that cannot run is not
// a pass (scripts/redis-server.sh installs it).

var sharedRedis *redisServer

func TestMain(m *testing.M) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: redisstore tests need redis-server on PATH (run scripts/redis-server.sh, or apt-get install redis-server)")
		os.Exit(1)
	}
	srv, err := startRedis()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: starting redis-server:", err)
		os.Exit(1)
	}
	sharedRedis = srv
	// go-redis logs every failed dial; the restart tests cause many.
	redis.SetLogger(quietLogger{})
	code := m.Run()
	srv.stop()
	srv.cleanup()
	os.Exit(code)
}

type redisServer struct {
	port   int
	dir    string
	cmd    *exec.Cmd
	exited chan error
}

func (r *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// startRedis starts a redis-server on a free port in a new temp dir.
func startRedis() (*redisServer, error) {
	dir, err := os.MkdirTemp("", "redisstore-test-")
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		r := &redisServer{port: port, dir: dir}
		if lastErr = r.start(); lastErr == nil {
			return r, nil
		}
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

// freePort asks the kernel for a free port (redis-server cannot listen on
// port 0) and releases it for redis-server to take.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port, nil
}

// start runs redis-server on r.port and waits until it answers PING.
func (r *redisServer) start() error {
	cmd := exec.Command("redis-server",
		"--port", strconv.Itoa(r.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", r.dir,
		"--logfile", filepath.Join(r.dir, "redis.log"),
		"--daemonize", "no",
	)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	c := redis.NewClient(&redis.Options{Addr: r.addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
			return fmt.Errorf("redis-server on port %d exited: %v\n%s", r.port, err, tail(string(log), 800))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			r.cmd = cmd
			r.exited = exited
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on port %d did not answer: %v", r.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills the server (SIGKILL: no shutdown, like a crash) and waits.
func (r *redisServer) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.exited
	r.cmd = nil
}

func (r *redisServer) cleanup() { os.RemoveAll(r.dir) }

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// newClient returns a client of the shared server, closed at the end of t.
func newClient(tb testing.TB, addr string, hooks ...redis.Hook) redis.UniversalClient {
	tb.Helper()
	c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{addr}})
	for _, h := range hooks {
		c.AddHook(h)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// newStore returns a store on the shared server with a hub of its own
// (named after the test, numbered for -count), so tests do not see each
// other's keys.
func newStore(tb testing.TB, hooks ...redis.Hook) *Store {
	tb.Helper()
	return New(newClient(tb, sharedRedis.addr(), hooks...), uniqueHub(tb))
}

var hubSeq atomic.Int64

func uniqueHub(tb testing.TB) string {
	return tb.Name() + "#" + strconv.FormatInt(hubSeq.Add(1), 10)
}

func testCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// countingHook counts the commands and pipelines that reach the network;
// each is one round trip.
type countingHook struct {
	roundTrips atomic.Int64
	names      atomic.Value // []string of the last calls, for messages
}

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.roundTrips.Add(1)
		h.record(cmd.Name())
		return next(ctx, cmd)
	}
}

func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.roundTrips.Add(1)
		var names []string
		for _, c := range cmds {
			names = append(names, c.Name())
		}
		h.record("pipeline[" + strings.Join(names, ",") + "]")
		return next(ctx, cmds)
	}
}

func (h *countingHook) record(name string) {
	prev, _ := h.names.Load().([]string)
	h.names.Store(append(append([]string(nil), prev...), name))
}

func (h *countingHook) reset() {
	h.roundTrips.Store(0)
	h.names.Store([]string(nil))
}

func (h *countingHook) calls() []string {
	v, _ := h.names.Load().([]string)
	return v
}

// subscriberGoroutines lists the goroutines that belong to a Subscriber
// or to go-redis Pub/Sub machinery.
func subscriberGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "redisstore.(*Subscriber)") ||
			strings.Contains(g, "go-redis/v9.(*PubSub)") ||
			strings.Contains(g, "go-redis/v9.(*channel)") {
			out = append(out, g)
		}
	}
	return out
}

// checkNoLeaks waits until no Subscriber goroutine is left and the
// goroutine count is back to base.
func checkNoLeaks(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := subscriberGoroutines()
		n := runtime.NumGoroutine()
		if len(left) == 0 && n <= base {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("goroutine leak: %d goroutines (base %d); subscriber goroutines left:\n%s", n, base, strings.Join(left, "\n\n"))
			buf := make([]byte, 1<<20)
			t.Logf("all goroutines:\n%s", buf[:runtime.Stack(buf, true)])
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...interface{}) {}
