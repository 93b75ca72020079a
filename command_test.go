package caddyrealplexor

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"
)

// The CLI tests run `caddy realplexor …` as cobra runs it (a fresh
// command tree each time, the real RunE and flag handling) against the
// harness server's IN line.

// cliBuffer is a bytes.Buffer safe for a command writing in a goroutine.
type cliBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *cliBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *cliBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type cliResult struct {
	status         int
	stdout, stderr string
}

var exitStatusRE = regexp.MustCompile(`^exiting with status (\d+)$`)

// runCLIContext runs `caddy realplexor args…` with stdin and returns the
// exit status caddycmd.Main would exit with.
func runCLIContext(ctx context.Context, stdin string, out, errOut *cliBuffer, args ...string) int {
	root := &cobra.Command{Use: "realplexor", SilenceUsage: true}
	buildRealplexorCommand(root)
	if args == nil {
		args = []string{} // nil would make cobra read os.Args
	}
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(out)
	root.SetErr(errOut)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	// caddycmd.Main: the wrapper's exit error carries the status, any
	// other error exits with 1.
	if m := exitStatusRE.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 1
}

func runCLI(t testing.TB, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errOut cliBuffer
	status := runCLIContext(context.Background(), stdin, &out, &errOut, args...)
	return cliResult{status: status, stdout: out.String(), stderr: errOut.String()}
}

func (r cliResult) want(t testing.TB, status int, stderrHas string) {
	t.Helper()
	if r.status != status || !strings.Contains(r.stderr, stderrHas) {
		t.Fatalf("status %d stderr %q stdout %q; want status %d, stderr with %q", r.status, r.stderr, r.stdout, status, stderrHas)
	}
}

func inURL() string { return fmt.Sprintf("http://127.0.0.1:%d", inPort) }

func TestCLIPublishReachesPoll(t *testing.T) {
	s := startServer(t, "")

	p := openPoll(t, "abc")
	r := runCLI(t, "", "publish", "--in", inURL(), "--ids", "abc", `{"m":"hi"}`)
	r.want(t, 0, "")
	if r.stdout != "" || r.stderr != "" {
		t.Errorf("publish printed %q %q", r.stdout, r.stderr)
	}
	if got, want := masked(p.rest()), batch(entryJSON(`"abc": "<cursor>"`, `{"m":"hi"}`)); got != want {
		t.Errorf("poll got\n%s\nwant\n%s", got, want)
	}

	// --string sends text as a JSON string; the address without a scheme.
	p = openPoll(t, "abc")
	runCLI(t, "", "publish", "--in", fmt.Sprintf("127.0.0.1:%d", inPort), "--ids", "abc", "--string", `say "hi"`).want(t, 0, "")
	if got, want := masked(p.rest()), batch(entryJSON(`"abc": "<cursor>"`, `"say \"hi\""`)); got != want {
		t.Errorf("poll got\n%s\nwant\n%s", got, want)
	}

	// DATA from standard input, address from the environment.
	t.Setenv(envIN, inURL())
	p = openPoll(t, "abc")
	runCLI(t, "[1, 2]\n", "publish", "--ids", "abc", "-").want(t, 0, "")
	if got, want := masked(p.rest()), batch(entryJSON(`"abc": "<cursor>"`, `[1, 2]`)); got != want {
		t.Errorf("poll got\n%s\nwant\n%s", got, want)
	}
	p = openPoll(t, "abc")
	runCLI(t, "line\n", "publish", "--ids", "abc", "--string", "-").want(t, 0, "")
	if got, want := masked(p.rest()), batch(entryJSON(`"abc": "<cursor>"`, `"line"`)); got != want {
		t.Errorf("poll got\n%s\nwant\n%s", got, want)
	}

	// Cursors and limiters make the PHP client's id list.
	runCLI(t, "", "publish", "--ids", "one,two", "--cursor", "one=100", "--limit", "room,hall", `"x"`).want(t, 0, "")
	if info, ok := s.hub().ChannelInfo("one"); !ok || info.HighestCursor != "100" {
		t.Errorf("one: %+v", info)
	}
	if info, ok := s.hub().ChannelInfo("two"); !ok || !generated.MatchString(`"`+info.HighestCursor+`"`) {
		t.Errorf("two: %+v", info)
	}
	if stats := s.command("", "stats"); !strings.Contains(stats, "one => [100: 3b, limited by (hall, room)]") {
		t.Errorf("stats:\n%s", stats)
	}
}

