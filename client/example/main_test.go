package main

// The example against a real caddy-realplexor in this test process. Its
// ports (20120-20124) differ from the client package's tests, which may
// run at the same time.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/caddy-realplexor/caddy-realplexor"
	"github.com/caddy-realplexor/caddy-realplexor/internal/testcaddy"
)

const (
	adminPort = 20120
	waitPort  = 20121
	inPort    = 20122
	httpPort  = 20123
	httpsPort = 20124
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "realplexor-example-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CONFIG_HOME", dir)
	os.Setenv("XDG_DATA_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func startServer(t *testing.T) {
	t.Helper()
	// A fresh hub per load (-count=N reloads): a reload keeps the hubs it still names.
	loads++
	hub := fmt.Sprintf("example_test_%d", loads)
	testcaddy.Load(t, testcaddy.NewTester(t, adminPort), fmt.Sprintf(`{
	admin localhost:%d
	http_port %d
	https_port %d
	skip_install_trust
	persist_config off
	default_bind 127.0.0.1
	realplexor %[4]s {
	}
}
http://:%[5]d {
	realplexor_wait %[4]s
}
http://:%[6]d {
	realplexor_publish %[4]s
}
`, adminPort, httpPort, httpsPort, hub, waitPort, inPort), waitPort, inPort)
}

var loads int

// poll parks `GET /?identifier=<ids>` and returns a function that reads
// the reply once the server ends it.
func poll(t *testing.T, ids string) func() string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", waitPort), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	fmt.Fprintf(conn, "GET /?identifier=%s HTTP/1.1\r\nHost: x\r\n\r\n", ids)
	r := bufio.NewReader(conn)
	for { // the headers and the ` \r\n` prelude: the poll is parked
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("poll head: %v", err)
		}
		if line == " \r\n" {
			break
		}
	}
	return func() string {
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
}

func TestExamplePublishes(t *testing.T) {
	startServer(t)
	in := fmt.Sprintf("http://127.0.0.1:%d", inPort)
	reply := poll(t, "alpha")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"-in", in, "-id", "alpha", "Hello", "from", "Go"}, &out, &errOut); err != nil {
		t.Fatalf("run: %v (%s)", err, errOut.String())
	}
	if got := reply(); !strings.Contains(got, `"data": "Hello from Go"`) || !strings.Contains(got, `"alpha"`) {
		t.Errorf("poll got %q", got)
	}
	// The server reports the cursor it generated for the publish.
	cursorLine := regexp.MustCompile(`(?m)^cursor: \d{10}\.\d{14}\n`)
	want := "published \"Hello from Go\" to alpha\ncursor: <c>\nonline:\n  alpha (0 polls)\n"
	if cursorLine.ReplaceAllString(out.String(), "cursor: <c>\n") != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}

	// With a namespace; only that namespace is listed.
	reply = poll(t, "demo_Alpha,demo_Beta")
	poll(t, "demo_Beta")
	out.Reset()
	if err := run(context.Background(), []string{"-in", in, "-ns", "demo_", "-id", "Alpha"}, &out, &errOut); err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := reply(); !strings.Contains(got, `"data": "Hello from Go!"`) || !strings.Contains(got, `"demo_Alpha"`) {
		t.Errorf("poll got %q", got)
	}
	want = "published \"Hello from Go!\" to demo_Alpha\ncursor: <c>\nonline:\n  Alpha (0 polls)\n  Beta (1 poll)\n"
	if cursorLine.ReplaceAllString(out.String(), "cursor: <c>\n") != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}

func TestExampleErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"-nope"}, &out, &errOut); !errors.Is(err, errUsage) || !strings.Contains(errOut.String(), "usage: example") {
		t.Errorf("bad flag: %v %q", err, errOut.String())
	}
	if err := run(context.Background(), []string{"-h"}, &out, &errOut); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	err := run(context.Background(), []string{"-in", "http://127.0.0.1:20199", "-id", "bad-id"}, &out, &errOut)
	if err == nil || err.Error() != `identifier must be alphanumeric, "bad-id" given` {
		t.Errorf("bad id: %v", err)
	}
	if err := run(context.Background(), []string{"-in", "http://127.0.0.1:20199", "-timeout", "1s"}, &out, &errOut); err == nil {
		t.Error("publishing to a closed port succeeded")
	}
}
