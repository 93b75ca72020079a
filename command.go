package caddyrealplexor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"
)

// The `caddy realplexor` command: publish, online and watch talk to a
// running server through its IN line (the realplexor_publish site), as
// the original's PHP client does; passwd edits a users file. Registered
// here, so every binary that includes the module has it.

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "realplexor",
		Usage: "<publish|online|watch|passwd> [flags] [args]",
		Short: "Publishes to a Realplexor hub, shows presence, edits users files",
		Long: `Talks to a running caddy-realplexor server through its IN line (the site
with realplexor_publish), exactly as the original's PHP client does, and
manages the users file of the users_file option.

  caddy realplexor publish --ids a,b '{"text":"hi"}'
  caddy realplexor online [prefix...]
  caddy realplexor watch --follow
  caddy realplexor passwd /etc/caddy/realplexor.users alice

The IN address comes from --in, else $REALPLEXOR_IN, else
` + defaultINURL + `. With a users file, give --login and put the password in
the environment variable named by --password-env ($REALPLEXOR_PASSWORD by
default); it never appears on the command line.

Exit status: 0 success, 1 failure (the reason, such as the server's, is
printed), 2 usage error.`,
		CobraFunc: buildRealplexorCommand,
	})
}

// Exit statuses of the realplexor commands.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

const (
	defaultINURL       = "http://127.0.0.1:10010"
	envIN              = "REALPLEXOR_IN"
	envLogin           = "REALPLEXOR_LOGIN"
	defaultPasswordEnv = "REALPLEXOR_PASSWORD"
	passwdCost         = 10
)

// cliFunc runs one subcommand and returns its exit status.
type cliFunc func(c *cobra.Command, args []string) (int, error)

// runE adapts a cliFunc to cobra.
func runE(f cliFunc) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		status, err := f(c, args)
		return exitWith(c, status, err)
	}
}

// exitWith prints err as "Error: …" on standard error (a plain line, not
// a log entry: these are interactive tools) and makes status the
// process's exit status. Caddy's main exits with the status of the
// wrapper's exit error, and with 1 for any other error.
func exitWith(c *cobra.Command, status int, err error) error {
	c.SilenceErrors = true // printed here, once
	if err != nil {
		fmt.Fprintf(c.ErrOrStderr(), "Error: %v\n", err)
	}
	switch {
	case status == exitOK:
		return nil
	case status == exitFailure:
		if err == nil {
			err = errors.New("failed")
		}
		return err
	default:
		// Without an error the wrapper logs nothing and only carries the status.
		return caddycmd.WrapCommandFuncForCobra(func(caddycmd.Flags) (int, error) { return status, nil })(c, nil)
	}
}

// usage is a usage error: exit status 2, with a pointer to --help.
func usage(c *cobra.Command, format string, args ...any) (int, error) {
	return exitUsage, fmt.Errorf("%s (see %s --help)", fmt.Sprintf(format, args...), c.CommandPath())
}

func fail(format string, args ...any) (int, error) {
	return exitFailure, fmt.Errorf(format, args...)
}