func TestCLIPublishErrors(t *testing.T) {
	startServer(t, "")
	in := inURL()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"publish", "--in", in, "--ids", "a"}, "one DATA argument"},
		{[]string{"publish", "--in", in, "--ids", "a", "1", "2"}, "one DATA argument"},
		{[]string{"publish", "--in", in, "1"}, "--ids is required"},
		{[]string{"publish", "--in", in, "--ids", "a-b", "1"}, `"a-b" is not an id`},
		{[]string{"publish", "--in", in, "--ids", "a", "--cursor", "a", "1"}, "want ID=CURSOR"},
		{[]string{"publish", "--in", in, "--ids", "a", "--cursor", "b=1", "1"}, "b is not one of --ids"},
		{[]string{"publish", "--in", in, "--ids", "a", "--cursor", "a=x", "1"}, `"x" is not a cursor`},
		{[]string{"publish", "--in", in, "--ids", "a", "--limit", "*x", "1"}, `--limit: "*x"`},
		{[]string{"publish", "--in", in, "--ids", "a", "hello"}, "not valid JSON; add --string"},
		{[]string{"publish", "--in", in, "--ids", "a", " "}, "DATA is empty"},
		{[]string{"publish", "--in", "ftp://x", "--ids", "a", "1"}, "http:// or https://"},
		{[]string{"publish", "--in", in, "--ids", "a", "--timeout", "0s", "1"}, "--timeout"},
		{[]string{"publish", "--in", in, "--ids", "a", "--login", "a_b", "1"}, "--login"},
		{[]string{"publish", "--bogus"}, "unknown flag: --bogus (see realplexor publish --help)"},
		{[]string{"online", "a-"}, `prefix "a-"`},
		{[]string{"watch", "x"}, `FROM "x"`},
		{[]string{"watch", "10", "a-"}, `prefix "a-"`},
		{[]string{"passwd", "f"}, "USERS_FILE and LOGIN"},
		{[]string{"nope"}, `unknown subcommand "nope"`},
		{nil, "a subcommand is required"},
	} {
		r := runCLI(t, "", c.args...)
		if r.status != exitUsage || !strings.Contains(r.stderr, c.want) || !strings.HasPrefix(r.stderr, "Error: ") {
			t.Errorf("%q: status %d stderr %q; want 2 and %q", c.args, r.status, r.stderr, c.want)
		}
	}

	// Failures: exit 1 with the reason.
	runCLI(t, "", "publish", "--in", fmt.Sprintf("127.0.0.1:%d", portBase+99), "--ids", "a", "1").
		want(t, 1, "cannot reach the IN line at http://127.0.0.1:")
	r := runCLI(t, "", "publish", "--in", in, "--ids", "a", "--cursor", "a=1", `"x"`)
	r.want(t, 0, "")
	// A server-side refusal: the body over in_maxlen.
	big := `"` + strings.Repeat("x", DefaultInMaxLen) + `"`
	runCLI(t, "", "publish", "--in", in, "--ids", "a", big).want(t, 1, "server refused (413 Request Entity Too Large): request body over in_maxlen")
}

