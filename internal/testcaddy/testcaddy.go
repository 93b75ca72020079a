// Package testcaddy loads configurations into the Caddy that
// caddytest runs inside a test binary, for the tests of this module's
// packages. It does not import the module: a test registers it with a
// blank import, and the module's own tests can use this package too.
package testcaddy

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// NewTester is caddytest's tester with the admin endpoint on adminPort.
func NewTester(t testing.TB, adminPort int) *caddytest.Tester {
	return caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: adminPort, LoadRequestTimeout: 10 * time.Second})
}

// Load loads a Caddyfile and waits until only one socket listens on each
// of ports: Caddy binds each config's sockets with SO_REUSEPORT and closes
// the previous config's in the background after the load, and a connection
// queued on an old socket in that window is reset.
func Load(t testing.TB, tester *caddytest.Tester, caddyfile string, ports ...int) {
	t.Helper()
	tester.InitServer(caddyfile, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	Eventually(t, "the previous config's listeners to close", func() bool {
		for _, p := range ports {
			if Listeners(p) > 1 {
				return false
			}
		}
		return true
	})
}

// Listeners counts sockets listening on 127.0.0.1:port, from /proc/net/tcp.
func Listeners(port int) int {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return 0
	}
	le, be := fmt.Sprintf("0100007F:%04X", port), fmt.Sprintf("7F000001:%04X", port)
	n := 0
	for _, line := range strings.Split(string(b), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 3 && (f[1] == le || f[1] == be) && f[3] == "0A" {
			n++
		}
	}
	return n
}

// Eventually polls cond until it holds or 5 s pass: tests wait for
// state, never for fixed sleeps where a state can be observed.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