// buildRealplexorCommand fills in `caddy realplexor` and its subcommands.
func buildRealplexorCommand(root *cobra.Command) {
	root.Args = cobra.ArbitraryArgs
	root.RunE = runE(func(c *cobra.Command, args []string) (int, error) {
		if len(args) == 0 {
			_ = c.Help()
			return exitUsage, errors.New("a subcommand is required: publish, online, watch or passwd")
		}
		return usage(c, "unknown subcommand %q", args[0])
	})
	root.SetFlagErrorFunc(flagError)

	publish := &cobra.Command{
		Use:   "publish --ids ID[,ID...] [--cursor ID=CURSOR] [--limit ID,...] DATA|-",
		Short: "Publishes a message to channels",
		Long: `Publishes DATA, a JSON value, to the channels listed in --ids through the
IN line. DATA "-" reads it from standard input. With --string, DATA is
plain text and is sent as a JSON string.

  caddy realplexor publish --ids alpha,beta '{"text":"hello"}'
  caddy realplexor publish --ids alpha --string 'hello'
  echo '[1,2,3]' | caddy realplexor publish --ids alpha -
  caddy realplexor publish --ids alpha,beta --cursor alpha=100 --limit room1 '"hi"'

--cursor gives an id its own cursor (the others get a generated one);
--limit restricts the message to polls that also listen to one of those
ids (the original's *limiter ids).`,
		Args: cobra.ArbitraryArgs,
		RunE: runE(cliPublish),
	}
	publish.Flags().StringSlice("ids", nil, "channel ids to publish to (required)")
	publish.Flags().StringSlice("cursor", nil, "ID=CURSOR: the cursor to store the message under for that id (repeatable)")
	publish.Flags().StringSlice("limit", nil, "limiter ids: deliver only to polls also listening to one of them")
	publish.Flags().Bool("string", false, "DATA is plain text: send it as a JSON string")
	addINFlags(publish)

	online := &cobra.Command{
		Use:   "online [PREFIX...]",
		Short: "Lists the online channels with their listener counts",
		Long: `Prints "<id> <listeners>" for every online id, or only for ids starting
with one of the prefixes. With --login, only the login's own ids.`,
		Args: cobra.ArbitraryArgs,
		RunE: runE(cliOnline),
	}
	addINFlags(online)

	watch := &cobra.Command{
		Use:   "watch [--follow] [FROM [PREFIX...]]",
		Short: "Prints channels going online and offline",
		Long: `Prints the presence events after position FROM, one "online <pos>:<id>"
or "offline <pos>:<id>" line each, as the IN line's WATCH does. Without
FROM (or with 0) it prints "FAKE <next>:FAKE", the position to start from.

With --follow it keeps asking every --interval and prints new events as
they come, until interrupted (Ctrl-C); without FROM it starts from now.`,
		Args: cobra.ArbitraryArgs,
		RunE: runE(cliWatch),
	}
	watch.Flags().Bool("follow", false, "keep printing new events until interrupted")
	watch.Flags().Duration("interval", time.Second, "how often --follow asks")
	addINFlags(watch)

	passwd := &cobra.Command{
		Use:   "passwd USERS_FILE LOGIN",
		Short: "Adds or updates a login in a users file (bcrypt)",
		Long: `Sets LOGIN's password in USERS_FILE, the file of the users_file option:
a "LOGIN:<bcrypt hash>" line replaces the login's line, or is appended.
Other lines and comments are kept; a missing file is created (mode 0600).

The password is asked twice on the terminal, without echo. When standard
input is not a terminal, its first line is the password:

  echo "$PASSWORD" | caddy realplexor passwd realplexor.users alice

Caddy reads the users file when it loads its config: reload it afterwards.`,
		Args: cobra.ArbitraryArgs,
		RunE: runE(cliPasswd),
	}

	for _, sub := range []*cobra.Command{publish, online, watch, passwd} {
		sub.SetFlagErrorFunc(flagError)
		root.AddCommand(sub)
	}
}

// flagError makes a bad flag a usage error (exit status 2).
func flagError(c *cobra.Command, err error) error {
	_, uerr := usage(c, "%v", err)
	return exitWith(c, exitUsage, uerr)
}

func addINFlags(c *cobra.Command) {
	c.Flags().String("in", "", "IN line URL (default $"+envIN+" or "+defaultINURL+")")
	c.Flags().String("login", "", "login of the users file (default $"+envLogin+")")
	c.Flags().String("password-env", defaultPasswordEnv, "environment variable holding the login's password")
	c.Flags().String("identifier", DefaultIdentifier, "the server's identifier option")
	c.Flags().Duration("timeout", 10*time.Second, "how long one request may take")
}

// inClient sends requests to the IN line the way the PHP client does: a
// POST whose X-Realplexor header carries the id list and credentials.
type inClient struct {
	url        string
	identifier string
	creds      string // "login:password@" or ""
	timeout    time.Duration
	client     *http.Client
}

// newINClient reads the IN flags; a problem is a usage error.
func newINClient(c *cobra.Command) (*inClient, int, error) {
	fl := c.Flags()
	raw, _ := fl.GetString("in")
	if raw == "" {
		raw = os.Getenv(envIN)
	}
	if raw == "" {
		raw = defaultINURL
	}
	u, err := parseINURL(raw)
	if err != nil {
		status, err := usage(c, "--in %q: %v", raw, err)
		return nil, status, err
	}
	ic := &inClient{url: u, client: &http.Client{}}
	ic.identifier, _ = fl.GetString("identifier")
	if !isID(ic.identifier) {
		status, err := usage(c, "--identifier %q: must be letters, digits and _", ic.identifier)
		return nil, status, err
	}
	ic.timeout, _ = fl.GetDuration("timeout")
	if ic.timeout <= 0 {
		status, err := usage(c, "--timeout: must be positive")
		return nil, status, err
	}
	login, _ := fl.GetString("login")
	if login == "" {
		login = os.Getenv(envLogin)
	}
	if login != "" {
		if !loginRE.MatchString(login) {
			status, err := usage(c, "--login %q: must be letters and digits", login)
			return nil, status, err
		}
		env, _ := fl.GetString("password-env")
		password := os.Getenv(env)
		if env == "" || password == "" {
			status, err := usage(c, "--login %s: put the password in $%s (see --password-env)", login, env)
			return nil, status, err
		}
		// The IN header's password ends at the first '@' or space (R-ID-3).
		if strings.ContainsAny(password, "@ \t\r\n\f\v") {
			status, err := usage(c, "the password in $%s contains '@' or white space, which the IN line cannot carry", env)
			return nil, status, err
		}
		ic.creds = login + ":" + password + "@"
	}
	return ic, exitOK, nil
}

