package caddyrealplexor

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Stopping Caddy answers every parked request at once and exits, instead
// of holding the exit for wait_timeout. caddy.Exiting() is only true in a
// process that is really exiting, so this runs the real binary.
func TestShutdownAnswersParkedRequests(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin", "caddy")
	build := exec.Command("go", "build", "-o", bin, "./cmd/caddy")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	wait, in := waitPort+20, inPort+20
	config := fmt.Sprintf(`{
	admin off
	persist_config off
	default_bind 127.0.0.1
	realplexor {
		wait_timeout 300s
	}
}
http://:%d {
	realplexor_wait
}
http://:%d {
	realplexor_publish
}
`, wait, in)
	cfgPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
	logs := new(lockedBuffer)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", wait))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy is not listening: %v; logs:\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	polls := make([]*poll, 3)
	for i := range polls {
		polls[i] = openRawPollAt(t, wait, fmt.Sprintf("GET /?identifier=ch%d HTTP/1.1\r\nHost: x\r\n\r\n", i))
		_ = polls[i].conn.SetDeadline(time.Now().Add(30 * time.Second))
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for i, p := range polls {
		if !strings.Contains(p.head, "Connection: close") {
			t.Errorf("poll %d: no Connection: close in %q", i, p.head)
		}
		if rest := p.rest(); rest != "" { // ended with no data, like a timeout
			t.Errorf("poll %d: unexpected body %q", i, rest)
		}
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("caddy did not exit after SIGINT; logs:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "shutting down: answered parked requests") {
		t.Errorf("no shutdown log line:\n%s", logs.String())
	}
}

// lockedBuffer collects a child's output; the test reads it while the
// child may still write.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