func TestCLIOnlineAndWatch(t *testing.T) {
	startServer(t, "offline_timeout 1s")
	t.Setenv(envIN, inURL())

	r := runCLI(t, "", "watch")
	r.want(t, 0, "")
	m := regexp.MustCompile(`^FAKE (\d+):FAKE\n$`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("watch: %q", r.stdout)
	}
	next, _ := strconv.ParseInt(m[1], 10, 64)

	// --follow from now, until interrupted.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut cliBuffer
	done := make(chan int, 1)
	go func() {
		done <- runCLIContext(ctx, "", &out, &errOut, "watch", "--follow", "--interval", "50ms", "0", "ab")
	}()

	eventually(t, "watch --follow to start", func() bool { return strings.Contains(errOut.String(), "watching events after position") })
	if got, want := errOut.String(), fmt.Sprintf("watching events after position %d; Ctrl-C stops\n", next-1); got != want {
		t.Fatalf("follow stderr %q, want %q", got, want)
	}
	p1 := openPoll(t, "abc")
	p2 := openPoll(t, "abd,xyz")
	r = runCLI(t, "", "online")
	r.want(t, 0, "")
	if r.stdout != "abc 1\nabd 1\nxyz 1\n" {
		t.Errorf("online: %q", r.stdout)
	}
	r = runCLI(t, "", "online", "abd", "x")
	if r.status != 0 || r.stdout != "abd 1\nxyz 1\n" {
		t.Errorf("online abd x: %+v", r)
	}

	// Plain watch: the IN line's exclusive position.
	r = runCLI(t, "", "watch", strconv.FormatInt(next-1, 10))
	if want := fmt.Sprintf("online %d:abc\nonline %d:abd\nonline %d:xyz\n", next, next+1, next+2); r.status != 0 || r.stdout != want {
		t.Errorf("watch %d: %+v, want %q", next-1, r, want)
	}

	p1.close()
	want := fmt.Sprintf("online %d:abc\nonline %d:abd\noffline %d:abc\n", next, next+1, next+3)
	eventually(t, "followed events", func() bool { return out.String() == want })
	cancel()
	select {
	case status := <-done:
		if status != 0 || strings.Contains(errOut.String(), "Error") {
			t.Errorf("watch --follow: status %d stderr %q", status, errOut.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch --follow did not stop")
	}
	if got := out.String(); got != want {
		t.Errorf("followed %q, want %q", got, want)
	}
	p2.close()
}

// TestCLIPasswdAndLogin edits a users file with passwd, then publishes
// with the login it made.
func TestCLIPasswdAndLogin(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users")
	bobHash, err := bcrypt.GenerateFromPassword([]byte("bobpw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	orig := "# publishers\r\n" +
		"bob:" + string(bobHash) + "\n" +
		"alice:$1$oldsalt$0000000000000000000000 # the admin\n" +
		"\n" +
		"  # alice:commented out\n" +
		"alice:$1$dup$0000000000000000000000\n" +
		"carol:secret-plain"
	if err := os.WriteFile(path, []byte(orig), 0o640); err != nil {
		t.Fatal(err)
	}

	r := runCLI(t, "s3cret\n", "passwd", path, "alice")
	r.want(t, 0, "")
	if r.stdout != "updated login alice in "+path+"; reload Caddy to apply\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	b, _ := os.ReadFile(path)
	lines := strings.Split(string(b), "\n")
	if len(lines) != 6 {
		t.Fatalf("file:\n%s", b)
	}
	aliceLine := regexp.MustCompile(`^alice:(\$2a\$10\$[./0-9A-Za-z]{53}) # the admin$`).FindStringSubmatch(lines[2])
	if aliceLine == nil {
		t.Fatalf("alice's line: %q", lines[2])
	}
	// Only alice's line changed; her later duplicate is gone, everything
	// else is byte for byte (CRLF, comments, the missing last newline).
	wantFile := "# publishers\r\n" +
		"bob:" + string(bobHash) + "\n" +
		"alice:" + aliceLine[1] + " # the admin\n" +
		"\n" +
		"  # alice:commented out\n" +
		"carol:secret-plain"
	if string(b) != wantFile {
		t.Errorf("file:\n%q\nwant:\n%q", b, wantFile)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want kept 0640", st.Mode().Perm())
	}
	checkLogin := func(login, password string, ok bool) {
		t.Helper()
		u, _, err := LoadUsers(path)
		if err != nil {
			t.Fatal(err)
		}
		if refusal := u.Authenticate(login, password, true); (refusal == "") != ok {
			t.Errorf("%s/%s: refusal %q, want ok=%v", login, password, refusal, ok)
		}
	}
	checkLogin("alice", "s3cret", true)
	checkLogin("alice", "wrong", false)
	checkLogin("bob", "bobpw", true)

	// Again: an update; then a new login is appended.
	runCLI(t, "n3w\r\nignored\n", "passwd", path, "alice").want(t, 0, "")
	checkLogin("alice", "n3w", true)
	checkLogin("alice", "s3cret", false)
	r = runCLI(t, "davepw", "passwd", path, "dave")
	r.want(t, 0, "")
	if !strings.HasPrefix(r.stdout, "added login dave") {
		t.Errorf("stdout %q", r.stdout)
	}
	checkLogin("dave", "davepw", true)
	checkLogin("bob", "bobpw", true)
	b, _ = os.ReadFile(path)
	if !strings.Contains(string(b), "carol:secret-plain\ndave:$2a$10$") || strings.Count(string(b), "alice:") != 2 {
		t.Errorf("file:\n%s", b)
	}

	// A new file is private.
	fresh := filepath.Join(dir, "fresh")
	runCLI(t, "pw\n", "passwd", fresh, "erin").want(t, 0, "")
	if st, err := os.Stat(fresh); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("new file: %v %v", st, err)
	}

	// Refusals.
	runCLI(t, "pw\n", "passwd", path, "al_ice").want(t, 2, "letters and digits only")
	runCLI(t, "", "passwd", path, "frank").want(t, 1, "no password")
	runCLI(t, "\n", "passwd", path, "frank").want(t, 1, "no password")
	runCLI(t, strings.Repeat("x", 80)+"\n", "passwd", path, "frank").want(t, 1, "hashing the password")
	runCLI(t, "pw\n", "passwd", filepath.Join(dir, "no", "such", "dir"), "frank").want(t, 1, "no such file or directory")
	if u, _, _ := LoadUsers(path); u.Authenticate("frank", "pw", true) == "" {
		t.Error("frank was added by a refused run")
	}

	// The login works on the IN line.
	s := startServer(t, "users_file "+path)
	t.Setenv(envIN, inURL())
	t.Setenv("RPL_TEST_PW", "n3w")
	p := openPoll(t, "alice_box")
	runCLI(t, "", "publish", "--login", "alice", "--password-env", "RPL_TEST_PW", "--ids", "alice_box", `"mail"`).want(t, 0, "")
	if got, want := masked(p.rest()), batch(entryJSON(`"alice_box": "<cursor>"`, `"mail"`)); got != want {
		t.Errorf("poll got\n%s\nwant\n%s", got, want)
	}
	runCLI(t, "", "publish", "--login", "alice", "--password-env", "RPL_TEST_PW", "--ids", "bob_box", `1`).want(t, 0, "warning: 1 id(s) skipped")
	if _, ok := s.hub().ChannelInfo("bob_box"); ok {
		t.Error("bob_box was published to by alice")
	}
	runCLI(t, "", "online", "--login", "alice", "--password-env", "RPL_TEST_PW").want(t, 0, "")

	t.Setenv("RPL_TEST_PW", "wrong")
	runCLI(t, "", "publish", "--login", "alice", "--password-env", "RPL_TEST_PW", "--ids", "alice_box", `1`).
		want(t, 1, "server refused (403 Forbidden): invalid password for login: alice")
	runCLI(t, "", "online").want(t, 1, "access denied for guest user")
	t.Setenv("RPL_TEST_PW", "")
	runCLI(t, "", "online", "--login", "alice", "--password-env", "RPL_TEST_PW").want(t, 2, "put the password in $RPL_TEST_PW")
	t.Setenv("RPL_TEST_PW", "a@b")
	runCLI(t, "", "online", "--login", "alice", "--password-env", "RPL_TEST_PW").want(t, 2, "contains '@' or white space")
}