// parseINURL accepts a URL or a bare host:port.
func parseINURL(raw string) (string, error) {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", errors.New("must be an http:// or https:// URL")
	}
	if u.Host == "" {
		return "", errors.New("no host")
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u.String(), nil
}

// inReply is the IN line's answer.
type inReply struct {
	status int
	header http.Header
	body   []byte
}

// send posts body with the id list ids ("" for a command).
func (ic *inClient) send(ctx context.Context, ids string, body []byte) (inReply, error) {
	ctx, cancel := context.WithTimeout(ctx, ic.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ic.url, bytes.NewReader(body))
	if err != nil {
		return inReply{}, err
	}
	req.Header.Set("X-Realplexor", ic.identifier+"="+ic.creds+ids)
	req.Header.Set("User-Agent", "caddy-realplexor-cli")
	resp, err := ic.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // it repeats the method and URL
		}
		return inReply{}, fmt.Errorf("cannot reach the IN line at %s: %w", ic.url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return inReply{}, fmt.Errorf("IN line %s: reading the reply: %w", ic.url, err)
	}
	return inReply{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// refusalError is an IN reply other than 200, with the server's reason.
type refusalError struct {
	status int
	reason string
}

func (e *refusalError) Error() string {
	return fmt.Sprintf("server refused (%d %s): %s", e.status, http.StatusText(e.status), e.reason)
}

// refusal describes a reply other than 200.
func (r inReply) refusal() error {
	reason := strings.TrimSpace(string(r.body))
	if reason == "" {
		reason = r.header.Get(ErrorHeader)
	}
	if reason == "" {
		reason = "no reason given"
	}
	return &refusalError{status: r.status, reason: reason}
}

// command runs an IN command (online, watch) and returns its reply body.
func (ic *inClient) command(ctx context.Context, line string) (string, int, error) {
	r, err := ic.send(ctx, "", []byte(line))
	if err != nil {
		return "", exitFailure, err
	}
	if r.status != http.StatusOK {
		return "", exitFailure, r.refusal()
	}
	return string(r.body), exitOK, nil
}

func commandContext(c *cobra.Command) context.Context {
	if ctx := c.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

func cliPublish(c *cobra.Command, args []string) (int, error) {
	fl := c.Flags()
	if len(args) != 1 {
		return usage(c, "publish takes one DATA argument (or - for standard input), got %d", len(args))
	}
	ids, _ := fl.GetStringSlice("ids")
	if len(ids) == 0 {
		return usage(c, "--ids is required")
	}
	for _, id := range ids {
		if !isID(id) {
			return usage(c, "--ids: %q is not an id (letters, digits and _)", id)
		}
	}
	cursors := map[string]string{}
	cursorFlags, _ := fl.GetStringSlice("cursor")
	for _, kv := range cursorFlags {
		id, cur, ok := strings.Cut(kv, "=")
		if !ok {
			return usage(c, "--cursor %q: want ID=CURSOR", kv)
		}
		if !slices.Contains(ids, id) {
			return usage(c, "--cursor %q: %s is not one of --ids", kv, id)
		}
		if _, ok := ParseCursor(cur); !ok {
			return usage(c, "--cursor %q: %q is not a cursor (digits, optionally a dot and digits)", kv, cur)
		}
		cursors[id] = cur
	}
	limiters, _ := fl.GetStringSlice("limit")
	for _, l := range limiters {
		if !isID(l) {
			return usage(c, "--limit: %q is not an id (letters, digits and _)", l)
		}
	}
	asString, _ := fl.GetBool("string")

	var data []byte
	if args[0] == "-" {
		b, err := io.ReadAll(c.InOrStdin())
		if err != nil {
			return fail("reading standard input: %v", err)
		}
		if asString {
			b = bytes.TrimSuffix(b, []byte("\n"))
			b = bytes.TrimSuffix(b, []byte("\r"))
		}
		data = b
	} else {
		data = []byte(args[0])
	}
	if asString {
		b, err := json.Marshal(string(data))
		if err != nil {
			return fail("encoding DATA: %v", err)
		}
		data = b
	} else {
		data = bytes.TrimSpace(data)
		if len(data) == 0 {
			return usage(c, "DATA is empty")
		}
		if !json.Valid(data) {
			return usage(c, "DATA is not valid JSON; add --string to send it as text")
		}
	}

	ic, status, err := newINClient(c)
	if err != nil {
		return status, err
	}
	elems := make([]string, 0, len(ids)+len(limiters))
	for _, id := range ids {
		if cur, ok := cursors[id]; ok {
			elems = append(elems, cur+":"+id)
		} else {
			elems = append(elems, id)
		}
	}
	for _, l := range limiters {
		elems = append(elems, "*"+l)
	}
	r, err := ic.send(commandContext(c), strings.Join(elems, ","), data)
	if err != nil {
		return exitFailure, err
	}
	if r.status != http.StatusOK {
		return exitFailure, r.refusal()
	}
	if n := r.header.Get("X-Realplexor-Skipped"); n != "" {
		fmt.Fprintf(c.ErrOrStderr(), "warning: %s id(s) skipped: a login publishes only to ids starting with <login>_\n", n)
	}
	return exitOK, nil
}

func cliOnline(c *cobra.Command, args []string) (int, error) {
	for _, p := range args {
		if !isID(p) {
			return usage(c, "prefix %q: must be letters, digits and _", p)
		}
	}
	ic, status, err := newINClient(c)
	if err != nil {
		return status, err
	}
	body, status, err := ic.command(commandContext(c), strings.Join(append([]string{"online"}, args...), " "))
	if err != nil {
		return status, err
	}
	_, _ = io.WriteString(c.OutOrStdout(), body)
	return exitOK, nil
}

// fakeLineRE is WATCH's reply to an initial request (R-CMD-7).
var fakeLineRE = regexp.MustCompile(`^FAKE (\d+):FAKE$`)

// watchLineRE is one WATCH event line (R-CMD-8).
var watchLineRE = regexp.MustCompile(`^(?:online|offline) (\d+):\w+$`)

func cliWatch(c *cobra.Command, args []string) (int, error) {
	fl := c.Flags()
	follow, _ := fl.GetBool("follow")
	interval, _ := fl.GetDuration("interval")
	if interval <= 0 {
		return usage(c, "--interval: must be positive")
	}
	var from int64
	if len(args) > 0 {
		n, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil || n < 0 {
			return usage(c, "FROM %q: must be a non-negative integer position", args[0])
		}
		from = n
	}
	var prefixes []string
	if len(args) > 1 {
		prefixes = args[1:]
	}
	for _, p := range prefixes {
		if !isID(p) {
			return usage(c, "prefix %q: must be letters, digits and _", p)
		}
	}
	ic, status, err := newINClient(c)
	if err != nil {
		return status, err
	}
	out := c.OutOrStdout()
	ctx := commandContext(c)
	line := func(pos int64) string {
		return strings.Join(append([]string{"watch", strconv.FormatInt(pos, 10)}, prefixes...), " ")
	}
	if !follow {
		body, status, err := ic.command(ctx, line(from))
		if err != nil {
			return status, err
		}
		_, _ = io.WriteString(out, body)
		return exitOK, nil
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	pos := from
	if pos == 0 {
		body, status, err := ic.command(ctx, "watch 0")
		if err != nil {
			return status, err
		}
		m := fakeLineRE.FindStringSubmatch(strings.TrimSpace(body))
		if m == nil {
			return fail("unexpected WATCH reply %q", body)
		}
		// WATCH lists positions above its argument and the next event
		// gets position <next>: ask from just below it (R-QUIRK-2).
		next, _ := strconv.ParseInt(m[1], 10, 64)
		pos = next - 1
	}
	fmt.Fprintf(c.ErrOrStderr(), "watching events after position %d; Ctrl-C stops\n", pos)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		body, status, err := ic.command(ctx, line(pos))
		switch {
		case ctx.Err() != nil:
			return exitOK, nil // interrupted
		case err != nil && isRefusal(err):
			return status, err
		case err != nil:
			// The server may be restarting: say so and keep asking.
			fmt.Fprintf(c.ErrOrStderr(), "watch: %v; retrying\n", err)
		default:
			for _, l := range strings.Split(body, "\n") {
				if l == "" {
					continue
				}
				if m := watchLineRE.FindStringSubmatch(l); m != nil {
					if p, err := strconv.ParseInt(m[1], 10, 64); err == nil && p > pos {
						pos = p
					}
				}
				_, _ = io.WriteString(out, l+"\n")
			}
		}
		select {
		case <-ctx.Done():
			return exitOK, nil
		case <-t.C:
		}
	}
}

// isRefusal reports whether err is a 4xx answer, which a retry would not
// change; transport errors and 5xx are worth retrying.
func isRefusal(err error) bool {
	var r *refusalError
	return errors.As(err, &r) && r.status >= 400 && r.status < 500
}

// loginRE is a users file login that can publish (R-AUTH-2).
var loginRE = regexp.MustCompile(`^[A-Za-z0-9]+$`)

func cliPasswd(c *cobra.Command, args []string) (int, error) {
	if len(args) != 2 {
		return usage(c, "passwd takes USERS_FILE and LOGIN, got %d argument(s)", len(args))
	}
	path, login := args[0], args[1]
	if !loginRE.MatchString(login) {
		return usage(c, "LOGIN %q: must be letters and digits only", login)
	}
	password, err := readNewPassword(c, login)
	if err != nil {
		return exitFailure, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), passwdCost)
	if err != nil {
		return fail("hashing the password: %v", err)
	}
	added, err := setUsersFileLogin(path, login, string(hash))
	if err != nil {
		return exitFailure, err
	}
	verb := "updated"
	if added {
		verb = "added"
	}
	fmt.Fprintf(c.OutOrStdout(), "%s login %s in %s; reload Caddy to apply\n", verb, login, path)
	return exitOK, nil
}

// readNewPassword asks twice without echo on a terminal; otherwise it
// reads the first line of standard input.
func readNewPassword(c *cobra.Command, login string) (string, error) {
	in := c.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		prompt := c.ErrOrStderr()
		fmt.Fprintf(prompt, "New password for %s: ", login)
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		fmt.Fprintf(prompt, "Repeat the password: ")
		second, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		if !bytes.Equal(first, second) {
			return "", errors.New("the passwords do not match; nothing changed")
		}
		if len(first) == 0 {
			return "", errors.New("empty password; nothing changed")
		}
		return string(first), nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("reading the password from standard input: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("no password: type it on a terminal or give it as the first line of standard input")
	}
	return line, nil
}

// setUsersFileLogin puts `login:hash` in the users file at path: in place
// of the login's first line (keeping a trailing comment), dropping later
// lines of the same login, which would otherwise win (R-AUTH-1); or at
// the end. Every other line is kept byte for byte. The file is rewritten
// in place, keeping its owner and mode, or created with mode 0600.
func setUsersFileLogin(path, login, hash string) (added bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return false, err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	old, err := io.ReadAll(f)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	var out strings.Builder
	replaced := false
	for _, line := range strings.SplitAfter(string(old), "\n") {
		if line == "" {
			continue
		}
		content, eol := line, ""
		switch {
		case strings.HasSuffix(content, "\r\n"):
			content, eol = content[:len(content)-2], "\r\n"
		case strings.HasSuffix(content, "\n"):
			content, eol = content[:len(content)-1], "\n"
		}
		entry, comment := content, ""
		if i := strings.IndexByte(content, '#'); i >= 0 {
			entry, comment = content[:i], content[i:]
		}
		name, _, ok := strings.Cut(strings.TrimSpace(entry), ":")
		if !ok || strings.TrimSpace(name) != login {
			out.WriteString(line)
			continue
		}
		if replaced {
			continue // a later line of the login would override ours
		}
		replaced = true
		out.WriteString(login + ":" + hash)
		if comment != "" {
			out.WriteString(" " + comment)
		}
		if eol == "" {
			eol = "\n"
		}
		out.WriteString(eol)
	}
	if !replaced {
		if s := out.String(); s != "" && !strings.HasSuffix(s, "\n") {
			out.WriteString("\n")
		}
		out.WriteString(login + ":" + hash + "\n")
	}
	if err := f.Truncate(0); err != nil {
		return false, fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.WriteAt([]byte(out.String()), 0); err != nil {
		return false, fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return false, fmt.Errorf("writing %s: %w", path, err)
	}
	return !replaced, nil
}
